/* tcship.c: see tcship.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "../lib/err.h"
#include "../lib/fs.h"
#include "../lib/log.h"
#include "tcship.h"

struct waiter {
	TAILQ_ENTRY(waiter) link;
	void *key;
	tcship_cb cb;
};

/* One toolchain: packed (or found) on the thread pool, once for all the
 * shims that ask while it runs. */
struct pack {
	LIST_ENTRY(pack) link;
	struct tcship *t;
	char *compiler, *name;
	struct dm_toolchain tc;
	int busy; /* work queued or running */
	uv_work_t work;
	/* Results, written by the work, read after it. */
	int rc;
	struct dm_tcarchive a;
	char why[512];
	uint64_t ms;
	TAILQ_HEAD(, waiter) waiters;
};

struct tcship {
	uv_loop_t *loop;
	char dir[PATH_MAX];
	int dir_rc; /* no cache directory: every request fails */
	LIST_HEAD(, pack) packs;
};

int
tcship_new(uv_loop_t *loop, struct tcship **out)
{
	struct tcship *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	t->loop = loop;
	LIST_INIT(&t->packs);
	t->dir_rc = dm_user_cache_path("toolchains", t->dir, sizeof(t->dir));
	*out = t;
	return 0;
}

void
tcship_free(struct tcship *t)
{
	struct pack *p;

	if (t == NULL)
		return;
	while ((p = LIST_FIRST(&t->packs)) != NULL) {
		struct waiter *w;

		LIST_REMOVE(p, link);
		while ((w = TAILQ_FIRST(&p->waiters)) != NULL) {
			TAILQ_REMOVE(&p->waiters, w, link);
			free(w);
		}
		free(p->compiler);
		free(p->name);
		free(p);
	}
	free(t);
}

static void
pack_work(uv_work_t *w)
{
	struct pack *p = w->data;
	uint64_t t0 = uv_hrtime();

	p->why[0] = '\0';
	if (p->t->dir_rc != 0) {
		p->rc = p->t->dir_rc;
		snprintf(p->why, sizeof(p->why),
			 "no cache directory (set XDG_CACHE_HOME or HOME)");
		return;
	}
	p->rc = dm_tcarchive_pack(p->t->dir, p->compiler, p->name, &p->tc,
				  DM_TCARCHIVE_LEVEL, &p->a, p->why,
				  sizeof(p->why));
	p->ms = (uv_hrtime() - t0) / 1000000;
}

static void
pack_done(uv_work_t *w, int status)
{
	struct pack *p = w->data;
	struct waiter *wt;
	char err[640];

	p->busy = 0;
	if (status != 0 && p->rc == 0)
		p->rc = status == UV_ECANCELED ? -ECANCELED : -EIO;
	if (p->rc != 0) {
		snprintf(err, sizeof(err), "cannot pack %s: %s", p->compiler,
			 p->why[0] ? p->why : dm_strerror(p->rc));
		dm_warn("toolchain %.16s: %s", p->tc.id, err);
	} else if (!p->a.reused) {
		dm_info("toolchain %.16s (%s %s %s): packed %u entries, "
			"%llu bytes into %llu in %llu ms: %s",
			p->tc.id, p->tc.role, p->tc.version, p->tc.machine,
			p->a.entries, (unsigned long long)p->a.content,
			(unsigned long long)p->a.size,
			(unsigned long long)p->ms, p->a.path);
	}
	while ((wt = TAILQ_FIRST(&p->waiters)) != NULL) {
		TAILQ_REMOVE(&p->waiters, wt, link);
		wt->cb(wt->key, p->tc.id, p->rc == 0 ? &p->a : NULL,
		       p->rc == 0 ? NULL : err);
		free(wt);
	}
}

int
tcship_get(struct tcship *t, const char *compiler, const char *name,
	   const struct dm_toolchain *tc, void *key, tcship_cb cb)
{
	struct waiter *w;
	struct pack *p;
	int rc;

	LIST_FOREACH(p, &t->packs, link)
		if (strcmp(p->tc.id, tc->id) == 0 &&
		    strcmp(p->compiler, compiler) == 0)
			break;
	if (p == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return -ENOMEM;
		p->t = t;
		p->tc = *tc;
		p->compiler = strdup(compiler);
		p->name = strdup(name);
		TAILQ_INIT(&p->waiters);
		p->work.data = p;
		if (p->compiler == NULL || p->name == NULL) {
			free(p->compiler);
			free(p->name);
			free(p);
			return -ENOMEM;
		}
		LIST_INSERT_HEAD(&t->packs, p, link);
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	w->key = key;
	w->cb = cb;
	TAILQ_INSERT_TAIL(&p->waiters, w, link);
	if (p->busy)
		return 0;
	/* Every request looks again: the archive is checked against the
	 * installation, which may have changed since (a few stat calls). */
	p->busy = 1;
	if ((rc = uv_queue_work(t->loop, &p->work, pack_work, pack_done)) !=
	    0) {
		p->busy = 0;
		TAILQ_REMOVE(&p->waiters, w, link);
		free(w);
		return -EIO;
	}
	return 0;
}

void
tcship_cancel(struct tcship *t, void *key)
{
	struct pack *p;

	LIST_FOREACH(p, &t->packs, link) {
		struct waiter *w, *next;

		for (w = TAILQ_FIRST(&p->waiters); w != NULL; w = next) {
			next = TAILQ_NEXT(w, link);
			if (w->key == key) {
				TAILQ_REMOVE(&p->waiters, w, link);
				free(w);
			}
		}
	}
}
