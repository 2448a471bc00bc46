/*
 * serve.c: `dmake serve` (see serve.h): its options, its default paths,
 * and the environment lines a build needs to use it.  The server itself
 * is the coordinator in COORD_SERVE mode (coord.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/config.h"
#include "../lib/jobserver.h"
#include "../lib/log.h"
#include "coord.h"
#include "serve.h"

/* The descriptor a shell opens the FIFO on for make <= 4.3. */
#define MAKE43_FD 7
/* samurai and ninja <= 1.12 read no jobserver: a -j beyond the local
 * slots for compiles that wait on the cluster. */
#define SAMU_EXTRA 16

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: dmake serve [--fifo PATH] [--socket PATH] [--group NAME]\n"
		"       dmake serve --env [--fifo PATH] [--socket PATH]\n"
		"\n"
		"Runs a coordinator that outlives builds: one jobserver FIFO and one\n"
		"shim socket at fixed paths (default %s), the\n"
		"scheduler's grant in tokens, until SIGINT or SIGTERM.  It starts\n"
		"its own session, so a client's `kill 0` does not stop it.  It\n"
		"prints the environment a build needs; --env prints it and exits\n"
		"(for a profile: eval \"$(dmake serve --env)\").  --group lets the\n"
		"members of a group (portage) use the FIFO and the socket.\n",
		geteuid() == 0 ? "/run/dmake/{jobserver,sock}"
			       : "$XDG_RUNTIME_DIR/dmake/{jobserver,sock}");
}

static void
default_dir(char *out, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (geteuid() == 0)
		snprintf(out, len, "/run/dmake");
	else if (xdg != NULL && xdg[0] == '/' && stat(xdg, &st) == 0 &&
		 access(xdg, W_OK) == 0)
		snprintf(out, len, "%s/dmake", xdg);
	else
		snprintf(out, len, "/tmp/dmake-%u", (unsigned)geteuid());
}

/* 'text' for the shell. */
static void
quoted(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

void
serve_print_env(FILE *f, const char *fifo, const char *sock, const char *masq,
		int local_slots)
{
	enum dm_pool_kind kind;
	int fds = 1;

	/* make 4.3 takes a fifo: auth as a fatal error: give it the FIFO
	 * as a descriptor the shell opens, after the fifo: auth for make
	 * 4.4 and ninja 1.13 (the last one counts). */
	if (dm_pool_kind_for_make("make", &kind, NULL, NULL) == 0 &&
	    kind == DM_POOL_FIFO)
		fds = 0;
	fputs("export DMAKE_SOCKET=", f);
	quoted(f, sock);
	fputs("\nexport DMAKE_MASQ_DIR=", f);
	quoted(f, masq);
	fputs("\nexport PATH=", f);
	quoted(f, masq);
	fputs("\":$PATH\"\n", f);
	/* Without the FIFO (the server is not up) the build runs as if
	 * there were no dmake: make 4.3 would otherwise find fd 7 closed. */
	if (fds) {
		fputs("if [ -p ", f);
		quoted(f, fifo);
		fprintf(f, " ]; then exec %d<>", MAKE43_FD);
		quoted(f, fifo);
		fputs("; ", f);
	}
	fputs("export MAKEFLAGS=' -j --jobserver-auth=fifo:", f);
	for (const char *s = fifo; *s != '\0'; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	if (fds)
		fprintf(f,
			" --jobserver-fds=%d,%d --jobserver-auth=%d,%d'; fi\n",
			MAKE43_FD, MAKE43_FD, MAKE43_FD, MAKE43_FD);
	else
		fputs("'\n", f);
	fprintf(f, "export SAMUFLAGS='-j %d'\n", local_slots + SAMU_EXTRA);
}

int
serve_main(int argc, char **argv)
{
	struct coord_opts o = {COORD_SERVE, NULL, NULL, NULL, NULL};
	char dir[PATH_MAX - 32], fifo[PATH_MAX], sock[PATH_MAX];
	int env_only = 0;

	default_dir(dir, sizeof(dir));
	snprintf(fifo, sizeof(fifo), "%s/jobserver", dir);
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	o.fifo = fifo;
	o.socket = sock;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--env") == 0) {
			env_only = 1;
			continue;
		}
		if (i + 1 < argc && strcmp(a, "--fifo") == 0)
			o.fifo = argv[++i];
		else if (i + 1 < argc && strcmp(a, "--socket") == 0)
			o.socket = argv[++i];
		else if (i + 1 < argc && strcmp(a, "--group") == 0)
			o.group = argv[++i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (o.fifo[0] != '/' || o.socket[0] != '/') {
		dm_error("--fifo and --socket take absolute paths: builds run "
			 "in other directories");
		return 2;
	}
	if (env_only) {
		struct dm_config cfg;
		char why[256], masq[PATH_MAX];

		if (coord_masq_dir(masq, sizeof(masq)) != 0) {
			dm_error("cannot find the compiler masquerade "
				 "directory; set DMAKE_MASQ_DIR");
			return 2;
		}
		if (dm_config_load(&cfg, why, sizeof(why)) != 0) {
			dm_error("%s", why);
			return 2;
		}
		serve_print_env(stdout, o.fifo, o.socket, masq,
				cfg.local_slots > 0 ? cfg.local_slots
						    : dm_cpu_count());
		return 0;
	}
	/* Out of the process group that started us: a client's `kill 0`
	 * (kiss on a failed build, when a hook started the server) must not
	 * reach the server.  A job of an interactive shell leads its own
	 * group already and keeps its terminal, so Ctrl-C still stops it. */
	if (getpgrp() != getpid())
		setsid();
	return coord_run(&o);
}
