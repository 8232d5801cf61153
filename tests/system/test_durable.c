/*
 * test_durable.c - durable channels against a real shmqd and real files in
 * a temporary data_dir: confirmed messages are in the segment files in
 * order exactly once (read back with shm/journal.c, the parser recovery
 * uses); shmqd SIGKILLed at random moments under a confirming publisher
 * (the keeper alive) loses and doubles nothing; a clean stop and a start
 * recover the channel and its offsets go on; I/O faults injected through
 * the journal's test backend (SHMQD_JOURNAL_FAULT) give FAILED and
 * -SHMQ_EIO, or NOSPACE and then OK, other channels unaffected; bad input.
 * SHMQ_DURABLE_CYCLES sets the kill loop's cycles (default 200, bounded by
 * KILL_BUDGET_S; the test prints how many ran). Test process: one thread;
 * the publisher child reports through MAP_SHARED memory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "journal.h"

#define SEC 1000000000ll
#define MAX_MSGS 400000u
#define KILL_BUDGET_S 45

static char data_dir[128];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static char conf[512];

static void rm_rf(const char *path)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", path);
}

/* A fresh data_dir, and a configuration naming it (segments of 64 KiB: many rotations). */
static const char *setup_conf(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(data_dir, sizeof(data_dir), "%s/shmq-durable-XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(data_dir));
	snprintf(conf, sizeof(conf),
		 "[daemon]\ndata_dir = %s\n\n[channel d.cfg]\ndurability = batch\n"
		 "segment_bytes = 64K\ncapacity = 64K\nmax_message = 1K\n",
		 data_dir);
	return conf;
}

static struct shmq_pub *pub_open(struct shmq_client *c, const char *name, uint32_t sync,
				 uint32_t policy)
{
	struct shmq_pub_opts o = {.create = 1};
	struct shmq_pub *p = NULL;

	shmq_channel_opts_default(&o.channel);
	o.channel.capacity_bytes = 64 << 10;
	o.channel.max_message_bytes = 1024;
	o.channel.policy = policy;
	o.channel.flags = SHMQ_CHAN_DURABLE(sync);
	assert_int_equal(shmq_pub_open(c, name, &o, &p), 0);
	return p;
}

/* What the files of channel name hold, in file order. */
struct found {
	uint64_t *pos;
	uint64_t *val;
	uint64_t n, gaps, corrupt, torn;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Walk one segment file's records (validated by journal_scan() first). */
static void seg_read(const char *path, struct found *f)
{
	struct journal_scan r;
	uint8_t *b;
	struct stat st;
	uint64_t off = JSEG_HDR_BYTES;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size);
	assert_non_null(b);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	assert_int_equal(journal_scan(b, (uint64_t)st.st_size, 0, 0, &r), 0);
	f->corrupt += r.corrupt;
	f->torn += r.stop == JSTOP_TORN;
	while (off + REC_HDR_BYTES <= r.good_bytes) {
		struct rec_hdr h;
		uint64_t w;

		memcpy(&h, b + off, sizeof(h));
		memcpy(&w, b + off, sizeof(w));
		if ((w & 0xff) == JREC_MSG && f->n < MAX_MSGS) {
			f->pos[f->n] = h.pos;
			memcpy(&f->val[f->n], b + off + REC_HDR_BYTES, 8);
			f->n++;
		}
		if ((w & 0xff) == JREC_GAP) {
			printf("GAP in %s: first=%llu count=%llu\n", path,
			       (unsigned long long)h.pos, (unsigned long long)h.timestamp_ns);
			f->gaps++;
		}
		off += (w >> 32) * REC_ALIGN;
	}
	free(b);
}

static void files_read(const char *name, struct found *f)
{
	char path[512], seg[800];
	uint64_t bases[1024];
	unsigned nb = 0;
	struct dirent *e;
	DIR *d;

	memset(f, 0, sizeof(*f));
	f->pos = calloc(MAX_MSGS, 8);
	f->val = calloc(MAX_MSGS, 8);
	snprintf(path, sizeof(path), "%s/%s", data_dir, name);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d))) /* the one id directory */
		if (e->d_name[0] != '.')
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s",
				 e->d_name);
	closedir(d);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)) && nb < 1024) {
		uint64_t b;

		if (!journal_seg_name_parse(e->d_name, &b))
			bases[nb++] = b;
	}
	closedir(d);
	qsort(bases, nb, 8, cmp_u64);
	for (unsigned i = 0; i < nb; i++) {
		char nm[JSEG_NAME_BYTES];

		journal_seg_name(bases[i], nm);
		snprintf(seg, sizeof(seg), "%s/%s", path, nm);
		seg_read(seg, f);
	}
}

