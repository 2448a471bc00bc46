/*
 * node.c: see node.h.  The command line, the defaults that depend on who
 * runs the node, and the table of native compilers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/net.h"
#include "../lib/toolchain.h"
#include "node.h"
#include "standin.h"

#define SLOTS_MAX 4096	       /* the scheduler's SCHED_SLOTS_MAX */
#define JOB_TIMEOUT_MAX 86400u /* a day: anything longer is a typo */
#define JOB_PROCS_MAX 1000000

void
node_usage(FILE *f)
{
	fprintf(f,
		"Usage: dmaked [OPTION]...\n"
		"The node daemon of a dmake compile farm: registers with\n"
		"the scheduler, receives preprocessed units from dmake-cc,\n"
		"compiles them with this machine's compilers and sends the\n"
		"objects back.\n"
		"\n"
		"  --scheduler ADDR:PORT  the scheduler\n"
		"                         [$DMAKE_SCHEDULER, config]\n"
		"  --listen ADDR:PORT     where shims connect; port 0 picks\n"
		"                         a free one [" NODE_DEFAULT_LISTEN
		"]\n"
		"  --advertise HOST:PORT  the address shims are told [the\n"
		"                         listen address; for 0.0.0.0 the\n"
		"                         address the scheduler link uses]\n"
		"  --slots N              compiles offered [CPU count]\n"
		"  --cache-dir DIR        job directories and toolchains\n"
		"                         [$XDG_CACHE_HOME/dmake, or\n"
		"                         /var/cache/dmake as root]\n"
		"  --key-file FILE        the cluster key\n"
		"                         [$DMAKE_KEY_FILE, config]\n"
		"  --name NAME            the node's name [host name]\n"
		"  --cache-limit SIZE     room in the cache dir for the\n"
		"                         toolchains builds send to a node\n"
		"                         that lacks their compiler, least\n"
		"                         recently used dropped first (K, M,\n"
		"                         G suffixes) [4G]\n"
		"  --file-cache-limit SIZE  room for the source files jobs\n"
		"                         carry (for the excerpts under\n"
		"                         gcc's diagnostics), kept by content\n"
		"                         so each is sent once [1G]\n"
		"  --compiler NAME|PATH   offer this compiler too, e.g.\n"
		"                         aarch64-linux-gnu-gcc (repeatable;\n"
		"                         besides gcc g++ clang clang++ cc\n"
		"                         c++ on PATH) [config: compilers]\n"
		"  --job-timeout SECONDS  wall-clock limit per compile\n"
		"                         [%d]\n"
		"\n"
		"Every compile runs in a sandbox: its own user, mount, pid,\n"
		"ipc and net namespaces (no network at all), a root holding\n"
		"only the toolchain (read-only), its job directory, a\n"
		"private /tmp, /dev/null, zero, full, random, urandom and\n"
		"its own /proc, as an unprivileged user with no\n"
		"capabilities.  A node whose kernel refuses a namespace says\n"
		"so at start and refuses jobs (the builds compile locally).\n"
		"  --user NAME            who compiles, when dmaked runs as\n"
		"                         root [dmake if that user exists,\n"
		"                         else nobody]; as any other user,\n"
		"                         that user in a user namespace\n"
		"  --job-mem SIZE         address space per compiler process\n"
		"                         (RLIMIT_AS; K, M, G suffixes) [4G]\n"
		"  --job-cpu SECONDS      CPU time per compiler process\n"
		"                         (RLIMIT_CPU) [%d]\n"
		"  --job-fsize SIZE       largest file a compile may write,\n"
		"                         and the size of its /tmp [4G]\n"
		"  --job-procs N          processes and threads per job\n"
		"                         (RLIMIT_NPROC, counted per job in\n"
		"                         its user namespace) [%d]\n"
		"  --no-sandbox           run compiles as dmaked's own user,\n"
		"                         with the host's files and network\n"
		"                         (the limits still apply but\n"
		"                         --job-procs); only for hosts that\n"
		"                         cannot have the sandbox and run\n"
		"                         nothing but trusted builds\n"
		"\n"
		"For tests and benchmarks only, never on a real farm:\n"
		"  --standin FILE         compile nothing: each job sleeps\n"
		"                         for a time drawn from FILE (one\n"
		"                         duration in ms per line, e.g.\n"
		"                         bench/kernel-tu-ms.txt) and\n"
		"                         returns an EMPTY object, so a\n"
		"                         loopback farm of many nodes costs\n"
		"                         no CPU; the build's objects are\n"
		"                         not its code\n"
		"  --standin-log LOG      with --standin: append a start and\n"
		"                         an end line per job to LOG\n"
		"\n"
		"  --help                 print this and exit\n"
		"  --version              print the version and exit\n"
		"\n"
		"Environment: DMAKE_SCHEDULER, DMAKE_KEY_FILE,\n"
		"DMAKE_LOG=error|warn|info|debug [info].  Config:\n"
		"/etc/dmake/dmake.conf, ~/.config/dmake/dmake.conf.\n",
		NODE_DEFAULT_JOB_TIMEOUT, NODE_DEFAULT_JOB_CPU,
		NODE_DEFAULT_JOB_PROCS);
}

