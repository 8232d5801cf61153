/*
 * test_numa.c - NUMA placement against a real shmqd: a channel bound to a
 * node (by number, as "local", or declared in the configuration) has both
 * of its memfds under a strict bind policy in shmqd's /proc/PID/numa_maps
 * and its pages on that node; an absent node is -SHMQ_EINVAL and leaves
 * no channel; a channel that asks for nothing keeps the default policy.
 * Skips (77) without libnuma or on a kernel without NUMA.
 */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifdef HAVE_LIBNUMA
#include <numa.h>
#endif

#include "daemon.h"
#include "helpers.h"
#include "shmq.h"

#ifdef HAVE_LIBNUMA

/*
 * The policy word (second field) of the line of shmqd's numa_maps that
 * maps memfd "shmq.<chan>.<kind>", into policy; 0, or -1 if no such line.
 */
static int seg_policy(const struct daemon *d, const char *chan, char kind, char policy[64])
{
	char path[64], line[1024], want[256], *at;
	size_t wlen;
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof(path), "/proc/%d/numa_maps", (int)d->pid);
	wlen = (size_t)snprintf(want, sizeof(want), "file=/memfd:shmq.%s.%c", chan, kind);
	f = fopen(path, "r");
	assert_non_null(f);
	while (rc && fgets(line, sizeof(line), f)) {
		at = strstr(line, want);
		/* the name ends there: a space, or "\040(deleted)" */
		if (!at || (at[wlen] != ' ' && at[wlen] != '\\' && at[wlen] != '\n'))
			continue;
		if (sscanf(line, "%*s %63s", policy) == 1)
			rc = 0;
	}
	fclose(f);
	if (rc)
		print_error("no numa_maps line for %s in %s\n", want, path);
	return rc;
}

static void assert_bound(const struct daemon *d, const char *chan, int node)
{
	char policy[64], want[32];

	snprintf(want, sizeof(want), "bind:%d", node);
	assert_int_equal(seg_policy(d, chan, 'd', policy), 0);
	assert_string_equal(policy, want);
	assert_int_equal(seg_policy(d, chan, 'c', policy), 0);
	assert_string_equal(policy, want);
}

static void create_on(struct shmq_client *c, const char *name, int32_t numa_node)
{
	struct shmq_channel_opts o = {0};

	shmq_channel_opts_default(&o);
	o.capacity_bytes = 1 << 20;
	o.numa_node = numa_node;
	assert_int_equal(shmq_channel_create(c, name, &o), 0);
}

static void test_channel_on_node_0_is_bound_and_its_pages_are_there(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_info ci;

	create_on(c, "numa.node0", SHMQ_NUMA_NODE(0));
	assert_bound(d, "numa.node0", 0);
	assert_int_equal(shmq_channel_info(c, "numa.node0", &ci), 0);
	assert_int_equal(ci.numa_node, SHMQ_NUMA_NODE(0));
	assert_int_equal(ci.numa_pages_node, 0);
	shmq_disconnect(c);
}

static void test_local_binds_to_the_node_of_the_creators_cpu(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_info ci;
	cpu_set_t all, one;
	int cpu = sched_getcpu(), node;

	/* stay on one CPU so that "the creator's node" is known here */
	assert_true(cpu >= 0);
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	node = numa_node_of_cpu(cpu);
	assert_true(node >= 0);
	create_on(c, "numa.local", SHMQ_NUMA_LOCAL);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	assert_bound(d, "numa.local", node);
	assert_int_equal(shmq_channel_info(c, "numa.local", &ci), 0);
	assert_int_equal(ci.numa_node, SHMQ_NUMA_LOCAL);
	assert_int_equal(ci.numa_pages_node, node);
	shmq_disconnect(c);
}

static void test_absent_node_is_einval_and_leaves_no_channel(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_opts o = {0};
	struct shmq_channel_info ci;
	int absent = numa_max_node() < 7 ? 7 : numa_max_node() + 1;

	shmq_channel_opts_default(&o);
	o.numa_node = SHMQ_NUMA_NODE(absent);
	assert_int_equal(shmq_channel_create(c, "numa.absent", &o), -SHMQ_EINVAL);
	assert_int_equal(shmq_channel_info(c, "numa.absent", &ci), -SHMQ_ENOENT);
	o.numa_node = -2; /* neither NONE, LOCAL nor a node */
	assert_int_equal(shmq_channel_create(c, "numa.absent", &o), -SHMQ_EINVAL);
	fx_assert_daemon_serves(d);
	shmq_disconnect(c);
}

static void test_channel_without_numa_keeps_the_default_policy(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_info ci;
	char policy[64];

	assert_int_equal(shmq_channel_create(c, "numa.none", NULL), 0);
	assert_int_equal(seg_policy(d, "numa.none", 'd', policy), 0);
	assert_string_equal(policy, "default");
	assert_int_equal(seg_policy(d, "numa.none", 'c', policy), 0);
	assert_string_equal(policy, "default");
	assert_int_equal(shmq_channel_info(c, "numa.none", &ci), 0);
	assert_int_equal(ci.numa_node, SHMQ_NUMA_NONE);
	if (numa_max_node() == 0)
		assert_int_equal(ci.numa_pages_node, 0);
	shmq_disconnect(c);
}

static void test_declared_channels_are_bound_as_configured(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_info ci;

	assert_bound(d, "cfg.node0", 0);
	assert_int_equal(shmq_channel_info(c, "cfg.node0", &ci), 0);
	assert_int_equal(ci.numa_node, SHMQ_NUMA_NODE(0));
	assert_int_equal(ci.numa_pages_node, 0);
	/* local is the daemon's node; on one node, node 0 */
	assert_int_equal(shmq_channel_info(c, "cfg.local", &ci), 0);
	assert_int_equal(ci.numa_node, SHMQ_NUMA_LOCAL);
	if (numa_max_node() == 0)
		assert_bound(d, "cfg.local", 0);
	shmq_disconnect(c);
}

static int declared_setup(void **state)
{
	struct daemon *d = calloc(1, sizeof(*d));

	if (!d || daemon_start(d, "[channel cfg.node0]\ncapacity = 64K\nnuma_node = 0\n"
				  "[channel cfg.local]\nnuma_node = local\n")) {
		if (d)
			daemon_remove(d);
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_channel_on_node_0_is_bound_and_its_pages_are_there),
	    T(test_local_binds_to_the_node_of_the_creators_cpu),
	    T(test_absent_node_is_einval_and_leaves_no_channel),
	    T(test_channel_without_numa_keeps_the_default_policy),
	    cmocka_unit_test_setup_teardown(test_declared_channels_are_bound_as_configured,
					    declared_setup, daemon_teardown),
	};

	if (numa_available() < 0) {
		fprintf(stderr, "no NUMA on this kernel: skipping\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

int main(void)
{
	fprintf(stderr, "built without libnuma: skipping\n");
	return 77;
}

#endif
