/*
 * test_bad_protocol.c - a hostile client against a real shmqd: raw
 * datagrams that libshmq would never send on the control socket, and
 * garbage written into the shared memory a client may write. Each bad
 * request is answered with an error (or the connection is closed); the
 * daemon stays up, keeps serving other clients and leaks no descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "raw.h"
#include "shmq.h"

static struct proto_hdr hdr(uint16_t op, uint32_t body_bytes)
{
	return (struct proto_hdr){.magic = PROTO_MAGIC,
				  .version = PROTO_VERSION,
				  .op = op,
				  .seq = 7,
				  .body_bytes = body_bytes};
}

/* Send one datagram on a new connection (after HELLO if hello); the answer. */
static int send_once(struct daemon *d, const void *buf, size_t len, bool hello)
{
	struct proto_hdr h;
	struct raw r;
	int st;

	assert_int_equal(raw_connect(&r, d->sock), 0);
	if (hello)
		assert_int_equal(raw_hello(&r), 0);
	if (raw_send(&r, buf, len)) {
		raw_close(&r);
		return RAW_CLOSED;
	}
	st = raw_reply(&r, &h, NULL, 0, NULL, NULL);
	raw_close(&r);
	return st;
}

/* A header followed by body bytes, as one datagram. */
static int send_hdr_body(struct daemon *d, struct proto_hdr h, const void *body, size_t len,
			 bool hello)
{
	uint8_t buf[PROTO_MAX_BYTES];

	assert_true(sizeof(h) + len <= sizeof(buf));
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), body, len);
	return send_once(d, buf, sizeof(h) + len, hello);
}

static void test_short_datagram_is_refused(void **state)
{
	struct daemon *d = *state;
	struct proto_hdr h = hdr(OP_HELLO, 0);
	int st;

	for (size_t len = 1; len < sizeof(h); len += 5)
		assert_int_equal(send_once(d, &h, len, true), -SHMQ_EPROTO);
	st = send_once(d, &h, 0, true);
	assert_true(st == -SHMQ_EPROTO || st == RAW_CLOSED);
	fx_assert_daemon_serves(d);
}

static void test_bad_magic_is_refused(void **state)
{
	struct daemon *d = *state;
	struct proto_hello hello = {.major = PROTO_VERSION};
	struct proto_hdr h = hdr(OP_HELLO, sizeof(hello));

	h.magic = 0x51485350;
	assert_int_equal(send_hdr_body(d, h, &hello, sizeof(hello), false), -SHMQ_EPROTO);
	h.magic = 0;
	assert_int_equal(send_hdr_body(d, h, &hello, sizeof(hello), true), -SHMQ_EPROTO);
	fx_assert_daemon_serves(d);
}

static void test_wrong_protocol_version_is_answered_eversion(void **state)
{
	struct daemon *d = *state;
	struct proto_hello hello = {.major = PROTO_VERSION};
	struct proto_hdr h = hdr(OP_HELLO, sizeof(hello));
	const uint16_t versions[] = {0, PROTO_VERSION + 1, 0xffff};

	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		h.version = versions[i];
		assert_int_equal(send_hdr_body(d, h, &hello, sizeof(hello), false), -SHMQ_EVERSION);
	}
	/* a well-formed HELLO asking for another major version */
	h.version = PROTO_VERSION;
	hello.major = PROTO_VERSION + 1;
	assert_int_equal(send_hdr_body(d, h, &hello, sizeof(hello), false), -SHMQ_EVERSION);
	hello.major = 0;
	assert_int_equal(send_hdr_body(d, h, &hello, sizeof(hello), false), -SHMQ_EVERSION);
	fx_assert_daemon_serves(d);
}

static void test_body_length_mismatch_is_refused(void **state)
{
	struct daemon *d = *state;
	uint8_t body[64] = {0};
	struct proto_hdr h;

	/* the header claims more than was sent, or less */
	h = hdr(OP_LIST, sizeof(struct proto_list_req) + 8);
	assert_int_equal(send_hdr_body(d, h, body, sizeof(struct proto_list_req), true),
			 -SHMQ_EPROTO);
	h = hdr(OP_LIST, sizeof(struct proto_list_req));
	assert_int_equal(send_hdr_body(d, h, body, sizeof(struct proto_list_req) + 8, true),
			 -SHMQ_EPROTO);
	h = hdr(OP_LIST, UINT32_MAX);
	assert_int_equal(send_hdr_body(d, h, body, 8, true), -SHMQ_EPROTO);
	/* consistent, but not the op's body size */
	h = hdr(OP_LIST, 4);
	assert_int_equal(send_hdr_body(d, h, body, 4, true), -SHMQ_EPROTO);
	h = hdr(OP_OPEN, sizeof(body));
	assert_int_equal(send_hdr_body(d, h, body, sizeof(body), true), -SHMQ_EPROTO);
	fx_assert_daemon_serves(d);
}

