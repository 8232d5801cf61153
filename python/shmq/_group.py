"""Consumer groups from Python (Client.member()): a Member takes messages
from its group's shared cursor (shmq_group_recv()) and settles them by
offset (shmq_ack(), shmq_nack(), shmq_term(), shmq_touch()).

Lifetimes: a member may hold many messages at once. Each one's data is a
read-only view into the ring, valid until this member settles it (ack,
nack, term), closes, or, with noack, receives again (libshmq acks it
then). Settling releases the view first: a view derived from it that is
still alive makes the settle raise BufferError and settle nothing, so
no view ever reads memory the ring has reused. A member is used by one
thread at a time, as in C.
"""

import math
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Union

from . import _errors
from ._client import (Message, Start, Wait, _check, _enum, _Handle, _recv_msg, _set_start,
                      _timeout_ns, error)
from ._shmq_cffi import ffi, lib

_U32_MAX = (1 << 32) - 1


class GroupMessage(Message):
    """A message a group member holds: a Message that the member settles
    with ack(), nack(), term() or touch(); deliveries says how often it
    was handed out (1 the first time)."""

    __slots__ = ()

    def ack(self) -> None:
        """Done: the group never delivers it again. Releases data."""
        self._member().ack(self)

    def nack(self, delay: float = 0.0) -> None:
        """Deliver it again, to any member, after delay seconds. Releases data."""
        self._member().nack(self, delay)

    def term(self) -> None:
        """Dead now (copied to <channel>.dlq in a group made with dlq=True). Releases data."""
        self._member().term(self)

    def touch(self) -> None:
        """Restart its ack_wait: the member is still working on it."""
        self._member().touch(self)

    def _member(self) -> "Member":
        m = self._sub
        if m is None:
            raise ValueError(f"message {self.offset} was settled already")
        return m

    def __repr__(self) -> str:
        return (f"<shmq.GroupMessage {self.channel!r} offset={self.offset} size={self.size} "
                f"deliveries={self.deliveries}>")


@dataclass(frozen=True)
class GroupInfo:
    """A consumer group's state (Client.groups()): live members, the
    floor (every message below it is acked or dead), the next message
    to hand out (dispatch), and its counters."""

    name: str
    members: int
    max_pending: int
    floor: int
    dispatch: int
    delivered: int
    redelivered: int
    acked: int
    dead: int
    lost: int

    @classmethod
    def _from_c(cls, c) -> "GroupInfo":
        return cls(ffi.string(c.name).decode(), c.members, c.max_pending, c.floor, c.dispatch,
                   c.delivered, c.redelivered, c.acked, c.dead, c.lost)


def group_info(client, channel: str, group: Optional[str]) -> list:
    rows = ffi.new("struct shmq_group_info[]", 16)
    g = ffi.NULL if group is None else group.encode()
    n = _check(lib.shmq_group_info(client._h(), channel.encode(), g, rows, 16),
               f"groups of {channel!r}")
    return [GroupInfo._from_c(rows[i]) for i in range(min(n, 16))]


def _positive(value, what: str) -> None:
    if value <= 0:
        raise _errors.InvalidArgument(lib.SHMQ_EINVAL, f"{what} {value} is not positive")


def _group_opts(start, ack_wait, max_deliver, max_pending, wait, flags):
    o = ffi.new("struct shmq_group_opts *")
    _set_start(o, start)
    if ack_wait is not None:
        _positive(ack_wait, "ack_wait")
        o.ack_wait_ns = max(_timeout_ns(ack_wait), 1)
    if max_deliver is not None:
        _positive(max_deliver, "max_deliver")
        o.max_deliver = _U32_MAX if max_deliver == math.inf else min(max_deliver, _U32_MAX - 1)
    if max_pending is not None:
        _positive(max_pending, "max_pending")
        o.max_pending = max_pending
    o.wait = _enum(Wait, wait, "wait")
    o.flags = flags
    return o


