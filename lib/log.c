/* log.c: see log.h.  One write(2) per line so concurrent shims do not
 * interleave within a line on a shared terminal. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "dmake";
static enum dm_log_level log_level = DM_LOG_WARN;

void
dm_log_init(const char *prog, enum dm_log_level dflt)
{
	const char *env = getenv("DMAKE_LOG");

	log_prog = prog;
	log_level = dflt;
	if (env == NULL)
		return;
	if (strcmp(env, "error") == 0)
		log_level = DM_LOG_ERROR;
	else if (strcmp(env, "warn") == 0)
		log_level = DM_LOG_WARN;
	else if (strcmp(env, "info") == 0)
		log_level = DM_LOG_INFO;
	else if (strcmp(env, "debug") == 0)
		log_level = DM_LOG_DEBUG;
}

void
dm_log_set_level(enum dm_log_level level)
{
	log_level = level;
}

int
dm_log_enabled(enum dm_log_level level)
{
	return level <= log_level;
}

const char *
dm_log_prog(void)
{
	return log_prog;
}

void
dm_log(enum dm_log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n, m;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "%s: ", log_prog);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(2, line, n);
}
