/* Preloaded into aarch64 test programs run under qemu-user (tools/check-aarch64.sh).
 *
 * Criterion runs each test in a child made by fork + execve("/proc/self/exe"). Under
 * qemu-user that execve reaches the host kernel, which cannot run an aarch64 program
 * unless a binfmt_misc handler is registered (a host-wide setting we do not touch). So
 * an execve of an aarch64 program is turned into an execve of qemu-aarch64 running it,
 * with LD_PRELOAD taken out of the host process's environment (qemu puts it back into
 * the guest's through QEMU_SET_ENV, which the child inherits).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define QEMU_PATH "/usr/bin/qemu-aarch64"
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
	if (!is_aarch64_elf(path))
		return (int)syscall(SYS_execve, path, argv, envp);
	static char *args[MAX_ARGS], *env[MAX_ARGS];
	size_t a = 0, e = 0;
	args[a++] = (char *)QEMU_PATH;
	args[a++] = (char *)path;
	for (size_t i = 1; argv[i] && a < MAX_ARGS - 1; i++)
		args[a++] = argv[i];
	args[a] = NULL;
	for (size_t i = 0; envp[i] && e < MAX_ARGS - 1; i++)
		if (strncmp(envp[i], "LD_PRELOAD=", 11))
			env[e++] = envp[i];
	env[e] = NULL;
	return (int)syscall(SYS_execve, QEMU_PATH, args, env);
}
