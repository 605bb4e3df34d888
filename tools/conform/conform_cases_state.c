/* Cases about the process around a backend: the caller's OpenMP settings, signal
 * handlers, affinity, locale and environment; the thread budget (CPU time of the other
 * threads); the probe's struct bounds; descriptors, threads and mappings over many
 * calls; addresses reused after a release; thousands of calls; concurrent prepares;
 * a caller with a small stack. */
#define _GNU_SOURCE /* pthread_getaffinity_np, pthread_getname_np */
#include <dirent.h>
#include <fcntl.h>
#include <dlfcn.h>
#include <locale.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <qkv/precision.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

extern char **environ;

/* The precisions `be` declares, in order; returns how many. */
static int declared(const struct qkv_backend *be, int *p)
{
	int n = 0;
	for (int i = 0; i < QKV_PRECISION_COUNT; i++)
		if (cf_declares(be, i))
			p[n++] = i;
	return n;
}

/* ---- the caller's process state ----------------------------------------------------- */

/* What a call may read but must leave as it found it. */
struct pstate {
	int omp_threads, omp_dynamic, omp_levels, omp_chunk;
	omp_sched_t omp_kind;
	sigset_t mask;
	uintptr_t handler[NSIG];
	int flags[NSIG];
	cpu_set_t cpus;
	bool cpus_checked; /* not when the user asked OpenMP to bind (OMP_PROC_BIND ...) */
	char locale[256], cwd[1024], name[32];
	mode_t umask;
	size_t env_count;
	uint64_t env_hash;
	struct rlimit lim[3];
	int nice;
	int std_fds; /* bit i: fd i (0, 1, 2) open */
	struct {
		dev_t dev;
		ino_t ino;
	} std_file[3]; /* what fds 0-2 refer to: a dup2 onto them redirects the caller's */
	int next_rand; /* rand() after srand(CF_RAND_SEED) at the snapshot */
};

#define CF_RAND_SEED 20260611u

static const int limit_ids[3] = {RLIMIT_NOFILE, RLIMIT_STACK, RLIMIT_CORE};
static const char *const limit_names[3] = {"RLIMIT_NOFILE", "RLIMIT_STACK", "RLIMIT_CORE"};

static void pstate_get(struct pstate *s)
{
	memset(s, 0, sizeof(*s));
	s->omp_threads = omp_get_max_threads();
	s->omp_dynamic = omp_get_dynamic();
	s->omp_levels = omp_get_max_active_levels();
	omp_get_schedule(&s->omp_kind, &s->omp_chunk);
	pthread_sigmask(SIG_SETMASK, NULL, &s->mask);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;
		if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) != 0)
			continue;
		s->flags[sig] = sa.sa_flags;
		s->handler[sig] = sa.sa_flags & SA_SIGINFO ? (uintptr_t)sa.sa_sigaction
		                                           : (uintptr_t)sa.sa_handler;
	}
	s->cpus_checked = !getenv("OMP_PROC_BIND") && !getenv("OMP_PLACES") &&
	                  !getenv("GOMP_CPU_AFFINITY") && !getenv("KMP_AFFINITY");
	if (pthread_getaffinity_np(pthread_self(), sizeof(s->cpus), &s->cpus) != 0)
		s->cpus_checked = false;
	const char *loc = setlocale(LC_ALL, NULL);
	snprintf(s->locale, sizeof(s->locale), "%s", loc ? loc : "?");
	if (!getcwd(s->cwd, sizeof(s->cwd)))
		snprintf(s->cwd, sizeof(s->cwd), "?");
	pthread_getname_np(pthread_self(), s->name, sizeof(s->name));
	s->umask = umask(022);
	umask(s->umask);
	s->env_hash = CF_FNV_BASIS;
	for (char **e = environ; e && *e; e++, s->env_count++)
		s->env_hash = cf_fnv1a(s->env_hash, *e);
	for (int i = 0; i < 3; i++)
		getrlimit(limit_ids[i], &s->lim[i]);
	s->nice = getpriority(PRIO_PROCESS, 0);
	for (int fd = 0; fd < 3; fd++) {
		struct stat st;
		s->std_fds |= (fcntl(fd, F_GETFD) != -1) << fd;
		if (fstat(fd, &st) == 0) {
			s->std_file[fd].dev = st.st_dev;
			s->std_file[fd].ino = st.st_ino;
		}
	}
}

