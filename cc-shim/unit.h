/*
 * unit.h: the preprocessed unit, made ready for the node.
 *
 * A streaming filter over the preprocessor's output: it removes what the
 * node's compiler would add again itself (gcc's `<built-in>` and
 * `<command-line>` sections of a -fdirectives-only unit), so that the
 * unit compiled as an ordinary source with the original flags gives the
 * local object byte for byte.  Feeds may split lines anywhere.
 */
#ifndef DM_UNIT_H
#define DM_UNIT_H

#include <stddef.h>

#include "args.h"

typedef int (*unit_out_fn)(void *arg, const void *p, size_t n);

struct unit_filter {
	enum args_family family;
	unit_out_fn out;
	void *arg;
	/* private */
	int state;
	char line[8192];
	size_t len;
	int overlong;
	int skip;	      /* depth inside an include being removed */
	int pending;	      /* a `<command-line>` marker not yet written */
	unsigned long lineno; /* lines seen so far */
};

void unit_filter_init(struct unit_filter *f, enum args_family family,
		      unit_out_fn out, void *arg);
int unit_filter_feed(struct unit_filter *f, const void *p, size_t n);
int unit_filter_finish(struct unit_filter *f);

#endif