static void test_unknown_op_is_refused(void **state)
{
	struct daemon *d = *state;
	const uint16_t ops[] = {0, OP_MAX, 99, 0xffff};

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		struct proto_hdr h = hdr(ops[i], 0);

		assert_int_equal(send_once(d, &h, sizeof(h), true), -SHMQ_EPROTO);
	}
	fx_assert_daemon_serves(d);
}

static void test_huge_datagram_is_refused(void **state)
{
	struct daemon *d = *state;
	size_t len = 64 << 10;
	uint8_t *buf = calloc(1, len);
	struct proto_hdr h = hdr(OP_LIST, (uint32_t)(len - sizeof(h)));

	assert_non_null(buf);
	memcpy(buf, &h, sizeof(h));
	assert_int_equal(send_once(d, buf, len, true), -SHMQ_EPROTO);
	/* exactly one byte more than a request may have */
	h.body_bytes = PROTO_MAX_BYTES + 1 - sizeof(h);
	memcpy(buf, &h, sizeof(h));
	assert_int_equal(send_once(d, buf, PROTO_MAX_BYTES + 1, true), -SHMQ_EPROTO);
	free(buf);
	fx_assert_daemon_serves(d);
}

static void test_request_before_hello_is_refused(void **state)
{
	struct daemon *d = *state;
	struct proto_list_req req = {0};
	struct raw r;

	assert_int_equal(raw_connect(&r, d->sock), 0);
	assert_int_equal(raw_call(&r, OP_LIST, &req, sizeof(req), NULL, 0), -SHMQ_EPROTO);
	raw_close(&r);
	fx_assert_daemon_serves(d);
}

static int name_call(struct raw *r, uint16_t op, const char *fill, size_t n)
{
	struct proto_open o = {.role = ROLE_PUB, .create = 1};
	struct proto_name req = {0};
	uint8_t resp[PROTO_MAX_BYTES];

	memcpy(req.name, fill, n);
	req.opts = (struct proto_chan_opts){.capacity_bytes = 4096, .max_message_bytes = 64};
	if (op != OP_OPEN)
		return raw_call(r, op, &req, sizeof(req), resp, sizeof(resp));
	memcpy(o.name, fill, n);
	o.opts = req.opts;
	return raw_call(r, op, &o, sizeof(o), resp, sizeof(resp));
}

static void test_bad_names_on_the_wire_are_refused(void **state)
{
	struct daemon *d = *state;
	const uint16_t ops[] = {OP_CREATE, OP_INFO, OP_DELETE, OP_OPEN};
	char unterminated[PROTO_NAME_BYTES], too_long[PROTO_NAME_BYTES] = {0};
	struct raw r;

	memset(unterminated, 'a', sizeof(unterminated));
	memset(too_long, 'b', SHMQ_NAME_MAX + 1);
	fx_raw_hello(&r, d);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		/* a few bad requests per connection: the daemon drops one that sends many */
		assert_int_equal(name_call(&r, ops[i], unterminated, sizeof(unterminated)),
				 -SHMQ_ENAME);
		assert_int_equal(name_call(&r, ops[i], too_long, sizeof(too_long)), -SHMQ_ENAME);
		raw_close(&r);
		fx_raw_hello(&r, d);
		assert_int_equal(name_call(&r, ops[i], "a..b", 5), -SHMQ_ENAME);
		assert_int_equal(name_call(&r, ops[i], "", 1), -SHMQ_ENAME);
		assert_int_equal(name_call(&r, ops[i], "a/b", 4), -SHMQ_ENAME);
		raw_close(&r);
		fx_raw_hello(&r, d);
	}
	raw_close(&r);
	fx_assert_daemon_serves(d);
}

static int open_call(struct raw *r, const char *name, uint32_t role, uint32_t start, uint32_t wait)
{
	struct proto_open o = {.role = role, .start = start, .wait_mode = wait};
	struct proto_opened resp;
	struct proto_hdr h;
	int fds[5], st;
	unsigned nfds = 5;

	snprintf(o.name, sizeof(o.name), "%s", name);
	if (raw_request(r, OP_OPEN, &o, sizeof(o)))
		return RAW_CLOSED;
	st = raw_reply(r, &h, &resp, sizeof(resp), fds, &nfds);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	return st;
}

