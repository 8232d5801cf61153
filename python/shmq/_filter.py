"""Message filters (Subscriber.set_filter()): one class per kind of term of
libshmq's struct shmq_filter_term, and make(), which builds the struct
shmq_filter libshmq copies. The terms are evaluated by libshmq, on the
record in place; nothing here looks at a message. Values are bytes, or
str (encoded as UTF-8); header names are str."""

from dataclasses import dataclass
from typing import Union

from . import _errors
from ._shmq_cffi import ffi, lib

Bytes = Union[bytes, bytearray, memoryview, str]
_U32 = 1 << 32


def _bytes(value: Bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _bad(what: str) -> _errors.BadFilter:
    return _errors.BadFilter(lib.SHMQ_EFILTER, what)


class _Term:
    """What every term does: fill one struct shmq_filter_term, keeping the
    C objects its pointers point to alive in keep."""

    __slots__ = ()

    def _value(self, t, value: Bytes, keep: list) -> None:
        b = ffi.from_buffer(_bytes(value))
        keep.append(b)
        t.value, t.value_len = b, len(b)

    def _name(self, t, name: str, keep: list) -> None:
        if not isinstance(name, str):
            raise TypeError(f"a header name is a str, not {type(name).__name__}")
        s = ffi.new("char[]", name.encode())
        keep.append(s)
        t.name = s


@dataclass(frozen=True)
class KeyEq(_Term):
    """The message's key equals value."""

    value: Bytes

    def _fill(self, t, keep: list) -> None:
        t.kind = lib.SHMQ_FILTER_KEY_EQ
        self._value(t, self.value, keep)


@dataclass(frozen=True)
class KeyPrefix(_Term):
    """The message's key starts with value."""

    value: Bytes

    def _fill(self, t, keep: list) -> None:
        t.kind = lib.SHMQ_FILTER_KEY_PREFIX
        self._value(t, self.value, keep)


@dataclass(frozen=True)
class KeyHash(_Term):
    """shmq.key_hash(key) % buckets is in [lo, hi] (hi None: lo alone):
    one share of the keys, as partitions split them."""

    buckets: int
    lo: int
    hi: Union[int, None] = None

    def _fill(self, t, keep: list) -> None:
        hi = self.lo if self.hi is None else self.hi
        for what, v in (("buckets", self.buckets), ("lo", self.lo), ("hi", hi)):
            if not isinstance(v, int) or not 0 <= v < _U32:
                raise _bad(f"KeyHash {what} {v!r} is not a 32-bit unsigned int")
        t.kind = lib.SHMQ_FILTER_KEY_HASH
        t.buckets, t.lo, t.hi = self.buckets, self.lo, hi


@dataclass(frozen=True)
class HeaderEq(_Term):
    """A user header named name has the value value."""

    name: str
    value: Bytes

    def _fill(self, t, keep: list) -> None:
        t.kind = lib.SHMQ_FILTER_HEADER_EQ
        self._name(t, self.name, keep)
        self._value(t, self.value, keep)


@dataclass(frozen=True)
class HeaderHas(_Term):
    """A user header named name is present."""

    name: str

    def _fill(self, t, keep: list) -> None:
        t.kind = lib.SHMQ_FILTER_HEADER_HAS
        self._name(t, self.name, keep)


@dataclass(frozen=True)
class ContentType(_Term):
    """The message's content type equals value."""

    value: Bytes

    def _fill(self, t, keep: list) -> None:
        t.kind = lib.SHMQ_FILTER_CONTENT_TYPE
        self._value(t, self.value, keep)


class _Filter:
    """A struct shmq_filter and the C objects it points to."""

    __slots__ = ("c", "_keep")

    def __init__(self, c, keep: list) -> None:
        self.c = c
        self._keep = keep


_MATCH = {"all": lib.SHMQ_FILTER_ALL, "any": lib.SHMQ_FILTER_ANY}


def make(terms, match: str) -> _Filter:
    """The struct shmq_filter of terms; libshmq judges their number and
    values (shmq.BadFilter), this only their types."""
    if match not in _MATCH:
        raise _bad(f"match {match!r} is neither 'all' nor 'any'")
    for t in terms:
        if not isinstance(t, _Term):
            raise TypeError(f"a filter term is a shmq.KeyEq, KeyPrefix, KeyHash, HeaderEq, "
                            f"HeaderHas or ContentType, not {type(t).__name__}")
    keep: list = []
    arr = ffi.new("struct shmq_filter_term[]", max(len(terms), 1))
    for i, t in enumerate(terms):
        t._fill(arr[i], keep)
    c = ffi.new("struct shmq_filter *")
    c.terms, c.nterms, c.match = arr, len(terms), _MATCH[match]
    keep.append(arr)
    return _Filter(c, keep)


def key_hash(key: Bytes) -> int:
    """The 32-bit hash of a key, as a message stores it and KeyHash tests it."""
    b = ffi.from_buffer(_bytes(key))
    return lib.shmq_key_hash(b, len(b))
