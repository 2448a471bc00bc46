/*
 * manifest.c: the rewrite of build.ninja for `dmake ninja` (see ninja.h).
 *
 * Only as much of ninja's syntax is understood as the rewrite needs: the
 * declarations at the left margin, the bindings indented under them,
 * `$`-continued lines, and file-scope variables (an include path may use
 * them).  Every byte that is not a rule's command or an include path is
 * copied as it is, so whatever else the file says keeps its meaning in
 * ninja, not in us.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "../lib/buf.h"
#include "../lib/err.h"
#include "ninja.h"

struct binding {
	SLIST_ENTRY(binding) link;
	char *name, *value;
};

/* A file's variables: include shares its parent's, subninja gets a child
 * scope (ninja's rules). */
struct scope {
	struct scope *parent;
	SLIST_HEAD(, binding) vars;
};

struct ctx {
	const char *dir; /* ninja's working directory ("." for none) */
	const char *outdir;
	const char *top;      /* the top manifest's name, as ninja was told */
	struct dm_buf prefix; /* what goes before each command, escaped */
	struct ninja_wrap *w;
	char *why;
	size_t why_len;
	int depth;
};

#define MAX_DEPTH 64

/* ---- scopes ------------------------------------------------------------- */

static const char *
lookup(const struct scope *s, const char *name, size_t n)
{
	const struct binding *b;

	for (; s != NULL; s = s->parent)
		SLIST_FOREACH(b, &s->vars, link) {
			if (strlen(b->name) == n &&
			    memcmp(b->name, name, n) == 0)
				return b->value;
		}
	return "";
}

static int
bind(struct scope *s, const char *name, size_t n, const char *value)
{
	struct binding *b;

	SLIST_FOREACH(b, &s->vars, link) {
		if (strlen(b->name) == n && memcmp(b->name, name, n) == 0) {
			char *v = strdup(value);

			if (v == NULL)
				return -ENOMEM;
			free(b->value);
			b->value = v;
			return 0;
		}
	}
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -ENOMEM;
	b->name = strndup(name, n);
	b->value = strdup(value);
	if (b->name == NULL || b->value == NULL) {
		free(b->name);
		free(b->value);
		free(b);
		return -ENOMEM;
	}
	SLIST_INSERT_HEAD(&s->vars, b, link);
	return 0;
}

static void
scope_free(struct scope *s)
{
	struct binding *b;

	while ((b = SLIST_FIRST(&s->vars)) != NULL) {
		SLIST_REMOVE_HEAD(&s->vars, link);
		free(b->name);
		free(b->value);
		free(b);
	}
}

static int
is_varchar(char c, int braced)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	       (braced && c == '.');
}

/* Evaluates ninja text from p up to end, or (path mode) up to the first
 * unescaped blank, ':' or '|', into out.  Returns where it stopped. */
static const char *
eval(const struct scope *s, const char *p, const char *end, int path_mode,
     struct dm_buf *out)
{
	while (p < end) {
		char c = *p;

		if (path_mode && (c == ' ' || c == ':' || c == '|' ||
				  c == '\n' || c == '\r'))
			break;
		if (c == '\n' || c == '\r') {
			p++;
			continue;
		}
		if (c != '$') {
			dm_buf_append(out, p++, 1);
			continue;
		}
		p++;
		if (p >= end)
			break;
		c = *p;
		if (c == '$' || c == ' ' || c == ':') {
			dm_buf_append(out, p++, 1);
		} else if (c == '\n' || c == '\r') {
			/* A continuation: the newline and the next line's
			 * indentation vanish. */
			while (p < end && (*p == '\n' || *p == '\r'))
				p++;
			while (p < end && *p == ' ')
				p++;
		} else if (c == '{') {
			const char *n = ++p;

			while (p < end && is_varchar(*p, 1))
				p++;
			dm_buf_appendf(out, "%s",
				       lookup(s, n, (size_t)(p - n)));
			if (p < end && *p == '}')
				p++;
		} else {
			const char *n = p;

			while (p < end && is_varchar(*p, 0))
				p++;
			dm_buf_appendf(out, "%s",
				       lookup(s, n, (size_t)(p - n)));
		}
	}
	return p;
}

/* ---- lines -------------------------------------------------------------- */

/* The end of the logical line starting at p: past its newline, with
 * every `$`-newline continuation inside. */
