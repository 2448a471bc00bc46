/*
 * test_extras.c: the node's side of a job's extras (daemon/extras.h):
 * which client variables it takes, the environment it builds from them,
 * and the terminal it gives a compiler, raw and of the client's size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../daemon/extras.h"
#include "../../lib/msgs.h"
#include "../../lib/spawn.h"
#include "tap.h"

TEST(extras_env_allow_list)
{
	static const struct {
		const char *entry;
		int allowed;
	} rows[] = {
		{"LANG=C.UTF-8", 1},
		{"LANGUAGE=de:en", 1},
		{"LC_ALL=C", 1},
		{"LC_MESSAGES=fr_FR.UTF-8", 1},
		{"LC_IDENTIFICATION=C", 1},
		{"TERM=xterm-256color", 1},
		{"COLORTERM=truecolor", 1},
		{"COLUMNS=80", 1},
		{"GCC_COLORS=error=01;31", 1},
		{"GCC_URLS=bel", 1},
		{"TERM_URLS=st", 1},
		{"GCC_EXTRA_DIAGNOSTIC_OUTPUT=fixits-v2", 1},
		{"SOURCE_DATE_EPOCH=1700000000", 1},
		{"PATH=/evil", 0},
		{"LD_PRELOAD=/evil.so", 0},
		{"GCC_EXEC_PREFIX=/evil/", 0},
		{"COMPILER_PATH=/evil", 0},
		{"LC_=x", 0},
		{"LC_all=x", 0},
		{"LC_ALL", 0},
		{"LANGX=1", 0},
		{"=LANG", 0},
		{"TMPDIR=/tmp", 0},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (node_extras_env_allowed(rows[i].entry) != rows[i].allowed)
			tap_fail(__FILE__, __LINE__, "%s: expected %d",
				 rows[i].entry, rows[i].allowed);
}

TEST(extras_env_replaces_the_node_locale)
{
	char *base[] = {"PATH=/usr/bin", "LANG=C", "LC_ALL=POSIX",
			"TMPDIR=/tmp", NULL};
	char *client[] = {"LANG=C.UTF-8", "TERM=xterm", NULL};
	struct node_extras x;
	char **env;

	node_extras_init(&x);
	/* no JOB_ENV: the node's own */
	env = node_extras_env(&x, base);
	ASSERT_TRUE(env != NULL);
	for (size_t i = 0; i < 4; i++)
		ASSERT_EQ_STR(env[i], base[i]);
	ASSERT_TRUE(env[4] == NULL);
	free(env);
	/* a client with its locale: the node's LANG and LC_ALL go */
	x.env = client;
	x.n_env = 2;
	x.have_env = 1;
	env = node_extras_env(&x, base);
	ASSERT_EQ_STR(env[0], "PATH=/usr/bin");
	ASSERT_EQ_STR(env[1], "TMPDIR=/tmp");
	ASSERT_EQ_STR(env[2], "LANG=C.UTF-8");
	ASSERT_EQ_STR(env[3], "TERM=xterm");
	ASSERT_TRUE(env[4] == NULL);
	free(env);
	/* a client with none: the compiler runs with none */
	x.n_env = 0;
	env = node_extras_env(&x, base);
	ASSERT_EQ_STR(env[0], "PATH=/usr/bin");
	ASSERT_EQ_STR(env[1], "TMPDIR=/tmp");
	ASSERT_TRUE(env[2] == NULL);
	free(env);
}

/* A compiler on the terminal sees one (isatty, its size) and every byte
 * it writes reaches the output file unchanged (no \r added). */
TEST(extras_terminal_is_raw_and_sized)
{
	const char *argv[] = {
		"/bin/sh", "-c",
		"[ -t 2 ] && [ -t 0 ] && [ ! -t 1 ] && stty size >&2 && "
		"printf 'line1\\nline2\\033[01m\\n' >&2",
		NULL};
	struct dm_spawn_opts o = {0};
	struct dm_spawn_result r = {0};
	struct node_extras x;
	struct node_tty *t = NULL;
	char path[1024], buf[256];
	ssize_t n;
	int out;

	snprintf(path, sizeof(path), "%s/out", tap_tmpdir());
	out = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_TRUE(out >= 0);
	node_extras_init(&x);
	x.tty = DM_JOB_TTY_STDIN | DM_JOB_TTY_STDERR;
	x.cols = 50;
	x.rows = 20;
	o.argv = argv;
	o.stdin_fd = -1;
	o.stdout_fd = out;
	o.stderr_fd = out;
	ASSERT_OK(node_extras_tty_begin(&x, out, 0, &t, &o.stdin_fd,
					&o.stderr_fd));
	ASSERT_TRUE(t != NULL);
	ASSERT_TRUE(o.stdin_fd != -1 && o.stderr_fd != out);
	ASSERT_OK(dm_spawn_run(&o, &r));
	node_extras_tty_end(t);
	ASSERT_EQ_INT(r.exit_code, 0);
	n = pread(out, buf, sizeof(buf) - 1, 0);
	ASSERT_TRUE(n > 0);
	buf[n] = '\0';
	ASSERT_EQ_STR(buf, "20 50\nline1\nline2\033[01m\n");
	close(out);

	/* no terminal on the client: nothing is made */
	x.tty = 0;
	o.stdin_fd = -1;
	o.stderr_fd = 5;
	ASSERT_OK(node_extras_tty_begin(&x, 1, 0, &t, &o.stdin_fd,
					&o.stderr_fd));
	ASSERT_TRUE(t == NULL && o.stdin_fd == -1 && o.stderr_fd == 5);
	node_extras_tty_end(NULL);
}

/* The terminal's output stops at the limit; the compiler never blocks. */
TEST(extras_terminal_limit)
{
	const char *argv[] = {"/bin/sh", "-c",
			      "head -c 300000 /dev/zero >&2; echo done", NULL};
	struct dm_spawn_opts o = {0};
	struct dm_spawn_result r = {0};
	struct node_extras x;
	struct node_tty *t = NULL;
	char path[1024];
	int out;

	snprintf(path, sizeof(path), "%s/out", tap_tmpdir());
	out = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_TRUE(out >= 0);
	node_extras_init(&x);
	x.tty = DM_JOB_TTY_STDERR;
	o.argv = argv;
	o.stdin_fd = -1;
	o.stdout_fd = out;
	o.stderr_fd = out;
	ASSERT_OK(node_extras_tty_begin(&x, out, 1000, &t, &o.stdin_fd,
					&o.stderr_fd));
	ASSERT_TRUE(o.stdin_fd == -1);
	ASSERT_OK(dm_spawn_run(&o, &r));
	node_extras_tty_end(t);
	ASSERT_EQ_INT(r.exit_code, 0);
	/* 1000 bytes of the terminal's and stdout's "done\n", which the
	 * compiler writes to the file itself (the order between the two is
	 * not kept: compilers write nothing to stdout under -c) */
	ASSERT_EQ_INT(lseek(out, 0, SEEK_END), 1005);
	close(out);
}
