"""The shmq package's classes over libshmq: Client (one connection to
shmqd), Publisher, Subscriber, Message and Claim. Every call goes to
libshmq through the cffi module shmq._shmq_cffi; this file only turns
arguments into C structures and return codes into exceptions.

Lifetimes: a Message's data is a read-only memoryview into the channel's
shared memory, valid until the next receive on its Subscriber (or its
close). That receive releases the view, so a later use raises ValueError;
if a view derived from it (a slice, a cast, an exporter such as a NumPy
array) is still alive, the receive raises BufferError instead and moves
nothing, so no view ever reads memory the channel has reused. A handle
is used by one thread at a time, as in C.
"""

import asyncio
import enum
import sys
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator, Optional, Union

from . import _errors, _filter
from ._errors import Error, error
from ._shmq_cffi import ffi, lib

if TYPE_CHECKING:  # they import this module
    from ._group import Member
    from ._reqrep import Requester

# A wait without a bound is made of waits of this length, so that signal
# handlers (KeyboardInterrupt) run between them.
_SLICE_NS = 200_000_000
_EAGAIN = -lib.SHMQ_EAGAIN
_ETIMEDOUT = -lib.SHMQ_ETIMEDOUT
# sys.getrefcount() of a buffer that one name alone holds (that name and
# getrefcount's own argument); CPython only.
_REFS_ALONE = 2
_getrefcount = getattr(sys, "getrefcount", None)


class Policy(enum.IntEnum):
    """What a channel does when its slowest reader is a ring behind."""

    DROP = lib.SHMQ_POLICY_DROP
    BLOCK = lib.SHMQ_POLICY_BLOCK


class Publishers(enum.IntEnum):
    """Who may publish to a channel at the same time."""

    MANY = lib.SHMQ_PUBLISHERS_MANY
    ONE = lib.SHMQ_PUBLISHERS_ONE


class Start(enum.IntEnum):
    """Where a new subscriber starts (an int start is an offset)."""

    LATEST = lib.SHMQ_START_LATEST
    EARLIEST = lib.SHMQ_START_EARLIEST


class Wait(enum.IntEnum):
    """How a subscriber waits for a message."""

    SPIN_SLEEP = lib.SHMQ_WAIT_SPIN_SLEEP
    SPIN = lib.SHMQ_WAIT_SPIN
    SLEEP = lib.SHMQ_WAIT_SLEEP
    EVENTFD = lib.SHMQ_WAIT_EVENTFD


def _enum(cls, value, what: str) -> int:
    if isinstance(value, str):
        try:
            return cls[value.upper()]
        except KeyError:
            names = ", ".join(m.name.lower() for m in cls)
            raise _errors.InvalidArgument(lib.SHMQ_EINVAL, f"{what} {value!r} is none of {names}")
    return cls(value)


def _check(rc: int, context: str = "") -> int:
    if rc < 0:
        raise error(rc, context)
    return rc


def _timeout_ns(timeout: Optional[float]) -> int:
    """Seconds (None: forever) as libshmq's timeout_ns."""
    if timeout is None:
        return -1
    if timeout < 0:
        raise _errors.InvalidArgument(lib.SHMQ_EINVAL, f"timeout {timeout} is negative")
    return int(timeout * 1e9)


def _call_waiting(fn, timeout: Optional[float], *args) -> int:
    """fn(*args, timeout_ns) in slices of at most _SLICE_NS, so that signals
    are handled while it waits; its last return code."""
    ns = _timeout_ns(timeout)
    if ns >= 0 and ns <= _SLICE_NS:
        return fn(*args, ns)
    rc = fn(*args, _SLICE_NS)
    while rc == _ETIMEDOUT:
        if ns >= 0:
            ns -= _SLICE_NS
            if ns <= 0:
                break
        rc = fn(*args, min(ns, _SLICE_NS) if ns >= 0 else _SLICE_NS)
    return rc


def _set_start(o, start) -> None:
    """o.start (and o.offset) of a sub or group options struct from a Start,
    its name, or an offset (SHMQ_START_OFFSET)."""
    if isinstance(start, int) and not isinstance(start, Start):
        if start < 0:
            raise _errors.InvalidArgument(lib.SHMQ_EINVAL, f"start offset {start} is negative")
        o.start, o.offset = lib.SHMQ_START_OFFSET, start
    else:
        o.start = _enum(Start, start, "start")


def _recv_msg(fn, h, timeout: Optional[float]):
    """A new shmq_msg filled by fn(h, msg, timeout_ns): a look first, then a
    wait in slices (_call_waiting) unless timeout is 0. (return code, msg)."""
    m = _new(_MSG_T)
    rc = fn(h, m, 0)
    if rc == _EAGAIN and timeout != 0:
        rc = _call_waiting(fn, timeout, h, m)
    return rc, m


