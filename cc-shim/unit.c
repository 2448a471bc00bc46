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
 *
 * Relocation (gcc).  gcc prints the source line under a diagnostic, and
 * computes its column, by reading the file the location names from disk
 * (measured: with no files on the node the excerpts are missing, or come
 * from the unit itself for the main file, and columns after a tab are
 * wrong).  clang reads them from the buffers it compiled, which in a
 * -frewrite-includes unit are the original lines: nothing to do.  So a
 * gcc unit travels with the original files, laid out on the node at the
 * names its line markers use: relative names as they are (the job's cwd
 * is deep enough for every "../"), absolute ones under UNIT_ABS_DIR.  The
 * unit itself goes elsewhere (UNIT_MAIN_DIR), since the main file's name
 * must read as the original source; the prefix maps of unit_node_job()
 * make the object name it as the local compile does (measured: -O2, -g,
 * -gdwarf-4 byte-identical; -g3 records the main file twice, which is
 * why args.c keeps gcc -g3 here).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/jobdir.h"
#include "unit.h"

enum { S_KEEP, S_DROP };

/* Overlong lines are never markers: their fate is decided once. */
enum { LONG_NONE, LONG_KEEP, LONG_DROP };

/* The states of the token scanner (scan_feed). */
enum {
	L_CODE,
	L_SLASH,    /* a '/' that may start a comment */
	L_LINE,	    /* // comment */
	L_BLOCK,    /* block comment */
	L_STAR,	    /* a '*' in a block comment */
	L_STR,	    /* "..." */
	L_CHR,	    /* '...' */
	L_NUM,	    /* a pp-number */
	L_RAWDELIM, /* R"delim( */
	L_RAW,	    /* the body of a raw string */
};

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

static void scan_feed(struct unit_filter *f, const char *p, size_t n);
static void ident_end(struct unit_filter *f);

/* Everything the filter writes goes through here. */
static int
put(struct unit_filter *f, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (f->time_uses != 7 || !f->counter)
		scan_feed(f, p, n);
	return f->out(f->arg, p, n);
}

static int
emit(struct unit_filter *f, const void *p, size_t n)
{
	static const char cmdline[] = "# 0 \"<command-line>\"\n";
	int rc;

	if (f->pending) {
		f->pending = 0;
		if ((rc = put(f, cmdline, sizeof(cmdline) - 1)) != 0)
			return rc;
	}
	return put(f, p, n);
}

static int note_file(struct unit_filter *f, const struct marker *m);

/* A kept line marker, its name relocated when it is absolute. */
static int
emit_marker(struct unit_filter *f, const char *s, size_t n,
	    const struct marker *m)
{
	size_t head = (size_t)(m->name - s);
	int rc;

	if (f->files == NULL)
		return emit(f, s, n);
	if ((rc = note_file(f, m)) != 0)
		return rc;
	if (m->name_len == 0 || m->name[0] != '/')
		return emit(f, s, n);
	if ((rc = emit(f, s, head)) != 0 ||
	    (rc = put(f, UNIT_ABS_DIR, sizeof(UNIT_ABS_DIR) - 1)) != 0)
		return rc;
	return put(f, s + head, n - head);
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
		if (f->files != NULL && m.leave && f->files->depth > 0)
			f->files->depth--;
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
	return emit_marker(f, s, n, &m);
}

static int
line(struct unit_filter *f, const char *s, size_t n)
{
	if (f->family == ARGS_CLANG)
		return put(f, s, n);
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

void
unit_filter_relocate(struct unit_filter *f, struct unit_files *files)
{
	if (f->family == ARGS_GCC)
		f->files = files;
}

int
unit_filter_feed(struct unit_filter *f, const void *p, size_t n)
{
	const char *s = p, *end = s + n;
	int rc;

	if (f->family == ARGS_CLANG)
		return put(f, p, n);
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
	/* a unit that ends in a name */
	if (f->scan.state == L_CODE && f->scan.ident_len > 0)
		ident_end(f);
	f->scan.ident_len = 0;
	if (rc == 0 && f->nomem)
		rc = -ENOMEM;
	return rc;
}

/* ---- the files a relocated unit names ----------------------------------- */

/* A marker's name as a string: \\ \" and \n are gcc's escapes. */
static char *
unescape(const char *p, size_t n)
{
	char *s = malloc(n + 1), *d = s;

	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n) {
			i++;
			*d++ = p[i] == 'n' ? '\n' : p[i];
		} else {
			*d++ = p[i];
		}
	}
	*d = '\0';
	return s;
}

