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

/*
 * A channel opened by hand, each segment mapped read-write where the
 * descriptor allows it: data (publishers), wake (publishers, subscribers),
 * the handle's own entry; the control segment read-only.
 */
struct raw_chan {
	struct proto_opened o;
	struct data_hdr *data;
	uint64_t data_bytes;
	const struct ctl_hdr *ctl;
	uint64_t ctl_bytes;
	struct wake_hdr *wake;
	void *entry; /* struct reader_entry or pub_entry; NULL for monitors */
	int ctl_fd;  /* kept open: tests try to write through it */
	int efd;
};

/*
 * OP_OPEN name as role (ROLE_PUB maps data read-write, ROLE_SUB read-only)
 * starting at the latest message; 0 or the error.
 */
int raw_open(struct raw *r, const char *name, uint32_t role, struct raw_chan *out);

void raw_chan_unmap(struct raw_chan *c);

/* Reader slot i in the control segment. */
static inline const struct ctl_slot *raw_rslot(const struct raw_chan *c, unsigned i)
{
	return (const struct ctl_slot *)((const uint8_t *)c->ctl + CTL_READERS_OFF) + i;
}

/* Publisher slot i in the control segment. */
static inline const struct ctl_slot *raw_pslot(const struct raw_chan *c, unsigned i)
{
	return (const struct ctl_slot *)((const uint8_t *)c->ctl + CTL_PUBS_OFF) + i;
}

#endif
