/*
 * scen_selftest.c - scenarios that break on purpose, for the runner's own
 * test: "hang" never finishes (a peer process spinning, the measuring side
 * asleep), "crash" aborts as a failed assertion would. The runner must report
 * each as FAILED with its reason, kill what it left, and go on. They run only
 * when --only names "selftest".
 */
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

static volatile int selftest_never; /* stays 0 */

static int hang_child(void *arg, unsigned idx)
{
	(void)arg;
	(void)idx;
	while (!selftest_never)
		cpu_relax();
	return 0;
}

static int hang_parent(void *arg)
{
	(void)arg;
	while (!selftest_never)
		pause();
	return 0;
}

int scen_selftest_hang(const struct bench_cfg *cfg, struct bench_out *out)
{
	return proc_run(cfg, 1, hang_child, hang_parent, NULL, out->reason);
}

int scen_selftest_crash(const struct bench_cfg *cfg, struct bench_out *out)
{
	(void)cfg;
	(void)out;
	abort();
}
