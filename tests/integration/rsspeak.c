/*
 * rsspeak.c: an LD_PRELOAD library for t16-fidelity.t, which builds it.
 *
 * In a process whose program is dmake-cc it appends, when the process
 * exits, one line to $DMAKE_TEST_RSS_LOG:
 *
 *     PID VMHWM_KB
 *
 * VmHWM is the process's own peak resident set (its children's are not
 * in it), read from /proc/self/status, written with one write(2) on an
 * O_APPEND descriptor so that shims running at once do not mix lines.
 * Every other program that inherits the library does nothing.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int is_shim;

__attribute__((constructor)) static void
rsspeak_init(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *base;

	if (n <= 0)
		return;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	is_shim = strcmp(base ? base + 1 : exe, "dmake-cc") == 0;
}

__attribute__((destructor)) static void
rsspeak_fini(void)
{
	const char *log = getenv("DMAKE_TEST_RSS_LOG");
	char status[8192], line[64];
	const char *hwm;
	ssize_t n;
	int fd;

	if (!is_shim || log == NULL)
		return;
	if ((fd = open("/proc/self/status", O_RDONLY)) < 0)
		return;
	n = read(fd, status, sizeof(status) - 1);
	close(fd);
	if (n <= 0)
		return;
	status[n] = '\0';
	if ((hwm = strstr(status, "VmHWM:")) == NULL)
		return;
	n = snprintf(line, sizeof(line), "%d %ld\n", (int)getpid(),
		     strtol(hwm + 6, NULL, 10));
	if ((fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644)) < 0)
		return;
	if (write(fd, line, (size_t)n) != n)
		n = 0;
	close(fd);
}
