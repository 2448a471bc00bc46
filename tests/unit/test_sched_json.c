/*
 * test_sched_json.c: the scheduler's JSON string escaper (sched/json.c).
 * Peer-supplied names may hold any byte but NUL; the output must stay
 * valid JSON in valid UTF-8 whatever they hold.
 */
#include <stdlib.h>
#include <string.h>

#include "../../lib/buf.h"
#include "../../sched/json.h"
#include "tap.h"

static char *
esc(const char *s)
{
	static struct dm_buf b;

	dm_buf_reset(&b);
	ASSERT_OK(sched_json_str(&b, s));
	return dm_buf_cstr(&b);
}

TEST(sched_json_plain_and_special)
{
	ASSERT_EQ_STR(esc(""), "\"\"");
	ASSERT_EQ_STR(esc("node-1.example:7371"), "\"node-1.example:7371\"");
	ASSERT_EQ_STR(esc("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
	ASSERT_EQ_STR(esc("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
	ASSERT_EQ_STR(esc("\x01\x1f\x7f"), "\"\\u0001\\u001f\x7f\"");
}

TEST(sched_json_utf8)
{
	/* Well-formed sequences of each length pass through. */
	ASSERT_EQ_STR(esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
		      "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* Each bad byte becomes U+FFFD: stray continuation, truncated
	 * sequence, overlong form, surrogate, past U+10FFFF, 0xff. */
	ASSERT_EQ_STR(esc("\x80"), "\"\xef\xbf\xbd\"");
	ASSERT_EQ_STR(esc("\xc3"), "\"\xef\xbf\xbd\"");
	ASSERT_EQ_STR(esc("\xe2\x82"), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	ASSERT_EQ_STR(esc("\xc0\xaf"), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	ASSERT_EQ_STR(esc("\xe0\x80\xaf"),
		      "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	ASSERT_EQ_STR(esc("\xed\xa0\x80"),
		      "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	ASSERT_EQ_STR(esc("\xf4\x90\x80\x80x"),
		      "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx\"");
	ASSERT_EQ_STR(esc("a\xff" "b"), "\"a\xef\xbf\xbd" "b\"");
	/* A bad lead byte does not swallow the quote after it. */
	ASSERT_EQ_STR(esc("\xe2\""), "\"\xef\xbf\xbd\\\"\"");
}

TEST(sched_json_every_byte)
{
	/* Every single non-NUL byte yields a quoted string with no raw
	 * control character, quote or backslash inside. */
	for (int c = 1; c < 256; c++) {
		char in[2] = {(char)c, 0};
		const char *out = esc(in);
		size_t n = strlen(out);

		ASSERT_TRUE(n >= 3 && out[0] == '"' && out[n - 1] == '"');
		for (size_t i = 1; i < n - 1; i++) {
			ASSERT_TRUE((unsigned char)out[i] >= 0x20);
			if (out[i] == '"')
				ASSERT_TRUE(out[i - 1] == '\\');
		}
	}
}
