/*
 * test_wire.c: the codec, walked generically over every declared message:
 * round trips, each bounded field at its limit and one past it (on both
 * the encoding and the decoding side), truncated and corrupted frames.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/err.h"
#include "../../lib/wire.h"
#include "tap.h"

#define AT(msg, off, T) (*(T *)((char *)(msg) + (off)))

/* Fills every field of a message with recognisable values; the field
 * `big` (or none, when big is past the end) gets `big_len` bytes.  Memory
 * for strings comes from a pool freed with the message. */
static void
fill(uint16_t type, union dm_msg *m, size_t big, size_t big_len, void **pool,
     size_t *npool)
{
	size_t n;
	const struct dm_field *f = dm_msg_fields(type, &n);

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		size_t len = i == big ? big_len : 3 + i;
		char *s;

		switch (f[i].kind) {
		case DM_F_U32:
			AT(m, f[i].off, uint32_t) = 0xfedc0000u + (uint32_t)i;
			break;
		case DM_F_U64:
			AT(m, f[i].off, uint64_t) = 0x0123456789abcdefull + i;
			break;
		case DM_F_STR:
		case DM_F_BLOB:
			s = malloc(len + 1);
			memset(s, 'a' + (int)(i % 26), len);
			s[len] = '\0';
			pool[(*npool)++] = s;
			AT(m, f[i].off, char *) = s;
			if (f[i].kind == DM_F_BLOB)
				AT(m, f[i].off_n, uint32_t) = (uint32_t)len;
			break;
		case DM_F_STRV: {
			/* Three strings whose lengths add up to len. */
			char **v = malloc(4 * sizeof(char *));
			size_t part[3] = {len / 3, len / 3, len - 2 * (len / 3)};

			for (int j = 0; j < 3; j++) {
				v[j] = malloc(part[j] + 1);
				memset(v[j], 'A' + j, part[j]);
				v[j][part[j]] = '\0';
				pool[(*npool)++] = v[j];
			}
			v[3] = NULL;
			pool[(*npool)++] = v;
			AT(m, f[i].off, char **) = v;
			AT(m, f[i].off_n, uint32_t) = 3;
			break;
		}
		}
	}
}

static void
drain(void **pool, size_t *npool)
{
	while (*npool > 0)
		free(pool[--*npool]);
}

static void
same(uint16_t type, union dm_msg *a, union dm_msg *b)
{
	size_t n;
	const struct dm_field *f = dm_msg_fields(type, &n);

	for (size_t i = 0; i < n; i++) {
		switch (f[i].kind) {
		case DM_F_U32:
			ASSERT_EQ_INT(AT(b, f[i].off, uint32_t),
				      AT(a, f[i].off, uint32_t));
			break;
		case DM_F_U64:
			ASSERT_TRUE(AT(b, f[i].off, uint64_t) ==
				    AT(a, f[i].off, uint64_t));
			break;
		case DM_F_STR:
			ASSERT_EQ_STR(AT(b, f[i].off, char *),
				      AT(a, f[i].off, char *));
			break;
		case DM_F_BLOB:
			ASSERT_EQ_INT(AT(b, f[i].off_n, uint32_t),
				      AT(a, f[i].off_n, uint32_t));
			ASSERT_TRUE(memcmp(AT(b, f[i].off, char *),
					   AT(a, f[i].off, char *),
					   AT(a, f[i].off_n, uint32_t)) == 0);
			break;
		case DM_F_STRV:
			ASSERT_EQ_INT(AT(b, f[i].off_n, uint32_t),
				      AT(a, f[i].off_n, uint32_t));
			for (uint32_t j = 0; j < AT(a, f[i].off_n, uint32_t); j++)
				ASSERT_EQ_STR(AT(b, f[i].off, char **)[j],
					      AT(a, f[i].off, char **)[j]);
			break;
		}
	}
}

static int
decode_frame(const struct dm_buf *b, union dm_msg *out, uint16_t *type)
{
	const uint8_t *payload;
	size_t flen, plen;
	int rc;

	if ((rc = dm_frame_peek(b->p, b->len, &flen)) != 0)
		return rc;
	ASSERT_EQ_INT(flen, b->len);
	dm_frame_split(b->p, flen, type, &payload, &plen);
	return dm_msg_decode(*type, payload, plen, out);
}

