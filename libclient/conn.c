/*
 * conn.c - the connection to shmqd and its life across daemon restarts:
 * connect and version handshake, the request helper, and reconnection.
 * When the daemon goes away, open handles go on on the data path; control
 * calls try to reconnect (at most every backoff_ms, doubling to 1 s) and
 * answer -SHMQ_ENODAEMON meanwhile. Once a daemon is back, every open handle
 * is re-registered with OP_RESUME (the daemon checks the slot, its
 * generation and our process); a handle the new daemon does not know is
 * lost: subscribers (client_check) and publishers (client_pub_check, every
 * PUB_LOOK_EVERY claims) end with -SHMQ_ECLOSED.
 * Everything here holds c->lock.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "wait.h"

#define BACKOFF_MIN_MS 10u
#define BACKOFF_MAX_MS 1000u

static int dial(const char *path, int *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -SHMQ_EINVAL;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno == EMFILE || errno == ENFILE ? -SHMQ_ELIMIT : -SHMQ_ESYS;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		if (e == EACCES || e == EPERM)
			return -SHMQ_EPERM;
		return -SHMQ_ENODAEMON;
	}
	*out = fd;
	return 0;
}

static int call_locked(struct shmq_client *c, uint16_t op, const void *req, uint32_t req_len,
		       void *resp, uint32_t resp_len, int *fds, unsigned *nfds)
{
	int err = client_drop_late(c);

	if (!err)
		err = client_send(c, op, req, req_len);
	if (!err)
		err = client_recv(c, op, resp, resp_len, fds, nfds);
	else if (nfds)
		*nfds = 0;
	if (err && nfds) {
		for (unsigned i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
	}
	return err;
}

/* Dial and say hello: the new connection in c->fd, or an error. */
static int hello_locked(struct shmq_client *c)
{
	struct proto_hello hello = {.major = PROTO_VERSION, .minor = PROTO_MINOR};
	int err = dial(c->path, &c->fd);

	c->late = 0; /* a new connection owes no answer */
	if (err) {
		c->fd = -1;
		return err;
	}
	err = client_send(c, OP_HELLO, &hello, sizeof(hello));
	/* a daemon that turns the connection away answers and closes, maybe
	 * before the HELLO went out: its answer is read even then */
	if (!err || err == -SHMQ_ECLOSED)
		err = client_recv(c, OP_HELLO, &hello, sizeof(hello), NULL, NULL);
	if (err) {
		close(c->fd);
		c->fd = -1;
		return err;
	}
	c->daemon_pid = hello.pid;
	c->daemon_minor = hello.minor;
	return 0;
}

static void down_locked(struct shmq_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (!c->down_since_ns)
		c->down_since_ns = wait_now_ns();
}

static void unlink_locked(struct shmq_client *c, struct client_handle *h)
{
	for (struct client_handle **p = &c->handles; *p; p = &(*p)->next) {
		if (*p == h) {
			*p = h->next;
			break;
		}
	}
}

/*
 * Resume every handle; close those closed meanwhile (copies we own).
 * -SHMQ_ECLOSED if this daemon went away meanwhile (killed or replaced
 * in its turn): the handles not yet settled wait for the next daemon,
 * none is lost for it. A handle the daemon refuses is lost.
 */
static int resume_all_locked(struct shmq_client *c)
{
	struct client_handle *h = c->handles, *next;
	int err;

	for (; h; h = next) {
		struct proto_resume req = {
		    .channel_id = h->channel_id, .role = h->role, .slot = h->slot, .gen = h->gen};
		struct proto_close close_req = {
		    .channel_id = h->channel_id, .role = h->role, .reader_idx = h->slot};
		struct proto_resume resp;
		struct proto_close close_resp;

		next = h->next;
		if (!h->lost) {
			err = c->daemon_minor < PROTO_MINOR_RESUME
				  ? -SHMQ_EVERSION
				  : call_locked(c, OP_RESUME, &req, sizeof(req), &resp,
						sizeof(resp), NULL, NULL);
			if (err == -SHMQ_ECLOSED)
				return err;
			h->lost = err != 0;
		}
		if (!h->closing)
			continue;
		if (!h->lost && call_locked(c, OP_CLOSE, &close_req, sizeof(close_req), &close_resp,
					    sizeof(close_resp), NULL, NULL) == -SHMQ_ECLOSED)
			return -SHMQ_ECLOSED;
		unlink_locked(c, h);
		free(h);
	}
	return 0;
}

