/*
 * test_cli.c - the shmq command against a real shmqd: create, ls, info,
 * rm, pub (arguments and stdin), sub (--count, --from, --timeout, --wait
 * modes as shmq-stat shows them), the socket from --socket or
 * $SHMQ_SOCKET, and what it says when something is wrong: losses, a
 * daemon that goes away and comes back, permission denied (as nobody),
 * channels ls does not show. Also what shmqd and shmq-stat say to a
 * newcomer: a second daemon on a live socket, --log-format, shmq-stat's
 * values. Exit status: 0 success, 1 failed operation, 2 usage error,
 * 3 timeout. test_cli_formats.c covers output formats, inputs and limits.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "raw.h"

/* Run shmq --socket SOCK args...; the result must be freed. */
#define SHMQ(r, d, input, ...) tool_run((r), (input), TOOL_ARGS("--socket", (d)->sock, __VA_ARGS__))

static void expect(struct tool_result *r, int status, const char *out)
{
	if (r->status != status || (out && strcmp(r->out, out)))
		print_error("status %d, stdout:\n%s\nstderr:\n%s\n", r->status, r->out, r->err);
	assert_int_equal(r->status, status);
	if (out)
		assert_string_equal(r->out, out);
}

static char *numbers(unsigned from, unsigned to)
{
	size_t cap = (size_t)(to - from + 1) * 12 + 1, n = 0;
	char *s = malloc(cap);

	assert_non_null(s);
	s[0] = 0;
	for (unsigned i = from; i <= to; i++)
		n += (size_t)snprintf(s + n, cap - n, "%u\n", i);
	return s;
}

static void test_create_ls_info_rm_manage_channels(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;

	SHMQ(&r, d, NULL, "create", "orders.eu", "--capacity", "64K", "--max-message", "512",
	     "--policy", "block");
	expect(&r, 0, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "create", "metrics", "--policy", "drop");
	expect(&r, 0, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "ls");
	expect(&r, 0, NULL);
	assert_non_null(strstr(r.out, "orders.eu"));
	assert_non_null(strstr(r.out, "metrics"));
	assert_non_null(strstr(r.out, "block"));
	assert_non_null(strstr(r.out, "max_message=512"));
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "info", "orders.eu");
	expect(&r, 0, NULL);
	assert_non_null(strstr(r.out, "block"));
	assert_non_null(strstr(r.out, "ring=65536 "));
	assert_non_null(strstr(r.out, "publishers=many "));
	assert_non_null(strstr(r.out, "numa=none "));
	assert_non_null(strstr(r.out, "timestamps=on "));
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "rm", "orders.eu");
	expect(&r, 0, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "ls");
	expect(&r, 0, NULL);
	assert_null(strstr(r.out, "orders.eu"));
	assert_non_null(strstr(r.out, "metrics"));
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "rm", "orders.eu");
	expect(&r, 1, "");
	assert_non_null(strstr(r.err, "SHMQ_ENOENT"));
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "create", "metrics");
	expect(&r, 1, "");
	assert_non_null(strstr(r.err, "SHMQ_EEXIST"));
	tool_result_free(&r);
}

static void test_sub_prints_in_order_what_pub_reads_from_stdin(void **state)
{
	struct daemon *d = *state;
	char *input = numbers(1, 1000);
	struct tool_result r, sr;
	struct tool_proc sub;

	SHMQ(&r, d, NULL, "create", "t");
	expect(&r, 0, "");
	tool_result_free(&r);
	assert_int_equal(
	    tool_spawn(&sub, TOOL_ARGS("--socket", d->sock, "sub", "t", "--count", "1000")), 0);
	SHMQ(&r, d, input, "pub", "t");
	expect(&r, 0, "");
	tool_result_free(&r);
	tool_finish(&sub, NULL, &sr);
	expect(&sr, 0, input);
	tool_result_free(&sr);
	free(input);
}

static void test_pub_publishes_each_argument_as_a_message(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;

	SHMQ(&r, d, NULL, "pub", "args", "--create", "a", "b c", "");
	expect(&r, 0, "");
	tool_result_free(&r);
	/* after "--", messages may look like options */
	SHMQ(&r, d, NULL, "pub", "args", "--", "-- not an option", "-x");
	expect(&r, 0, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "args", "--count", "5");
	expect(&r, 0, "a\nb c\n\n-- not an option\n-x\n");
	tool_result_free(&r);
}

