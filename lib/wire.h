/*
 * wire.h: the generic message codec generated from msgs.h.
 *
 * Frame: u32 big-endian length (of type + payload), u16 type, payload.
 * dm_msg_encode() appends a whole frame to a buffer after checking every
 * field against its declared limit.  dm_msg_decode() fills a message struct
 * from a payload: STR and STRV fields are copied into memory the caller
 * releases with dm_msg_free(); BLOB fields point INTO the payload and live
 * only as long as it.  On an error both set a human-readable explanation
 * that names the field and its limit, read with dm_wire_errmsg() (per
 * thread).
 */
#ifndef DM_WIRE_H
#define DM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "msgs.h"

enum {
#define DM_WIRE_ENUM(NAME, num, lname) DM_MSG_##NAME = num,
	DM_MSGS(DM_WIRE_ENUM)
#undef DM_WIRE_ENUM
};

#define DM_FDECL_U32(name) uint32_t name;
#define DM_FDECL_U64(name) uint64_t name;
#define DM_FDECL_STR(name) char *name;
#define DM_FDECL_BLOB(name)                                                   \
	const uint8_t *name;                                                  \
	uint32_t name##_n;
#define DM_FDECL_STRV(name)                                                   \
	char **name;                                                          \
	uint32_t name##_n;
#define DM_FDECL(S, KIND, name, max) DM_FDECL_##KIND(name)
#define DM_WIRE_STRUCT(NAME, num, lname)                                      \
	struct dm_msg_##lname {                                               \
		DM_FIELDS_##NAME(DM_FDECL, _) char dm_pad_;                   \
	};
DM_MSGS(DM_WIRE_STRUCT)
#undef DM_WIRE_STRUCT

union dm_msg {
#define DM_WIRE_MEMBER(NAME, num, lname) struct dm_msg_##lname lname;
	DM_MSGS(DM_WIRE_MEMBER)
#undef DM_WIRE_MEMBER
};

/* Appends one frame.  Returns 0, -DM_ETOOBIG (a field or the frame over
 * its limit) or -DM_EPROTO (unknown type, NUL inside a STR). */
int dm_msg_encode(struct dm_buf *out, uint16_t type, const void *msg);
/* Decodes a payload into *msg (zeroed first).  Returns 0, -DM_EPROTO or
 * -DM_ETOOBIG; on error nothing needs freeing. */
int dm_msg_decode(uint16_t type, const uint8_t *payload, size_t len,
		  union dm_msg *msg);
/* Releases what dm_msg_decode allocated; safe on a zeroed message. */
void dm_msg_free(uint16_t type, union dm_msg *msg);
/* "NODE_REGISTER" or "unknown(99)" (static or per-thread storage). */
const char *dm_msg_name(uint16_t type);
/* Why the last encode/decode/frame check on this thread failed. */
const char *dm_wire_errmsg(void);

/* The field table, read-only, for tests and tools that walk every
 * message generically. */
enum dm_field_kind { DM_F_U32, DM_F_U64, DM_F_STR, DM_F_BLOB, DM_F_STRV };
struct dm_field {
	enum dm_field_kind kind;
	uint32_t max;
	size_t off;   /* of the value (or pointer) in the message struct */
	size_t off_n; /* of the length or count, for BLOB and STRV */
	const char *name;
};
/* The i-th declared message type (0 when i is past the end). */
uint16_t dm_msg_type_at(size_t i);
/* The fields of a type, or NULL with *n = 0 for an unknown type. */
const struct dm_field *dm_msg_fields(uint16_t type, size_t *n);

/* Looks at the start of buf: 0 with *frame_len = 0 if fewer than 4 bytes
 * are there, else 0 with the whole frame's length (header included) once
 * the header is valid, or -DM_ETOOBIG / -DM_EPROTO for a bad length.  The
 * frame is complete when len >= *frame_len. */
int dm_frame_peek(const uint8_t *buf, size_t len, size_t *frame_len);
/* Splits a complete frame into type and payload. */
void dm_frame_split(const uint8_t *frame, size_t frame_len, uint16_t *type,
		    const uint8_t **payload, size_t *plen);

static inline void
dm_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static inline uint32_t
dm_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

#endif
