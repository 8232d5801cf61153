/*
 * scen_counters.c - what the statistics counters cost, in one run: the
 * shmq scenarios of scen_shmq.c compiled a second time here, calling libshmq
 * through a table of function pointers that points either at
 * libshmq-counters.so (counters on) or at libshmq-nocounters.so (the same
 * sources built with SHMQ_COUNTERS=0), both dlopen()ed, built with the same
 * flags. Both sides thus pay the same indirect calls and the same
 * in-library calls; only SHMQ_COUNTERS differs. The table is chosen before
 * the scenario forks its peers, which inherit it. Single-threaded, like the
 * runner.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "shmq.h"

#define SQ_FUNCS(X)                                                                                \
	X(channel_create)                                                                          \
	X(channel_delete)                                                                          \
	X(connect)                                                                                 \
	X(disconnect)                                                                              \
	X(poll)                                                                                    \
	X(pub_claimv)                                                                              \
	X(pub_close)                                                                               \
	X(pub_commitv)                                                                             \
	X(pub_open)                                                                                \
	X(publish)                                                                                 \
	X(publishv)                                                                                \
	X(recv)                                                                                    \
	X(strerror)                                                                                \
	X(sub_close)                                                                               \
	X(sub_fd)                                                                                  \
	X(sub_open)                                                                                \
	X(sub_open_pattern)

struct sq_api {
#define X(f) __typeof__(shmq_##f) *f_##f;
	SQ_FUNCS(X)
#undef X
};

/* The two libraries: counters on, compiled out. */
struct sq_lib {
	const char *name;
	const char *paths[3]; /* $ENV, the build's, the installed one */
	struct sq_api api;
	int loaded; /* 0 not tried, 1 loaded, -1 failed (why) */
	char why[200];
};

#ifndef SHMQ_COUNTERS_BUILD
#define SHMQ_COUNTERS_BUILD ""
#define SHMQ_COUNTERS_INSTALLED ""
#endif
#ifndef SHMQ_NOCOUNTERS_BUILD
#define SHMQ_NOCOUNTERS_BUILD ""
#define SHMQ_NOCOUNTERS_INSTALLED ""
#endif

static struct sq_lib sq_libs[2] = {
    {"libshmq-counters.so", {"SHMQ_BENCH_COUNTERS", SHMQ_COUNTERS_BUILD, SHMQ_COUNTERS_INSTALLED}},
    {"libshmq-nocounters.so",
     {"SHMQ_BENCH_NOCOUNTERS", SHMQ_NOCOUNTERS_BUILD, SHMQ_NOCOUNTERS_INSTALLED}},
};

static struct sq_api sq_api; /* what the scenarios below call */

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
#define shmq_sub_open_pattern (sq_api.f_sub_open_pattern)

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
#define scen_shmq_pingpong_spin_pattern sqc_pingpong_spin_pattern
#define scen_shmq_stream_pattern sqc_stream_pattern

#define SQ_NO_FILTER
#include "scen_shmq.c"

/* dlopen() one of the libraries: the path in its variable, the build's, the installed one. */
static int lib_load(struct sq_lib *l)
{
	void *h = NULL;

	if (l->loaded)
		return l->loaded;
	for (unsigned i = 0; i < 3 && !h; i++) {
		const char *p = i ? l->paths[i] : getenv(l->paths[0]);

		if (p && p[0])
			h = dlopen(p, RTLD_NOW | RTLD_LOCAL);
	}
	l->loaded = -1;
	if (!h) {
		snprintf(l->why, sizeof(l->why), "%s not found (%s)", l->name, l->paths[2]);
		return l->loaded;
	}
#define X(f)                                                                                       \
	if (!(*(void **)&l->api.f_##f = dlsym(h, "shmq_" #f))) {                                   \
		snprintf(l->why, sizeof(l->why), "%s lacks shmq_" #f, l->name);                    \
		return l->loaded;                                                                  \
	}
	SQ_FUNCS(X)
#undef X
	l->loaded = 1;
	return l->loaded;
}

/* Choose the library: counters on, or compiled out. */
static int use(int on, struct bench_out *out)
{
	struct sq_lib *l = &sq_libs[on ? 0 : 1];

#if !SHMQ_COUNTERS_BUILT
	if (on)
		return bench_fail(out->reason, BENCH_SKIP, "built with -Dcounters=false");
#endif
	if (lib_load(l) < 0)
		return bench_fail(out->reason, BENCH_SKIP, "%s", l->why);
	sq_api = l->api;
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
