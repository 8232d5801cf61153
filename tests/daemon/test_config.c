/*
 * test_config.c - daemon/config.c, compiled in: one test per rule of the
 * configuration file (docs/CONFIG.md). Errors must name the file, the
 * line number, the reason and the whole line as written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "shmq_err.h"

static struct config cfg;
static char err[4096];

static int parse(const char *text)
{
	config_defaults(&cfg);
	err[0] = 0;
	return config_parse(&cfg, text, "t.conf", err, sizeof(err));
}

/* parse must fail, and err must hold every one of the given strings */
static void expect_error(const char *text, const char *line_no, const char *why, const char *line)
{
	assert_int_equal(parse(text), -SHMQ_EINVAL);
	if (!strstr(err, line_no) || !strstr(err, why) || !strstr(err, line))
		fail_msg("error \"%s\" lacks \"%s\", \"%s\" or \"%s\"", err, line_no, why, line);
}

static void test_config_defaults_without_text(void **state)
{
	(void)state;
	assert_int_equal(parse(""), 0);
	assert_int_equal(cfg.nchannels, 0);
	assert_int_equal(cfg.stuck_ms, 500);
	assert_int_equal(cfg.max_channels, 1024);
	assert_int_equal(cfg.max_channels_per_uid, 64);
	assert_int_equal(cfg.max_connections_per_uid, 64);
	assert_int_equal(cfg.hello_timeout_ms, 5000);
	assert_int_equal(cfg.max_handles_per_uid, 16);
	/* creation: root and the daemon's uid only, nobody listed */
	assert_false(cfg.create.everyone);
	assert_int_equal(cfg.create.n, 0);
}

static void test_config_per_uid_limits_and_create_list(void **state)
{
	(void)state;
	assert_int_equal(parse("[daemon]\nmax_channels_per_uid = 3\n"
			       "max_connections_per_uid = 65536\ncreate = 1000, 65534\n"),
			 0);
	assert_int_equal(cfg.max_channels_per_uid, 3);
	assert_int_equal(cfg.max_connections_per_uid, 65536);
	assert_false(cfg.create.everyone);
	assert_int_equal(cfg.create.n, 2);
	assert_true(acl_allows(&cfg.create, 65534));
	assert_false(acl_allows(&cfg.create, 1001));
	expect_error("[daemon]\nmax_channels_per_uid = 0\n", ":2:", "from 1 to 65536",
		     "max_channels_per_uid = 0");
	expect_error("[daemon]\nmax_connections_per_uid = 65537\n", ":2:", "from 1 to 65536",
		     "max_connections_per_uid = 65537");
}

static void test_config_hello_timeout_from_100_ms_to_a_minute(void **state)
{
	(void)state;
	assert_int_equal(parse("[daemon]\nhello_timeout_ms = 100\n"), 0);
	assert_int_equal(cfg.hello_timeout_ms, 100);
	assert_int_equal(parse("[daemon]\nhello_timeout_ms = 60000\n"), 0);
	assert_int_equal(cfg.hello_timeout_ms, 60000);
	expect_error("[daemon]\nhello_timeout_ms = 99\n", ":2:", "from 100 to 60000",
		     "hello_timeout_ms = 99");
	expect_error("[daemon]\nhello_timeout_ms = 60001\n", ":2:", "from 100 to 60000",
		     "hello_timeout_ms = 60001");
}

static void test_config_handle_limit_for_the_daemon_and_a_channel(void **state)
{
	(void)state;
	assert_int_equal(parse("[daemon]\nmax_handles_per_uid = 64\n"
			       "[channel a]\nmax_handles_per_uid = 1\n[channel b]\n"),
			 0);
	assert_int_equal(cfg.max_handles_per_uid, 64);
	assert_int_equal(cfg.nchannels, 2);
	assert_int_equal(cfg.channels[0].max_handles_per_uid, 1);
	assert_int_equal(cfg.channels[1].max_handles_per_uid, 0); /* the daemon's */
	expect_error("[daemon]\nmax_handles_per_uid = 0\n", ":2:", "from 1 to 64",
		     "max_handles_per_uid = 0");
	expect_error("[channel a]\nmax_handles_per_uid = 65\n", ":2:", "from 1 to 64",
		     "max_handles_per_uid = 65");
}

