/*
 * natsjs.h - the NATS JetStream client calls (libnats) that shmq-bench's
 * JetStream baselines and the bridge test's natsctl share: connect with a
 * JetStream context, create a file stream, publish a run of messages with
 * every PubAck awaited, and a failure in words. No state of its own; the
 * caller owns the handles and uses them from one thread.
 */
#ifndef SHMQ_BENCH_NATSJS_H
#define SHMQ_BENCH_NATSJS_H

#include <nats/nats.h>
#include <stddef.h>

/* Connect to url and make a JetStream context with opts (NULL: libnats' defaults). */
natsStatus natsjs_open(const char *url, jsOptions *opts, natsConnection **nc, jsCtx **js);

/* Destroy both; either may be NULL. */
void natsjs_close(natsConnection *nc, jsCtx *js);

/* Create the stream name on subject, in file storage (JetStream's default). */
natsStatus natsjs_stream_add(jsCtx *js, const char *name, const char *subject);

/* Message i of natsjs_publish_all(): its payload and Nats-Msg-Id (NULL: none). */
struct natsjs_msg {
	const void *data;
	int len;
	const char *id;
};

typedef void (*natsjs_msg_fn)(void *arg, long i, struct natsjs_msg *m);

/*
 * Publish messages 0..n-1 to subject with js_PublishAsync (at most the
 * context's PublishAsync.MaxPending in flight), then wait up to max_wait_ms
 * for every PubAck. NATS_OK once all are acknowledged; a PubAck that carries
 * an error reaches only the context's PublishAsync.ErrHandler.
 */
natsStatus natsjs_publish_all(jsCtx *js, const char *subject, long n, natsjs_msg_fn msg, void *arg,
			      int64_t max_wait_ms);

/* "what: status text (libnats' last error)" into buf. */
const char *natsjs_error(const char *what, natsStatus s, char *buf, size_t len);

#endif
