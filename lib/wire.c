/*
 * wire.c: one codec for every message, driven by the field table that
 * msgs.h generates.  Nothing here knows any particular message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "wire.h"


struct msgdef {
	uint16_t type;
	const char *name;
	const struct dm_field *fields;
	size_t nfields;
};

#define OFF_N_U32(S, name) 0
#define OFF_N_U64(S, name) 0
#define OFF_N_STR(S, name) 0
#define OFF_N_BLOB(S, name) offsetof(S, name##_n)
#define OFF_N_STRV(S, name) offsetof(S, name##_n)
#define FDESC(S, KIND, name, max)                                             \
	{DM_F_##KIND, (max), offsetof(S, name), OFF_N_##KIND(S, name), #name},
#define FTABLE(NAME, num, lname)                                              \
	static const struct dm_field fields_##lname[] = {                        \
		DM_FIELDS_##NAME(FDESC, struct dm_msg_##lname){DM_F_U32, 0, 0, 0, \
							       NULL}};
DM_MSGS(FTABLE)
#undef FTABLE

static const struct msgdef msgdefs[] = {
#define MDEF(NAME, num, lname)                                                \
	{num, #NAME, fields_##lname,                                          \
	 sizeof(fields_##lname) / sizeof(fields_##lname[0]) - 1},
	DM_MSGS(MDEF)
#undef MDEF
};

static _Thread_local char errmsg[256];

const char *
dm_wire_errmsg(void)
{
	return errmsg;
}

static int fail(int rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
fail(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return rc;
}

static const struct msgdef *
find(uint16_t type)
{
	/* Linear: a couple of dozen entries, cheaper than any index. */
	for (size_t i = 0; i < sizeof(msgdefs) / sizeof(msgdefs[0]); i++)
		if (msgdefs[i].type == type)
			return &msgdefs[i];
	return NULL;
}

uint16_t
dm_msg_type_at(size_t i)
{
	return i < sizeof(msgdefs) / sizeof(msgdefs[0]) ? msgdefs[i].type : 0;
}

const struct dm_field *
dm_msg_fields(uint16_t type, size_t *n)
{
	const struct msgdef *d = find(type);

	*n = d ? d->nfields : 0;
	return d ? d->fields : NULL;
}

const char *
dm_msg_name(uint16_t type)
{
	static _Thread_local char unknown[24];
	const struct msgdef *d = find(type);

	if (d != NULL)
		return d->name;
	snprintf(unknown, sizeof(unknown), "unknown(%u)", type);
	return unknown;
}

typedef char **strv_t;

#define AT(msg, off, T) (*(T *)((char *)(msg) + (off)))
#define CAT(msg, off, T) (*(T const *)((const char *)(msg) + (off)))

static void
put_u64(uint8_t *p, uint64_t v)
{
	dm_put_u32(p, (uint32_t)(v >> 32));
	dm_put_u32(p + 4, (uint32_t)v);
}

static uint64_t
get_u64(const uint8_t *p)
{
	return (uint64_t)dm_get_u32(p) << 32 | dm_get_u32(p + 4);
}

static int
put_bytes(struct dm_buf *out, const void *p, size_t n)
{
	uint8_t *dst = dm_buf_grow(out, 4 + n);

	if (dst == NULL)
		return -ENOMEM;
	dm_put_u32(dst, (uint32_t)n);
	if (n)
		memcpy(dst + 4, p, n);
	return 0;
}

