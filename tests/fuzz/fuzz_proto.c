/*
 * fuzz_proto.c - libFuzzer target: the control protocol as shmqd decodes
 * it. The daemon's own ctl and registry run in this process on a socket in
 * a private directory; each input is one client connection sending a
 * sequence of datagrams, each optionally carrying descriptors the harness
 * makes (a memfd, a socket pair's end, /dev/null), through the real
 * ctl_event() -> recvmsg -> request_check() -> request_run() path, whose
 * replies the harness reads (closing what they carry). Between inputs the
 * client is gone (ctl released its handles) and every channel is freed, so
 * inputs do not depend on each other.
 *
 * Input: repeated [flags u8][len u16 LE][len bytes]. flags & 3: descriptors
 * (0 none, 1 a memfd, 2 a socket, 3 all three); flags & 4: the harness
 * writes magic, version and body_bytes into the datagram's header, so that
 * mutations reach the bodies; flags & 8: the body's first 8 bytes become
 * the channel id of the last OP_OPEN answered (ids carry the daemon's pid),
 * flags & 16: its bytes 12..19 that answer's slot and generation (where
 * OP_CLOSE and OP_RESUME have them).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "logmsg.h"
#include "proto.h"
#include "registry.h"
#include "request.h"

#define MAX_MSGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config cfg;
static struct registry reg;
static struct ctl *ctl;
static char dir[64];
static char sock_path[108];
static struct proto_opened last; /* the last OP_OPEN answered */

static void cleanup(void)
{
	ctl_close(ctl, false);
	registry_fini(&reg);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* segments are allocated up front: a channel of 1 TiB would take the
	 * machine's memory; above 8 MiB ftruncate() fails (EFBIG), an error
	 * path worth reaching too */
	struct rlimit fsize = {8u << 20, 8u << 20};
	int epfd = epoll_create1(EPOLL_CLOEXEC);

	(void)argc;
	(void)argv;
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &fsize))
		abort();
	log_threshold = getenv("FUZZ_VERBOSE") ? LOG_DEBUG : LOG_ERROR + 1;
	snprintf(dir, sizeof(dir), "/tmp/shmq-fuzz-proto.XXXXXX");
	if (epfd < 0 || !mkdtemp(dir))
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
	config_defaults(&cfg);
	registry_init(&reg, &cfg);
	if (ctl_open(&ctl, sock_path, epfd, &reg, &cfg))
		abort();
	atexit(cleanup);
	return 0;
}

/* Descriptors for one datagram, by flags & 3; returns how many. */
static unsigned make_fds(unsigned kind, int *fds)
{
	unsigned n = 0;
	int sv[2];

	if (kind & 1) {
		fds[n] = memfd_create("fuzz", MFD_CLOEXEC);
		if (fds[n] >= 0 && ftruncate(fds[n], 4096) == 0)
			n++;
		else if (fds[n] >= 0)
			close(fds[n]);
	}
	if ((kind & 2) && socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == 0) {
		close(sv[1]);
		fds[n++] = sv[0];
	}
	if (kind == 3) {
		fds[n] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		n += fds[n] >= 0;
	}
	return n;
}

static int send_one(int fd, const uint8_t *msg, size_t len, unsigned flags)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 3)];
	uint8_t buf[PROTO_MAX_BYTES + 64];
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	int fds[3];
	unsigned nfds = make_fds(flags & 3, fds);
	int rc;

	memcpy(buf, msg, len);
	if ((flags & 4) && len >= sizeof(struct proto_hdr)) {
		struct proto_hdr h;

		memcpy(&h, buf, sizeof(h));
		h.magic = PROTO_MAGIC;
		h.version = PROTO_VERSION;
		h.body_bytes = (uint32_t)(len - sizeof(h));
		memcpy(buf, &h, sizeof(h));
	}
	if ((flags & 8) && len >= sizeof(struct proto_hdr) + 8)
		memcpy(buf + sizeof(struct proto_hdr), &last.channel_id, 8);
	if ((flags & 16) && len >= sizeof(struct proto_hdr) + 20) {
		memcpy(buf + sizeof(struct proto_hdr) + 12, &last.reader_idx, 4);
		memcpy(buf + sizeof(struct proto_hdr) + 16, &last.reader_gen, 4);
	}
	if (nfds) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	rc = (int)sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	return rc < 0 ? -1 : 0;
}

/* Read every reply waiting, closing the descriptors they carry. */
static void drain(int fd)
{
	static _Alignas(8) uint8_t buf[PROTO_MAX_BYTES];
	char cbuf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
	struct proto_hdr h;

	for (;;) {
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n <= 0)
			return;
		memcpy(&h, buf, sizeof(h));
		if (h.op == OP_OPEN && !h.status &&
		    (size_t)n >= sizeof(h) + sizeof(struct proto_opened))
			memcpy(&last, buf + sizeof(h), sizeof(last));
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				     i++)
					close(((int *)CMSG_DATA(cm))[i]);
	}
}

static int client_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		abort();
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool once;
	int fd = client_connect();
	uint64_t id;
	unsigned n = 0;

	if (!once) /* libFuzzer took SIGXFSZ after LLVMFuzzerInitialize() */
		signal(SIGXFSZ, SIG_IGN);
	once = true;
	ctl_event(ctl, CTL_TAG_LISTEN, EPOLLIN);
	id = ctl->next_id;
	while (size >= 3 && n++ < MAX_MSGS) {
		unsigned flags = data[0];
		size_t len = (size_t)data[1] | (size_t)data[2] << 8;

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (len > PROTO_MAX_BYTES + 32)
			len = PROTO_MAX_BYTES + 32;
		if (send_one(fd, data, len, flags))
			break; /* the daemon hung up on us */
		ctl_event(ctl, CTL_TAG_CLIENT | id, EPOLLIN);
		drain(fd);
		data += len;
		size -= len;
	}
	close(fd);
	ctl_event(ctl, CTL_TAG_CLIENT | id, EPOLLIN | EPOLLHUP);
	if (ctl->n)
		abort(); /* the client outlived its connection */
	/* a clean slate: no channel outlives its input */
	registry_fini(&reg);
	return 0;
}
