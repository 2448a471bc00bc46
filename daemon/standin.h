/*
 * standin.h: the stand-in compiler, a test and benchmark feature of
 * dmaked (`--standin FILE`), never on by default.
 *
 * A node started with it compiles nothing.  Each job sleeps for a time
 * drawn at random from a sample of real compile times, then answers with
 * a valid but empty object: one compile of an empty unit by the job's
 * own compiler, made the first time that compiler is asked for and
 * copied for every job after.  Everything else (the handshake, the unit
 * stream, the job directory, NODE_LOAD, the result streams) is the real
 * node's, so a loopback cluster of many such nodes looks to the
 * scheduler and to the builds like a farm compiling real units, at no
 * CPU cost: what the tests and bench/sim need to watch grants, tokens
 * and placement at a scale this machine cannot compile at.
 *
 * FILE holds one duration in milliseconds per line (blank lines and
 * lines starting with '#' are skipped); bench/kernel-tu-ms.txt is the
 * Linux 6.1 tinyconfig build timed on the benchmark machine.  With
 * `--standin-log LOG` every job appends two lines to LOG, each written
 * with one write(2) on an O_APPEND descriptor so that the nodes of a
 * loopback cluster can share one file:
 *
 *     start MS NODE DUR_MS CWD/SOURCE
 *     end MS NODE DUR_MS CWD/SOURCE
 *
 * MS is the wall clock (CLOCK_REALTIME) in milliseconds, NODE the node's
 * name, DUR_MS the drawn duration.  Tests count jobs running at once
 * from it; the bench measures busy slot-time.
 *
 * Lifetime: node_standin_load() at start, from the option parser; the
 * stand-in lives for the process (node_standin_free() for the tests).
 * node_standin_run() is called by the job threads, any number at once.
 */
#ifndef DM_NODE_STANDIN_H
#define DM_NODE_STANDIN_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/spawn.h"

struct node_standin;

/* The most durations FILE may hold, and the longest one (an hour). */
#define NODE_STANDIN_SAMPLES_MAX 1000000
#define NODE_STANDIN_MS_MAX 3600000u

/* Reads the durations in path and opens log_path (NULL: no log) for
 * appending.  Returns 0, or DM_ECONFIG with why (a sentence naming the
 * file and the line) for a file that cannot be read, holds no duration
 * or something that is not one; -ENOMEM.  *out is freed by
 * node_standin_free(). */
int node_standin_load(const char *path, const char *log_path,
		      struct node_standin **out, char *why, size_t why_len);
void node_standin_free(struct node_standin *s);

/* The number of durations and their mean, for the start-up line. */
size_t node_standin_count(const struct node_standin *s);
double node_standin_mean_ms(const struct node_standin *s);

/* Draws one duration (thread-safe). */
uint32_t node_standin_draw(struct node_standin *s);

/* One job in place of the compiler: sleeps for a drawn duration and
 * writes the empty object of compiler at object.  The empty object is
 * made in work_dir (the node's cache dir) by the first job of each
 * compiler.  node_name, cwd and source are for the log.  Fills r as a
 * compile that took the drawn time (cpu_ms = wall_ms = the duration,
 * exit 0) and returns 0, or returns a negative error when the empty
 * object cannot be made or copied (the job then fails as the node's
 * fault, and the shim places it again). */
int node_standin_run(struct node_standin *s, const char *compiler,
		     const char *work_dir, const char *node_name,
		     const char *cwd, const char *source, const char *object,
		     struct dm_spawn_result *r);

#endif