TEST(wire_round_trip_every_message)
{
	void *pool[64];
	size_t np = 0, count = 0;
	uint16_t type;

	for (size_t i = 0; (type = dm_msg_type_at(i)) != 0; i++) {
		union dm_msg m, d;
		struct dm_buf b;
		uint16_t got;

		fill(type, &m, (size_t)-1, 0, pool, &np);
		dm_buf_init(&b);
		ASSERT_OK(dm_msg_encode(&b, type, &m));
		ASSERT_OK(decode_frame(&b, &d, &got));
		ASSERT_EQ_INT(got, type);
		same(type, &m, &d);
		dm_msg_free(type, &d);
		dm_buf_free(&b);
		drain(pool, &np);
		count++;
	}
	ASSERT_GE_INT(count, 20);
}

/* Every bounded field: exactly at its limit passes both ways; one byte
 * past it is refused by the encoder and, when forced onto the wire, by
 * the decoder, with a message that names the field and the limit. */
TEST_TIMEOUT(wire_every_field_at_and_past_its_limit, 60)
{
	void *pool[64];
	size_t np = 0, checked = 0;
	uint16_t type;

	for (size_t i = 0; (type = dm_msg_type_at(i)) != 0; i++) {
		size_t n;
		const struct dm_field *f = dm_msg_fields(type, &n);

		for (size_t k = 0; k < n; k++) {
			union dm_msg m, d;
			struct dm_buf b, forced;
			uint16_t got;
			char want[128];

			if (f[k].kind == DM_F_U32 || f[k].kind == DM_F_U64)
				continue;
			dm_buf_init(&b);
			fill(type, &m, k, f[k].max, pool, &np);
			ASSERT_OK(dm_msg_encode(&b, type, &m));
			ASSERT_OK(decode_frame(&b, &d, &got));
			same(type, &m, &d);
			dm_msg_free(type, &d);
			drain(pool, &np);

			/* One past: the encoder refuses and names the limit. */
			fill(type, &m, k, (size_t)f[k].max + 1, pool, &np);
			dm_buf_reset(&b);
			ASSERT_EQ_INT(dm_msg_encode(&b, type, &m), DM_ETOOBIG);
			ASSERT_EQ_INT(b.len, 0);
			snprintf(want, sizeof(want), "limit %u", f[k].max);
			ASSERT_TRUE(strstr(dm_wire_errmsg(), want) != NULL);
			ASSERT_TRUE(strstr(dm_wire_errmsg(), f[k].name) != NULL);
			drain(pool, &np);

			/* Forced onto the wire: encode at the limit, then grow
			 * the field by one byte in place. */
			fill(type, &m, k, f[k].max, pool, &np);
			dm_buf_reset(&b);
			ASSERT_OK(dm_msg_encode(&b, type, &m));
			dm_buf_init(&forced);
			{
				/* Re-encode by hand: prefix, field+1, suffix. */
				size_t pre = 6, len_at;
				const uint8_t *p = b.p + 6;

				for (size_t j = 0; j < k; j++) {
					if (f[j].kind == DM_F_U32)
						p += 4;
					else if (f[j].kind == DM_F_U64)
						p += 8;
					else if (f[j].kind == DM_F_STRV) {
						uint32_t c = dm_get_u32(p);

						p += 4;
						while (c--)
							p += 4 + dm_get_u32(p);
					} else
						p += 4 + dm_get_u32(p);
				}
				pre = (size_t)(p - b.p);
				dm_buf_append(&forced, b.p, pre);
				if (f[k].kind == DM_F_STRV) {
					/* One more string of one byte. */
					uint32_t c = dm_get_u32(p);
					const uint8_t *q = p + 4;
					uint8_t hdr[4];

					while (c--)
						q += 4 + dm_get_u32(q);
					dm_put_u32(hdr, dm_get_u32(p) + 1);
					dm_buf_append(&forced, hdr, 4);
					dm_buf_append(&forced, p + 4,
						      (size_t)(q - p - 4));
					dm_put_u32(hdr, 1);
					dm_buf_append(&forced, hdr, 4);
					dm_buf_append(&forced, "x", 1);
					len_at = (size_t)(q - b.p);
				} else {
					uint32_t l = dm_get_u32(p);
					uint8_t hdr[4];

					dm_put_u32(hdr, l + 1);
					dm_buf_append(&forced, hdr, 4);
					dm_buf_append(&forced, p + 4, l);
					dm_buf_append(&forced, "x", 1);
					len_at = (size_t)(p + 4 + l - b.p);
				}
				dm_buf_append(&forced, b.p + len_at,
					      b.len - len_at);
				dm_put_u32(forced.p, (uint32_t)forced.len - 4);
			}
			if (forced.len - 4 <= DM_FRAME_MAX) {
				ASSERT_EQ_INT(decode_frame(&forced, &d, &got),
					      DM_ETOOBIG);
				ASSERT_TRUE(strstr(dm_wire_errmsg(), want) !=
					    NULL);
			} else {
				size_t fl;

				ASSERT_EQ_INT(dm_frame_peek(forced.p,
							    forced.len, &fl),
					      DM_ETOOBIG);
			}
			dm_buf_free(&forced);
			dm_buf_free(&b);
			drain(pool, &np);
			checked++;
		}
	}
	printf("# %zu bounded fields checked\n", checked);
	ASSERT_GE_INT(checked, 15);
}

