/* stream.c: see stream.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include <zstd.h>

#include "err.h"
#include "io.h"
#include "log.h"
#include "stream.h"

/* Level 1: the unit is produced about as fast as zstd -1 compresses, and
 * loopback or LAN links are rarely the bottleneck for compiles. */
#define LEVEL 1

struct dm_stream_out {
	int fd;
	int err;
	uint64_t total;
	size_t fill;
	ZSTD_CCtx *cctx;
	uint8_t in[DM_CHUNK_IN];
	uint8_t out[DM_CHUNK_MAX];
};

int
dm_stream_out_new(int fd, struct dm_stream_out **out)
{
	struct dm_stream_out *s = malloc(sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->cctx = ZSTD_createCCtx();
	if (s->cctx == NULL) {
		free(s);
		return -ENOMEM;
	}
	s->fd = fd;
	s->err = 0;
	s->total = 0;
	s->fill = 0;
	*out = s;
	return 0;
}

static int
flush(struct dm_stream_out *s)
{
	struct dm_msg_data m = {0};
	size_t n;

	if (s->fill == 0 || s->err != 0)
		return s->err;
	n = ZSTD_compressCCtx(s->cctx, s->out, sizeof(s->out), s->in, s->fill,
			      LEVEL);
	if (ZSTD_isError(n))
		return s->err = DM_EZSTD;
	m.chunk = s->out;
	m.chunk_n = (uint32_t)n;
	s->err = dm_io_send(s->fd, DM_MSG_DATA, &m);
	s->fill = 0;
	return s->err;
}

int
dm_stream_out_write(struct dm_stream_out *s, const void *p, size_t n)
{
	const uint8_t *c = p;

	while (n > 0 && s->err == 0) {
		size_t take = sizeof(s->in) - s->fill;

		if (take > n)
			take = n;
		memcpy(s->in + s->fill, c, take);
		s->fill += take;
		s->total += take;
		c += take;
		n -= take;
		if (s->fill == sizeof(s->in))
			flush(s);
	}
	return s->err;
}

void
dm_stream_out_abort(struct dm_stream_out *s)
{
	ZSTD_freeCCtx(s->cctx);
	free(s);
}

int
dm_stream_out_end(struct dm_stream_out *s)
{
	struct dm_msg_data_end m = {0};
	int rc;

	flush(s);
	m.size = s->total;
	if ((rc = s->err) == 0)
		rc = dm_io_send(s->fd, DM_MSG_DATA_END, &m);
	dm_stream_out_abort(s);
	return rc;
}

int
dm_stream_send_fd(int sock, int src)
{
	struct dm_stream_out *s;
	int rc;

	if ((rc = dm_stream_out_new(sock, &s)) != 0)
		return rc;
	for (;;) {
		ssize_t r = read(src, s->in + s->fill, sizeof(s->in) - s->fill);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			dm_stream_out_abort(s);
			return rc;
		}
		if (r == 0)
			break;
		s->fill += (size_t)r;
		s->total += (uint64_t)r;
		if (s->fill == sizeof(s->in) && flush(s) != 0)
			break;
	}
	return dm_stream_out_end(s);
}

int
dm_stream_send_mem(int sock, const void *p, size_t n)
{
	struct dm_stream_out *s;
	int rc;

	if ((rc = dm_stream_out_new(sock, &s)) != 0)
		return rc;
	dm_stream_out_write(s, p, n);
	return dm_stream_out_end(s);
}

/* The one receive loop; sink gets each decompressed chunk. */
static int
recv_stream(int sock, uint64_t limit, struct dm_buf *frame,
	    int (*sink)(void *, const void *, size_t), void *arg,
	    uint64_t *size)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	uint8_t *tmp = malloc(DM_CHUNK_IN);
	uint64_t total = 0;
	union dm_msg m;
	uint16_t type;
	int rc;

	if (dctx == NULL || tmp == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		unsigned long long want;
		size_t n;

		if ((rc = dm_io_recv(sock, frame, &type, &m)) != 0)
			goto out;
		if (type == DM_MSG_DATA_END) {
			rc = m.data_end.size == total ? 0 : DM_EPROTO;
			if (rc != 0)
				dm_warn("stream ended at %llu bytes but "
					"announced %llu",
					(unsigned long long)total,
					(unsigned long long)m.data_end.size);
			goto out;
		}
		if (type != DM_MSG_DATA) {
			dm_msg_free(type, &m);
			rc = DM_EUNEXPECTED;
			goto out;
		}
		want = ZSTD_getFrameContentSize(m.data.chunk, m.data.chunk_n);
		if (want == ZSTD_CONTENTSIZE_ERROR ||
		    want == ZSTD_CONTENTSIZE_UNKNOWN || want > DM_CHUNK_IN) {
			rc = DM_EPROTO;
			goto out;
		}
		if (total + want > limit) {
			dm_warn("stream exceeds its limit of %llu bytes",
				(unsigned long long)limit);
			rc = DM_ETOOBIG;
			goto out;
		}
		n = ZSTD_decompressDCtx(dctx, tmp, DM_CHUNK_IN, m.data.chunk,
					m.data.chunk_n);
		if (ZSTD_isError(n) || n != want) {
			rc = DM_EZSTD;
			goto out;
		}
		total += n;
		if ((rc = sink(arg, tmp, n)) != 0)
			goto out;
	}
out:
	if (size != NULL)
		*size = total;
	free(tmp);
	ZSTD_freeDCtx(dctx);
	return rc;
}

static int
sink_fd(void *arg, const void *p, size_t n)
{
	int fd = *(int *)arg;

	return fd < 0 ? 0 : dm_io_write_all(fd, p, n);
}

static int
sink_buf(void *arg, const void *p, size_t n)
{
	return dm_buf_append(arg, p, n);
}

int
dm_stream_recv_fd(int sock, int dst, uint64_t limit, struct dm_buf *frame,
		  uint64_t *size)
{
	return recv_stream(sock, limit, frame, sink_fd, &dst, size);
}

struct hashed {
	int fd;
	crypto_generichash_state st;
};

static int
sink_hashed(void *arg, const void *p, size_t n)
{
	struct hashed *h = arg;

	crypto_generichash_update(&h->st, p, n);
	return dm_io_write_all(h->fd, p, n);
}

int
dm_stream_recv_fd_hashed(int sock, int dst, uint64_t limit,
			 struct dm_buf *frame, uint8_t *hash, size_t hash_len,
			 uint64_t *size)
{
	struct hashed h = {.fd = dst};
	int rc;

	crypto_generichash_init(&h.st, NULL, 0, hash_len);
	rc = recv_stream(sock, limit, frame, sink_hashed, &h, size);
	crypto_generichash_final(&h.st, hash, hash_len);
	return rc;
}

int
dm_stream_recv_buf(int sock, struct dm_buf *out, uint64_t limit,
		   struct dm_buf *frame)
{
	return recv_stream(sock, limit, frame, sink_buf, out, NULL);
}

int
dm_stream_recv_sink(int sock, uint64_t limit, struct dm_buf *frame,
		    int (*sink)(void *arg, const void *p, size_t n), void *arg,
		    uint64_t *size)
{
	return recv_stream(sock, limit, frame, sink, arg, size);
}