static void test_open_with_bad_role_or_mode_is_refused(void **state)
{
	struct daemon *d = *state;
	struct shmq_channel_info ci;
	struct shmq_client *c;
	struct raw r;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	assert_int_equal(shmq_channel_create(c, "roles", NULL), 0);
	fx_raw_hello(&r, d);
	assert_int_equal(open_call(&r, "roles", 0, 0, 0), -SHMQ_EINVAL);
	assert_int_equal(open_call(&r, "roles", ROLE_MON + 1, 0, 0), -SHMQ_EINVAL);
	assert_int_equal(open_call(&r, "roles", UINT32_MAX, 0, 0), -SHMQ_EINVAL);
	assert_int_equal(open_call(&r, "roles", ROLE_SUB, 0, 4), -SHMQ_EINVAL);
	assert_int_equal(open_call(&r, "roles", ROLE_SUB, 3, 0), -SHMQ_EINVAL);
	/* nothing was left attached by the refused opens */
	assert_int_equal(shmq_channel_info(c, "roles", &ci), 0);
	assert_int_equal(ci.readers, 0);
	assert_int_equal(open_call(&r, "roles", ROLE_SUB, 0, 0), 0);
	assert_int_equal(shmq_channel_info(c, "roles", &ci), 0);
	assert_int_equal(ci.readers, 1);
	raw_close(&r);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

static void test_create_with_bad_settings_is_refused(void **state)
{
	struct daemon *d = *state;
	const struct proto_chan_opts bad[] = {
	    {.capacity_bytes = 4096, .max_message_bytes = 64, .policy = 2},
	    {.capacity_bytes = 4096, .max_message_bytes = 64, .policy = UINT32_MAX},
	    {.capacity_bytes = 4096, .max_message_bytes = (16u << 20) + 1},
	    {.capacity_bytes = 1ull << 50, .max_message_bytes = 4096},
	    {.capacity_bytes = 4096, .max_message_bytes = 64, .publishers = 2},
	    {.capacity_bytes = 4096, .max_message_bytes = 64, .flags = 0x80000000u},
	};
	struct proto_info resp;
	struct raw r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct proto_name req = {.name = "settings", .opts = bad[i]};

		fx_raw_hello(&r, d);
		print_message("bad settings %zu\n", i);
		assert_int_equal(raw_call(&r, OP_CREATE, &req, sizeof(req), &resp, sizeof(resp)),
				 -SHMQ_EINVAL);
		raw_close(&r);
	}
	fx_assert_daemon_serves(d);
}

static void test_close_and_peers_of_channels_not_open_are_refused(void **state)
{
	struct daemon *d = *state;
	struct proto_close cl = {.channel_id = 12345, .role = ROLE_PUB};
	struct proto_peers_req ef = {.channel_id = 12345, .kind = PEER_EFDS};
	struct proto_peers resp;
	struct raw_chan sub, pub;
	struct proto_hdr h;
	int fds[PROTO_MAX_FDS];
	unsigned nfds = PROTO_MAX_FDS;
	struct raw r;

	fx_raw_hello(&r, d);
	assert_int_equal(raw_call(&r, OP_CLOSE, &cl, sizeof(cl), NULL, 0), -SHMQ_ESTATE);
	assert_int_equal(raw_call(&r, OP_PEERS, &ef, sizeof(ef), NULL, 0), -SHMQ_ESTATE);
	raw_close(&r);
	fx_raw_hello(&r, d);
	assert_int_equal(open_call(&r, "probe.x", 1, 0, 0), -SHMQ_ENOENT);
	{
		struct shmq_client *c;

		assert_int_equal(shmq_connect(d->sock, &c), 0);
		assert_int_equal(shmq_channel_create(c, "open.sub", NULL), 0);
		shmq_disconnect(c);
	}
	/* open as a subscriber: neither a publisher close nor any peer's descriptors */
	assert_int_equal(raw_open(&r, "open.sub", ROLE_SUB, &sub), 0);
	ef.channel_id = cl.channel_id = sub.o.channel_id;
	for (ef.kind = 0; ef.kind <= PEER_EFDS + 1; ef.kind++)
		assert_int_equal(raw_call(&r, OP_PEERS, &ef, sizeof(ef), NULL, 0), -SHMQ_ESTATE);
	ef.kind = PEER_EFDS;
	assert_int_equal(raw_call(&r, OP_CLOSE, &cl, sizeof(cl), NULL, 0), -SHMQ_ESTATE);
	cl.role = ROLE_SUB;
	cl.reader_idx = sub.o.reader_idx + 1;
	assert_int_equal(raw_call(&r, OP_CLOSE, &cl, sizeof(cl), NULL, 0), -SHMQ_ESTATE);
	raw_close(&r);
	/* as a publisher, the event fds of event-fd readers come: none here,
	 * and on a drop channel no reader entries either */
	fx_raw_open(&r, d, "open.sub", ROLE_PUB, &pub);
	assert_int_equal(raw_request(&r, OP_PEERS, &ef, sizeof(ef)), 0);
	assert_int_equal(raw_reply(&r, &h, &resp, sizeof(resp), fds, &nfds), 0);
	assert_int_equal(nfds, 0);
	assert_int_equal(resp.count, 0);
	ef.kind = PEER_READERS;
	assert_int_equal(raw_call(&r, OP_PEERS, &ef, sizeof(ef), NULL, 0), -SHMQ_ESTATE);
	ef.kind = PEER_PUBS; /* itself only: nothing else */
	nfds = PROTO_MAX_FDS;
	assert_int_equal(raw_request(&r, OP_PEERS, &ef, sizeof(ef)), 0);
	assert_int_equal(raw_reply(&r, &h, &resp, sizeof(resp), fds, &nfds), 0);
	assert_int_equal(nfds, 1);
	assert_int_equal(resp.idx[0], pub.o.reader_idx);
	close(fds[0]);
	raw_close(&r);
	raw_chan_unmap(&sub);
	raw_chan_unmap(&pub);
	fx_assert_daemon_serves(d);
}

