/*
 * test_bad_input.c - what libshmq answers to bad input: oversized
 * messages, unknown channels, bad names, no daemon, a daemon of another
 * protocol version (a fake one, in a thread of this process), a full
 * channel. Each cause has its own code and its own sentence.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "proto.h"
#include "shmq.h"

static int oversize_code(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_opts o = {.max_message_bytes = 100};
	static char buf[4096];
	struct shmq_claim cl;
	struct shmq_pub *p;
	int err;

	assert_int_equal(shmq_channel_create(c, "small.msgs", &o), 0);
	assert_int_equal(shmq_pub_open(c, "small.msgs", NULL, &p), 0);
	assert_int_equal(shmq_publish(p, buf, 100, 0, NULL), 0);
	err = shmq_publish(p, buf, 101, 0, NULL);
	assert_int_equal(shmq_publish(p, buf, sizeof(buf), 0, NULL), err);
	assert_int_equal(shmq_pub_claim(p, 101, &cl, 0), err);
	assert_int_equal(shmq_pub_claim(p, UINT32_MAX, &cl, 0), err);
	shmq_pub_close(p);
	shmq_disconnect(c);
	return err;
}

static void test_message_larger_than_the_maximum_fails_with_etoobig(void **state)
{
	assert_int_equal(oversize_code(state), -SHMQ_ETOOBIG);
}

static int unknown_code(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_info ci;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_mon *m;
	int err = shmq_channel_info(c, "no.such.channel", &ci);

	assert_int_equal(shmq_channel_delete(c, "no.such.channel"), err);
	assert_int_equal(shmq_pub_open(c, "no.such.channel", NULL, &p), err);
	assert_int_equal(shmq_sub_open(c, "no.such.channel", NULL, &s), err);
	assert_int_equal(shmq_mon_open(c, "no.such.channel", &m), err);
	shmq_disconnect(c);
	return err;
}

/* A second publisher handle on a one-publisher channel. */
static int busy_code(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_opts o = {.publishers = SHMQ_PUBLISHERS_ONE};
	struct shmq_pub *p, *q = NULL;
	int err;

	assert_int_equal(shmq_channel_create(c, "busy", &o), 0);
	assert_int_equal(shmq_pub_open(c, "busy", NULL, &p), 0);
	err = shmq_pub_open(c, "busy", NULL, &q);
	assert_null(q);
	shmq_pub_close(p);
	assert_int_equal(shmq_channel_delete(c, "busy"), 0);
	shmq_disconnect(c);
	return err;
}

static void test_second_publisher_of_a_one_publisher_channel_fails_with_ebusy(void **state)
{
	assert_int_equal(busy_code(state), -SHMQ_EBUSY);
}

/* Settings out of range or unknown are refused, and no channel is made. */
static void test_bad_channel_settings_fail_with_einval(void **state)
{
	const struct shmq_channel_opts bad[] = {
	    {.policy = 2},
	    {.publishers = 2},
	    {.max_message_bytes = (16u << 20) + 1},
	    {.capacity_bytes = 1ull << 41},
	    {.flags = 0x80000000u}, /* no such SHMQ_CHAN_ flag */
	};
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_info ci;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("bad settings %zu\n", i);
		assert_int_equal(shmq_channel_create(c, "bad.settings", &bad[i]), -SHMQ_EINVAL);
		assert_int_equal(shmq_channel_info(c, "bad.settings", &ci), -SHMQ_ENOENT);
	}
	shmq_disconnect(c);
}

static void test_unknown_channel_fails_with_enoent(void **state)
{
	assert_int_equal(unknown_code(state), -SHMQ_ENOENT);
}

static int name_code(void **state)
{
	char long_name[301];
	const char *bad[] = {"", "a..b", ".a", "a.", "a b", long_name, "a/b", "a\tb", "é", "."};
	struct shmq_client *c = fx_connect(*state);
	struct shmq_pub_opts po = {.create = 1};
	struct shmq_sub_opts so = {.create = 1};
	struct shmq_channel_info ci;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_mon *m;
	int err = 0, before = shmq_channel_list(c, NULL, 0);

	assert_true(before >= 0);
	memset(long_name, 'x', 300);
	long_name[300] = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = shmq_channel_create(c, bad[i], NULL);
		assert_int_equal(err, -SHMQ_ENAME);
		assert_int_equal(shmq_channel_info(c, bad[i], &ci), err);
		assert_int_equal(shmq_channel_delete(c, bad[i]), err);
		assert_int_equal(shmq_pub_open(c, bad[i], &po, &p), err);
		assert_int_equal(shmq_sub_open(c, bad[i], &so, &s), err);
		assert_int_equal(shmq_mon_open(c, bad[i], &m), err);
	}
	/* one byte over the limit */
	long_name[SHMQ_NAME_MAX + 1] = 0;
	assert_int_equal(shmq_channel_create(c, long_name, NULL), err);
	/* nothing was created on the way */
	assert_int_equal(shmq_channel_list(c, NULL, 0), before);
	shmq_disconnect(c);
	return err;
}