def _size(value: Union[int, str, None], what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        out = ffi.new("uint64_t *")
        _check(lib.shmq_size_parse(value.encode(), out), f"{what} {value!r}")
        return out[0]
    if value < 0:
        raise _errors.InvalidArgument(lib.SHMQ_EINVAL, f"{what} {value} is negative")
    return value


def _in_use(what: str, exported: bool) -> BufferError:
    if exported:
        return BufferError(f"{what} is still exported (a NumPy array or similar holds "
                           "its view): drop that, or copy with bytes() first")
    return BufferError(f"a view derived from {what} (a slice or cast) is still alive: "
                       "drop it, or copy with bytes() first")


def _release_view(view: memoryview, buf, what: str) -> None:
    """Release view, made over buf; BufferError if another view of buf lives on."""
    try:
        view.release()
    except BufferError:
        raise _in_use(what, True) from None
    # buf's references: the owner's attribute, this argument, getrefcount's
    # argument, and one more while any view derived from view is alive
    if _getrefcount is not None and _getrefcount(buf) > _REFS_ALONE + 1:
        raise _in_use(what, False)


@dataclass(frozen=True)
class ChannelInfo:
    """One channel as shmqd describes it (Client.info(), Client.channels())."""

    name: str
    policy: Policy
    capacity: int
    max_message: int
    readers: int
    oldest: int
    tail: int
    publishers: Publishers
    publishers_open: int
    numa_node: int
    flags: int

    @classmethod
    def _from_c(cls, c) -> "ChannelInfo":
        return cls(ffi.string(c.name).decode(), Policy(c.policy), c.capacity_bytes,
                   c.max_message_bytes, c.readers, c.oldest, c.tail, Publishers(c.publishers),
                   c.publishers_open, c.numa_node, c.flags)


class _MsgOpts:
    """A struct shmq_msg_opts and the C objects its pointers point to."""

    __slots__ = ("c", "_keep")

    def __init__(self, key, msg_id, corr_id, reply_to, content_type, headers, deliver_at_ns,
                 expiry_ns):
        c = self.c = ffi.new("struct shmq_msg_opts *")
        keep = self._keep = []
        f = 0
        if key is not None:
            if isinstance(key, str):
                key = key.encode()
            k = ffi.from_buffer(key)
            keep.append(k)
            c.key, c.key_len, f = k, len(k), f | lib.SHMQ_F_KEY
        if msg_id is not None:
            c.msg_id, f = msg_id, f | lib.SHMQ_F_MSG_ID
        if corr_id is not None:
            c.corr_id, f = corr_id, f | lib.SHMQ_F_CORR_ID
        if deliver_at_ns is not None:
            c.deliver_at_ns, f = deliver_at_ns, f | lib.SHMQ_F_DELIVER_AT
        if expiry_ns is not None:
            c.expiry_ns, f = expiry_ns, f | lib.SHMQ_F_EXPIRY
        if reply_to is not None:
            s = ffi.new("char[]", reply_to.encode())
            keep.append(s)
            c.reply_to, f = s, f | lib.SHMQ_F_REPLY_TO
        if content_type is not None:
            s = ffi.new("char[]", content_type.encode())
            keep.append(s)
            c.content_type, f = s, f | lib.SHMQ_F_CONTENT_TYPE
        if headers:
            self._headers(headers)
            f |= lib.SHMQ_F_HEADERS
        c.fields = f

    def _headers(self, headers) -> None:
        items = list(headers.items() if isinstance(headers, dict) else headers)
        arr = ffi.new("struct shmq_header[]", len(items))
        self._keep.append(arr)
        for i, (name, value) in enumerate(items):
            n = ffi.from_buffer(name.encode())
            v = ffi.from_buffer(value.encode() if isinstance(value, str) else value)
            self._keep += (n, v)
            arr[i].name, arr[i].name_len = ffi.cast("const char *", n), len(n)
            arr[i].value, arr[i].value_len = v, len(v)
        self.c.headers, self.c.nheaders = arr, len(items)


def _msg_opts(fields: dict) -> Optional[_MsgOpts]:
    if not fields:
        return None
    bad = set(fields) - _FIELD_NAMES
    if bad:
        raise TypeError(f"unknown header field(s): {', '.join(sorted(bad))}")
    return _MsgOpts(**{n: fields.get(n) for n in _FIELD_ORDER})


_FIELD_ORDER = ("key", "msg_id", "corr_id", "reply_to", "content_type", "headers",
                "deliver_at_ns", "expiry_ns")
_FIELD_NAMES = frozenset(_FIELD_ORDER)


_MSG_T = ffi.typeof("struct shmq_msg *")
_from_buffer = ffi.from_buffer
_publish = lib.shmq_publish
_new = ffi.new
_buffer = ffi.buffer
_recv = lib.shmq_recv
_MSG_FIELDS = lib.SHMQ_MSG_FIELDS


class Message:
    """A received message. data is a read-only memoryview into shared memory,
    valid until the next receive on the subscriber (bytes(msg.data) keeps a
    copy; a group member's message: until it is settled). offset,
    timestamp_ns, lost, size, flags, channel, deliveries and the header
    fields (key, msg_id, corr_id, reply_to, content_type, headers,
    deliver_at_ns, expiry_ns, key_hash; None when absent) stay valid
    after that."""

    # _sub: the handle that received it (a Subscriber, a group Member or a
    # Requester), None once the view is released; _held: set only while a
    # view derived from data holds a receive back
    __slots__ = ("_sub", "_m", "_view", "_fields", "_held", "channel")

    def __init__(self, sub, m, channel: str) -> None:
        self._sub = sub
        self._m = m  # this message's own struct shmq_msg
        self._view = None
        self._fields = _read_fields(m) if m.flags & _MSG_FIELDS else _NO_FIELDS
        self.channel = channel  # the channel it came from (pattern handles: one of many)

    @property
    def data(self) -> memoryview:
        """The payload in place: read-only, valid until the next receive."""
        view = self._view
        if view is None:
            if self._sub is None:
                raise ValueError(f"message {self.offset} was released by a later receive: "
                                 "copy its data with bytes(msg.data) before that")
            m = self._m
            view = self._view = memoryview(_buffer(m.data, m.len)).toreadonly()
        return view

    offset = property(lambda self: self._m.offset,
                      doc="The message's position in the channel: dense, never reused.")
    timestamp_ns = property(lambda self: self._m.timestamp_ns,
                            doc="CLOCK_REALTIME at commit (0 on channels without timestamps).")
    lost = property(lambda self: self._m.lost,
                    doc="Messages lost just before this one (overrun or dead publisher).")
    deliveries = property(lambda self: self._m.deliveries,
                          doc="Group members: 1 the first time, more when delivered again; "
                          "else 0.")
    size = property(lambda self: self._m.len, doc="Payload bytes.")
    flags = property(lambda self: self._m.flags, doc="SHMQ_MSG_* flags.")
    key = property(lambda self: self._fields.get("key"), doc="Key bytes, or None.")
    key_hash = property(lambda self: self._fields.get("key_hash"), doc="The key's 32-bit hash.")
    msg_id = property(lambda self: self._fields.get("msg_id"), doc="Message id, or None.")
    corr_id = property(lambda self: self._fields.get("corr_id"), doc="Correlation id, or None.")
    reply_to = property(lambda self: self._fields.get("reply_to"), doc="Reply channel, or None.")
    content_type = property(lambda self: self._fields.get("content_type"),
                            doc="Content type, or None.")
    headers = property(lambda self: self._fields.get("headers"),
                       doc="User headers as a list of (name, value bytes), or None.")
    deliver_at_ns = property(lambda self: self._fields.get("deliver_at_ns"),
                             doc="Deliver-at time (CLOCK_REALTIME ns), or None.")
    expiry_ns = property(lambda self: self._fields.get("expiry_ns"),
                         doc="Expiry time (CLOCK_REALTIME ns), or None.")

    @property
    def batch(self) -> bool:
        """True for the first message of an atomic batch."""
        return bool(self._m.flags & lib.SHMQ_MSG_BATCH)

    def verify(self) -> None:
        """Raise shmq.Overrun if a publisher overwrote this message since it
        was received (drop-policy channels); call it after reading data."""
        sub = self._sub
        if sub is None:
            raise ValueError(f"message {self.offset} was released by a later receive")
        _check(sub._verify(self._m), f"message {self.offset}")

    def reply(self, data, **fields) -> None:
        """Reply to this request (a message with reply_to) with data, into
        its requester's inbox, with this message's corr_id; header fields
        as in Publisher.publish(). Never waits for the requester. See
        Client.reply()."""
        sub = self._sub
        if sub is None:
            raise ValueError(f"message {self.offset} was released by a later receive: "
                             "reply before that")
        sub.client.reply(self, data, **fields)

    def _release(self) -> None:
        view = self._view
        if view is not None:
            try:
                buf = view.obj
            except ValueError:  # released by an attempt that a derived view held back
                buf, self._held = self._held, None
            try:
                view.release()
            except BufferError:
                raise _in_use(f"message {self.offset}", True) from None
            # buf's references: this local, getrefcount's argument, and
            # one more while a view derived from data is alive
            if _getrefcount is not None and _getrefcount(buf) > _REFS_ALONE:
                self._held = buf
                raise _in_use(f"message {self.offset}", False)
        self._sub = None

    def __bytes__(self) -> bytes:
        return bytes(self.data)

    def __len__(self) -> int:
        return self._m.len

    def __repr__(self) -> str:
        return f"<shmq.Message {self.channel!r} offset={self.offset} size={self.size}>"


_NO_FIELDS: dict = {}


def _read_fields(m) -> dict:
    """A message's header fields, copied out of its record."""
    f = _new("struct shmq_msg_fields *")
    _check(lib.shmq_msg_fields(m, f), f"header fields of message {m.offset}")
    present = f.fields
    out = {}
    if present & lib.SHMQ_F_KEY:
        out["key"] = ffi.unpack(ffi.cast("const char *", f.key), f.key_len)
        out["key_hash"] = f.key_hash
    if present & lib.SHMQ_F_MSG_ID:
        out["msg_id"] = f.msg_id
    if present & lib.SHMQ_F_CORR_ID:
        out["corr_id"] = f.corr_id
    if present & lib.SHMQ_F_DELIVER_AT:
        out["deliver_at_ns"] = f.deliver_at_ns
    if present & lib.SHMQ_F_EXPIRY:
        out["expiry_ns"] = f.expiry_ns
    if present & lib.SHMQ_F_REPLY_TO:
        out["reply_to"] = ffi.unpack(f.reply_to, f.reply_to_len).decode(errors="replace")
    if present & lib.SHMQ_F_CONTENT_TYPE:
        out["content_type"] = ffi.unpack(f.content_type,
                                         f.content_type_len).decode(errors="replace")
    if present & lib.SHMQ_F_HEADERS:
        out["headers"] = _read_headers(m, f.nheaders)
    return out


def _read_headers(m, n: int) -> list:
    h = _new("struct shmq_header *")
    out = []
    for i in range(n):
        _check(lib.shmq_msg_header(m, i, h), f"header {i} of message {m.offset}")
        name = ffi.unpack(h.name, h.name_len).decode(errors="replace")
        out.append((name, ffi.unpack(ffi.cast("const char *", h.value), h.value_len)))
    return out


class _Handle:
    """What publishers and subscribers share: an owner client and close()."""

    _handle = None
    _what = "handle"

    def __init__(self, client: "Client", name: str) -> None:
        self.client = client
        self.name = name

    def _h(self):
        h = self._handle
        if h is None:
            raise ValueError(f"{self._what} of {self.name!r} is closed")
        return h

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except BufferError:
            # a view still points into the mapping: keep it mapped (leak)
            pass


class Claim:
    """Space claimed in a channel's ring: write the message into data (a
    writable memoryview of the size claimed), then commit() it, or use it
    as a context manager, which commits the whole size on success and
    aborts on an exception. offset is the offset the message gets."""

    __slots__ = ("_pub", "_c", "_buf", "data", "offset", "size")

    def __init__(self, pub: "Publisher", c) -> None:
        self._pub = pub
        self._c = c
        self.size = c.capacity
        self.offset = c.offset
        self._buf = ffi.buffer(c.data, c.capacity)
        self.data = memoryview(self._buf)

    def _finish(self):
        pub = self._pub
        if pub is None:
            raise ValueError(f"claim at offset {self.offset} was committed or aborted")
        _release_view(self.data, self._buf, f"the claim at offset {self.offset}")
        self._pub = self._buf = None
        pub._claim = None
        return pub

    def commit(self, length: Optional[int] = None) -> int:
        """Publish the first length bytes (default: all claimed); the offset."""
        n = self.size if length is None else length
        if not 0 <= n <= self.size:
            raise _errors.InvalidArgument(lib.SHMQ_EINVAL,
                                          f"commit of {n} bytes into a claim of {self.size}")
        pub = self._finish()
        _check(lib.shmq_pub_commit(pub._h(), self._c, n), f"commit to {pub.name!r}")
        return self.offset

    def abort(self) -> None:
        """Give the claim up; readers count the message as lost."""
        pub = self._finish()
        _check(lib.shmq_pub_abort(pub._h(), self._c), f"abort on {pub.name!r}")

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._pub is None:
            return
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class Publisher(_Handle):
    """A handle that publishes to one channel (Client.publisher())."""

    _what = "publisher"

    def __init__(self, client: "Client", name: str, handle) -> None:
        super().__init__(client, name)
        self._handle = handle
        self._claim = None
        self._off = ffi.new("uint64_t *")
        self._bufs = None

    @property
    def max_message(self) -> int:
        """The largest payload the channel accepts."""
        return lib.shmq_pub_max_message(self._h())

    def publish(self, data, *, timeout: Optional[float] = None, **fields) -> int:
        """Copy data (any bytes-like object) into the channel as one message
        and return its offset. timeout: seconds to wait for space on a
        block-policy channel (None: as long as it takes, 0: raise shmq.Full
        at once). Header fields as keywords: key, msg_id, corr_id, reply_to,
        content_type, headers (a dict or (name, value) pairs),
        deliver_at_ns, expiry_ns."""
        h = self._handle
        if h is None:
            raise ValueError(f"publisher of {self.name!r} is closed")
        buf = _from_buffer(data)
        off = self._off
        if fields:
            o = _msg_opts(fields)
            rc = _call_waiting(_publish_opts, timeout, h, buf, len(buf), (o.c, off))
        elif timeout is None:
            rc = _publish(h, buf, len(buf), _SLICE_NS, off)
            while rc == _ETIMEDOUT:
                rc = _publish(h, buf, len(buf), _SLICE_NS, off)
        else:
            rc = _call_waiting(_publish_plain, timeout, h, buf, len(buf), off)
        if rc:
            raise error(rc, f"publish to {self.name!r}")
        return off[0]

    def publish_many(self, messages: Iterable, *, timeout: Optional[float] = None) -> int:
        """Publish the messages (bytes-like objects, at most 1024) as one
        atomic batch: readers see all of them or none. Returns the offset
        of the first; the rest follow it."""
        keep = [ffi.from_buffer(m) for m in messages]
        n = len(keep)
        bufs = self._bufs
        if bufs is None or len(bufs) < n:
            bufs = self._bufs = ffi.new("struct shmq_buf[]", max(n, 64))
        for i, b in enumerate(keep):
            bufs[i].data = b
            bufs[i].len = len(b)
        h = self._h()
        rc = _call_waiting(_publishv, timeout, h, bufs, n, self._off)
        _check(rc, f"publish {n} messages to {self.name!r}")
        return self._off[0]

    def claim(self, size: int, *, timeout: Optional[float] = None, **fields) -> Claim:
        """Claim space for a message of up to size bytes, to write in place:

            with pub.claim(64) as c:
                c.data[:5] = b"hello"
                c.commit(5)       # or leave the block: commits all 64

        Header fields as in publish(). One open claim per publisher."""
        h = self._h()
        if self._claim is not None:
            raise _errors.BadState(lib.SHMQ_ESTATE, f"{self.name!r} has an open claim")
        c = ffi.new("struct shmq_claim *")
        o = _msg_opts(fields)
        if o is None:
            rc = _call_waiting(_claim_plain, timeout, h, size, c)
        else:
            rc = _call_waiting(_claim_opts, timeout, h, size, (o.c, c))
        _check(rc, f"claim {size} bytes of {self.name!r}")
        claim = self._claim = Claim(self, c)
        return claim

    def close(self) -> None:
        """Close the handle; an open claim is abandoned."""
        if self._handle is None:
            return
        if self._claim is not None:
            claim, self._claim = self._claim, None
            _release_view(claim.data, claim._buf, f"the claim at offset {claim.offset}")
            claim._pub = None
        h, self._handle = self._handle, None
        lib.shmq_pub_close(h)
        self.client._handles.discard(self)


def _publish_plain(h, buf, n, off, ns):
    return lib.shmq_publish(h, buf, n, ns, off)


def _publish_opts(h, buf, n, oc, ns):
    return lib.shmq_publish_opts(h, buf, n, oc[0], ns, oc[1])


def _publishv(h, bufs, n, off, ns):
    return lib.shmq_publishv(h, bufs, n, ns, off)


def _claim_plain(h, size, c, ns):
    return lib.shmq_pub_claim(h, size, c, ns)


def _claim_opts(h, size, oc, ns):
    return lib.shmq_pub_claim_opts(h, size, oc[0], oc[1], ns)


@dataclass(frozen=True)
class MatchedChannel:
    """One channel of a pattern subscriber (Subscriber.channels): its name,
    whether it was deleted and all its messages read (ended), and its own
    counters (as Subscriber.stats)."""

    name: str
    ended: bool
    stats: dict


def _counts(c) -> dict:
    return {"received": c.received, "lost_overrun": c.lost_overrun,
            "lost_abandoned": c.lost_abandoned, "filtered": c.filtered,
            "unopened": c.unopened, "expired": c.expired}


class Subscriber(_Handle):
    """A handle with its own cursor on one channel, or on every channel a
    pattern matches (Client.subscriber()). Iterate over it for every
    message (for msg in sub: ...), or with asyncio (async for msg in
    sub: ..., needs wait="eventfd" on one channel; a pattern subscriber
    always has its descriptor)."""

    _what = "subscriber"

    def __init__(self, client: "Client", name: str, handle, pattern: bool = False) -> None:
        super().__init__(client, name)
        self._handle = handle
        self._current: Optional[Message] = None
        # pattern handles: the channel names by index (msg.channel), as met
        self._names: Optional[dict] = {} if pattern else None

    @property
    def pattern(self) -> bool:
        """True for a pattern subscriber (its name is a subject pattern)."""
        return self._names is not None

    def _channel(self, index: int) -> str:
        names = self._names
        name = names.get(index)
        if name is None:
            c = ffi.new("struct shmq_sub_channel *")
            _check(lib.shmq_sub_channel(self._h(), index, c), f"channel {index} of {self.name!r}")
            name = names[index] = ffi.string(c.name).decode()
        return name

    def _verify(self, m) -> int:
        return lib.shmq_msg_verify(self._h(), m)

    def _release(self) -> None:
        cur = self._current
        if cur is not None:
            cur._release()
            self._current = None

    def recv(self, timeout: Optional[float] = None) -> Message:
        """The next message. timeout in seconds: None waits as long as it
        takes, 0 raises shmq.Again at once when none is ready, else
        shmq.Timeout after that long. Releases the previous message's data."""
        h = self._handle
        if h is None:
            raise ValueError(f"subscriber of {self.name!r} is closed")
        cur = self._current
        if cur is not None:
            cur._release()
            self._current = None
        rc, m = _recv_msg(_recv, h, timeout)
        if rc:
            raise error(rc, f"receive from {self.name!r}")
        names = self._names
        msg = self._current = Message(self, m, self.name if names is None else
                                      names.get(m.channel) or self._channel(m.channel))
        return msg

    def __iter__(self) -> Iterator[Message]:
        return self

    __next__ = recv

    def iter(self, timeout: Optional[float] = None) -> Iterator[Message]:
        """Messages until none arrives within timeout seconds (None: never
        stops)."""
        while True:
            try:
                msg = self.recv(timeout)
            except (_errors.Timeout, _errors.Again):
                return
            yield msg

    def fileno(self) -> int:
        """The descriptor that becomes readable when a message arrives
        (wait="eventfd" only, else shmq.BadState). Poll it; never read it."""
        return _check(lib.shmq_sub_fd(self._h()), f"descriptor of {self.name!r}")

    async def recv_async(self) -> Message:
        """The next message, awaiting the subscriber's descriptor in the
        running event loop (loop.add_reader) while none is ready."""
        h = self._h()
        if self._current is not None:
            self._release()
        m = _new(_MSG_T)
        rc = _recv(h, m, 0)
        while rc == _EAGAIN:
            await self._readable()
            rc = _recv(self._h(), m, 0)
        if rc:
            raise error(rc, f"receive from {self.name!r}")
        names = self._names
        msg = self._current = Message(self, m, self.name if names is None else
                                      names.get(m.channel) or self._channel(m.channel))
        return msg

    async def _readable(self) -> None:
        fd = lib.shmq_sub_fd(self._handle)
        if fd < 0:
            raise error(fd, f"asyncio on {self.name!r} needs a subscriber opened "
                        "with wait='eventfd'")
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def ready():
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(fd, ready)
        try:
            await fut
        finally:
            loop.remove_reader(fd)

    def __aiter__(self) -> "Subscriber":
        return self

    async def __anext__(self) -> Message:
        return await self.recv_async()

    @property
    def position(self) -> int:
        """The offset the next receive looks at (0 for a pattern subscriber:
        its offsets are per channel)."""
        return lib.shmq_sub_position(self._h())

    @property
    def stats(self) -> dict:
        """Counters since it opened: received, lost_overrun, lost_abandoned,
        filtered (passed over by the filter, never lost), unopened (pattern
        subscribers: matching channels it could not open) and expired
        (skipped past their expiry_ns, never lost)."""
        c = ffi.new("struct shmq_sub_counts *")
        lib.shmq_sub_counts(self._h(), c)
        return _counts(c)

    @property
    def channels(self) -> list:
        """A pattern subscriber's channels, in the order it met them, as
        MatchedChannel (a deleted one stays, ended); shmq.BadState for a
        subscriber of one channel."""
        h = self._h()
        if self._names is None:
            raise _errors.BadState(lib.SHMQ_ESTATE, f"{self.name!r} is no pattern subscriber")
        c = ffi.new("struct shmq_sub_channel *")
        out = []
        for i in range(lib.shmq_sub_channels(h)):
            _check(lib.shmq_sub_channel(h, i, c), f"channel {i} of {self.name!r}")
            name = self._names.setdefault(i, ffi.string(c.name).decode())
            out.append(MatchedChannel(name, bool(c.ended), _counts(c.st)))
        return out

    def set_filter(self, *terms, match: str = "all") -> None:
        """Deliver only the messages that pass the filter terms (shmq.KeyEq,
        KeyPrefix, KeyHash, HeaderEq, HeaderHas, ContentType; up to 16):
        all of them (match="all") or any one (match="any"). The others
        move the cursor on and count as filtered, never as lost. The terms
        are tested on the record in place, before any copy. set_filter(None)
        removes the filter; shmq.BadFilter for no terms, too many, or a
        value out of range. On a pattern subscriber it applies to every
        channel, now and later."""
        h = self._h()
        if terms == (None,):
            _check(lib.shmq_sub_set_filter(h, ffi.NULL), f"filter of {self.name!r}")
            return
        f = _filter.make(terms, match)
        _check(lib.shmq_sub_set_filter(h, f.c), f"filter of {self.name!r}")

    @property
    def deliver_expired(self) -> bool:
        """False (the default): messages past their expiry_ns are skipped
        and counted in stats["expired"]; True delivers them too."""
        self._h()
        return self._expired

    @deliver_expired.setter
    def deliver_expired(self, on: bool) -> None:
        _check(lib.shmq_sub_deliver_expired(self._h(), 1 if on else 0),
               f"deliver_expired of {self.name!r}")
        self._expired = bool(on)

    _expired = False

    def skip(self) -> int:
        """Move past what the cursor stands on (after shmq.Corrupt) to the
        next record boundary it can trust; the number of messages passed."""
        h = self._h()
        self._release()
        lost = ffi.new("uint64_t *")
        _check(lib.shmq_sub_skip(h, lost), f"skip on {self.name!r}")
        return lost[0]

    def close(self) -> None:
        """Close the handle and release its cursor. BufferError (and the
        handle stays open) while a view of its message is still alive."""
        if self._handle is None:
            return
        self._release()
        h, self._handle = self._handle, None
        lib.shmq_sub_close(h)
        self.client._handles.discard(self)


class Client:
    """A connection to shmqd (shmq.connect()). Use it as a context manager,
    or close() it: that closes the publishers and subscribers it opened."""

    _c = None

    def __init__(self, socket: Optional[str] = None, timeout: Optional[float] = None) -> None:
        out = ffi.new("struct shmq_client **")
        path = socket.encode() if socket is not None else ffi.NULL
        where = socket if socket is not None else "the default socket"
        if timeout is None:
            rc = lib.shmq_connect(path, out)
        else:
            rc = lib.shmq_connect_timeout(path, _timeout_ns(timeout), out)
        _check(rc, f"connect to {where}")
        self._c = out[0]
        self._handles: "weakref.WeakSet[_Handle]" = weakref.WeakSet()

    def _h(self):
        if self._c is None:
            raise ValueError("the shmq client is closed")
        return self._c

    @property
    def connected(self) -> bool:
        """True while the daemon is connected (False while it restarts)."""
        return _check(lib.shmq_client_connected(self._h())) == 1

    def create(self, name: str, *, capacity: Union[int, str, None] = None,
               max_message: Union[int, str, None] = None,
               policy: Union[Policy, str] = Policy.DROP,
               publishers: Union[Publishers, str] = Publishers.MANY,
               timestamps: bool = True, exist_ok: bool = False) -> None:
        """Create a channel. capacity: ring bytes (an int or "4M"; default
        4 MiB), max_message: largest payload (default 4096), policy:
        "drop" or "block", publishers: "many" or "one". shmq.ChannelExists
        if it exists, unless exist_ok."""
        o = ffi.new("struct shmq_channel_opts *")
        o.capacity_bytes = _size(capacity, "capacity")
        o.max_message_bytes = _size(max_message, "max_message")
        o.policy = _enum(Policy, policy, "policy")
        o.publishers = _enum(Publishers, publishers, "publishers")
        o.flags = 0 if timestamps else lib.SHMQ_CHAN_NO_TIMESTAMP
        rc = lib.shmq_channel_create(self._h(), name.encode(), o)
        if rc == -lib.SHMQ_EEXIST and exist_ok:
            return
        _check(rc, f"create {name!r}")

    def delete(self, name: str) -> None:
        """Delete a channel (handles already open keep their mapping)."""
        _check(lib.shmq_channel_delete(self._h(), name.encode()), f"delete {name!r}")

    def info(self, name: str) -> ChannelInfo:
        """Describe one channel (shmq.NoSuchChannel if there is none)."""
        out = ffi.new("struct shmq_channel_info *")
        _check(lib.shmq_channel_info(self._h(), name.encode(), out), f"info on {name!r}")
        return ChannelInfo._from_c(out)

    def channels(self) -> list:
        """Every channel the caller may see, as ChannelInfo."""
        n = 64
        while True:
            rows = ffi.new("struct shmq_channel_info[]", n)
            total = _check(lib.shmq_channel_list(self._h(), rows, n), "list channels")
            if total <= n:
                return [ChannelInfo._from_c(rows[i]) for i in range(total)]
            n = total + 16

    def publisher(self, name: str) -> Publisher:
        """Open the channel name for publishing."""
        out = ffi.new("struct shmq_pub **")
        _check(lib.shmq_pub_open(self._h(), name.encode(), ffi.NULL, out),
               f"publisher of {name!r}")
        p = Publisher(self, name, out[0])
        self._handles.add(p)
        return p

    def subscriber(self, name: str, *, start: Union[Start, str, int] = Start.LATEST,
                   wait: Union[Wait, str] = Wait.SPIN_SLEEP,
                   spin_ns: Optional[int] = None, pattern: Optional[bool] = None,
                   filter=None, match: str = "all",
                   deliver_expired: bool = False) -> Subscriber:
        """Open a subscriber with its own cursor. start: "latest" (only what
        is published from now on), "earliest" (the oldest retained message)
        or an int offset. wait: "spin_sleep" (default), "spin", "sleep" or
        "eventfd" (for asyncio and select loops).

        A name with * or > is a subject pattern ("orders.*.created",
        "orders.>"; pattern=True makes any name one): the subscriber reads
        every matching channel it may read, those that exist now (from
        start) and those created while it is open, and msg.channel names
        each message's channel; order and loss are per channel.

        filter: a term or a list of terms, as Subscriber.set_filter() takes
        them with match; deliver_expired as the attribute of that name."""
        if pattern is None:
            pattern = "*" in name or ">" in name
        o = self._sub_opts(start, wait, spin_ns)
        out = ffi.new("struct shmq_sub **")
        if pattern:
            rc = lib.shmq_sub_open_pattern(self._h(), name.encode(), o, out)
        else:
            rc = lib.shmq_sub_open(self._h(), name.encode(), o, out)
        _check(rc, f"subscriber of {name!r}")
        s = Subscriber(self, name, out[0], pattern)
        self._handles.add(s)
        try:
            if filter is not None:
                terms = filter if isinstance(filter, (list, tuple)) else (filter,)
                s.set_filter(*terms, match=match)
            if deliver_expired:
                s.deliver_expired = True
        except BaseException:
            s.close()
            raise
        return s

    def _sub_opts(self, start, wait, spin_ns):
        o = ffi.new("struct shmq_sub_opts *")
        _set_start(o, start)
        o.wait = _enum(Wait, wait, "wait")
        o.spin_ns = spin_ns or 0
        return o

    def match(self, pattern: str) -> list:
        """The channels whose names match a subject pattern that the caller
        may see, as ChannelInfo (shmq.BadPattern for a malformed one)."""
        p = pattern.encode()
        n = 64
        while True:
            rows = ffi.new("struct shmq_channel_info[]", n)
            total = _check(lib.shmq_channel_match(self._h(), p, rows, n), f"match {pattern!r}")
            if total <= n:
                return [ChannelInfo._from_c(rows[i]) for i in range(total)]
            n = total + 16

    def member(self, channel: str, group: str, **opts) -> "Member":
        """Join the consumer group named group of channel as a new member:
        each message of the channel goes to one member of the group, which
        settles it (ack, nack, term). Keywords: create, start, ack_wait,
        max_deliver, max_pending, dlq, noack, wait, as shmq.Member
        describes them."""
        from ._group import Member

        m = Member._open(self, channel, group, **opts)
        self._handles.add(m)
        return m

    def groups(self, channel: str, group: Optional[str] = None) -> list:
        """The consumer groups of channel (or the one named group), as GroupInfo."""
        from ._group import group_info

        return group_info(self, channel, group)

    def delete_group(self, channel: str, group: str) -> None:
        """Delete a group that no member is in (shmq.Busy otherwise)."""
        _check(lib.shmq_group_delete(self._h(), channel.encode(), group.encode()),
               f"delete group {group!r} of {channel!r}")

    def requester(self, channel: str) -> "Requester":
        """Open a requester of channel: requests published there carry an
        inbox that shmqd makes for this requester, where their replies
        come back (shmq.Requester)."""
        from ._reqrep import Requester

        r = Requester._open(self, channel)
        self._handles.add(r)
        return r

    def reply(self, request: Message, data, **fields) -> None:
        """Reply to request (a Message with reply_to, from any handle, its
        data not yet released) with data, carrying the request's corr_id,
        into the inbox reply_to names. Header fields as in
        Publisher.publish(). Never waits for the requester (inboxes drop
        their oldest replies when full): shmq.InvalidArgument if request
        has no reply_to, shmq.NoSuchChannel if its requester is gone."""
        if request._sub is None:
            raise ValueError(f"message {request.offset} was released by a later receive: "
                             "reply before that")
        buf = _from_buffer(data)
        o = _msg_opts(fields)
        rc = lib.shmq_reply(self._h(), request._m, buf, len(buf), ffi.NULL if o is None else o.c)
        _check(rc, f"reply to message {request.offset} of {request.channel!r}")

    def close(self) -> None:
        """Close every handle this client opened, then the connection."""
        if self._c is None:
            return
        for h in list(self._handles):
            h.close()
        c, self._c = self._c, None
        lib.shmq_disconnect(c)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except BufferError:
            pass


def connect(socket: Optional[str] = None, timeout: Optional[float] = None) -> Client:
    """Connect to shmqd at socket (None: $SHMQ_SOCKET or the default path).
    timeout bounds every answer of the daemon, in seconds (None: no bound).
    Raises shmq.NoDaemon when nobody listens there."""
    return Client(socket, timeout)


def check_pattern(pattern: str) -> None:
    """Raise shmq.BadPattern unless pattern is a valid subject pattern
    (tokens joined by dots; * one token, > one or more trailing ones)."""
    _check(lib.shmq_pattern_check(pattern.encode()), f"pattern {pattern!r}")


def strerror(code: int) -> str:
    """libshmq's sentence for a SHMQ_E... code (either sign)."""
    return ffi.string(lib.shmq_strerror(code)).decode()


def errname(code: int) -> str:
    """The name of a SHMQ_E... code, such as "SHMQ_ENOENT"."""
    return ffi.string(lib.shmq_errname(code)).decode()


__all__ = ["Client", "Publisher", "Subscriber", "Message", "Claim", "ChannelInfo", "Policy",
           "Publishers", "Start", "Wait", "MatchedChannel", "connect", "check_pattern",
           "strerror", "errname", "Error"]
