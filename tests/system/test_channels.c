/*
 * test_channels.c - channel administration through libshmq against a real
 * shmqd: create, list, info, delete, and what each refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "raw.h"
#include "shmq.h"

static void test_create_then_info_reports_the_settings(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_opts o = {
	    .capacity_bytes = 64 << 10, .max_message_bytes = 1000, .policy = SHMQ_POLICY_BLOCK};
	struct shmq_channel_info ci;

	assert_int_equal(shmq_channel_create(c, "orders.eu.created", &o), 0);
	assert_int_equal(shmq_channel_info(c, "orders.eu.created", &ci), 0);
	assert_string_equal(ci.name, "orders.eu.created");
	assert_int_equal(ci.policy, SHMQ_POLICY_BLOCK);
	assert_int_equal(ci.max_message_bytes, 1000);
	/* rounded up to 2^n, and to 4 records of the largest message */
	assert_int_equal(ci.capacity_bytes, 64 << 10);
	assert_int_equal(fx_ring_bytes(c, "orders.eu.created"), 64 << 10);
	assert_int_equal(ci.publishers, SHMQ_PUBLISHERS_MANY);
	assert_int_equal(ci.publishers_open, 0);
	assert_int_equal(ci.flags, 0);
	assert_int_equal(ci.numa_node, SHMQ_NUMA_NONE);
	assert_int_equal(ci.readers, 0);
	assert_int_equal(ci.oldest, 0);
	assert_int_equal(ci.tail, 0);
	shmq_disconnect(c);
}

static void test_ring_is_rounded_up_to_a_power_of_two_of_four_largest_records(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_opts o = {.capacity_bytes = 1, .max_message_bytes = 64};
	struct shmq_channel_info ci;

	/* 4 records of 64 bytes with 4096 bytes of extensions: 16768, so 32 KiB */
	assert_int_equal(shmq_channel_create(c, "tiny", &o), 0);
	assert_int_equal(shmq_channel_info(c, "tiny", &ci), 0);
	assert_int_equal(ci.capacity_bytes, 32 << 10);
	assert_int_equal(fx_ring_msgs(c, "tiny", 8), 512);
	assert_int_equal(fx_ring_msgs(c, "tiny", 64), 32768 / 96);
	/* a capacity just above a power of two takes the next one */
	o = (struct shmq_channel_opts){.capacity_bytes = (64 << 10) + 1, .max_message_bytes = 64};
	assert_int_equal(shmq_channel_create(c, "odd", &o), 0);
	assert_int_equal(fx_ring_bytes(c, "odd"), 128 << 10);
	/* a large message makes the ring large: 4 * (32 + 4096 + 100000) rounded */
	o = (struct shmq_channel_opts){.capacity_bytes = 4096, .max_message_bytes = 100000};
	assert_int_equal(shmq_channel_create(c, "big", &o), 0);
	assert_int_equal(fx_ring_bytes(c, "big"), 512 << 10);
	shmq_disconnect(c);
}

static void test_create_with_null_opts_takes_the_defaults(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_opts def = {0};
	struct shmq_channel_info ci;

	shmq_channel_opts_default(&def);
	assert_int_equal(shmq_channel_create(c, "plain", NULL), 0);
	assert_int_equal(shmq_channel_info(c, "plain", &ci), 0);
	assert_int_equal(ci.policy, SHMQ_POLICY_DROP);
	assert_int_equal(ci.max_message_bytes, def.max_message_bytes);
	assert_true(ci.capacity_bytes >= def.capacity_bytes);
	shmq_disconnect(c);
}

static void test_duplicate_create_fails_with_eexist(void **state)
{
	struct shmq_client *c = fx_connect(*state);

	assert_int_equal(shmq_channel_create(c, "dup", NULL), 0);
	assert_int_equal(shmq_channel_create(c, "dup", NULL), -SHMQ_EEXIST);
	shmq_disconnect(c);
}

static int find_row(const struct shmq_channel_info *rows, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(rows[i].name, name))
			return i;
	return -1;
}

static void test_list_returns_every_channel_across_pages(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_info rows[64];
	char name[32];
	int n;

	assert_int_equal(shmq_channel_list(c, NULL, 0), 0);
	/* more than one response datagram holds (PROTO_LIST_ROWS) */
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "list.ch%02d", i);
		assert_int_equal(shmq_channel_create(c, name, NULL), 0);
	}
	assert_int_equal(shmq_channel_list(c, NULL, 0), 30);
	n = shmq_channel_list(c, rows, 64);
	assert_int_equal(n, 30);
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "list.ch%02d", i);
		assert_true(find_row(rows, n, name) >= 0);
	}
	/* a short array gets what fits and the full count */
	memset(rows, 0, sizeof(rows));
	assert_int_equal(shmq_channel_list(c, rows, 5), 30);
	for (int i = 0; i < 5; i++)
		assert_true(!strncmp(rows[i].name, "list.ch", 7));
	assert_string_equal(rows[5].name, "");
	shmq_disconnect(c);
}

