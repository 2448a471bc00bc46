/*
 * main.c: dmake-sched, the scheduler of a dmake cluster.
 *
 * Reads the command line (DESIGN.md, "Command-line contract"), loads the
 * cluster key, opens the history database and runs the server on one
 * libuv loop until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "../lib/auth.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "db.h"
#include "server.h"

#ifndef DM_VERSION
#define DM_VERSION "0.1.0"
#endif
#ifndef DM_LOCALSTATEDIR
#define DM_LOCALSTATEDIR "/var"
#endif

#define DEFAULT_LISTEN "0.0.0.0:7370"

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: dmake-sched [OPTION]...\n"
		"The scheduler of a dmake compile farm: knows every node, places every\n"
		"job, shares the free slots between the builds.\n"
		"\n"
		"  --listen ADDR:PORT  where nodes, builds and `dmake status` connect\n"
		"                      [" DEFAULT_LISTEN "]\n"
		"  --db FILE           node history (sqlite3) [$XDG_STATE_HOME/dmake/sched.db,\n"
		"                      or " DM_LOCALSTATEDIR "/lib/dmake/sched.db as root]\n"
		"  --key-file FILE     the cluster key [$DMAKE_KEY_FILE]; make one with\n"
		"                      `dmake keygen FILE`\n"
		"  --http ADDR:PORT    also serve GET /status (the JSON of\n"
		"                      `dmake status --json`) over plain HTTP, without\n"
		"                      authentication [off]\n"
		"  --help              print this and exit\n"
		"  --version           print the version and exit\n"
		"\n"
		"Environment: DMAKE_KEY_FILE, DMAKE_LOG=error|warn|info|debug [info].\n");
}

/* --db's default: per user unless root, as XDG and the FHS say. */
static int
default_db(char *out, size_t len)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	int n;

	if (geteuid() == 0)
		n = snprintf(out, len, "%s/lib/dmake/sched.db",
			     DM_LOCALSTATEDIR);
	else if (state != NULL && state[0] == '/')
		n = snprintf(out, len, "%s/dmake/sched.db", state);
	else if (home != NULL && home[0] != '\0')
		n = snprintf(out, len, "%s/.local/state/dmake/sched.db", home);
	else
		return DM_ECONFIG;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

struct run {
	uv_signal_t sigint;
	uv_signal_t sigterm;
	struct sched_server *srv;
};

static void
on_signal(uv_signal_t *h, int signum)
{
	struct run *r = h->data;

	dm_info("%s: stopping", strsignal(signum));
	uv_close((uv_handle_t *)&r->sigint, NULL);
	uv_close((uv_handle_t *)&r->sigterm, NULL);
	sched_server_stop(r->srv);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"db", required_argument, NULL, 'd'},
		{"key-file", required_argument, NULL, 'k'},
		{"http", required_argument, NULL, 'H'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *listen = DEFAULT_LISTEN, *db_path = NULL;
	const char *key_file = NULL, *http = NULL;
	struct sched_server_config cfg;
	struct sched_db *db = NULL;
	char db_buf[PATH_MAX];
	struct dm_key key;
	struct run r = {0};
	uv_loop_t loop;
	int c, rc, more;

	dm_log_init("dmake-sched", DM_LOG_INFO);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'd': db_path = optarg; break;
		case 'k': key_file = optarg; break;
		case 'H': http = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("dmake-sched %s\n", DM_VERSION); return 0;
		default:
			fprintf(stderr, "Try 'dmake-sched --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dmake-sched: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}

	if (key_file == NULL)
		key_file = getenv("DMAKE_KEY_FILE");
	if (key_file == NULL || key_file[0] == '\0') {
		dm_error("no cluster key: make one with `dmake keygen FILE`, "
			 "copy it to every machine of the cluster (mode 0600) "
			 "and pass --key-file FILE or set DMAKE_KEY_FILE");
		return 1;
	}
	if ((rc = dm_key_load(key_file, &key)) != 0) {
		dm_error("%s: %s", key_file, dm_strerror(rc));
		return 1;
	}
	if (db_path == NULL) {
		if ((rc = default_db(db_buf, sizeof(db_buf))) != 0) {
			dm_error("no --db given and neither XDG_STATE_HOME "
				 "nor HOME is set");
			return 1;
		}
		db_path = db_buf;
	}
	if ((rc = sched_db_open(db_path, &db)) != 0)
		return 1; /* db.c said why */

	/* A peer that vanishes mid-write must cost an EPIPE, not the
	 * process. */
	signal(SIGPIPE, SIG_IGN);
	if ((rc = uv_loop_init(&loop)) != 0) {
		dm_error("uv_loop_init: %s", uv_strerror(rc));
		goto err_after_db;
	}
	cfg = (struct sched_server_config){
		.listen = listen, .http = http, .key = &key, .db = db};
	if ((rc = sched_server_start(&loop, &cfg, &r.srv)) != 0)
		goto err_after_loop;
	uv_signal_init(&loop, &r.sigint);
	uv_signal_init(&loop, &r.sigterm);
	r.sigint.data = r.sigterm.data = &r;
	uv_signal_start(&r.sigint, on_signal, SIGINT);
	uv_signal_start(&r.sigterm, on_signal, SIGTERM);

	/* Connections still in their handshake are not the server's to
	 * close (lib/conn.c keeps them), so stop once the server's own
	 * part is done rather than when the loop runs dry. */
	do
		more = uv_run(&loop, UV_RUN_ONCE);
	while (more && !sched_server_done(r.srv));
	sched_server_free(r.srv);
	uv_loop_close(&loop); /* EBUSY if handshakes were cut short */
	sched_db_close(db);
	return 0;

err_after_loop:
	uv_loop_close(&loop);
err_after_db:
	sched_db_close(db);
	return 1;
}
