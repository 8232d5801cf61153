/*
 * stat_http.c - the smallest HTTP/1.x responder that a Prometheus scrape
 * needs, for shmq-stat --listen. It binds loopback addresses only, serves
 * one connection at a time and closes it after one response. A request
 * must arrive whole (headers up to HTTP_MAX_REQUEST bytes) within
 * HTTP_IO_MS; a GET of the metrics path gets the exposition, another
 * method 405, another path 404, an oversized request 431, garbage 400.
 * Nothing a peer sends can hold the caller longer than HTTP_IO_MS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stat.h"

#define HTTP_MAX_REQUEST 4096
#define HTTP_IO_MS 2000
#define HTTP_DRAIN_MS 300

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* ADDR:PORT, [V6ADDR]:PORT or localhost:PORT, loopback only, into ss. */
static int parse_addr(const char *in, struct sockaddr_storage *ss, socklen_t *len, char *err,
		      size_t errlen)
{
	char host[64];
	const char *colon = strrchr(in, ':');
	size_t hl = colon ? (size_t)(colon - in) : 0;
	uint16_t port;

	if (!colon || hl == 0 || hl >= sizeof(host) || parse_port(colon + 1, &port)) {
		snprintf(err, errlen, "--listen wants ADDR:PORT, such as 127.0.0.1:9464");
		return -1;
	}
	memcpy(host, in, hl);
	host[hl] = 0;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[hl - 1] = 0;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1 ||
		    !IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
			goto not_loopback;
		*len = sizeof(*a);
		return 0;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	if (!strcmp(host, "localhost"))
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &a->sin_addr) != 1 ||
		 (ntohl(a->sin_addr.s_addr) >> 24) != 127)
		goto not_loopback;
	*len = sizeof(*a);
	return 0;

not_loopback:
	snprintf(err, errlen,
		 "--listen serves loopback only (127.0.0.0/8, [::1], localhost), not %s", host);
	return -1;
}

int http_listen(const char *addr_port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (parse_addr(addr_port, &ss, &len, err, errlen))
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 8)) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr_port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write all of buf before the deadline; the socket is non-blocking. */
static void send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len) {
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		int64_t left = deadline - mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			return;
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void reply(int fd, const char *status, const char *extra, const char *type, const char *body,
		  size_t len, int64_t deadline)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			 "Connection: close\r\n\r\n",
			 status, type, len, extra);

	send_all(fd, head, (size_t)n, deadline);
	send_all(fd, body, len, deadline);
}

static void reply_text(int fd, const char *status, const char *extra, int64_t deadline)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%s\n", status);

	reply(fd, status, extra, "text/plain; charset=utf-8", body, (size_t)n, deadline);
}

/* Read until the end of the headers: 1, 0 (too big), -1 (closed, timed out). */
static int read_request(int fd, char *buf, size_t cap, int64_t deadline)
{
	size_t len = 0;

	for (;;) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			return -1;
		n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = 0;
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return 1;
		if (len >= cap - 1)
			return 0;
	}
}

static void answer(int fd, const char *path, char *(*body)(void *, size_t *), void *arg)
{
	static char req[HTTP_MAX_REQUEST + 1];
	int64_t deadline = mono_ms() + HTTP_IO_MS;
	char method[16], target[256], version[16];
	int r = read_request(fd, req, sizeof(req), deadline);
	size_t plen = strlen(path), len;
	char *out;

	if (r < 0)
		return;
	if (r == 0) {
		reply_text(fd, "431 Request Header Fields Too Large", "", deadline);
		return;
	}
	if (sscanf(req, "%15s %255s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7)) {
		reply_text(fd, "400 Bad Request", "", deadline);
		return;
	}
	if (strcmp(method, "GET")) {
		reply_text(fd, "405 Method Not Allowed", "Allow: GET\r\n", deadline);
		return;
	}
	if (strncmp(target, path, plen) || (target[plen] && target[plen] != '?')) {
		reply_text(fd, "404 Not Found", "", deadline);
		return;
	}
	out = body(arg, &len);
	if (!out) {
		reply_text(fd, "503 Service Unavailable", "", deadline);
		return;
	}
	reply(fd, "200 OK", "", "text/plain; version=0.0.4; charset=utf-8", out, len, deadline);
	free(out);
}

static void drain(int fd, int64_t deadline)
{
	char buf[4096];

	for (;;) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			return;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return;
	}
}

void http_serve_once(int lfd, int timeout_ms, const char *path,
		     char *(*body)(void *arg, size_t *len), void *arg)
{
	struct pollfd pf = {.fd = lfd, .events = POLLIN};
	int fd;

	if (poll(&pf, 1, timeout_ms) <= 0)
		return;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	answer(fd, path, body, arg);
	/* let the peer read the response before the close resets it: what
	 * it still sends is read and dropped, for a bounded time */
	shutdown(fd, SHUT_WR);
	drain(fd, mono_ms() + HTTP_DRAIN_MS);
	close(fd);
}