static void test_delete_removes_the_channel_from_list_and_info(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_info rows[4], ci;

	assert_int_equal(shmq_channel_create(c, "gone.soon", NULL), 0);
	assert_int_equal(shmq_channel_create(c, "stays", NULL), 0);
	assert_int_equal(shmq_channel_delete(c, "gone.soon"), 0);
	assert_int_equal(shmq_channel_info(c, "gone.soon", &ci), -SHMQ_ENOENT);
	assert_int_equal(shmq_channel_list(c, rows, 4), 1);
	assert_string_equal(rows[0].name, "stays");
	assert_int_equal(shmq_channel_delete(c, "gone.soon"), -SHMQ_ENOENT);
	/* the name is free again */
	assert_int_equal(shmq_channel_create(c, "gone.soon", NULL), 0);
	shmq_disconnect(c);
}

static void test_deleted_channel_keeps_serving_open_handles(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;

	assert_int_equal(shmq_channel_create(c, "doomed", NULL), 0);
	assert_int_equal(shmq_pub_open(c, "doomed", NULL, &p), 0);
	assert_int_equal(shmq_sub_open(c, "doomed", &so, &s), 0);
	assert_int_equal(shmq_channel_delete(c, "doomed"), 0);
	assert_int_equal(shmq_publish(p, "still", 5, 0, NULL), 0);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.data, "still", 5);
	/* a new channel of the same name is a different channel; the old
	 * one's subscriber, having read everything, learns it was deleted */
	assert_int_equal(shmq_channel_create(c, "doomed", NULL), 0);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EDELETED);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), -SHMQ_EDELETED);
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

static void test_info_counts_attached_subscribers(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_info ci;
	struct shmq_sub *a, *b;

	assert_int_equal(shmq_channel_create(c, "counted", NULL), 0);
	assert_int_equal(shmq_sub_open(c, "counted", NULL, &a), 0);
	assert_int_equal(shmq_sub_open(c, "counted", NULL, &b), 0);
	assert_int_equal(shmq_channel_info(c, "counted", &ci), 0);
	assert_int_equal(ci.readers, 2);
	shmq_sub_close(a);
	assert_int_equal(shmq_channel_info(c, "counted", &ci), 0);
	assert_int_equal(ci.readers, 1);
	shmq_sub_close(b);
	assert_int_equal(shmq_channel_info(c, "counted", &ci), 0);
	assert_int_equal(ci.readers, 0);
	shmq_disconnect(c);
}

/* Publishers scan reader entries up to ctl->readers_hi only: the daemon keeps it exact. */
static void test_readers_hi_follows_the_highest_assigned_reader(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub *s[3];
	struct raw_chan rc;
	struct raw r;

	assert_int_equal(shmq_channel_create(c, "hi", NULL), 0);
	fx_raw_open(&r, d, "hi", ROLE_PUB, &rc);
	assert_int_equal(atomic_load(&rc.ctl->readers_hi), 0);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(shmq_sub_open(c, "hi", NULL, &s[i]), 0);
		assert_int_equal(atomic_load(&rc.ctl->readers_hi), i + 1);
	}
	shmq_sub_close(s[1]); /* a hole below the highest keeps it */
	assert_int_equal(atomic_load(&rc.ctl->readers_hi), 3);
	shmq_sub_close(s[2]);
	assert_int_equal(atomic_load(&rc.ctl->readers_hi), 1);
	assert_int_equal(shmq_sub_open(c, "hi", NULL, &s[1]), 0); /* takes the lowest free */
	assert_int_equal(atomic_load(&rc.ctl->readers_hi), 2);
	shmq_sub_close(s[0]);
	shmq_sub_close(s[1]);
	assert_int_equal(atomic_load(&rc.ctl->readers_hi), 0);
	raw_chan_unmap(&rc);
	raw_close(&r);
	shmq_disconnect(c);
}

static void test_longest_valid_name_is_accepted(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	char name[SHMQ_NAME_MAX + 1];
	struct shmq_channel_info ci;

	memset(name, 'n', SHMQ_NAME_MAX);
	name[SHMQ_NAME_MAX] = 0;
	assert_int_equal(shmq_channel_create(c, name, NULL), 0);
	assert_int_equal(shmq_channel_info(c, name, &ci), 0);
	assert_string_equal(ci.name, name);
	assert_int_equal(shmq_channel_delete(c, name), 0);
	shmq_disconnect(c);
}

static void test_pub_open_with_create_makes_a_missing_channel(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_pub_opts po = {.create = 1, .channel = {.max_message_bytes = 128}};
	struct shmq_channel_info ci;
	struct shmq_pub *p;

	assert_int_equal(shmq_pub_open(c, "made.on.demand", NULL, &p), -SHMQ_ENOENT);
	assert_int_equal(shmq_pub_open(c, "made.on.demand", &po, &p), 0);
	assert_int_equal(shmq_pub_max_message(p), 128);
	assert_int_equal(shmq_channel_info(c, "made.on.demand", &ci), 0);
	assert_int_equal(ci.max_message_bytes, 128);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_create_then_info_reports_the_settings),
	    T(test_ring_is_rounded_up_to_a_power_of_two_of_four_largest_records),
	    T(test_create_with_null_opts_takes_the_defaults),
	    T(test_duplicate_create_fails_with_eexist),
	    T(test_list_returns_every_channel_across_pages),
	    T(test_delete_removes_the_channel_from_list_and_info),
	    T(test_deleted_channel_keeps_serving_open_handles),
	    T(test_info_counts_attached_subscribers),
	    T(test_readers_hi_follows_the_highest_assigned_reader),
	    T(test_longest_valid_name_is_accepted),
	    T(test_pub_open_with_create_makes_a_missing_channel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
