/* A deliberately slowed backend for the --baseline test: the scalar reference's
 * arithmetic (the file is compiled in, renamed), then a sleep of 4x the compute time
 * plus 50 us, so every call takes at least 5x as long as the real scalar backend.
 * It is named "scalar" on purpose: a run with this folder first on the plugin path
 * produces the same row keys as a baseline made with the real one.
 * With QKV_TEST_JITTER set, every third call sleeps 20 ms more: a measurement as noisy
 * as a machine whose threads get descheduled (for the noise tests of bench and tune).
 * With QKV_TEST_STALL_THREADS set, every call with batch threads > 1 sleeps 10 ms more:
 * a steady stall (small spread) like 2 threads next to a busy core (tune's suspect rows). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define qkv_backend_descriptor qkv_scalar_inner_descriptor
#include "../../../backends/scalar/scalar.c"
#undef qkv_backend_descriptor

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static enum qkv_status slow_project(const void *h, const struct qkv_batch *b, char *err,
                                    size_t errlen)
{
	double t0 = now_s();
	enum qkv_status st = scalar_project(h, b, err, errlen);
	double pause = 4.0 * (now_s() - t0) + 50e-6;
	static _Atomic unsigned calls;
	if (getenv("QKV_TEST_JITTER") && calls++ % 3 == 0)
		pause += 20e-3;
	if (getenv("QKV_TEST_STALL_THREADS") && b->threads > 1)
		pause += 10e-3;
	struct timespec ts = {(time_t)pause, (long)((pause - (double)(time_t)pause) * 1e9)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) /* resume after a signal */
		;
	return st;
}

/* The scalar backend's own functions but project, under this plugin's prefix. */
#define slow_probe scalar_probe
#define slow_prepare scalar_prepare
#define slow_release scalar_release

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    QKV_BACKEND_FIELDS(slow, "scalar", "slowed-for-tests",
                       QKV_PRECISION_BIT(QKV_F32) | QKV_PRECISION_BIT(QKV_BF16) |
                           QKV_PRECISION_BIT(QKV_INT8)),
};
