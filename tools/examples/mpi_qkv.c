/* mpi_qkv: head-sharded tensor parallelism on Open MPI.
 *
 *   mpirun -np W mpi_qkv CONFIG [--tokens T] [--backend NAME] [--threads N]
 *                        [--iters N] [--no-check]
 *
 * Every rank opens the same model config with its own shard (rank of W: the open
 * options shard_rank/shard_world), so it loads only its slice of Wq, Wk and Wv, and
 * computes its slice of Q, K and V for the same X (made on rank 0, broadcast). There is
 * no communication in the projection itself: in a runtime the all-reduce belongs to
 * the output projection (Wo) that follows, outside qkv.
 *
 * For checking, rank 0 gathers every rank's Q, K and V (MPI_Gatherv), places them in
 * head order, opens the whole model in one process with the same backend and threads,
 * and compares: the difference must be 0 (each output column is the same dot product
 * in the same order whichever rank computes it). Ranks that hold a replicated K/V head
 * (world > n_kv_heads) are checked against it too.
 *
 * Printed per rank: its heads, the median time of one qkv_project, and the weight bytes
 * it holds: the loader's count (qkv_model_info.weight_bytes) and, from /proc/self/smaps,
 * the resident pages of its mapped weight files plus how much VmRSS grew while opening
 * (that includes a backend's own prepared copy, when it makes one).
 * Exit status: 0 when every slice matched (or --no-check), 1 on a difference, 2 on an
 * error (every rank reports its own). */
#include <mpi.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <qkv/precision.h>
#include <qkv/qkv.h>

struct args {
	const char *config, *backend;
	size_t T;
	int threads, iters, check;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	*a = (struct args){.T = 32, .threads = 0, .iters = 5, .check = 1};
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--no-check")) {
			a->check = 0;
		} else if (i + 1 < argc && !strcmp(s, "--backend")) {
			a->backend = argv[++i];
		} else if (i + 1 < argc && (!strcmp(s, "--tokens") || !strcmp(s, "--threads") ||
		                            !strcmp(s, "--iters"))) {
			char *end = NULL;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < (strcmp(s, "--threads") ? 1 : 0) || v > 1000000) {
				fprintf(stderr, "mpi_qkv: %s: `%s` is not a count\n", s, argv[i]);
				return -1;
			}
			if (!strcmp(s, "--tokens"))
				a->T = (size_t)v;
			else if (!strcmp(s, "--threads"))
				a->threads = (int)v;
			else
				a->iters = (int)v;
		} else if (s[0] != '-' && !a->config) {
			a->config = s;
		} else {
			fprintf(stderr, "mpi_qkv: unknown argument `%s`\n", s);
			return -1;
		}
	}
	if (!a->config) {
		fprintf(stderr, "usage: mpirun -np W mpi_qkv CONFIG [--tokens T] [--backend NAME] "
		                "[--threads N] [--iters N] [--no-check]\n");
		return -1;
	}
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && !strcmp(s + n - m, suf);
}

/* From /proc/self/smaps: resident kB of mappings of weight files, and VmRSS kB from
 * /proc/self/status. -1 when /proc is not there. */
static void proc_rss(long *weights_kb, long *vmrss_kb)
{
	*weights_kb = -1;
	*vmrss_kb = -1;
	FILE *f = fopen("/proc/self/smaps", "r");
	if (f) {
		char line[4096];
		int in_weights = 0;
		*weights_kb = 0;
		while (fgets(line, sizeof(line), f)) {
			unsigned long a, b;
			long kb;
			char path[4096] = "";
			if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %4095s", &a, &b, path) >= 2) {
				in_weights = has_suffix(path, ".safetensors") ||
				             has_suffix(path, ".npy") ||
				             has_suffix(path, ".gguf") ||
				             has_suffix(path, ".bin") || has_suffix(path, ".raw");
			} else if (in_weights && sscanf(line, "Rss: %ld kB", &kb) == 1) {
				*weights_kb += kb;
			}
		}
		fclose(f);
	}
	f = fopen("/proc/self/status", "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "VmRSS: %ld kB", vmrss_kb) == 1)
				break;
		fclose(f);
	}
}