static void test_invalid_names_fail_with_ename(void **state)
{
	assert_int_equal(name_code(state), -SHMQ_ENAME);
}

static void test_null_name_or_output_fails_with_einval(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_info ci;
	struct shmq_pub *p = NULL;
	struct shmq_sub *s = NULL;
	struct shmq_mon *mon = NULL;

	assert_int_equal(shmq_channel_create(c, NULL, NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_channel_delete(c, NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_channel_info(c, NULL, &ci), -SHMQ_EINVAL);
	assert_int_equal(shmq_pub_open(c, NULL, NULL, &p), -SHMQ_EINVAL);
	assert_int_equal(shmq_sub_open(c, NULL, NULL, &s), -SHMQ_EINVAL);
	assert_int_equal(shmq_mon_open(c, NULL, &mon), -SHMQ_EINVAL);
	assert_int_equal(shmq_channel_create(c, "real", NULL), 0);
	assert_int_equal(shmq_mon_open(c, "real", NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_mon_open(c, "real", &mon), 0);
	assert_int_equal(shmq_mon_read(mon, NULL), -SHMQ_EINVAL);
	shmq_mon_close(mon);
	assert_int_equal(shmq_client_connected(c), 1);
	assert_int_equal(shmq_channel_info(c, "real", NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_channel_list(c, NULL, 1), -SHMQ_EINVAL);
	assert_int_equal(shmq_pub_open(c, "real", NULL, NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_sub_open(c, "real", NULL, NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_pub_open(c, "real", NULL, &p), 0);
	assert_int_equal(shmq_sub_open(c, "real", NULL, &s), 0);
	assert_int_equal(shmq_publish(p, NULL, 1, 0, NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_pub_claim(p, 1, NULL, 0), -SHMQ_EINVAL);
	assert_int_equal(shmq_recv(s, NULL, 0), -SHMQ_EINVAL);
	assert_int_equal(shmq_recv_copy(s, NULL, 1, NULL, 0), -SHMQ_EINVAL);
	assert_int_equal(shmq_poll(s, NULL, NULL, 1, 0), -SHMQ_EINVAL);
	assert_int_equal(shmq_msg_verify(s, NULL), -SHMQ_EINVAL);
	/* and the handles still work */
	assert_int_equal(shmq_publish(p, "", 0, 0, NULL), 0);
	{
		struct shmq_msg m;

		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
		assert_int_equal(m.len, 0);
	}
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static int nodaemon_code(void **state)
{
	struct daemon *d = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct shmq_client *c = NULL;
	char path[200], file[200];
	int err, fd;

	snprintf(path, sizeof(path), "%s/nobody-listens", d->dir);
	err = shmq_connect(path, &c);
	assert_null(c);
	/* a file that is not a socket */
	snprintf(file, sizeof(file), "%s/shmqd.log", d->dir);
	assert_int_equal(shmq_connect(file, &c), err);
	/* a socket file left by a process that is gone */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stale", d->dir);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(shmq_connect(sa.sun_path, &c), err);
	unlink(sa.sun_path);
	return err;
}

static void test_no_daemon_fails_with_enodaemon(void **state)
{
	assert_int_equal(nodaemon_code(state), -SHMQ_ENODAEMON);
}

static int full_code(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_opts o = {
	    .capacity_bytes = 1, .max_message_bytes = 8, .policy = SHMQ_POLICY_BLOCK};
	struct shmq_pub *p;
	struct shmq_sub *s;
	int err;

	assert_int_equal(shmq_channel_create(c, "full", &o), 0);
	assert_int_equal(shmq_sub_open(c, "full", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "full", NULL, &p), 0);
	do
		err = shmq_publish(p, "12345678", 8, 0, NULL);
	while (!err);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
	return err;
}

static void test_full_block_channel_fails_with_efull(void **state)
{
	assert_int_equal(full_code(state), -SHMQ_EFULL);
}

static int exists_code(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	int err;

	assert_int_equal(shmq_channel_create(c, "twice", NULL), 0);
	err = shmq_channel_create(c, "twice", NULL);
	shmq_disconnect(c);
	return err;
}

/* ---- a fake daemon that answers HELLO as told ---- */

enum fake_answer {
	FAKE_EVERSION,	   /* status -SHMQ_EVERSION */
	FAKE_VERSION_NEXT, /* a header of the protocol version after ours */
	FAKE_BAD_MAGIC,	   /* not our protocol at all */
	FAKE_HANG_UP,	   /* close without an answer */
	FAKE_BAD_STATUS,   /* a status outside enum shmq_err */
};

struct fake {
	char path[108];
	int lfd;
	enum fake_answer answer;
	pthread_t thread;
};

static void *fake_serve(void *arg)
{
	struct fake *f = arg;
	uint8_t buf[PROTO_MAX_BYTES];
	struct proto_hdr h;
	struct proto_hello hello = {.major = PROTO_VERSION + 1, .pid = 1};
	int fd = accept(f->lfd, NULL, NULL);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n >= (ssize_t)sizeof(h) && f->answer != FAKE_HANG_UP) {
		memcpy(&h, buf, sizeof(h));
		h.status = f->answer == FAKE_EVERSION	  ? -SHMQ_EVERSION
			   : f->answer == FAKE_BAD_STATUS ? -999
							  : 0;
		h.version = f->answer == FAKE_VERSION_NEXT ? PROTO_VERSION + 1 : PROTO_VERSION;
		h.magic = f->answer == FAKE_BAD_MAGIC ? 0x12345678 : PROTO_MAGIC;
		h.body_bytes = h.status ? 0 : sizeof(hello);
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), &hello, sizeof(hello));
		send(fd, buf, sizeof(h) + h.body_bytes, MSG_NOSIGNAL);
	}
	close(fd);
	return NULL;
}

static int fake_connect(void **state, enum fake_answer answer)
{
	struct daemon *d = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct shmq_client *c = NULL;
	struct fake f = {.answer = answer};
	int err;

	snprintf(f.path, sizeof(f.path), "%s/fake", d->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f.path);
	f.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(f.lfd >= 0);
	assert_int_equal(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f.lfd, 1), 0);
	assert_int_equal(pthread_create(&f.thread, NULL, fake_serve, &f), 0);
	err = shmq_connect(f.path, &c);
	pthread_join(f.thread, NULL);
	close(f.lfd);
	unlink(f.path);
	assert_null(c);
	return err;
}

static void test_daemon_of_another_version_fails_with_eversion(void **state)
{
	assert_int_equal(fake_connect(state, FAKE_EVERSION), -SHMQ_EVERSION);
	assert_int_equal(fake_connect(state, FAKE_VERSION_NEXT), -SHMQ_EVERSION);
}

static void test_daemon_speaking_garbage_fails_with_eproto(void **state)
{
	assert_int_equal(fake_connect(state, FAKE_BAD_MAGIC), -SHMQ_EPROTO);
	assert_int_equal(fake_connect(state, FAKE_BAD_STATUS), -SHMQ_EPROTO);
}

static void test_daemon_hanging_up_fails_with_eclosed(void **state)
{
	assert_int_equal(fake_connect(state, FAKE_HANG_UP), -SHMQ_ECLOSED);
}

static void test_each_bad_input_has_its_own_code_and_sentence(void **state)
{
	int codes[] = {
	    oversize_code(state),
	    unknown_code(state),
	    name_code(state),
	    nodaemon_code(state),
	    full_code(state),
	    exists_code(state),
	    fake_connect(state, FAKE_EVERSION),
	    busy_code(state),
	};
	size_t n = sizeof(codes) / sizeof(codes[0]);

	for (size_t i = 0; i < n; i++) {
		const char *text = shmq_strerror(codes[i]);

		assert_true(codes[i] < 0 && codes[i] > -SHMQ_ERR_COUNT);
		assert_non_null(text);
		assert_true(strlen(text) > 8);
		assert_null(strstr(text, "unknown"));
		print_message("%-16s %s\n", shmq_errname(codes[i]), text);
		for (size_t k = 0; k < i; k++) {
			assert_int_not_equal(codes[i], codes[k]);
			assert_string_not_equal(text, shmq_strerror(codes[k]));
		}
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_message_larger_than_the_maximum_fails_with_etoobig),
	    T(test_second_publisher_of_a_one_publisher_channel_fails_with_ebusy),
	    T(test_bad_channel_settings_fail_with_einval),
	    T(test_unknown_channel_fails_with_enoent),
	    T(test_invalid_names_fail_with_ename),
	    T(test_null_name_or_output_fails_with_einval),
	    T(test_no_daemon_fails_with_enodaemon),
	    T(test_full_block_channel_fails_with_efull),
	    T(test_daemon_of_another_version_fails_with_eversion),
	    T(test_daemon_speaking_garbage_fails_with_eproto),
	    T(test_daemon_hanging_up_fails_with_eclosed),
	    T(test_each_bad_input_has_its_own_code_and_sentence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