/* True when `addr` lies in the shared object loaded at `base`. */
static bool in_object(const void *base, uintptr_t addr)
{
	Dl_info at;
	if (!base || addr <= (uintptr_t)SIG_IGN || !dladdr((void *)addr, &at))
		return false;
	return at.dli_fbase == base;
}

/* False and a message naming the first thing `after` changed. */

static bool pstate_same(const struct qkv_backend *be, const struct pstate *a,
                        const struct pstate *b, const char *when, struct cf_report *r)
{
	const char *what = "the calling thread's OpenMP";
	if (b->omp_threads != a->omp_threads)
		return cf_fail(r,
		               "%s changed %s thread count: omp_get_max_threads() %d, was %d "
		               "(omp_set_num_threads on the caller's thread, not restored)",
		               when, what, b->omp_threads, a->omp_threads);
	if (b->omp_dynamic != a->omp_dynamic || b->omp_levels != a->omp_levels ||
	    b->omp_kind != a->omp_kind || b->omp_chunk != a->omp_chunk)
		return cf_fail(r,
		               "%s changed %s settings: dynamic %d, max active levels %d, "
		               "schedule %d/%d (were %d, %d, %d/%d)",
		               when, what, b->omp_dynamic, b->omp_levels, (int)b->omp_kind,
		               b->omp_chunk, a->omp_dynamic, a->omp_levels, (int)a->omp_kind,
		               a->omp_chunk);
	for (int sig = 1; sig < NSIG; sig++) {
		if (a->handler[sig] != b->handler[sig] || a->flags[sig] != b->flags[sig])
			return cf_fail(r,
			               "%s changed the process's handler for signal %d (%s) and "
			               "left it: a backend restores what it installs",
			               when, sig, strsignal(sig));
		if (sigismember(&a->mask, sig) != sigismember(&b->mask, sig))
			return cf_fail(
			    r, "%s changed the calling thread's signal mask (signal %d, %s)", when,
			    sig, strsignal(sig));
	}
	Dl_info self;
	const void *plugin = dladdr(be, &self) ? self.dli_fbase : NULL;
	for (int sig = 1; sig < NSIG; sig++) /* left by a probe before the first snapshot */
		if (in_object(plugin, b->handler[sig]))
			return cf_fail(r,
			               "the process's handler for signal %d (%s) is a function of "
			               "the plugin (seen after %s): a backend restores what it "
			               "installs",
			               sig, strsignal(sig), when);
	if (a->cpus_checked && b->cpus_checked && !CPU_EQUAL(&a->cpus, &b->cpus))
		return cf_fail(r,
		               "%s changed the calling thread's CPU affinity (%d CPUs allowed, "
		               "were %d): the caller's thread is not the backend's to pin",
		               when, CPU_COUNT(&b->cpus), CPU_COUNT(&a->cpus));
	if (strcmp(a->locale, b->locale) != 0)
		return cf_fail(r, "%s changed the locale to \"%.100s\" (was \"%.100s\")", when,
		               b->locale, a->locale);
	if (strcmp(a->cwd, b->cwd) != 0)
		return cf_fail(r, "%s changed the working directory to %.200s", when, b->cwd);
	if (strcmp(a->name, b->name) != 0)
		return cf_fail(r, "%s renamed the calling thread to \"%s\" (was \"%s\")", when,
		               b->name, a->name);
	if (a->umask != b->umask)
		return cf_fail(r, "%s changed the umask to %03o (was %03o)", when,
		               (unsigned)b->umask, (unsigned)a->umask);
	if (a->env_count != b->env_count || a->env_hash != b->env_hash)
		return cf_fail(r,
		               "%s changed the environment (%zu variables, were %zu): setenv "
		               "in a library changes the whole process",
		               when, b->env_count, a->env_count);
	for (int i = 0; i < 3; i++)
		if (a->lim[i].rlim_cur != b->lim[i].rlim_cur ||
		    a->lim[i].rlim_max != b->lim[i].rlim_max)
			return cf_fail(r, "%s changed the process's %s", when, limit_names[i]);
	if (a->std_fds != b->std_fds)
		return cf_fail(r, "%s closed a standard file descriptor (open: 0x%x, were 0x%x)",
		               when, (unsigned)b->std_fds, (unsigned)a->std_fds);
	for (int fd = 0; fd < 3; fd++)
		if (a->std_file[fd].dev != b->std_file[fd].dev ||
		    a->std_file[fd].ino != b->std_file[fd].ino)
			return cf_fail(r,
			               "%s pointed file descriptor %d at another file (dup2 onto "
			               "the caller's standard streams)",
			               when, fd);
	if (a->nice != b->nice)
		return cf_fail(r, "%s changed the calling thread's nice value to %d (was %d)", when,
		               b->nice, a->nice);
	return true;
}

