"""The exceptions of the shmq package: one class per SHMQ_E... code of
libshmq, all derived from shmq.Error, each carrying the code and the
sentence shmq_strerror() gives for it."""

from ._shmq_cffi import ffi, lib


class Error(Exception):
    """A libshmq call failed. code is the positive SHMQ_E... value, name its
    name ("SHMQ_ENOENT"), and str() the library's sentence for it."""

    code: int = 0

    def __init__(self, code: int, context: str = "") -> None:
        self.code = code
        self.name = ffi.string(lib.shmq_errname(-code)).decode()
        self.message = ffi.string(lib.shmq_strerror(-code)).decode()
        self.context = context
        text = f"{context}: {self.message}" if context else self.message
        super().__init__(f"{text} ({self.name})")


class InvalidArgument(Error, ValueError):
    """SHMQ_EINVAL: an argument is out of range."""


class BadName(Error, ValueError):
    """SHMQ_ENAME: the channel name is not a valid dotted name."""


class NoSuchChannel(Error, LookupError):
    """SHMQ_ENOENT: no channel of that name (or no such header)."""


class ChannelExists(Error):
    """SHMQ_EEXIST: the channel exists already."""


class TooBig(Error, ValueError):
    """SHMQ_ETOOBIG: the message is larger than the channel's maximum."""


class Full(Error):
    """SHMQ_EFULL: a block-policy channel has no space now."""


class Again(Error):
    """SHMQ_EAGAIN: no message is ready now (a receive with timeout 0)."""


class Timeout(Error, TimeoutError):
    """SHMQ_ETIMEDOUT: the call waited its whole timeout."""


class NoDaemon(Error, ConnectionError):
    """SHMQ_ENODAEMON: no shmqd listens at the socket path."""


class VersionMismatch(Error):
    """SHMQ_EVERSION: the library and the daemon speak different versions."""


class ProtocolError(Error):
    """SHMQ_EPROTO: a malformed message on the control socket."""


class PermissionDenied(Error, PermissionError):
    """SHMQ_EPERM: access control denies the operation."""


class Corrupt(Error):
    """SHMQ_ECORRUPT: shared memory holds values no honest peer writes."""


class OutOfMemory(Error, MemoryError):
    """SHMQ_ENOMEM: out of memory."""


class SysError(Error, OSError):
    """SHMQ_ESYS: a system call failed unexpectedly."""


class Abandoned(Error):
    """SHMQ_EABANDONED: the claim was held so long that shmqd gave it up."""


class Overrun(Error):
    """SHMQ_EOVERRUN: drop policy: the record was overwritten while read."""


class Closed(Error, ConnectionError):
    """SHMQ_ECLOSED: the daemon connection is closed."""


class LimitReached(Error):
    """SHMQ_ELIMIT: a daemon or channel limit is reached."""


class Mismatch(Error):
    """SHMQ_EMISMATCH: the channel exists with different settings."""


class BadState(Error):
    """SHMQ_ESTATE: the call is not valid in the handle's current state."""


class Busy(Error):
    """SHMQ_EBUSY: the channel's one exclusive publisher is taken."""


class Deleted(Error):
    """SHMQ_EDELETED: the channel was deleted while the handle was open."""


class ChannelQuota(Error):
    """SHMQ_ECHANQUOTA: this uid owns as many channels as it may."""


class ConnectionQuota(Error):
    """SHMQ_ECONNQUOTA: this uid holds as many connections as it may."""


class HandleQuota(Error):
    """SHMQ_EHANDLEQUOTA: this uid holds as many handles of the channel as it may."""


class NotHeld(Error):
    """SHMQ_ENOTHELD: this group member does not hold that message."""


class NoReader(Error):
    """SHMQ_ENOREADER: a request went to a channel nobody reads."""


class Duplicate(Error):
    """SHMQ_EDUPLICATE: the message id was published within the dedupe window."""


class BadPattern(Error):
    """SHMQ_EPATTERN: the subject pattern is malformed."""


class BadFilter(Error):
    """SHMQ_EFILTER: the message filter has no terms or a malformed one."""


class JournalFailed(Error):
    """SHMQ_EIO: the durable channel's journal failed to write or sync; it takes no more messages."""


BY_CODE: dict[int, type[Error]] = {
    lib.SHMQ_EINVAL: InvalidArgument,
    lib.SHMQ_ENAME: BadName,
    lib.SHMQ_ENOENT: NoSuchChannel,
    lib.SHMQ_EEXIST: ChannelExists,
    lib.SHMQ_ETOOBIG: TooBig,
    lib.SHMQ_EFULL: Full,
    lib.SHMQ_EAGAIN: Again,
    lib.SHMQ_ETIMEDOUT: Timeout,
    lib.SHMQ_ENODAEMON: NoDaemon,
    lib.SHMQ_EVERSION: VersionMismatch,
    lib.SHMQ_EPROTO: ProtocolError,
    lib.SHMQ_EPERM: PermissionDenied,
    lib.SHMQ_ECORRUPT: Corrupt,
    lib.SHMQ_ENOMEM: OutOfMemory,
    lib.SHMQ_ESYS: SysError,
    lib.SHMQ_EABANDONED: Abandoned,
    lib.SHMQ_EOVERRUN: Overrun,
    lib.SHMQ_ECLOSED: Closed,
    lib.SHMQ_ELIMIT: LimitReached,
    lib.SHMQ_EMISMATCH: Mismatch,
    lib.SHMQ_ESTATE: BadState,
    lib.SHMQ_EBUSY: Busy,
    lib.SHMQ_EDELETED: Deleted,
    lib.SHMQ_ECHANQUOTA: ChannelQuota,
    lib.SHMQ_ECONNQUOTA: ConnectionQuota,
    lib.SHMQ_EHANDLEQUOTA: HandleQuota,
    lib.SHMQ_ENOTHELD: NotHeld,
    lib.SHMQ_ENOREADER: NoReader,
    lib.SHMQ_EDUPLICATE: Duplicate,
    lib.SHMQ_EPATTERN: BadPattern,
    lib.SHMQ_EFILTER: BadFilter,
    lib.SHMQ_EIO: JournalFailed,
}

for _code, _cls in BY_CODE.items():
    _cls.code = _code


def error(rc: int, context: str = "") -> Error:
    """The exception for a negative libshmq return code rc."""
    return BY_CODE.get(-rc, Error)(-rc, context)