static void found_free(struct found *f)
{
	free(f->pos);
	free(f->val);
}

/* The files hold offsets 0..n-1, each once, in order, each with its value. */
static void assert_files_exact(const struct found *f, uint64_t n)
{
	assert_int_equal(f->corrupt, 0);
	assert_int_equal(f->gaps, 0);
	assert_int_equal(f->n, n);
	for (uint64_t i = 0; i < f->n; i++) {
		assert_int_equal(f->pos[i], i);
		assert_int_equal(f->val[i], i);
	}
}

static int verify_rc(void)
{
	char cmd[400];
	int rc;

	snprintf(cmd, sizeof(cmd), "%s journal verify %s >/dev/null", getenv("SHMQ_TOOL"),
		 data_dir);
	rc = system(cmd);
	assert_true(WIFEXITED(rc));
	return WEXITSTATUS(rc);
}

/* shmq journal NAME: its exit status; its output (both streams) must hold want. */
static int journal_show_rc(const struct daemon *d, const char *name, const char *want)
{
	char cmd[600], out[512] = "";
	FILE *f;
	int rc;

	snprintf(cmd, sizeof(cmd), "%s --socket %s journal %s 2>&1", getenv("SHMQ_TOOL"), d->sock,
		 name);
	f = popen(cmd, "r");
	assert_non_null(f);
	if (!fgets(out, sizeof(out), f))
		out[0] = 0;
	rc = pclose(f);
	if (!strstr(out, want))
		fail_msg("shmq journal %s said: %s (wanted %s)", name, out, want);
	return WEXITSTATUS(rc);
}

static void publish_n(struct shmq_pub *p, uint64_t from, uint64_t n, bool confirm)
{
	uint64_t off = 0;

	for (uint64_t v = from; v < from + n; v++) {
		assert_int_equal(shmq_publish(p, &v, sizeof(v), 10 * SEC, &off), 0);
		assert_int_equal(off, v);
		if (confirm)
			assert_int_equal(shmq_wait_durable(p, off, 10 * SEC), 0);
	}
}

static void test_confirmed_messages_are_in_the_files_in_order_once(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	uint32_t modes[] = {SHMQ_SYNC_OS, SHMQ_SYNC_BATCH, SHMQ_SYNC_ALWAYS};
	char name[32];
	uint64_t below = 0;
	struct found f;

	for (unsigned m = 0; m < 3; m++) {
		struct shmq_pub *p;

		snprintf(name, sizeof(name), "d.mode%u", m);
		p = pub_open(c, name, modes[m], m == 1 ? SHMQ_POLICY_BLOCK : SHMQ_POLICY_DROP);
		publish_n(p, 0, 300, m == 2);
		publish_n(p, 300, 2700, false); /* several rings, several 64 KiB segments */
		assert_int_equal(shmq_wait_durable(p, 2999, 10 * SEC), 0);
		assert_int_equal(shmq_pub_durable(p, &below), 0);
		assert_true(below >= 3000);
		shmq_pub_close(p);
		files_read(name, &f);
		assert_files_exact(&f, 3000);
		found_free(&f);
	}
	shmq_disconnect(c);
	assert_int_equal(verify_rc(), 0); /* shmq journal verify agrees */
	assert_int_equal(journal_show_rc(d, "d.mode2", "state ok, written 3000, durable 3000"), 0);
	assert_int_equal(journal_show_rc(d, "plain-none", "no such channel"), 1);
}

/* The publisher child: publish, confirm each, record the confirmed count. */
struct kill_job {
	char sock[108];
	_Atomic uint64_t confirmed; /* offsets below are confirmed */
	_Atomic uint32_t stop;
	_Atomic int32_t err;
};

static int kill_publisher(void *arg)
{
	struct kill_job *job = arg;
	struct shmq_client *c = NULL;
	struct shmq_pub *p = NULL;
	struct shmq_pub_opts o = {0};
	uint64_t off;
	int err = shmq_connect(job->sock, &c);

	if (!err)
		err = shmq_pub_open(c, "d.kill", &o, &p);
	for (uint64_t v = 0; !err && !atomic_load(&job->stop) && v < MAX_MSGS; v++) {
		err = shmq_publish(p, &v, sizeof(v), 30 * SEC, &off);
		if (!err && off != v)
			err = -SHMQ_ECORRUPT;
		if (!err)
			err = shmq_wait_durable(p, off, 30 * SEC);
		if (!err)
			atomic_store(&job->confirmed, v + 1);
	}
	atomic_store(&job->err, err);
	return err ? 1 : 0;
}

