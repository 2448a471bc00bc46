/*
 * main.c: `dmake`, the user's front door (see DESIGN.md "Command-line
 * contract"): keygen, make, ninja, run, status.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/auth.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "../ninja-pool/ninja.h"
#include "coord.h"
#include "serve.h"
#include "status.h"

#ifndef DM_VERSION
#define DM_VERSION "0.1.0"
#endif

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: dmake COMMAND [ARGS...]\n"
		"\n"
		"  dmake make [MAKE ARGS...]    run GNU make on the cluster; give no -j:\n"
		"                               the jobserver holds as many tokens as\n"
		"                               the cluster has slots for this build\n"
		"  dmake ninja [NINJA ARGS...]  run ninja on the cluster; give no -j:\n"
		"                               every command goes through dmake-gate, so\n"
		"                               local steps never exceed the local slots\n"
		"  dmake run -- CMD [ARGS...]   run any build command with the jobserver\n"
		"                               and the compiler masquerade exported\n"
		"  dmake serve [--fifo P] [--socket P] [--group G] [--env]\n"
		"                               a coordinator that outlives builds, at\n"
		"                               fixed paths (KISS, portage, profiles)\n"
		"  dmake status [--json]        nodes, slots, running jobs and builds\n"
		"  dmake keygen FILE            write a new cluster key (mode 0600)\n"
		"  dmake --help | --version\n"
		"\n"
		"Environment: DMAKE_SCHEDULER=HOST:PORT, DMAKE_KEY_FILE=FILE,\n"
		"DMAKE_LOCAL_SLOTS=N, DMAKE_PLACEMENT=auto|remote|local, DMAKE_LOG=\n"
		"error|warn|info|debug, DMAKE_PROGRESS=0 (no progress line on a\n"
		"terminal).  Config: /etc/dmake/dmake.conf and\n"
		"~/.config/dmake/dmake.conf (keys scheduler, key_file, local_slots,\n"
		"placement).  With no scheduler the build runs on this machine only.\n"
		"\n"
		"At the end dmake prints one line: remote=R local=L fallback=F\n"
		"(compiles done on nodes, here by choice, here after a remote\n"
		"failure), the wall time and the peak token count.\n");
}

static int
cmd_keygen(int argc, char **argv)
{
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: dmake keygen FILE\n");
		return 2;
	}
	if ((rc = dm_key_generate(argv[2])) != 0) {
		dm_error("cannot write %s: %s%s", argv[2], dm_strerror(rc),
			 rc == -EEXIST ? " (remove it first to replace it)"
				       : "");
		return 1;
	}
	printf("wrote a new cluster key to %s; copy it (mode 0600) to every "
	       "node and build host\n",
	       argv[2]);
	return 0;
}

static int
has_j(char **argv)
{
	for (int i = 0; argv[i] != NULL; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strncmp(argv[i], "-j", 2) == 0 ||
		    strncmp(argv[i], "--jobs", 6) == 0)
			return 1;
		/* -kj8 and similar bundles of short options. */
		if (argv[i][0] == '-' && argv[i][1] != '-' &&
		    strchr(argv[i], 'j') != NULL && strchr(argv[i], '=') == NULL)
			return 1;
	}
	return 0;
}

static int
cmd_make(int argc, char **argv)
{
	struct coord_opts o = {COORD_MAKE, NULL, NULL, NULL, NULL};
	const char *make = getenv("MAKE");
	char **av = calloc((size_t)argc + 1, sizeof(char *));
	int rc;

	if (av == NULL)
		return 2;
	av[0] = (char *)(make != NULL && make[0] != '\0' ? make : "make");
	for (int i = 2; i < argc; i++)
		av[i - 1] = argv[i];
	if (has_j(av + 1))
		dm_warn("a -j on the command line makes make start its own "
			"pool, outside the cluster's; drop it and let dmake "
			"size the build");
	o.argv = av;
	rc = coord_run(&o);
	free(av);
	return rc;
}

static int
cmd_run(int argc, char **argv)
{
	struct coord_opts o = {COORD_RUN, NULL, NULL, NULL, NULL};
	int first = 2;

	if (first < argc && strcmp(argv[first], "--") == 0)
		first++;
	if (first >= argc) {
		fprintf(stderr, "usage: dmake run -- CMD [ARGS...]\n");
		return 2;
	}
	o.argv = argv + first;
	return coord_run(&o);
}

static int
cmd_ninja(int argc, char **argv)
{
	struct coord_opts o = {COORD_NINJA, NULL, NULL, NULL, NULL};
	const char *ninja = getenv("NINJA");
	struct ninja_args na;
	char **av = calloc((size_t)argc + 1, sizeof(char *));
	int rc;

	if (av == NULL)
		return 2;
	av[0] = (char *)(ninja != NULL && ninja[0] != '\0' ? ninja : "ninja");
	for (int i = 2; i < argc; i++)
		av[i - 1] = argv[i];
	ninja_args_scan(av, &na);
	if (na.passthrough) {
		/* -t, -n, --version: nothing is built, and a tool must see
		 * the build files as they are. */
		execvp(av[0], av);
		dm_error("cannot run %s: %s", av[0], strerror(errno));
		free(av);
		return 127;
	}
	if (na.has_j)
		dm_warn("a -j caps ninja below what the cluster may give; "
			"drop it and let dmake size the build");
	o.argv = av;
	rc = coord_run(&o);
	free(av);
	return rc;
}

int
main(int argc, char **argv)
{
	dm_log_init("dmake", DM_LOG_WARN);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("dmake %s\n", DM_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc, argv);
	if (strcmp(argv[1], "make") == 0)
		return cmd_make(argc, argv);
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc, argv);
	if (strcmp(argv[1], "status") == 0)
		return status_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "ninja") == 0)
		return cmd_ninja(argc, argv);
	if (strcmp(argv[1], "serve") == 0)
		return serve_main(argc - 1, argv + 1);
	dm_error("unknown command '%s'; see dmake --help", argv[1]);
	return 2;
}
