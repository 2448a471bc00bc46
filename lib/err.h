/*
 * err.h: the one error convention of dmake.
 *
 * Every function that can fail returns int: 0 on success or a negative
 * code.  System errors are -errno; dmake's own codes live in the reserved
 * range DM_E_BASE..DM_E_LAST (far below any errno) so one dm_strerror()
 * names both.
 */
#ifndef DM_ERR_H
#define DM_ERR_H

#define DM_E_BASE (-10000)

/* X(name, offset, message): declared once, dm_strerror() reads the table. */
#define DM_ERRORS(X)                                                          \
	X(DM_EPROTO, 0, "malformed message")                                  \
	X(DM_ETOOBIG, 1, "message or field larger than its limit")            \
	X(DM_EVERSION, 2, "protocol version mismatch")                        \
	X(DM_EAUTH, 3, "authentication failed: wrong cluster key")            \
	X(DM_EKEY, 4, "bad key file (expected 64 hex digits)")                \
	X(DM_ECLOSED, 5, "connection closed by peer")                         \
	X(DM_ETIMEOUT, 6, "timed out")                                        \
	X(DM_EZSTD, 7, "zstd error")                                          \
	X(DM_ENOSLOT, 8, "no node can take the job")                          \
	X(DM_EADDR, 9, "bad address (expected HOST:PORT)")                    \
	X(DM_ECONFIG, 10, "bad configuration")                                \
	X(DM_EUNEXPECTED, 11, "unexpected message for this state")            \
	X(DM_EREMOTE, 12, "remote node failed the job")                       \
	X(DM_ECHILD, 13, "child process failed")                              \
	X(DM_ENOTOOLCHAIN, 14, "compiler not usable for distribution")

enum {
#define DM_ERR_ENUM(name, off, msg) name = DM_E_BASE - (off),
	DM_ERRORS(DM_ERR_ENUM)
#undef DM_ERR_ENUM
	DM_E_LAST = DM_E_BASE - 99
};

/* Returns a static string for 0, -errno or a DM_E* code. */
const char *dm_strerror(int err);

#endif