static void test_create_channel_options_show_in_info(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;

	SHMQ(&r, d, NULL, "create", "ticks", "--publishers", "one", "--numa", "none",
	     "--no-timestamps");
	expect(&r, 0, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "info", "ticks");
	expect(&r, 0, NULL);
	assert_non_null(strstr(r.out, "publishers=one "));
	assert_non_null(strstr(r.out, "open=0 "));
	assert_non_null(strstr(r.out, "numa=none "));
	assert_non_null(strstr(r.out, "timestamps=off "));
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "create", "p", "--publishers", "few");
	expect(&r, 2, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "create", "p", "--numa", "far");
	expect(&r, 2, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "create", "p", "--numa", "-2");
	expect(&r, 2, "");
	tool_result_free(&r);
}

static void test_shmq_socket_environment_variable_is_honoured(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;

	setenv("SHMQ_SOCKET", d->sock, 1);
	tool_run(&r, NULL, TOOL_ARGS("create", "via.env"));
	expect(&r, 0, "");
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("ls"));
	expect(&r, 0, NULL);
	assert_non_null(strstr(r.out, "via.env"));
	tool_result_free(&r);
	/* --socket wins over the environment */
	setenv("SHMQ_SOCKET", "/nonexistent/shmq.sock", 1);
	SHMQ(&r, d, NULL, "info", "via.env");
	expect(&r, 0, NULL);
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("ls"));
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "/nonexistent/shmq.sock"));
	tool_result_free(&r);
	unsetenv("SHMQ_SOCKET");
}

/* Publish the lines from..to to chan, creating it if missing. */
static void publish_numbers(struct daemon *d, const char *chan, unsigned from, unsigned to)
{
	char *input = numbers(from, to);
	struct tool_result r;

	SHMQ(&r, d, input, "pub", chan, "--create");
	expect(&r, 0, "");
	tool_result_free(&r);
	free(input);
}

static void test_sub_from_earliest_offset_and_latest(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;
	struct tool_proc sub;
	int64_t deadline;
	siginfo_t info;

	publish_numbers(d, "from", 1, 5);
	SHMQ(&r, d, NULL, "sub", "from", "--from", "earliest", "--count", "2");
	expect(&r, 0, "1\n2\n");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "from", "--from", "2", "--count", "3");
	expect(&r, 0, "3\n4\n5\n");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "from", "--from", "latest", "--timeout", "0.2");
	expect(&r, 3, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "from", "--from", "99", "--count", "1");
	expect(&r, 1, "");
	assert_non_null(strstr(r.err, "SHMQ_EINVAL"));
	/* it names the tail: offsets 0..4 are taken, the next is 5 */
	assert_non_null(strstr(r.err, "beyond the tail: the next message gets offset 5"));
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "from", "--from", "5", "--timeout", "0.1");
	expect(&r, 3, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "from", "--from", "6", "--timeout", "0.1");
	expect(&r, 1, "");
	assert_non_null(strstr(r.err, "--from 6 is beyond the tail"));
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "from", "--from", "yesterday");
	expect(&r, 2, "");
	tool_result_free(&r);
	/* a latest subscriber gets what is published after it starts */
	assert_int_equal(tool_spawn(&sub, TOOL_ARGS("--socket", d->sock, "sub", "from", "--from",
						    "latest", "--count", "1")),
			 0);
	deadline = fx_now_ns() + FX_HANG_NS;
	/* publish until it has seen one: it may attach after any of them */
	do {
		publish_numbers(d, "from", 42, 42);
		fx_nap_ms(10);
		memset(&info, 0, sizeof(info));
		assert_int_equal(waitid(P_PID, (id_t)sub.pid, &info, WEXITED | WNOHANG | WNOWAIT),
				 0);
	} while (info.si_pid == 0 && fx_now_ns() < deadline);
	tool_finish(&sub, NULL, &r);
	expect(&r, 0, "42\n");
	tool_result_free(&r);
}

