/*
 * stat_http.c - shmq-stat --listen: the Prometheus endpoint, served by
 * libmicrohttpd with one thread per connection, so that every connection
 * has its own deadlines and none waits for another: a connection idle for
 * HTTP_IDLE_S is closed, and one open for HTTP_TOTAL_S is cut by
 * http_expire() (each serves one request: "Connection: close"); at most
 * HTTP_MAX_CONNS are open at once; request headers beyond HTTP_MEM_BYTES
 * get 431.
 *
 * Who may scrape: on a Unix socket (unix:PATH, the default way) the
 * kernel names the peer (SO_PEERCRED). Root and shmq-stat's own uid get
 * shmq-stat's view; a uid of the allow-list gets its own view, a
 * snapshot taken as that uid (stat_scrape.c), so it sees what `shmq ls`
 * shows it; anyone else gets 403. The socket is mode 0600, 0666 with an
 * allow-list. TCP cannot tell who connects: it listens on loopback only,
 * and only when told that everyone local may see shmq-stat's view.
 * Threads: the caller's, which starts, expires and stops; libmicrohttpd's,
 * which call on_request() and on_conn() concurrently: the first touches
 * only the read-only config, the second the list of open connections,
 * under h->lock, which http_expire() holds while it cuts one. A
 * connection leaves the list before libmicrohttpd closes its descriptor,
 * so a cut never reaches a descriptor that has been reused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "stat.h"

#define HTTP_IDLE_S 10
#define HTTP_TOTAL_S 20 /* a request's arrival, a scrape's 10 s and the answer */
#define HTTP_MAX_CONNS 128
#define HTTP_MEM_BYTES 8192 /* per connection: request headers beyond ~4 KiB get 431 */
#define HTTP_STACK_BYTES (256 * 1024)

/* An open connection, from libmicrohttpd's STARTED to its CLOSED. */
struct http_conn {
	struct http_conn *prev, *next;
	int fd;
	bool cut;
	int64_t started_ms;
};

