/*
 * serve.h: `dmake serve`, a coordinator that outlives builds.
 *
 * One FIFO jobserver and one shim socket at fixed paths, for builds that
 * are not started by dmake (KISS, portage, a shell profile): they find
 * both through the environment lines `dmake serve --env` prints.
 */
#ifndef SERVE_H
#define SERVE_H

#include <stdio.h>

/* argv[0] is "serve".  Returns the process exit code. */
int serve_main(int argc, char **argv);

/* The lines a shell evals to build with the server at fifo/sock: PATH,
 * DMAKE_SOCKET, DMAKE_MASQ_DIR, MAKEFLAGS (with the descriptor variant
 * for make <= 4.3), SAMUFLAGS. */
void serve_print_env(FILE *f, const char *fifo, const char *sock,
		     const char *masq, int local_slots);

#endif