/* The C library's rand() sequence is the caller's: a backend that calls srand or rand
 * shifts it. Seeded before each step, read after it. */
static bool state_kept(const struct qkv_backend *be, const struct pstate *before, const char *when,
                       struct cf_report *r)
{
	struct pstate now;
	pstate_get(&now);
	int next = rand();
	srand(CF_RAND_SEED);
	if (!pstate_same(be, before, &now, when, r))
		return false;
	if (next != before->next_rand)
		return cf_fail(r,
		               "%s used the C library's rand()/srand() (the caller's random "
		               "sequence moved): keep a generator of your own",
		               when);
	return true;
}

/* Every entry point, on the good and the error paths, with the calling thread's
 * OpenMP thread count set to a value no budget uses (7): nothing the call may only
 * borrow (OpenMP settings, signal handlers and mask, affinity, locale, working
 * directory, thread name, umask, environment, limits, nice) is left changed. */
void cf_case_process_state(const struct qkv_backend *be, int precision, uint64_t seed,
                           struct cf_report *r)
{
	(void)precision;
	int old_threads = omp_get_max_threads();
	omp_set_num_threads(7);
	struct pstate s0;
	pstate_get(&s0);
	srand(CF_RAND_SEED);
	s0.next_rand = rand();
	srand(CF_RAND_SEED);
	struct qkv_probe_result pr = {.struct_size = sizeof(pr)};
	be->probe(&pr);
	bool ok = state_kept(be, &s0, "probe", r);
	struct cf_report sub;
	memset(&sub, 0, sizeof(sub));
	if (ok) {
		cf_case_refuse_undeclared(be, -1, seed, &sub);
		ok = state_kept(be, &s0, "a refused prepare", r);
	}
	int prec[QKV_PRECISION_COUNT];
	int n = declared(be, prec);
	static const struct cf_shape sh = {40, 96, 4, 2, 16};
	struct cf_rng g = {seed};
	for (int i = 0; ok && i < n; i++) {
		struct cf_opts o = {.precision = (uint32_t)prec[i], .threads = 3, .bias = true};
		struct cf_setup s;
		if (!(ok = cf_setup_init(&s, be, &sh, &o, cf_rng_next(&g), r)))
			break;
		char when[64];
		snprintf(when, sizeof(when), "%s prepare", qkv_precision_name(prec[i]));
		ok = state_kept(be, &s0, when, r);
		for (uint32_t t = 1; ok && t <= 3; t += 2) {
			struct cf_out out;
			if (!(ok = cf_out_alloc(&out, &s, sh.T, r)))
				break;
			ok = cf_call(&s, 0, sh.T, &out, t, r) && cf_check_values(&s, 0, &out, r);
			cf_out_free(&out);
			snprintf(when, sizeof(when), "%s project (threads %u)",
			         qkv_precision_name(prec[i]), t);
			ok = ok && state_kept(be, &s0, when, r);
		}
		cf_setup_free(&s);
		snprintf(when, sizeof(when), "%s release", qkv_precision_name(prec[i]));
		ok = ok && state_kept(be, &s0, when, r);
	}
	omp_set_num_threads(old_threads);
	if (ok)
		snprintf(r->msg, sizeof(r->msg),
		         "OpenMP settings, signals, affinity%s, locale, cwd, umask, environment, "
		         "limits unchanged by every entry point",
		         s0.cpus_checked ? "" : " (not checked: OpenMP binding asked for)");
}

