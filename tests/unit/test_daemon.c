/*
 * test_daemon.c: the node daemon's pure decisions: its command line, the
 * defaults that depend on who runs it, the address it advertises, the
 * load it reports, the environment its compilers get, and the table that
 * turns a finished compile into a JOB_RESULT; and, as root, one program
 * run in the sandbox.  The network half is in
 * tests/integration/t04-node.t and t05-sandbox.t.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../daemon/job.h"
#include "../../daemon/node.h"
#include "../../daemon/sandbox.h"
#include "../../lib/buf.h"
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
	ASSERT_TRUE(o.user == NULL);
	ASSERT_TRUE(o.job_mem == 4ull << 30 && o.job_fsize == 4ull << 30);
	ASSERT_EQ_INT(o.job_cpu_s, 300);
	ASSERT_EQ_INT(o.job_procs, 64);
	ASSERT_EQ_INT(o.no_sandbox, 0);
}

TEST(daemon_opts_every_option)
{
	char *argv[] = {"dmaked",
			"--scheduler",
			"10.0.0.1:7370",
			"--listen",
			"127.0.0.1:0",
			"--advertise",
			"build1.lan:7371",
			"--slots",
			"12",
			"--cache-dir",
			"/tmp/c",
			"--key-file",
			"/etc/dmake/key",
			"--name",
			"n1",
			"--job-timeout=5",
			"--user",
			"dmake",
			"--job-mem",
			"512M",
			"--job-cpu",
			"60",
			"--job-fsize",
			"1g",
			"--job-procs",
			"16",
			"--no-sandbox",
			NULL};
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
	ASSERT_EQ_STR(o.user, "dmake");
	ASSERT_TRUE(o.job_mem == 512ull << 20);
	ASSERT_EQ_INT(o.job_cpu_s, 60);
	ASSERT_TRUE(o.job_fsize == 1ull << 30);
	ASSERT_EQ_INT(o.job_procs, 16);
	ASSERT_EQ_INT(o.no_sandbox, 1);
}

TEST(daemon_parse_size)
{
	uint64_t v = 7;

	ASSERT_OK(node_parse_size("4G", &v));
	ASSERT_TRUE(v == 4ull << 30);
	ASSERT_OK(node_parse_size("512m", &v));
	ASSERT_TRUE(v == 512ull << 20);
	ASSERT_OK(node_parse_size("64K", &v));
	ASSERT_EQ_INT(v, 65536);
	ASSERT_OK(node_parse_size("1T", &v));
	ASSERT_TRUE(v == 1ull << 40);
	ASSERT_OK(node_parse_size("1000", &v));
	ASSERT_EQ_INT(v, 1000);
	ASSERT_EQ_INT(node_parse_size("", &v), DM_ECONFIG);
	ASSERT_EQ_INT(node_parse_size("G", &v), DM_ECONFIG);
	ASSERT_EQ_INT(node_parse_size("-1G", &v), DM_ECONFIG);
	ASSERT_EQ_INT(node_parse_size("4GB", &v), DM_ECONFIG);
	ASSERT_EQ_INT(node_parse_size("4X", &v), DM_ECONFIG);
	ASSERT_EQ_INT(node_parse_size("99999999999T", &v), DM_ECONFIG);
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
		{{"--job-mem", "0"}, "--job-mem"},
		{{"--job-mem", "12X"}, "--job-mem"},
		{{"--job-fsize", "1000"}, "--job-fsize"},
		{{"--job-cpu", "0"}, "--job-cpu"},
		{{"--job-procs", "2"}, "--job-procs"},
		{{"--user", ""}, "--user"},
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
	ASSERT_EQ_INT(node_job_hints(plain, strlen(plain)),
		      NODE_HINT_DIAGNOSED);
	ASSERT_EQ_INT(node_job_hints("", 0), 0);
}

/* A failure is the code's only when the compiler located an error in
 * it; everything else is the node's. */
