/*
 * tap.h: dmake's unit-test framework.
 *
 * A test is `TEST(name) { ... }` in any tests/unit/test_*.c; it registers
 * itself at load time.  The one runner (runner.c) forks each test with a
 * timeout and prints TAP, so a crash or a hang fails that test alone.
 * Asserts print both sides and the location, then fail the test.
 *
 *   tests/unit/run              run every test
 *   tests/unit/run NAME...      run the named tests (substring match)
 */
#ifndef DM_TAP_H
#define DM_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*tap_fn)(void);
void tap_register(const char *name, const char *file, tap_fn fn,
		  int timeout_s);
void tap_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
/* Per-test scratch directory (created fresh, removed on success). */
const char *tap_tmpdir(void);

#define TEST_TIMEOUT(name, secs)                                              \
	static void test_##name(void);                                        \
	__attribute__((constructor)) static void reg_##name(void)             \
	{                                                                     \
		tap_register(#name, __FILE__, test_##name, secs);             \
	}                                                                     \
	static void test_##name(void)
#define TEST(name) TEST_TIMEOUT(name, 30)

#define ASSERT_TRUE(c)                                                        \
	do {                                                                  \
		if (!(c))                                                     \
			tap_fail(__FILE__, __LINE__, "expected true: %s", #c);\
	} while (0)
#define ASSERT_EQ_INT(a, b)                                                   \
	do {                                                                  \
		long long a_ = (long long)(a), b_ = (long long)(b);           \
		if (a_ != b_)                                                 \
			tap_fail(__FILE__, __LINE__,                          \
				 "%s == %s: got %lld, expected %lld", #a, #b, \
				 a_, b_);                                     \
	} while (0)
#define ASSERT_GE_INT(a, b)                                                   \
	do {                                                                  \
		long long a_ = (long long)(a), b_ = (long long)(b);           \
		if (!(a_ >= b_))                                              \
			tap_fail(__FILE__, __LINE__,                          \
				 "%s >= %s: got %lld < %lld", #a, #b, a_,     \
				 b_);                                         \
	} while (0)
#define ASSERT_EQ_STR(a, b)                                                   \
	do {                                                                  \
		const char *a_ = (a), *b_ = (b);                              \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)          \
			tap_fail(__FILE__, __LINE__,                          \
				 "%s == %s: got \"%s\", expected \"%s\"", #a, \
				 #b, a_ ? a_ : "(null)",                      \
				 b_ ? b_ : "(null)");                         \
	} while (0)
#define ASSERT_OK(expr)                                                       \
	do {                                                                  \
		int rc_ = (expr);                                             \
		if (rc_ != 0)                                                 \
			tap_fail(__FILE__, __LINE__, "%s: returned %d (%s)",  \
				 #expr, rc_, tap_strerror(rc_));              \
	} while (0)
const char *tap_strerror(int rc);

#endif