int
dm_msg_encode(struct dm_buf *out, uint16_t type, const void *msg)
{
	const struct msgdef *d = find(type);
	size_t start = out->len, flen;
	uint8_t *hdr;
	int rc;

	if (d == NULL)
		return fail(DM_EPROTO, "cannot encode unknown message type %u",
			    type);
	if ((hdr = dm_buf_grow(out, 6)) == NULL)
		return -ENOMEM;
	hdr[4] = type >> 8;
	hdr[5] = type & 0xff;
	for (size_t i = 0; i < d->nfields; i++) {
		const struct dm_field *f = &d->fields[i];
		uint8_t *p;

		switch (f->kind) {
		case DM_F_U32:
			if ((p = dm_buf_grow(out, 4)) == NULL)
				goto err_nomem;
			dm_put_u32(p, CAT(msg, f->off, uint32_t));
			break;
		case DM_F_U64:
			if ((p = dm_buf_grow(out, 8)) == NULL)
				goto err_nomem;
			put_u64(p, CAT(msg, f->off, uint64_t));
			break;
		case DM_F_STR: {
			const char *s = CAT(msg, f->off, const char *);
			size_t n = s ? strlen(s) : 0;

			if (n > f->max) {
				rc = fail(DM_ETOOBIG,
					  "%s.%s is %zu bytes, limit %u",
					  d->name, f->name, n, f->max);
				goto err;
			}
			if ((rc = put_bytes(out, s, n)) != 0)
				goto err;
			break;
		}
		case DM_F_BLOB: {
			uint32_t n = CAT(msg, f->off_n, uint32_t);

			if (n > f->max) {
				rc = fail(DM_ETOOBIG,
					  "%s.%s is %u bytes, limit %u",
					  d->name, f->name, n, f->max);
				goto err;
			}
			if ((rc = put_bytes(out, CAT(msg, f->off, const void *),
					    n)) != 0)
				goto err;
			break;
		}
		case DM_F_STRV: {
			char **v = CAT(msg, f->off, strv_t);
			uint32_t n = CAT(msg, f->off_n, uint32_t);
			size_t total = 0;

			if (n > 65536) {
				rc = fail(DM_ETOOBIG,
					  "%s.%s has %u strings, limit 65536",
					  d->name, f->name, n);
				goto err;
			}
			if ((p = dm_buf_grow(out, 4)) == NULL)
				goto err_nomem;
			dm_put_u32(p, n);
			for (uint32_t j = 0; j < n; j++) {
				size_t sl = strlen(v[j]);

				total += sl;
				if (total > f->max) {
					rc = fail(DM_ETOOBIG,
						  "%s.%s: strings add up past limit %u",
						  d->name, f->name, f->max);
					goto err;
				}
				if ((rc = put_bytes(out, v[j], sl)) != 0)
					goto err;
			}
			break;
		}
		}
	}
	flen = out->len - start - 4;
	if (flen > DM_FRAME_MAX) {
		rc = fail(DM_ETOOBIG, "%s frame is %zu bytes, limit %u",
			  d->name, flen, DM_FRAME_MAX);
		goto err;
	}
	dm_put_u32(out->p + start, (uint32_t)flen);
	return 0;

err_nomem:
	rc = -ENOMEM;
err:
	out->len = start;
	return rc;
}

void
dm_msg_free(uint16_t type, union dm_msg *msg)
{
	const struct msgdef *d = find(type);

	if (d == NULL)
		return;
	for (size_t i = 0; i < d->nfields; i++) {
		const struct dm_field *f = &d->fields[i];

		if (f->kind == DM_F_STR || f->kind == DM_F_STRV) {
			free(AT(msg, f->off, void *));
			AT(msg, f->off, void *) = NULL;
		}
	}
}

/* Reads a u32 length and checks it fits both the frame and the limit. */
static int
take_len(const struct msgdef *d, const struct dm_field *f, const uint8_t **p,
	 const uint8_t *end, uint32_t *n)
{
	if (end - *p < 4)
		return fail(DM_EPROTO, "%s.%s: truncated length", d->name,
			    f->name);
	*n = dm_get_u32(*p);
	*p += 4;
	if ((size_t)(end - *p) < *n)
		return fail(DM_EPROTO, "%s.%s: %u bytes announced, %zu left",
			    d->name, f->name, *n, (size_t)(end - *p));
	return 0;
}

int
dm_msg_decode(uint16_t type, const uint8_t *payload, size_t len,
	      union dm_msg *msg)
{
	const struct msgdef *d = find(type);
	const uint8_t *p = payload, *end = payload + len;
	int rc;