static void test_sub_timeout_ends_a_quiet_subscription(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;

	publish_numbers(d, "quiet", 1, 2);
	/* the timeout ends it before --count: exit 3, with what arrived printed */
	SHMQ(&r, d, NULL, "sub", "quiet", "--timeout", "0.3");
	expect(&r, 3, "1\n2\n");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "quiet", "--timeout", "0.3", "--count", "3");
	expect(&r, 3, "1\n2\n");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "quiet", "--timeout", "30", "--count", "2");
	expect(&r, 0, "1\n2\n");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "quiet", "--timeout", "0");
	expect(&r, 3, "1\n2\n");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "quiet", "--timeout", "-1");
	expect(&r, 2, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "quiet", "--timeout", "soon");
	expect(&r, 2, "");
	tool_result_free(&r);
}

/*
 * A subscriber waiting forever learns that its channel was deleted (after
 * printing what was published before) and that the daemon went away: it
 * says so on stderr and exits 1, within a bound, instead of waiting on.
 */
static void test_sub_exits_when_its_channel_is_deleted_or_the_daemon_stops(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;
	struct tool_proc p;
	int64_t t0;

	publish_numbers(d, "doomed", 1, 3);
	assert_int_equal(tool_spawn(&p, TOOL_ARGS("--socket", d->sock, "sub", "doomed")), 0);
	fx_nap_ms(200); /* asleep, all three printed */
	SHMQ(&r, d, NULL, "rm", "doomed");
	expect(&r, 0, NULL);
	tool_result_free(&r);
	t0 = fx_now_ns();
	assert_int_equal(tool_finish(&p, NULL, &r), 0);
	assert_true(fx_now_ns() - t0 < 2000000000);
	expect(&r, 1, "1\n2\n3\n");
	assert_non_null(strstr(r.err, "SHMQ_EDELETED"));
	tool_result_free(&r);

	publish_numbers(d, "orphan", 1, 1);
	assert_int_equal(tool_spawn(&p, TOOL_ARGS("--socket", d->sock, "sub", "orphan")), 0);
	fx_nap_ms(200);
	assert_int_equal(daemon_stop(d), 0);
	t0 = fx_now_ns();
	assert_int_equal(tool_finish(&p, NULL, &r), 0);
	assert_true(fx_now_ns() - t0 < 2000000000);
	expect(&r, 1, "1\n");
	assert_non_null(strstr(r.err, "SHMQ_ECLOSED"));
	tool_result_free(&r);
	assert_int_equal(daemon_restart(d), 0); /* for the teardown */
}

static void test_pub_without_a_daemon_says_it_is_not_reachable_and_where(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;
	char path[200];

	snprintf(path, sizeof(path), "%s/not-here.sock", d->dir);
	tool_run(&r, NULL, TOOL_ARGS("--socket", path, "pub", "t", "hello"));
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_non_null(strstr(r.err, "not reachable"));
	assert_non_null(strstr(r.err, path));
	tool_result_free(&r);
	setenv("SHMQ_SOCKET", path, 1);
	tool_run(&r, "x\n", TOOL_ARGS("pub", "t"));
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "not reachable"));
	assert_non_null(strstr(r.err, path));
	tool_result_free(&r);
	unsetenv("SHMQ_SOCKET");
}

static void test_bad_input_gets_a_clear_message_and_status(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;

	SHMQ(&r, d, NULL, "create", "tiny", "--max-message", "4");
	expect(&r, 0, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "pub", "tiny", "fits", "too long");
	expect(&r, 1, "");
	assert_non_null(strstr(r.err, "SHMQ_ETOOBIG"));
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "create", "a..b");
	expect(&r, 1, "");
	assert_non_null(strstr(r.err, "SHMQ_ENAME"));
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "info", "nothing.here");
	expect(&r, 1, "");
	assert_non_null(strstr(r.err, "SHMQ_ENOENT"));
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "frobnicate");
	expect(&r, 2, "");
	assert_non_null(strstr(r.err, "unknown command"));
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "create", "p", "--policy", "sometimes");
	expect(&r, 2, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "create", "p", "--max-message", "0");
	expect(&r, 2, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "pub");
	expect(&r, 2, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "rm", "a", "b");
	expect(&r, 2, "");
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("--help"));
	expect(&r, 0, NULL);
	assert_non_null(strstr(r.out, "usage"));
	tool_result_free(&r);
}

/*
 * A drop channel lapped while shmq sub prints: every line it prints is a
 * message published at that offset, once: no torn view of a later lap
 * (which shows as a value twice, or a value out of its publisher's order).
 */
