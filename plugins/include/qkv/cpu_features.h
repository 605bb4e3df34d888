/* Which SIMD features this CPU has *and* the OS lets a program use: the one copy of the
 * check shared by the core (`qkv info`), the backends' kernel dispatch and `qkv bench`.
 * Header-only and C11, like plugin.h, so a third-party backend can use it too.
 *
 * An ISA is usable only when CPUID reports it and XCR0 (read with XGETBV, after CPUID
 * says OSXSAVE) shows the OS saves its registers: XMM|YMM for AVX/AVX2/FMA/AVX-VNNI,
 * plus opmask|ZMM_Hi256|Hi16_ZMM for AVX-512, plus XTILECFG|XTILEDATA for AMX. The raw
 * CPUID bits are read here rather than through __builtin_cpu_supports, which in GCC 12
 * does not look at XCR0 for every feature. Linux also requires a process to ask for the
 * AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM) before its first tile instruction;
 * that request is the user's (oneDNN makes it itself), not part of this check.
 *
 * On aarch64 the kernel reports what the CPU can run and it enables (HWCAP/HWCAP2 from
 * getauxval): NEON (asimd) is in every aarch64 CPU Linux runs on; the dot product
 * (sdot/udot, FEAT_DotProd) and the int8 matrix multiply (smmla, FEAT_I8MM) are optional.
 * Under qemu-user the emulated CPU's (QEMU_CPU=cortex-a53: neither, cortex-a76: dotprod,
 * max: both).
 */
#ifndef QKV_CPU_FEATURES_H
#define QKV_CPU_FEATURES_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#define QKV_HWCAP_ASIMD (1ul << 1)    /* asm/hwcap.h, Linux 3.7 */
#define QKV_HWCAP_ASIMDDP (1ul << 20) /* Linux 4.15 */
#define QKV_HWCAP2_I8MM (1ul << 13)   /* Linux 5.10 */
#endif

struct qkv_cpu_features {
	unsigned char sse42, avx, avx2, fma, f16c;           /* need YMM state (but sse42) */
	unsigned char avx512f, avx512dq, avx512bw, avx512vl; /* need ZMM + opmask state */
	unsigned char avx512vnni, avx512bf16, avx512fp16;    /* need ZMM + opmask state */
	unsigned char avxvnni;                               /* VEX vpdpbusd, YMM state */
	unsigned char amx_tile, amx_int8, amx_bf16;          /* need tile state */
	unsigned char neon;                                  /* aarch64 */
	/* added after 0.1.0, at the end so the members above keep their offsets: */
	unsigned char vendor_amd; /* CPUID vendor "AuthenticAMD" */
	unsigned char sse41;
	unsigned char dotprod, i8mm; /* aarch64 (HWCAP asimddp, HWCAP2 i8mm) */
};

#if defined(__x86_64__) || defined(__i386__)
static inline unsigned long long qkv_cpu_xgetbv0_(void)
{
	unsigned eax, edx;
	__asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
	return ((unsigned long long)edx << 32) | eax;
}
#endif

/* Fill *f; every member is 1 when usable, 0 otherwise. Cheap (a few CPUID): callers
 * that dispatch per call should cache the result. */
static inline void qkv_cpu_features_detect(struct qkv_cpu_features *f)
{
	memset(f, 0, sizeof(*f));
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	if (!__get_cpuid(0, &a, &b, &c, &d))
		return;
	f->vendor_amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return;
	f->sse41 = (c >> 19) & 1;
	f->sse42 = (c >> 20) & 1;
	if (!((c >> 27) & 1)) /* OSXSAVE: without it XGETBV faults and no AVX is enabled */
		return;
	unsigned long long xcr0 = qkv_cpu_xgetbv0_();
	int ymm = (xcr0 & 0x6) == 0x6;
	int zmm = ymm && (xcr0 & 0xe0) == 0xe0;
	int tiles = (xcr0 & 0x60000ull) == 0x60000ull;
	f->avx = ymm && ((c >> 28) & 1);
	f->fma = f->avx && ((c >> 12) & 1);
	f->f16c = f->avx && ((c >> 29) & 1);
	if (__get_cpuid_max(0, NULL) < 7)
		return;
	unsigned b7, c7, d7, a71 = 0, unused;
	__cpuid_count(7, 0, a, b7, c7, d7);
	unsigned max_sub7 = a;
	if (max_sub7 >= 1)
		__cpuid_count(7, 1, a71, unused, unused, unused);
	f->avx2 = f->avx && ((b7 >> 5) & 1);
	f->avx512f = zmm && ((b7 >> 16) & 1);
	f->avx512dq = f->avx512f && ((b7 >> 17) & 1);
	f->avx512bw = f->avx512f && ((b7 >> 30) & 1);
	f->avx512vl = f->avx512f && ((b7 >> 31) & 1);
	f->avx512vnni = f->avx512f && ((c7 >> 11) & 1);
	f->avx512fp16 = f->avx512f && ((d7 >> 23) & 1);
	f->avx512bf16 = f->avx512f && ((a71 >> 5) & 1);
	f->avxvnni = f->avx2 && ((a71 >> 4) & 1);
	f->amx_tile = tiles && ((d7 >> 24) & 1);
	f->amx_int8 = f->amx_tile && ((d7 >> 25) & 1);
	f->amx_bf16 = f->amx_tile && ((d7 >> 22) & 1);
#elif defined(__aarch64__) && defined(__linux__)
	unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
	f->neon = (hw & QKV_HWCAP_ASIMD) != 0;
	f->dotprod = f->neon && (hw & QKV_HWCAP_ASIMDDP) != 0;
	f->i8mm = f->neon && (hw2 & QKV_HWCAP2_I8MM) != 0;
#elif defined(__aarch64__)
	f->neon = 1; /* baseline of the architecture; optional extensions unknown here */
#endif
}

/* Space-separated names of the usable features ("avx2 fma ... amx_int8") into buf;
 * returns the length written (truncated at a name boundary when len is short). */
static inline size_t qkv_cpu_features_string(const struct qkv_cpu_features *f, char *buf,
                                             size_t len)
{
	const struct {
		const char *name;
		unsigned char on;
	} t[] = {
	    {"sse4.1", f->sse41},
	    {"sse4.2", f->sse42},
	    {"avx", f->avx},
	    {"avx2", f->avx2},
	    {"fma", f->fma},
	    {"f16c", f->f16c},
	    {"avxvnni", f->avxvnni},
	    {"avx512f", f->avx512f},
	    {"avx512dq", f->avx512dq},
	    {"avx512bw", f->avx512bw},
	    {"avx512vl", f->avx512vl},
	    {"avx512vnni", f->avx512vnni},
	    {"avx512bf16", f->avx512bf16},
	    {"avx512fp16", f->avx512fp16},
	    {"amx_tile", f->amx_tile},
	    {"amx_int8", f->amx_int8},
	    {"amx_bf16", f->amx_bf16},
	    {"neon", f->neon},
	    {"dotprod", f->dotprod},
	    {"i8mm", f->i8mm},
	};
	size_t used = 0;
	if (!len)
		return 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!t[i].on)
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", t[i].name);
		if (n < 0 || (size_t)n >= len - used) {
			buf[used] = '\0';
			break;
		}
		used += (size_t)n;
	}
	return used;
}

#endif /* QKV_CPU_FEATURES_H */
