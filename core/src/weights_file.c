/* Mapping weight files read-only, raw little-endian views, and widening to f32. */
#include "weights.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <qkv/wtype.h>

#include "util.h"

static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

enum qkv_status qkv_file_map(const char *path, struct qkv_mapped_file *out, char *err,
                             size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!path || !*path)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "weight file: empty path");
	/* O_NONBLOCK so that opening a FIFO with no writer cannot hang; fstat refuses it next. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return qkv_fail(err, errlen, QKV_ERR_IO, "%s: cannot open: %s", path,
		                strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return qkv_fail(err, errlen, QKV_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return qkv_fail(err, errlen, QKV_ERR_IO, "%s: is %s, not a regular weight file",
		                path, file_kind(st.st_mode));
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > SIZE_MAX) {
		close(fd);
		return qkv_fail(err, errlen, QKV_ERR_IO, "%s: file too large to map", path);
	}
	size_t size = (size_t)st.st_size;
	const uint8_t *data = NULL;
	/* mmap refuses length 0: an empty file maps as (NULL, 0) and the formats reject it. */
	if (size > 0) {
		void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			int e = errno;
			close(fd);
			return qkv_fail(err, errlen, QKV_ERR_IO, "%s: cannot map %zu bytes: %s",
			                path, size, strerror(e));
		}
		data = m;
	}
	close(fd); /* the mapping stays valid without the descriptor */
	char *p = qkv_strdup(path);
	if (!p) {
		if (data)
			munmap((void *)data, size);
		return qkv_fail(err, errlen, QKV_ERR_NOMEM, "%s: out of memory", path);
	}
	out->path = p;
	out->data = data;
	out->size = size;
	return QKV_OK;
}

void qkv_file_unmap(struct qkv_mapped_file *f)
{
	if (!f)
		return;
	if (f->data && f->size)
		munmap((void *)f->data, f->size);
	qkv_free(f->path);
	memset(f, 0, sizeof(*f));
}

size_t qkv_dtype_size(enum qkv_dtype dt)
{
	switch (dt) {
	case QKV_DT_F32:
		return 4;
	case QKV_DT_F16:
	case QKV_DT_BF16:
		return 2;
	case QKV_DT_I8:
		return 1;
	default:
		return 0;
	}
}

const char *qkv_dtype_name(enum qkv_dtype dt)
{
	switch (dt) {
	case QKV_DT_F32:
		return "F32";
	case QKV_DT_F16:
		return "F16";
	case QKV_DT_BF16:
		return "BF16";
	case QKV_DT_I8:
		return "I8";
	default:
		return "none";
	}
}

size_t qkv_view_span(const struct qkv_tensor_view *v, uint64_t elems)
{
	if (v->dtype != QKV_DT_BLOCK)
		return (size_t)(elems * qkv_dtype_size(v->dtype));
	const struct qkv_wtype_traits *r = qkv_wtype_traits(v->wtype);
	if (!r || elems % r->block)
		return 0;
	return (size_t)(elems / r->block * r->bytes);
}

const char *qkv_view_type_name(const struct qkv_tensor_view *v)
{
	if (v->dtype == QKV_DT_BLOCK)
		return qkv_wtype_name(v->wtype) ? qkv_wtype_name(v->wtype) : "unknown";
	return qkv_dtype_name(v->dtype);
}

uint64_t qkv_tensor_count(const struct qkv_tensor_view *t)
{
	uint64_t n = 1;
	for (uint32_t i = 0; i < t->ndim && i < QKV_MAX_DIMS; i++)
		n *= t->shape[i];
	return n;
}

enum qkv_status qkv_raw_view(const struct qkv_mapped_file *f, enum qkv_dtype dtype, uint64_t count,
                             struct qkv_tensor_view *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	size_t isz = qkv_dtype_size(dtype);
	if (isz == 0)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "%s: raw weights need a dtype (f32, f16, bf16 or i8)", f->path);
	size_t want;
	if (count > SIZE_MAX || !qkv_mul_size((size_t)count, isz, &want))
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: raw tensor of %llu %s elements overflows the address space",
		                f->path, (unsigned long long)count, qkv_dtype_name(dtype));
	if (f->size != want)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: raw file is %zu bytes, expected %zu (%llu elements of %s, "
		                "%zu bytes each)",
		                f->path, f->size, want, (unsigned long long)count,
		                qkv_dtype_name(dtype), isz);
	out->dtype = dtype;
	out->ndim = 1;
	out->shape[0] = count;
	out->nbytes = want;
	out->data = f->data;
	return QKV_OK;
}

/* Files are little-endian; read byte by byte so the result does not depend on the host
 * byte order or on the alignment of `p`. */
static uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t load_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* One loop per dtype (not a switch per element) so the compiler can vectorise the
 * f32 and bf16 cases: a Llama-sized bf16 tensor widens at memory speed. */
void qkv_convert_to_f32(const struct qkv_tensor_view *t, float *dst, size_t count)
{
	const uint8_t *s = t->data; /* [count * dtype size], any alignment */
	uint32_t u;
	switch (t->dtype) {
	case QKV_DT_F32:
		for (size_t i = 0; i < count; i++) {
			u = load_le32(s + 4 * i);
			memcpy(&dst[i], &u, 4);
		}
		break;
	case QKV_DT_BF16:
		for (size_t i = 0; i < count; i++) {
			u = (uint32_t)load_le16(s + 2 * i) << 16;
			memcpy(&dst[i], &u, 4);
		}
		break;
	case QKV_DT_F16:
		for (size_t i = 0; i < count; i++)
			dst[i] = qkv_fp16_to_f32(load_le16(s + 2 * i));
		break;
	case QKV_DT_I8:
		for (size_t i = 0; i < count; i++)
			dst[i] = (float)(int8_t)s[i];
		break;
	case QKV_DT_BLOCK: {
		const struct qkv_wtype_traits *r = qkv_wtype_traits(t->wtype);
		_Alignas(16) uint8_t blk[256]; /* an aligned copy: the file's may be odd */
		for (size_t b = 0; r && r->bytes <= sizeof(blk) && b < count / r->block; b++) {
			memcpy(blk, s + b * r->bytes, r->bytes);
			r->to_f32(blk, dst + b * r->block);
		}
		break;
	}
	default:
		memset(dst, 0, count * sizeof(float));
		break;
	}
}
