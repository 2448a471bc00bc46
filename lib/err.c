/* err.c: names for dmake's error codes (see err.h). */
#include <string.h>

#include "err.h"

const char *
dm_strerror(int err)
{
	if (err == 0)
		return "success";
	switch (err) {
#define DM_ERR_CASE(name, off, msg)                                           \
	case name:                                                            \
		return msg;
		DM_ERRORS(DM_ERR_CASE)
#undef DM_ERR_CASE
	}
	if (err < 0 && err > DM_E_BASE)
		return strerror(-err);
	return "unknown error";
}