static void test_config_inline_comments_end_the_value(void **state)
{
	(void)state;
	assert_int_equal(
	    parse("# whole line\n"
		  "; also a whole line\n"
		  "[daemon]   # a section with a comment\n"
		  "stuck_ms = 250        # abandon a claim\n"
		  "[channel a.b]\n"
		  "capacity = 64K# no space before it\n"
		  "policy = block ; only a whole line starting with ';' is a comment\n"),
	    -1);
	assert_non_null(strstr(err, "t.conf:7:"));
	assert_int_equal(parse("[daemon]\nstuck_ms = 250 # x\n[channel a.b]\ncapacity = 64K#x\n"
			       "policy = block\t# tab\n"),
			 0);
	assert_int_equal(cfg.stuck_ms, 250);
	assert_int_equal(cfg.nchannels, 1);
	assert_int_equal(cfg.channels[0].capacity_bytes, 64 << 10);
	assert_int_equal(cfg.channels[0].policy, SHMQ_POLICY_BLOCK);
}

static void test_config_channel_defaults_and_every_key(void **state)
{
	struct channel_spec *ch = &cfg.channels[0];

	(void)state;
	assert_int_equal(parse("[channel o]\n"), 0);
	assert_int_equal(ch->capacity_bytes, 4 << 20);
	assert_int_equal(ch->max_message_bytes, 4096);
	assert_true(ch->publish.everyone && ch->subscribe.everyone);
	assert_int_equal(
	    parse("[channel orders.eu-1.created_x]\ncapacity = 8MB\nmax_message = 16M\n"
		  "policy = drop\npublishers = one\nnuma_node = 3\ntimestamps = off\n"
		  "publish = 1000, 1001\nsubscribe = 7\n"),
	    0);
	assert_string_equal(ch->name, "orders.eu-1.created_x");
	assert_int_equal(ch->capacity_bytes, 8 << 20);
	assert_int_equal(ch->max_message_bytes, 16 << 20);
	assert_int_equal(ch->publishers, SHMQ_PUBLISHERS_ONE);
	assert_int_equal(ch->numa_node, SHMQ_NUMA_NODE(3));
	assert_true(ch->flags & SHMQ_CHAN_NO_TIMESTAMP);
	assert_int_equal(ch->publish.n, 2);
	assert_int_equal(ch->publish.uids[1], 1001);
	assert_false(acl_allows(&ch->subscribe, 1000));
	assert_true(acl_allows(&ch->subscribe, 7));
}

static void test_config_sizes_take_k_m_g_t_and_b(void **state)
{
	(void)state;
	assert_int_equal(parse("[channel a]\ncapacity = 1T\n"), 0);
	assert_int_equal(cfg.channels[0].capacity_bytes, 1ull << 40);
	assert_int_equal(parse("[channel a]\ncapacity = 1tb\n"), 0);
	assert_int_equal(cfg.channels[0].capacity_bytes, 1ull << 40);
	assert_int_equal(parse("[channel a]\ncapacity = 2G\n"), 0);
	assert_int_equal(cfg.channels[0].capacity_bytes, 2ull << 30);
	assert_int_equal(parse("[channel a]\ncapacity = 4096\n"), 0);
	expect_error("[channel a]\ncapacity = 2T\n", "t.conf:2:", "from 4096 to 1T",
		     "capacity = 2T");
	expect_error("[channel a]\ncapacity = 17179869184G\n", "t.conf:2:", "capacity must be",
		     "17179869184G");
	expect_error("[channel a]\ncapacity = 4095\n", ":2:", "capacity must be", "4095");
	expect_error("[channel a]\ncapacity = 4X\n", ":2:", "capacity must be", "4X");
	expect_error("[channel a]\ncapacity = -4K\n", ":2:", "capacity must be", "-4K");
	expect_error("[channel a]\nmax_message = 17M\n", ":2:", "from 1 to 16M", "17M");
	expect_error("[channel a]\nmax_message = 0\n", ":2:", "max_message must be", "= 0");
}

