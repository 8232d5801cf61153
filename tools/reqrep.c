/*
 * reqrep.c - shmq request and shmq reply: one request and its first reply
 * (printed, exit 3 when --timeout runs out), and a responder that answers
 * each request on a channel with the request's payload (--echo) or with
 * what a shell command prints given the request on its stdin (--exec),
 * until --count requests are answered or a signal stops it. One thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

static int64_t timeout_ns(const struct opts *o)
{
	return o->timeout_s < 0 ? -1 : (int64_t)(o->timeout_s * 1e9);
}

int cmd_request(struct shmq_client *c, const char *name, const char *message, const struct opts *o)
{
	size_t len = strlen(message);
	struct shmq_requester *r;
	struct shmq_msg m;
	char *buf;
	int err;

	if (len > SHMQ_MESSAGE_MAX)
		return cli_fail("request", name, -SHMQ_ETOOBIG, o);
	err = shmq_requester_open(c, name, NULL, &r);
	if (err)
		return cli_fail("request", name, err, o);
	buf = malloc(SHMQ_MESSAGE_MAX);
	err = buf ? shmq_request(r, message, (uint32_t)len, NULL, buf, SHMQ_MESSAGE_MAX, &m,
				 timeout_ns(o))
		  : -SHMQ_ENOMEM;
	shmq_requester_close(r);
	if (err == -SHMQ_ETIMEDOUT) {
		free(buf);
		fprintf(stderr, "shmq: request %s: no reply within the timeout\n", name);
		return CLI_TIMEOUT;
	}
	if (!err && (fwrite(m.data, 1, m.len, stdout) != m.len || putchar('\n') == EOF))
		err = -SHMQ_ESYS;
	free(buf);
	return err ? cli_fail("request", name, err, o) : CLI_OK;
}

/*
 * Run cmd with in (len bytes) on its stdin; its stdout, up to max bytes,
 * into out (*out_len). The command's status is not looked at: what it
 * printed is the reply. 0 or -SHMQ_ESYS.
 */
static int run_exec(const char *cmd, const void *in, uint32_t len, char *out, uint32_t max,
		    uint32_t *out_len)
{
	int to[2], from[2], st;
	pid_t pid;
	ssize_t n;

	if (pipe(to) || pipe(from))
		return -SHMQ_ESYS;
	pid = fork();
	if (pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[1]);
		close(from[0]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	if (pid > 0 && len && write(to[1], in, len) < 0 && errno != EPIPE)
		pid = -1;
	close(to[1]);
	*out_len = 0;
	while (pid > 0 && *out_len < max && (n = read(from[0], out + *out_len, max - *out_len)) > 0)
		*out_len += (uint32_t)n;
	close(from[0]);
	if (pid > 0)
		waitpid(pid, &st, 0);
	return pid > 0 ? 0 : -SHMQ_ESYS;
}

/* Answer one request m as the options say. */
static int reply_one(struct shmq_client *c, const struct shmq_msg *m, char *buf,
		     const struct opts *o)
{
	uint32_t len;
	int err;

	if (!o->exec)
		return shmq_reply(c, m, m->data, m->len, NULL);
	err = run_exec(o->exec, m->data, m->len, buf, SHMQ_MESSAGE_MAX, &len);
	return err ? err : shmq_reply(c, m, buf, len, NULL);
}

int cmd_reply(struct shmq_client *c, const char *name, const struct opts *o)
{
	struct shmq_sub_opts so = {.start = SHMQ_START_LATEST};
	struct shmq_sub *s;
	struct shmq_msg m;
	char *buf = NULL;
	uint64_t n = 0;
	int err;

	if (!o->echo == !o->exec) {
		fprintf(stderr, "shmq: reply: give one of --echo and --exec CMD\n");
		return CLI_USAGE;
	}
	signals_install();
	err = shmq_sub_open(c, name, &so, &s);
	if (err)
		return cli_fail("reply", name, err, o);
	if (o->exec && !(buf = malloc(SHMQ_MESSAGE_MAX)))
		err = -SHMQ_ENOMEM;
	while (!err && !stop_signal && (!o->count || n < o->count)) {
		err = shmq_recv(s, &m, 100000000); /* a look at the signal flag every 100 ms */
		if (err == -SHMQ_ETIMEDOUT) {
			err = 0;
			continue;
		}
		if (!err)
			err = reply_one(c, &m, buf, o);
		/* a requester that went, or a message that asks no reply: go on */
		if (err == -SHMQ_ENOENT || err == -SHMQ_EINVAL || err == -SHMQ_EPERM) {
			fprintf(stderr, "shmq: reply %s: offset %llu: %s (%s)\n", name,
				(unsigned long long)m.offset, shmq_strerror(err),
				shmq_errname(err));
			err = 0;
		}
		n++;
	}
	free(buf);
	shmq_sub_close(s);
	return err ? cli_fail("reply", name, err, o) : CLI_OK;
}