/* ---- the thread budget ------------------------------------------------------------------ */

static double clock_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time the process's other threads use in `seconds` of sleep. */
static double others_idle(double seconds)
{
	double self0 = clock_s(CLOCK_THREAD_CPUTIME_ID), proc0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	nanosleep(&(struct timespec){0, (long)(seconds * 1e9)}, NULL);
	return clock_s(CLOCK_PROCESS_CPUTIME_ID) - proc0 -
	       (clock_s(CLOCK_THREAD_CPUTIME_ID) - self0);
}

/* Calls with batch.threads = 1 while the model's budget (problem.threads) is 4: the
 * process's CPU time minus the calling thread's is what other threads did for the
 * calls, and it includes threads that have exited. It does not depend on the load or
 * on how many cores the machine has: work split over two threads shows as about as
 * much CPU time on the other thread as on the caller. Allowed: a quarter of the
 * caller's time plus 5 ms (a pool waking up, a timer). */
void cf_case_thread_budget(const struct qkv_backend *be, int precision, uint64_t seed,
                           struct cf_report *r)
{
	(void)precision;
	static const struct cf_shape sh = {48, 384, 4, 2, 32};
	int prec[QKV_PRECISION_COUNT];
	int n = declared(be, prec);
	struct cf_rng g = {seed};
	double worst = 0;
	for (int i = 0; i < n; i++) {
		struct cf_opts o = {.precision = (uint32_t)prec[i], .threads = 4, .bias = true};
		struct cf_setup s;
		if (!cf_setup_init(&s, be, &sh, &o, cf_rng_next(&g), r))
			return;
		struct cf_out out;
		bool ok = cf_out_alloc(&out, &s, sh.T, r) && cf_call(&s, 0, sh.T, &out, 1, r) &&
		          cf_check_values(&s, 0, &out, r);
		/* Pools woken before (probe, prepare with problem.threads = 4) spin a while
		 * before they sleep: OpenBLAS's about 0.1 s, libgomp's a few ms. Each
		 * measurement starts when 20 ms pass with under 1 ms of CPU on other threads
		 * (at most 2 s). A budget overrun happens on every call; a pool stirring for
		 * its own reasons does not, so an excess counts only when a second
		 * measurement shows it too. */
		double self = 0, others = 0;
		int calls = 0;
		for (int attempt = 0; ok && attempt < 2; attempt++) {
			for (int w = 0; w < 100 && others_idle(0.02) >= 0.001; w++)
				;
			double self0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
			double proc0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
			double wall0 = clock_s(CLOCK_MONOTONIC);
			calls = 0;
			while (ok &&
			       (calls < 3 || clock_s(CLOCK_PROCESS_CPUTIME_ID) - proc0 < 0.05) &&
			       calls < 20000 && clock_s(CLOCK_MONOTONIC) - wall0 < 10) {
				cf_progress("%s: call %d with a budget of 1 thread", s.desc,
				            calls + 1);
				ok = cf_call(&s, 0, sh.T, &out, 1, r);
				calls++;
			}
			self = clock_s(CLOCK_THREAD_CPUTIME_ID) - self0;
			others = clock_s(CLOCK_PROCESS_CPUTIME_ID) - proc0 - self;
			if (others <= 0.25 * self + 0.005)
				break;
		}
		char desc[sizeof(s.desc)];
		memcpy(desc, s.desc, sizeof(desc));
		cf_out_free(&out);
		cf_setup_free(&s);
		if (!ok)
			return;
		if (others > 0.25 * self + 0.005)
			return (void)cf_fail(
			    r,
			    "%s: with a budget of 1 thread (batch.threads = 1, problem.threads = "
			    "4) other threads used %.1f ms of CPU while the calling thread used "
			    "%.1f ms in %d calls (twice in a row): project ran on more threads "
			    "than batch.threads",
			    desc, others * 1e3, self * 1e3, calls);
		if (self > 0 && others / self > worst)
			worst = others / self;
	}
	snprintf(r->msg, sizeof(r->msg),
	         "budget 1: other threads' CPU time at most %.3f of the caller's", worst);
}