static void test_sub_on_a_lapped_drop_channel_prints_no_torn_message(void **state)
{
	struct daemon *d = *state;
	char *low = numbers(1, 20000), *high = numbers(20001, 40000);
	struct tool_result r, sr, p1, p2;
	struct tool_proc sub, pub1, pub2;
	unsigned last_low = 0, last_high = 20000, lines = 0;
	char *line, *save = NULL;

	SHMQ(&r, d, NULL, "create", "torn", "--capacity", "64K", "--max-message", "64");
	expect(&r, 0, "");
	tool_result_free(&r);
	assert_int_equal(
	    tool_spawn(&sub, TOOL_ARGS("--socket", d->sock, "sub", "torn", "--timeout", "2")), 0);
	usleep(200000); /* its cursor exists before the first message */
	assert_int_equal(tool_spawn(&pub1, TOOL_ARGS("--socket", d->sock, "pub", "torn")), 0);
	assert_int_equal(tool_spawn(&pub2, TOOL_ARGS("--socket", d->sock, "pub", "torn")), 0);
	tool_finish(&pub1, low, &p1);
	tool_finish(&pub2, high, &p2);
	expect(&p1, 0, "");
	expect(&p2, 0, "");
	tool_finish(&sub, NULL, &sr);
	for (line = strtok_r(sr.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned v = (unsigned)strtoul(line, NULL, 10);
		unsigned *last = v <= 20000 ? &last_low : &last_high;

		if (v == 0 || v > 40000 || v <= *last)
			fail_msg("line %u: \"%s\" after %u: not a message published in order",
				 lines, line, *last);
		*last = v;
		lines++;
	}
	assert_true(lines > 0);
	tool_result_free(&p1);
	tool_result_free(&p2);
	tool_result_free(&sr);
	free(low);
	free(high);
}

/*
 * shmqd SIGKILLed and restarted under a flow of 200 messages a second:
 * shmq sub says on stderr that it went away and that it is back, while
 * every message still arrives, once and in order.
 */
static void test_sub_says_shmqd_went_away_and_is_back_while_messages_flow(void **state)
{
	struct daemon *d = *state;
	struct tool_result r, pr;
	struct tool_proc sub, pub;
	char *want = malloc(2000 * 2 + 1);

	assert_non_null(want);
	for (int i = 0; i < 2000; i++)
		memcpy(want + 2 * i, "m\n", 3);
	SHMQ(&r, d, NULL, "create", "flow");
	expect(&r, 0, "");
	tool_result_free(&r);
	assert_int_equal(tool_spawn(&sub, TOOL_ARGS("--socket", d->sock, "sub", "flow", "--count",
						    "2000", "--timeout", "60")),
			 0);
	/* 2000 messages at 200 a second: 10 s, the daemon away from 1 s to 2 s;
	 * 8 s left for the library to find it back, on a loaded machine too */
	assert_int_equal(tool_spawn(&pub, TOOL_ARGS("--socket", d->sock, "pub", "flow", "--rate",
						    "200", "--count", "2000", "m")),
			 0);
	fx_nap_ms(1000);
	daemon_kill(d);
	fx_nap_ms(1000);
	assert_int_equal(daemon_restart(d), 0);
	tool_finish(&pub, NULL, &pr);
	expect(&pr, 0, "");
	tool_finish(&sub, NULL, &r);
	expect(&r, 0, want);
	if (!strstr(r.err, "shmq: sub flow: shmqd went away") ||
	    !strstr(r.err, "shmq: sub flow: shmqd is back"))
		fail_msg("stderr says \"%s\", not both notices", r.err);
	assert_true(strstr(r.err, "went away") < strstr(r.err, "is back"));
	tool_result_free(&r);
	tool_result_free(&pr);
	free(want);
}

/*
 * A subscriber stopped while publishers lap it learns its loss when it
 * goes on; the line on stderr names the channel.
 */
static void test_sub_loss_line_names_the_channel(void **state)
{
	struct daemon *d = *state;
	char *lots = numbers(1, 2000);
	struct tool_result r;
	struct tool_proc sub;

	SHMQ(&r, d, NULL, "create", "lossy", "--capacity", "4K", "--max-message", "16");
	expect(&r, 0, "");
	tool_result_free(&r);
	assert_int_equal(tool_spawn(&sub, TOOL_ARGS("--socket", d->sock, "sub", "lossy")), 0);
	publish_numbers(d, "lossy", 0, 0);
	assert_int_equal(pipe_expect(sub.out_fd, "0"), 0); /* attached, and flushed */
	kill(sub.pid, SIGSTOP);
	SHMQ(&r, d, lots, "pub", "lossy");
	expect(&r, 0, "");
	tool_result_free(&r);
	kill(sub.pid, SIGCONT);
	fx_nap_ms(300);
	kill(sub.pid, SIGINT);
	tool_finish(&sub, NULL, &r);
	assert_int_equal(r.status, 0);
	if (!strstr(r.err, "shmq: sub lossy: lost ") ||
	    !strstr(r.err, " message(s) before offset "))
		fail_msg("stderr says \"%s\", not the loss with the channel's name", r.err);
	tool_result_free(&r);
	free(lots);
}

/*
 * Does a line of `shmq-stat --once` hold both tokens? 1 yes, 0 no, -1 without
 * $SHMQ_STAT (meson sets it).
 */
static int stat_line_has(const struct daemon *d, const char *a, const char *b)
{
	const char *tool = getenv("SHMQ_STAT");
	char cmd[512], line[512];
	int found = 0;
	FILE *p;

	if (!tool)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s --socket %s --once", tool, d->sock);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		char *save = NULL, *tok;
		int seen = 0;

		for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
			seen |= (!strcmp(tok, a) ? 1 : 0) | (!strcmp(tok, b) ? 2 : 0);
		found |= seen == 3;
	}
	pclose(p);
	return found;
}

