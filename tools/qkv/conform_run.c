/* Run one conformance case in a child process with a timeout. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "conform_run.h"
#include "registry.h"

static void child(int fd, const char *path, const struct cf_case *c, uint64_t seed)
{
	struct cf_report r;
	char err[512] = "";
	struct qkv_plugin *pl = NULL;
	qkv_plugin_load_file(path, &pl, err, sizeof(err));
	cf_case_run(c, pl ? pl->be : NULL, err, seed, &r);
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
		int ms = (int)((deadline - qkv_cli_now()) * 1000);
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

void conform_run_case(const char *path, const struct cf_case *c, uint64_t seed, unsigned timeout_s,
                      struct conform_outcome *out)
{
	out->c = c;
	double t0 = qkv_cli_now();
	int fds[2];
	fflush(NULL); /* so buffered table lines are not written twice by the child */
	if (pipe(fds) != 0) {
		made_up(out, seed, "harness: pipe failed: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		made_up(out, seed, "harness: fork failed: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		child(fds[1], path, c, seed);
	}
	close(fds[1]);
	struct cf_report r;
	long got = read_report(fds[0], &r, t0 + timeout_s);
	close(fds[0]);
	int status = 0;
	if (got < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		made_up(out, seed, "timed out after %u s", timeout_s);
	} else {
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status))
			made_up(out, seed, "crashed (signal %d: %s)%s", WTERMSIG(status),
			        strsignal(WTERMSIG(status)),
			        strstr(c->name, "_x_bounds") ? ": a read outside X hit a guard page"
			                                     : "");
		else if (got != (long)sizeof(r))
			made_up(out, seed,
			        "the case process exited with status %d without a report",
			        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		else
			out->r = r;
	}
	out->r.msg[sizeof(out->r.msg) - 1] = '\0';
	out->seconds = qkv_cli_now() - t0;
}
