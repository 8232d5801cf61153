/*
 * raw.h - a control-socket client for the system tests that speaks
 * shm/proto.h by hand, without libshmq: to send what the library never
 * would (bad headers, bad bodies, floods) and to map a channel's segments
 * directly (to look at or scribble on the wait words). Every receive is
 * bounded by FX_HANG_S.
 */
#ifndef TEST_SYSTEM_RAW_H
#define TEST_SYSTEM_RAW_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "proto.h"

/* raw_reply() result when the daemon closed the connection instead of answering. */
#define RAW_CLOSED 1000

struct raw {
	int fd;
	uint32_t seq;
};

/* Connect without any request. 0 or -1. */
int raw_connect(struct raw *r, const char *sock);

void raw_close(struct raw *r);

/* Send bytes as one datagram. 0 or -1. */
int raw_send(struct raw *r, const void *buf, size_t len);

/* Send a well-formed request: header (next seq) + body. */
int raw_request(struct raw *r, uint16_t op, const void *body, uint32_t len);

/*
 * Receive one response: its status (0 or -SHMQ_E...), RAW_CLOSED when the
 * daemon closed the connection, -1000 on timeout or a malformed answer.
 * body (may be NULL) gets up to max bytes; fds (may be NULL) up to *nfds.
 */
int raw_reply(struct raw *r, struct proto_hdr *h, void *body, size_t max, int *fds, unsigned *nfds);

/* HELLO with the library's version; 0 or the error. */
int raw_hello(struct raw *r);

/* request + reply without fds. */
int raw_call(struct raw *r, uint16_t op, const void *body, uint32_t len, void *resp, size_t max);

/* A channel opened by hand and both its segments mapped read-write where allowed. */
struct raw_chan {
	struct proto_opened o;
	struct data_hdr *data;
	uint64_t data_bytes;
	struct ctl_hdr *ctl;
	uint64_t ctl_bytes;
	int efd;
};

/*
 * OP_OPEN name as role (ROLE_PUB maps data read-write, ROLE_SUB read-only)
 * starting at the latest message; 0 or the error.
 */
int raw_open(struct raw *r, const char *name, uint32_t role, struct raw_chan *out);

void raw_chan_unmap(struct raw_chan *c);

/* The reader table after the control header. */
static inline struct reader_entry *raw_readers(const struct raw_chan *c)
{
	return (struct reader_entry *)((uint8_t *)c->ctl + CTL_HDR_BYTES);
}

#endif
