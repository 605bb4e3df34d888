/* The x86 kernel sets: which panels and which X quantizer each one runs. Every block type
 * has a panel in every set (quant.c rearranges the rows at prepare); F32/F16/BF16 rows,
 * which have none, take the C kernel's rows.
 *   avx512vnni  vpdpbusd zmm panels (panel_avx512.c): Ice Lake, Sapphire Rapids, Zen 4/5
 *   avxvnni     vpdpbusd ymm (VEX) panels (panel_avxvnni.c): Alder Lake and later
 *   avx2        vpmaddubsw + vpmaddwd ymm panels (panel_avx2.c)
 */
#if defined(__x86_64__) || defined(QKV_SIMDE)
#include "../quantize_x86.h"
#include "kernel.h"

/* X rows per panel call: Q8_0 and Q4_0 (32-row wide panels), then the K types */
#define TILES(wide, k)                                                                             \
	{                                                                                          \
		[QKV_WT_Q8_0] = (wide), [QKV_WT_Q4_0] = (wide), [QKV_WT_Q4_K] = (k),               \
		[QKV_WT_Q5_K] = (k), [QKV_WT_Q6_K] = (k)                                           \
	}
_Static_assert(QUANT_YMM_TILE <= QUANT_TILE_MAX && QUANT_YMM_WIDE_TILE <= QUANT_TILE_MAX &&
                   QUANT_PANEL_TILE <= QUANT_TILE_MAX && QUANT_WIDE_TILE <= QUANT_TILE_MAX,
               "an X tile past QUANT_TILE_MAX");

const struct quant_kernel quant_kernel_avx512vnni = {.name = "avx512vnni",
                                                     .desc = "vpdpbusd zmm panels",
                                                     .quantize = qkv_int8_quantize_avx2,
                                                     .panel = quant_panels_avx512vnni,
                                                     .tile =
                                                         TILES(QUANT_WIDE_TILE, QUANT_PANEL_TILE)};
const struct quant_kernel quant_kernel_avxvnni = {.name = "avxvnni",
                                                  .desc = "vpdpbusd ymm (VEX) panels",
                                                  .quantize = qkv_int8_quantize_avx2,
                                                  .panel = quant_panels_avxvnni,
                                                  .tile =
                                                      TILES(QUANT_YMM_WIDE_TILE, QUANT_YMM_TILE)};
const struct quant_kernel quant_kernel_avx2 = {.name = "avx2",
                                               .desc = "vpmaddubsw + vpmaddwd ymm panels",
                                               .quantize = qkv_int8_quantize_avx2,
                                               .panel = quant_panels_avx2,
                                               .tile = TILES(QUANT_YMM_WIDE_TILE, QUANT_YMM_TILE),
                                               .x_unsigned = QUANT_AVX2_Q6_WSUM_ROWS};
#endif
