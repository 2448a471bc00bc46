/*
 * test_buf.c: lib/buf.c, the growable byte buffer, and the promises its
 * header makes: contents survive growth, consume keeps the tail, cstr
 * terminates without counting the NUL.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../../lib/buf.h"
#include "tap.h"

TEST(buf_append_grows_and_keeps_contents)
{
	struct dm_buf b;
	char chunk[100];

	dm_buf_init(&b);
	ASSERT_EQ_INT(b.len, 0);
	for (int i = 0; i < 100; i++) {
		memset(chunk, 'a' + i % 26, sizeof(chunk));
		ASSERT_OK(dm_buf_append(&b, chunk, sizeof(chunk)));
	}
	ASSERT_EQ_INT(b.len, 100 * 100);
	ASSERT_GE_INT(b.cap, b.len + 1);
	for (int i = 0; i < 100; i++)
		ASSERT_EQ_INT(b.p[i * 100 + 99], 'a' + i % 26);
	ASSERT_OK(dm_buf_append(&b, NULL, 0));
	ASSERT_EQ_INT(b.len, 100 * 100);
	dm_buf_free(&b);
	ASSERT_TRUE(b.p == NULL);
	ASSERT_EQ_INT(b.cap, 0);
}

TEST(buf_appendf_and_cstr)
{
	struct dm_buf b;

	dm_buf_init(&b);
	ASSERT_OK(dm_buf_appendf(&b, "%s=%d", "slots", 8));
	ASSERT_OK(dm_buf_appendf(&b, " %s", ""));
	ASSERT_EQ_INT(b.len, strlen("slots=8 "));
	ASSERT_EQ_STR(dm_buf_cstr(&b), "slots=8 ");
	/* The NUL is not part of the contents. */
	ASSERT_EQ_INT(b.len, strlen("slots=8 "));
	dm_buf_reset(&b);
	ASSERT_EQ_STR(dm_buf_cstr(&b), "");
	dm_buf_free(&b);
}

TEST(buf_cstr_of_empty_buffer)
{
	struct dm_buf b;

	dm_buf_init(&b);
	ASSERT_EQ_STR(dm_buf_cstr(&b), "");
	ASSERT_EQ_INT(b.len, 0);
	dm_buf_free(&b);
}

TEST(buf_consume_keeps_the_tail)
{
	struct dm_buf b;

	dm_buf_init(&b);
	ASSERT_OK(dm_buf_append(&b, "headertail", 10));
	dm_buf_consume(&b, 6);
	ASSERT_EQ_INT(b.len, 4);
	ASSERT_EQ_STR(dm_buf_cstr(&b), "tail");
	dm_buf_consume(&b, 100);
	ASSERT_EQ_INT(b.len, 0);
	dm_buf_free(&b);
}

TEST(buf_grow_returns_writable_space)
{
	struct dm_buf b;
	uint8_t *p;

	dm_buf_init(&b);
	ASSERT_OK(dm_buf_append(&b, "ab", 2));
	p = dm_buf_grow(&b, 3);
	ASSERT_TRUE(p != NULL);
	memcpy(p, "cde", 3);
	ASSERT_EQ_INT(b.len, 5);
	ASSERT_EQ_STR(dm_buf_cstr(&b), "abcde");
	dm_buf_free(&b);
}

TEST(buf_reserve_refuses_overflow)
{
	struct dm_buf b;

	dm_buf_init(&b);
	ASSERT_OK(dm_buf_append(&b, "x", 1));
	ASSERT_EQ_INT(dm_buf_reserve(&b, SIZE_MAX), -ENOMEM);
	ASSERT_TRUE(dm_buf_grow(&b, SIZE_MAX - 1) == NULL);
	/* Failure leaves the contents intact. */
	ASSERT_EQ_INT(b.len, 1);
	ASSERT_EQ_STR(dm_buf_cstr(&b), "x");
	dm_buf_free(&b);
}
