/*
 * base_fd.c - the descriptor transports' common half (see base_fd.h): one
 * write() per message and read() until the whole message is in, so stream
 * sockets and pipes that split a message are handled, and message sockets
 * return one message per read. Each process closes the ends that are not its
 * own, so a peer that dies shows up as EOF instead of a hang.
 */
#include <unistd.h>

#include "base_fd.h"
#include "drive.h"

struct fd_pp {
	struct proc_sync *sync;
	struct fd_ends ends;
	int rfd;
	int wfd;
	const struct bench_cfg *cfg;
	struct bench_out *out;
	struct bench_mem mem;
};

static int fd_send(void *t, void *buf, uint32_t len)
{
	struct fd_pp *p = t;

	return fd_write_all(p->wfd, buf, len);
}

static int fd_recv(void *t, void *buf, uint32_t len)
{
	struct fd_pp *p = t;

	return fd_read_all(p->rfd, buf, len);
}

static void fd_close_ends(const struct fd_ends *e, int keep_r, int keep_w)
{
	int fds[4] = {e->parent_rfd, e->parent_wfd, e->child_rfd, e->child_wfd};
	int i, j;

	for (i = 0; i < 4; i++) {
		if (fds[i] < 0 || fds[i] == keep_r || fds[i] == keep_w)
			continue;
		for (j = 0; j < i && fds[j] != fds[i]; j++)
			;
		if (j == i) /* a socket appears twice; close it once */
			close(fds[i]);
	}
}

/* In the child: keep its own ends only. */
static void fd_take_child(struct fd_pp *p)
{
	p->rfd = p->ends.child_rfd;
	p->wfd = p->ends.child_wfd;
	fd_close_ends(&p->ends, p->rfd, p->wfd);
}

/* In the parent, after the fork: close the child's ends, so its death is EOF. */
static void fd_take_parent(struct fd_pp *p)
{
	fd_close_ends(&p->ends, p->rfd, p->wfd);
	p->ends.child_rfd = -1;
	p->ends.child_wfd = -1;
}

static int fd_pp_child(void *arg, unsigned idx)
{
	struct fd_pp *p = arg;

	(void)idx;
	fd_take_child(p);
	return pp_server_start(p, p->sync, p->cfg, p->mem.buf, fd_recv, fd_send);
}

static int fd_pp_parent(void *arg)
{
	struct fd_pp *p = arg;

	fd_take_parent(p);
	return pp_client_start(p, p->sync, p->cfg, p->out->lat, p->mem.buf, fd_send, fd_recv);
}

static int fd_st_child(void *arg, unsigned idx)
{
	struct fd_pp *p = arg;

	(void)idx;
	fd_take_child(p);
	return st_producer_start(p, p->sync, p->cfg, p->mem.buf, fd_send);
}

static int fd_st_parent(void *arg)
{
	struct fd_pp *p = arg;

	fd_take_parent(p);
	return st_consumer_start(p, p->sync, p->cfg, p->mem.buf, fd_recv, &p->out->msgs_per_s);
}

static int fd_run(const struct bench_cfg *cfg, struct bench_out *out, struct fd_ends ends,
		  proc_child_fn child, proc_parent_fn parent)
{
	struct fd_pp p = {.cfg = cfg, .out = out, .ends = ends};
	int err;

	p.rfd = ends.parent_rfd;
	p.wfd = ends.parent_wfd;
	err = bench_mem_alloc(&p.mem, sizeof(*p.sync), 0, cfg->size_bytes, out->reason);
	if (!err) {
		p.sync = p.mem.hdr;
		err = proc_run(cfg, 1, child, parent, &p, out->reason);
	}
	fd_close_ends(&p.ends, -1, -1);
	bench_mem_free(&p.mem);
	return err;
}

int fdpair_pingpong(const struct bench_cfg *cfg, struct bench_out *out, struct fd_ends ends)
{
	return fd_run(cfg, out, ends, fd_pp_child, fd_pp_parent);
}

int fdpair_stream(const struct bench_cfg *cfg, struct bench_out *out, struct fd_ends ends)
{
	return fd_run(cfg, out, ends, fd_st_child, fd_st_parent);
}