static unsigned kill_cycles(void)
{
	const char *s = getenv("SHMQ_DURABLE_CYCLES");

	return s ? (unsigned)atoi(s) : 200;
}

static void test_kill9_under_confirming_publisher_loses_and_doubles_nothing(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct kill_job *job = fx_shared_alloc(sizeof(*job));
	struct shmq_pub *p = pub_open(c, "d.kill", SHMQ_SYNC_ALWAYS, SHMQ_POLICY_DROP);
	uint64_t start = now_ns(), confirmed;
	unsigned cycles = kill_cycles(), done = 0;
	struct found f;
	pid_t child;
	int status;

	srand((unsigned)start);
	shmq_pub_close(p);
	shmq_disconnect(c);
	snprintf(job->sock, sizeof(job->sock), "%s", d->sock);
	child = fork();
	assert_true(child >= 0);
	if (!child)
		_exit(kill_publisher(job));
	while (!atomic_load(&job->confirmed) && !atomic_load(&job->err) &&
	       now_ns() - start < 10 * (uint64_t)SEC)
		usleep(1000); /* it runs before the first kill */
	for (; done < cycles && now_ns() - start < KILL_BUDGET_S * (uint64_t)SEC; done++) {
		struct timespec ts = {0, (long)(rand() % 100000) * 1000};

		nanosleep(&ts, NULL);
		daemon_kill(d);
		assert_int_equal(daemon_restart(d), 0);
	}
	/* let it confirm after the last restart, then stop it */
	confirmed = atomic_load(&job->confirmed);
	for (int i = 0;
	     i < 3000 && atomic_load(&job->confirmed) < confirmed + 100 && !atomic_load(&job->err);
	     i++)
		usleep(1000);
	atomic_store(&job->stop, 1);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(atomic_load(&job->err), 0);
	confirmed = atomic_load(&job->confirmed);
	printf("durable kill loop: cycles=%u confirmed=%llu\n", done,
	       (unsigned long long)confirmed);
	assert_true(confirmed > 0);
	/* every confirmed message in the files once and in order; nothing doubled */
	files_read("d.kill", &f);
	assert_int_equal(f.corrupt, 0);
	assert_int_equal(f.gaps, 0);
	assert_true(f.n >= confirmed);
	for (uint64_t i = 0; i < f.n; i++) {
		assert_int_equal(f.pos[i], i);
		assert_int_equal(f.val[i], i);
	}
	found_free(&f);
	fx_shared_free(job, sizeof(*job));
}

static void test_restart_recovers_and_offsets_continue(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *p = pub_open(c, "d.rec", SHMQ_SYNC_BATCH, SHMQ_POLICY_DROP);
	struct shmq_channel_info ci;
	struct found f;

	publish_n(p, 0, 1000, false);
	assert_int_equal(shmq_wait_durable(p, 999, 10 * SEC), 0);
	shmq_pub_close(p);
	shmq_disconnect(c);
	assert_int_equal(daemon_stop(d), 0); /* the keeper goes too: the ring is gone */
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(fx_wait_log(d, "recovered channel=d.rec"), 0);
	c = fx_connect(d);
	assert_int_equal(shmq_channel_info(c, "d.rec", &ci), 0);
	assert_int_equal(ci.tail, 1000);
	assert_int_equal(SHMQ_CHAN_DURABILITY(ci.flags), SHMQ_SYNC_BATCH);
	/* the configured channel came back from its files too, not twice */
	assert_int_equal(shmq_channel_info(c, "d.cfg", &ci), 0);
	p = pub_open(c, "d.rec", SHMQ_SYNC_BATCH, SHMQ_POLICY_DROP);
	publish_n(p, 1000, 500, false);
	assert_int_equal(shmq_wait_durable(p, 1499, 10 * SEC), 0);
	shmq_pub_close(p);
	shmq_disconnect(c);
	files_read("d.rec", &f);
	assert_files_exact(&f, 1500);
	found_free(&f);
}

/* The first segment file of channel name. */
static void first_segment(const char *name, char *out, size_t len)
{
	char path[300];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", data_dir, name);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			snprintf(out, len, "%s/%s/00000000000000000000.seg", path, e->d_name);
	closedir(d);
}

