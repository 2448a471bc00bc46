/*
 * unit.c: the preprocessed unit, made ready for the node.
 *
 * gcc -E -fdirectives-only starts its output with what the node's gcc
 * adds again by itself when it compiles the unit as an ordinary source
 * with the original flags: a `<built-in>` section (the predefined
 * macros), a `<command-line>` section (the -D/-U macros) and the implicit
 * include of stdc-predef.h.  Left in, the unit still compiles, but the
 * debug information differs from the local object's; removed, the node
 * builds the same state the local compiler had (measured: byte-identical
 * objects, DESIGN.md).  Files named by -include and -imacros stay, with
 * their `<command-line>` line markers, so that line numbers, include
 * nesting and __FILE__ come out as they do locally.  Under -g gcc also
 * writes the working directory as the second line (`# 1 "/cwd//"`),
 * which only means something to a -fpreprocessed compile: dropped.
 *
 * clang -E -frewrite-includes needs no change (measured): its -include
 * files sit in a `<built-in>` section that the node's clang, given the
 * unit without -include, reads as the same file names and lines.
 */
#include <string.h>

#include "unit.h"

enum { S_KEEP, S_DROP };

/* Overlong lines are never markers: their fate is decided once. */
enum { LONG_NONE, LONG_KEEP, LONG_DROP };

struct marker {
	const char *name; /* inside the quotes, escapes left as they are */
	size_t name_len;
	int enter, leave; /* flags 1 and 2 */
};

/* Parses `# LINE "NAME" FLAGS...`; returns 0 if the line is not one. */
static int
parse_marker(const char *s, size_t n, struct marker *m)
{
	size_t i = 2;

	if (n < 5 || s[0] != '#' || s[1] != ' ' || s[2] < '0' || s[2] > '9')
		return 0;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i + 1 >= n || s[i] != ' ' || s[i + 1] != '"')
		return 0;
	i += 2;
	m->name = s + i;
	while (i < n && s[i] != '"') {
		if (s[i] == '\\')
			i++;
		i++;
	}
	if (i >= n)
		return 0;
	m->name_len = (size_t)(s + i - m->name);
	m->enter = m->leave = 0;
	for (i++; i < n; i++) {
		if (s[i] == ' ' || s[i] == '\n' || s[i] == '\r')
			continue;
		if (s[i] == '1')
			m->enter = 1;
		else if (s[i] == '2')
			m->leave = 1;
		else if (s[i] != '3' && s[i] != '4')
			return 0;
	}
	return 1;
}

static int
name_is(const struct marker *m, const char *name)
{
	return m->name_len == strlen(name) &&
	       memcmp(m->name, name, m->name_len) == 0;
}

static int
name_ends(const struct marker *m, const char *suffix)
{
	size_t n = strlen(suffix);

	return m->name_len >= n &&
	       memcmp(m->name + m->name_len - n, suffix, n) == 0;
}

static int
emit(struct unit_filter *f, const void *p, size_t n)
{
	static const char cmdline[] = "# 0 \"<command-line>\"\n";
	int rc;

	if (f->pending) {
		f->pending = 0;
		if ((rc = f->out(f->arg, cmdline, sizeof(cmdline) - 1)) != 0)
			return rc;
	}
	return n > 0 ? f->out(f->arg, p, n) : 0;
}

/* One whole line (with its newline, if it had one) of gcc's output. */
static int
gcc_line(struct unit_filter *f, const char *s, size_t n)
{
	struct marker m;

	f->lineno++;
	if (!parse_marker(s, n, &m)) {
		if (f->skip > 0 || f->state == S_DROP)
			return 0;
		return emit(f, s, n);
	}
	if (f->skip > 0) {
		/* Inside the implicit stdc-predef.h: follow its nesting. */
		f->skip += m.enter - m.leave;
		return 0;
	}
	if (name_is(&m, "<built-in>")) {
		f->state = S_DROP;
		return 0;
	}
	if (name_is(&m, "<command-line>")) {
		f->state = S_DROP;
		if (!m.enter && !m.leave) {
			/* Written only if an -include follows. */
			f->pending = 1;
			return 0;
		}
		return emit(f, s, n);
	}
	if (f->lineno == 2 && !m.enter && !m.leave && name_ends(&m, "//"))
		return 0;
	if (f->state == S_DROP && m.enter && name_ends(&m, "/stdc-predef.h")) {
		f->skip = 1;
		return 0;
	}
	f->state = S_KEEP;
	if (!m.enter)
		f->pending = 0; /* a rename: the marker would say nothing */
	return emit(f, s, n);
}

static int
line(struct unit_filter *f, const char *s, size_t n)
{
	if (f->family == ARGS_CLANG)
		return f->out(f->arg, s, n);
	return gcc_line(f, s, n);
}

void
unit_filter_init(struct unit_filter *f, enum args_family family,
		 unit_out_fn out, void *arg)
{
	memset(f, 0, sizeof(*f));
	f->family = family;
	f->out = out;
	f->arg = arg;
	f->state = S_KEEP;
}

int
unit_filter_feed(struct unit_filter *f, const void *p, size_t n)
{
	const char *s = p, *end = s + n;
	int rc;

	if (f->family == ARGS_CLANG)
		return n > 0 ? f->out(f->arg, p, n) : 0;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t take = nl ? (size_t)(nl - s) + 1 : (size_t)(end - s);

		if (f->overlong != LONG_NONE) {
			/* The rest of a line too long to be a marker. */
			if (f->overlong == LONG_KEEP &&
			    (rc = emit(f, s, take)) != 0)
				return rc;
			if (nl != NULL)
				f->overlong = LONG_NONE;
			s += take;
			continue;
		}
		if (f->len + take > sizeof(f->line)) {
			/* Decide on what we have: not a marker. */
			size_t fit = sizeof(f->line) - f->len;

			memcpy(f->line + f->len, s, fit);
			f->len += fit;
			f->lineno++;
			f->overlong = (f->skip > 0 || f->state == S_DROP)
					      ? LONG_DROP
					      : LONG_KEEP;
			if (f->overlong == LONG_KEEP &&
			    (rc = emit(f, f->line, f->len)) != 0)
				return rc;
			f->len = 0;
			s += fit;
			continue;
		}
		memcpy(f->line + f->len, s, take);
		f->len += take;
		s += take;
		if (nl != NULL) {
			rc = line(f, f->line, f->len);
			f->len = 0;
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

int
unit_filter_finish(struct unit_filter *f)
{
	int rc = 0;

	if (f->family != ARGS_CLANG && f->len > 0 && f->overlong == LONG_NONE)
		rc = line(f, f->line, f->len);
	f->len = 0;
	f->overlong = LONG_NONE;
	return rc;
}
