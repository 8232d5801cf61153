/*
 * natshdr.h - how a message's header fields travel as NATS headers, both
 * ways (the table is in shmq-bridge(1)). NATS header values are text on one
 * line, so a value with bytes outside printable ASCII goes as hex under a
 * "-Hex" name, or (a user header) is left out and counted. Callers: the
 * route threads, each with its own buffers.
 */
#ifndef BRIDGE_NATSHDR_H
#define BRIDGE_NATSHDR_H

#include <nats/nats.h>
#include <stdint.h>

#include "shmq.h"

#define HDR_MSG_ID "Nats-Msg-Id"
#define HDR_CHANNEL "Shmq-Channel"
#define HDR_OFFSET "Shmq-Offset"
#define HDR_TIMESTAMP "Shmq-Timestamp"
#define HDR_KEY "Shmq-Key"
#define HDR_KEY_HEX "Shmq-Key-Hex"
#define HDR_CORR_ID "Shmq-Corr-Id"
#define HDR_REPLY_TO "Shmq-Reply-To"
#define HDR_CONTENT_TYPE "Content-Type"
#define HDR_USER_MAX 16

/* A growing byte buffer. */
struct buf {
	char *p;
	size_t len, cap;
};

int buf_put(struct buf *b, const void *data, size_t len);
void buf_free(struct buf *b);

/*
 * Append msg's headers as NUL-terminated name, value pairs to out; the
 * NATS message id is its msg_id in decimal, or "CHANNEL@OFFSET" when it
 * has none. *npairs gets the count, *skipped the user headers left out.
 * 0, -SHMQ_ENOMEM, or -SHMQ_ECORRUPT from shmq_msg_fields().
 */
int hdr_from_shmq(const struct shmq_msg *msg, const char *channel, struct buf *out,
		  uint32_t *npairs, uint32_t *skipped);

/* Header fields of a NATS message, for shmq_publish_opts(); storage of its own. */
struct hdr_in {
	struct shmq_msg_opts o;
	struct shmq_header h[HDR_USER_MAX];
	uint8_t key[1024];
	uint32_t skipped; /* headers left out: more than HDR_USER_MAX, or values that do not fit */
};

/* Read msg's NATS headers into in (pointers into msg: valid while it lives). */
void hdr_to_shmq(natsMsg *msg, struct hdr_in *in);

#endif
