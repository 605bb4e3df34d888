/* What oneDNN's ISA (dnnl_get_effective_cpu_isa) means here: its name for `qkv info`, the
 * probe's score and whether int8 sums are exact (and why int8 is refused if not). One table per
 * architecture: oneDNN reports the aarch64 ISAs through the same call with values of its own that
 * share numbers with the x86 ones (0x1 is sse41 on x86, Advanced SIMD on aarch64). */
#include <stddef.h>

#include <oneapi/dnnl/dnnl.h>

#include "onednn_isa.h"

struct isa_row {
	unsigned isa;
	const char *name;
	int score;
	const char *int8_exact; /* why int8 sums are exact, or NULL: int8 refused */
};

#if defined(__aarch64__)
/* oneDNN 2.6 (Debian, no Arm Compute Library) on aarch64: 0x1 Advanced SIMD, 0x1f SVE
 * with 512-bit vectors, its only SVE JIT (qemu-user: other SVE lengths report 0x1).
 * Speed on ARM is not measured: the fallback score, below blas and openmp. int8 is
 * refused (and not declared: ONEDNN_PRECISIONS, onednn_impl.h): its int8 matmul does not sum
 * exactly there. */
static const struct isa_row isa_rows[] = {
    {0x1, "asimd", 20, NULL},
    {0x1f, "sve_512", 20, NULL},
};
/* Measured under qemu-user: `qkv conform`'s int8_saturation (T = 4, K = 4096, every
 * product 255 x 127) came out 1.2e-4 off the exact sum. */
static const char int8_refused[] = "oneDNN 2.6's int8 sums are inexact on aarch64";
#else
/* x86: oneDNN's brgemm kernels beat openmp (AVX2 60) and blas (50) from AVX-512 up
 * (README.md), so they rank above them there; on AVX2 next to openmp; below, a fallback.
 * Without VNNI/AMX int8 products are summed with a saturating 16-bit step (vpmaddubsw):
 * not exact, so int8 is refused there. */
static const struct isa_row isa_rows[] = {
    {dnnl_cpu_isa_sse41, "sse41", 20, NULL},
    {dnnl_cpu_isa_avx, "avx", 20, NULL},
    {dnnl_cpu_isa_avx2, "avx2", 55, NULL},
    {dnnl_cpu_isa_avx2_vnni, "avx2_vnni", 55, "exact (VNNI/AMX)"},
    {dnnl_cpu_isa_avx512_mic, "avx512_mic", 20, NULL},
    {dnnl_cpu_isa_avx512_mic_4ops, "avx512_mic_4ops", 20, NULL},
    {dnnl_cpu_isa_avx512_core, "avx512_core", 75, NULL},
    {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni", 80, "exact (VNNI/AMX)"},
    {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16", 80, "exact (VNNI/AMX)"},
    {dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx", 90, "exact (VNNI/AMX)"},
};
static const char int8_refused[] = "no VNNI: needs avx512_core_vnni, avx2_vnni or amx";
#endif

static const struct isa_row unknown = {0, "unknown", 20, NULL};

static const struct isa_row *isa_row(void)
{
	unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
	for (size_t i = 0; i < sizeof(isa_rows) / sizeof(isa_rows[0]); i++)
		if (isa_rows[i].isa == isa)
			return &isa_rows[i];
	return &unknown;
}

const char *onednn_isa_name(void)
{
	return isa_row()->name;
}

int onednn_isa_score(void)
{
	return isa_row()->score;
}

const char *onednn_isa_int8_exact(void)
{
	return isa_row()->int8_exact;
}

const char *onednn_isa_int8_refused(void)
{
	return int8_refused;
}
