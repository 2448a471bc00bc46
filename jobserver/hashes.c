/* hashes.c: see hashes.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashes.h"

struct entry {
	uint8_t key[DM_HASH_KEY];
	uint8_t hash[32];
	int used;
};

struct hashes {
	struct entry *v; /* open addressing, linear probing */
	size_t cap, n;
};

/* FNV-1a over the key: device and inode vary most. */
static size_t
slot_of(const struct hashes *h, const uint8_t *key)
{
	uint64_t x = 14695981039346656037ull;

	for (size_t i = 0; i < DM_HASH_KEY; i++)
		x = (x ^ key[i]) * 1099511628211ull;
	return (size_t)(x & (h->cap - 1));
}

struct hashes *
hashes_new(void)
{
	struct hashes *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->cap = 4096;
	if ((h->v = calloc(h->cap, sizeof(*h->v))) == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

void
hashes_free(struct hashes *h)
{
	if (h == NULL)
		return;
	free(h->v);
	free(h);
}

static struct entry *
find(const struct hashes *h, const uint8_t *key)
{
	for (size_t i = slot_of(h, key);; i = (i + 1) & (h->cap - 1)) {
		struct entry *e = &h->v[i];

		if (!e->used || memcmp(e->key, key, DM_HASH_KEY) == 0)
			return e;
	}
}

void
hashes_lookup(struct hashes *h, const uint8_t *keys, size_t n, uint8_t *out,
	      uint8_t *known)
{
	memset(known, 0, (n + 7) / 8);
	for (size_t i = 0; i < n; i++) {
		const struct entry *e = find(h, keys + i * DM_HASH_KEY);

		if (e->used) {
			memcpy(out + i * 32, e->hash, 32);
			known[i / 8] |= (uint8_t)(1u << (i % 8));
		} else {
			memset(out + i * 32, 0, 32);
		}
	}
}

static int
grow(struct hashes *h)
{
	struct entry *old = h->v;
	size_t oldcap = h->cap;

	if ((h->v = calloc(oldcap * 2, sizeof(*h->v))) == NULL) {
		h->v = old;
		return -ENOMEM;
	}
	h->cap = oldcap * 2;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].used)
			*find(h, old[i].key) = old[i];
	free(old);
	return 0;
}

int
hashes_put(struct hashes *h, const uint8_t *keys, const uint8_t *hashes,
	   size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct entry *e;
		int rc;

		if (h->n >= DM_HASHES_MAX) { /* start over */
			memset(h->v, 0, h->cap * sizeof(*h->v));
			h->n = 0;
		}
		if ((h->n + 1) * 2 > h->cap && (rc = grow(h)) != 0)
			return rc;
		e = find(h, keys + i * DM_HASH_KEY);
		if (!e->used) {
			h->n++;
			e->used = 1;
			memcpy(e->key, keys + i * DM_HASH_KEY, DM_HASH_KEY);
		}
		memcpy(e->hash, hashes + i * 32, 32);
	}
	return 0;
}

size_t
hashes_count(const struct hashes *h)
{
	return h->n;
}