class Member(_Handle):
    """A member of a consumer group (Client.member()). Each message of the
    channel goes to one member of the group; one it holds when it closes
    or dies, or longer than ack_wait, goes to a member again, with
    deliveries raised; after max_deliver deliveries it is dead. Iterate
    over it (for msg in member: ...) and settle each message:
    msg.ack(), msg.nack(delay), msg.term().

    Client.member() keywords: create (make the group if missing), and for
    a new group: start ("latest", "earliest" or an int offset), ack_wait
    (seconds; default 30), max_deliver (default 5; math.inf: never dead),
    max_pending (unacked messages out, a power of two; default 4096), dlq
    (dead messages are copied to <channel>.dlq first); for this member:
    noack (each message is acked at its next receive) and wait
    ("spin_sleep", the default, or "spin")."""

    _what = "group member"

    def __init__(self, client, channel: str, group: str, handle, noack: bool) -> None:
        super().__init__(client, channel)
        self.group = group
        self._handle = handle
        self._noack = noack
        self._held: dict = {}  # offset -> GroupMessage whose view is valid until settled
        self._current: Optional[GroupMessage] = None  # noack: the view out until the next call

    @classmethod
    def _open(cls, client, channel: str, group: str, *, create: bool = False,
              start: Union[Start, str, int] = Start.LATEST, ack_wait: Optional[float] = None,
              max_deliver: Optional[Union[int, float]] = None,
              max_pending: Optional[int] = None, dlq: bool = False, noack: bool = False,
              wait: Union[Wait, str] = Wait.SPIN_SLEEP) -> "Member":
        flags = ((lib.SHMQ_GROUP_CREATE if create else 0) | (lib.SHMQ_GROUP_DLQ if dlq else 0) |
                 (lib.SHMQ_GROUP_NOACK if noack else 0))
        o = _group_opts(start, ack_wait, max_deliver, max_pending, wait, flags)
        out = ffi.new("struct shmq_member **")
        rc = lib.shmq_group_open(client._h(), channel.encode(), group.encode(), o, out)
        _check(rc, f"group {group!r} of {channel!r}")
        return cls(client, channel, group, out[0], noack)

    def _verify(self, m) -> int:
        raise _errors.BadState(lib.SHMQ_ESTATE, "a group member's view cannot be checked: "
                               "libshmq has no such call for members (on a block channel "
                               "it stays whole until settled)")

    def _release_current(self) -> None:
        cur = self._current
        if cur is not None:
            cur._release()
            self._current = None

    def recv(self, timeout: Optional[float] = None) -> GroupMessage:
        """The next message for this member: a new one, or one to deliver
        again. timeout as Subscriber.recv() takes it."""
        h = self._h()
        self._release_current()
        rc, m = _recv_msg(lib.shmq_group_recv, h, timeout)
        if rc:
            raise error(rc, f"receive from group {self.group!r} of {self.name!r}")
        msg = GroupMessage(self, m, self.name)
        if self._noack:
            self._current = msg
        else:
            self._hold(msg)
        return msg

    def _hold(self, msg: GroupMessage) -> None:
        old = self._held.get(msg.offset)
        if old is not None:  # handed to us again: the old object's view goes
            try:
                old._release()
            except BufferError:
                pass  # the same record, held again by this delivery
        self._held[msg.offset] = msg

    def __iter__(self) -> Iterator[GroupMessage]:
        return self

    __next__ = recv

    def iter(self, timeout: Optional[float] = None) -> Iterator[GroupMessage]:
        """Messages until none arrives within timeout seconds (None: never stops)."""
        while True:
            try:
                msg = self.recv(timeout)
            except (_errors.Timeout, _errors.Again):
                return
            yield msg

    def _offset(self, msg: Union[Message, int]) -> int:
        """The offset of msg, its view released first if this member holds it."""
        off = msg.offset if isinstance(msg, Message) else msg
        held = self._held.get(off)
        if held is not None:
            held._release()  # BufferError: a derived view lives, nothing settled
            del self._held[off]
        return off

    def ack(self, msg: Union[Message, int]) -> None:
        """Done with msg (a GroupMessage or its offset). shmq.NotHeld if this
        member does not hold it (settled, or taken over after ack_wait)."""
        h = self._h()
        off = self._offset(msg)
        _check(lib.shmq_ack(h, off), f"ack {off} of {self.name!r}")

    def ack_many(self, msgs: Iterable[Union[Message, int]]) -> int:
        """Ack several messages in one call; the number acked."""
        h = self._h()
        offs = [self._offset(m) for m in msgs]
        arr = ffi.new("uint64_t[]", offs)
        return _check(lib.shmq_ackv(h, arr, len(offs)), f"ack {len(offs)} of {self.name!r}")

    def nack(self, msg: Union[Message, int], delay: float = 0.0) -> None:
        """Give msg back, to be delivered again (to any member) after delay seconds."""
        h = self._h()
        ns = _timeout_ns(delay)
        off = self._offset(msg)
        _check(lib.shmq_nack(h, off, ns), f"nack {off} of {self.name!r}")

    def term(self, msg: Union[Message, int]) -> None:
        """msg is dead now (with dlq: copied to <channel>.dlq first;
        shmq.Full, and still held, while that has no room)."""
        h = self._h()
        off = self._offset(msg)
        _check(lib.shmq_term(h, off), f"term {off} of {self.name!r}")

    def touch(self, msg: Union[Message, int]) -> None:
        """Restart msg's ack_wait; its view stays valid."""
        off = msg.offset if isinstance(msg, Message) else msg
        _check(lib.shmq_touch(self._h(), off), f"touch {off} of {self.name!r}")

    @property
    def held(self) -> list:
        """The offsets of the messages this member holds (noack: none)."""
        return sorted(self._held)

    def close(self) -> None:
        """Leave the group: the messages it holds go to the other members
        now. BufferError (and it stays open) while a view derived from one
        of its messages is still alive."""
        if self._handle is None:
            return
        self._release_current()
        for off in list(self._held):
            self._held[off]._release()
            del self._held[off]
        h, self._handle = self._handle, None
        lib.shmq_group_close(h)
        self.client._handles.discard(self)
