/*
 * test_standin.c: dmaked's stand-in compiler (daemon/standin.h), a test
 * and benchmark feature: reading the durations, drawing from them, one
 * job's object and log lines, and the options that turn it on.  The
 * network half is tests/integration/t14-live.t.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../daemon/node.h"
#include "../../daemon/standin.h"
#include "../../lib/err.h"
#include "tap.h"

static const char *
write_file(const char *name, const char *text)
{
	static char path[4][512];
	static int k;
	char *p = path[k++ % 4];
	FILE *f;

	snprintf(p, sizeof(path[0]), "%s/%s", tap_tmpdir(), name);
	if ((f = fopen(p, "w")) == NULL)
		tap_fail(__FILE__, __LINE__, "cannot write %s", p);
	fputs(text, f);
	fclose(f);
	return p;
}

TEST(standin_load_reads_durations)
{
	const char *f = write_file("d.txt", "# comment\n\n100\n 200 \n300\r\n"
					    "# another\n400\n");
	struct node_standin *s;
	char why[256];

	ASSERT_OK(node_standin_load(f, NULL, &s, why, sizeof(why)));
	ASSERT_EQ_INT(node_standin_count(s), 4);
	ASSERT_EQ_INT((long long)node_standin_mean_ms(s), 250);
	node_standin_free(s);
}

TEST(standin_load_refuses_what_is_not_a_duration)
{
	static const char *const bad[] = {"100\nabc\n", "100\n-5\n",
					  "12ms\n",	"99999999999\n",
					  "# none\n",	""};
	struct node_standin *s;
	char why[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *f = write_file("bad.txt", bad[i]);

		ASSERT_EQ_INT(node_standin_load(f, NULL, &s, why, sizeof(why)),
			      DM_ECONFIG);
		ASSERT_TRUE(s == NULL);
		ASSERT_TRUE(strstr(why, "--standin") != NULL);
	}
	ASSERT_EQ_INT(node_standin_load("/nonexistent/d.txt", NULL, &s, why,
					sizeof(why)),
		      DM_ECONFIG);
	ASSERT_TRUE(strstr(why, "/nonexistent/d.txt") != NULL);
	ASSERT_EQ_INT(
		node_standin_load(write_file("line.txt", "1\n2\nthree\n"),
				  NULL, &s, why, sizeof(why)),
		DM_ECONFIG);
	ASSERT_TRUE(strstr(why, "line 3") != NULL);
}

/* Uniform over the sample: each of four values about a quarter of the
 * draws. */
TEST(standin_draws_follow_the_sample)
{
	const char *f = write_file("d.txt", "10\n20\n30\n40\n");
	struct node_standin *s;
	int seen[5] = {0};
	char why[256];

	ASSERT_OK(node_standin_load(f, NULL, &s, why, sizeof(why)));
	for (int i = 0; i < 20000; i++) {
		uint32_t v = node_standin_draw(s);

		ASSERT_TRUE(v == 10 || v == 20 || v == 30 || v == 40);
		seen[v / 10]++;
	}
	for (int k = 1; k <= 4; k++) {
		ASSERT_GE_INT(seen[k], 4500);
		ASSERT_GE_INT(5500, seen[k]);
	}
	node_standin_free(s);
}

TEST(standin_job_writes_an_object_and_logs)
{
	static const char elf_magic[4] = {0x7f, 'E', 'L', 'F'};
	const char *f = write_file("d.txt", "0\n");
	char log[512], obj[512], buf[4096];
	struct dm_spawn_result r;
	struct node_standin *s;
	char why[256];
	ssize_t n;
	int fd;

	if (access("/usr/bin/cc", X_OK) != 0)
		return; /* no compiler to make the empty object with */
	snprintf(log, sizeof(log), "%s/standin.log", tap_tmpdir());
	snprintf(obj, sizeof(obj), "%s/x.o", tap_tmpdir());
	ASSERT_OK(node_standin_load(f, log, &s, why, sizeof(why)));
	for (int i = 0; i < 2; i++) {
		unlink(obj);
		ASSERT_OK(node_standin_run(s, "/usr/bin/cc", tap_tmpdir(),
					   "n1", "/src", "x.c", obj, &r));
		ASSERT_EQ_INT(r.exit_code, 0);
		ASSERT_EQ_INT(r.wall_ms, 0);
		ASSERT_TRUE((fd = open(obj, O_RDONLY)) >= 0);
		n = read(fd, buf, sizeof(buf));
		close(fd);
		ASSERT_GE_INT(n, 64);
		ASSERT_TRUE(memcmp(buf, elf_magic, 4) == 0);
	}
	ASSERT_TRUE((fd = open(log, O_RDONLY)) >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ASSERT_GE_INT(n, 1);
	buf[n] = '\0';
	ASSERT_TRUE(strncmp(buf, "start ", 6) == 0);
	ASSERT_TRUE(strstr(buf, " n1 0 /src/x.c\nend ") != NULL);
	ASSERT_TRUE(strstr(buf + 1, "\nstart ") != NULL);
	node_standin_free(s);
}

TEST(standin_options)
{
	const char *f = write_file("d.txt", "5\n");
	char *with[] = {"dmaked",	 "--standin", (char *)f,
			"--standin-log", "/dev/null", NULL};
	char *log_only[] = {"dmaked", "--standin-log", "/dev/null", NULL};
	char *missing[] = {"dmaked", "--standin", "/nonexistent", NULL};
	struct node_opts o;
	char why[256];

	ASSERT_EQ_INT(node_opts_parse(5, with, &o, why, sizeof(why)),
		      NODE_OPTS_RUN);
	ASSERT_TRUE(o.standin != NULL);
	ASSERT_EQ_INT(node_standin_count(o.standin), 1);
	node_standin_free(o.standin);
	ASSERT_EQ_INT(node_opts_parse(3, log_only, &o, why, sizeof(why)),
		      DM_ECONFIG);
	ASSERT_TRUE(strstr(why, "--standin-log needs --standin") != NULL);
	ASSERT_EQ_INT(node_opts_parse(3, missing, &o, why, sizeof(why)),
		      DM_ECONFIG);
	ASSERT_TRUE(o.standin == NULL);
}
