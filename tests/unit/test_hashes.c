/*
 * test_hashes.c: the coordinator's memory of header hashes
 * (jobserver/hashes.h): what was put is found by its key, a key never
 * put is not, a second put replaces, and the table grows.
 */
#include <stdlib.h>
#include <string.h>

#include "../../jobserver/hashes.h"
#include "tap.h"

static void
key_of(uint32_t i, uint8_t *key)
{
	memset(key, 0, DM_HASH_KEY);
	memcpy(key + 8, &i, sizeof(i)); /* the inode */
	key[39] = 7;
}

static void
hash_of(uint32_t i, uint8_t gen, uint8_t *h)
{
	memset(h, gen, 32);
	memcpy(h, &i, sizeof(i));
}

TEST(hashes_remembers_by_key)
{
	enum { N = 10000 };
	struct hashes *h = hashes_new();
	uint8_t *keys = malloc((size_t)N * DM_HASH_KEY);
	uint8_t *hs = malloc((size_t)N * 32), *out = malloc((size_t)N * 32);
	uint8_t known[N / 8 + 1], want[32];

	ASSERT_TRUE(h != NULL && keys != NULL && hs != NULL && out != NULL);
	for (uint32_t i = 0; i < N; i++) {
		key_of(i, keys + (size_t)i * DM_HASH_KEY);
		hash_of(i, 1, hs + (size_t)i * 32);
	}
	/* nothing yet */
	hashes_lookup(h, keys, 3, out, known);
	ASSERT_EQ_INT(known[0], 0);
	/* the even ones, past the first table size */
	for (uint32_t i = 0; i < N; i += 2)
		ASSERT_OK(hashes_put(h, keys + (size_t)i * DM_HASH_KEY,
				     hs + (size_t)i * 32, 1));
	ASSERT_EQ_INT(hashes_count(h), N / 2);
	hashes_lookup(h, keys, N, out, known);
	for (uint32_t i = 0; i < N; i++) {
		int k = (known[i / 8] >> (i % 8)) & 1;

		ASSERT_EQ_INT(k, (int)(i % 2 == 0));
		if (k)
			ASSERT_TRUE(memcmp(out + (size_t)i * 32,
					   hs + (size_t)i * 32, 32) == 0);
	}
	/* a second put of a key replaces its hash, adds no entry */
	hash_of(4, 9, want);
	ASSERT_OK(hashes_put(h, keys + 4 * DM_HASH_KEY, want, 1));
	ASSERT_EQ_INT(hashes_count(h), N / 2);
	hashes_lookup(h, keys + 4 * DM_HASH_KEY, 1, out, known);
	ASSERT_EQ_INT(known[0], 1);
	ASSERT_TRUE(memcmp(out, want, 32) == 0);
	/* one byte of the key differs: another file */
	keys[4 * DM_HASH_KEY + 39] ^= 1;
	hashes_lookup(h, keys + 4 * DM_HASH_KEY, 1, out, known);
	ASSERT_EQ_INT(known[0], 0);
	hashes_free(h);
	free(keys);
	free(hs);
	free(out);
}
