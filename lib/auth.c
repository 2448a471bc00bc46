/* auth.c: see auth.h and doc/protocol.md "Handshake". */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "err.h"
#include "io.h"
#include "log.h"
#include "msgs.h"

static const uint8_t magic[4] = {'D', 'M', 'K', '1'};

static int
sodium_ready(void)
{
	/* sodium_init() is thread-safe and idempotent; < 0 only on failure. */
	return sodium_init() < 0 ? -EIO : 0;
}

int
dm_key_generate(const char *path)
{
	uint8_t k[32];
	char hex[65];
	int fd, rc;

	if ((rc = sodium_ready()) != 0)
		return rc;
	randombytes_buf(k, sizeof(k));
	sodium_bin2hex(hex, sizeof(hex), k, sizeof(k));
	hex[64] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = dm_io_write_all(fd, hex, 65);
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	sodium_memzero(k, sizeof(k));
	return rc;
}

int
dm_key_load(const char *path, struct dm_key *key)
{
	char text[80];
	size_t bin_len;
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
		dm_warn("key file %s is readable by others (mode %03o); "
			"chmod 600 it",
			path, (unsigned)(st.st_mode & 0777));
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		n--;
	text[n] = '\0';
	if (n != 64 || sodium_hex2bin(key->k, sizeof(key->k), text, 64, NULL,
				      &bin_len, NULL) != 0 ||
	    bin_len != 32)
		return DM_EKEY;
	return sodium_ready();
}

static void
mac(const struct dm_key *key, const char *label, const uint8_t a[32],
    const uint8_t b[32], const uint8_t *extra, size_t extra_len,
    uint8_t out[32])
{
	crypto_auth_hmacsha512256_state st;

	crypto_auth_hmacsha512256_init(&st, key->k, sizeof(key->k));
	crypto_auth_hmacsha512256_update(&st, (const uint8_t *)label,
					 strlen(label));
	crypto_auth_hmacsha512256_update(&st, a, 32);
	crypto_auth_hmacsha512256_update(&st, b, 32);
	if (extra_len)
		crypto_auth_hmacsha512256_update(&st, extra, extra_len);
	crypto_auth_hmacsha512256_final(&st, out);
}

void
dm_auth_hello(uint8_t hello[DM_AUTH_HELLO_LEN], uint8_t ns[32])
{
	(void)sodium_ready();
	memcpy(hello, magic, 4);
	hello[4] = DM_PROTOCOL_VERSION >> 8;
	hello[5] = DM_PROTOCOL_VERSION & 0xff;
	hello[6] = hello[7] = 0;
	randombytes_buf(ns, 32);
	memcpy(hello + 8, ns, 32);
}

int
dm_auth_check(const struct dm_key *key, const uint8_t ns[32],
	      const uint8_t in[DM_AUTH_CLIENT_LEN], uint16_t *role,
	      uint8_t proof[DM_AUTH_PROOF_LEN])
{
	uint8_t expect[32];
	const uint8_t *nc = in + 8;

	if (memcmp(in, magic, 4) != 0)
		return DM_EAUTH;
	if ((in[4] << 8 | in[5]) != DM_PROTOCOL_VERSION)
		return DM_EVERSION;
	mac(key, "dmake client", ns, nc, in + 6, 2, expect);
	if (sodium_memcmp(expect, in + 40, 32) != 0)
		return DM_EAUTH;
	*role = (uint16_t)(in[6] << 8 | in[7]);
	mac(key, "dmake server", nc, ns, NULL, 0, proof);
	return 0;
}

int
dm_auth_server(int fd, const struct dm_key *key, uint16_t *role)
{
	uint8_t hello[DM_AUTH_HELLO_LEN], ns[32], in[DM_AUTH_CLIENT_LEN];
	uint8_t proof[DM_AUTH_PROOF_LEN];
	int rc;

	dm_auth_hello(hello, ns);
	if ((rc = dm_io_write_all(fd, hello, sizeof(hello))) != 0)
		return rc;
	if ((rc = dm_io_read_all(fd, in, sizeof(in))) != 0)
		return rc;
	if ((rc = dm_auth_check(key, ns, in, role, proof)) != 0)
		return rc;
	return dm_io_write_all(fd, proof, sizeof(proof));
}

int
dm_auth_client(int fd, const struct dm_key *key, uint16_t role)
{
	uint8_t hello[DM_AUTH_HELLO_LEN], out[DM_AUTH_CLIENT_LEN];
	uint8_t proof[DM_AUTH_PROOF_LEN], expect[32];
	const uint8_t *ns = hello + 8;
	int rc;

	if ((rc = sodium_ready()) != 0)
		return rc;
	if ((rc = dm_io_read_all(fd, hello, sizeof(hello))) != 0)
		return rc;
	if (memcmp(hello, magic, 4) != 0)
		return DM_EPROTO;
	if ((hello[4] << 8 | hello[5]) != DM_PROTOCOL_VERSION)
		return DM_EVERSION;
	memcpy(out, magic, 4);
	out[4] = DM_PROTOCOL_VERSION >> 8;
	out[5] = DM_PROTOCOL_VERSION & 0xff;
	out[6] = role >> 8;
	out[7] = role & 0xff;
	randombytes_buf(out + 8, 32);
	mac(key, "dmake client", ns, out + 8, out + 6, 2, out + 40);
	if ((rc = dm_io_write_all(fd, out, sizeof(out))) != 0)
		return rc;
	/* A server that refused us just closes: report it as the key. */
	rc = dm_io_read_all(fd, proof, sizeof(proof));
	if (rc == DM_ECLOSED || rc == -ECONNRESET)
		return DM_EAUTH;
	if (rc != 0)
		return rc;
	mac(key, "dmake server", out + 8, ns, NULL, 0, expect);
	return sodium_memcmp(expect, proof, 32) == 0 ? 0 : DM_EAUTH;
}
