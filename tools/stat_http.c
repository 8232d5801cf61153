/*
 * stat_http.c - shmq-stat --listen: the Prometheus endpoint, served by
 * libmicrohttpd with one thread per connection, so that every connection
 * has its own deadlines and none waits for another: a connection idle for
 * HTTP_IDLE_S is closed, at most HTTP_MAX_CONNS are open at once, request
 * headers beyond HTTP_MEM_BYTES get 431. It listens on loopback only.
 * Threads: the caller's, which starts and stops; libmicrohttpd's, which
 * call on_request() concurrently (it touches only the read-only config).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stat.h"

#define HTTP_IDLE_S 10
#define HTTP_MAX_CONNS 128
#define HTTP_MEM_BYTES 8192 /* per connection: request headers beyond ~4 KiB get 431 */
#define HTTP_STACK_BYTES (256 * 1024)

struct http_server {
	struct MHD_Daemon *mhd;
	const struct http_cfg *cfg;
	int fd;
};

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

static int parse_v6(char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1 || !IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
		return -1;
	*len = sizeof(*a);
	return 0;
}

/* ADDR:PORT, [V6ADDR]:PORT or localhost:PORT, loopback only, into ss. */
static int parse_tcp(const char *in, struct sockaddr_storage *ss, socklen_t *len, char *err,
		     size_t errlen)
{
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	const char *colon = strrchr(in, ':');
	size_t hl = colon ? (size_t)(colon - in) : 0;
	char host[64];
	uint16_t port;

	if (!colon || hl == 0 || hl >= sizeof(host) || parse_port(colon + 1, &port)) {
		snprintf(err, errlen, "--listen wants ADDR:PORT, such as 127.0.0.1:9464");
		return -1;
	}
	memcpy(host, in, hl);
	host[hl] = 0;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = 0;
		if (parse_v6(host + 1, port, ss, len))
			goto not_loopback;
		return 0;
	}
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

static int listen_tcp(const struct http_cfg *cfg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (parse_tcp(cfg->listen, &ss, &len, err, errlen))
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, HTTP_MAX_CONNS)) {
		snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text,
			     const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_metrics(struct MHD_Connection *conn, const struct http_cfg *cfg)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *body;
	size_t len;

	if (scrape_run(cfg->socket_path, cfg->pattern, &body, &len))
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "503 Service Unavailable\n", NULL);
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* Called on a connection's thread once its headers are in: answer at once. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	const struct http_server *h = cls;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "405 Method Not Allowed\n", "GET");
	if (strcmp(url, h->cfg->path))
		return reply(conn, MHD_HTTP_NOT_FOUND, "404 Not Found\n", NULL);
	return reply_metrics(conn, h->cfg);
}

int http_start(const struct http_cfg *cfg, struct http_server **out, char *err, size_t errlen)
{
	struct http_server *h = calloc(1, sizeof(*h));

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->cfg = cfg;
	h->fd = listen_tcp(cfg, err, errlen);
	if (h->fd < 0)
		goto out_free;
	h->mhd = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL,
	    NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, h->fd, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)HTTP_IDLE_S, MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNS,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEM_BYTES,
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_STACK_BYTES, MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(err, errlen, "libmicrohttpd did not start on %s", cfg->listen);
		goto out_close;
	}
	*out = h;
	return 0;

out_close:
	close(h->fd);
out_free:
	free(h);
	return -1;
}

void http_stop(struct http_server *h)
{
	MHD_stop_daemon(h->mhd); /* closes h->fd too */
	free(h);
}
