/*
 * nats_conn.c - the bridge's one NATS connection. At start it must connect
 * at once: an unreachable server is a failure (exit 1) with the URL and
 * the reason, so that a supervisor restarts the bridge and an operator
 * sees why. Once connected, libnats reconnects by itself, forever, after a
 * delay of backoff_ms() per failed round; the routes wait meanwhile (an
 * out route's batch is sent again, an in route's fetch retries), and each
 * disconnection and reconnection is one log line. Called by main() only;
 * the callbacks run on libnats' threads.
 */
#include "bridge.h"

#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 5000

int64_t backoff_ms(int attempts)
{
	int64_t ms = 100;

	while (attempts-- > 1 && ms < 5000)
		ms *= 2;
	if (ms > 5000)
		ms = 5000;
	return ms + random() % (ms / 4 + 1); /* jitter: bridges that lost one server spread out */
}

static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure)
{
	(void)nc;
	(void)closure;
	return backoff_ms(attempts);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	(void)closure;
	blog("warn", "nats", "disconnected; reconnecting with backoff (100 ms up to 5 s)");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	char url[256] = "?";

	(void)closure;
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	blog("info", "nats", "reconnected url=%s", url);
}

static natsStatus options_make(struct bridge *b, natsOptions **out)
{
	natsOptions *o;
	natsStatus s = natsOptions_Create(&o);

	if (s != NATS_OK)
		return s;
	s = natsOptions_SetServers(o, (const char *[]){b->nats_url}, 1);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, "shmq-bridge");
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, CONNECT_TIMEOUT_MS);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetCustomReconnectDelay(o, reconnect_delay, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, on_disconnected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, on_reconnected, NULL);
	if (s != NATS_OK)
		natsOptions_Destroy(o);
	else
		*out = o;
	return s;
}

int nats_conn_open(struct bridge *b)
{
	natsOptions *o = NULL;
	natsStatus s = options_make(b, &o);

	if (s == NATS_OK)
		s = natsConnection_Connect(&b->nc, o);
	natsOptions_Destroy(o);
	if (s != NATS_OK)
		blog("error", "nats", "cannot connect to NATS at %s: %s", b->nats_url,
		     natsStatus_GetText(s));
	return s;
}

/* The out routes' subjects, for the stream to create. */
static unsigned out_subjects(const struct bridge *b, const char **subj)
{
	unsigned n = 0;

	for (unsigned i = 0; i < b->nroutes; i++)
		if (b->routes[i].dir == ROUTE_OUT)
			subj[n++] = b->routes[i].subject;
	return n;
}

int nats_stream_ensure(struct bridge *b)
{
	const char *subj[BRIDGE_ROUTES_MAX];
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	jsCtx *js = NULL;
	natsStatus s = natsConnection_JetStream(&js, b->nc, NULL);

	if (s == NATS_OK && js_GetStreamInfo(&si, js, b->create_stream, NULL, &jerr) == NATS_OK) {
		blog("info", "nats", "stream=%s exists: left as it is", b->create_stream);
		goto out;
	}
	jsStreamConfig_Init(&cfg);
	cfg.Name = b->create_stream;
	cfg.Subjects = subj;
	cfg.SubjectsLen = (int)out_subjects(b, subj);
	if (s == NATS_OK)
		s = js_AddStream(&si, js, &cfg, NULL, &jerr);
	if (s != NATS_OK)
		blog("error", "nats", "cannot create stream=%s: %s (%s, code %d)", b->create_stream,
		     natsStatus_GetText(s), nats_GetLastError(NULL), (int)jerr);
	else
		blog("info", "nats", "stream=%s created for %d subject(s)", b->create_stream,
		     cfg.SubjectsLen);
out:
	jsStreamInfo_Destroy(si);
	jsCtx_Destroy(js);
	return s == NATS_OK ? 0 : -1;
}
