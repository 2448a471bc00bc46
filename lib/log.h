/*
 * log.h: one-line diagnostics to stderr, "PROG: message".
 *
 * Programs call dm_log_init() once with their name; the level comes from
 * DMAKE_LOG (error|warn|info|debug), default warn for the shim and the
 * coordinator (they share the user's terminal), info for the daemons.
 */
#ifndef DM_LOG_H
#define DM_LOG_H

enum dm_log_level { DM_LOG_ERROR, DM_LOG_WARN, DM_LOG_INFO, DM_LOG_DEBUG };

void dm_log_init(const char *prog, enum dm_log_level dflt);
void dm_log_set_level(enum dm_log_level level);
int dm_log_enabled(enum dm_log_level level);
void dm_log(enum dm_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *dm_log_prog(void);

#define dm_error(...) dm_log(DM_LOG_ERROR, __VA_ARGS__)
#define dm_warn(...) dm_log(DM_LOG_WARN, __VA_ARGS__)
#define dm_info(...) dm_log(DM_LOG_INFO, __VA_ARGS__)
#define dm_debug(...) dm_log(DM_LOG_DEBUG, __VA_ARGS__)

#endif