int
node_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (*s < '0' || *s > '9')
		return DM_ECONFIG;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return DM_ECONFIG;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return DM_ECONFIG;
	}
	if (*end != '\0' && end[1] != '\0')
		return DM_ECONFIG;
	if (v > (1ull << 62) >> shift)
		return DM_ECONFIG;
	*out = (uint64_t)v << shift;
	return 0;
}

static int
parse_uint(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		return DM_ECONFIG;
	*out = v;
	return 0;
}

static int
check_addr(const char *opt, const char *addr, char *why, size_t why_len)
{
	char host[256];
	int port;

	if (dm_net_split(addr, host, sizeof(host), &port) == 0)
		return 0;
	snprintf(why, why_len, "--%s: bad address '%s' (expected HOST:PORT)",
		 opt, addr);
	return DM_ECONFIG;
}

int
node_opts_parse(int argc, char **argv, struct node_opts *o, char *why,
		size_t why_len)
{
	static const struct option opts[] = {
		{"scheduler", required_argument, NULL, 's'},
		{"listen", required_argument, NULL, 'l'},
		{"advertise", required_argument, NULL, 'a'},
		{"slots", required_argument, NULL, 'j'},
		{"cache-dir", required_argument, NULL, 'c'},
		{"key-file", required_argument, NULL, 'k'},
		{"name", required_argument, NULL, 'n'},
		{"job-timeout", required_argument, NULL, 't'},
		{"user", required_argument, NULL, 'u'},
		{"job-mem", required_argument, NULL, 'M'},
		{"job-cpu", required_argument, NULL, 'C'},
		{"job-fsize", required_argument, NULL, 'F'},
		{"job-procs", required_argument, NULL, 'P'},
		{"no-sandbox", no_argument, NULL, 'N'},
		{"cache-limit", required_argument, NULL, 'X'},
		{"file-cache-limit", required_argument, NULL, 'Y'},
		{"compiler", required_argument, NULL, 'G'},
		{"standin", required_argument, NULL, 'S'},
		{"standin-log", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *standin = NULL, *standin_log = NULL;
	long v;
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->listen = NODE_DEFAULT_LISTEN;
	o->job_timeout_s = NODE_DEFAULT_JOB_TIMEOUT;
	o->job_mem = NODE_DEFAULT_JOB_MEM;
	o->job_cpu_s = NODE_DEFAULT_JOB_CPU;
	o->job_fsize = NODE_DEFAULT_JOB_FSIZE;
	o->job_procs = NODE_DEFAULT_JOB_PROCS;
	o->cache_limit = NODE_DEFAULT_CACHE_LIMIT;
	o->file_cache_limit = NODE_DEFAULT_FILE_CACHE_LIMIT;
	why[0] = '\0';
	/* 0 rescans from scratch, so the tests may parse several times. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->scheduler = optarg;
			if (check_addr("scheduler", optarg, why, why_len))
				return DM_ECONFIG;
			break;
		case 'l':
			o->listen = optarg;
			if (check_addr("listen", optarg, why, why_len))
				return DM_ECONFIG;
			break;
		case 'a':
			o->advertise = optarg;
			if (check_addr("advertise", optarg, why, why_len))
				return DM_ECONFIG;
			break;
		case 'j':
			if (parse_uint(optarg, 1, SLOTS_MAX, &v) != 0) {
				snprintf(
					why, why_len,
					"--slots: '%s' is not a number from 1 "
					"to %d",
					optarg, SLOTS_MAX);
				return DM_ECONFIG;
			}
			o->slots = (int)v;
			break;
		case 'c':
			o->cache_dir = optarg;
			break;
		case 'k':
			o->key_file = optarg;
			break;
		case 'n':
			if (optarg[0] == '\0' ||
			    strlen(optarg) > NODE_NAME_MAX) {
				snprintf(why, why_len,
					 "--name: must be 1 to %d bytes",
					 NODE_NAME_MAX);
				return DM_ECONFIG;
			}
			o->name = optarg;
			break;
		case 't':
			if (parse_uint(optarg, 1, JOB_TIMEOUT_MAX, &v) != 0) {
				snprintf(why, why_len,
					 "--job-timeout: '%s' is not a number "
					 "of seconds from 1 to %u",
					 optarg, JOB_TIMEOUT_MAX);
				return DM_ECONFIG;
			}
			o->job_timeout_s = (unsigned)v;
			break;
		case 'u':
			if (optarg[0] == '\0') {
				snprintf(why, why_len,
					 "--user: needs a user name");
				return DM_ECONFIG;
			}
			o->user = optarg;
			break;
		case 'M':
		case 'F':
			/* Below 1 MiB no compiler even starts. */
			if (node_parse_size(optarg,
					    c == 'M' ? &o->job_mem
						     : &o->job_fsize) != 0 ||
			    (c == 'M' ? o->job_mem : o->job_fsize) <
				    (1u << 20)) {
				snprintf(
					why, why_len,
					"--%s: '%s' is not a size of at least "
					"1M (like 512M or 4G)",
					c == 'M' ? "job-mem" : "job-fsize",
					optarg);
				return DM_ECONFIG;
			}
			break;
		case 'C':
			if (parse_uint(optarg, 1, JOB_TIMEOUT_MAX, &v) != 0) {
				snprintf(why, why_len,
					 "--job-cpu: '%s' is not a number "
					 "of seconds from 1 to %u",
					 optarg, JOB_TIMEOUT_MAX);
				return DM_ECONFIG;
			}
			o->job_cpu_s = (unsigned)v;
			break;
		case 'P':
			if (parse_uint(optarg, 4, JOB_PROCS_MAX, &v) != 0) {
				snprintf(why, why_len,
					 "--job-procs: '%s' is not a number "
					 "from 4 to %d",
					 optarg, JOB_PROCS_MAX);
				return DM_ECONFIG;
			}
			o->job_procs = (unsigned)v;
			break;
		case 'N':
			o->no_sandbox = 1;
			break;
		case 'X':
		case 'Y':
			if (node_parse_size(optarg, c == 'X'
							    ? &o->cache_limit
							    : &o->file_cache_limit) != 0 ||
			    (c == 'X' ? o->cache_limit : o->file_cache_limit) <
				    (1u << 20)) {
				snprintf(why, why_len,
					 "--%s: '%s' is not a size of "
					 "at least 1M (like 512M or 10G)",
					 c == 'X' ? "cache-limit"
						  : "file-cache-limit",
					 optarg);
				return DM_ECONFIG;
			}
			break;
		case 'G':
			if (optarg[0] == '\0' ||
			    o->ncompilers == NODE_COMPILERS_MAX) {
				snprintf(why, why_len,
					 "--compiler: needs a name or path, "
					 "at most %d times",
					 NODE_COMPILERS_MAX);
				return DM_ECONFIG;
			}
			o->compilers[o->ncompilers++] = optarg;
			break;
		case 'S':
			standin = optarg;
			break;
		case 'L':
			standin_log = optarg;
			break;
		case 'h':
			return NODE_OPTS_HELP;
		case 'V':
			return NODE_OPTS_VERSION;
		case ':':
			snprintf(why, why_len, "option '%s' needs an argument",
				 argv[optind - 1]);
			return DM_ECONFIG;
		default:
			snprintf(why, why_len, "unknown option '%s'",
				 argv[optind - 1]);
			return DM_ECONFIG;
		}
	}
	if (optind < argc) {
		snprintf(why, why_len, "unexpected argument '%s'",
			 argv[optind]);
		return DM_ECONFIG;
	}
	if (standin_log != NULL && standin == NULL) {
		snprintf(why, why_len, "--standin-log needs --standin");
		return DM_ECONFIG;
	}
	if (standin != NULL) {
		rc = node_standin_load(standin, standin_log, &o->standin, why,
				       why_len);
		if (rc == -ENOMEM)
			snprintf(why, why_len, "--standin: out of memory");
		if (rc != 0)
			return DM_ECONFIG;
		dm_warn("--standin: a TEST node: jobs are not compiled, each "
			"sleeps for one of %zu durations from %s (mean %.0f "
			"ms) and returns an empty object",
			node_standin_count(o->standin), standin,
			node_standin_mean_ms(o->standin));
	}
	return NODE_OPTS_RUN;
}

