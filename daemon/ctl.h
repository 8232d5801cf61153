/*
 * ctl.h - the control socket: accept clients, identify them by
 * SO_PEERCRED, watch their liveness with a pidfd, parse and answer requests
 * (shm/proto.h), and release everything a client held when it goes. Single
 * threaded, driven by the daemon's epoll loop.
 */
#ifndef DAEMON_CTL_H
#define DAEMON_CTL_H

#include <stdint.h>

#include "config.h"
#include "registry.h"

struct ctl;

/* Does a process listen at path (a daemon serving it)? */
bool ctl_path_served(const char *path);

/*
 * Bind the socket (creating its directory) and register with epoll. 0, or
 * -SHMQ_EEXIST (something else, or a live daemon, is at path), -SHMQ_EINVAL
 * (path too long), -SHMQ_ENOMEM or -SHMQ_ESYS; errno says more.
 */
int ctl_open(struct ctl **out, const char *path, int epfd, struct registry *reg,
	     const struct config *cfg);

/*
 * Serve on lfd, a listening socket that someone else bound (a service
 * manager's socket activation); it becomes ctl's, non-blocking. 0, or
 * -SHMQ_ENOMEM or -SHMQ_ESYS (errno says more).
 */
int ctl_open_fd(struct ctl **out, int lfd, int epfd, struct registry *reg,
		const struct config *cfg);

/*
 * Close every client and the socket; unlink the socket path ctl_open()
 * bound. keep_handles: leave the clients' slots as they are (another
 * daemon takes over and they resume there), else release them.
 */
void ctl_close(struct ctl *c, bool keep_handles);

/*
 * Periodic work (now_ns: CLOCK_MONOTONIC): close the connections that
 * have not said HELLO within the configuration's hello_timeout_ms, each
 * answered -SHMQ_ETIMEDOUT first.
 */
void ctl_tick(struct ctl *c, uint64_t now_ns);

/* Handle an epoll event whose data.u64 is tagged for ctl. */
void ctl_event(struct ctl *c, uint64_t tag, uint32_t events);

/* epoll tag values: top byte the kind, the rest a client id. */
#define CTL_TAG_LISTEN (1ull << 56)
#define CTL_TAG_CLIENT (2ull << 56)
#define CTL_TAG_PIDFD (3ull << 56)
#define CTL_TAG_MASK (0xffull << 56)

#endif