static void test_config_error_names_file_line_reason_and_whole_line(void **state)
{
	(void)state;
	expect_error("[daemon]\n\n[channel orders]\npolicy = drop\npolcy = drop   # typo\n",
		     "t.conf:5: ", "unknown key \"polcy\" in [channel orders]",
		     "\n    polcy = drop   # typo");
	expect_error("[channel a]\npolicy = fast\n", "t.conf:2:", "policy must be drop or block",
		     "policy = fast");
}

static void test_config_duplicate_channel_section_is_named(void **state)
{
	(void)state;
	expect_error("[channel a]\npolicy = drop\n[channel a]\n",
		     "t.conf:3:", "duplicate section [channel a] (first on line 1)", "[channel a]");
}

static void test_config_duplicate_daemon_section_is_named(void **state)
{
	(void)state;
	expect_error("[daemon]\n[channel a]\n[daemon]\n",
		     "t.conf:3:", "duplicate section [daemon] (first on line 1)", "[daemon]");
}

static void test_config_duplicate_key_is_named(void **state)
{
	(void)state;
	expect_error("[channel a]\npolicy = drop\ncapacity = 8K\npolicy = block\n",
		     "t.conf:4:", "duplicate key \"policy\" in [channel a] (first on line 2)",
		     "policy = block");
	expect_error("[daemon]\nstuck_ms = 1\nstuck_ms = 2\n",
		     "t.conf:3:", "duplicate key \"stuck_ms\" in [daemon]", "stuck_ms = 2");
}

static void test_config_same_key_in_two_channels_is_fine(void **state)
{
	(void)state;
	assert_int_equal(parse("[channel a]\npolicy = drop\n[channel b]\npolicy = block\n"), 0);
	assert_int_equal(cfg.nchannels, 2);
	assert_int_equal(cfg.channels[1].policy, SHMQ_POLICY_BLOCK);
}

static void test_config_key_outside_a_section(void **state)
{
	(void)state;
	expect_error("# top\nstuck_ms = 5\n", "t.conf:2:", "outside a section", "stuck_ms = 5");
}

static void test_config_unknown_section_and_bad_headers(void **state)
{
	(void)state;
	expect_error("[deamon]\n", "t.conf:1:", "unknown section [deamon]", "[deamon]");
	expect_error("[channel a\n", "t.conf:1:", "closing ']'", "[channel a");
	expect_error("[channel a] x\n", "t.conf:1:", "text after", "[channel a] x");
	expect_error("[channel]\n", "t.conf:1:", "without a channel name", "[channel]");
	expect_error("[channel a..b]\n", "t.conf:1:", "bad channel name \"a..b\"",
		     "[channel a..b]");
}

static void test_config_line_without_equals_or_value(void **state)
{
	(void)state;
	expect_error("[daemon]\nstuck_ms 5\n", "t.conf:2:", "key = value", "stuck_ms 5");
	expect_error("[daemon]\nstuck_ms =   # nothing\n",
		     "t.conf:2:", "no value for key \"stuck_ms\"", "stuck_ms =   # nothing");
	expect_error("[daemon]\n = 5\n", "t.conf:2:", "no key", " = 5");
}

static void test_config_daemon_keys_and_their_limits(void **state)
{
	(void)state;
	assert_int_equal(parse("[daemon]\nstuck_ms = 60000\nmax_channels = 65536\ncreate = 0, 5\n"),
			 0);
	assert_int_equal(cfg.stuck_ms, 60000);
	assert_int_equal(cfg.max_channels, 65536);
	assert_false(acl_allows(&cfg.create, 1000));
	assert_true(acl_allows(&cfg.create, 5));
	expect_error("[daemon]\nstuck_ms = 60001\n", ":2:", "from 1 to 60000", "60001");
	expect_error("[daemon]\nmax_channels = 0\n", ":2:", "from 1 to 65536", "max_channels = 0");
	expect_error("[daemon]\nmax_channels = 1K\n", ":2:", "max_channels must be", "1K");
	expect_error("[daemon]\ncreate = alice\n", ":2:", "create must be * or a list", "alice");
}

