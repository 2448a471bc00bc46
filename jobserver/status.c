/*
 * status.c: `dmake status [--json]`.  Asks the scheduler for its STATUS
 * JSON; --json prints it as is, otherwise a table is printed from it.
 * The table reader is a small scanner for the scheduler's own flat JSON,
 * not a general parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/auth.h"
#include "../lib/config.h"
#include "../lib/err.h"
#include "../lib/io.h"
#include "../lib/log.h"
#include "../lib/net.h"
#include "status.h"

/* Finds "key": in obj (up to end) and copies its scalar value. */
static int
field(const char *obj, const char *end, const char *key, char *out,
      size_t len)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(obj, pat);
	if (p == NULL || p >= end)
		return -1;
	p += strlen(pat);
	if (*p == '"') {
		p++;
		while (*p && *p != '"' && n + 1 < len) {
			if (*p == '\\' && p[1])
				p++;
			out[n++] = *p++;
		}
	} else {
		while (*p && *p != ',' && *p != '}' && n + 1 < len)
			out[n++] = *p++;
	}
	out[n] = '\0';
	return 0;
}

/* Calls fn on each {...} object in the array named key. */
static void
each(const char *json, const char *key,
     void (*fn)(const char *obj, const char *end))
{
	char pat[64];
	const char *p, *q;
	int depth;

	snprintf(pat, sizeof(pat), "\"%s\":[", key);
	if ((p = strstr(json, pat)) == NULL)
		return;
	p += strlen(pat);
	while (*p == '{') {
		for (q = p, depth = 0; *q; q++) {
			if (*q == '"') {
				for (q++; *q && *q != '"'; q++)
					if (*q == '\\' && q[1])
						q++;
			} else if (*q == '{') {
				depth++;
			} else if (*q == '}' && --depth == 0) {
				break;
			}
		}
		if (*q == '\0')
			return;
		fn(p, q);
		p = q + 1;
		if (*p == ',')
			p++;
	}
}

static void
print_node(const char *o, const char *e)
{
	char name[80], addr[80], slots[16], running[16], plat[80];

	field(o, e, "name", name, sizeof(name));
	field(o, e, "addr", addr, sizeof(addr));
	field(o, e, "slots", slots, sizeof(slots));
	field(o, e, "running", running, sizeof(running));
	field(o, e, "platform", plat, sizeof(plat));
	printf("  %-20s %-22s %5s/%-5s %s\n", name, addr, running, slots, plat);
}

static void
print_build(const char *o, const char *e)
{
	char id[24], host[80], granted[16], running[16], queued[16];
	char demand[16], label[280];

	field(o, e, "id", id, sizeof(id));
	field(o, e, "host", host, sizeof(host));
	field(o, e, "granted", granted, sizeof(granted));
	field(o, e, "running", running, sizeof(running));
	if (field(o, e, "queued", queued, sizeof(queued)) != 0)
		snprintf(queued, sizeof(queued), "-");
	/* null: the build did not say and uses what it is given */
	if (field(o, e, "demand", demand, sizeof(demand)) != 0 ||
	    strcmp(demand, "null") == 0)
		snprintf(demand, sizeof(demand), "any");
	if (field(o, e, "label", label, sizeof(label)) != 0)
		label[0] = '\0';
	printf("  %-6s %-20s granted %-5s running %-5s queued %-5s demand "
	       "%-5s %s\n",
	       id, host, granted, running, queued, demand, label);
}

int
status_main(int argc, char **argv)
{
	struct dm_config cfg;
	struct dm_key key;
	struct dm_buf frame;
	union dm_msg m;
	char why[512];
	int json = 0, fd, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--help") == 0) {
			printf("usage: dmake status [--json]\n"
			       "Asks the scheduler (DMAKE_SCHEDULER) for its "
			       "nodes, slots, running jobs and builds.\n");
			return 0;
		} else {
			fprintf(stderr, "usage: dmake status [--json]\n");
			return 2;
		}
	}
	if ((rc = dm_config_load(&cfg, why, sizeof(why))) != 0) {
		dm_error("%s", why);
		return 2;
	}
	if (cfg.scheduler[0] == '\0') {
		dm_error("no scheduler configured: set DMAKE_SCHEDULER=HOST:PORT "
			 "or scheduler= in dmake.conf");
		return 2;
	}
	if (cfg.key_file[0] == '\0' ||
	    (rc = dm_key_load(cfg.key_file, &key)) != 0) {
		dm_error("need the cluster key: set DMAKE_KEY_FILE (%s)",
			 cfg.key_file[0] ? dm_strerror(rc) : "not set");
		return 2;
	}
	if ((fd = dm_net_connect(cfg.scheduler, 3000)) < 0) {
		dm_error("cannot reach scheduler %s: %s", cfg.scheduler,
			 dm_strerror(fd));
		return 1;
	}
	dm_io_set_timeout(fd, 5000);
	dm_buf_init(&frame);
	if ((rc = dm_auth_client(fd, &key, DM_ROLE_MONITOR)) != 0 ||
	    (rc = dm_io_send(fd, DM_MSG_STATUS_REQ, &(struct dm_msg_status_req){0})) != 0 ||
	    (rc = dm_io_expect(fd, &frame, DM_MSG_STATUS, &m, why,
			       sizeof(why))) != 0) {
		dm_error("scheduler %s: %s%s%s", cfg.scheduler, dm_strerror(rc),
			 rc == DM_EREMOTE || rc == DM_EUNEXPECTED ? ": " : "",
			 rc == DM_EREMOTE || rc == DM_EUNEXPECTED ? why : "");
		close(fd);
		dm_buf_free(&frame);
		return 1;
	}
	close(fd);
	if (json) {
		printf("%s\n", m.status.json);
	} else {
		printf("nodes (running/slots):\n");
		each(m.status.json, "nodes", print_node);
		printf("builds:\n");
		each(m.status.json, "builds", print_build);
	}
	dm_msg_free(DM_MSG_STATUS, &m);
	dm_buf_free(&frame);
	return 0;
}
