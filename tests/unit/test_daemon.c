/*
 * test_daemon.c: the node daemon's pure decisions: its command line, the
 * defaults that depend on who runs it, the address it advertises, the
 * load it reports, the environment its compilers get, and the table that
 * turns a finished compile into a JOB_RESULT.  The network half is in
 * tests/integration/t04-node.t.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "../../daemon/job.h"
#include "../../daemon/node.h"
#include "../../lib/err.h"
#include "../../lib/msgs.h"
#include "tap.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof(a[0])) - 1)

static int
parse(int argc, char **argv, struct node_opts *o, char *why)
{
	return node_opts_parse(argc, argv, o, why, 256);
}

TEST(daemon_opts_defaults)
{
	char *argv[] = {"dmaked", NULL};
	struct node_opts o;
	char why[256];

	ASSERT_EQ_INT(parse(ARGC(argv), argv, &o, why), NODE_OPTS_RUN);
	ASSERT_TRUE(o.scheduler == NULL);
	ASSERT_EQ_STR(o.listen, NODE_DEFAULT_LISTEN);
	ASSERT_TRUE(o.advertise == NULL);
	ASSERT_EQ_INT(o.slots, 0);
	ASSERT_TRUE(o.cache_dir == NULL && o.key_file == NULL);
	ASSERT_TRUE(o.name == NULL);
	ASSERT_EQ_INT(o.job_timeout_s, 300);
}

TEST(daemon_opts_every_option)
{
	char *argv[] = {"dmaked",	   "--scheduler", "10.0.0.1:7370",
			"--listen",	   "127.0.0.1:0", "--advertise",
			"build1.lan:7371", "--slots",	  "12",
			"--cache-dir",	   "/tmp/c",	  "--key-file",
			"/etc/dmake/key",  "--name",	  "n1",
			"--job-timeout=5", NULL};
	struct node_opts o;
	char why[256];

	ASSERT_EQ_INT(parse(ARGC(argv), argv, &o, why), NODE_OPTS_RUN);
	ASSERT_EQ_STR(o.scheduler, "10.0.0.1:7370");
	ASSERT_EQ_STR(o.listen, "127.0.0.1:0");
	ASSERT_EQ_STR(o.advertise, "build1.lan:7371");
	ASSERT_EQ_INT(o.slots, 12);
	ASSERT_EQ_STR(o.cache_dir, "/tmp/c");
	ASSERT_EQ_STR(o.key_file, "/etc/dmake/key");
	ASSERT_EQ_STR(o.name, "n1");
	ASSERT_EQ_INT(o.job_timeout_s, 5);
}

TEST(daemon_opts_help_and_version)
{
	char *h[] = {"dmaked", "--slots", "2", "--help", NULL};
	char *v[] = {"dmaked", "--version", NULL};
	struct node_opts o;
	char why[256];

	ASSERT_EQ_INT(parse(ARGC(h), h, &o, why), NODE_OPTS_HELP);
	ASSERT_EQ_INT(parse(ARGC(v), v, &o, why), NODE_OPTS_VERSION);
}

/* Each bad command line is refused with a sentence naming the culprit. */
TEST(daemon_opts_refusals)
{
	static const struct {
		const char *args[4];
		const char *names;
	} cases[] = {
		{{"--slots", "0"}, "--slots"},
		{{"--slots", "4097"}, "--slots"},
		{{"--slots", "3x"}, "--slots"},
		{{"--job-timeout", "0"}, "--job-timeout"},
		{{"--job-timeout", "-1"}, "--job-timeout"},
		{{"--listen", "nowhere"}, "--listen"},
		{{"--scheduler", "host:99999"}, "--scheduler"},
		{{"--advertise", ":7371"}, "--advertise"},
		{{"--name", ""}, "--name"},
		{{"--bogus"}, "--bogus"},
		{{"--slots"}, "--slots"},
		{{"stray"}, "stray"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[6] = {"dmaked"};
		struct node_opts o;
		char why[256];
		int argc = 1;

		for (int k = 0; k < 4 && cases[i].args[k] != NULL; k++)
			argv[argc++] = (char *)cases[i].args[k];
		argv[argc] = NULL;
		ASSERT_EQ_INT(parse(argc, argv, &o, why), DM_ECONFIG);
		if (strstr(why, cases[i].names) == NULL)
			tap_fail(__FILE__, __LINE__,
				 "case %zu: \"%s\" does not name %s", i, why,
				 cases[i].names);
	}
}

TEST(daemon_opts_name_limit)
{
	char name[NODE_NAME_MAX + 2];
	char *argv[] = {"dmaked", "--name", name, NULL};
	struct node_opts o;
	char why[256];

	memset(name, 'n', NODE_NAME_MAX);
	name[NODE_NAME_MAX] = '\0';
	ASSERT_EQ_INT(parse(ARGC(argv), argv, &o, why), NODE_OPTS_RUN);
	name[NODE_NAME_MAX] = 'n';
	name[NODE_NAME_MAX + 1] = '\0';
	ASSERT_EQ_INT(parse(ARGC(argv), argv, &o, why), DM_ECONFIG);
}

TEST(daemon_default_cache_dir)
{
	char out[64];

	ASSERT_OK(node_default_cache_dir(0, "/x", "/root", out, sizeof(out)));
	ASSERT_EQ_STR(out, "/var/cache/dmake");
	ASSERT_OK(node_default_cache_dir(1000, "/home/u/.c", "/home/u", out,
					 sizeof(out)));
	ASSERT_EQ_STR(out, "/home/u/.c/dmake");
	/* A relative XDG_CACHE_HOME is invalid by the spec: ignored. */
	ASSERT_OK(node_default_cache_dir(1000, "rel", "/home/u", out,
					 sizeof(out)));
	ASSERT_EQ_STR(out, "/home/u/.cache/dmake");
	ASSERT_OK(node_default_cache_dir(1000, NULL, "/home/u", out,
					 sizeof(out)));
	ASSERT_EQ_STR(out, "/home/u/.cache/dmake");
	ASSERT_EQ_INT(
		node_default_cache_dir(1000, NULL, NULL, out, sizeof(out)),
		DM_ECONFIG);
	ASSERT_EQ_INT(node_default_cache_dir(1000, NULL, "/home/u", out, 8),
		      -ENAMETOOLONG);
}

TEST(daemon_advertise)
{
	char out[128];

	/* A concrete listen address is what shims use. */
	ASSERT_OK(node_advertise("127.0.0.1:41000", "127.0.0.5:5555", out,
				 sizeof(out)));
	ASSERT_EQ_STR(out, "127.0.0.1:41000");
	ASSERT_OK(node_advertise("build1.lan:7371", NULL, out, sizeof(out)));
	ASSERT_EQ_STR(out, "build1.lan:7371");
	/* A wildcard takes the host the scheduler link leaves from. */
	ASSERT_OK(node_advertise("0.0.0.0:7371", "10.1.2.3:50000", out,
				 sizeof(out)));
	ASSERT_EQ_STR(out, "10.1.2.3:7371");
	ASSERT_OK(node_advertise("[::]:7371", "[fd00::7]:50000", out,
				 sizeof(out)));
	ASSERT_EQ_STR(out, "[fd00::7]:7371");
	ASSERT_OK(node_advertise("[::1]:7371", "[fd00::7]:50000", out,
				 sizeof(out)));
	ASSERT_EQ_STR(out, "[::1]:7371");
	/* No link yet: nothing better than the wildcard itself. */
	ASSERT_OK(node_advertise("0.0.0.0:7371", NULL, out, sizeof(out)));
	ASSERT_EQ_STR(out, "0.0.0.0:7371");
	ASSERT_EQ_INT(node_advertise("nonsense", NULL, out, sizeof(out)),
		      DM_EADDR);
	ASSERT_EQ_INT(node_advertise("10.0.0.1:7371", NULL, out, 6), DM_EADDR);
}

TEST(daemon_loadavg)
{
	uint32_t m = 7;

	ASSERT_OK(node_parse_loadavg("0.52 0.40 0.30 1/123 4567\n", &m));
	ASSERT_EQ_INT(m, 520);
	ASSERT_OK(node_parse_loadavg("12.34 1.00 1.00 2/300 1\n", &m));
	ASSERT_EQ_INT(m, 12340);
	ASSERT_OK(node_parse_loadavg("3.14159 ", &m));
	ASSERT_EQ_INT(m, 3141);
	ASSERT_OK(node_parse_loadavg("7", &m));
	ASSERT_EQ_INT(m, 7000);
	ASSERT_OK(node_parse_loadavg("0.00 0.00", &m));
	ASSERT_EQ_INT(m, 0);
	ASSERT_EQ_INT(node_parse_loadavg("", &m), DM_EPROTO);
	ASSERT_EQ_INT(node_parse_loadavg("x1.0", &m), DM_EPROTO);
	ASSERT_EQ_INT(node_parse_loadavg("1.0x", &m), DM_EPROTO);
	ASSERT_EQ_INT(node_parse_loadavg("99999999.0", &m), DM_EPROTO);
}

TEST(daemon_compiler_env_keeps_only_diagnostics_settings)
{
	char *env[] = {"PATH=/usr/bin",	      "CPATH=/evil",
		       "LANG=de_DE.UTF-8",    "LC_MESSAGES=C",
		       "GCC_EXEC_PREFIX=/x/", "DEPENDENCIES_OUTPUT=d",
		       "TMPDIR=/tmp",	      "PATHX=no",
		       "HOME=/root",	      NULL};
	char **out = node_compiler_env(env);
	size_t n = 0;

	ASSERT_TRUE(out != NULL);
	while (out[n] != NULL)
		n++;
	ASSERT_EQ_INT(n, 4);
	ASSERT_EQ_STR(out[0], "PATH=/usr/bin");
	ASSERT_EQ_STR(out[1], "LANG=de_DE.UTF-8");
	ASSERT_EQ_STR(out[2], "LC_MESSAGES=C");
	ASSERT_EQ_STR(out[3], "TMPDIR=/tmp");
}

TEST(daemon_job_hints)
{
	const char *ice = "x.c:1: internal compiler error: Segmentation fault";
	const char *full = "x.o: No space left on device\n";
	const char *clang = "clang: error: clang frontend command failed "
			    "due to signal (use -v to see invocation)";
	const char *plain = "x.c:1:1: error: expected ';' before '}'\n";

	ASSERT_EQ_INT(node_job_hints(ice, strlen(ice)), NODE_HINT_CRASH);
	ASSERT_EQ_INT(node_job_hints(full, strlen(full)), NODE_HINT_NOSPACE);
	ASSERT_EQ_INT(node_job_hints(clang, strlen(clang)), NODE_HINT_CRASH);
	ASSERT_EQ_INT(node_job_hints(plain, strlen(plain)), 0);
	ASSERT_EQ_INT(node_job_hints("", 0), 0);
}

/* The whole table of outcomes: what the shim must see for each. */
TEST(daemon_job_verdict)
{
	static const struct {
		int spawn_rc;
		struct dm_spawn_result r;
		int object, hints;
		uint32_t status, flags;
		const char *why; /* a word the explanation must hold */
	} cases[] = {
		{0, {.exit_code = 0}, 1, 0, 0, DM_JOB_RESULT_OBJECT, NULL},
		{0, {.exit_code = 1}, 0, 0, 1, 0, NULL},
		{0, {.exit_code = 1}, 1, 0, 1, 0, NULL},
		{0,
		 {.exit_code = 0},
		 0,
		 0,
		 255,
		 DM_JOB_RESULT_INFRA,
		 "no object"},
		{-ENOENT, {0}, 0, 0, 255, DM_JOB_RESULT_INFRA, "cannot run"},
		{0,
		 {.signal = SIGKILL, .timed_out = 1},
		 0,
		 0,
		 255,
		 DM_JOB_RESULT_INFRA,
		 "7 s"},
		{0,
		 {.signal = SIGSEGV},
		 0,
		 0,
		 255,
		 DM_JOB_RESULT_INFRA,
		 "signal 11"},
		{0,
		 {.signal = SIGXFSZ},
		 0,
		 0,
		 255,
		 DM_JOB_RESULT_INFRA,
		 "4 GiB"},
		{0,
		 {.exit_code = 1},
		 0,
		 NODE_HINT_NOSPACE,
		 255,
		 DM_JOB_RESULT_INFRA,
		 "disk"},
		{0,
		 {.exit_code = 4},
		 0,
		 NODE_HINT_CRASH,
		 255,
		 DM_JOB_RESULT_INFRA,
		 "crashed"},
		/* A compile error is the compiler's verdict, never retried. */
		{0, {.exit_code = 1}, 0, 0, 1, 0, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t status = 99, flags = 99;
		char why[256];

		node_job_verdict("/usr/bin/gcc", cases[i].spawn_rc,
				 &cases[i].r, cases[i].object, cases[i].hints,
				 7, &status, &flags, why, sizeof(why));
		if (status != cases[i].status || flags != cases[i].flags)
			tap_fail(__FILE__, __LINE__,
				 "case %zu: status %u flags %u, expected %u "
				 "%u (%s)",
				 i, status, flags, cases[i].status,
				 cases[i].flags, why);
		if (cases[i].why == NULL && why[0] != '\0')
			tap_fail(__FILE__, __LINE__,
				 "case %zu: unexpected explanation \"%s\"", i,
				 why);
		if (cases[i].why != NULL && strstr(why, cases[i].why) == NULL)
			tap_fail(__FILE__, __LINE__,
				 "case %zu: \"%s\" lacks \"%s\"", i, why,
				 cases[i].why);
	}
}
