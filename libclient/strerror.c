/*
 * strerror.c - sentences and names for enum shmq_err. Pure; any thread.
 */
#include "internal.h"

static const struct {
	const char *name;
	const char *text;
} errs[SHMQ_ERR_COUNT] = {
    [SHMQ_OK] = {"SHMQ_OK", "success"},
    [SHMQ_EINVAL] = {"SHMQ_EINVAL", "invalid argument"},
    [SHMQ_ENAME] = {"SHMQ_ENAME",
		    "invalid channel name (dot-separated tokens of letters, digits, '_' "
		    "and '-', at most 200 bytes)"},
    [SHMQ_ENOENT] = {"SHMQ_ENOENT", "no such channel"},
    [SHMQ_EEXIST] = {"SHMQ_EEXIST", "channel already exists"},
    [SHMQ_ETOOBIG] = {"SHMQ_ETOOBIG", "message is larger than the channel's maximum size"},
    [SHMQ_EFULL] = {"SHMQ_EFULL", "channel is full: the slowest reader is a whole ring behind"},
    [SHMQ_EAGAIN] = {"SHMQ_EAGAIN", "no message available now"},
    [SHMQ_ETIMEDOUT] = {"SHMQ_ETIMEDOUT", "timed out"},
    [SHMQ_ENODAEMON] = {"SHMQ_ENODAEMON", "shmqd is not reachable at the socket path"},
    [SHMQ_EVERSION] = {"SHMQ_EVERSION", "library and daemon protocol versions differ"},
    [SHMQ_EPROTO] = {"SHMQ_EPROTO", "malformed message on the control socket"},
    [SHMQ_EPERM] = {"SHMQ_EPERM", "permission denied"},
    [SHMQ_ECORRUPT] = {"SHMQ_ECORRUPT", "shared memory holds invalid data"},
    [SHMQ_ENOMEM] = {"SHMQ_ENOMEM", "out of memory"},
    [SHMQ_ESYS] = {"SHMQ_ESYS", "a system call failed"},
    [SHMQ_EABANDONED] = {"SHMQ_EABANDONED",
			 "the claim was abandoned by the daemon; the message was not published"},
    [SHMQ_EOVERRUN] = {"SHMQ_EOVERRUN", "the message was overwritten by a faster publisher"},
    [SHMQ_ECLOSED] = {"SHMQ_ECLOSED", "the connection to shmqd is closed"},
    [SHMQ_ELIMIT] = {"SHMQ_ELIMIT", "a limit was reached (readers, channels or descriptors)"},
    [SHMQ_EMISMATCH] = {"SHMQ_EMISMATCH", "channel exists with different settings"},
    [SHMQ_ESTATE] = {"SHMQ_ESTATE", "call not valid in the handle's current state"},
    [SHMQ_EBUSY] = {"SHMQ_EBUSY", "the channel takes one publisher at a time, and it has one"},
    [SHMQ_EDELETED] = {"SHMQ_EDELETED", "the channel was deleted"},
    [SHMQ_ECHANQUOTA] = {"SHMQ_ECHANQUOTA",
			 "this user owns as many channels as the daemon allows per user"},
    [SHMQ_ECONNQUOTA] = {"SHMQ_ECONNQUOTA",
			 "this user holds as many connections as the daemon allows per user"},
    [SHMQ_EHANDLEQUOTA] = {"SHMQ_EHANDLEQUOTA",
			   "this user holds as many publishers or subscribers of the channel as "
			   "the daemon allows per user"},
    [SHMQ_ENOTHELD] = {"SHMQ_ENOTHELD", "this group member does not hold that message (never "
					"delivered to it, settled already, or taken by another "
					"member after its ack wait)"},
    [SHMQ_ENOREADER] = {"SHMQ_ENOREADER",
			"no one reads the channel: a request would go unanswered"},
    [SHMQ_EDUPLICATE] = {"SHMQ_EDUPLICATE",
			 "a message with this id was published within the dedupe window"},
    [SHMQ_EPATTERN] = {"SHMQ_EPATTERN", "the subject pattern is malformed"},
    [SHMQ_EFILTER] = {"SHMQ_EFILTER", "the message filter has no terms or a malformed one"},
    [SHMQ_EIO] =
	{"SHMQ_EIO",
	 "the channel's journal failed to write or sync to disk; it takes no more messages"},
};

/* The table index of err or -err; -1 outside the table (also for INT_MIN). */
static int err_index(int err)
{
	if (err > -SHMQ_ERR_COUNT && err < 0)
		return -err;
	return err >= 0 && err < SHMQ_ERR_COUNT ? err : -1;
}

SHMQ_EXPORT const char *shmq_strerror(int err)
{
	int i = err_index(err);

	return i < 0 ? "unknown shmq error" : errs[i].text;
}

SHMQ_EXPORT const char *shmq_errname(int err)
{
	int i = err_index(err);

	return i < 0 ? "SHMQ_E?" : errs[i].name;
}
