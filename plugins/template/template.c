/* A minimal qkv backend: copy this folder, rename `template`, replace the loops.
 *
 * It computes f32 only, with one dot product per output element, and shows every rule
 * of the contract (plugins/README.md):
 *   - one exported symbol, the descriptor; everything else is static (and the build
 *     uses -fvisibility=hidden);
 *   - prepare refuses an undeclared precision with QKV_ERR_UNSUPPORTED and may leave
 *     a half-built handle for release;
 *   - project is reentrant: no globals, no state written in the handle, per-call
 *     scratch (none needed here) allocated per call;
 *   - strides are honoured and only the T x width elements of each output are written;
 *   - errors are a status plus a message in the caller's buffer; no printing.
 */
#include <stdio.h>
#include <stdlib.h>

/* Optional helpers (<qkv/backend_util.h>): qkv_backend_fail prefixes "template: ". */
#define QKV_BACKEND_NAME "template"
#include <qkv/backend_util.h>
#include <qkv/plugin.h>

struct template_handle {
	uint32_t d_model;
	uint32_t width[3]; /* d_q, d_kv, d_kv */
	uint32_t layout;
	const float *w[3];    /* borrowed: the core keeps weights valid until release */
	const float *bias[3]; /* [width] or NULL */
};

static void template_probe(struct qkv_probe_result *out)
{
	out->score = 1; /* > 0: usable here; higher would be preferred when faster */
	snprintf(out->detail, sizeof(out->detail), "portable C, f32");
}

static enum qkv_status template_prepare(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                        void **handle, char *err, size_t errlen)
{
	*handle = NULL;
	if (pb->precision != QKV_F32)
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED, "only f32 is supported");
	for (int p = 0; p < 3; p++) /* the core always gives them; a direct caller may not */
		if (!wt->w[p])
			return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "weights %s missing",
			                        qkv_proj_name((unsigned)p));
	struct template_handle *h = calloc(1, sizeof(*h));
	if (!h)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	h->d_model = pb->d_model;
	for (int p = 0; p < 3; p++)
		h->width[p] = qkv_out_width(pb, p);
	h->layout = wt->layout;
	for (int p = 0; p < 3; p++) {
		h->w[p] = wt->w[p];
		h->bias[p] = wt->bias[p];
	}
	*handle = h;
	return QKV_OK;
}

/* What the handle holds (optional, ABI 1.2): this one reads the caller's weights in
 * place. A backend that copies everything it reads, biases too, says keeps_weights 0 and
 * the core lets the file's pages go (plugins/README.md, "memory"). */
static void template_memory(const void *handle, struct qkv_handle_memory *out)
{
	(void)handle;
	out->keeps_weights = 1;
	out->bytes_made = sizeof(struct template_handle);
}

/* W(k, n) of a [d_model x width] matrix in either layout. */
static float weight(const struct template_handle *h, int p, size_t k, size_t n)
{
	return h->layout == QKV_LAYOUT_IN_OUT ? h->w[p][k * h->width[p] + n]
	                                      : h->w[p][n * h->d_model + k];
}

static enum qkv_status template_project(const void *handle, const struct qkv_batch *b, char *err,
                                        size_t errlen)
{
	const struct template_handle *h = handle;
	if (!h || !b)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "NULL handle or batch");
	for (int p = 0; p < 3; p++) {
		for (size_t t = 0; t < b->T; t++) {
			const float *x = b->x + t * b->ldx;      /* [d_model] */
			float *y = b->out[p] + t * b->ld_out[p]; /* [width] */
			for (size_t n = 0; n < h->width[p]; n++) {
				float acc = 0.0f;
				for (size_t k = 0; k < h->d_model; k++)
					acc += x[k] * weight(h, p, k, n);
				y[n] = h->bias[p] ? acc + h->bias[p][n] : acc;
			}
		}
	}
	return QKV_OK;
}

static void template_release(void *handle)
{
	free(handle); /* free(NULL) is fine: release must accept NULL */
}

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    .abi_major = QKV_PLUGIN_ABI_MAJOR,
    .abi_minor = QKV_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(struct qkv_backend),
    .precisions = QKV_PRECISION_BIT(QKV_F32),
    .name = "template",
    .version = "1.0.0",
    .probe = template_probe,
    .prepare = template_prepare,
    .project = template_project,
    .release = template_release,
    .memory = template_memory,
};