/*
 * A bit flipped in a confirmed message below a checkpoint: shmq journal
 * verify exits 1, and recovery logs the corruption, keeps the bytes and
 * serves the channel at the offset its files reached.
 */
static void test_corruption_below_checkpoint_is_reported_and_served(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *p = pub_open(c, "d.cor", SHMQ_SYNC_BATCH, SHMQ_POLICY_DROP);
	struct shmq_channel_info ci;
	char seg[600];
	uint8_t byte;
	int fd;

	for (uint64_t i = 0; i < 10; i++) { /* a sync, then a checkpoint, each 100 */
		publish_n(p, i * 100, 100, false);
		assert_int_equal(shmq_wait_durable(p, i * 100 + 99, 10 * SEC), 0);
	}
	shmq_pub_close(p);
	shmq_disconnect(c);
	assert_int_equal(daemon_stop(d), 0);
	assert_int_equal(verify_rc(), 0);
	first_segment("d.cor", seg, sizeof(seg));
	fd = open(seg, O_RDWR);
	assert_true(fd >= 0);
	/* message 0's payload: after the header and the first checkpoint */
	assert_int_equal(pread(fd, &byte, 1, JSEG_HDR_BYTES + JREC_CKPT_BYTES + REC_HDR_BYTES), 1);
	byte ^= 0x10;
	assert_int_equal(pwrite(fd, &byte, 1, JSEG_HDR_BYTES + JREC_CKPT_BYTES + REC_HDR_BYTES), 1);
	close(fd);
	assert_int_equal(verify_rc(), 1);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(fx_wait_log(d, "corruption channel=d.cor"), 0);
	c = fx_connect(d);
	assert_int_equal(shmq_channel_info(c, "d.cor", &ci), 0);
	assert_int_equal(ci.tail, 1000);
	shmq_disconnect(c);
}

