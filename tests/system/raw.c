/*
 * raw.c - the hand-made control-socket client of the system tests (see
 * raw.h). Nothing here trusts the daemon either: sizes are checked and
 * unexpected descriptors closed.
 */
#include "raw.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "shmq.h"

int raw_connect(struct raw *r, const char *sock)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	r->seq = 0;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	r->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (r->fd < 0)
		return -1;
	if (connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(r->fd);
		r->fd = -1;
		return -1;
	}
	return 0;
}

void raw_close(struct raw *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

int raw_send(struct raw *r, const void *buf, size_t len)
{
	return send(r->fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

int raw_request(struct raw *r, uint16_t op, const void *body, uint32_t len)
{
	uint8_t buf[PROTO_MAX_BYTES];
	struct proto_hdr h = {
	    .magic = PROTO_MAGIC,
	    .version = PROTO_VERSION,
	    .op = op,
	    .seq = ++r->seq,
	    .body_bytes = len,
	};

	if (sizeof(h) + len > sizeof(buf))
		return -1;
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), body, len);
	return raw_send(r, buf, sizeof(h) + len);
}

static unsigned take_fds(struct msghdr *mh, int *fds, unsigned max)
{
	unsigned got = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		int *p = (int *)CMSG_DATA(cm);
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (fds && got < max)
				fds[got++] = p[i];
			else
				close(p[i]);
		}
	}
	return got;
}

int raw_reply(struct raw *r, struct proto_hdr *h, void *body, size_t max, int *fds, unsigned *nfds)
{
	uint8_t buf[PROTO_MAX_BYTES];
	char cbuf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct pollfd p = {.fd = r->fd, .events = POLLIN};
	unsigned got, max_fds = nfds ? *nfds : 0;
	ssize_t n;

	if (nfds)
		*nfds = 0;
	if (poll(&p, 1, FX_HANG_S * 1000) != 1) {
		fprintf(stderr, "raw client: no answer within %d s\n", FX_HANG_S);
		return -1000;
	}
	n = recvmsg(r->fd, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0 && errno == ECONNRESET)
		return RAW_CLOSED;
	if (n == 0)
		return RAW_CLOSED;
	if (n < (ssize_t)sizeof(*h))
		return -1000;
	got = take_fds(&mh, fds, max_fds);
	if (nfds)
		*nfds = got;
	memcpy(h, buf, sizeof(*h));
	if (h->magic != PROTO_MAGIC || h->body_bytes != (size_t)n - sizeof(*h))
		return -1000;
	if (body)
		memcpy(body, buf + sizeof(*h), h->body_bytes < max ? h->body_bytes : max);
	return h->status;
}

int raw_call(struct raw *r, uint16_t op, const void *body, uint32_t len, void *resp, size_t max)
{
	struct proto_hdr h;

	if (raw_request(r, op, body, len))
		return RAW_CLOSED;
	return raw_reply(r, &h, resp, max, NULL, NULL);
}

int raw_hello(struct raw *r)
{
	struct proto_hello req = {.major = PROTO_VERSION, .minor = SHMQ_VERSION_MINOR}, resp;

	return raw_call(r, OP_HELLO, &req, sizeof(req), &resp, sizeof(resp));
}

static int map_whole(int fd, int prot, void **base, uint64_t *bytes)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || st.st_size <= 0)
		return -1;
	*base = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
	if (*base == MAP_FAILED)
		return -1;
	*bytes = (uint64_t)st.st_size;
	return 0;
}

int raw_open(struct raw *r, const char *name, uint32_t role, struct raw_chan *out)
{
	struct proto_open req = {.role = role, .start = SHMQ_START_LATEST};
	struct proto_hdr h;
	int fds[5] = {-1, -1, -1, -1, -1}, err;
	unsigned nfds = 5, nseg = role == ROLE_MON ? 3 : 4;
	uint64_t bytes;
	void *p;

	memset(out, 0, sizeof(*out));
	out->efd = out->ctl_fd = -1;
	snprintf(req.name, sizeof(req.name), "%s", name);
	if (raw_request(r, OP_OPEN, &req, sizeof(req)))
		return RAW_CLOSED;
	err = raw_reply(r, &h, &out->o, sizeof(out->o), fds, &nfds);
	if (err)
		return err;
	err = -1000;
	if (nfds < nseg || map_whole(fds[0], role == ROLE_PUB ? PROT_READ | PROT_WRITE : PROT_READ,
				     &p, &out->data_bytes))
		goto out_close;
	out->data = p;
	if (map_whole(fds[1], PROT_READ, &p, &out->ctl_bytes))
		goto out_close;
	out->ctl = p;
	if (map_whole(fds[2], role == ROLE_MON ? PROT_READ : PROT_READ | PROT_WRITE, &p, &bytes))
		goto out_close;
	out->wake = p;
	if (role != ROLE_MON) {
		if (map_whole(fds[3], PROT_READ | PROT_WRITE, &p, &bytes))
			goto out_close;
		out->entry = p;
	}
	out->ctl_fd = fds[1];
	fds[1] = -1;
	if (nfds > nseg) {
		out->efd = fds[nseg];
		fds[nseg] = -1;
	}
	err = 0;
out_close:
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (err)
		raw_chan_unmap(out);
	return err;
}

void raw_chan_unmap(struct raw_chan *c)
{
	if (c->data)
		munmap(c->data, c->data_bytes);
	if (c->ctl)
		munmap((void *)c->ctl, c->ctl_bytes);
	if (c->wake)
		munmap(c->wake, WAKE_SEG_BYTES);
	if (c->entry)
		munmap(c->entry, ENTRY_SEG_BYTES);
	if (c->efd >= 0)
		close(c->efd);
	if (c->ctl_fd >= 0)
		close(c->ctl_fd);
	memset(c, 0, sizeof(*c));
	c->efd = c->ctl_fd = -1;
}