static void test_client_sending_only_garbage_is_disconnected(void **state)
{
	struct daemon *d = *state;
	struct proto_hdr h = hdr(99, 0), reply;
	int st = 0, answered = 0;
	bool closed = false;
	struct raw r;

	fx_raw_hello(&r, d);
	for (int i = 0; i < 100 && !closed; i++) {
		if (raw_send(&r, &h, sizeof(h))) {
			closed = true; /* EPIPE: the daemon hung up after its last answer */
			break;
		}
		st = raw_reply(&r, &reply, NULL, 0, NULL, NULL);
		assert_true(st == -SHMQ_EPROTO || st == RAW_CLOSED);
		answered += st == -SHMQ_EPROTO;
		closed = st == RAW_CLOSED;
	}
	assert_true(closed);
	assert_true(answered >= 1 && answered < 100);
	raw_close(&r);
	fx_assert_daemon_serves(d);
}

/* Send HELLO with n descriptors attached; the answer. */
static int hello_with_fds(struct raw *r, int n)
{
	struct proto_hello hello = {.major = PROTO_VERSION};
	uint8_t buf[sizeof(struct proto_hdr) + sizeof(hello)];
	char cbuf[CMSG_SPACE(sizeof(int) * 64)];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n)};
	struct proto_hdr h = hdr(OP_HELLO, sizeof(hello)), reply;
	struct cmsghdr *cm;
	int fds[64], st;

	assert_true(n > 0 && n <= 64);
	memset(cbuf, 0, sizeof(cbuf));
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &hello, sizeof(hello));
	for (int i = 0; i < n; i++)
		fds[i] = dup(2);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	assert_int_equal(sendmsg(r->fd, &mh, MSG_NOSIGNAL), sizeof(buf));
	for (int i = 0; i < n; i++)
		close(fds[i]);
	st = raw_reply(r, &reply, NULL, 0, NULL, NULL);
	return st;
}

static void test_descriptors_sent_by_a_client_are_closed(void **state)
{
	struct daemon *d = *state;
	struct raw r;
	int before;

	fx_raw_hello(&r, d);
	before = daemon_fd_count(d);
	assert_true(before > 0);
	/* a valid request with descriptors: answered, descriptors closed */
	for (int i = 0; i < 5; i++)
		assert_int_equal(hello_with_fds(&r, 8), 0);
	assert_int_equal(daemon_fd_count(d), before);
	/* more than the daemon takes: refused, none kept */
	assert_int_equal(hello_with_fds(&r, 64), -SHMQ_EPROTO);
	assert_int_equal(daemon_fd_count(d), before);
	raw_close(&r);
	fx_assert_daemon_serves(d);
}

/* Send a zero-length datagram carrying n descriptors. */
static void empty_with_fds(struct raw *r, int n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 16)];
	struct msghdr mh = {.msg_control = cbuf,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n)};
	struct cmsghdr *cm;
	int fds[16];

	assert_true(n > 0 && n <= 16);
	memset(cbuf, 0, sizeof(cbuf));
	for (int i = 0; i < n; i++)
		fds[i] = dup(2);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	assert_int_equal(sendmsg(r->fd, &mh, MSG_NOSIGNAL), 0);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/*
 * A zero-length datagram reads like the end of the connection: the daemon
 * drops the client, and closes the descriptors it carried all the same
 * (they used to stay open: 16 per connection, from any local user).
 */
static void test_descriptors_in_an_empty_datagram_are_closed(void **state)
{
	struct daemon *d = *state;
	struct raw r;
	int before;

	fx_raw_hello(&r, d);
	raw_close(&r);
	before = daemon_fd_count(d);
	for (int i = 0; i < 20; i++) {
		fx_raw_hello(&r, d);
		empty_with_fds(&r, 16);
		raw_close(&r);
	}
	assert_int_equal(fx_wait_fd_count_at_most(d, before), 0);
	fx_assert_daemon_serves(d);
}

static void test_flood_of_requests_without_reading_replies_is_survived(void **state)
{
	struct daemon *d = *state;
	struct proto_list_req req = {0};
	int sent = 0, lines = daemon_log_lines(d);
	struct raw r;

	fx_raw_hello(&r, d);
	/* rounds: the daemon drains what we sent, and its replies pile up */
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 5000; i++) {
			uint8_t buf[sizeof(struct proto_hdr) + sizeof(req)];
			struct proto_hdr h = hdr(OP_LIST, sizeof(req));

			memcpy(buf, &h, sizeof(h));
			memcpy(buf + sizeof(h), &req, sizeof(req));
			if (send(r.fd, buf, sizeof(buf), MSG_NOSIGNAL | MSG_DONTWAIT) !=
			    sizeof(buf))
				break;
			sent++;
		}
		fx_assert_daemon_serves(d);
	}
	print_message("sent %d requests without reading a reply\n", sent);
	assert_true(sent > 0);
	raw_close(&r);
	fx_assert_daemon_serves(d);
	/* what a client triggers is logged a bounded number of times */
	lines = daemon_log_lines(d) - lines;
	print_message("shmqd logged %d lines meanwhile\n", lines);
	assert_true(lines < 20);
}

