/*
 * ready.h - tell whoever started shmqd that it serves, and that it stops:
 * a line on an inherited descriptor (--ready-fd N, closed after the line),
 * and, when $NOTIFY_SOCKET names a socket, the service manager's
 * notification datagrams "READY=1" and "STOPPING=1" (systemd's sd_notify
 * protocol, written here by hand). Main thread only.
 */
#ifndef DAEMON_READY_H
#define DAEMON_READY_H

/* 0 if fd is open for writing (now close-on-exec), else -SHMQ_EINVAL or -SHMQ_ESYS. */
int ready_fd_check(int fd);

/*
 * Once the socket listens: write "ready pid=PID socket=PATH\n" to fd and
 * close it (fd < 0: none), and send READY=1 to $NOTIFY_SOCKET (if set).
 * Failures are logged; the daemon serves on.
 */
void ready_announce(int fd, const char *socket_path);

/* On the way out: send STOPPING=1 to $NOTIFY_SOCKET (if set). */
void ready_stopping(void);

/*
 * Send state ("READY=1") as one datagram to the AF_UNIX socket that
 * $NOTIFY_SOCKET names: a path, or "@name" for the abstract namespace.
 * Returns 0 sent, 1 when the variable is unset, -SHMQ_EINVAL (the variable
 * names no usable address) or -SHMQ_ESYS (errno says why).
 */
int ready_notify(const char *state);

#endif