/*
 * The daemon is away: try again, if the backoff allows (a control call
 * always tries: a failing connect costs microseconds, and its caller
 * waits for an answer). 0 if connected now.
 */
static int reconnect_locked(struct shmq_client *c, bool now_anyway)
{
	uint64_t now = wait_now_ns();

	if (c->fd >= 0)
		return 0;
	if (!now_anyway && now < c->next_try_ns)
		return -SHMQ_ENODAEMON;
	if (hello_locked(c)) {
		c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
		if (c->backoff_ms > BACKOFF_MAX_MS)
			c->backoff_ms = BACKOFF_MAX_MS;
		c->next_try_ns = now + c->backoff_ms * 1000000ull;
		return -SHMQ_ENODAEMON;
	}
	if (resume_all_locked(c)) {
		down_locked(c); /* went away while we resumed: the next one resumes */
		return -SHMQ_ENODAEMON;
	}
	c->backoff_ms = 0;
	c->down_since_ns = 0;
	return 0;
}

int client_call(struct shmq_client *c, uint16_t op, const void *req, uint32_t req_len, void *resp,
		uint32_t resp_len, int *fds, unsigned *nfds)
{
	unsigned room = nfds ? *nfds : 0; /* a failed call_locked() leaves *nfds 0 */
	int err;

	pthread_mutex_lock(&c->lock);
	err = reconnect_locked(c, true);
	if (!err)
		err = call_locked(c, op, req, req_len, resp, resp_len, fds, nfds);
	if (err == -SHMQ_ECLOSED) {
		/* the daemon went: once more with the one that may be there
		 * now, with room for the descriptors its answer carries */
		down_locked(c);
		if (nfds)
			*nfds = room;
		err = reconnect_locked(c, true);
		if (!err)
			err = call_locked(c, op, req, req_len, resp, resp_len, fds, nfds);
		if (err == -SHMQ_ECLOSED)
			down_locked(c);
	}
	if (err == -SHMQ_ENODAEMON && nfds)
		*nfds = 0;
	pthread_mutex_unlock(&c->lock);
	return err;
}

/* Did the daemon hang up on us? (no waiting) */
static bool hung_up_locked(struct shmq_client *c)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLRDHUP};

	return c->fd >= 0 && poll(&pfd, 1, 0) > 0 &&
	       (pfd.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL));
}

int client_check(struct shmq_client *c, const struct client_handle *h)
{
	int err = 0;

	pthread_mutex_lock(&c->lock);
	if (hung_up_locked(c))
		down_locked(c);
	reconnect_locked(c, false);
	if (h->lost ||
	    (c->fd < 0 && c->down_since_ns && wait_now_ns() - c->down_since_ns > DAEMON_GRACE_NS))
		err = -SHMQ_ECLOSED;
	pthread_mutex_unlock(&c->lock);
	return err;
}

int client_daemon(struct shmq_client *c, uint32_t *pid)
{
	int err = 0;

	pthread_mutex_lock(&c->lock);
	if (hung_up_locked(c))
		down_locked(c);
	reconnect_locked(c, false);
	*pid = c->daemon_pid;
	if (c->fd < 0)
		err = c->down_since_ns && wait_now_ns() - c->down_since_ns > DAEMON_GRACE_NS
			  ? -SHMQ_ECLOSED
			  : -SHMQ_ENODAEMON;
	pthread_mutex_unlock(&c->lock);
	return err;
}

int client_pub_check(struct shmq_client *c, const struct client_handle *h)
{
	int err;

	pthread_mutex_lock(&c->lock);
	if (hung_up_locked(c))
		down_locked(c);
	reconnect_locked(c, false);
	err = h->lost ? -SHMQ_ECLOSED : 0;
	pthread_mutex_unlock(&c->lock);
	return err;
}

