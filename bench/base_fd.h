/*
 * base_fd.h - ping-pong and streaming over a pair of file descriptor
 * channels, shared by the pipe and Unix socket baselines, which differ only
 * in how they make the descriptors. The caller creates them; these functions
 * hand each process its ends, close the others and always close all four.
 */
#ifndef SHMQ_BENCH_BASE_FD_H
#define SHMQ_BENCH_BASE_FD_H

#include "bench.h"

/* The parent's and the child's ends; a socket is its own read and write end. */
struct fd_ends {
	int parent_rfd;
	int parent_wfd;
	int child_rfd;
	int child_wfd;
};

int fdpair_pingpong(const struct bench_cfg *cfg, struct bench_out *out, struct fd_ends ends);

/* The child produces into child_wfd, the parent consumes from parent_rfd. */
int fdpair_stream(const struct bench_cfg *cfg, struct bench_out *out, struct fd_ends ends);

#endif
