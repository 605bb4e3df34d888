/* The process around a backend: the caller's OpenMP settings, signal handlers and mask,
 * affinity, locale, working directory, environment, limits, standard descriptors and
 * rand() sequence are left as found, and nothing is printed. */
#define _GNU_SOURCE /* pthread_getaffinity_np, pthread_getname_np, dladdr */
#include <dlfcn.h>
#include <fcntl.h>
#include <locale.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <qkv/precision.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

extern char **environ;

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
		cf_refuse_unknown(be, &sub);
		ok = state_kept(be, &s0, "a refused prepare", r);
	}
	int prec[QKV_PRECISION_COUNT];
	int n = cf_declared(be, prec);
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

/* Every entry point on the good and the error paths, with fds 1 and 2 sent to a
 * temporary file: a backend never prints. */
void cf_case_no_output(const struct qkv_backend *be, int precision, uint64_t seed,
                       struct cf_report *r)
{
	(void)precision;
	fflush(NULL);
	FILE *tmp = tmpfile();
	int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
	if (!tmp || saved_out < 0 || saved_err < 0 || dup2(fileno(tmp), STDOUT_FILENO) < 0 ||
	    dup2(fileno(tmp), STDERR_FILENO) < 0) {
		if (tmp)
			fclose(tmp);
		return (void)cf_fail(r, "harness: cannot redirect stdout/stderr");
	}
	struct qkv_probe_result pr = {.struct_size = sizeof(pr)};
	be->probe(&pr);
	struct cf_report sub;
	memset(&sub, 0, sizeof(sub));
	cf_refuse_unknown(be, &sub);
	struct cf_rng g = {seed};
	static const struct cf_shape sh[] = {{0, 8, 1, 1, 4}, {5, 24, 2, 1, 8}, {70, 64, 2, 2, 8}};
	for (int p = 0; p < QKV_PRECISION_COUNT; p++) {
		if (!(be->precisions & QKV_PRECISION_BIT(p)))
			continue;
		for (size_t i = 0; i < sizeof(sh) / sizeof(sh[0]); i++) {
			struct cf_opts o = {.precision = (uint32_t)p,
			                    .threads = 1 + (uint32_t)i,
			                    .bias = true,
			                    .fill = i == 2 ? CF_FILL_SPECIAL : CF_FILL_RANDOM};
			cf_check_problem(be, &sh[i], &o, cf_rng_next(&g), &sub);
		}
	}
	fflush(NULL);
	long size = -1;
	if (fseek(tmp, 0, SEEK_END) == 0)
		size = ftell(tmp);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	char text[81] = "";
	if (size > 0) {
		rewind(tmp);
		size_t n = fread(text, 1, sizeof(text) - 1, tmp);
		text[n] = '\0';
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] >= 0x7f)
				text[i] = ' ';
	}
	fclose(tmp);
	if (size != 0)
		return (void)cf_fail(r,
		                     "the plugin printed %ld bytes to stdout/stderr (a backend "
		                     "never prints): \"%s\"",
		                     size, text);
	snprintf(r->msg, sizeof(r->msg),
	         "probe, refusals, prepare, project, release: nothing printed");
}