/* ---- the probe's bounds -------------------------------------------------------------- */

bool cf_probe_guarded(const struct qkv_backend *be, struct qkv_probe_result *out,
                      struct cf_report *r)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return cf_fail(r, "harness: cannot map guard pages");
	if (mprotect(m + page, page, PROT_NONE) != 0) {
		munmap(m, 3 * page);
		return cf_fail(r, "harness: cannot protect a guard page");
	}
	struct qkv_probe_result *at[2] = {
	    (struct qkv_probe_result *)(void *)(m + page - sizeof(struct qkv_probe_result)),
	    (struct qkv_probe_result *)(void *)(m + 2 * page)};
	bool ok = true;
	for (int i = 0; ok && i < 2; i++) {
		memset(at[i], 0x5a, sizeof(*at[i]));
		at[i]->struct_size = sizeof(*at[i]);
		cf_progress("probe with its result %s a PROT_NONE page (a write past the "
		            "struct faults)",
		            i == 0 ? "ending at" : "starting after");
		be->probe(at[i]);
		if (at[i]->struct_size != sizeof(*at[i]))
			ok = cf_fail(r, "probe changed struct_size to %u", at[i]->struct_size);
		else if (!memchr(at[i]->detail, '\0', sizeof(at[i]->detail)))
			ok = cf_fail(r, "probe left detail without a terminating NUL");
	}
	if (ok)
		*out = *at[1];
	munmap(m, 3 * page);
	return ok;
}

/* ---- descriptors, threads, mappings ------------------------------------------------------- */

static long count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	long n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static long vm_pages(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = -1;
	if (f && fscanf(f, "%ld", &pages) != 1)
		pages = -1;
	if (f)
		fclose(f);
	return pages;
}

#define RES_WARM 2
#define RES_BLOCKS 8

/* File descriptors, threads and mapped address space after blocks of identical work
 * (the no_leaks block: prepare, 8 calls, release, per precision, 4 times): one that
 * grows after every block leaks (a descriptor or a mapping per prepare, a helper
 * thread never joined). Lazily made pools and caches grow it once. */
