/* config.c: see config.h. */
#include <errno.h>
#include <ini.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "err.h"

#ifndef DM_SYSCONFDIR
#define DM_SYSCONFDIR "/etc"
#endif

struct ctx {
	struct dm_config *c;
	const char *file;
	char *why;
	size_t why_len;
	int failed;
};

int
dm_cpu_count(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

int
dm_config_parse_placement(const char *s, enum dm_placement *p)
{
	if (strcmp(s, "auto") == 0)
		*p = DM_PLACE_AUTO;
	else if (strcmp(s, "remote") == 0)
		*p = DM_PLACE_REMOTE;
	else if (strcmp(s, "local") == 0)
		*p = DM_PLACE_LOCAL;
	else
		return DM_ECONFIG;
	return 0;
}

static int
set(struct dm_config *c, const char *key, const char *value)
{
	char *end;
	long n;

	if (strcmp(key, "scheduler") == 0) {
		snprintf(c->scheduler, sizeof(c->scheduler), "%s", value);
	} else if (strcmp(key, "key_file") == 0) {
		snprintf(c->key_file, sizeof(c->key_file), "%s", value);
	} else if (strcmp(key, "local_slots") == 0) {
		n = strtol(value, &end, 10);
		if (*value == '\0' || *end != '\0' || n < 0 || n > 4096)
			return DM_ECONFIG;
		c->local_slots = (int)n;
	} else if (strcmp(key, "placement") == 0) {
		return dm_config_parse_placement(value, &c->placement);
	} else if (strcmp(key, "ship_toolchains") == 0) {
		if (strcmp(value, "yes") == 0 || strcmp(value, "1") == 0)
			c->no_ship = 0;
		else if (strcmp(value, "no") == 0 || strcmp(value, "0") == 0)
			c->no_ship = 1;
		else
			return DM_ECONFIG;
	} else if (strcmp(key, "compilers") == 0) {
		if (strlen(value) >= sizeof(c->compilers))
			return DM_ECONFIG;
		snprintf(c->compilers, sizeof(c->compilers), "%s", value);
	}
	/* Unknown keys belong to other programs (node, scheduler). */
	return 0;
}

static int
on_entry(void *arg, const char *section, const char *key, const char *value)
{
	struct ctx *x = arg;

	if (section[0] != '\0' && strcmp(section, "dmake") != 0)
		return 1;
	if (set(x->c, key, value) != 0) {
		snprintf(x->why, x->why_len, "%s: bad value \"%s\" for %s",
			 x->file, value, key);
		x->failed = 1;
		return 0;
	}
	return 1;
}

static int
load_file(struct ctx *x, const char *path)
{
	int rc;

	x->file = path;
	rc = ini_parse(path, on_entry, x);
	if (rc == -1)
		return 0; /* no such file: fine */
	if (x->failed)
		return DM_ECONFIG;
	if (rc != 0) {
		snprintf(x->why, x->why_len, "%s: syntax error on line %d",
			 path, rc);
		return DM_ECONFIG;
	}
	return 0;
}

int
dm_config_load(struct dm_config *c, char *why, size_t why_len)
{
	static const char *env_keys[][2] = {
		{"DMAKE_SCHEDULER", "scheduler"},
		{"DMAKE_KEY_FILE", "key_file"},
		{"DMAKE_LOCAL_SLOTS", "local_slots"},
		{"DMAKE_PLACEMENT", "placement"},
		{"DMAKE_SHIP_TOOLCHAINS", "ship_toolchains"},
	};
	struct ctx x = {c, NULL, why, why_len, 0};
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	char path[PATH_MAX];
	int rc;

	memset(c, 0, sizeof(*c));
	if ((rc = load_file(&x, DM_SYSCONFDIR "/dmake/dmake.conf")) != 0)
		return rc;
	if (xdg != NULL && xdg[0] != '\0')
		snprintf(path, sizeof(path), "%s/dmake/dmake.conf", xdg);
	else if (home != NULL)
		snprintf(path, sizeof(path), "%s/.config/dmake/dmake.conf",
			 home);
	else
		path[0] = '\0';
	if (path[0] != '\0' && (rc = load_file(&x, path)) != 0)
		return rc;
	for (size_t i = 0; i < sizeof(env_keys) / sizeof(env_keys[0]); i++) {
		const char *v = getenv(env_keys[i][0]);

		if (v == NULL)
			continue;
		if (set(c, env_keys[i][1], v) != 0) {
			snprintf(why, why_len, "environment: bad value \"%s\" "
					       "for %s",
				 v, env_keys[i][0]);
			return DM_ECONFIG;
		}
	}
	return 0;
}