struct http_server {
	struct MHD_Daemon *mhd;
	const struct http_cfg *cfg;
	int fd;
	bool unix_sock;
	struct stat sock_st;  /* of the socket file we made, to remove only ours */
	pthread_mutex_t lock; /* conns */
	struct http_conn *conns;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
		snprintf(err, errlen,
			 "--listen wants unix:PATH or ADDR:PORT, such as 127.0.0.1:9464");
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
	if (!cfg->tcp_exposes_all) {
		snprintf(err, errlen,
			 "TCP cannot tell who connects: a scrape of %s by any local user would "
			 "see every channel this uid sees; use --listen unix:PATH, or add "
			 "--tcp-exposes-all to mean it",
			 cfg->listen);
		return -1;
	}
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

/* A socket file at path that no one listens on is a leftover: remove it. */
static int clear_stale(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;
	int fd, busy;

	if (lstat(sa->sun_path, &st))
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", sa->sun_path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	busy = !connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) || errno != ECONNREFUSED;
	close(fd);
	if (busy) {
		snprintf(err, errlen, "%s is in use", sa->sun_path);
		return -1;
	}
	unlink(sa->sun_path);
	return 0;
}

/* unix:PATH, mode 0600 (0666 with an allow-list: SO_PEERCRED decides). */
static int listen_unix(struct http_server *h, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t mode = h->cfg->nallow ? 0666 : 0600;
	int fd, saved;

	if (!path[0] || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "--listen unix:PATH wants a path of 1 to %zu bytes",
			 sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	if (clear_stale(&sa, err, errlen))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* no one can connect before listen(), so the mode is set in time */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto out_close;
	if (chmod(path, mode) || lstat(path, &h->sock_st) || listen(fd, HTTP_MAX_CONNS))
		goto out_unlink;
	h->unix_sock = true;
	return fd;

out_unlink:
	saved = errno;
	unlink(path);
	errno = saved;
out_close:
	snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
	close(fd);
	return -1;
}

/* Whose view a peer gets: 0 and *as NULL for ours, 0 and *as for its own, -1 none. */
static int peer_view(const struct http_server *h, struct MHD_Connection *conn,
		     const struct stat_uid **as)
{
	const union MHD_ConnectionInfo *ci;
	struct ucred cred;
	socklen_t len = sizeof(cred);

	*as = NULL;
	if (!h->unix_sock)
		return 0; /* TCP: everyone, as --tcp-exposes-all said */
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return -1;
	if (cred.uid == 0 || cred.uid == geteuid())
		return 0;
	for (size_t i = 0; i < h->cfg->nallow; i++) {
		if (h->cfg->allow[i].uid == cred.uid) {
			*as = &h->cfg->allow[i];
			return 0;
		}
	}
	return -1;
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
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_metrics(struct MHD_Connection *conn, const struct http_cfg *cfg,
				     const struct stat_uid *as)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *body;
	size_t len;

	if (scrape_run(cfg->socket_path, cfg->pattern, as, &body, &len))
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "503 Service Unavailable\n", NULL);
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
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
	const struct stat_uid *as;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (peer_view(h, conn, &as))
		return reply(conn, MHD_HTTP_FORBIDDEN, "403 Forbidden\n", NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "405 Method Not Allowed\n", "GET");
	if (strcmp(url, h->cfg->path))
		return reply(conn, MHD_HTTP_NOT_FOUND, "404 Not Found\n", NULL);
	return reply_metrics(conn, h->cfg, as);
}

/* On a connection's thread: list it when it starts, unlist it before it is closed. */
static void on_conn(void *cls, struct MHD_Connection *conn, void **ctx,
		    enum MHD_ConnectionNotificationCode code)
{
	struct http_server *h = cls;
	struct http_conn *c = *ctx;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		c = ci ? calloc(1, sizeof(*c)) : NULL;
		if (!c)
			return; /* not cut early: it still has its idle deadline */
		*c = (struct http_conn){.fd = ci->connect_fd, .started_ms = mono_ms()};
		pthread_mutex_lock(&h->lock);
		c->next = h->conns;
		if (h->conns)
			h->conns->prev = c;
		h->conns = c;
		pthread_mutex_unlock(&h->lock);
		*ctx = c;
		return;
	}
	if (code != MHD_CONNECTION_NOTIFY_CLOSED || !c)
		return;
	pthread_mutex_lock(&h->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&h->lock);
	free(c);
	*ctx = NULL;
}

void http_expire(struct http_server *h)
{
	int64_t now = mono_ms();

	pthread_mutex_lock(&h->lock);
	for (struct http_conn *c = h->conns; c; c = c->next) {
		if (c->cut || now - c->started_ms < HTTP_TOTAL_S * 1000)
			continue;
		shutdown(c->fd, SHUT_RDWR); /* its thread sees the end and closes it */
		c->cut = true;
	}
	pthread_mutex_unlock(&h->lock);
}

int http_start(const struct http_cfg *cfg, struct http_server **out, char *err, size_t errlen)
{
	struct http_server *h = calloc(1, sizeof(*h));
	const char *listen = cfg->listen;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->cfg = cfg;
	pthread_mutex_init(&h->lock, NULL);
	if (!strncmp(listen, "unix:", 5))
		h->fd = listen_unix(h, listen + 5, err, errlen);
	else
		h->fd = listen_tcp(cfg, err, errlen);
	if (h->fd < 0)
		goto out_free;
	h->mhd = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL,
	    NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, h->fd, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)HTTP_IDLE_S, MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNS,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEM_BYTES,
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_STACK_BYTES, MHD_OPTION_NOTIFY_CONNECTION,
	    on_conn, h, MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(err, errlen, "libmicrohttpd did not start on %s", listen);
		goto out_close;
	}
	*out = h;
	return 0;

out_close:
	if (h->unix_sock)
		unlink(listen + 5);
	close(h->fd);
out_free:
	pthread_mutex_destroy(&h->lock);
	free(h);
	return -1;
}

void http_stop(struct http_server *h)
{
	struct stat st;
	const char *path = h->cfg->listen + 5;

	MHD_stop_daemon(h->mhd); /* closes h->fd too */
	/* remove the socket file if it is still the one we made */
	if (h->unix_sock && !lstat(path, &st) && st.st_ino == h->sock_st.st_ino &&
	    st.st_dev == h->sock_st.st_dev)
		unlink(path);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
