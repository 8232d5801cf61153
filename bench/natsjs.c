/*
 * natsjs.c - the shared JetStream client calls (natsjs.h): thin steps over
 * libnats, each returning its natsStatus, so that a benchmark can put the
 * failure in its reason and a test tool on its standard error.
 */
#include "natsjs.h"

#include <stdio.h>

natsStatus natsjs_open(const char *url, jsOptions *opts, natsConnection **nc, jsCtx **js)
{
	natsStatus s = natsConnection_ConnectTo(nc, url);

	*js = NULL;
	if (s == NATS_OK)
		s = natsConnection_JetStream(js, *nc, opts);
	return s;
}

void natsjs_close(natsConnection *nc, jsCtx *js)
{
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

natsStatus natsjs_stream_add(jsCtx *js, const char *name, const char *subject)
{
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	natsStatus s;

	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Subjects = (const char *[]){subject};
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	s = js_AddStream(&si, js, &cfg, NULL, NULL);
	jsStreamInfo_Destroy(si);
	return s;
}

natsStatus natsjs_publish_all(jsCtx *js, const char *subject, long n, natsjs_msg_fn msg, void *arg,
			      int64_t max_wait_ms)
{
	struct natsjs_msg m;
	jsPubOptions po;
	natsStatus s = NATS_OK;

	jsPubOptions_Init(&po);
	for (long i = 0; i < n && s == NATS_OK; i++) {
		m = (struct natsjs_msg){0};
		msg(arg, i, &m);
		po.MsgId = m.id;
		s = js_PublishAsync(js, subject, m.data, m.len, &po);
	}
	po.MsgId = NULL;
	po.MaxWait = max_wait_ms;
	if (s == NATS_OK)
		s = js_PublishAsyncComplete(js, &po);
	return s;
}

const char *natsjs_error(const char *what, natsStatus s, char *buf, size_t len)
{
	snprintf(buf, len, "%s: %s (%s)", what, natsStatus_GetText(s), nats_GetLastError(NULL));
	return buf;
}
