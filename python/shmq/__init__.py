"""shmq: the shmq shared-memory message broker from Python.

A thin layer over libshmq (through cffi): messages travel through the
same shared memory as in C, and are read in place.

    import shmq

    with shmq.connect() as c:                 # $SHMQ_SOCKET or the default
        c.create("greetings", policy="block", exist_ok=True)
        with c.subscriber("greetings", start="earliest") as sub, \\
                c.publisher("greetings") as pub:
            pub.publish(b"hello")
            msg = sub.recv(timeout=1.0)
            print(bytes(msg.data), msg.offset)

Beyond one channel: c.subscriber("orders.>") reads every matching
channel, now and later, and sub.set_filter(shmq.KeyEq(b"k")) passes
over what does not match; c.member(channel, group) joins a consumer
group (msg.ack()); c.requester(channel).request(b"...") waits for a
reply, which a responder sends with msg.reply(b"...").

Errors raise a subclass of shmq.Error, one per SHMQ_E... code of the C
library (shmq.NoSuchChannel, shmq.Full, shmq.Timeout, ...).
"""

import pkgutil

# The C module is built into the build tree (build/python/shmq/) while the
# Python files stay in the source tree (python/shmq/): with both folders'
# parents on sys.path, the package spans both.
__path__ = pkgutil.extend_path(__path__, __name__)

from ._errors import (  # noqa: E402
    Abandoned, Again, BadFilter, BadName, BadPattern, BadState, Busy, ChannelExists,
    ChannelQuota, Closed, ConnectionQuota, Corrupt, Deleted, Duplicate, Error, Full, HandleQuota,
    InvalidArgument, JournalFailed, LimitReached, Mismatch, NoDaemon, NoReader, NoSuchChannel, NotHeld,
    OutOfMemory, Overrun, PermissionDenied, ProtocolError, SysError, Timeout, TooBig,
    VersionMismatch)
from ._errors import BY_CODE as ERRORS  # noqa: E402
from ._client import (  # noqa: E402
    ChannelInfo, Claim, Client, MatchedChannel, Message, Policy, Publisher, Publishers, Start,
    Subscriber, Wait, check_pattern, connect, errname, strerror)
from ._filter import (  # noqa: E402
    ContentType, HeaderEq, HeaderHas, KeyEq, KeyHash, KeyPrefix, key_hash)
from ._group import GroupInfo, GroupMessage, Member  # noqa: E402
from ._reqrep import Requester  # noqa: E402
from ._shmq_cffi import lib as _lib  # noqa: E402

BATCH_MAX: int = _lib.SHMQ_BATCH_MAX
MESSAGE_MAX: int = _lib.SHMQ_MESSAGE_MAX
NAME_MAX: int = _lib.SHMQ_NAME_MAX

__all__ = [
    "Abandoned", "Again", "BadFilter", "BadName", "BadPattern", "BadState", "Busy",
    "ChannelExists", "ChannelQuota", "Closed", "ConnectionQuota", "Corrupt", "Deleted",
    "Duplicate", "Error", "Full", "HandleQuota", "InvalidArgument", "JournalFailed", "LimitReached", "Mismatch",
    "NoDaemon", "NoReader", "NoSuchChannel", "NotHeld", "OutOfMemory",
    "Overrun", "PermissionDenied", "ProtocolError", "SysError", "Timeout", "TooBig",
    "VersionMismatch", "ERRORS", "ChannelInfo", "Claim", "Client", "Message", "Policy",
    "Publisher", "Publishers", "Start", "Subscriber", "Wait", "connect", "errname", "strerror",
    "BATCH_MAX", "MESSAGE_MAX", "NAME_MAX", "MatchedChannel", "check_pattern", "ContentType",
    "HeaderEq", "HeaderHas", "KeyEq", "KeyHash", "KeyPrefix", "key_hash", "GroupInfo",
    "GroupMessage", "Member", "Requester",
]