static qkv_model *open_model(const struct args *a, uint32_t rank, uint32_t world, char *err,
                             size_t errlen)
{
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.backend = a->backend;
	o.threads = a->threads;
	o.shard_rank = rank;
	o.shard_world = world;
	qkv_model *m = NULL;
	qkv_model_open(a->config, &o, &m, err, errlen);
	return m;
}

/* "12.3 MiB", "45.6 KiB" or "789 B" into buf; "n/a" for a negative count. */
static const char *human(double bytes, char *buf, size_t len)
{
	if (bytes < 0)
		snprintf(buf, len, "n/a");
	else if (bytes >= 1048576.0)
		snprintf(buf, len, "%.1f MiB", bytes / 1048576.0);
	else if (bytes >= 1024.0)
		snprintf(buf, len, "%.1f KiB", bytes / 1024.0);
	else
		snprintf(buf, len, "%.0f B", bytes);
	return buf;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

/* Per-rank facts gathered on rank 0. */
enum { F_QH0, F_QH, F_KVH0, F_KVH, F_DQ, F_DKV, F_N };

/* One rank's run: its slice, the common X, its outputs, and (rank 0) every rank's facts. */
struct run {
	int rank, world;
	struct args a;
	qkv_model *m;
	struct qkv_model_info info;
	size_t T;
	float *x;       /* [T x d_model], the same on every rank */
	float *out[3];  /* this slice's Q [T x d_q], K, V [T x d_kv] */
	double mine[4]; /* median s, weight bytes, mapped bytes, VmRSS growth */
	int *fa;        /* rank 0: [world][F_N] */
	double *all;    /* rank 0: [world][4] */
};

/* True on every rank when any rank says `bad` (each rank reports its own error). */
static int any(int bad)
{
	int r = 0;
	MPI_Allreduce(&bad, &r, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	return r;
}

/* Open this rank's slice; its memory before and after. 0, or 2 on any rank's error. */
static int open_slice(struct run *R)
{
	char err[1024] = "";
	long w_kb0, rss_kb0, w_kb1, rss_kb1;
	proc_rss(&w_kb0, &rss_kb0);
	R->m = open_model(&R->a, (uint32_t)R->rank, (uint32_t)R->world, err, sizeof(err));
	proc_rss(&w_kb1, &rss_kb1);
	R->info = (struct qkv_model_info)QKV_MODEL_INFO_INIT;
	int bad = !R->m || qkv_model_get_info(R->m, &R->info) != QKV_OK;
	if (bad)
		fprintf(stderr, "mpi_qkv: rank %d of %d: %s\n", R->rank, R->world, err);
	R->mine[1] = (double)R->info.weight_bytes;
	R->mine[2] = w_kb1 >= 0 ? (double)w_kb1 * 1024.0 : -1.0;
	R->mine[3] = rss_kb1 >= 0 && rss_kb0 >= 0 ? (double)(rss_kb1 - rss_kb0) * 1024.0 : -1.0;
	return any(bad) ? 2 : 0;
}

/* The same X everywhere: made on rank 0, broadcast; the output buffers. MPI counts are
 * ints: the whole gathered Q (and X) must fit. 0, or 2. */
static int make_input(struct run *R)
{
	size_t T = R->a.T, dm = R->info.d_model;
	size_t widest = (size_t)R->info.model_n_heads * R->info.head_dim;
	if (widest < dm)
		widest = dm;
	if (T > (size_t)INT32_MAX / widest) {
		if (R->rank == 0)
			fprintf(stderr,
			        "mpi_qkv: --tokens %zu: %zu x %zu values exceed MPI's int counts\n",
			        T, T, widest);
		return 2;
	}
	R->T = T;
	R->x = malloc(T * dm * sizeof(float));
	for (int p = 0; p < 3; p++)
		R->out[p] = malloc(T * (p ? R->info.d_kv : R->info.d_q) * sizeof(float) + 1);
	int bad = !R->x || !R->out[0] || !R->out[1] || !R->out[2];
	if (!bad && R->rank == 0) {
		uint64_t s = 88172645463325252ull;
		for (size_t i = 0; i < T * dm; i++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			R->x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
		}
	}
	if (any(bad)) {
		fprintf(stderr, "mpi_qkv: rank %d: out of memory\n", R->rank);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	MPI_Bcast(R->x, (int)(T * dm), MPI_FLOAT, 0, MPI_COMM_WORLD);
	return 0;
}

/* Every rank at once, as in a runtime; the median of --iters calls into mine[0]. */
static void time_calls(struct run *R)
{
	char err[1024] = "";
	const struct qkv_model_info *i = &R->info;
	double *times = malloc((size_t)R->a.iters * sizeof(double));
	int st = times ? QKV_OK : QKV_ERR_NOMEM;
	for (int it = 0; it < R->a.iters && st == QKV_OK; it++) {
		MPI_Barrier(MPI_COMM_WORLD);
		double t0 = now();
		st = qkv_project(R->m, R->T, R->x, i->d_model, R->out[0], i->d_q, R->out[1],
		                 i->d_kv, R->out[2], i->d_kv, err, sizeof(err));
		times[it] = now() - t0;
	}
	if (st != QKV_OK)
		fprintf(stderr, "mpi_qkv: rank %d: qkv_project: %s\n", R->rank, err);
	if (any(st != QKV_OK))
		MPI_Abort(MPI_COMM_WORLD, 2);
	qsort(times, (size_t)R->a.iters, sizeof(double), cmp_double);
	R->mine[0] = times[R->a.iters / 2];
	free(times);
}

/* Rank 0 gathers every rank's heads, time and bytes, and prints the table. */
static void report(struct run *R)
{
	const struct qkv_model_info *i = &R->info;
	int facts[F_N] = {(int)i->q_head_begin, (int)i->n_heads, (int)i->kv_head_begin,
	                  (int)i->n_kv_heads,   (int)i->d_q,     (int)i->d_kv};
	if (R->rank == 0) {
		R->all = malloc((size_t)R->world * sizeof(R->mine));
		R->fa = malloc((size_t)R->world * sizeof(facts));
		if (!R->all || !R->fa)
			MPI_Abort(MPI_COMM_WORLD, 2);
	}
	MPI_Gather(R->mine, 4, MPI_DOUBLE, R->all, 4, MPI_DOUBLE, 0, MPI_COMM_WORLD);
	MPI_Gather(facts, F_N, MPI_INT, R->fa, F_N, MPI_INT, 0, MPI_COMM_WORLD);
	if (R->rank != 0)
		return;
	printf("mpi_qkv: %s, %d rank(s), T=%zu, backend %s, %u thread(s) per rank\n", R->a.config,
	       R->world, R->T, i->backend, i->threads);
	printf("model: d_model %u, %u query heads, %u K/V heads, head_dim %u, %s\n", i->d_model,
	       i->model_n_heads, i->model_n_kv_heads, i->head_dim,
	       qkv_precision_name(i->precision));
	printf("%4s %12s %12s %10s %14s %14s %14s\n", "rank", "q heads", "kv heads", "time ms",
	       "weights (qkv)", "mapped (proc)", "VmRSS +open");
	for (int r = 0; r < R->world; r++) {
		const double *d = R->all + 4 * r;
		const int *f = R->fa + F_N * r;
		char qh[32], kh[32], b1[32], b2[32], b3[32];
		snprintf(qh, sizeof(qh), "%d-%d", f[F_QH0], f[F_QH0] + f[F_QH] - 1);
		snprintf(kh, sizeof(kh), "%d-%d", f[F_KVH0], f[F_KVH0] + f[F_KVH] - 1);
		printf("%4d %12s %12s %10.3f %14s %14s %14s\n", r, qh, kh, d[0] * 1e3,
		       human(d[1], b1, sizeof(b1)), human(d[2], b2, sizeof(b2)),
		       human(d[3], b3, sizeof(b3)));
	}
	fflush(stdout);
}

/* Gather Q, K, V on rank 0, in rank order, into g[3] (rank 0 only; NULL elsewhere). */
static void gather_outputs(const struct run *R, float *g[3])
{
	int *cnt = NULL, *disp = NULL;
	if (R->rank == 0) {
		cnt = malloc((size_t)R->world * sizeof(int));
		disp = malloc((size_t)R->world * sizeof(int));
		size_t tot[2] = {0, 0};
		for (int r = 0; r < R->world; r++) {
			tot[0] += (size_t)R->fa[F_N * r + F_DQ] * R->T;
			tot[1] += (size_t)R->fa[F_N * r + F_DKV] * R->T;
		}
		for (int p = 0; p < 3; p++)
			g[p] = malloc(tot[p ? 1 : 0] * sizeof(float) + 1);
		if (!cnt || !disp || !g[0] || !g[1] || !g[2])
			MPI_Abort(MPI_COMM_WORLD, 2);
	}
	for (int p = 0; p < 3; p++) {
		int n = (int)(R->T * (p ? R->info.d_kv : R->info.d_q));
		for (int r = 0, off = 0; R->rank == 0 && r < R->world; r++) {
			cnt[r] = (int)R->T * R->fa[F_N * r + (p ? F_DKV : F_DQ)];
			disp[r] = off;
			off += cnt[r];
		}
		MPI_Gatherv(R->out[p], n, MPI_FLOAT, g[p], cnt, disp, MPI_FLOAT, 0, MPI_COMM_WORLD);
	}
	free(cnt);
	free(disp);
}

/* Rank 0: the gathered slices, placed in head order, against the whole model computed in
 * this process with the same backend and threads. 0 bit-identical, 1 a difference, 2 an
 * error. */
static int compare_with_whole(const struct run *R, float *const g[3])
{
	char err[1024] = "";
	size_t T = R->T, hd = R->info.head_dim;
	qkv_model *whole = open_model(&R->a, 0, 1, err, sizeof(err));
	struct qkv_model_info wi = QKV_MODEL_INFO_INIT;
	float *ref[3] = {NULL, NULL, NULL};
	int status = 0;
	if (!whole || qkv_model_get_info(whole, &wi) != QKV_OK) {
		status = 2;
	} else {
		for (int p = 0; p < 3; p++)
			ref[p] = malloc(T * (p ? wi.d_kv : wi.d_q) * sizeof(float) + 1);
		if (!ref[0] || !ref[1] || !ref[2] ||
		    qkv_project(whole, T, R->x, wi.d_model, ref[0], wi.d_q, ref[1], wi.d_kv, ref[2],
		                wi.d_kv, err, sizeof(err)) != QKV_OK)
			status = 2;
	}
	if (status)
		fprintf(stderr, "mpi_qkv: the whole model: %s\n", err);
	double maxdiff = 0.0;
	size_t ndiff = 0, checked = 0;
	for (int p = 0; p < 3 && status == 0; p++) {
		size_t W = p ? wi.d_kv : wi.d_q, off = 0;
		for (int r = 0; r < R->world; r++) {
			const int *f = R->fa + F_N * r;
			size_t w = (size_t)(p ? f[F_DKV] : f[F_DQ]);
			size_t c0 = (size_t)(p ? f[F_KVH0] : f[F_QH0]) * hd;
			for (size_t t = 0; t < T; t++)
				for (size_t j = 0; j < w; j++, checked++) {
					float got = g[p][off + t * w + j],
					      want = ref[p][t * W + c0 + j];
					if (!memcmp(&got, &want, sizeof(float)))
						continue;
					ndiff++;
					double d = fabs((double)got - (double)want);
					maxdiff = d > maxdiff || isnan(d) ? d : maxdiff;
				}
			off += T * w;
		}
	}
	if (status == 0) {
		printf("check: %zu gathered values against one process of the whole model: %zu "
		       "differ, max difference %g%s\n",
		       checked, ndiff, maxdiff, ndiff ? "" : " (bit-identical)");
		status = ndiff ? 1 : 0;
	}
	for (int p = 0; p < 3; p++)
		free(ref[p]);
	qkv_model_close(whole);
	return status;
}

static void run_free(struct run *R)
{
	free(R->all);
	free(R->fa);
	for (int p = 0; p < 3; p++)
		free(R->out[p]);
	free(R->x);
	qkv_model_close(R->m);
}

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	struct run R = {0};
	MPI_Comm_rank(MPI_COMM_WORLD, &R.rank);
	MPI_Comm_size(MPI_COMM_WORLD, &R.world);
	int status = any(parse_args(argc, argv, &R.a) != 0) ? 2 : 0;
	if (!status)
		status = open_slice(&R);
	if (!status)
		status = make_input(&R);
	if (!status) {
		time_calls(&R);
		report(&R);
	}
	if (!status && R.a.check) {
		float *g[3] = {NULL, NULL, NULL};
		gather_outputs(&R, g);
		if (R.rank == 0)
			status = compare_with_whole(&R, g);
		for (int p = 0; p < 3; p++)
			free(g[p]);
		MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
	}
	run_free(&R);
	MPI_Finalize();
	return status;
}