static uint64_t
hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The index of name in u, or u->n when absent (and *slot where it would
 * go). */
static size_t
find_file(const struct unit_files *u, const char *name, size_t *slot)
{
	size_t i = u->nslot ? hash_name(name) & (u->nslot - 1) : 0;

	if (u->nslot == 0)
		return u->n;
	while (u->slot[i] != 0) {
		if (strcmp(u->v[u->slot[i] - 1].name, name) == 0)
			return u->slot[i] - 1;
		i = (i + 1) & (u->nslot - 1);
	}
	*slot = i;
	return u->n;
}

static int
grow_files(struct unit_files *u)
{
	size_t nslot = u->nslot ? u->nslot * 2 : 64, k;
	size_t *slot = calloc(nslot, sizeof(*slot));
	struct unit_file *v;

	if (slot == NULL)
		return -ENOMEM;
	v = realloc(u->v, (nslot / 2) * sizeof(*v));
	if (v == NULL) {
		free(slot);
		return -ENOMEM;
	}
	u->v = v;
	u->cap = nslot / 2;
	free(u->slot);
	u->slot = slot;
	u->nslot = nslot;
	for (size_t i = 0; i < u->n; i++) {
		k = hash_name(u->v[i].name) & (nslot - 1);
		while (slot[k] != 0)
			k = (k + 1) & (nslot - 1);
		slot[k] = i + 1;
	}
	return 0;
}

static int
note_file(struct unit_filter *f, const struct marker *m)
{
	struct unit_files *u = f->files;
	struct unit_file *e;
	int top = m->enter && u->depth == 0;
	size_t i, slot = 0;
	char *name;

	if (m->enter)
		u->depth++;
	if (m->leave && u->depth > 0)
		u->depth--;
	if (m->name_len == 0 || m->name[0] == '<')
		return 0;
	if ((name = unescape(m->name, m->name_len)) == NULL)
		goto nomem;
	if ((i = find_file(u, name, &slot)) < u->n) {
		u->v[i].included |= top;
		free(name);
		return 0;
	}
	if (u->n + 1 > u->cap || u->n + 1 > u->nslot / 2) {
		if (grow_files(u) != 0) {
			free(name);
			goto nomem;
		}
		find_file(u, name, &slot);
	}
	e = &u->v[u->n];
	e->name = name;
	e->included = top;
	if (name[0] == '/') {
		e->node = malloc(strlen(name) + sizeof(UNIT_ABS_DIR));
		if (e->node != NULL)
			sprintf(e->node, "%s%s", UNIT_ABS_DIR, name);
	} else {
		e->node = strdup(name);
		if (dm_jobdir_levels_above(name) > u->levels)
			u->levels = dm_jobdir_levels_above(name);
	}
	if (e->node == NULL) {
		free(name);
		goto nomem;
	}
	u->slot[slot] = ++u->n;
	return 0;
nomem:
	f->nomem = 1;
	return -ENOMEM;
}

void
unit_files_free(struct unit_files *u)
{
	for (size_t i = 0; i < u->n; i++) {
		free(u->v[i].name);
		free(u->v[i].node);
	}
	free(u->v);
	free(u->slot);
	memset(u, 0, sizeof(*u));
}

/* ---- __DATE__, __TIME__, __TIMESTAMP__ -------------------------------- */

/* A small lexer, enough to tell identifiers from comments and literals
 * (raw strings included: their text may hold anything).  A name inside a
 * #define that is never used still counts: the compile stays here, which
 * is never wrong. */

static int
ident_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

static int
raw_prefix(const struct unit_scan *sc)
{
	static const char *const p[] = {"R", "LR", "uR", "UR", "u8R"};

	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		if (!sc->ident_long && sc->ident_len == strlen(p[i]) &&
		    memcmp(sc->ident, p[i], sc->ident_len) == 0)
			return 1;
	return 0;
}