TEST(daemon_job_hints_diagnosed)
{
	static const struct {
		const char *text;
		int hints;
	} cases[] = {
		{"a.c: In function 'f':\na.c:1:22: error: 'x' undeclared\n",
		 NODE_HINT_DIAGNOSED},
		{"../src/a b.c:7: error: no column\n", NODE_HINT_DIAGNOSED},
		{"/usr/include/x.h:3:1: fatal error: y.h: No such file\n",
		 NODE_HINT_DIAGNOSED},
		{"a.c:3:5: sorry, unimplemented: nested thing\n",
		 NODE_HINT_DIAGNOSED},
		/* -fdiagnostics-color=always and -fdiagnostics-urls */
		{"\033[01m\033[Ka.c:1:22:\033[m\033[K \033[01;31m\033[Kerror: "
		 "\033[m\033[K\033]8;;https://gcc.gnu.org/x\033\\oops"
		 "\033]8;;\033\\\n",
		 NODE_HINT_DIAGNOSED},
		/* clang */
		{"a.c:1:22: error: use of undeclared identifier 'x'\n1 error "
		 "generated.\n",
		 NODE_HINT_DIAGNOSED},
		/* not about the code */
		{"gcc: error: unrecognized command-line option '-fx'\n", 0},
		{"cc1: error: cannot open /tmp/ccX.s\n", 0},
		{"<command-line>: error: bad\n", 0},
		{"a.c:1:1: warning: unused\nt05: cannot read /etc/shadow\n",
		 0},
		{"cc1: out of memory allocating 65536 bytes after a total of "
		 "1 bytes\n",
		 NODE_HINT_NOMEM},
		{"virtual memory exhausted: Cannot allocate memory\n",
		 NODE_HINT_NOMEM},
		{"Out of memory!\n", NODE_HINT_NOMEM},
		{"sh: 1: Cannot fork\nfork: Resource temporarily unavailable\n",
		 NODE_HINT_NOPROC},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int h = node_job_hints(cases[i].text, strlen(cases[i].text));

		if (h != cases[i].hints)
			tap_fail(__FILE__, __LINE__,
				 "case %zu: hints %d, expected %d", i, h,
				 cases[i].hints);
	}
}

TEST(daemon_job_last_line)
{
	const char *t = "first\n\033[01mlast\033[m line\t\n\n  \n";
	char out[64], small[5];

	node_job_last_line(t, strlen(t), out, sizeof(out));
	ASSERT_EQ_STR(out, "last line");
	node_job_last_line(t, strlen(t), small, sizeof(small));
	ASSERT_EQ_STR(small, "last");
	node_job_last_line("\n\n", 2, out, sizeof(out));
	ASSERT_EQ_STR(out, "");
	node_job_last_line("one", 3, out, sizeof(out));
	ASSERT_EQ_STR(out, "one");
}