static const char *
line_end(const char *p, const char *end)
{
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *q;
		size_t dollars = 0;

		if (nl == NULL)
			return end;
		q = nl;
		if (q > p && q[-1] == '\r')
			q--;
		while (q > p && q[-1] == '$') {
			q--;
			dollars++;
		}
		if (dollars % 2 == 0)
			return nl + 1;
		p = nl + 1;
	}
	return end;
}

/* Strips "./" and canonicalizes nothing else: enough to recognise the
 * manifest in a build statement the way generators write it. */
static const char *
plain(const char *path)
{
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	return path;
}

static int
ferr(struct ctx *c, int rc, const char *verb, const char *path)
{
	snprintf(c->why, c->why_len, "cannot %s %s: %s", verb, path,
		 dm_strerror(rc));
	return rc;
}

static int process(struct ctx *c, const char *in, const char *out,
		   struct scope *s);

static int
read_file(const char *path, struct dm_buf *b)
{
	FILE *f = fopen(path, "re");
	char chunk[65536];
	size_t n;
	int rc = 0;

	if (f == NULL)
		return -errno;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if ((rc = dm_buf_append(b, chunk, n)) != 0)
			break;
	if (rc == 0 && ferror(f))
		rc = -EIO;
	fclose(f);
	dm_buf_cstr(b);
	return rc;
}

/* Writes s into out with ninja's escapes, so that it reads back as s. */
static void
append_escaped_path(struct dm_buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '$' || *s == ' ' || *s == ':')
			dm_buf_append(out, "$", 1);
		dm_buf_append(out, s, 1);
	}
}

/* include/subninja: rewrite the named file too, and point the statement
 * at the rewritten copy. */
static int
nested(struct ctx *c, const char *kw, const char *arg, const char *end,
       struct scope *s, struct dm_buf *out)
{
	struct dm_buf path, in;
	struct scope child = {s, SLIST_HEAD_INITIALIZER(child.vars)};
	char dst[PATH_MAX];
	int sub = strcmp(kw, "subninja") == 0, rc;

	dm_buf_init(&path);
	dm_buf_init(&in);
	eval(s, arg, end, 1, &path);
	dm_buf_cstr(&path);
	if (path.len == 0) {
		snprintf(c->why, c->why_len, "%s without a path", kw);
		rc = DM_ECONFIG;
		goto out;
	}
	if (path.p[0] == '/' || strcmp(c->dir, ".") == 0)
		dm_buf_appendf(&in, "%s", (char *)path.p);
	else
		dm_buf_appendf(&in, "%s/%s", c->dir, (char *)path.p);
	snprintf(dst, sizeof(dst), "%s/%u-%s", c->outdir, c->w->files,
		 strrchr((char *)path.p, '/')
			 ? strrchr((char *)path.p, '/') + 1
			 : (char *)path.p);
	rc = process(c, dm_buf_cstr(&in), dst, sub ? &child : s);
	if (sub)
		scope_free(&child);
	if (rc != 0)
		goto out;
	dm_buf_appendf(out, "%s ", kw);
	append_escaped_path(out, dst);
	dm_buf_append(out, "\n", 1);
out:
	dm_buf_free(&path);
	dm_buf_free(&in);
	return rc;
}

/* A build statement: does it output the top manifest? */
static void
check_outputs(struct ctx *c, const char *p, const char *end,
	      const struct scope *s)
{
	struct dm_buf o;

	dm_buf_init(&o);
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		if (p >= end || *p == ':' || *p == '\n')
			break;
		if (*p == '|') {
			p++;
			continue;
		}
		dm_buf_reset(&o);
		p = eval(s, p, end, 1, &o);
		if (o.len > 0 &&
		    strcmp(plain(dm_buf_cstr(&o)), plain(c->top)) == 0)
			c->w->manifest_is_output = 1;
	}
	dm_buf_free(&o);
}

static int
process(struct ctx *c, const char *inpath, const char *outpath,
	struct scope *s)
{
	struct dm_buf in, out;
	const char *p, *end;
	int in_rule = 0, rc = 0;
	FILE *f;