int
node_default_cache_dir(uid_t uid, const char *xdg, const char *home, char *out,
		       size_t len)
{
	int n;

	if (uid == 0)
		n = snprintf(out, len, "/var/cache/dmake");
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, len, "%s/dmake", xdg);
	else if (home != NULL && home[0] != '\0')
		n = snprintf(out, len, "%s/.cache/dmake", home);
	else
		return DM_ECONFIG;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int
is_wildcard(const char *host)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, host, a) == 1)
		return memcmp(a, "\0\0\0\0", 4) == 0;
	if (inet_pton(AF_INET6, host, a) == 1)
		return memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0;
	return 0;
}

static int
join(const char *host, int port, char *out, size_t len)
{
	int n = strchr(host, ':') != NULL
			? snprintf(out, len, "[%s]:%d", host, port)
			: snprintf(out, len, "%s:%d", host, port);

	return n < 0 || (size_t)n >= len ? DM_EADDR : 0;
}

int
node_advertise(const char *listen, const char *local_end, char *out,
	       size_t len)
{
	char host[256], lhost[256];
	int port, lport, rc;

	if ((rc = dm_net_split(listen, host, sizeof(host), &port)) != 0)
		return rc;
	if (!is_wildcard(host) || local_end == NULL)
		return join(host, port, out, len);
	if ((rc = dm_net_split(local_end, lhost, sizeof(lhost), &lport)) != 0)
		return rc;
	return join(lhost, port, out, len);
}