void client_handle_add(struct shmq_client *c, struct client_handle *h)
{
	pthread_mutex_lock(&c->lock);
	h->next = c->handles;
	c->handles = h;
	pthread_mutex_unlock(&c->lock);
}

static bool linked_locked(const struct shmq_client *c, const struct client_handle *h)
{
	for (const struct client_handle *p = c->handles; p; p = p->next)
		if (p == h)
			return true;
	return false;
}

/*
 * Close h at the daemon. Its copy, marked closing, takes its place in the
 * list first: a daemon met again on the way (the one we knew went away)
 * resumes the copy and closes it (resume_all_locked()), since a handle it
 * was not told of is not ours to close there; with no daemon the copy
 * waits for the next one. The caller frees h afterwards.
 */
void client_handle_close(struct shmq_client *c, struct client_handle *h)
{
	struct proto_close req = {
	    .channel_id = h->channel_id, .role = h->role, .reader_idx = h->slot};
	struct proto_close resp;
	struct client_handle *copy = malloc(sizeof(*copy));
	int err;

	pthread_mutex_lock(&c->lock);
	unlink_locked(c, h);
	if (h->lost || !copy) { /* nothing to close, or its slot waits for our process to end */
		pthread_mutex_unlock(&c->lock);
		free(copy);
		return;
	}
	*copy = *h;
	copy->closing = true;
	copy->next = c->handles;
	c->handles = copy;
	err = reconnect_locked(c, true);
	if (!err && linked_locked(c, copy)) { /* the daemon we knew: it knows the handle */
		err = call_locked(c, OP_CLOSE, &req, sizeof(req), &resp, sizeof(resp), NULL, NULL);
		if (err == -SHMQ_ECLOSED) {
			down_locked(c);
			reconnect_locked(c, true); /* resumes the copy, then closes it */
		} else {
			unlink_locked(c, copy);
			free(copy);
		}
	}
	pthread_mutex_unlock(&c->lock);
}

SHMQ_EXPORT int shmq_connect(const char *socket_path, struct shmq_client **out)
{
	return shmq_connect_timeout(socket_path, -1, out);
}

SHMQ_EXPORT int shmq_connect_timeout(const char *socket_path, int64_t timeout_ns,
				     struct shmq_client **out)
{
	struct shmq_client *c;
	int err;

	if (!out || timeout_ns == 0)
		return -SHMQ_EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -SHMQ_ENOMEM;
	c->timeout_ns = timeout_ns < 0 ? -1 : timeout_ns;
	err = shmq_socket_path(socket_path, c->path, sizeof(c->path));
	if (err) {
		free(c);
		return err;
	}
	pthread_mutex_init(&c->lock, NULL);
	err = hello_locked(c);
	if (err) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return err;
	}
	*out = c;
	return 0;
}

SHMQ_EXPORT int shmq_client_connected(struct shmq_client *c)
{
	int up;

	if (!c)
		return -SHMQ_EINVAL;
	pthread_mutex_lock(&c->lock);
	if (hung_up_locked(c))
		down_locked(c);
	up = c->fd >= 0;
	pthread_mutex_unlock(&c->lock);
	return up;
}

SHMQ_EXPORT void shmq_disconnect(struct shmq_client *c)
{
	if (!c)
		return;
	reply_cache_free(c);
	/* copies of handles closed while the daemon was away: closed at the
	 * daemon there is now, if one answers, else their slots wait for our
	 * process to end */
	if (c->handles) {
		pthread_mutex_lock(&c->lock);
		if (hung_up_locked(c))
			down_locked(c);
		reconnect_locked(c, true);
		pthread_mutex_unlock(&c->lock);
	}
	while (c->handles) {
		struct client_handle *h = c->handles;

		c->handles = h->next;
		if (h->closing)
			free(h);
	}
	if (c->fd >= 0)
		close(c->fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
