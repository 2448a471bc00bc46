/*
 * node.h: what the parts of dmaked share: the command line, the node's
 * state (compilers, counters, the stop flag) and the small pure decisions
 * (defaults, the advertised address, the load figure) that the unit tests
 * check without a network.
 *
 * One struct node lives for the whole process; main.c fills it before
 * any thread starts, after which only the atomic counters and the stop
 * flag change.
 */
#ifndef DM_NODE_H
#define DM_NODE_H

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "../lib/auth.h"

struct node_files;
struct node_sandbox;
struct node_standin;
struct node_tccache;

#define NODE_DEFAULT_LISTEN "0.0.0.0:7371"
#define NODE_DEFAULT_JOB_TIMEOUT 300
/* Per-job limits (dmaked --help says why each default). */
#define NODE_DEFAULT_JOB_MEM (4ull << 30)   /* RLIMIT_AS per process */
#define NODE_DEFAULT_JOB_CPU 300	    /* RLIMIT_CPU s per process */
#define NODE_DEFAULT_JOB_FSIZE (4ull << 30) /* RLIMIT_FSIZE, /tmp size */
#define NODE_DEFAULT_JOB_PROCS 64	    /* RLIMIT_NPROC per job */
#define NODE_NAME_MAX 64		    /* NODE_REGISTER.name */
/* Unpacked toolchain archives kept (tccache.h): gcc 12 takes 45 MB,
 * clang 14 260 MB. */
#define NODE_DEFAULT_CACHE_LIMIT (4ull << 30)
/* Source files jobs carried (filecache.h): a kernel build names about
 * 20 MB of distinct headers, a large C++ project a few hundred. */
#define NODE_DEFAULT_FILE_CACHE_LIMIT (1ull << 30)
#define NODE_COMPILERS_MAX 16 /* --compiler */

struct node_opts {
	const char *scheduler; /* NULL: from the config */
	const char *listen;
	const char *advertise; /* NULL: derived (node_advertise) */
	int slots;	       /* 0: the CPU count */
	const char *cache_dir; /* NULL: node_default_cache_dir */
	const char *key_file;  /* NULL: DMAKE_KEY_FILE or the config */
	const char *name;      /* NULL: the host name */
	unsigned job_timeout_s;
	const char *user; /* NULL: "dmake" if it exists, else "nobody" */
	uint64_t job_mem; /* bytes; 0: no limit */
	unsigned job_cpu_s;
	uint64_t job_fsize;
	unsigned job_procs;
	int no_sandbox;
	/* --standin FILE (tests and benchmarks only, standin.h): jobs
	 * sleep and return an empty object; NULL: real compiles. */
	struct node_standin *standin;
	uint64_t cache_limit; /* --cache-limit: unpacked toolchains */
	uint64_t file_cache_limit; /* --file-cache-limit: source files */
	/* --compiler NAME|PATH: offered besides those found on PATH */
	const char *compilers[NODE_COMPILERS_MAX];
	size_t ncompilers;
};

enum { NODE_OPTS_RUN = 0, NODE_OPTS_HELP = 1, NODE_OPTS_VERSION = 2 };

/* Parses the command line into o (defaults first).  Returns NODE_OPTS_*
 * or -DM_ECONFIG with why (a sentence naming the option).  Strings in o
 * point into argv. */
int node_opts_parse(int argc, char **argv, struct node_opts *o, char *why,
		    size_t why_len);
void node_usage(FILE *f);

/* The cache directory when --cache-dir is not given: /var/cache/dmake
 * for root, else $XDG_CACHE_HOME/dmake or $HOME/.cache/dmake.  xdg and
 * home may be NULL.  -DM_ECONFIG when nothing applies. */
int node_default_cache_dir(uid_t uid, const char *xdg, const char *home,
			   char *out, size_t len);

/* The HOST:PORT shims are told to use.  listen is the bound address (real
 * port); local_end the local end of the scheduler connection (may be
 * NULL).  A wildcard listen host (0.0.0.0, ::) cannot be reached, so the
 * address the scheduler link leaves from is used with the listen port. */
