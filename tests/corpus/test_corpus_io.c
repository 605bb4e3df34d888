/* Short reads and I/O errors. Weight files are memory-mapped (no read path to fault);
 * configs and machine profiles are read with read(2), which this test wraps at link
 * time (-Wl,--wrap=read) to return 1 byte at a time, EINTR, or EIO at the n-th call. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "corpus.h"

ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);

static enum { PASS, SHORT, EINTR_EVERY_OTHER, EIO_AT } mode;
static unsigned long calls, fail_at;

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
	calls++;
	switch (mode) {
	case SHORT:
		return __real_read(fd, buf, n ? 1 : 0);
	case EINTR_EVERY_OTHER:
		if (calls % 2) {
			errno = EINTR;
			return -1;
		}
		return __real_read(fd, buf, n ? 1 : 0);
	case EIO_AT:
		if (calls == fail_at) {
			errno = EIO;
			return -1;
		}
		return __real_read(fd, buf, n ? 1 : 0);
	default:
		return __real_read(fd, buf, n);
	}
}

static char path[512], err[512];

static enum qkv_status load(void)
{
	struct qkv_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	calls = 0;
	err[0] = '\0';
	enum qkv_status st = qkv_config_load(path, &cfg, err, sizeof(err));
	if (st == QKV_OK)
		cr_expect_eq(cfg.d_model, 4);
	qkv_config_free(&cfg);
	return st;
}

static void setup(void)
{
	snprintf(path, sizeof(path), "%s/tests/corpus/config/ok.yaml", QKV_SOURCE_ROOT);
	mode = PASS;
}

TestSuite(io, .init = setup);

#ifdef HAVE_CONFIG
Test(io, config_read_is_wrapped)
{
	cr_assert_eq(load(), QKV_OK, "%s", err);
	cr_assert_gt(calls, 0, "qkv_config_load no longer uses read(): update this test");
}

Test(io, config_one_byte_reads)
{
	mode = SHORT;
	cr_expect_eq(load(), QKV_OK, "%s", err);
	cr_expect_gt(calls, 100);
}

Test(io, config_interrupted_reads)
{
	mode = EINTR_EVERY_OTHER;
	cr_expect_eq(load(), QKV_OK, "%s", err);
}

/* EIO at every read of the file in turn: each a clean I/O error naming the file. */
Test(io, config_io_error_at_each_read)
{
	mode = SHORT;
	cr_assert_eq(load(), QKV_OK, "%s", err);
	unsigned long total = calls;
	mode = EIO_AT;
	for (fail_at = 1; fail_at <= total; fail_at++) {
		enum qkv_status st = load();
		cr_expect_eq(st, QKV_ERR_IO, "EIO at read %lu: status %s: %s", fail_at,
		             corpus_status_name(st), err);
		cr_expect(strstr(err, "ok.yaml") != NULL, "EIO at read %lu: %s", fail_at, err);
	}
}
#endif
