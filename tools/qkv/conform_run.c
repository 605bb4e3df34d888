/* Run one conformance case in a child process with a timeout. */
#define _GNU_SOURCE /* MAP_ANONYMOUS, strsignal */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_stats.h"
#include "commands.h"
#include "conform_run.h"
#include <qkv/qkv.h>

#define PROGRESS_LEN 512

static void child(int fd, int out_fd, int err_fd, char *progress, const char *path,
                  const struct cf_case *c, uint64_t seed)
{
	setpgid(0, 0); /* the parent kills the whole group: threads' children too */
	/* whatever the plugin prints lands in these files: a plugin must not print */
	if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
		_exit(4);
	close(out_fd);
	close(err_fd);
	cf_progress_set(progress, PROGRESS_LEN);
	struct cf_report r;
	char err[512] = "";
	qkv_plugin_set *set = NULL;
	struct qkv_plugin_info pi = {.struct_size = sizeof(pi)};
	cf_progress("loading the plugin");
	if (qkv_plugins_load(path, &set, err, sizeof(err)) == QKV_OK &&
	    qkv_plugins_get(set, 0, &pi) == QKV_OK && !pi.backend)
		snprintf(err, sizeof(err), "%s", pi.detail);
	cf_case_run(c, pi.backend, err, seed, &r);
	fflush(NULL); /* a plugin's printf still in the stdio buffer is printing too */
	const char *p = (const char *)&r;
	size_t left = sizeof(r);
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3);
		p += n;
		left -= (size_t)n;
	}
	_exit(0); /* no atexit handlers or plugin destructors of the parent's state */
}

/* A failure the parent observed (no report from the child). */
__attribute__((format(printf, 3, 4))) static void made_up(struct conform_outcome *out,
                                                          uint64_t seed, const char *fmt, ...)
{
	memset(&out->r, 0, sizeof(out->r));
	out->r.result = CF_FAIL;
	out->r.seed = seed;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->r.msg, sizeof(out->r.msg), fmt, ap);
	va_end(ap);
}

/* Read the report until it is complete, EOF, or the deadline passes. Returns the
 * bytes read, or -1 on timeout. */
static long read_report(int fd, struct cf_report *r, double deadline)
{
	char *p = (char *)r;
	size_t got = 0;
	while (got < sizeof(*r)) {
		int ms = (int)((deadline - bench_now()) * 1000);
		if (ms <= 0)
			return -1;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = poll(&pfd, 1, ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return -1;
		ssize_t n = read(fd, p + got, sizeof(*r) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return (long)got;
}

/* What the child printed to one stream: its size, and the start (cleaned) in `text`. */
static long printed(FILE *f, char *text, size_t len)
{
	if (!f || fseek(f, 0, SEEK_END) != 0)
		return 0;
	long size = ftell(f);
	rewind(f);
	char raw[96];
	size_t n = fread(raw, 1, sizeof(raw) - 1, f);
	raw[n] = '\0';
	conform_text_clean(raw, text, len);
	return size;
}

/* The child's progress line ("" when it wrote none), cleaned for a message. */
static void progress_of(const char *shared, char *out, size_t len)
{
	char raw[PROGRESS_LEN];
	memcpy(raw, shared, sizeof(raw));
	raw[sizeof(raw) - 1] = '\0';
	conform_text_clean(raw, out, len);
}

void conform_run_case(const char *path, const struct cf_case *c, uint64_t seed, unsigned timeout_s,
                      struct conform_outcome *out)
{
	out->c = c;
	double t0 = bench_now();
	int fds[2];
	fflush(NULL); /* so buffered table lines are not written twice by the child */
	char *shared =
	    mmap(NULL, PROGRESS_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	FILE *cout = tmpfile(), *cerr = tmpfile();
	if (shared == MAP_FAILED || !cout || !cerr || pipe(fds) != 0) {
		made_up(out, seed, "harness: cannot set up the case process: %s", strerror(errno));
		if (shared != MAP_FAILED)
			munmap(shared, PROGRESS_LEN);
		if (cout)
			fclose(cout);
		if (cerr)
			fclose(cerr);
		return;
	}
	memset(shared, 0, PROGRESS_LEN);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		made_up(out, seed, "harness: fork failed: %s", strerror(errno));
	}
	if (pid == 0) {
		close(fds[0]);
		child(fds[1], fileno(cout), fileno(cerr), shared, path, c, seed);
	}
	if (pid > 0) {
		setpgid(pid, pid); /* also here: no race with the child's own call */
		close(fds[1]);
		struct cf_report r;
		long got = read_report(fds[0], &r, t0 + timeout_s);
		close(fds[0]);
		int status = 0;
		char where[300];
		progress_of(shared, where, sizeof(where));
		if (got < 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			made_up(out, seed, "timed out after %u s%s%s", timeout_s,
			        where[0] ? " during: " : "", where);
			out->timed_out = 1;
		} else {
			waitpid(pid, &status, 0);
			kill(-pid, SIGKILL); /* threads' children left behind, if any */
			if (WIFSIGNALED(status))
				made_up(out, seed, "crashed (signal %d: %s)%s%s%s",
				        WTERMSIG(status), strsignal(WTERMSIG(status)),
				        strstr(c->name, "_x_bounds")
				            ? ": a read outside X hit a guard page"
				            : "",
				        where[0] ? " during: " : "", where);
			else if (got != (long)sizeof(r))
				made_up(
				    out, seed,
				    "the case process exited with status %d without a report%s%s",
				    WIFEXITED(status) ? WEXITSTATUS(status) : -1,
				    where[0] ? " during: " : "", where);
			else if ((unsigned)r.result > CF_SKIP)
				made_up(out, seed,
				        "harness: the case process sent an invalid result code %u",
				        (unsigned)r.result);
			else
				out->r = r;
		}
		char text[200];
		long n_out = printed(cout, text, sizeof(text));
		const char *stream = "stdout";
		if (n_out == 0) {
			n_out = printed(cerr, text, sizeof(text));
			stream = "stderr";
		}
		if (n_out > 0 && out->r.result != CF_FAIL)
			made_up(out, seed,
			        "the plugin printed %ld byte%s to %s (a backend must never print): "
			        "\"%s\"",
			        n_out, n_out == 1 ? "" : "s", stream, text);
	}
	munmap(shared, PROGRESS_LEN);
	fclose(cout);
	fclose(cerr);
	out->r.msg[sizeof(out->r.msg) - 1] = '\0';
	out->seconds = bench_now() - t0;
}