/*
 * sub --wait MODE opens its reader in that wait mode: shmq-stat shows the
 * mode on the reader's line, and each mode receives.
 */
static void test_sub_wait_mode_shows_in_shmq_stat(void **state)
{
	static const char *const modes[][2] = {{"spin", "spin"},
					       {"spin-sleep", "spin_sleep"},
					       {"sleep", "sleep"},
					       {"event", "eventfd"}};
	struct daemon *d = *state;
	struct tool_result r;
	struct tool_proc sub;
	char pid[16];
	int64_t deadline;
	int has;

	SHMQ(&r, d, NULL, "create", "modes");
	expect(&r, 0, "");
	tool_result_free(&r);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		assert_int_equal(
		    tool_spawn(&sub, TOOL_ARGS("--socket", d->sock, "sub", "modes", "--from",
					       "latest", "--wait", modes[i][0], "--count", "1")),
		    0);
		snprintf(pid, sizeof(pid), "%d", (int)sub.pid);
		deadline = fx_now_ns() + FX_HANG_NS;
		do
			has = stat_line_has(d, pid, modes[i][1]);
		while (has == 0 && fx_now_ns() < deadline && (fx_nap_ms(50), 1));
		if (has < 0)
			print_message("SHMQ_STAT is not set: the mode is not looked at\n");
		else if (!has)
			fail_msg("no shmq-stat line with pid %s and wait %s", pid, modes[i][1]);
		publish_numbers(d, "modes", 7, 7);
		tool_finish(&sub, NULL, &r);
		expect(&r, 0, "7\n");
		tool_result_free(&r);
	}
}

/* A program run with its stderr kept (stdout to /dev/null): shmq as nobody, shmqd, shmq-stat. */
struct run_job {
	const char *const *argv; /* for shmq: its arguments; for shmqd: all of argv */
	bool nobody;		 /* shmq as nobody, else argv as it is */
	int err_fd;
};

static int exec_job(void *arg)
{
	struct run_job *a = arg;
	const char *args[TOOL_ARGV_MAX];
	int null = open("/dev/null", O_WRONLY);

	if (a->nobody)
		tool_argv(args, a->argv);
	if ((a->nobody && fx_become_nobody()) || dup2(a->err_fd, 2) < 0 || null < 0 ||
	    dup2(null, 1) < 0)
		return 125;
	if (a->nobody)
		execv(args[0], (char *const *)args);
	else
		execv(a->argv[0], (char *const *)a->argv);
	return 126;
}

/* Run the job with its stderr into err: its exit status. */
static int run_job(struct run_job *a, char *err, size_t len)
{
	int fds[2], status;
	size_t n = 0;
	ssize_t got;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	a->err_fd = fds[1];
	pid = child_start(exec_job, a);
	close(fds[1]);
	while (n + 1 < len && (got = read(fds[0], err + n, len - 1 - n)) > 0)
		n += (size_t)got;
	err[n] = 0;
	close(fds[0]);
	status = child_wait(pid, FX_HANG_S);
	return status;
}

