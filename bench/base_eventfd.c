/*
 * base_eventfd.c - ping-pong with the payload in a shared mapping and one
 * eventfd per direction as the doorbell: the sender writes the payload, then
 * writes 1 to the eventfd; the receiver blocks in read() on it. This is the
 * wake-up path an epoll or io_uring loop would use.
 *
 * The write()/read() pair on the eventfd orders the payload: the kernel's
 * wake-up is a full barrier between the two processes.
 * Parent = client on cfg->cpu[0], child = echo server on cfg->cpu[1].
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench.h"
#include "drive.h"

struct efd_pp {
	struct proc_sync *sync;
	uint8_t *ping_buf;
	uint8_t *pong_buf;
	int ping_fd; /* client -> server doorbell */
	int pong_fd; /* server -> client doorbell */
	const struct bench_cfg *cfg;
	struct bench_out *out;
	void *buf;
};

static int efd_ring(int fd)
{
	uint64_t one = 1;

	return fd_write_all(fd, &one, sizeof(one));
}

static int efd_wait(int fd)
{
	uint64_t v;

	return fd_read_all(fd, &v, sizeof(v));
}

static int efd_client_send(void *t, void *buf, uint32_t len)
{
	struct efd_pp *p = t;

	memcpy(p->ping_buf, buf, len);
	return efd_ring(p->ping_fd);
}

static int efd_client_recv(void *t, void *buf, uint32_t len)
{
	struct efd_pp *p = t;
	int err = efd_wait(p->pong_fd);

	memcpy(buf, p->pong_buf, len);
	return err;
}

static int efd_server_recv(void *t, void *buf, uint32_t len)
{
	struct efd_pp *p = t;
	int err = efd_wait(p->ping_fd);

	memcpy(buf, p->ping_buf, len);
	return err;
}

static int efd_server_send(void *t, void *buf, uint32_t len)
{
	struct efd_pp *p = t;

	memcpy(p->pong_buf, buf, len);
	return efd_ring(p->pong_fd);
}

static int efd_child(void *arg, unsigned idx)
{
	struct efd_pp *p = arg;

	(void)idx;
	proc_child_ready(p->sync);
	return pp_server(p, p->cfg, p->buf, efd_server_recv, efd_server_send);
}

static int efd_parent(void *arg)
{
	struct efd_pp *p = arg;

	proc_parent_go(p->sync, 1);
	return pp_client(p, p->cfg, p->out->lat, p->buf, efd_client_send, efd_client_recv);
}

int base_eventfd_pingpong(const struct bench_cfg *cfg, struct bench_out *out)
{
	uint64_t buf_bytes = round_up64(cfg->size_bytes);
	size_t map_bytes = round_up64(sizeof(struct proc_sync)) + 2 * buf_bytes;
	struct efd_pp p = {.cfg = cfg, .out = out, .ping_fd = -1, .pong_fd = -1};
	int err;

	p.sync = shm_anon(map_bytes);
	p.buf = calloc(1, cfg->size_bytes);
	if (!p.sync || !p.buf) {
		err = bench_fail(out->reason, -ENOMEM, "out of memory");
		goto out_free;
	}
	p.ping_buf = (uint8_t *)p.sync + round_up64(sizeof(struct proc_sync));
	p.pong_buf = p.ping_buf + buf_bytes;
	p.ping_fd = eventfd(0, EFD_CLOEXEC);
	p.pong_fd = eventfd(0, EFD_CLOEXEC);
	if (p.ping_fd < 0 || p.pong_fd < 0) {
		err = bench_fail(out->reason, -errno, "eventfd: %s", strerror(errno));
		goto out_close;
	}
	err = proc_run(cfg, 1, efd_child, efd_parent, &p, out->reason);
out_close:
	if (p.ping_fd >= 0)
		close(p.ping_fd);
	if (p.pong_fd >= 0)
		close(p.pong_fd);
out_free:
	free(p.buf);
	shm_anon_free(p.sync, map_bytes);
	return err;
}
