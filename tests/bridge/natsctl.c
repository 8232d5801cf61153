/*
 * natsctl.c - the bridge test's NATS side, with libnats:
 *   natsctl URL stream NAME SUBJECT   create a file stream (2 min duplicate window)
 *   natsctl URL pub SUBJECT N         publish "0".."N-1" with ids, every one acked
 *   natsctl URL check STREAM N        read the whole stream; payloads must be
 *                                     decimal numbers below N; prints
 *                                     "messages=M distinct=D missing=X duplicates=Y"
 *                                     and exits 0 only if none is missing
 * Exit 1 on any failure, with the reason on stderr.
 */
#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, natsStatus s)
{
	fprintf(stderr, "natsctl: %s: %s (%s)\n", what, natsStatus_GetText(s),
		nats_GetLastError(NULL));
	return 1;
}

static int stream_add(jsCtx *js, const char *name, const char *subject)
{
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	natsStatus s;

	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Subjects = (const char *[]){subject};
	cfg.SubjectsLen = 1;
	s = js_AddStream(&si, js, &cfg, NULL, NULL);
	jsStreamInfo_Destroy(si);
	return s == NATS_OK ? 0 : fail("add stream", s);
}

static int pub(jsCtx *js, const char *subject, long n)
{
	char data[24], id[32];
	jsPubOptions po;
	natsStatus s = NATS_OK;

	jsPubOptions_Init(&po);
	for (long i = 0; i < n && s == NATS_OK; i++) {
		snprintf(data, sizeof(data), "%ld", i);
		snprintf(id, sizeof(id), "natsctl-%ld", i);
		po.MsgId = id;
		s = js_PublishAsync(js, subject, data, (int)strlen(data), &po);
	}
	po.MsgId = NULL;
	po.MaxWait = 60000;
	if (s == NATS_OK)
		s = js_PublishAsyncComplete(js, &po);
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
	s = natsConnection_ConnectTo(&nc, argv[1]);
	if (s == NATS_OK)
		s = natsConnection_JetStream(&js, nc, NULL);
	if (s != NATS_OK)
		return fail("connect", s);
	if (!strcmp(argv[2], "stream"))
		rc = stream_add(js, argv[3], argv[4]);
	else if (!strcmp(argv[2], "pub"))
		rc = pub(js, argv[3], atol(argv[4]));
	else if (!strcmp(argv[2], "check"))
		rc = check(js, argv[3], atol(argv[4]));
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	return rc;
}
