"""Request/reply from Python (Client.requester(), Client.reply()): a
Requester publishes requests to a channel; shmqd made it an inbox of its
own where the replies come back, matched to their requests by corr_id
in libshmq (shmq_request(), shmq_request_send(), shmq_reply_recv()).

Lifetimes: request() returns a copy of the reply, checked whole by
libshmq. recv() returns a view into the inbox, valid until the
requester's next call, as Subscriber.recv()'s; the inbox drops its
oldest replies when full, so check a view with msg.verify() after
reading it. A requester is used by one thread at a time, as in C.
"""

from typing import Iterator, Optional

from . import _errors
from ._client import (_MSG_T, Message, _recv_msg, _check, _from_buffer, _Handle, _msg_opts, _new,
                      _timeout_ns, error)
from ._shmq_cffi import ffi, lib


class Requester(_Handle):
    """A requester of one channel (Client.requester()). inbox is the name
    of the channel its replies arrive in; dropped counts the replies that
    matched none of its last 1024 requests."""

    _what = "requester"

    def __init__(self, client, channel: str, handle, max_reply: int) -> None:
        super().__init__(client, channel)
        self._handle = handle
        self.inbox = ffi.string(lib.shmq_requester_inbox(handle)).decode()
        self._max_reply = max_reply
        self._buf = None  # request()'s reply buffer, made at its first call
        self._current: Optional[Message] = None

    @classmethod
    def _open(cls, client, channel: str) -> "Requester":
        out = ffi.new("struct shmq_requester **")
        _check(lib.shmq_requester_open(client._h(), channel.encode(), ffi.NULL, out),
               f"requester of {channel!r}")
        try:
            # the inbox takes the request channel's largest message
            max_reply = client.info(channel).max_message
        except _errors.Error:
            max_reply = lib.SHMQ_MESSAGE_MAX
        return cls(client, channel, out[0], max_reply)

    def _verify(self, m) -> int:
        return lib.shmq_reply_verify(self._h(), m)

    def _release(self) -> None:
        cur = self._current
        if cur is not None:
            cur._release()
            self._current = None

    @property
    def dropped(self) -> int:
        """Replies dropped because they answered no request of this requester."""
        return lib.shmq_requester_dropped(self._h())

    def request(self, data, *, timeout: Optional[float] = None, **fields) -> bytes:
        """Publish a request and wait up to timeout seconds (None: as long
        as it takes; then Ctrl-C waits for the reply too) for its first
        reply: a copy of its payload. shmq.NoReader at once when nobody
        reads the channel, shmq.Timeout. Header fields as in
        Publisher.publish() (corr_id and reply_to are set here). Replies
        to other requests arriving meanwhile are dropped: do not mix it
        with send() on one requester."""
        h = self._h()
        self._release()
        buf = self._buf
        if buf is None:
            buf = self._buf = ffi.new("char[]", self._max_reply)
        d = _from_buffer(data)
        o = _msg_opts(fields)
        m = _new(_MSG_T)
        rc = lib.shmq_request(h, d, len(d), ffi.NULL if o is None else o.c, buf, len(buf), m,
                              _timeout_ns(timeout))
        _check(rc, f"request to {self.name!r}")
        return ffi.buffer(buf, m.len)[:]

    def send(self, data, **fields) -> int:
        """Publish a request without waiting (shmq.Full on a block channel
        without room) and return its corr_id: its replies come from
        recv(). Header fields as in Publisher.publish()."""
        h = self._h()
        d = _from_buffer(data)
        o = _msg_opts(fields)
        cid = ffi.new("uint64_t *")
        _check(lib.shmq_request_send(h, d, len(d), ffi.NULL if o is None else o.c, cid),
               f"request to {self.name!r}")
        return cid[0]

    def recv(self, timeout: Optional[float] = None) -> Message:
        """The next reply to one of this requester's last 1024 requests
        (msg.corr_id says which), as a view into the inbox valid until
        the next call: check it with msg.verify() after reading. timeout
        as Subscriber.recv() takes it."""
        h = self._h()
        self._release()
        rc, m = _recv_msg(lib.shmq_reply_recv, h, timeout)
        if rc:
            raise error(rc, f"reply on {self.inbox!r}")
        msg = self._current = Message(self, m, self.inbox)
        return msg

    def iter(self, timeout: Optional[float] = None) -> Iterator[Message]:
        """Replies until none arrives within timeout seconds."""
        while True:
            try:
                msg = self.recv(timeout)
            except (_errors.Timeout, _errors.Again):
                return
            yield msg

    def close(self) -> None:
        """Close the requester; its inbox goes with it."""
        if self._handle is None:
            return
        self._release()
        h, self._handle = self._handle, None
        lib.shmq_requester_close(h)
        self.client._handles.discard(self)