	if (++c->depth > MAX_DEPTH) {
		snprintf(c->why, c->why_len, "includes nested too deep at %s",
			 inpath);
		return DM_ECONFIG;
	}
	dm_buf_init(&in);
	dm_buf_init(&out);
	if ((rc = read_file(inpath, &in)) != 0) {
		ferr(c, rc, "read", inpath);
		goto done;
	}
	c->w->files++;
	p = (const char *)in.p;
	end = p + in.len;
	while (p < end) {
		const char *le = line_end(p, end), *q = p, *kw;
		size_t kwn;

		while (q < le && *q == ' ')
			q++;
		if (q == le || *q == '\n' || *q == '\r' || *q == '#') {
			dm_buf_append(&out, p, (size_t)(le - p));
			p = le;
			continue;
		}
		kw = q;
		while (q < le && is_varchar(*q, 1))
			q++;
		kwn = (size_t)(q - kw);
		if (kw != p) {
			/* A binding under a declaration. */
			const char *v = q;

			while (v < le && *v == ' ')
				v++;
			if (in_rule && kwn == 7 &&
			    memcmp(kw, "command", 7) == 0 && v < le &&
			    *v == '=') {
				v++;
				while (v < le && *v == ' ')
					v++;
				dm_buf_append(&out, p, (size_t)(v - p));
				dm_buf_append(&out, c->prefix.p,
					      c->prefix.len);
				dm_buf_append(&out, v, (size_t)(le - v));
				c->w->rules++;
			} else {
				dm_buf_append(&out, p, (size_t)(le - p));
			}
			p = le;
			continue;
		}
		in_rule = kwn == 4 && memcmp(kw, "rule", 4) == 0;
		while (q < le && *q == ' ')
			q++;
		if ((kwn == 7 && memcmp(kw, "include", 7) == 0) ||
		    (kwn == 8 && memcmp(kw, "subninja", 8) == 0)) {
			char k[9];

			memcpy(k, kw, kwn);
			k[kwn] = '\0';
			if ((rc = nested(c, k, q, le, s, &out)) != 0)
				goto done;
			p = le;
			continue;
		}
		if (kwn == 5 && memcmp(kw, "build", 5) == 0)
			check_outputs(c, q, le, s);
		else if (q < le && *q == '=' &&
			 !(kwn == 4 && memcmp(kw, "rule", 4) == 0)) {
			/* A file-scope variable. */
			struct dm_buf v;

			q++;
			while (q < le && *q == ' ')
				q++;
			dm_buf_init(&v);
			eval(s, q, le, 0, &v);
			rc = bind(s, kw, kwn, dm_buf_cstr(&v));
			dm_buf_free(&v);
			if (rc != 0)
				goto done;
		}
		dm_buf_append(&out, p, (size_t)(le - p));
		p = le;
	}
	if ((f = fopen(outpath, "we")) == NULL) {
		rc = ferr(c, -errno, "write", outpath);
		goto done;
	}
	if (out.len > 0 && fwrite(out.p, 1, out.len, f) != out.len)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc != 0)
		ferr(c, rc, "write", outpath);
done:
	c->depth--;
	dm_buf_free(&in);
	dm_buf_free(&out);
	return rc;
}

int
ninja_wrap_manifest(const char *dir, const char *manifest, const char *outdir,
		    const char *gate, struct ninja_wrap *w, char *why,
		    size_t why_len)
{
	struct ctx c = {0};
	struct scope top = {NULL, SLIST_HEAD_INITIALIZER(top.vars)};
	struct dm_buf in;
	int rc;

	memset(w, 0, sizeof(*w));
	c.dir = dir != NULL && dir[0] != '\0' ? dir : ".";
	c.outdir = outdir;
	c.top = manifest != NULL ? manifest : "build.ninja";
	c.w = w;
	c.why = why;
	c.why_len = why_len;
	/* 'GATE' --ninja; exit;  -- the path quoted for the shell, then
	 * escaped for ninja. */
	dm_buf_init(&c.prefix);
	dm_buf_append(&c.prefix, "'", 1);
	for (const char *g = gate; *g != '\0'; g++) {
		if (*g == '\'')
			dm_buf_appendf(&c.prefix, "'\\''");
		else if (*g == '$')
			dm_buf_appendf(&c.prefix, "$$");
		else
			dm_buf_append(&c.prefix, g, 1);
	}
	dm_buf_append(&c.prefix, "'", 1);
	dm_buf_appendf(&c.prefix, "%s", NINJA_GATE_MARK);
	dm_buf_init(&in);
	if (c.top[0] == '/' || strcmp(c.dir, ".") == 0)
		dm_buf_appendf(&in, "%s", c.top);
	else
		dm_buf_appendf(&in, "%s/%s", c.dir, c.top);
	snprintf(w->out, sizeof(w->out), "%s/build.ninja", outdir);
	rc = process(&c, dm_buf_cstr(&in), w->out, &top);
	scope_free(&top);
	dm_buf_free(&in);
	dm_buf_free(&c.prefix);
	return rc;
}