/* The identifier just ended. */
static void
ident_end(struct unit_filter *f)
{
	static const char *const names[] = {"__DATE__", "__TIME__",
					    "__TIMESTAMP__"};
	struct unit_scan *sc = &f->scan;

	if (!sc->ident_long && sc->ident_len == 11 &&
	    memcmp(sc->ident, "__COUNTER__", 11) == 0)
		f->counter = 1;
	if (sc->ident_long)
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (sc->ident_len != strlen(names[i]) ||
		    memcmp(sc->ident, names[i], sc->ident_len) != 0)
			continue;
		f->time_uses |= 1 << i;
		if (f->time_macro[0] == '\0')
			snprintf(f->time_macro, sizeof(f->time_macro), "%s",
				 names[i]);
	}
}

static void
scan_feed(struct unit_filter *f, const char *p, size_t n)
{
	struct unit_scan *sc = &f->scan;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		switch (sc->state) {
		case L_SLASH:
			if (c == '/') {
				sc->state = L_LINE;
				continue;
			}
			if (c == '*') {
				sc->state = L_BLOCK;
				continue;
			}
			sc->state = L_CODE;
			break; /* c is code */
		case L_LINE: {
			/* Fast to the last two bytes before the newline (or
			 * the chunk's end): they and the newline say whether
			 * it is escaped ("\\\n", "\\\r\n"). */
			const char *nl = memchr(p + i, '\n', n - i);
			size_t end = nl != NULL ? (size_t)(nl - p) : n;

			if (end > i + 2) {
				i = end - 2;
				c = (unsigned char)p[i];
				sc->esc = 0;
			}
			if (c == '\n' && !sc->esc)
				sc->state = L_CODE;
			sc->esc = c == '\\' || (sc->esc && c == '\r');
			continue;
		}
		case L_BLOCK: {
			/* Fast to the next '*'. */
			const char *star = memchr(p + i, '*', n - i);

			if (star == NULL) {
				i = n;
				continue;
			}
			i = (size_t)(star - p);
			sc->state = L_STAR;
			continue;
		}
		case L_STAR:
			sc->state = c == '*' ? L_STAR
				    : sc->state == L_STAR && c == '/'
					    ? L_CODE
					    : L_BLOCK;
			continue;
		case L_STR:
		case L_CHR:
			if (sc->esc)
				sc->esc = 0;
			else if (c == '\\')
				sc->esc = 1;
			else if (c == '\n' ||
				 c == (sc->state == L_STR ? '"' : '\''))
				sc->state = L_CODE;
			continue;
		case L_NUM:
			/* digits, letters, '.', "e+" and kin, and C++14's
			 * digit separator */
			if (ident_char(c) || c == '.' || c == '\'' ||
			    ((c == '+' || c == '-') &&
			     (sc->prefix == 'e' || sc->prefix == 'E' ||
			      sc->prefix == 'p' || sc->prefix == 'P'))) {
				sc->prefix = c;
				continue;
			}
			sc->state = L_CODE;
			break;
		case L_RAWDELIM:
			if (c == '(') {
				sc->state = L_RAW;
				sc->match = 0;
				continue;
			}
			if (c == ' ' || c == ')' || c == '\\' || c == '\t' ||
			    c == '\n' || sc->delim_len >= 16) {
				/* not a raw string after all */
				sc->state = c == '\n' ? L_CODE : L_STR;
				continue;
			}
			sc->delim[sc->delim_len++] = (char)c;
			continue;
		case L_RAW:
			/* the end is )delim" */
			if (sc->match == 0) {
				if (c == ')')
					sc->match = 1;
			} else if (sc->match <= sc->delim_len) {
				if (c ==
				    (unsigned char)sc->delim[sc->match - 1])
					sc->match++;
				else
					sc->match = c == ')' ? 1 : 0;
			} else if (c == '"') {
				sc->state = L_CODE;
			} else {
				sc->match = c == ')' ? 1 : 0;
			}
			continue;
		default:
			break;
		}
		/* L_CODE, maybe inside an identifier */
		if (ident_char(c) && (sc->ident_len > 0 || sc->ident_long ||
				      !(c >= '0' && c <= '9'))) {
			if (sc->ident_len < sizeof(sc->ident))
				sc->ident[sc->ident_len++] = (char)c;
			else
				sc->ident_long = 1;
			continue;
		}
		if (sc->ident_len > 0 || sc->ident_long) {
			int raw = c == '"' && raw_prefix(sc);

			ident_end(f);
			sc->ident_len = 0;
			sc->ident_long = 0;
			if (raw) {
				sc->state = L_RAWDELIM;
				sc->delim_len = 0;
				continue;
			}
		}
		sc->esc = 0;
		if (c == '/')
			sc->state = L_SLASH;
		else if (c == '"')
			sc->state = L_STR;
		else if (c == '\'')
			sc->state = L_CHR;
		else if (c >= '0' && c <= '9') {
			sc->state = L_NUM;
			sc->prefix = c;
		} else if (c == '.' && i + 1 < n && p[i + 1] >= '0' &&
			   p[i + 1] <= '9') {
			sc->state = L_NUM;
			sc->prefix = c;
		}
	}
}

