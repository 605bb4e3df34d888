/* Preloaded into aarch64 test programs run under qemu-user (tools/check-aarch64.sh).
 *
 * Criterion runs each test in a child made by fork + execve("/proc/self/exe"), and some
 * tests run the tools through system() (/bin/sh -c). Under qemu-user an execve
 * reaches the host kernel, which cannot run an aarch64 program unless a binfmt_misc
 * handler is registered (a host-wide setting we do not touch), and the host's /bin/sh
 * could not start the aarch64 tools either. So:
 *   - an aarch64 program is run as `qemu-aarch64 PROGRAM ARGS`;
 *   - /bin/sh is run as Debian's arm64 dash (unpacked into QKV_AARCH64_ROOT by
 *     tools/install-deps.sh) under qemu, so the commands it starts come back here;
 *   - anything else (a host program) runs as it is.
 * glibc's own system() execs through an internal call no preload can catch, so system()
 * is redefined here (fork, this execve, wait; no signal juggling: tests only).
 * LD_PRELOAD is taken out of the host processes' environment (qemu puts it back into the
 * guest's through QEMU_SET_ENV, which every child inherits).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define QEMU_PATH "/usr/bin/qemu-aarch64"
#define QKV_AARCH64_ROOT "/opt/qkv-aarch64"
#define ARM_SH QKV_AARCH64_ROOT "/bin/dash"
#define MAX_ARGS 4096

static int is_aarch64_elf(const char *path)
{
	unsigned char h[20];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, h, sizeof(h));
	close(fd);
	return n == (ssize_t)sizeof(h) && !memcmp(h, "\177ELF", 4) && h[18] == 183; /* EM_AARCH64 */
}

int execve(const char *path, char *const argv[], char *const envp[])
{
	char real[PATH_MAX];
	if (!strcmp(path, "/proc/self/exe")) {
		ssize_t n = readlink(path, real, sizeof(real) - 1);
		if (n < 0)
			return -1;
		real[n] = '\0';
		path = real;
	}
	if (!strcmp(path, "/bin/sh") && is_aarch64_elf(ARM_SH))
		path = ARM_SH;
	static char *args[MAX_ARGS], *env[MAX_ARGS];
	size_t a = 0, e = 0;
	for (size_t i = 0; envp[i] && e < MAX_ARGS - 1; i++)
		if (strncmp(envp[i], "LD_PRELOAD=", 11))
			env[e++] = envp[i];
	env[e] = NULL;
	if (!is_aarch64_elf(path))
		return (int)syscall(SYS_execve, path, argv, env);
	args[a++] = (char *)QEMU_PATH;
	args[a++] = (char *)path;
	for (size_t i = 1; argv[i] && a < MAX_ARGS - 1; i++)
		args[a++] = argv[i];
	args[a] = NULL;
	return (int)syscall(SYS_execve, QEMU_PATH, args, env);
}

int system(const char *cmd)
{
	if (!cmd)
		return 1; /* a shell is available */
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char *const argv[] = {(char *)"sh", (char *)"-c", (char *)cmd, NULL};
		execve("/bin/sh", argv, environ);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}
