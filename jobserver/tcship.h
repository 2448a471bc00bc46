/*
 * tcship.h: the coordinator's toolchain archives (lib/tcarchive.h).
 *
 * A shim whose node lacks the build's compiler asks the coordinator for
 * the compiler's archive (TOOLCHAIN_REQ).  The coordinator packs it on
 * libuv's thread pool, into the client's archive cache
 * ($XDG_CACHE_HOME/dmake/toolchains), or finds it there from an earlier
 * build, and answers with the file's path and hash.  Shims asking for
 * one toolchain while it is being packed wait for that one packing.
 *
 * Lifetime: tcship_new() once per coordinator; tcship_free() after the
 * loop has ended (no work can be running then).
 */
#ifndef DM_TCSHIP_H
#define DM_TCSHIP_H

#include <uv.h>

#include "../lib/tcarchive.h"
#include "../lib/toolchain.h"

struct tcship;

/* Called once per tcship_get() that was not cancelled: with the archive,
 * or a == NULL and error saying why there is none. */
typedef void (*tcship_cb)(void *waiter, const char *toolchain,
			  const struct dm_tcarchive *a, const char *error);

int tcship_new(uv_loop_t *loop, struct tcship **out);
void tcship_free(struct tcship *t);

/* The archive of the compiler at `compiler` (as found on PATH) invoked
 * as `name`, whose identity is tc.  cb runs later, from the loop, never
 * from inside this call.  Returns 0 or -ENOMEM. */
int tcship_get(struct tcship *t, const char *compiler, const char *name,
	       const struct dm_toolchain *tc, void *waiter, tcship_cb cb);
/* The waiter is gone (a shim that closed): its callback will not run. */
void tcship_cancel(struct tcship *t, void *waiter);

#endif