static int run_as_nobody(const char *const argv[], char *err, size_t len)
{
	struct run_job a = {.argv = argv, .nobody = true};

	return run_job(&a, err, len);
}

/*
 * LIST's answer grew at protocol minor 5 (hidden, then padding): a
 * client of minor 4 gets the longer body, and the fields it knows stand
 * where they stood.
 */
static void test_list_answer_of_minor_5_reads_as_minor_4(void **state)
{
	struct daemon *d = *state;
	struct proto_hello hello = {.major = PROTO_VERSION, .minor = PROTO_MINOR_HIDDEN - 1};
	struct proto_list_req req = {0};
	struct proto_list out;
	struct proto_hdr h;
	struct tool_result r;
	struct raw raw;

	assert_int_equal(offsetof(struct proto_list, hidden),
			 8 + PROTO_LIST_ROWS * sizeof(struct proto_info));
	SHMQ(&r, d, NULL, "create", "seen");
	expect(&r, 0, "");
	tool_result_free(&r);
	assert_int_equal(raw_connect(&raw, d->sock), 0);
	assert_int_equal(raw_call(&raw, OP_HELLO, &hello, sizeof(hello), NULL, 0), 0);
	assert_int_equal(raw_request(&raw, OP_LIST, &req, sizeof(req)), 0);
	memset(&out, 0xff, sizeof(out));
	assert_int_equal(raw_reply(&raw, &h, &out, sizeof(out), NULL, NULL), 0);
	assert_int_equal(h.body_bytes, sizeof(struct proto_list));
	assert_int_equal(out.total, 1);
	assert_int_equal(out.count, 1);
	assert_string_equal(out.rows[0].name, "seen");
	assert_int_equal(out.hidden, 0); /* root sees everything */
	raw_close(&raw);
}

/*
 * A second shmqd on a socket that one serves is refused, and says whose
 * the socket is (the running daemon's pid) and how to take over.
 */
static void test_second_daemon_names_the_running_one_and_replace(void **state)
{
	struct daemon *d = *state;
	const char *shmqd = getenv("SHMQD");
	struct run_job a = {.argv = TOOL_ARGS(shmqd, "--socket", d->sock)};
	char err[4096], pid[32];

	assert_non_null(shmqd);
	assert_int_equal(run_job(&a, err, sizeof(err)), 1);
	snprintf(pid, sizeof(pid), "pid=%d comm=shmqd", (int)d->pid);
	if (!strstr(err, pid) || !strstr(err, "--replace"))
		fail_msg("shmqd said \"%s\", not \"%s\" and --replace", err, pid);
	assert_true(daemon_running(d)); /* and the first one serves on */
	fx_assert_daemon_serves(d);
}

/*
 * A uid refused (SHMQ_EPERM) is told which setting of shmqd's
 * configuration would grant what it asked: create =, publish =,
 * subscribe =; and that none grants deleting. ls says how many channels
 * it does not show.
 */
static void test_permission_denied_names_the_setting_that_grants_it(void **state)
{
	struct daemon *d = *state; /* with CONF_PRIVATE */
	const char *sock = d->sock;
	char err[2048];

	if (geteuid() != 0)
		skip();
	assert_int_equal(
	    run_as_nobody(TOOL_ARGS("--socket", sock, "sub", "private", "-e"), err, sizeof(err)),
	    1);
	assert_non_null(strstr(err, "SHMQ_EPERM"));
	assert_non_null(strstr(err, "\"subscribe =\" list"));
	assert_int_equal(
	    run_as_nobody(TOOL_ARGS("--socket", sock, "pub", "private", "x"), err, sizeof(err)), 1);
	assert_non_null(strstr(err, "\"publish =\" list"));
	assert_int_equal(
	    run_as_nobody(TOOL_ARGS("--socket", sock, "create", "mine"), err, sizeof(err)), 1);
	assert_non_null(strstr(err, "SHMQ_EPERM"));
	assert_non_null(strstr(err, "\"create =\" list of the [daemon] section"));
	assert_int_equal(
	    run_as_nobody(TOOL_ARGS("--socket", sock, "rm", "private"), err, sizeof(err)), 1);
	assert_non_null(strstr(err, "no setting grants it"));
	/* ls shows nobody nothing, and says so on stderr */
	assert_int_equal(run_as_nobody(TOOL_ARGS("--socket", sock, "ls"), err, sizeof(err)), 0);
	if (!strstr(err, "shmq: ls: 1 more channel is hidden: uid 65534 may neither publish to "
			 "nor subscribe to it"))
		fail_msg("ls as nobody said \"%s\"", err);
	assert_int_equal(
	    run_as_nobody(TOOL_ARGS("--socket", sock, "info", "private"), err, sizeof(err)), 1);
	assert_non_null(strstr(err, "SHMQ_EPERM"));
	assert_non_null(strstr(err, "to see a channel, a uid must own it or be in the"));
}