void cf_case_no_resource_leaks(const struct qkv_backend *be, int precision, uint64_t seed,
                               struct cf_report *r)
{
	(void)precision;
	static const char *const what[3] = {"open file descriptors", "threads",
	                                    "mapped address space (pages)"};
	long m[3][RES_BLOCKS + 1];
	for (int b = -RES_WARM; b <= RES_BLOCKS; b++) {
		cf_progress("resource check: block %d of %d", b + RES_WARM, RES_WARM + RES_BLOCKS);
		if (!cf_leak_block(be, seed, r))
			return;
		if (b < 0)
			continue;
		m[0][b] = count_entries("/proc/self/fd");
		m[1][b] = count_entries("/proc/self/task");
		m[2][b] = vm_pages();
	}
	for (int k = 0; k < 3; k++) {
		bool grew = m[k][0] >= 0;
		for (int b = 1; b <= RES_BLOCKS; b++)
			grew = grew && m[k][b] > m[k][b - 1];
		if (grew)
			return (void)cf_fail(r,
			                     "%s grew after each of %d identical blocks of "
			                     "prepare/project/release (%ld -> %ld): a leak",
			                     what[k], RES_BLOCKS, m[k][0], m[k][RES_BLOCKS]);
	}
	snprintf(r->msg, sizeof(r->msg), "%ld fds, %ld threads, %ld pages: stable over %d blocks",
	         m[0][RES_BLOCKS], m[1][RES_BLOCKS], m[2][RES_BLOCKS], RES_BLOCKS);
}

/* ---- addresses reused --------------------------------------------------------------------- */

#define RECYCLE_CYCLES 6

/* Prepare, call, release, six times with new weights, biases and X each time: the
 * weights are mappings, so a new one usually lands where the released one was (and
 * so may the backend's handle). A backend caching packed weights or results by
 * address answers with the old ones. Shapes alternate between two sizes. */
void cf_case_recycled_addresses(const struct qkv_backend *be, int precision, uint64_t seed,
                                struct cf_report *r)
{
	(void)precision;
	static const struct cf_shape sh[2] = {{9, 64, 4, 2, 8}, {5, 64, 2, 2, 16}};
	int prec[QKV_PRECISION_COUNT];
	int n = declared(be, prec);
	struct cf_rng g = {seed};
	int reused = 0;
	for (int i = 0; i < n; i++) {
		const void *last_w = NULL;
		for (int c = 0; c < RECYCLE_CYCLES; c++) {
			struct cf_opts o = {.precision = (uint32_t)prec[i],
			                    .layout = (uint32_t)(c / 4 % 2),
			                    .threads = 1 + (uint32_t)(c % 2),
			                    .bias = true,
			                    .w_paged = 1};
			struct cf_setup s;
			if (!cf_setup_init(&s, be, &sh[c / 2 % 2], &o, cf_rng_next(&g), r))
				return;
			bool at_old = s.w[0] == last_w;
			reused += at_old;
			last_w = s.w[0];
			struct cf_out out;
			bool ok = cf_out_alloc(&out, &s, s.sh.T, r) &&
			          cf_call(&s, 0, s.sh.T, &out, o.threads, r) &&
			          cf_check_values(&s, 0, &out, r);
			if (!ok) {
				size_t len = strlen(r->msg);
				snprintf(r->msg + len, sizeof(r->msg) - len,
				         " (cycle %d of prepare/project/release; weights at the "
				         "address of the released ones: %s)",
				         c + 1, at_old ? "yes" : "no");
			}
			cf_out_free(&out);
			cf_setup_free(&s);
			if (!ok)
				return;
		}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "%d cycles per precision, weights at a released address %d times: fresh "
	         "results",
	         RECYCLE_CYCLES, reused);
}

/* ---- thousands of calls ----------------------------------------------------------------- */

#define LONG_CALLS 3000
#define LONG_KINDS 4

/* 3000 calls on one small handle, T and threads cycling through four kinds: every
 * call bit-identical to the first of its kind. A backend that re-tunes itself after
 * some number of calls (40, 1000, 2048) changes its answers. */
