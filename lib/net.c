/* net.c: see net.h. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "err.h"
#include "net.h"

int
dm_net_split(const char *addr, char *host, size_t host_len, int *port)
{
	const char *colon, *h = addr;
	size_t hl;
	char *end;
	long p;

	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');

		if (close == NULL || close[1] != ':')
			return DM_EADDR;
		h = addr + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL)
			return DM_EADDR;
		hl = (size_t)(colon - addr);
	}
	if (hl == 0 || hl >= host_len)
		return DM_EADDR;
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || p < 0 || p > 65535)
		return DM_EADDR;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)p;
	return 0;
}

int
dm_net_resolve(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {0}, *res;
	char host[256], port_s[8];
	int port, rc;

	if ((rc = dm_net_split(addr, host, sizeof(host), &port)) != 0)
		return rc;
	snprintf(port_s, sizeof(port_s), "%d", port);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port_s, &hints, &res) != 0)
		return DM_EADDR;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int
dm_net_connect(const char *addr, int timeout_ms)
{
	struct sockaddr_storage ss;
	struct pollfd pfd;
	socklen_t len;
	int fd, rc, one = 1, err = 0, flags;

	if ((rc = dm_net_resolve(addr, &ss, &len)) != 0)
		return rc;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
			goto err_after_socket;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do
			rc = poll(&pfd, 1, timeout_ms);
		while (rc < 0 && errno == EINTR);
		if (rc == 0) {
			rc = DM_ETIMEOUT;
			goto err_after_socket;
		}
		len = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0) {
			rc = -err;
			goto err_after_socket;
		}
	}
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;

err_after_socket:
	close(fd);
	return rc;
}

int
dm_net_connect_unix(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, rc;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int
dm_net_listen(const char *addr, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, rc, one = 1;

	if ((rc = dm_net_resolve(addr, &ss, &len)) != 0)
		return rc;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
	    listen(fd, backlog) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int
dm_net_name(int fd, int peer, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	int port;

	if ((peer ? getpeername(fd, (struct sockaddr *)&ss, &sl)
		  : getsockname(fd, (struct sockaddr *)&ss, &sl)) != 0)
		return -errno;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, len, "%s:%d", host, port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, len, "[%s]:%d", host, port);
	} else {
		snprintf(out, len, "local");
	}
	return 0;
}
