/*
 * test_sched_json.c: the scheduler's JSON string escaper (sched/json.c).
 * Peer-supplied names may hold any byte but NUL; the output must stay
 * valid JSON in valid UTF-8 whatever they hold.  And the STATUS document
 * built with it (`dmake status --json`): valid JSON that holds the keys
 * DESIGN.md names, with each node's slots and running jobs and each
 * build's grant and running jobs.
 */
#include <stdlib.h>
#include <string.h>

#include "../../lib/buf.h"
#include "../../lib/log.h"
#include "../../sched/json.h"
#include "../../sched/state.h"
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

/* A strict JSON checker (RFC 8259, no extensions): returns the end of
 * the value at p, or NULL. */
static const char *value(const char *p);

static const char *
ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *
string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (strchr("0123456789abcdefABCDEF",
						   p[i]) == NULL ||
					    p[i] == '\0')
						return NULL;
				p += 4;
			} else if (*p == '\0' ||
				   strchr("\"\\/bfnrt", *p) == NULL) {
				return NULL;
			}
		}
		p++;
	}
	return p + 1;
}

static const char *
number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		if (*++p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

static const char *
value(const char *p)
{
	p = ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		int obj = *p == '{';

		p = ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (obj) {
				if ((p = string(ws(p))) == NULL)
					return NULL;
				if (*(p = ws(p)) != ':')
					return NULL;
				p++;
			}
			if ((p = value(p)) == NULL)
				return NULL;
			p = ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '"')
		return string(p);
	if (strncmp(p, "null", 4) == 0)
		return p + 4;
	if (strncmp(p, "true", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	return number(p);
}

static int
valid_json(const char *doc)
{
	const char *end = value(doc);

	return end != NULL && *ws(end) == '\0';
}

static void
ignore_grant(void *ctx, uint64_t build_id, uint32_t slots)
{
	(void)ctx, (void)build_id, (void)slots;
}

static void
ignore_placed(void *ctx, uint64_t req, uint64_t ticket, const char *addr,
	      const char *name)
{
	(void)ctx, (void)req, (void)ticket, (void)addr, (void)name;
}

static void
ignore_fail(void *ctx, uint64_t req, uint32_t code, const char *why)
{
	(void)ctx, (void)req, (void)code, (void)why;
}

static void
ignore_gone(void *ctx, const char *why)
{
	(void)ctx, (void)why;
}

TEST(sched_json_checker_itself)
{
	ASSERT_TRUE(valid_json("{\"a\":[1,-2.5,\"x\\u00e9\",null,{}]}"));
	ASSERT_TRUE(!valid_json("{\"a\":1,}"));
	ASSERT_TRUE(!valid_json("{\"a\":01}"));
	ASSERT_TRUE(!valid_json("{\"a\":\"\x01\"}"));
	ASSERT_TRUE(!valid_json("{\"a\":1} x"));
	ASSERT_TRUE(!valid_json("{\"a\":nan}"));
}

TEST(sched_status_json_has_design_keys)
{
	static const struct sched_ops ops = {ignore_grant, ignore_placed,
					     ignore_fail, ignore_gone};
	char *tcs[] = {"abc gcc 12"};
	const char *node_keys[] = {"\"name\":", "\"addr\":", "\"slots\":",
				   "\"running\":", "\"platform\":"};
	const char *build_keys[] = {"\"id\":", "\"granted\":",
				    "\"running\":"};
	struct sched *s;
	struct sched_node *n;
	struct sched_build *b1, *b2;
	struct dm_buf out;
	const char *doc;
	int c;

	dm_log_init("test", DM_LOG_ERROR);
	ASSERT_OK(sched_new(&ops, 1, &s));
	sched_set_clock(s, 1000, 1700000000);
	ASSERT_OK(sched_node_register(s, "n1", "10.0.0.1:7371", "x86_64-linux",
				      3, tcs, 1, &c, &n));
	ASSERT_OK(sched_node_register(s, "n2 \"quoted\"", "10.0.0.2:7371",
				      "aarch64-linux", 5, tcs, 1, &c, &n));
	ASSERT_OK(sched_build_hello(s, "host-a", 4, "make", &c, &b1));
	ASSERT_OK(sched_build_hello(s, "host-b", 2, "", &c, &b2));
	for (int i = 0; i < 3; i++)
		ASSERT_OK(sched_place(s, b1, (uint64_t)i, "abc", 100000));
	ASSERT_OK(sched_place(s, b2, 9, "abc", 100000));
	dm_buf_init(&out);
	ASSERT_OK(sched_status_json(s, &out));
	doc = dm_buf_cstr(&out);
	ASSERT_TRUE(valid_json(doc));
	/* {"nodes":[{name, addr, slots, running, platform}],
	 *  "builds":[{id, granted, running}]} */
	ASSERT_TRUE(strncmp(doc, "{\"nodes\":[{", 11) == 0);
	ASSERT_TRUE(strstr(doc, "],\"builds\":[{") != NULL);
	for (const char *p = doc; (p = strstr(p, "{\"name\":")) != NULL &&
				  p < strstr(doc, "\"builds\"");
	     p++) {
		const char *end = strchr(p, '}');

		for (size_t i = 0; i < sizeof(node_keys) / sizeof(*node_keys);
		     i++) {
			const char *k = strstr(p, node_keys[i]);

			ASSERT_TRUE(k != NULL && k < end);
		}
	}
	for (size_t i = 0; i < sizeof(build_keys) / sizeof(*build_keys); i++)
		ASSERT_TRUE(strstr(strstr(doc, "\"builds\""), build_keys[i]) !=
			    NULL);
	/* The figures: the load spread over the nodes by their slots,
	 * the pool shared evenly, every job counted once. */
	ASSERT_TRUE(strstr(doc, "\"name\":\"n1\",\"addr\":\"10.0.0.1:7371\","
			      "\"slots\":3,\"running\":2,") != NULL);
	ASSERT_TRUE(strstr(doc, "\"name\":\"n2 \\\"quoted\\\"\","
			      "\"addr\":\"10.0.0.2:7371\",\"slots\":5,"
			      "\"running\":2,") != NULL);
	ASSERT_TRUE(strstr(doc, "{\"id\":1,\"host\":\"host-a\",\"label\":"
			      "\"make\",\"granted\":4,\"running\":3,") != NULL);
	ASSERT_TRUE(strstr(doc, "{\"id\":2,\"host\":\"host-b\",\"label\":"
			      "\"\",\"granted\":4,\"running\":1,") != NULL);
	dm_buf_free(&out);
	sched_free(s);
}
