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

const struct quant_kernel quant_kernel_avx512vnni = {.name = "avx512vnni",
                                                     .desc = "vpdpbusd zmm panels",
                                                     .quantize = qkv_int8_quantize_avx2,
                                                     .panel = quant_panels_avx512vnni};
const struct quant_kernel quant_kernel_avxvnni = {.name = "avxvnni",
                                                  .desc = "vpdpbusd ymm (VEX) panels",
                                                  .quantize = qkv_int8_quantize_avx2,
                                                  .panel = quant_panels_avxvnni};
const struct quant_kernel quant_kernel_avx2 = {.name = "avx2",
                                               .desc = "vpmaddubsw + vpmaddwd ymm panels",
                                               .quantize = qkv_int8_quantize_avx2,
                                               .panel = quant_panels_avx2};
#endif