/* ---- the node's source name and flags ---------------------------------- */

static int
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The value of a user's prefix map of the given kind (1 debug, 2
 * macro), or NULL. */
static const char *
user_map(const char *flag, int kind)
{
	if ((kind & 1) && starts(flag, "-fdebug-prefix-map="))
		flag += 19;
	else if ((kind & 2) && starts(flag, "-fmacro-prefix-map="))
		flag += 19;
	else if (starts(flag, "-ffile-prefix-map="))
		flag += 18;
	else
		return NULL;
	return strchr(flag, '=') != NULL ? flag : NULL;
}

/* path after the user's maps of that kind, as gcc applies them: the
 * last matching map given. */
static char *
remap(const char *path, char *const *flags, size_t n, int kind)
{
	const char *best = NULL;
	size_t best_len = 0;
	char *out;

	for (size_t i = 0; i < n; i++) {
		const char *m = user_map(flags[i], kind);
		size_t old;

		if (m == NULL)
			continue;
		old = (size_t)(strchr(m, '=') - m);
		if (old > 0 && strncmp(path, m, old) == 0) {
			best = m;
			best_len = old;
		}
	}
	if (best == NULL)
		return strdup(path);
	if ((out = malloc(strlen(best) + strlen(path) + 1)) != NULL)
		sprintf(out, "%s%s", best + best_len + 1, path + best_len);
	return out;
}

struct strv {
	char **v;
	size_t n, cap;
	int nomem;
};

