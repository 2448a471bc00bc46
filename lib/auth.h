/*
 * auth.h: the cluster key and the handshake of doc/protocol.md.
 *
 * The server side is split into pure steps (hello, check, proof) so the
 * libuv connections in conn.c and the blocking servers share one
 * implementation; dm_auth_server() and dm_auth_client() run the whole
 * exchange on a blocking socket.
 */
#ifndef DM_AUTH_H
#define DM_AUTH_H

#include <stdint.h>

#define DM_AUTH_HELLO_LEN 40  /* server -> client */
#define DM_AUTH_CLIENT_LEN 72 /* client -> server */
#define DM_AUTH_PROOF_LEN 32  /* server -> client */

struct dm_key {
	uint8_t k[32];
};

/* Writes a new random key to path (created 0600, must not exist). */
int dm_key_generate(const char *path);
/* Reads a key file: 64 hex digits, optional trailing newline.  Returns
 * -DM_EKEY for anything else, -errno when the file cannot be read. */
int dm_key_load(const char *path, struct dm_key *key);

/* Server step 1: fills the 40-byte hello and keeps the nonce. */
void dm_auth_hello(uint8_t hello[DM_AUTH_HELLO_LEN], uint8_t ns[32]);
/* Server step 2: checks the client's 72 bytes.  On success fills role and
 * the 32-byte proof to send back.  -DM_EVERSION or -DM_EAUTH otherwise. */
int dm_auth_check(const struct dm_key *key, const uint8_t ns[32],
		  const uint8_t in[DM_AUTH_CLIENT_LEN], uint16_t *role,
		  uint8_t proof[DM_AUTH_PROOF_LEN]);

/* Blocking variants (sockets may carry SO_RCVTIMEO). */
int dm_auth_server(int fd, const struct dm_key *key, uint16_t *role);
int dm_auth_client(int fd, const struct dm_key *key, uint16_t role);

#endif