static void test_bad_input(void **state)
{
	struct daemon *d = *state, plain;
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_opts o = {0};
	struct shmq_pub_opts po = {.create = 1};
	struct shmq_pub *p = NULL;
	uint64_t below;
	int err;

	/* wait_durable and pub_durable on a plain channel */
	shmq_channel_opts_default(&po.channel);
	assert_int_equal(shmq_pub_open(c, "plain", &po, &p), 0);
	assert_int_equal(shmq_wait_durable(p, 0, 0), -SHMQ_ESTATE);
	assert_int_equal(shmq_pub_durable(p, &below), -SHMQ_ESTATE);
	assert_int_equal(shmq_pub_durable(p, NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_wait_durable(NULL, 0, 0), -SHMQ_EINVAL);
	shmq_pub_close(p);
	/* a 1 MiB message: 256 MiB segments hold it */
	shmq_channel_opts_default(&o);
	o.max_message_bytes = 1 << 20;
	o.flags = SHMQ_CHAN_DURABLE(SHMQ_SYNC_OS);
	err = shmq_channel_create(c, "d.big", &o);
	assert_int_equal(err, 0); /* 256 MiB segments: room for it */
	shmq_disconnect(c);
	/* a daemon without data_dir: durable is refused, naming it */
	assert_int_equal(daemon_start(&plain, NULL), 0);
	c = fx_connect(&plain);
	memset(&o, 0, sizeof(o));
	shmq_channel_opts_default(&o);
	o.flags = SHMQ_CHAN_DURABLE(SHMQ_SYNC_BATCH);
	assert_int_equal(shmq_channel_create(c, "d.none", &o), -SHMQ_EINVAL);
	assert_int_equal(fx_wait_log(&plain, "data_dir"), 0);
	shmq_disconnect(c);
	assert_int_equal(daemon_stop(&plain), 0);
	daemon_remove(&plain);
}

/* Start a daemon with SHMQD_JOURNAL_FAULT=spec in its environment. */
static void start_faulty(struct daemon *d, const char *spec)
{
	setenv("SHMQD_JOURNAL_FAULT", spec, 1);
	assert_int_equal(daemon_start(d, setup_conf()), 0);
	unsetenv("SHMQD_JOURNAL_FAULT");
}

static void test_fsync_eio_fails_that_channel_only(void **state)
{
	struct daemon d;
	struct shmq_client *c;
	struct shmq_pub *bad, *good, *plain;
	struct shmq_pub_opts po = {.create = 1};
	uint64_t off = 0, v = 7;
	int err = 0;

	(void)state;
	start_faulty(&d, "sync-eio:3:0:d.bad");
	c = fx_connect(&d);
	bad = pub_open(c, "d.bad", SHMQ_SYNC_ALWAYS, SHMQ_POLICY_DROP);
	good = pub_open(c, "d.good", SHMQ_SYNC_ALWAYS, SHMQ_POLICY_DROP);
	shmq_channel_opts_default(&po.channel);
	assert_int_equal(shmq_pub_open(c, "plain", &po, &plain), 0);
	for (int i = 0; i < 200 && !err; i++) {
		err = shmq_publish(bad, &v, sizeof(v), SEC, &off);
		if (!err)
			err = shmq_wait_durable(bad, off, 10 * SEC);
	}
	assert_int_equal(err, -SHMQ_EIO);
	assert_int_equal(shmq_publish(bad, &v, sizeof(v), SEC, &off), -SHMQ_EIO);
	assert_int_equal(shmq_wait_durable(bad, off, SEC), -SHMQ_EIO);
	assert_int_equal(fx_wait_log(&d, "channel=d.bad state=failed"), 0);
	assert_int_equal(journal_show_rc(&d, "d.bad", "state failed: Input/output error"), 1);
	/* the others go on */
	publish_n(good, 0, 100, true);
	assert_int_equal(shmq_publish(plain, &v, sizeof(v), SEC, &off), 0);
	shmq_pub_close(bad);
	shmq_pub_close(good);
	shmq_pub_close(plain);
	shmq_disconnect(c);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_remove(&d);
	rm_rf(data_dir);
}

static void test_enospc_is_nospace_then_ok(void **state)
{
	struct daemon d;
	struct shmq_client *c;
	struct shmq_pub *p;
	struct found f;

	(void)state;
	start_faulty(&d, "write-enospc:1:20:d.full");
	c = fx_connect(&d);
	p = pub_open(c, "d.full", SHMQ_SYNC_BATCH, SHMQ_POLICY_BLOCK);
	publish_n(p, 0, 2000, false);
	assert_int_equal(shmq_wait_durable(p, 1999, 30 * SEC), 0);
	if (fx_wait_log(&d, "channel=d.full state=nospace")) {
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "cat %s", d.log);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(fx_wait_log(&d, "channel=d.full state=nospace"), 0);
	assert_int_equal(fx_wait_log(&d, "channel=d.full state=ok"), 0);
	shmq_pub_close(p);
	shmq_disconnect(c);
	files_read("d.full", &f);
	assert_files_exact(&f, 2000);
	found_free(&f);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_remove(&d);
	rm_rf(data_dir);
}

static void test_unwritable_data_dir_exits_2(void **state)
{
	char cmd[512];
	int rc;

	(void)state;
	snprintf(cmd, sizeof(cmd),
		 "%s --socket /tmp/shmq-never.sock --data-dir /proc/nope 2>/dev/null",
		 getenv("SHMQD"));
	rc = system(cmd);
	assert_true(WIFEXITED(rc));
	assert_int_equal(WEXITSTATUS(rc), 2);
}

static void test_data_dir_that_is_a_file_exits_2(void **state)
{
	char cmd[512], file[160];
	int rc, fd;

	(void)state;
	snprintf(file, sizeof(file), "%s/afile", data_dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s --socket %s/never.sock --data-dir %s 2>/dev/null",
		 getenv("SHMQD"), data_dir, file);
	rc = system(cmd);
	assert_true(WIFEXITED(rc));
	assert_int_equal(WEXITSTATUS(rc), 2);
}

static int setup(void **state)
{
	static struct daemon d;

	if (daemon_start(&d, setup_conf()))
		return -1;
	*state = &d;
	return 0;
}

static int teardown(void **state)
{
	struct daemon *d = *state;
	int err = daemon_running(d) ? daemon_stop(d) : 0;

	daemon_remove(d);
	rm_rf(data_dir);
	return err;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_confirmed_messages_are_in_the_files_in_order_once,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_kill9_under_confirming_publisher_loses_and_doubles_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_recovers_and_offsets_continue, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_corruption_below_checkpoint_is_reported_and_served,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_dir_that_is_a_file_exits_2, setup, teardown),
	    cmocka_unit_test(test_unwritable_data_dir_exits_2),
	    cmocka_unit_test(test_fsync_eio_fails_that_channel_only),
	    cmocka_unit_test(test_enospc_is_nospace_then_ok),
	};

	if (!getenv("SHMQD"))
		return 77;
	if (getenv("SHMQ_TEST_FILTER"))
		cmocka_set_test_filter(getenv("SHMQ_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
