/*
 * base_unix.c - the Unix-domain socket baselines: a socketpair() of type
 * SOCK_STREAM (what most local RPC uses) or SOCK_SEQPACKET (message
 * boundaries kept, one message per read). Default buffer sizes. The
 * measuring is base_fd.c's.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "base_fd.h"

static int unix_pair(int type, struct fd_ends *ends, char *reason)
{
	int sv[2];

	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv))
		return bench_fail(reason, -errno, "socketpair: %s", strerror(errno));
	*ends = (struct fd_ends){
	    .parent_rfd = sv[0], .parent_wfd = sv[0], .child_rfd = sv[1], .child_wfd = sv[1]};
	return 0;
}

int base_unix_pingpong(const struct bench_cfg *cfg, struct bench_out *out)
{
	struct fd_ends ends;
	int err = unix_pair(SOCK_STREAM, &ends, out->reason);

	return err ? err : fdpair_pingpong(cfg, out, ends);
}

int base_unix_stream(const struct bench_cfg *cfg, struct bench_out *out)
{
	struct fd_ends ends;
	int err = unix_pair(SOCK_STREAM, &ends, out->reason);

	return err ? err : fdpair_stream(cfg, out, ends);
}

int base_seqpacket_pingpong(const struct bench_cfg *cfg, struct bench_out *out)
{
	struct fd_ends ends;
	int err = unix_pair(SOCK_SEQPACKET, &ends, out->reason);

	return err ? err : fdpair_pingpong(cfg, out, ends);
}

int base_seqpacket_stream(const struct bench_cfg *cfg, struct bench_out *out)
{
	struct fd_ends ends;
	int err = unix_pair(SOCK_SEQPACKET, &ends, out->reason);

	return err ? err : fdpair_stream(cfg, out, ends);
}
