/*
 * runner.c: the one unit-test runner (see tap.h).  Each test runs in a
 * forked child with its own scratch directory and an alarm; the parent
 * reports "ok N name" or "not ok N name # why" in TAP.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/err.h"
#include "tap.h"

struct tap_test {
	const char *name;
	const char *file;
	tap_fn fn;
	int timeout_s;
};

static struct tap_test tests[512];
static int ntests;
static char tmpdir[256];

void
tap_register(const char *name, const char *file, tap_fn fn, int timeout_s)
{
	if (ntests == (int)(sizeof(tests) / sizeof(tests[0]))) {
		fprintf(stderr, "runner: too many tests\n");
		exit(2);
	}
	tests[ntests++] = (struct tap_test){name, file, fn, timeout_s};
}

const char *
tap_tmpdir(void)
{
	return tmpdir;
}

const char *
tap_strerror(int rc)
{
	return dm_strerror(rc);
}

void
tap_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "# %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fprintf(stdout, "\n");
	fflush(stdout);
	_exit(1);
}

static int
selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]) != NULL)
			return 1;
	return 0;
}

static int
run_one(const struct tap_test *t)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int status;
	pid_t pid;

	snprintf(tmpdir, sizeof(tmpdir), "%s/dmake-unit-XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL) {
		printf("# mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		setpgid(0, 0);
		alarm(t->timeout_s);
		t->fn();
		fflush(stdout);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	kill(-pid, SIGKILL); /* anything the test left running */
	if (WIFSIGNALED(status)) {
		printf("# killed by signal %d%s\n", WTERMSIG(status),
		       WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
		return 1;
	}
	if (WEXITSTATUS(status) == 0) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		(void)!system(cmd);
		return 0;
	}
	printf("# scratch directory kept: %s\n", tmpdir);
	return 1;
}

int
main(int argc, char **argv)
{
	int n = 0, failed = 0;

	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < ntests; i++)
		n += selected(tests[i].name, argc, argv);
	printf("1..%d\n", n);
	n = 0;
	for (int i = 0; i < ntests; i++) {
		if (!selected(tests[i].name, argc, argv))
			continue;
		n++;
		if (run_one(&tests[i]) != 0) {
			failed++;
			printf("not ok %d - %s\n", n, tests[i].name);
		} else {
			printf("ok %d - %s\n", n, tests[i].name);
		}
		fflush(stdout);
	}
	return failed ? 1 : 0;
}