/*
 * A client that sends requests and never reads the replies fills its
 * socket; the daemon cannot answer and does not keep it: it closes the
 * connection, so the client sees the end instead of waiting forever for a
 * reply that was dropped.
 */
static void test_client_whose_socket_refuses_a_reply_is_dropped(void **state)
{
	struct daemon *d = *state;
	struct proto_list_req req = {0};
	struct proto_hdr h = hdr(OP_LIST, sizeof(req)), reply;
	uint8_t buf[sizeof(h) + sizeof(req)];
	int sent = 0, got = 0, st, base;
	struct raw r;

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &req, sizeof(req));
	/* count once the daemon serves: the socket accepts before shmqd has
	 * spawned and connected its keeper (slow on a loaded machine); and
	 * once the connection that showed it is gone */
	fx_raw_hello(&r, d);
	base = daemon_fd_count(d);
	raw_close(&r);
	assert_int_equal(fx_wait_fd_count_at_most(d, base - 1), 0);
	base = daemon_fd_count(d);
	fx_raw_hello(&r, d);
	/* the daemon drains our requests; its replies pile up in our socket
	 * until one does not fit and it hangs up: send until then (bounded) */
	for (int64_t deadline = fx_now_ns() + FX_HANG_NS; fx_now_ns() < deadline;) {
		while (send(r.fd, buf, sizeof(buf), MSG_NOSIGNAL | MSG_DONTWAIT) == sizeof(buf))
			sent++;
		if (errno != EAGAIN)
			break; /* EPIPE, ECONNRESET: dropped */
		fx_nap_ms(1);
	}
	while ((st = raw_reply(&r, &reply, NULL, 0, NULL, NULL)) == 0)
		got++;
	print_message("sent %d requests, read %d replies, then %d\n", sent, got, st);
	assert_int_equal(st, RAW_CLOSED);
	assert_true(got < sent);
	raw_close(&r);
	assert_int_equal(fx_wait_fd_count_at_most(d, base), 0);
	fx_assert_daemon_serves(d);
}

static void test_reader_slots_are_limited_and_freed_when_the_client_goes(void **state)
{
	struct daemon *d = *state;
	struct shmq_channel_info ci;
	struct shmq_client *c;
	struct raw r;
	int64_t deadline;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	assert_int_equal(shmq_channel_create(c, "crowded", NULL), 0);
	fx_raw_hello(&r, d);
	for (unsigned i = 0; i < MAX_READERS; i++)
		assert_int_equal(open_call(&r, "crowded", ROLE_SUB, 0, 0), 0);
	assert_int_equal(open_call(&r, "crowded", ROLE_SUB, 0, 0), -SHMQ_ELIMIT);
	raw_close(&r);
	deadline = fx_now_ns() + FX_HANG_NS;
	do {
		assert_int_equal(shmq_channel_info(c, "crowded", &ci), 0);
		if (ci.readers)
			fx_nap_ms(1);
	} while (ci.readers && fx_now_ns() < deadline);
	assert_int_equal(ci.readers, 0);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/* One hostile connection: a mix of everything above, then a hang-up. */
static void bad_client(struct daemon *d, unsigned i)
{
	struct proto_hdr h = hdr((uint16_t)(i * 7), (uint32_t)i), reply;
	struct raw_chan rc;
	struct raw r;

	assert_int_equal(raw_connect(&r, d->sock), 0);
	switch (i % 5) {
	case 0: /* garbage at once */
		raw_send(&r, &h, sizeof(h));
		break;
	case 1: /* hello, then opens that it never closes */
		assert_int_equal(raw_hello(&r), 0);
		assert_int_equal(raw_open(&r, "leaky", ROLE_SUB, &rc), 0);
		raw_chan_unmap(&rc);
		assert_int_equal(raw_open(&r, "leaky", ROLE_PUB, &rc), 0);
		raw_chan_unmap(&rc);
		break;
	case 2: /* a request, and gone before the answer */
		assert_int_equal(raw_hello(&r), 0);
		raw_send(&r, &h, 3);
		break;
	case 3: /* garbage until dropped */
		for (int k = 0; k < 20; k++)
			if (raw_send(&r, &h, sizeof(h)) ||
			    raw_reply(&r, &reply, NULL, 0, NULL, NULL) == RAW_CLOSED)
				break;
		break;
	default: /* nothing at all */
		break;
	}
	raw_close(&r);
}

static void test_many_bad_clients_leak_no_descriptor_in_the_daemon(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c;
	int before, after;
	int64_t deadline;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	assert_int_equal(shmq_channel_create(c, "leaky", NULL), 0);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d); /* creates "probe" before the count */
	deadline = fx_now_ns() + FX_HANG_NS;
	/* wait for the daemon to see our own clients go */
	before = daemon_fd_count(d);
	for (int last = -1; before != last && fx_now_ns() < deadline;) {
		last = before;
		fx_nap_ms(20);
		before = daemon_fd_count(d);
	}
	for (unsigned i = 0; i < 300; i++)
		bad_client(d, i);
	deadline = fx_now_ns() + FX_HANG_NS;
	while ((after = daemon_fd_count(d)) != before && fx_now_ns() < deadline)
		fx_nap_ms(5);
	print_message("shmqd holds %d descriptors before and %d after\n", before, after);
	assert_int_equal(after, before);
	fx_assert_daemon_serves(d);
}

