/*
 * net.h: addresses and blocking sockets.
 *
 * Addresses are "HOST:PORT" or "[V6]:PORT"; HOST is a name or a literal.
 */
#ifndef DM_NET_H
#define DM_NET_H

#include <stddef.h>
#include <sys/socket.h>

/* Splits "HOST:PORT"; host_len bytes at most.  -DM_EADDR if malformed. */
int dm_net_split(const char *addr, char *host, size_t host_len, int *port);
/* Resolves an address (numeric or by name) into ss. */
int dm_net_resolve(const char *addr, struct sockaddr_storage *ss,
		   socklen_t *len);
/* Blocking TCP connect with a timeout; returns the fd (>= 0, CLOEXEC,
 * TCP_NODELAY) or a negative error. */
int dm_net_connect(const char *addr, int timeout_ms);
/* Blocking connect to a Unix socket at path. */
int dm_net_connect_unix(const char *path);
/* A listening TCP socket bound to addr (SO_REUSEADDR); returns the fd. */
int dm_net_listen(const char *addr, int backlog);
/* "HOST:PORT" of a socket's local or peer address. */
int dm_net_name(int fd, int peer, char *out, size_t len);

#endif