	memset(msg, 0, sizeof(*msg));
	if (d == NULL)
		return fail(DM_EPROTO, "unknown message type %u", type);
	for (size_t i = 0; i < d->nfields; i++) {
		const struct dm_field *f = &d->fields[i];
		uint32_t n;

		switch (f->kind) {
		case DM_F_U32:
			if (end - p < 4)
				goto err_short;
			AT(msg, f->off, uint32_t) = dm_get_u32(p);
			p += 4;
			break;
		case DM_F_U64:
			if (end - p < 8)
				goto err_short;
			AT(msg, f->off, uint64_t) = get_u64(p);
			p += 8;
			break;
		case DM_F_STR: {
			char *s;

			if ((rc = take_len(d, f, &p, end, &n)) != 0)
				goto err;
			if (n > f->max) {
				rc = fail(DM_ETOOBIG,
					  "%s.%s is %u bytes, limit %u",
					  d->name, f->name, n, f->max);
				goto err;
			}
			if (memchr(p, 0, n) != NULL) {
				rc = fail(DM_EPROTO, "%s.%s contains NUL",
					  d->name, f->name);
				goto err;
			}
			if ((s = malloc(n + 1)) == NULL) {
				rc = -ENOMEM;
				goto err;
			}
			memcpy(s, p, n);
			s[n] = '\0';
			AT(msg, f->off, char *) = s;
			p += n;
			break;
		}
		case DM_F_BLOB:
			if ((rc = take_len(d, f, &p, end, &n)) != 0)
				goto err;
			if (n > f->max) {
				rc = fail(DM_ETOOBIG,
					  "%s.%s is %u bytes, limit %u",
					  d->name, f->name, n, f->max);
				goto err;
			}
			AT(msg, f->off, const uint8_t *) = p;
			AT(msg, f->off_n, uint32_t) = n;
			p += n;
			break;
		case DM_F_STRV: {
			const uint8_t *q;
			uint32_t count;
			size_t total = 0;
			char **v, *s;

			if (end - p < 4)
				goto err_short;
			count = dm_get_u32(p);
			p += 4;
			if (count > 65536) {
				rc = fail(DM_ETOOBIG,
					  "%s.%s has %u strings, limit 65536",
					  d->name, f->name, count);
				goto err;
			}
			/* First pass: validate and size. */
			q = p;
			for (uint32_t j = 0; j < count; j++) {
				if ((rc = take_len(d, f, &q, end, &n)) != 0)
					goto err;
				if (memchr(q, 0, n) != NULL) {
					rc = fail(DM_EPROTO,
						  "%s.%s contains NUL",
						  d->name, f->name);
					goto err;
				}
				total += n;
				if (total > f->max) {
					rc = fail(DM_ETOOBIG,
						  "%s.%s: strings add up past limit %u",
						  d->name, f->name, f->max);
					goto err;
				}
				q += n;
			}
			/* One block: the pointer array, then the strings. */
			v = malloc((count + 1) * sizeof(char *) + total +
				   count);
			if (v == NULL) {
				rc = -ENOMEM;
				goto err;
			}
			s = (char *)(v + count + 1);
			for (uint32_t j = 0; j < count; j++) {
				n = dm_get_u32(p);
				p += 4;
				memcpy(s, p, n);
				s[n] = '\0';
				v[j] = s;
				s += n + 1;
				p += n;
			}
			v[count] = NULL;
			AT(msg, f->off, char **) = v;
			AT(msg, f->off_n, uint32_t) = count;
			break;
		}
		}
	}
	if (p != end) {
		rc = fail(DM_EPROTO, "%s: %zu bytes left after the last field",
			  d->name, (size_t)(end - p));
		goto err;
	}
	return 0;

err_short:
	rc = fail(DM_EPROTO, "%s: truncated", d->name);
err:
	dm_msg_free(type, msg);
	return rc;
}

int
dm_frame_peek(const uint8_t *buf, size_t len, size_t *frame_len)
{
	uint32_t n;

	*frame_len = 0;
	if (len < 4)
		return 0;
	n = dm_get_u32(buf);
	if (n < 2)
		return fail(DM_EPROTO, "frame length %u is below 2", n);
	if (n > DM_FRAME_MAX)
		return fail(DM_ETOOBIG, "frame of %u bytes, limit %u", n,
			    DM_FRAME_MAX);
	*frame_len = (size_t)n + 4;
	return 0;
}

void
dm_frame_split(const uint8_t *frame, size_t frame_len, uint16_t *type,
	       const uint8_t **payload, size_t *plen)
{
	*type = (uint16_t)(frame[4] << 8 | frame[5]);
	*payload = frame + 6;
	*plen = frame_len - 6;
}
