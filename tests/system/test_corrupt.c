/*
 * test_corrupt.c - a publisher of another uid (nobody, granted only the
 * right to publish) forges a record, against a real shmqd, and the
 * channel must not stop for good or silently: the subscriber stuck behind
 * the forgery gets -SHMQ_ECORRUPT, can skip to the next chunk (counting
 * exactly the messages it skipped as lost), the daemon's watchdog says so
 * in its log and shmq-stat shows it, and `shmq repair` (root or the
 * owner; not a mere publisher) cuts the reader forward, which lets the
 * block publishers waiting for it go on. A tail it moves back, or off the
 * record grid, is met with -SHMQ_ECORRUPT the same way, on its channel
 * only. Needs root for the second uid:
 * exits 77 otherwise. Test process: one thread; children report through
 * pipes and exit codes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "raw.h"
#include "shmq.h"

/* A block channel (root's, declared) on which nobody may only publish. */
#define CONF_NOBODY_PUBLISHES                                                                      \
	"[channel c.block]\ncapacity = 32K\nmax_message = 64\npolicy = block\npublish = 65534\n"   \
	"[channel c.drop]\ncapacity = 32K\nmax_message = 64\npolicy = drop\npublish = 65534\n"

#define CHAN "c.block"
#define FORGED_VALUE 0xbadbadbadull
#define HONEST_FIRST 1u	   /* the honest publisher's values are their offsets */
#define HONEST_BEFORE 100u /* published before the reader opens: past two chunk starts */
#define HONEST_TOTAL 3000u /* several rings of 8-byte messages (512 per ring) */
/*
 * A reader stuck at byte 96 lets block publishers reach message 512; one
 * cut to the next chunk (2 KiB, message 32) lets them reach 543.
 */
#define REPAIR_TOTAL 540u
#define CORRUPT_BOUND_S 20		/* the watchdog needs about 2 x stuck_ms (1 s); far more */
#define PUB_WAIT_NS (60 * 1000000000ll) /* a block publisher's wait for space, per message */

static struct daemon *dmn(void **state)
{
	return *state;
}

/* Child: as nobody, publish FORGED_VALUE at offset 0, then rewrite its commit word. */
static int run_forger(void *arg)
{
	const struct daemon *d = arg;
	struct shmq_client *c;
	struct shmq_pub *p;
	struct raw_chan rc;
	struct raw r;
	uint64_t v = FORGED_VALUE;
	uint8_t *ring;

	prctl(PR_SET_NAME, "forger-nobody", 0, 0, 0);
	if (fx_become_nobody())
		return 20;
	if (shmq_connect(d->sock, &c) || shmq_pub_open(c, CHAN, NULL, &p))
		return 21;
	if (shmq_publish(p, &v, sizeof(v), 0, NULL))
		return 22;
	/* a second, hand-made publisher handle: its data mapping is writable */
	if (raw_connect(&r, d->sock) || raw_hello(&r) || raw_open(&r, CHAN, ROLE_PUB, &rc))
		return 23;
	ring = (uint8_t *)rc.data + DATA_HDR_BYTES;
	/*
	 * Our own record (64 bytes at 0) becomes a PAD of 96: a reader that
	 * trusts it lands at 96, inside the next record, where payload bytes
	 * never read as a commit word of this lap.
	 */
	atomic_store_explicit(
	    &((struct rec_hdr *)ring)->word,
	    rec_word_make(rc.data->rec_key, 0, rc.data->ring_shift, 96, 0, REC_T_PAD),
	    memory_order_release);
	raw_chan_unmap(&rc);
	raw_close(&r);
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}

/* The forgery at offset 0, then HONEST_BEFORE honest messages (offsets 1 ..). */
static void forge_and_publish(struct daemon *d, struct shmq_client *c)
{
	struct shmq_pub *p;

	assert_int_equal(child_wait(child_start(run_forger, d), FX_HANG_S), 0);
	assert_int_equal(shmq_pub_open(c, CHAN, NULL, &p), 0);
	for (uint64_t v = HONEST_FIRST; v < HONEST_FIRST + HONEST_BEFORE; v++)
		fx_publish_u64(p, v, PUB_WAIT_NS);
	shmq_pub_close(p);
}

/* The rest of the honest messages, from a child: it waits on a full ring. */
static pid_t start_honest_publisher(struct daemon *d, struct pub_job *j, uint64_t last)
{
	*j = (struct pub_job){.sock = d->sock,
			      .chan = CHAN,
			      .first = HONEST_FIRST + HONEST_BEFORE,
			      .last = last,
			      .go_fd = -1,
			      .timeout_ns = PUB_WAIT_NS};
	return child_start(fx_run_publisher, j);
}