/* The whole table of outcomes: what the shim must see for each. */
TEST(daemon_job_verdict)
{
	const int D = NODE_HINT_DIAGNOSED;
	static const struct node_job_limits lim = {
		.timeout_s = 7,
		.cpu_s = 9,
		.mem = 512ull << 20,
		.fsize = 64ull << 20,
		.procs = 32,
	};
	const struct {
		int spawn_rc;
		struct dm_spawn_result r;
		int object, hints;
		uint32_t status, flags;
		const char *why; /* a word the explanation must hold */
	} cases[] = {
		{0, {.exit_code = 0}, 1, 0, 0, DM_JOB_RESULT_OBJECT, NULL},
		{0, {.exit_code = 1}, 0, D, 1, 0, NULL},
		{0, {.exit_code = 1}, 1, D, 1, 0, NULL},
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
		 "7 s (dmaked --job-timeout)"},
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
		 "64 MiB (dmaked --job-fsize)"},
		{0,
		 {.signal = SIGXCPU},
		 0,
		 0,
		 255,
		 DM_JOB_RESULT_INFRA,
		 "9 s (dmaked --job-cpu)"},
		{0,
		 {.exit_code = 1},
		 0,
		 NODE_HINT_NOSPACE | D,
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
		{0,
		 {.exit_code = 1},
		 0,
		 NODE_HINT_NOMEM,
		 255,
		 DM_JOB_RESULT_INFRA,
		 "512 MiB per process (dmaked --job-mem): the tail"},
		{0,
		 {.exit_code = 1},
		 0,
		 NODE_HINT_NOPROC,
		 255,
		 DM_JOB_RESULT_INFRA,
		 "32 per job (dmaked --job-procs)"},
		/* A failure with no located error: anything the sandbox
		 * refused looks like this.  Compiled again elsewhere. */
		{0,
		 {.exit_code = 1},
		 0,
		 0,
		 255,
		 DM_JOB_RESULT_INFRA,
		 "exited 1 without reporting an error in the code: the tail"},
		/* A compile error is the compiler's verdict, never retried. */
		{0, {.exit_code = 1}, 0, D, 1, 0, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t status = 99, flags = 99;
		char why[256];

		node_job_verdict("/usr/bin/gcc", cases[i].spawn_rc,
				 &cases[i].r, cases[i].object, cases[i].hints,
				 "the tail", &lim, &status, &flags, why,
				 sizeof(why));
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

TEST(daemon_sandbox_dirs)
{
	char *l[4] = {0};
	size_t n = 0;

	ASSERT_TRUE(node_sandbox_path_under("/usr/lib", "/usr"));
	ASSERT_TRUE(node_sandbox_path_under("/usr", "/usr"));
	ASSERT_TRUE(!node_sandbox_path_under("/usrx/lib", "/usr"));
	ASSERT_TRUE(node_sandbox_path_under("/anything", "/"));
	ASSERT_EQ_INT(node_sandbox_add_dir(l, &n, 4, "/opt/gcc/bin"), 1);
	ASSERT_EQ_INT(node_sandbox_add_dir(l, &n, 4, "/opt/gcc/libexec"), 1);
	ASSERT_EQ_INT(node_sandbox_add_dir(l, &n, 4, "/opt/gcc/bin"), 0);
	/* A parent replaces what it covers. */
	ASSERT_EQ_INT(node_sandbox_add_dir(l, &n, 4, "/opt/gcc"), 1);
	ASSERT_EQ_INT(n, 1);
	ASSERT_EQ_STR(l[0], "/opt/gcc");
	ASSERT_EQ_INT(node_sandbox_add_dir(l, &n, 4, "/opt/gcc/lib"), 0);
	ASSERT_EQ_INT(node_sandbox_add_dir(l, &n, 4, "/a"), 1);
	ASSERT_EQ_INT(node_sandbox_add_dir(l, &n, 4, "/b"), 1);
	ASSERT_EQ_INT(node_sandbox_add_dir(l, &n, 4, "/c"), 1);
	ASSERT_EQ_INT(node_sandbox_add_dir(l, &n, 4, "/d"), -ENOSPC);
	for (size_t i = 0; i < n; i++)
		free(l[i]);
}

/* One program in the box, as root (CI): its ids, its pid, what it sees
 * and what it may write.  Anywhere else there is nothing to check. */
TEST(daemon_sandbox_runs_a_program)
{
	const char *script =
		"id -u; echo $$; cat in.txt; "
		"for p in /etc/shadow /root /home /var " /* absent */
		"  /proc/1/mem; do test -r $p && echo \"sees $p\"; done; "
		"test -d /usr/bin && test -c /dev/null && echo toolchain; "
		"touch /usr/x 2>/dev/null && echo \"writes /usr\"; "
		"unshare -U true 2>/dev/null && echo nests; "
		"echo made >out.txt; echo tmp >/tmp/t && echo tmp-ok";
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	char root[256], jobs[256], job[300], path[400], why[256], ns_why[256];
	const char *ns;
	struct node_sandbox_conf c = {0};
	struct node_sandbox *sb = NULL;
	struct node_sandbox_job sj;
	struct dm_spawn_opts o = {0};
	struct dm_spawn_result r;
	struct dm_buf out;
	struct stat st;
	int fd;

	if (geteuid() != 0 ||
	    node_sandbox_kernel_check(CLONE_NEWUSER | CLONE_NEWNS |
					      CLONE_NEWPID | CLONE_NEWIPC |
					      CLONE_NEWNET,
				      ns_why, sizeof(ns_why), &ns) != 0)
		return;
	snprintf(root, sizeof(root), "%s/root", tap_tmpdir());
	snprintf(jobs, sizeof(jobs), "%s/jobs", tap_tmpdir());
	snprintf(job, sizeof(job), "%s/job-1", jobs);
	ASSERT_OK(mkdir(root, 0700));
	ASSERT_OK(mkdir(jobs, 0700));
	ASSERT_OK(mkdir(job, 0700));
	snprintf(path, sizeof(path), "%s/in.txt", job);
	ASSERT_TRUE((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	ASSERT_EQ_INT(write(fd, "input\n", 6), 6);
	close(fd);
	c.root_dir = root;
	c.jobs_dir = jobs;
	c.uid = 65534;
	c.gid = 65534;
	c.userns = 1;
	c.tmp_bytes = 1 << 20;
	ASSERT_OK(node_sandbox_new(&c, &sb, why, sizeof(why)));
	ASSERT_OK(node_sandbox_give(sb, job));
	sj.sb = sb;
	sj.jobdir = job;
	o.argv = argv;
	o.cwd = job;
	o.stdin_fd = o.stdout_fd = o.stderr_fd = -1;
	o.timeout_ms = 20000;
	o.limit_nproc = 16;
	node_sandbox_apply(&sj, &o);
	dm_buf_init(&out);
	ASSERT_OK(dm_spawn_run_capture(&o, &r, &out, NULL));
	ASSERT_EQ_INT(r.exit_code, 0);
	ASSERT_EQ_STR(dm_buf_cstr(&out),
		      "65534\n2\ninput\ntoolchain\ntmp-ok\n");
	snprintf(path, sizeof(path), "%s/out.txt", job);
	ASSERT_OK(stat(path, &st));
	ASSERT_EQ_INT(st.st_uid, 65534);

	/* A step that fails is named. */
	rmdir(root);
	dm_buf_reset(&out);
	ASSERT_EQ_INT(dm_spawn_run_capture(&o, &r, &out, NULL), -ENOENT);
	node_sandbox_step_text(sb, r.setup_step, why, sizeof(why));
	ASSERT_EQ_STR(why, "mount the sandbox's tmpfs root");
	dm_buf_free(&out);
	node_sandbox_free(sb);
}