int
node_parse_loadavg(const char *text, uint32_t *milli)
{
	unsigned long whole = 0, frac = 0, scale = 1000;
	const char *p = text;

	if (*p < '0' || *p > '9')
		return DM_EPROTO;
	while (*p >= '0' && *p <= '9') {
		whole = whole * 10 + (unsigned long)(*p++ - '0');
		if (whole > 4000000)
			return DM_EPROTO;
	}
	if (*p == '.') {
		p++;
		/* Three decimals are all a milli figure holds. */
		while (*p >= '0' && *p <= '9') {
			if (scale > 1) {
				scale /= 10;
				frac += (unsigned long)(*p - '0') * scale;
			}
			p++;
		}
	}
	if (*p != ' ' && *p != '\n' && *p != '\0')
		return DM_EPROTO;
	*milli = (uint32_t)(whole * 1000 + frac);
	return 0;
}

/* Compilers */

static int
find_on_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH"), *p, *end;

	if (path == NULL || path[0] == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p != '\0'; p = *end ? end + 1 : end) {
		size_t dl;
		int n;

		end = strchrnul(p, ':');
		dl = (size_t)(end - p);
		/* An empty or relative entry names a directory that moves with
		 * the cwd: a daemon does not search it. */
		if (dl == 0 || p[0] != '/')
			continue;
		n = snprintf(out, len, "%.*s/%s", (int)dl, p, name);
		if (n < 0 || (size_t)n >= len)
			continue;
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* One compiler, by name on PATH or by path; 1 when it was added. */
static int
compiler_add(struct node *n, const char *name, int asked)
{
	struct node_compiler *e = &n->cc[n->ncc];
	struct dm_toolchain tc;
	char path[PATH_MAX];
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	int rc;

	if (strchr(name, '/') != NULL) {
		snprintf(path, sizeof(path), "%s", name);
		rc = access(path, X_OK) == 0 ? 0 : -errno;
	} else {
		rc = find_on_path(name, path, sizeof(path));
	}
	if (rc != 0) {
		if (asked)
			dm_warn("compiler %s: not offered: %s", name,
				strchr(name, '/') ? dm_strerror(rc)
						  : "not found on PATH");
		return 0;
	}
	if ((rc = dm_toolchain_identify(base, path, &tc)) != 0) {
		dm_warn("%s: not offered: %s", path, dm_strerror(rc));
		return 0;
	}
	/* cc is gcc under another name here: one entry, the first. */
	if (node_compiler_by_id(n, tc.id) != NULL)
		return 0;
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", tc.id);
	snprintf(e->role, sizeof(e->role), "%s", tc.role);
	snprintf(e->path, sizeof(e->path), "%s", path);
	if ((rc = dm_toolchain_format(&tc, e->advert, sizeof(e->advert))) !=
	    0) {
		dm_warn("%s: not offered: %s", path, dm_strerror(rc));
		return 0;
	}
	n->ncc++;
	dm_info("compiler %s: %s", path, e->advert);
	return 1;
}

int
node_compilers_find(struct node *n)
{
	static const char *names[] = {"gcc",	 "g++", "clang",
				      "clang++", "cc",	"c++"};
	const size_t nnames = sizeof(names) / sizeof(names[0]);
	char conf[sizeof(n->compilers_conf)], *save = NULL, *w;
	size_t max = nnames + n->opts.ncompilers + sizeof(conf) / 2;

	if ((n->cc = calloc(max, sizeof(*n->cc))) == NULL)
		return -ENOMEM;
	n->ncc = 0;
	for (size_t i = 0; i < nnames; i++)
		compiler_add(n, names[i], 0);
	for (size_t i = 0; i < n->opts.ncompilers; i++)
		compiler_add(n, n->opts.compilers[i], 1);
	snprintf(conf, sizeof(conf), "%s", n->compilers_conf);
	for (w = strtok_r(conf, " \t,", &save); w != NULL;
	     w = strtok_r(NULL, " \t,", &save))
		compiler_add(n, w, 1);
	if (n->ncc == 0)
		dm_warn("no usable compiler on PATH: this node gets only "
			"jobs whose toolchain a build sends it");
	return 0;
}

const struct node_compiler *
node_compiler_by_id(const struct node *n, const char *id)
{
	for (size_t i = 0; i < n->ncc; i++)
		if (strcmp(n->cc[i].id, id) == 0)
			return &n->cc[i];
	return NULL;
}

char **
node_compiler_env(char *const *env)
{
	static const char *keep[] = {"PATH=", "LANG=", "LANGUAGE=", "LC_",
				     "TMPDIR="};
	size_t n = 0, k = 0;
	char **out;

	while (env != NULL && env[n] != NULL)
		n++;
	if ((out = calloc(n + 1, sizeof(*out))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < sizeof(keep) / sizeof(keep[0]); j++) {
			if (strncmp(env[i], keep[j], strlen(keep[j])) != 0)
				continue;
			if ((out[k] = strdup(env[i])) == NULL)
				goto err_after_out;
			k++;
			break;
		}
	}
	return out;

err_after_out:
	for (size_t i = 0; i < k; i++)
		free(out[i]);
	free(out);
	return NULL;
}