/* Receive until err_want (or a message: -1000), within CORRUPT_BOUND_S. */
static int recv_until(struct shmq_sub *s, struct shmq_msg *m, int err_want)
{
	int64_t deadline = fx_now_ns() + CORRUPT_BOUND_S * 1000000000ll;
	int err;

	do {
		err = shmq_recv(s, m, 1000000000ll);
		if (err == 0)
			return -1000;
		if (err == err_want)
			return err;
		assert_int_equal(err, -SHMQ_ETIMEDOUT);
	} while (fx_now_ns() < deadline);
	return err;
}

/*
 * Does `shmq-stat --socket SOCK` with opt print text? $SHMQ_STAT, as
 * meson sets it; 1 yes, 0 no (its output on stderr), -1 not run.
 */
static int stat_says(const struct daemon *d, const char *opt, const char *text)
{
	const char *tool = getenv("SHMQ_STAT");
	char cmd[512], out[65536];
	size_t n;
	FILE *p;

	if (!tool)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s --socket %s %s", tool, d->sock, opt);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	if (pclose(p) != 0)
		return -1;
	if (strstr(out, text))
		return 1;
	fprintf(stderr, "%s: no \"%s\" in:\n%s\n", cmd, text, out);
	return 0;
}

/* Every honest message from first to last-1 arrives once, in order, no more lost. */
static void expect_rest(struct shmq_sub *s, uint64_t first, uint64_t last)
{
	struct shmq_msg m;

	for (uint64_t v = first; v < last; v++) {
		assert_int_equal(fx_recv_u64(s, &m), v);
		assert_int_equal(m.offset, v);
		assert_int_equal(m.lost, 0);
	}
}

/*
 * A block subscriber behind the forged PAD waited for ever (timeouts, no
 * error) and held the publishers back. Now it gets -SHMQ_ECORRUPT,
 * shmq_sub_skip() moves it to the next chunk with an exact loss count,
 * and the publisher that waited for it finishes.
 */
static void test_forged_record_gives_ecorrupt_and_skip_goes_on(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST, .wait = SHMQ_WAIT_SLEEP};
	const char *needles[] = {"bad record", "channel=" CHAN, NULL};
	struct shmq_sub *s;
	struct shmq_msg m;
	struct pub_job j;
	uint64_t lost = 0;
	pid_t pub;

	forge_and_publish(d, c);
	assert_int_equal(shmq_sub_open(c, CHAN, &so, &s), 0);
	pub = start_honest_publisher(d, &j, HONEST_TOTAL);
	assert_int_equal(recv_until(s, &m, -SHMQ_ECORRUPT), -SHMQ_ECORRUPT);
	assert_int_equal(fx_wait_log_line(d, needles, NULL, 0), 0);
	assert_int_equal(stat_says(d, "--json", "\"bad_readers\":1,"), 1);
	assert_int_equal(stat_says(d, "--once", "BAD " CHAN ": 1 reader stuck"), 1);
	/* it stays so until the reader is told what to do */
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_ECORRUPT);
	assert_int_equal(shmq_sub_skip(s, &lost), 0);
	/* the next chunk starts at 2 KiB: 32 records of 64 bytes */
	assert_true(lost >= 2 && lost <= HONEST_BEFORE);
	assert_int_equal(fx_recv_u64(s, &m), lost);
	assert_int_equal(m.offset, lost);
	assert_int_equal(m.lost, lost); /* the forged message 0 and honest 1 .. lost-1 */
	expect_rest(s, lost + 1, HONEST_TOTAL);
	assert_int_equal(child_wait(pub, FX_HANG_S), 0);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/* Child: as nobody (a publisher here), ask for a repair: 0 if refused with -SHMQ_EPERM. */
static int run_nobody_repair(void *arg)
{
	const struct daemon *d = arg;
	struct shmq_client *c;
	uint32_t cut = 0;
	int err;

	if (fx_become_nobody() || shmq_connect(d->sock, &c))
		return 20;
	err = shmq_channel_repair(c, CHAN, &cut);
	shmq_disconnect(c);
	if (err != -SHMQ_EPERM) {
		fprintf(stderr, "nobody's repair: %s\n", shmq_errname(err));
		return 21;
	}
	return 0;
}