void cf_case_calls_3000(const struct qkv_backend *be, int precision, uint64_t seed,
                        struct cf_report *r)
{
	(void)precision;
	static const struct cf_shape sh = {5, 40, 2, 1, 8};
	static const size_t rows[LONG_KINDS] = {1, 5, 3, 5};
	static const uint32_t threads[LONG_KINDS] = {1, 2, 1, 3};
	int prec[QKV_PRECISION_COUNT];
	int n = declared(be, prec);
	struct cf_rng g = {seed};
	for (int i = 0; i < n; i++) {
		struct cf_opts o = {.precision = (uint32_t)prec[i], .threads = 3, .bias = true};
		struct cf_setup s;
		if (!cf_setup_init(&s, be, &sh, &o, cf_rng_next(&g), r))
			return;
		struct cf_out first[LONG_KINDS], out;
		memset(first, 0, sizeof(first));
		bool ok = true;
		for (int k = 0; ok && k < LONG_KINDS; k++)
			ok = cf_out_alloc(&first[k], &s, rows[k], r) &&
			     cf_call(&s, 0, rows[k], &first[k], threads[k], r) &&
			     cf_check_values(&s, 0, &first[k], r);
		for (int c = LONG_KINDS; ok && c < LONG_CALLS; c++) {
			int k = c % LONG_KINDS;
			if (!(ok = cf_out_alloc(&out, &s, rows[k], r)))
				break;
			char what[64];
			snprintf(what, sizeof(what), "call %d of %d on one handle", c + 1,
			         LONG_CALLS);
			ok = cf_call(&s, 0, rows[k], &out, threads[k], r) &&
			     cf_check_same(&s, &first[k], &out, what, r);
			cf_out_free(&out);
		}
		for (int k = 0; k < LONG_KINDS; k++)
			cf_out_free(&first[k]);
		cf_setup_free(&s);
		if (!ok)
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "%d calls per precision: stable bits", LONG_CALLS);
}

/* ---- concurrent prepares ------------------------------------------------------------------ */

#define PREP_THREADS 6
#define PREP_ROUNDS 3

struct prep_worker {
	const struct qkv_backend *be;
	struct cf_shape sh;
	struct cf_opts o;
	uint64_t seed;
	atomic_int *ready;
	struct cf_report r;
};

static void *prep_work(void *arg)
{
	struct prep_worker *w = arg;
	atomic_fetch_add(w->ready, 1);
	while (atomic_load(w->ready) < PREP_THREADS + 1)
		; /* all prepare at once */
	struct cf_setup s;
	if (!cf_setup_init(&s, w->be, &w->sh, &w->o, w->seed, &w->r))
		return NULL;
	struct cf_out out;
	if (cf_out_alloc(&out, &s, w->sh.T, &w->r)) {
		if (cf_call(&s, 0, w->sh.T, &out, w->o.threads, &w->r) &&
		    cf_check_guards(&s, &out, &w->r))
			cf_check_values(&s, 0, &out, &w->r);
		cf_out_free(&out);
	}
	cf_setup_free(&s);
	return NULL;
}

/* Six threads prepare (different shapes and precisions), call, check and release at
 * the same moment, three times. Models are opened from many threads; a backend whose
 * first prepare sets up something global (a dispatch table, a lookup table) without
 * a lock serves the others half-made state. */
void cf_case_concurrent_prepare(const struct qkv_backend *be, int precision, uint64_t seed,
                                struct cf_report *r)
{
	(void)precision;
	int prec[QKV_PRECISION_COUNT];
	int n = declared(be, prec);
	struct cf_rng g = {seed};
	for (int round = 1; round <= PREP_ROUNDS; round++) {
		struct prep_worker w[PREP_THREADS];
		pthread_t tid[PREP_THREADS];
		atomic_int ready = 0;
		int started = 0;
		memset(w, 0, sizeof(w));
		for (int i = 0; i < PREP_THREADS; i++) {
			w[i].be = be;
			w[i].sh = (struct cf_shape){3 + (size_t)i, 48 + 16 * (uint32_t)(i % 3),
			                            2 + (uint32_t)(i % 2) * 2, 2,
			                            8 + 8 * (uint32_t)(i % 2)};
			w[i].o = (struct cf_opts){.precision = (uint32_t)prec[(i + round) % n],
			                          .layout = (uint32_t)((i + round) % 2),
			                          .threads = 1 + (uint32_t)(i % 2),
			                          .bias = true};
			w[i].seed = cf_rng_next(&g);
			w[i].ready = &ready;
			w[i].r.seed = r->seed;
		}
		cf_progress("round %d: %d threads prepare, call and release at once", round,
		            PREP_THREADS);
		for (int i = 0; i < PREP_THREADS; i++) {
			if (pthread_create(&tid[i], NULL, prep_work, &w[i]) != 0)
				break;
			started++;
		}
		while (atomic_load(&ready) < started)
			;
		atomic_fetch_add(&ready, 1 + PREP_THREADS - started);
		for (int i = 0; i < started; i++)
			pthread_join(tid[i], NULL);
		if (started < PREP_THREADS)
			return (void)cf_fail(r, "harness: pthread_create failed");
		for (int i = 0; i < PREP_THREADS; i++)
			if (w[i].r.result == CF_FAIL)
				return (void)cf_fail(
				    r, "round %d, thread %d of %d preparing at once: %s", round, i,
				    PREP_THREADS, w[i].r.msg);
	}
	snprintf(r->msg, sizeof(r->msg), "%d rounds of %d concurrent prepare/project/release",
	         PREP_ROUNDS, PREP_THREADS);
}