/*
 * shmq-stat takes the same first guesses: durations with a unit, word
 * values in any case, and errors that list the valid values.
 */
static void test_shmq_stat_takes_durations_and_lists_valid_values(void **state)
{
	struct daemon *d = *state;
	const char *stat = getenv("SHMQ_STAT");
	static const char *const bad[][3] = {
	    {"--sort", "size", "(valid: name, rate, bytes, depth, drops or lag)"},
	    {"--color", "often", "(valid: always, never or auto)"},
	    {"--interval", "1x", "(valid: seconds, or with a unit: 500ms"},
	    {"--interval", "10ms", "50ms to 24h"},
	    {"--count", "0", "(valid: a whole number, 1 or more)"},
	};
	char err[4096];

	if (!stat)
		skip();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run_job a = {
		    .argv = TOOL_ARGS(stat, "--socket", d->sock, bad[i][0], bad[i][1], "--once")};

		assert_int_equal(run_job(&a, err, sizeof(err)), 2);
		if (!strstr(err, "not a valid value") || !strstr(err, bad[i][2]))
			fail_msg("shmq-stat %s %s said \"%s\"", bad[i][0], bad[i][1], err);
	}
	{
		struct run_job a = {.argv =
					TOOL_ARGS(stat, "--socket", d->sock, "--interval", "500ms",
						  "--sort", "Rate", "--color", "NEVER", "--once")};

		assert_int_equal(run_job(&a, err, sizeof(err)), 0);
	}
}

/* shmqd on its own socket with its stderr into a file, as a service manager may run it. */
struct logging_daemon {
	char sock[128];
	char log[128];
	const char *format; /* --log-format, NULL: none */
	bool journal;	    /* JOURNAL_STREAM names its stderr, as systemd sets it */
	int ready_fd;	    /* the write end of the --ready-fd pipe */
};