/*
 * The same reader, left alone by its application (it only retries), is
 * cut forward by `shmq repair`: the block publisher waiting for it
 * finishes while the reader still reads nothing, and the reader's next
 * message counts what the cut skipped. A publisher of another uid may not
 * repair.
 */
static void test_repair_cuts_a_stuck_reader_forward(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct shmq_sub *s;
	struct shmq_msg m;
	struct tool_result tr;
	struct pub_job j;
	pid_t pub;
	uint64_t v;

	forge_and_publish(d, c);
	assert_int_equal(shmq_sub_open(c, CHAN, &so, &s), 0);
	pub = start_honest_publisher(d, &j, REPAIR_TOTAL);
	assert_int_equal(recv_until(s, &m, -SHMQ_ECORRUPT), -SHMQ_ECORRUPT);
	assert_int_equal(child_wait(child_start(run_nobody_repair, d), FX_HANG_S), 0);

	assert_int_equal(tool_run(&tr, NULL, TOOL_ARGS("--socket", d->sock, "repair", CHAN)), 0);
	if (tr.status)
		fprintf(stderr, "shmq repair: %s%s", tr.out, tr.err);
	assert_int_equal(tr.status, 0);
	assert_non_null(strstr(tr.out, "1 reader"));
	tool_result_free(&tr);
	assert_int_equal(stat_says(d, "--json", "\"bad_readers\":0,"), 1);

	/* the publisher that waited for the reader finishes without it */
	assert_int_equal(child_wait(pub, FX_HANG_S), 0);
	v = fx_recv_u64(s, &m);
	assert_true(v >= 2 && v < HONEST_FIRST + HONEST_BEFORE);
	assert_int_equal(m.offset, v);
	assert_int_equal(m.lost, v);
	expect_rest(s, v + 1, REPAIR_TOTAL);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/* Child: as nobody, turn the drop channel's tail and frontier back to 0. */
static int run_tail_scribbler(void *arg)
{
	const struct daemon *d = arg;
	struct raw_chan rc;
	struct raw r;

	if (fx_become_nobody())
		return 20;
	if (raw_connect(&r, d->sock) || raw_hello(&r) || raw_open(&r, "c.drop", ROLE_PUB, &rc))
		return 23;
	atomic_store(&rc.data->frontier, 0);
	atomic_store(&rc.data->tail_bytes, 0);
	raw_chan_unmap(&rc);
	raw_close(&r);
	return 0;
}

#define DROP_FIRST 1000u /* read before the scribble: the reader is past a ring */
#define DROP_LAST 1300u	 /* published after it: less than the reader's lead */

/*
 * A drop subscriber that read more than a ring waited silently for ever
 * once a publisher turned tail_bytes and frontier back to 0: honest
 * publishers go on from there and never reach a ring past it, so it is
 * never overrun. A cursor past the tail is nothing an honest peer makes:
 * it gets -SHMQ_ECORRUPT, skips to the tail, and reads on with exact loss.
 */
static void test_tail_moved_back_gives_ecorrupt_and_skip_goes_on(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct shmq_sub *s;
	struct shmq_pub *p;
	struct shmq_msg m;
	struct pub_job j = {.sock = d->sock,
			    .chan = "c.drop",
			    .first = DROP_FIRST,
			    .last = DROP_LAST,
			    .go_fd = -1,
			    .timeout_ns = PUB_WAIT_NS};
	uint64_t lost = 0, prev;
	pid_t pub;

	assert_int_equal(shmq_sub_open(c, "c.drop", &so, &s), 0);
	assert_int_equal(shmq_pub_open(c, "c.drop", NULL, &p), 0);
	for (uint64_t v = 0; v < DROP_FIRST; v++) {
		fx_publish_u64(p, v, PUB_WAIT_NS);
		assert_int_equal(fx_recv_u64(s, &m), v);
	}
	shmq_pub_close(p);
	assert_int_equal(child_wait(child_start(run_tail_scribbler, d), FX_HANG_S), 0);
	pub = child_start(fx_run_publisher, &j);
	assert_int_equal(child_wait(pub, FX_HANG_S), 0);
	assert_int_equal(recv_until(s, &m, -SHMQ_ECORRUPT), -SHMQ_ECORRUPT);
	assert_int_equal(shmq_sub_skip(s, &lost), 0);
	assert_int_equal(lost, DROP_LAST - DROP_FIRST); /* to the tail: all published since */
	/* and on from there */
	j.first = DROP_LAST;
	j.last = DROP_LAST + 100;
	pub = child_start(fx_run_publisher, &j);
	prev = DROP_FIRST - 1; /* each message's lost: every offset since the one before */
	while (prev + 1 < DROP_LAST + 100) {
		uint64_t v = fx_recv_u64(s, &m);

		assert_int_equal(m.offset, v);
		assert_int_equal(m.lost, v - prev - 1);
		prev = v;
	}
	assert_int_equal(child_wait(pub, FX_HANG_S), 0);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/* Child: as nobody, move the block channel's tail 8 bytes off the record grid. */
static int run_grid_scribbler(void *arg)
{
	const struct daemon *d = arg;
	struct raw_chan rc;
	struct raw r;

	if (fx_become_nobody())
		return 20;
	if (raw_connect(&r, d->sock) || raw_hello(&r) || raw_open(&r, CHAN, ROLE_PUB, &rc))
		return 23;
	atomic_fetch_add(&rc.data->tail_bytes, 8);
	raw_chan_unmap(&rc);
	raw_close(&r);
	return 0;
}

/*
 * A publisher of another uid (publish rights only) moves the tail off the
 * record grid, so that cursors taken from it stand where no record
 * starts. What it can harm is the channel it may publish on, and only
 * loudly: a reader opened at the tail gets -SHMQ_ECORRUPT before it loads
 * anything there, an honest publisher is refused with -SHMQ_ECORRUPT
 * rather than lay records across the ring's end, and a reader that read
 * everything before is told -SHMQ_ECORRUPT by the watchdog instead of
 * waiting for ever. Readers' cursors are their own (the reader's entry,
 * which no peer can write): nobody else's moves. Another channel and the
 * daemon go on as before.
 */
static void test_tail_off_the_record_grid_harms_only_its_channel_and_loudly(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_opts early = {.start = SHMQ_START_EARLIEST};
	struct shmq_sub *a, *b, *other;
	struct shmq_pub *p, *po;
	struct shmq_msg m;
	uint64_t v = 7;

	assert_int_equal(shmq_sub_open(c, CHAN, &early, &a), 0);
	assert_int_equal(shmq_sub_open(c, "c.drop", &early, &other), 0);
	assert_int_equal(shmq_pub_open(c, CHAN, NULL, &p), 0);
	assert_int_equal(shmq_pub_open(c, "c.drop", NULL, &po), 0);
	for (uint64_t i = 0; i < 10; i++) {
		fx_publish_u64(p, i, PUB_WAIT_NS);
		assert_int_equal(fx_recv_u64(a, &m), i);
	}
	assert_int_equal(child_wait(child_start(run_grid_scribbler, d), FX_HANG_S), 0);
	/* a reader from the tail: refused at its first look */
	assert_int_equal(shmq_sub_open(c, CHAN, NULL, &b), 0);
	assert_int_equal(shmq_recv(b, &m, 100000000), -SHMQ_ECORRUPT);
	/* an honest publisher: refused, nothing written */
	assert_int_equal(shmq_publish(p, &v, sizeof(v), 100000000, NULL), -SHMQ_ECORRUPT);
	/* the reader that was up to date: told, not left waiting */
	assert_int_equal(recv_until(a, &m, -SHMQ_ECORRUPT), -SHMQ_ECORRUPT);
	/* elsewhere nothing changed */
	fx_publish_u64(po, 42, PUB_WAIT_NS);
	assert_int_equal(fx_recv_u64(other, &m), 42);
	assert_int_equal(m.lost, 0);
	fx_assert_daemon_serves(d);
	shmq_pub_close(po);
	shmq_pub_close(p);
	shmq_sub_close(other);
	shmq_sub_close(b);
	shmq_sub_close(a);
	shmq_disconnect(c);
}

#define H(f, conf)                                                                                 \
	cmocka_unit_test_prestate_setup_teardown(f, fx_daemon_setup_conf, daemon_teardown,         \
						 (void *)(uintptr_t)(conf))

int main(void)
{
	const struct CMUnitTest tests[] = {
	    H(test_forged_record_gives_ecorrupt_and_skip_goes_on, CONF_NOBODY_PUBLISHES),
	    H(test_repair_cuts_a_stuck_reader_forward, CONF_NOBODY_PUBLISHES),
	    H(test_tail_moved_back_gives_ecorrupt_and_skip_goes_on, CONF_NOBODY_PUBLISHES),
	    H(test_tail_off_the_record_grid_harms_only_its_channel_and_loudly,
	      CONF_NOBODY_PUBLISHES),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "not root: cannot run a publisher as a second uid; skipping\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
