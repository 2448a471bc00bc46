/*
 * config.h: the settings a build's programs share.
 *
 * Precedence (lowest first): /etc/dmake/dmake.conf (DM_SYSCONFDIR),
 * ~/.config/dmake/dmake.conf ($XDG_CONFIG_HOME), the environment
 * (DMAKE_SCHEDULER, DMAKE_KEY_FILE, DMAKE_LOCAL_SLOTS, DMAKE_PLACEMENT,
 * DMAKE_SHIP_TOOLCHAINS), then each program's options, which the program
 * applies itself.
 *
 * INI keys, in no section or in [dmake]: scheduler, key_file,
 * local_slots, placement, ship_toolchains (yes|no), compilers (dmaked:
 * more compilers to offer, names or paths separated by spaces).
 */
#ifndef DM_CONFIG_H
#define DM_CONFIG_H

#include <limits.h>

enum dm_placement { DM_PLACE_AUTO, DM_PLACE_REMOTE, DM_PLACE_LOCAL };

struct dm_config {
	char scheduler[256]; /* "" = none: everything runs locally */
	char key_file[PATH_MAX];
	int local_slots; /* 0 = the CPU count */
	enum dm_placement placement;
	/* 1: a node that lacks a compiler is not sent its toolchain
	 * archive (ship_toolchains = no); such jobs go only to nodes that
	 * have the compiler. */
	int no_ship;
	char compilers[1024]; /* dmaked: more compilers to offer */
};

/* Fills c from files and environment.  A malformed value returns
 * -DM_ECONFIG with why (a sentence naming file, key and value). */
int dm_config_load(struct dm_config *c, char *why, size_t why_len);
int dm_config_parse_placement(const char *s, enum dm_placement *p);
/* The CPU count available to this process (sched_getaffinity). */
int dm_cpu_count(void);

#endif