static int exec_logging_daemon(void *arg)
{
	struct logging_daemon *l = arg;
	const char *argv[10] = {getenv("SHMQD"), "--socket", l->sock, "--ready-fd"};
	char ready[16], stream[64];
	int fd = open(l->log, O_WRONLY | O_CREAT | O_TRUNC, 0600), n = 4;
	struct stat st;

	if (fd < 0 || dup2(fd, 2) < 0 || fstat(2, &st))
		return 125;
	snprintf(ready, sizeof(ready), "%d", l->ready_fd);
	argv[n++] = ready;
	if (l->format) {
		argv[n++] = "--log-format";
		argv[n++] = l->format;
	}
	snprintf(stream, sizeof(stream), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	if (l->journal)
		setenv("JOURNAL_STREAM", stream, 1);
	else
		unsetenv("JOURNAL_STREAM");
	execv(argv[0], (char *const *)argv);
	return 126;
}

/*
 * Run shmqd as l says until it serves, create a channel (one log line),
 * stop it with SIGTERM; its log, which the caller frees.
 */
static char *logging_daemon_run(struct logging_daemon *l)
{
	int fds[2], status;
	char buf[256], *text;
	struct tool_result r;
	size_t len;
	pid_t pid;
	FILE *f;

	assert_int_equal(pipe(fds), 0);
	l->ready_fd = fds[1];
	pid = child_start(exec_logging_daemon, l);
	close(fds[1]);
	while (read(fds[0], buf, sizeof(buf)) > 0) /* ready, then closed; or gone */
		;
	close(fds[0]);
	tool_run(&r, NULL, TOOL_ARGS("--socket", l->sock, "create", "logged"));
	expect(&r, 0, "");
	tool_result_free(&r);
	kill(pid, SIGTERM);
	status = child_wait(pid, FX_HANG_S);
	assert_int_equal(status, 0);
	f = fopen(l->log, "r");
	assert_non_null(f);
	text = calloc(1, 65536);
	assert_non_null(text);
	len = fread(text, 1, 65535, f);
	fclose(f);
	text[len] = 0;
	return text;
}

/*
 * --log-format json writes one object a line with time, level, component
 * and message, and python3's json module parses each; under systemd
 * (JOURNAL_STREAM names stderr) each line starts with its syslog
 * priority; text stays the default elsewhere.
 */
static void test_daemon_log_formats_json_and_journal(void **state)
{
	struct daemon *d = *state;
	struct logging_daemon l = {.format = "json"};
	char cmd[600], *log;

	snprintf(l.sock, sizeof(l.sock), "%s/log.sock", d->dir);
	snprintf(l.log, sizeof(l.log), "%s/log.out", d->dir);
	log = logging_daemon_run(&l);
	assert_non_null(
	    strstr(log, "\"component\":\"registry\",\"message\":\"created channel=logged"));
	free(log);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import json, sys\n"
		 "lines = open(sys.argv[1]).read().splitlines()\n"
		 "assert len(lines) >= 3, lines\n"
		 "for l in lines:\n"
		 "    o = json.loads(l)\n"
		 "    assert sorted(o) == [\"component\", \"level\", \"message\", \"time\"], o\n"
		 "    assert o[\"level\"] in (\"debug\", \"info\", \"warn\", \"error\"), o' %s",
		 l.log);
	if (system("python3 -c 1 2>/dev/null") == 0)
		assert_int_equal(system(cmd), 0);
	else
		print_message("no python3: the JSON lines are not parsed\n");

	l = (struct logging_daemon){.journal = true};
	snprintf(l.sock, sizeof(l.sock), "%s/log.sock", d->dir);
	snprintf(l.log, sizeof(l.log), "%s/log.out", d->dir);
	log = logging_daemon_run(&l);
	assert_int_equal(strncmp(log, "<6>", 3), 0);
	assert_non_null(strstr(log, "\n<6>registry created channel=logged"));
	assert_null(strstr(log, "Z info ")); /* no time stamp: the journal adds its own */
	free(log);

	l = (struct logging_daemon){0};
	snprintf(l.sock, sizeof(l.sock), "%s/log.sock", d->dir);
	snprintf(l.log, sizeof(l.log), "%s/log.out", d->dir);
	log = logging_daemon_run(&l);
	assert_non_null(strstr(log, "Z info registry created channel=logged"));
	free(log);
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)
/* A daemon with the configuration conf, its socket open to other uids. */
#define T_CONF(f, conf)                                                                            \
	cmocka_unit_test_prestate_setup_teardown(f, fx_daemon_setup_conf, daemon_teardown,         \
						 (void *)(conf))
#define CONF_PRIVATE "[channel private]\npublish = 0\nsubscribe = 0\n"

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_create_ls_info_rm_manage_channels),
	    T(test_create_channel_options_show_in_info),
	    T(test_sub_prints_in_order_what_pub_reads_from_stdin),
	    T(test_pub_publishes_each_argument_as_a_message),
	    T(test_shmq_socket_environment_variable_is_honoured),
	    T(test_sub_from_earliest_offset_and_latest),
	    T(test_sub_timeout_ends_a_quiet_subscription),
	    T(test_sub_exits_when_its_channel_is_deleted_or_the_daemon_stops),
	    T(test_sub_on_a_lapped_drop_channel_prints_no_torn_message),
	    T(test_pub_without_a_daemon_says_it_is_not_reachable_and_where),
	    T(test_bad_input_gets_a_clear_message_and_status),
	    T(test_sub_says_shmqd_went_away_and_is_back_while_messages_flow),
	    T(test_sub_loss_line_names_the_channel),
	    T(test_sub_wait_mode_shows_in_shmq_stat),
	    T_CONF(test_permission_denied_names_the_setting_that_grants_it, CONF_PRIVATE),
	    T(test_second_daemon_names_the_running_one_and_replace),
	    T(test_list_answer_of_minor_5_reads_as_minor_4),
	    T(test_daemon_log_formats_json_and_journal),
	    T(test_shmq_stat_takes_durations_and_lists_valid_values),
	};

	unsetenv("SHMQ_SOCKET");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