static void test_config_word_values(void **state)
{
	(void)state;
	expect_error("[channel a]\npublishers = two\n", ":2:", "many or one", "two");
	expect_error("[channel a]\nnuma_node = 1024\n", ":2:", "from 0 to 1023", "1024");
	expect_error("[channel a]\nnuma_node = far\n", ":2:", "numa_node must be", "far");
	expect_error("[channel a]\ntimestamps = yes\n", ":2:", "on or off", "yes");
	assert_int_equal(parse("[channel a]\nnuma_node = local\n"), 0);
	assert_int_equal(cfg.channels[0].numa_node, SHMQ_NUMA_LOCAL);
}

static void test_config_uid_lists_have_a_bound(void **state)
{
	char text[512] = "[channel a]\npublish = 1";

	(void)state;
	for (int i = 2; i <= CONFIG_MAX_UIDS; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), ", %d", i);
	assert_int_equal(parse(text), 0);
	assert_int_equal(cfg.channels[0].publish.n, CONFIG_MAX_UIDS);
	strcat(text, ", 99");
	expect_error(text, ":2:", "at most 16 uids", "99");
	expect_error("[channel a]\npublish = 4294967296\n", ":2:", "publish must be", "4294967296");
}

static void test_config_channel_count_has_a_bound(void **state)
{
	size_t cap = (CONFIG_MAX_CHANNELS + 1) * 24;
	char *text = calloc(1, cap);

	(void)state;
	assert_non_null(text);
	for (int i = 0; i <= CONFIG_MAX_CHANNELS; i++)
		snprintf(text + strlen(text), cap - strlen(text), "[channel c%d]\n", i);
	expect_error(text, ":257:", "more than 256 channels", "[channel c256]");
	free(text);
}

static void test_config_crlf_lines_and_no_final_newline(void **state)
{
	(void)state;
	assert_int_equal(parse("[channel a]\r\npolicy = block\r\ncapacity = 8K"), 0);
	assert_int_equal(cfg.channels[0].policy, SHMQ_POLICY_BLOCK);
	assert_int_equal(cfg.channels[0].capacity_bytes, 8192);
}

static void test_config_load_names_a_missing_file(void **state)
{
	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_load(&cfg, "/nonexistent/shmqd.conf", err, sizeof(err)),
			 -SHMQ_ESYS);
	assert_non_null(strstr(err, "/nonexistent/shmqd.conf"));
	assert_non_null(strstr(err, "No such file"));
}

static void test_config_load_prefixes_the_path(void **state)
{
	char path[] = "/tmp/shmq-config-test.XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[channel a]\nfoo = 1\n", 20), 20);
	close(fd);
	config_defaults(&cfg);
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -SHMQ_EINVAL);
	unlink(path);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ":2: unknown key \"foo\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_defaults_without_text),
	    cmocka_unit_test(test_config_per_uid_limits_and_create_list),
	    cmocka_unit_test(test_config_hello_timeout_from_100_ms_to_a_minute),
	    cmocka_unit_test(test_config_handle_limit_for_the_daemon_and_a_channel),
	    cmocka_unit_test(test_config_inline_comments_end_the_value),
	    cmocka_unit_test(test_config_channel_defaults_and_every_key),
	    cmocka_unit_test(test_config_sizes_take_k_m_g_t_and_b),
	    cmocka_unit_test(test_config_error_names_file_line_reason_and_whole_line),
	    cmocka_unit_test(test_config_duplicate_channel_section_is_named),
	    cmocka_unit_test(test_config_duplicate_daemon_section_is_named),
	    cmocka_unit_test(test_config_duplicate_key_is_named),
	    cmocka_unit_test(test_config_same_key_in_two_channels_is_fine),
	    cmocka_unit_test(test_config_key_outside_a_section),
	    cmocka_unit_test(test_config_unknown_section_and_bad_headers),
	    cmocka_unit_test(test_config_line_without_equals_or_value),
	    cmocka_unit_test(test_config_daemon_keys_and_their_limits),
	    cmocka_unit_test(test_config_word_values),
	    cmocka_unit_test(test_config_uid_lists_have_a_bound),
	    cmocka_unit_test(test_config_channel_count_has_a_bound),
	    cmocka_unit_test(test_config_crlf_lines_and_no_final_newline),
	    cmocka_unit_test(test_config_load_names_a_missing_file),
	    cmocka_unit_test(test_config_load_prefixes_the_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
