/*
 * test_api_args.c - libshmq's public calls given NULL or out-of-range
 * arguments return -SHMQ_EINVAL (or do nothing, for the void ones) and
 * never crash; socket path resolution. No daemon is needed: every call
 * here fails before it would talk to one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmq.h"

static int cb(void *arg, const struct shmq_msg *m)
{
	(void)arg;
	(void)m;
	return 0;
}

static void test_null_arguments_return_einval(void **state)
{
	struct shmq_channel_info ci;
	struct shmq_client *c = NULL;
	struct shmq_claim cl = {0};
	struct shmq_pub *p = NULL;
	struct shmq_sub *s = NULL;
	struct shmq_msg m;
	char buf[8];

	(void)state;
	assert_int_equal(shmq_connect(NULL, NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_connect("/nonexistent/socket", NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_socket_path(NULL, NULL, 10), -SHMQ_EINVAL);
	assert_int_equal(shmq_socket_path(NULL, buf, 0), -SHMQ_EINVAL);
	assert_int_equal(shmq_channel_create(NULL, "a", NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_channel_delete(NULL, "a"), -SHMQ_EINVAL);
	assert_int_equal(shmq_channel_list(NULL, NULL, 0), -SHMQ_EINVAL);
	assert_int_equal(shmq_channel_list(NULL, &ci, 1), -SHMQ_EINVAL);
	assert_int_equal(shmq_channel_info(NULL, "a", &ci), -SHMQ_EINVAL);
	assert_int_equal(shmq_pub_open(NULL, "a", NULL, &p), -SHMQ_EINVAL);
	assert_null(p);
	assert_int_equal(shmq_pub_claim(NULL, 1, &cl, 0), -SHMQ_EINVAL);
	assert_int_equal(shmq_pub_commit(NULL, &cl, 1), -SHMQ_EINVAL);
	assert_int_equal(shmq_pub_abort(NULL, &cl), -SHMQ_EINVAL);
	assert_int_equal(shmq_publish(NULL, "x", 1, 0, NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_sub_open(NULL, "a", NULL, &s), -SHMQ_EINVAL);
	assert_null(s);
	assert_int_equal(shmq_recv(NULL, &m, 0), -SHMQ_EINVAL);
	assert_int_equal(shmq_recv_copy(NULL, buf, sizeof(buf), &m, 0), -SHMQ_EINVAL);
	assert_int_equal(shmq_msg_verify(NULL, &m), -SHMQ_EINVAL);
	assert_int_equal(shmq_poll(NULL, cb, NULL, 1, 0), -SHMQ_EINVAL);
	assert_int_equal(shmq_sub_fd(NULL), -SHMQ_EINVAL);
	assert_null(c);
}

/* The statistics calls refuse what the others refuse; a zero timeout is no bound. */
static void test_stats_calls_refuse_null_and_zero_timeout(void **state)
{
	static struct shmq_mon_stats st;
	static struct shmq_mon_ext ext;
	struct shmq_daemon_stats ds;
	struct shmq_daemon_client row;
	struct shmq_client *c = NULL;

	(void)state;
	assert_int_equal(shmq_connect_timeout(NULL, 0, &c), -SHMQ_EINVAL);
	assert_int_equal(shmq_connect_timeout(NULL, 1000, NULL), -SHMQ_EINVAL);
	assert_null(c);
	assert_int_equal(shmq_mon_open(NULL, "x", NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_mon_read(NULL, &st), -SHMQ_EINVAL);
	shmq_mon_close(NULL);
	assert_int_equal(shmq_client_connected(NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_mon_read_ext(NULL, &st, &ext), -SHMQ_EINVAL);
	assert_int_equal(shmq_daemon_stats(NULL, &ds, &row, 1), -SHMQ_EINVAL);
	assert_int_equal(SHMQ_LAT_BUCKET_NS(0), 256);
	assert_int_equal(SHMQ_LAT_BUCKET_NS(SHMQ_LAT_BUCKETS - 1), UINT64_MAX);
}

static void test_void_calls_ignore_null(void **state)
{
	struct shmq_sub_stats st;

	(void)state;
	shmq_disconnect(NULL);
	shmq_pub_close(NULL);
	shmq_sub_close(NULL);
	shmq_sub_stats(NULL, &st);
	shmq_channel_opts_default(NULL);
	assert_int_equal(shmq_pub_max_message(NULL), 0);
	assert_int_equal(shmq_sub_position(NULL), 0);
}

static void test_opts_default_fills_only_zero_fields(void **state)
{
	struct shmq_channel_opts o = {0}, set = {.capacity_bytes = 12345, .policy = 1};

	(void)state;
	shmq_channel_opts_default(&o);
	assert_int_equal(o.capacity_bytes, 4u << 20);
	assert_int_equal(o.max_message_bytes, 4096);
	assert_int_equal(o.policy, SHMQ_POLICY_DROP);
	shmq_channel_opts_default(&set);
	assert_int_equal(set.capacity_bytes, 12345);
	assert_int_equal(set.max_message_bytes, 4096);
	assert_int_equal(set.policy, SHMQ_POLICY_BLOCK);
}

static void test_socket_path_prefers_argument_then_environment(void **state)
{
	char buf[108], longer[200];

	(void)state;
	setenv("SHMQ_SOCKET", "/tmp/from-env.sock", 1);
	assert_int_equal(shmq_socket_path("/tmp/given.sock", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/given.sock");
	assert_int_equal(shmq_socket_path(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/from-env.sock");
	assert_int_equal(shmq_socket_path("", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/from-env.sock");
	unsetenv("SHMQ_SOCKET");
	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	assert_int_equal(shmq_socket_path(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf,
			    geteuid() ? "/run/user/4242/shmq/shmqd.sock" : "/run/shmq/shmqd.sock");
	unsetenv("XDG_RUNTIME_DIR");
	if (geteuid() == 0) {
		assert_int_equal(shmq_socket_path(NULL, buf, sizeof(buf)), 0);
		assert_string_equal(buf, "/run/shmq/shmqd.sock");
	} else { /* -SHMQ_EPERM if someone else made /tmp/shmq-UID */
		shmq_socket_path(NULL, buf, sizeof(buf));
		assert_true(strncmp(buf, "/tmp/shmq-", 10) == 0);
	}
	/* too long for the buffer, and for a Unix socket address */
	assert_int_equal(shmq_socket_path("/tmp/given.sock", buf, 5), -SHMQ_EINVAL);
	memset(longer, 'x', sizeof(longer) - 1);
	longer[0] = '/';
	longer[sizeof(longer) - 1] = 0;
	{
		struct shmq_client *c = NULL;

		assert_int_equal(shmq_connect(longer, &c), -SHMQ_EINVAL);
		assert_null(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_null_arguments_return_einval),
	    cmocka_unit_test(test_stats_calls_refuse_null_and_zero_timeout),
	    cmocka_unit_test(test_void_calls_ignore_null),
	    cmocka_unit_test(test_opts_default_fills_only_zero_fields),
	    cmocka_unit_test(test_socket_path_prefers_argument_then_environment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
