/*
 * natsctl.c - the bridge test's NATS side, with libnats (through
 * bench/natsjs.c, the client calls it shares with shmq-bench):
 *   natsctl URL stream NAME SUBJECT   create a file stream (2 min duplicate window)
 *   natsctl URL pub SUBJECT N         publish "0".."N-1" with ids, every one acked
 *   natsctl URL check STREAM N        read the whole stream; payloads must be
 *                                     decimal numbers below N; prints
 *                                     "messages=M distinct=D missing=X duplicates=Y"
 *                                     and exits 0 only if none is missing
 * Exit 1 on any failure, with the reason on stderr.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natsjs.h"

static int fail(const char *what, natsStatus s)
{
	char buf[256];

	fprintf(stderr, "natsctl: %s\n", natsjs_error(what, s, buf, sizeof(buf)));
	return 1;
}

static int stream_add(jsCtx *js, const char *name, const char *subject)
{
	natsStatus s = natsjs_stream_add(js, name, subject);

	return s == NATS_OK ? 0 : fail("add stream", s);
}

/* Message i: its decimal number, with the id natsctl-i. */
struct pub_buf {
	char data[24];
	char id[32];
};

static void pub_msg(void *arg, long i, struct natsjs_msg *m)
{
	struct pub_buf *b = arg;

	snprintf(b->data, sizeof(b->data), "%ld", i);
	snprintf(b->id, sizeof(b->id), "natsctl-%ld", i);
	*m = (struct natsjs_msg){.data = b->data, .len = (int)strlen(b->data), .id = b->id};
}

static int pub(jsCtx *js, const char *subject, long n)
{
	struct pub_buf b;
	natsStatus s = natsjs_publish_all(js, subject, n, pub_msg, &b, 60000);

	return s == NATS_OK ? 0 : fail("publish", s);
}

static int check(jsCtx *js, const char *stream, long n)
{
	uint64_t total, got = 0, distinct = 0, dups = 0, bad = 0;
	unsigned char *seen = calloc((size_t)n, 1);
	jsStreamInfo *si = NULL;
	natsSubscription *sub = NULL;
	jsSubOptions so;
	natsMsg *m;
	natsStatus s = js_GetStreamInfo(&si, js, stream, NULL, NULL);

	if (s != NATS_OK || !seen)
		return fail("stream info", s);
	total = si->State.Msgs;
	jsStreamInfo_Destroy(si);
	jsSubOptions_Init(&so);
	so.Stream = stream;
	so.Ordered = true;
	s = js_SubscribeSync(&sub, js, ">", NULL, &so, NULL);
	while (s == NATS_OK && got < total && natsSubscription_NextMsg(&m, sub, 10000) == NATS_OK) {
		char *end;
		long v = strtol(natsMsg_GetData(m) ? natsMsg_GetData(m) : "x", &end, 10);

		got++;
		if (end == natsMsg_GetData(m) || v < 0 || v >= n)
			bad++;
		else if (seen[v]++)
			dups++;
		else
			distinct++;
		natsMsg_Destroy(m);
	}
	natsSubscription_Destroy(sub);
	free(seen);
	printf("messages=%" PRIu64 " distinct=%" PRIu64 " missing=%" PRIu64 " duplicates=%" PRIu64
	       " bad=%" PRIu64 "\n",
	       got, distinct, (uint64_t)n - distinct, dups, bad);
	if (s != NATS_OK)
		return fail("subscribe", s);
	return got == total && distinct == (uint64_t)n && bad == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	natsStatus s;
	int rc = 2;

	if (argc != 5) {
		fprintf(stderr, "usage: natsctl URL stream NAME SUBJECT | pub SUBJECT N | "
				"check STREAM N\n");
		return 2;
	}
	s = natsjs_open(argv[1], NULL, &nc, &js);
	if (s != NATS_OK)
		return fail("connect", s);
	if (!strcmp(argv[2], "stream"))
		rc = stream_add(js, argv[3], argv[4]);
	else if (!strcmp(argv[2], "pub"))
		rc = pub(js, argv[3], atol(argv[4]));
	else if (!strcmp(argv[2], "check"))
		rc = check(js, argv[3], atol(argv[4]));
	natsjs_close(nc, js);
	nats_Close();
	return rc;
}