/* ---- a small caller stack ----------------------------------------------------------------- */

/* A runtime may call from a thread with a small stack (musl's default is 128 KiB):
 * project runs on a 256 KiB stack with K = 100,000 (int8: 66,000), where a row of K
 * floats on the stack (400 KB, 264 KB) overflows it. The in-tree backends pass it
 * under ASan too. */
#define SMALL_STACK (256 * 1024)

struct stack_call {
	struct cf_setup *s;
	struct cf_out *out;
	bool ok;
	struct cf_report r;
};

static void *stack_work(void *arg)
{
	struct stack_call *c = arg;
	c->ok = cf_call(c->s, 0, c->s->sh.T, c->out, 1, &c->r);
	return NULL;
}

void cf_case_small_stack(const struct qkv_backend *be, int precision, uint64_t seed,
                         struct cf_report *r)
{
	(void)precision;
	struct cf_shape sh = {2, 100000, 2, 1, 8};
	int prec[QKV_PRECISION_COUNT];
	int n = declared(be, prec);
	struct cf_rng g = {seed};
	for (int i = 0; i < n; i++) {
		struct cf_opts o = {.precision = (uint32_t)prec[i], .threads = 1, .bias = true};
		/* int8: a K every int8 backend takes (onednn's u8 path stops at 66,311) */
		sh.d_model = prec[i] == QKV_INT8 ? 66000 : 100000;
		struct cf_setup s;
		if (!cf_setup_init(&s, be, &sh, &o, cf_rng_next(&g), r))
			return;
		struct cf_out out;
		struct stack_call c = {.s = &s, .out = &out};
		bool ok = cf_out_alloc(&out, &s, sh.T, r);
		pthread_attr_t attr;
		pthread_t tid;
		bool started = false;
		if (ok && pthread_attr_init(&attr) == 0) {
			started = pthread_attr_setstacksize(&attr, SMALL_STACK) == 0 &&
			          pthread_create(&tid, &attr, stack_work, &c) == 0;
			pthread_attr_destroy(&attr);
		}
		if (ok && !started)
			ok = cf_fail(r, "harness: cannot start a thread with a %d KiB stack",
			             SMALL_STACK / 1024);
		else if (ok) {
			cf_progress("%s: project on a thread with a %d KiB stack", s.desc,
			            SMALL_STACK / 1024);
			pthread_join(tid, NULL);
			if (!c.ok)
				ok = cf_fail(r, "%s", c.r.msg);
			else
				ok =
				    cf_check_guards(&s, &out, r) && cf_check_values(&s, 0, &out, r);
		}
		cf_out_free(&out);
		cf_setup_free(&s);
		if (!ok)
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "project on a %d KiB stack, K = 100,000 (int8 66,000)",
	         SMALL_STACK / 1024);
}
