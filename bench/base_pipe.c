/*
 * base_pipe.c - the pipe baseline: two pipes (one per direction) for
 * ping-pong, one for streaming; one write() and one read() per message.
 * The measuring is base_fd.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base_fd.h"

int base_pipe_pingpong(const struct bench_cfg *cfg, struct bench_out *out)
{
	int to_child[2], to_parent[2];

	if (pipe2(to_child, O_CLOEXEC))
		return bench_fail(out->reason, -errno, "pipe: %s", strerror(errno));
	if (pipe2(to_parent, O_CLOEXEC)) {
		close(to_child[0]);
		close(to_child[1]);
		return bench_fail(out->reason, -errno, "pipe: %s", strerror(errno));
	}
	return fdpair_pingpong(cfg, out,
			       (struct fd_ends){.parent_rfd = to_parent[0],
						.parent_wfd = to_child[1],
						.child_rfd = to_child[0],
						.child_wfd = to_parent[1]});
}

int base_pipe_stream(const struct bench_cfg *cfg, struct bench_out *out)
{
	int to_parent[2];

	if (pipe2(to_parent, O_CLOEXEC))
		return bench_fail(out->reason, -errno, "pipe: %s", strerror(errno));
	return fdpair_stream(cfg, out,
			     (struct fd_ends){.parent_rfd = to_parent[0],
					      .parent_wfd = -1,
					      .child_rfd = -1,
					      .child_wfd = to_parent[1]});
}
