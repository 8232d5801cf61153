/*
 * scen_counters.c - what the statistics counters cost, in one run: the
 * shmq scenarios of scen_shmq.c compiled a second time here, calling libshmq
 * through a table of function pointers that points either at the linked
 * libshmq (counters on) or at libshmq-nocounters.so, the same sources built
 * with SHMQ_COUNTERS=0 and dlopen()ed (counters compiled out). Both sides
 * thus pay the same indirect call per API call; only the library differs.
 * The table is chosen before the scenario forks its peers, which inherit it.
 * Single-threaded, like the runner.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "shmq.h"

#define SQ_FUNCS(X)                                                                               \
	X(channel_create)                                                                         \
	X(channel_delete)                                                                         \
	X(connect)                                                                                \
	X(disconnect)                                                                             \
	X(poll)                                                                                   \
	X(pub_claimv)                                                                             \
	X(pub_close)                                                                              \
	X(pub_commitv)                                                                            \
	X(pub_open)                                                                               \
	X(publish)                                                                                \
	X(publishv)                                                                               \
	X(recv)                                                                                   \
	X(strerror)                                                                               \
	X(sub_close)                                                                              \
	X(sub_fd)                                                                                 \
	X(sub_open)

struct sq_api {
#define X(f) __typeof__(shmq_##f) *f_##f;
	SQ_FUNCS(X)
#undef X
};

static const struct sq_api sq_linked = {
#define X(f) .f_##f = shmq_##f,
	SQ_FUNCS(X)
#undef X
};

static struct sq_api sq_api;     /* what the scenarios below call */
static struct sq_api sq_nocount; /* from libshmq-nocounters.so */
static int nc_loaded;            /* 0 not tried, 1 loaded, -1 failed (nc_why) */
static char nc_why[200];

#define shmq_channel_create (sq_api.f_channel_create)
#define shmq_channel_delete (sq_api.f_channel_delete)
#define shmq_connect (sq_api.f_connect)
#define shmq_disconnect (sq_api.f_disconnect)
#define shmq_poll (sq_api.f_poll)
#define shmq_pub_claimv (sq_api.f_pub_claimv)
#define shmq_pub_close (sq_api.f_pub_close)
#define shmq_pub_commitv (sq_api.f_pub_commitv)
#define shmq_pub_open (sq_api.f_pub_open)
#define shmq_publish (sq_api.f_publish)
#define shmq_publishv (sq_api.f_publishv)
#define shmq_recv (sq_api.f_recv)
#define shmq_strerror (sq_api.f_strerror)
#define shmq_sub_close (sq_api.f_sub_close)
#define shmq_sub_fd (sq_api.f_sub_fd)
#define shmq_sub_open (sq_api.f_sub_open)

/* scen_shmq.c's entry points, renamed in this copy */
#define scen_shmq_pingpong_spin sqc_pingpong_spin
#define scen_shmq_pingpong_spin_sleep sqc_pingpong_spin_sleep
#define scen_shmq_pingpong_sleep sqc_pingpong_sleep
#define scen_shmq_pingpong_eventfd sqc_pingpong_eventfd
#define scen_shmq_pingpong_spin_excl sqc_pingpong_spin_excl
#define scen_shmq_stream sqc_stream
#define scen_shmq_stream_batch sqc_stream_batch
#define scen_shmq_stream_excl sqc_stream_excl
#define scen_shmq_stream_excl_batch sqc_stream_excl_batch
#define scen_shmq_stream_claimv sqc_stream_claimv
#define scen_shmq_stream_excl_claimv sqc_stream_excl_claimv
#define scen_shmq_stream_publishv sqc_stream_publishv
#define scen_shmq_stream_excl_publishv sqc_stream_excl_publishv
#define scen_shmq_stream_excl_nots sqc_stream_excl_nots
#define scen_shmq_stream_excl_batch_nots sqc_stream_excl_batch_nots
#define scen_shmq_mixed sqc_mixed
#define scen_shmq_mixed_excl sqc_mixed_excl
#define scen_shmq_fanout sqc_fanout

#include "scen_shmq.c"

#ifndef SHMQ_NOCOUNTERS_BUILD
#define SHMQ_NOCOUNTERS_BUILD ""
#endif
#ifndef SHMQ_NOCOUNTERS_INSTALLED
#define SHMQ_NOCOUNTERS_INSTALLED ""
#endif

/* dlopen() libshmq-nocounters.so: $SHMQ_BENCH_NOCOUNTERS, the build's, the installed one. */
static int nc_load(void)
{
	const char *paths[] = {getenv("SHMQ_BENCH_NOCOUNTERS"), SHMQ_NOCOUNTERS_BUILD,
			       SHMQ_NOCOUNTERS_INSTALLED};
	void *h = NULL;

	if (nc_loaded)
		return nc_loaded;
	for (unsigned i = 0; i < 3 && !h; i++)
		if (paths[i] && paths[i][0])
			h = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
	nc_loaded = -1;
	if (!h) {
		snprintf(nc_why, sizeof(nc_why), "libshmq-nocounters.so not found (%s)",
			 SHMQ_NOCOUNTERS_INSTALLED);
		return nc_loaded;
	}
#define X(f)                                                                                      \
	if (!(*(void **)&sq_nocount.f_##f = dlsym(h, "shmq_" #f))) {                              \
		snprintf(nc_why, sizeof(nc_why), "libshmq-nocounters.so lacks shmq_" #f);          \
		return nc_loaded;                                                                 \
	}
	SQ_FUNCS(X)
#undef X
	nc_loaded = 1;
	return nc_loaded;
}

/* Choose the library: counters on (the linked one) or compiled out. */
static int use(int on, struct bench_out *out)
{
#if !SHMQ_COUNTERS_BUILT
	if (on)
		return bench_fail(out->reason, BENCH_SKIP, "built with -Dcounters=false");
#endif
	if (on) {
		sq_api = sq_linked;
		return 0;
	}
	if (nc_load() < 0)
		return bench_fail(out->reason, BENCH_SKIP, "%s", nc_why);
	sq_api = sq_nocount;
	return 0;
}

int scen_counters_spin_on(const struct bench_cfg *cfg, struct bench_out *out)
{
	return use(1, out) ?: sqc_pingpong_spin(cfg, out);
}

int scen_counters_spin_off(const struct bench_cfg *cfg, struct bench_out *out)
{
	return use(0, out) ?: sqc_pingpong_spin(cfg, out);
}

int scen_counters_stream_on(const struct bench_cfg *cfg, struct bench_out *out)
{
	return use(1, out) ?: sqc_stream(cfg, out);
}

int scen_counters_stream_off(const struct bench_cfg *cfg, struct bench_out *out)
{
	return use(0, out) ?: sqc_stream(cfg, out);
}
