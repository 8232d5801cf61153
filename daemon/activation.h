/*
 * activation.h - socket activation: a service manager (systemd's
 * ListenSequentialPacket=) binds the control socket and hands it over as
 * descriptor 3, with LISTEN_PID set to shmqd's pid and LISTEN_FDS to 1
 * (more are left alone: shmqd serves on the first).
 * Such a socket stays where the manager put it: shmqd never unlinks it.
 * Main thread, at start.
 */
#ifndef DAEMON_ACTIVATION_H
#define DAEMON_ACTIVATION_H

#include <stddef.h>

#define ACTIVATION_FD 3 /* SD_LISTEN_FDS_START */

/*
 * Returns 0 when no socket was passed to this process; 1 when descriptor 3
 * is a listening AF_UNIX SOCK_SEQPACKET socket, with its bound path (or
 * "(descriptor 3)" when it has none) in path; -SHMQ_EINVAL when one was
 * passed but does not fit, with the reason in err. Removes LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES from the environment.
 */
int activation_take(char *path, size_t path_len, char *err, size_t err_len);

#endif