/* Deterministic garbage. */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void scribble(void *base, uint64_t bytes, uint64_t seed)
{
	uint64_t *w = base;

	for (uint64_t i = 0; i < bytes / 8; i++)
		w[i] = rnd(&seed);
}

/* Honest handles on a channel about to be scribbled on must not crash. */
struct honest {
	struct shmq_client *c;
	struct shmq_pub *p;
	struct shmq_sub *s;
};

static void honest_open(struct daemon *d, struct honest *h, const char *name)
{
	assert_int_equal(shmq_connect(d->sock, &h->c), 0);
	assert_int_equal(shmq_pub_open(h->c, name, NULL, &h->p), 0);
	assert_int_equal(shmq_sub_open(h->c, name, NULL, &h->s), 0);
	assert_int_equal(shmq_publish(h->p, "before", 6, 0, NULL), 0);
}

static void honest_use_and_close(struct honest *h)
{
	struct shmq_msg m;
	int err;

	for (int i = 0; i < 8; i++) {
		err = shmq_recv(h->s, &m, 0);
		print_message("honest subscriber: %s\n", shmq_errname(err));
	}
	shmq_sub_close(h->s);
	shmq_pub_close(h->p);
	shmq_disconnect(h->c);
}

/*
 * A subscriber writes garbage into everything it can write: the wake
 * segment and its own entry. The control segment it cannot write at all.
 * The daemon and the honest pair go on, and later opens are unharmed.
 */