/* Every prefix of a valid payload is refused as truncated, never read
 * past its end (run under valgrind or ASan to see that too). */
TEST(wire_truncated_payloads_refused)
{
	void *pool[64];
	size_t np = 0;
	uint16_t type;

	for (size_t i = 0; (type = dm_msg_type_at(i)) != 0; i++) {
		union dm_msg m, d;
		struct dm_buf b;

		fill(type, &m, (size_t)-1, 0, pool, &np);
		dm_buf_init(&b);
		ASSERT_OK(dm_msg_encode(&b, type, &m));
		for (size_t cut = 0; cut < b.len - 6; cut++) {
			uint8_t *copy = malloc(cut + 1);

			memcpy(copy, b.p + 6, cut);
			ASSERT_EQ_INT(dm_msg_decode(type, copy, cut, &d),
				      DM_EPROTO);
			free(copy);
		}
		/* One byte too many is refused too. */
		{
			uint8_t *copy = malloc(b.len - 5);

			memcpy(copy, b.p + 6, b.len - 6);
			copy[b.len - 6] = 0;
			ASSERT_EQ_INT(dm_msg_decode(type, copy, b.len - 5, &d),
				      DM_EPROTO);
			free(copy);
		}
		dm_buf_free(&b);
		drain(pool, &np);
	}
}

TEST(wire_corrupted_frames_refused)
{
	uint8_t hdr[8];
	size_t flen;
	union dm_msg d;
	struct dm_msg_error e = {.code = 5, .text = "hi"};
	struct dm_buf b;
	size_t ntypes = 0;

	/* Lengths below 2 and above the limit. */
	dm_put_u32(hdr, 0);
	ASSERT_EQ_INT(dm_frame_peek(hdr, 4, &flen), DM_EPROTO);
	dm_put_u32(hdr, 1);
	ASSERT_EQ_INT(dm_frame_peek(hdr, 4, &flen), DM_EPROTO);
	dm_put_u32(hdr, 0xffffffffu);
	ASSERT_EQ_INT(dm_frame_peek(hdr, 4, &flen), DM_ETOOBIG);
	dm_put_u32(hdr, DM_FRAME_MAX + 1);
	ASSERT_EQ_INT(dm_frame_peek(hdr, 4, &flen), DM_ETOOBIG);
	ASSERT_TRUE(strstr(dm_wire_errmsg(), "limit") != NULL);
	dm_put_u32(hdr, DM_FRAME_MAX);
	ASSERT_OK(dm_frame_peek(hdr, 4, &flen));
	ASSERT_EQ_INT(flen, DM_FRAME_MAX + 4);
	/* Incomplete header: not an error, just not yet. */
	ASSERT_OK(dm_frame_peek(hdr, 3, &flen));
	ASSERT_EQ_INT(flen, 0);
	/* Unknown type. */
	ASSERT_EQ_INT(dm_msg_decode(999, hdr, 0, &d), DM_EPROTO);
	/* A string length that points past the frame. */
	dm_buf_init(&b);
	ASSERT_OK(dm_msg_encode(&b, DM_MSG_ERROR, &e));
	dm_put_u32(b.p + 10, 1000);
	ASSERT_EQ_INT(dm_msg_decode(DM_MSG_ERROR, b.p + 6, b.len - 6, &d),
		      DM_EPROTO);
	/* A NUL inside a string. */
	dm_put_u32(b.p + 10, 2);
	b.p[14] = '\0';
	ASSERT_EQ_INT(dm_msg_decode(DM_MSG_ERROR, b.p + 6, b.len - 6, &d),
		      DM_EPROTO);
	dm_buf_free(&b);
	/* Random garbage never crashes the decoder, whatever the type. */
	while (dm_msg_type_at(ntypes) != 0)
		ntypes++;
	ASSERT_GE_INT(ntypes, 35);
	srand(7);
	for (int round = 0; round < 20000; round++) {
		uint8_t junk[64];
		uint16_t type = dm_msg_type_at((size_t)rand() % ntypes);
		size_t len = (size_t)rand() % sizeof(junk);

		for (size_t j = 0; j < len; j++)
			junk[j] = (uint8_t)(rand() % 4 == 0 ? 0 : rand());
		if (dm_msg_decode(type, junk, len, &d) == 0)
			dm_msg_free(type, &d);
	}
}