int node_advertise(const char *listen, const char *local_end, char *out,
		   size_t len);

/* "4G", "512M", "64k", "1000" -> bytes (powers of 1024).  -DM_ECONFIG
 * for anything else or a value past 2^62. */
int node_parse_size(const char *s, uint64_t *out);

/* "0.52 0.40 ..." (/proc/loadavg) -> 520.  -DM_EPROTO when unreadable. */
int node_parse_loadavg(const char *text, uint32_t *milli);

/* One native compiler: the id the scheduler places by, and the path to
 * run it by.  The path is the one found on PATH, not the resolved one: a
 * clang reached through a clang++ link is a C++ compiler only under that
 * name. */
struct node_compiler {
	char id[65];
	char role[17];
	char path[PATH_MAX];
	char advert[256]; /* dm_toolchain_format, for NODE_REGISTER */
	int offered;	  /* passed the start-up check: jobs may use it */
	/* A compiler from a toolchain archive (tccache.h): the sandbox that
	 * shows the archive as `/`, and the environment it runs in (PATH
	 * from its manifest).  NULL for the node's own compilers, which run
	 * in n->sandbox with n->box_env. */
	const struct node_sandbox *box;
	char **env;
};

/* How jobs are run. */
enum {
	NODE_SANDBOX_ON = 0,	/* in the sandbox (sandbox.h) */
	NODE_SANDBOX_OFF = 1,	/* --no-sandbox */
	NODE_SANDBOX_BROKEN = 2 /* the kernel refused it: jobs are refused */
};

struct node {
	struct node_opts opts;
	struct dm_key key;
	char scheduler[256]; /* "" = run without a scheduler */
	char name[NODE_NAME_MAX + 1];
	char platform[65]; /* uname machine */
	char cache_dir[PATH_MAX];
	char jobs_dir[PATH_MAX]; /* cache_dir/jobs: the job directories */
	char listen[300];	 /* as bound, with the real port */
	int slots;
	unsigned job_timeout_s;
	int sandbox_state;	      /* NODE_SANDBOX_* */
	char sandbox_why[512];	      /* for BROKEN: what failed */
	struct node_sandbox *sandbox; /* for ON */
	char job_user[64];	      /* who jobs run as */
	uid_t job_uid;
	gid_t job_gid;
	struct node_compiler *cc;
	size_t ncc;
	char compilers_conf[1024]; /* the config's `compilers` */
	char **env;	/* the compilers' environment (node_compiler_env) */
	char **box_env; /* the same in the sandbox, where TMPDIR is /tmp */
	atomic_int running; /* compilers running now: NODE_LOAD.running */
	atomic_int conns;   /* job connections open now */
	atomic_int stopping;
	/* Unpacked toolchain archives; NULL when the node takes none (no
	 * sandbox to run them in). */
	struct node_tccache *tcc;
	/* The source files jobs carried, by content (filecache.h). */
	struct node_files *files;
};

/* Finds and identifies the native compilers (gcc g++ clang clang++ cc
 * c++ on PATH, and those of --compiler and the config's `compilers`:
 * names looked up on PATH, or paths), one entry per distinct id.  Never
 * fails for want of a compiler: a node with none registers with no
 * toolchain of its own. */
int node_compilers_find(struct node *n);
const struct node_compiler *node_compiler_by_id(const struct node *n,
						const char *id);

/* The environment compilers run in: the entries of env that only shape
 * how diagnostics read (PATH, LANG, LANGUAGE, LC_*, TMPDIR), none of the
 * variables that change what a compiler does (CPATH, GCC_EXEC_PREFIX,
 * DEPENDENCIES_OUTPUT...), which the client's compile did not see
 * either.  The array and strings are newly allocated (live for the
 * process); NULL when out of memory. */
char **node_compiler_env(char *const *env);

#endif