static void test_garbage_in_what_a_subscriber_can_write_harms_nobody(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c;
	struct honest hon;
	struct raw_chan rc;
	struct raw r;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	assert_int_equal(shmq_channel_create(c, "victim", NULL), 0);
	honest_open(d, &hon, "victim");
	fx_raw_open(&r, d, "victim", ROLE_SUB, &rc);
	assert_true(mmap(NULL, rc.ctl_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, rc.ctl_fd, 0) ==
		    MAP_FAILED);
	assert_int_equal(mprotect((void *)rc.ctl, rc.ctl_bytes, PROT_READ | PROT_WRITE), -1);
	/* named words first: counts, marks, the cursor, then everything */
	atomic_store(&rc.wake->sleepers, UINT32_MAX);
	atomic_store(&rc.wake->space_wanted, 3);
	for (unsigned i = 0; i < MAX_READERS; i++)
		atomic_store(&rc.wake->marks[i].armed, i % 4);
	atomic_store(&((struct reader_entry *)rc.entry)->pos, UINT64_MAX);
	atomic_store(&((struct reader_entry *)rc.entry)->bytes, UINT64_MAX - 31);
	fx_nap_ms(50); /* a few repair and watchdog ticks */
	fx_assert_daemon_serves(d);
	scribble(rc.wake, WAKE_SEG_BYTES, 0x9e3779b97f4a7c15ull);
	scribble(rc.entry, ENTRY_SEG_BYTES, 0x51ed270b27c3a1e5ull);
	fx_nap_ms(50);
	fx_assert_daemon_serves(d);
	/* the daemon reads the entries when handles close */
	honest_use_and_close(&hon);
	raw_close(&r);
	fx_assert_daemon_serves(d);
	/* a new pair opens and works: nothing the subscriber wrote is believed */
	honest_open(d, &hon, "victim");
	honest_use_and_close(&hon);
	raw_chan_unmap(&rc);
	assert_int_equal(shmq_channel_delete(c, "victim"), 0);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

struct reads_job {
	const char *sock;
	const char *name;
};

/*
 * Child: take the daemon's paths that read a channel's shared words (info,
 * list, a subscriber open at each start); 0 when each got an answer.
 */
static int run_reads(void *arg)
{
	const struct reads_job *j = arg;
	struct shmq_sub_opts so[] = {{.start = SHMQ_START_LATEST},
				     {.start = SHMQ_START_EARLIEST},
				     {.start = SHMQ_START_OFFSET, .offset = 1}};
	struct shmq_channel_info ci;
	struct shmq_client *c;
	struct shmq_sub *s;
	int err;

	if (shmq_connect(j->sock, &c))
		return 10;
	err = shmq_channel_info(c, j->name, &ci);
	fprintf(stderr, "info: %s\n", shmq_errname(err));
	if (shmq_channel_list(c, NULL, 0) < 1)
		return 11;
	for (size_t i = 0; i < sizeof(so) / sizeof(so[0]); i++) {
		err = shmq_sub_open(c, j->name, &so[i], &s);
		fprintf(stderr, "subscriber from %u: %s\n", so[i].start, shmq_errname(err));
		if (err == -SHMQ_ECLOSED || err == -SHMQ_ENODAEMON)
			return 12;
		if (!err)
			shmq_sub_close(s);
	}
	shmq_disconnect(c);
	return 0;
}

/* The daemon answers run_reads() on name within the hang limit. */
static void daemon_reads_channel(struct daemon *d, const char *name)
{
	struct reads_job j = {.sock = d->sock, .name = name};

	assert_int_equal(child_wait(child_start(run_reads, &j), FX_HANG_S), 0);
}

static void test_garbage_in_the_ring_does_not_crash_the_daemon_or_readers(void **state)
{
	struct daemon *d = *state;
	struct shmq_channel_opts o = {.capacity_bytes = 64 * 128, .max_message_bytes = 64};
	struct shmq_client *c;
	struct honest hon;
	struct raw_chan rc;
	struct raw r;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	assert_int_equal(shmq_channel_create(c, "ring", &o), 0);
	honest_open(d, &hon, "ring");
	fx_raw_open(&r, d, "ring", ROLE_PUB, &rc);
	/* everything after the data header: commit words, lengths, payloads */
	scribble((uint8_t *)rc.data + DATA_HDR_BYTES, rc.data_bytes - DATA_HDR_BYTES, 42);
	fx_nap_ms(50);
	fx_assert_daemon_serves(d);
	daemon_reads_channel(d, "ring");
	honest_use_and_close(&hon);
	raw_chan_unmap(&rc);
	raw_close(&r);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/*
 * A publisher may write the tail, the frontier and the chunk index (the
 * words after the geometry in the data header): the daemon reads them for
 * info, for each new reader and at each repair tick, bounded; extreme
 * values near 2^64 included.
 */
static void test_hostile_tail_and_chunk_index_do_not_hang_the_daemon(void **state)
{
	static const uint64_t tails[] = {UINT64_MAX, UINT64_MAX - 31, UINT64_MAX - 4096,
					 1ull << 63, 12345,	      0};
	struct daemon *d = *state;
	struct shmq_channel_opts o = {.capacity_bytes = 1, .max_message_bytes = 64};
	struct shmq_client *c;
	struct honest hon;
	struct raw_chan rc;
	uint64_t seed = 7;
	struct raw r;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	assert_int_equal(shmq_channel_create(c, "tail", &o), 0);
	honest_open(d, &hon, "tail");
	fx_raw_open(&r, d, "tail", ROLE_PUB, &rc);
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		atomic_store(&rc.data->tail_bytes, tails[i]);
		atomic_store(&rc.data->tail_pos, tails[i] - i);
		atomic_store(&rc.data->frontier, rnd(&seed) % 3 ? tails[i] >> 11 : rnd(&seed));
		for (unsigned k = 0; k < CHUNKS; k++) {
			atomic_store(&rc.data->chunks[k].pos, rnd(&seed));
			atomic_store(&rc.data->chunks[k].bytes,
				     k % 2 ? rnd(&seed) : tails[i] - (rnd(&seed) % 4096));
		}
		print_message("tail %llu\n", (unsigned long long)tails[i]);
		fx_nap_ms(20); /* repair ticks */
		daemon_reads_channel(d, "tail");
		fx_assert_daemon_serves(d);
	}
	honest_use_and_close(&hon);
	raw_chan_unmap(&rc);
	raw_close(&r);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/* OP_OPEN by hand, keeping the descriptors (data, control, [event fd]). */
static int open_fds(struct raw *r, const char *name, uint32_t role, int *fds, unsigned *nfds)
{
	struct proto_open o = {.role = role};
	struct proto_opened resp;
	struct proto_hdr h;

	snprintf(o.name, sizeof(o.name), "%s", name);
	*nfds = 5;
	if (raw_request(r, OP_OPEN, &o, sizeof(o)))
		return RAW_CLOSED;
	return raw_reply(r, &h, &resp, sizeof(resp), fds, nfds);
}

/* Resize fd every way there is; each must fail. */
static void assert_cannot_resize(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(ftruncate(fd, st.st_size / 2), -1);
	assert_int_equal(ftruncate(fd, st.st_size * 2 + 4096), -1);
	assert_int_equal(fallocate(fd, 0, 0, st.st_size * 2 + 4096), -1);
	/* and nobody may seal it further (F_SEAL_WRITE would stop publishers) */
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
}

/* In a child that is not root: reopen the read-only data fd writable. */
/*
 * In a child that became nobody (and dumpable again, so that /proc/self/fd
 * is its own): a memfd of its own reopens read-write, which shows the way
 * works; the daemon's descriptor (mode 0600, root's) reopens neither way.
 */
static int reopen_as_nobody(void *arg)
{
	char path[64];
	int own;

	if (fx_become_nobody())
		return 77;
	own = memfd_create("own", MFD_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", own);
	if (own < 0 || open(path, O_RDWR | O_CLOEXEC) < 0)
		return 3;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", *(int *)arg);
	if (open(path, O_RDWR | O_CLOEXEC) >= 0)
		return 1;
	return open(path, O_RDONLY | O_CLOEXEC) >= 0 ? 2 : 0;
}

/* A subscriber's data descriptor never yields a writable mapping. */
static void assert_read_only(int fd)
{
	struct stat st;
	void *p;
	int st_child;

	assert_int_equal(fstat(fd, &st), 0);
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p == MAP_FAILED);
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(mprotect(p, (size_t)st.st_size, PROT_READ | PROT_WRITE), -1);
	munmap(p, (size_t)st.st_size);
	st_child = child_wait(child_start(reopen_as_nobody, &fd), FX_HANG_S);
	if (st_child == 77)
		print_message("cannot become nobody: reopen via /proc not tested\n");
	else
		assert_int_equal(st_child, 0);
}

/*
 * A client that truncates, grows or reseals every descriptor it was given
 * fails each time (the segments are sealed memfds): the daemon and an
 * honest publisher and subscriber on the same channel go on.
 */
static void test_client_cannot_resize_the_segments_or_map_them_writable(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c;
	struct honest hon;
	struct shmq_msg m;
	int fds[5];
	unsigned nfds;
	struct raw r;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	assert_int_equal(shmq_channel_create(c, "sealed", NULL), 0);
	honest_open(d, &hon, "sealed");
	fx_raw_hello(&r, d);
	/* a publisher: data, control (read-only), wake, its entry */
	assert_int_equal(open_fds(&r, "sealed", ROLE_PUB, fds, &nfds), 0);
	assert_int_equal(nfds, 4);
	assert_read_only(fds[1]);
	for (unsigned i = 0; i < nfds; i++) {
		assert_cannot_resize(fds[i]);
		close(fds[i]);
	}
	/* a subscriber: data and control read-only, wake, its entry */
	assert_int_equal(open_fds(&r, "sealed", ROLE_SUB, fds, &nfds), 0);
	assert_int_equal(nfds, 4);
	assert_read_only(fds[0]);
	assert_read_only(fds[1]);
	for (unsigned i = 0; i < nfds; i++) {
		assert_cannot_resize(fds[i]);
		close(fds[i]);
	}
	/* a monitor: everything read-only */
	assert_int_equal(open_fds(&r, "sealed", ROLE_MON, fds, &nfds), 0);
	assert_int_equal(nfds, 3);
	for (unsigned i = 0; i < nfds; i++) {
		assert_read_only(fds[i]);
		assert_cannot_resize(fds[i]);
		close(fds[i]);
	}
	fx_nap_ms(30); /* a few repair ticks over the channel */
	assert_int_equal(shmq_recv(hon.s, &m, FX_HANG_NS), 0);
	assert_int_equal(m.len, 6);
	assert_int_equal(shmq_publish(hon.p, "after", 5, 0, NULL), 0);
	assert_int_equal(shmq_recv(hon.s, &m, FX_HANG_NS), 0);
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.data, "after", 5);
	honest_use_and_close(&hon);
	raw_close(&r);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_short_datagram_is_refused),
	    T(test_bad_magic_is_refused),
	    T(test_wrong_protocol_version_is_answered_eversion),
	    T(test_body_length_mismatch_is_refused),
	    T(test_unknown_op_is_refused),
	    T(test_huge_datagram_is_refused),
	    T(test_request_before_hello_is_refused),
	    T(test_bad_names_on_the_wire_are_refused),
	    T(test_open_with_bad_role_or_mode_is_refused),
	    T(test_create_with_bad_settings_is_refused),
	    T(test_close_and_peers_of_channels_not_open_are_refused),
	    T(test_client_sending_only_garbage_is_disconnected),
	    T(test_descriptors_sent_by_a_client_are_closed),
	    T(test_descriptors_in_an_empty_datagram_are_closed),
	    T(test_flood_of_requests_without_reading_replies_is_survived),
	    T(test_client_whose_socket_refuses_a_reply_is_dropped),
	    T(test_reader_slots_are_limited_and_freed_when_the_client_goes),
	    T(test_many_bad_clients_leak_no_descriptor_in_the_daemon),
	    T(test_garbage_in_what_a_subscriber_can_write_harms_nobody),
	    T(test_garbage_in_the_ring_does_not_crash_the_daemon_or_readers),
	    T(test_hostile_tail_and_chunk_index_do_not_hang_the_daemon),
	    T(test_client_cannot_resize_the_segments_or_map_them_writable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