static void
strv_add(struct strv *s, char *str)
{
	if (str != NULL && s->n + 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		char **v = realloc(s->v, cap * sizeof(*v));

		if (v == NULL) {
			free(str);
			str = NULL;
		} else {
			s->v = v;
			s->cap = cap;
		}
	}
	if (str == NULL) {
		s->nomem = 1;
		return;
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

static char *
cat3(const char *a, const char *b, const char *c)
{
	char *s = malloc(strlen(a) + strlen(b) + strlen(c) + 1);

	if (s != NULL)
		sprintf(s, "%s%s%s", a, b, c);
	return s;
}

/* The maps of one kind: the unit's name to the source's, every name
 * under UNIT_ABS_DIR back to its absolute name, and the user's maps of
 * absolute names again for those (gcc tries the last map first). */
static void
kind_maps(struct strv *out, const struct args *a, const char *src,
	  const char *flag, int kind)
{
	char *orig =
		remap(a->source, a->remote_flags, a->n_remote_flags, kind);
	char *old;

	if (orig == NULL) {
		out->nomem = 1;
		return;
	}
	old = cat3(src, "=", orig);
	strv_add(out, old ? cat3(flag, old, "") : NULL);
	free(old);
	free(orig);
	strv_add(out, cat3(flag, UNIT_ABS_DIR, "="));
	for (size_t i = 0; i < a->n_remote_flags; i++) {
		const char *m = user_map(a->remote_flags[i], kind);

		if (m != NULL && m[0] == '/') {
			old = cat3(UNIT_ABS_DIR, m, "");
			strv_add(out, old ? cat3(flag, old, "") : NULL);
			free(old);
		}
	}
}

int
unit_node_job(const struct args *a, const struct unit_files *u, char **source,
	      char ***flags, size_t *n_flags)
{
	struct strv out = {0};
	const char *base = strrchr(a->source, '/');
	int levels = u->levels;
	char *src;

	base = base ? base + 1 : a->source;
	if (a->source[0] != '/' && dm_jobdir_levels_above(a->source) > levels)
		levels = dm_jobdir_levels_above(a->source);
	src = malloc((size_t)levels * 3 + sizeof(UNIT_MAIN_DIR) +
		     strlen(base) + 2);
	if (src == NULL)
		return -ENOMEM;
	src[0] = '\0';
	for (int i = 0; i < levels; i++)
		strcat(src, "../");
	strcat(src, UNIT_MAIN_DIR "/");
	strcat(src, base);
	for (size_t i = 0; i < a->n_remote_flags; i++)
		strv_add(&out, strdup(a->remote_flags[i]));
	kind_maps(&out, a, src, "-fdebug-prefix-map=", 1);
	kind_maps(&out, a, src, "-fmacro-prefix-map=", 2);
	if (out.nomem) {
		args_argv_free(out.v);
		free(src);
		return -ENOMEM;
	}
	*source = src;
	*flags = out.v;
	*n_flags = out.n;
	return 0;
}

/* ---- the node's names in the compiler's output --------------------------- */

void
unit_unname_init(struct unit_unname *u, const char *node_source,
		 const char *source, unit_out_fn out, void *arg)
{
	memset(u, 0, sizeof(*u));
	u->out = out;
	u->arg = arg;
	u->from[0] = UNIT_ABS_DIR "/";
	u->to[0] = "/";
	if (node_source != NULL && strlen(node_source) < 4096) {
		u->from[1] = node_source;
		u->to[1] = source;
	}
}

/* Writes buf[0..n) with substitutions; keeps back the tail that may be
 * the start of a name, unless last. */
static int
unname_run(struct unit_unname *u, const char *buf, size_t n, int last,
	   size_t *kept)
{
	size_t done = 0, maxlen = 0;
	int rc;

	for (int k = 0; k < 2; k++)
		if (u->from[k] != NULL && strlen(u->from[k]) > maxlen)
			maxlen = strlen(u->from[k]);
	for (;;) {
		const char *best = NULL;
		int which = -1;

		for (int k = 0; k < 2; k++) {
			const char *hit;

			if (u->from[k] == NULL)
				continue;
			hit = memmem(buf + done, n - done, u->from[k],
				     strlen(u->from[k]));
			if (hit != NULL &&
			    (best == NULL || hit < best ||
			     (hit == best &&
			      strlen(u->from[k]) > strlen(u->from[which])))) {
				best = hit;
				which = k;
			}
		}
		if (best == NULL)
			break;
		if ((rc = u->out(u->arg, buf + done,
				 (size_t)(best - (buf + done)))) != 0)
			return rc;
		if ((rc = u->out(u->arg, u->to[which],
				 strlen(u->to[which]))) != 0)
			return rc;
		done = (size_t)(best - buf) + strlen(u->from[which]);
	}
	/* Only the last maxlen - 1 bytes can hold the start of a name. */
	*kept = last ? 0 : n - done < maxlen - 1 ? n - done : maxlen - 1;
	return u->out(u->arg, buf + done, n - done - *kept);
}

int
unit_unname_feed(struct unit_unname *u, const void *p, size_t n)
{
	const char *s = p;
	char buf[sizeof(u->carry) + 65536];
	int rc;

	while (n > 0) {
		size_t take = n > 65536 ? 65536 : n, kept;

		memcpy(buf, u->carry, u->len);
		memcpy(buf + u->len, s, take);
		if ((rc = unname_run(u, buf, u->len + take, 0, &kept)) != 0)
			return rc;
		memcpy(u->carry, buf + u->len + take - kept, kept);
		u->len = kept;
		s += take;
		n -= take;
	}
	return 0;
}

int
unit_unname_finish(struct unit_unname *u)
{
	size_t kept;
	char buf[sizeof(u->carry)];
	int rc;

	memcpy(buf, u->carry, u->len);
	rc = unname_run(u, buf, u->len, 1, &kept);
	u->len = 0;
	return rc;
}
