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
	struct bench_mem mem;
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
	return pp_server_start(p, p->sync, p->cfg, p->mem.buf, efd_server_recv, efd_server_send);
}

static int efd_parent(void *arg)
{
	struct efd_pp *p = arg;

	return pp_client_start(p, p->sync, p->cfg, p->out->lat, p->mem.buf, efd_client_send,
			       efd_client_recv);
}

int base_eventfd_pingpong(const struct bench_cfg *cfg, struct bench_out *out)
{
	uint64_t buf_bytes = round_up64(cfg->size_bytes);
	struct efd_pp p = {.cfg = cfg, .out = out, .ping_fd = -1, .pong_fd = -1};
	int err;

	err = bench_mem_alloc(&p.mem, sizeof(*p.sync), 2 * buf_bytes, cfg->size_bytes, out->reason);
	if (err)
		goto out_free;
	p.sync = p.mem.hdr;
	p.ping_buf = p.mem.data;
	p.pong_buf = p.mem.data + buf_bytes;
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
	bench_mem_free(&p.mem);
	return err;
}
