/*
 * shmq_err.h - the error vocabulary shared by the shared-memory code, the
 * control protocol (it travels as a negated int32 in every response) and the
 * public API. Values are ABI: append, never renumber. Included by shmq.h;
 * applications include shmq.h only.
 */
#ifndef SHMQ_ERR_H
#define SHMQ_ERR_H

enum shmq_err {
	SHMQ_OK = 0,
	SHMQ_EINVAL = 1,	/* an argument is out of range or NULL */
	SHMQ_ENAME = 2,		/* channel name is not a valid dotted name */
	SHMQ_ENOENT = 3,	/* no channel of that name */
	SHMQ_EEXIST = 4,	/* channel exists already */
	SHMQ_ETOOBIG = 5,	/* message larger than the channel's maximum */
	SHMQ_EFULL = 6,		/* block policy: no space now (would block) */
	SHMQ_EAGAIN = 7,	/* no message available now */
	SHMQ_ETIMEDOUT = 8,	/* waited the whole timeout */
	SHMQ_ENODAEMON = 9,	/* no daemon listening at the socket path */
	SHMQ_EVERSION = 10,	/* library and daemon speak different versions */
	SHMQ_EPROTO = 11,	/* malformed message on the control socket */
	SHMQ_EPERM = 12,	/* access control denies the operation */
	SHMQ_ECORRUPT = 13,	/* shared memory holds values no honest peer writes */
	SHMQ_ENOMEM = 14,	/* out of memory */
	SHMQ_ESYS = 15,		/* a system call failed unexpectedly */
	SHMQ_EABANDONED = 16,	/* the claim was abandoned (took too long) */
	SHMQ_EOVERRUN = 17,	/* drop policy: the record was overwritten */
	SHMQ_ECLOSED = 18,	/* the daemon connection is closed */
	SHMQ_ELIMIT = 19,	/* a daemon or channel limit is reached */
	SHMQ_EMISMATCH = 20,	/* channel exists with different settings */
	SHMQ_ESTATE = 21,	/* call not valid in the handle's current state */
	SHMQ_EBUSY = 22,	/* the channel's one exclusive publisher is taken */
	SHMQ_EDELETED = 23,	/* the channel was deleted while the handle was open */
	SHMQ_ECHANQUOTA = 24,	/* this uid owns as many channels as it may */
	SHMQ_ECONNQUOTA = 25,	/* this uid holds as many connections as it may */
	SHMQ_EHANDLEQUOTA = 26, /* this uid holds as many handles of the channel as it may */
	SHMQ_ENOTHELD = 27,   /* ack, nack, term or touch of a message this member does not hold */
	SHMQ_ENOREADER = 28,  /* a request went to a channel nobody reads */
	SHMQ_EDUPLICATE = 29, /* the message id was published within the window */
	SHMQ_EPATTERN = 30,   /* subject pattern is malformed */
	SHMQ_EFILTER = 31,    /* message filter is empty or malformed */
	SHMQ_EIO = 32,	      /* durable channel: its journal failed to write or sync */
	SHMQ_ERR_COUNT
};

#endif
