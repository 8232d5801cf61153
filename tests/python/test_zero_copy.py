"""Zero copy from Python: msg.data is a read-only view into the channel's
ring, valid until the next receive; a view used after that raises
instead of reading memory the channel may have reused, and a view kept
alive through a slice holds the next receive back (BufferError)."""

import pytest

import shmq
from shmq._shmq_cffi import ffi


def address(view: memoryview) -> int:
    return int(ffi.cast("uintptr_t", ffi.from_buffer(view)))


def test_data_is_a_view_into_the_ring(client):
    client.create("ring", policy="block")
    with client.subscriber("ring", start="earliest") as sub, client.publisher("ring") as pub:
        pub.publish(b"a" * 64)
        pub.publish(b"b" * 64)
        first = address(sub.recv(timeout=5).data)
        second = address(sub.recv(timeout=5).data)
    # consecutive records of the ring: a 32-byte header and 64 payload bytes
    assert second - first == 96


def test_view_is_read_only(client):
    client.create("ro", policy="block")
    with client.subscriber("ro", start="earliest") as sub, client.publisher("ro") as pub:
        pub.publish(b"abc")
        msg = sub.recv(timeout=5)
        assert msg.data.readonly
        with pytest.raises(TypeError):
            msg.data[0] = 0


def test_view_used_after_the_next_receive_raises(client):
    client.create("stale", policy="block")
    with client.subscriber("stale", start="earliest") as sub, client.publisher("stale") as pub:
        pub.publish(b"first")
        pub.publish(b"second")
        msg = sub.recv(timeout=5)
        view = msg.data
        kept = bytes(msg.data)
        nxt = sub.recv(timeout=5)
        with pytest.raises(ValueError):
            view[0]
        with pytest.raises(ValueError):
            bytes(view)
        with pytest.raises(ValueError):
            bytes(msg.data)
        assert kept == b"first" and bytes(nxt.data) == b"second"
        assert msg.offset == 0  # plain attributes stay


def test_view_unread_before_the_next_receive_raises_after_it(client):
    client.create("late", policy="block")
    with client.subscriber("late", start="earliest") as sub, client.publisher("late") as pub:
        pub.publish(b"1")
        pub.publish(b"2")
        msg = sub.recv(timeout=5)
        sub.recv(timeout=5)
        with pytest.raises(ValueError):
            msg.data


def test_a_live_slice_holds_the_next_receive_back(client):
    client.create("slice", policy="block")
    with client.subscriber("slice", start="earliest") as sub, client.publisher("slice") as pub:
        pub.publish(b"hello")
        pub.publish(b"world")
        msg = sub.recv(timeout=5)
        part = msg.data[1:4]
        for _ in range(2):  # and again: nothing moved meanwhile
            with pytest.raises(BufferError):
                sub.recv(timeout=5)
        assert bytes(part) == b"ell"  # still the first message, still valid
        del part
        assert bytes(sub.recv(timeout=5).data) == b"world"


def test_a_cast_or_exported_view_holds_the_next_receive_back(client):
    client.create("cast", policy="block")
    with client.subscriber("cast", start="earliest") as sub, client.publisher("cast") as pub:
        pub.publish(b"\x01\x00\x00\x00")
        pub.publish(b"next")
        pub.publish(b"last")
        msg = sub.recv(timeout=5)
        ints = msg.data.cast("I")
        with pytest.raises(BufferError):
            sub.recv(timeout=5)
        assert ints[0] == 1
        del ints
        inner = memoryview(sub.recv(timeout=5).data)
        with pytest.raises(BufferError):
            sub.recv(timeout=5)
        assert bytes(inner) == b"next"
        del inner
        assert bytes(sub.recv(timeout=5).data) == b"last"


def test_close_with_a_live_view_raises_and_keeps_the_mapping(client):
    client.create("keep", policy="block")
    sub = client.subscriber("keep", start="earliest")
    with client.publisher("keep") as pub:
        pub.publish(b"payload")
    part = sub.recv(timeout=5).data[:3]
    with pytest.raises(BufferError):
        sub.recv(timeout=0)
    with pytest.raises(BufferError):
        sub.close()
    assert not sub.closed and bytes(part) == b"pay"
    del part
    sub.close()
    assert sub.closed


def test_messages_kept_in_a_list_keep_their_values_not_their_views(client):
    client.create("list", policy="block")
    with client.subscriber("list", start="earliest") as sub, client.publisher("list") as pub:
        for i in range(5):
            pub.publish(b"%d" % i)
        msgs = list(sub.iter(timeout=0.3))
        assert [(m.offset, m.size) for m in msgs] == [(i, 1) for i in range(5)]
        # the receive that found no sixth message released the fifth too
        for m in msgs:
            with pytest.raises(ValueError):
                m.data


def test_claim_view_is_in_the_ring_and_released_by_abort(client):
    client.create("cv", policy="block")
    with client.subscriber("cv", start="earliest") as sub, client.publisher("cv") as pub:
        claim = pub.claim(64)
        claimed_at = address(claim.data)
        claim.data[:8] = b"in place"
        claim.commit(8)
        claim = pub.claim(64)
        # the next record of the ring: the first took the 32 + 64 bytes it claimed
        assert address(claim.data) - claimed_at == 96
        claim.abort()
        assert bytes(sub.recv(timeout=5).data) == b"in place"
        claim = pub.claim(8)
        view = claim.data
        claim.abort()
        with pytest.raises(ValueError):
            view[0] = 0
        with pytest.raises(ValueError):
            claim.commit()


def test_derived_claim_view_holds_commit_back(client):
    client.create("cd", policy="block")
    with client.publisher("cd") as pub:
        claim = pub.claim(8)
        part = claim.data[:4]
        with pytest.raises(BufferError):
            claim.commit()
        del part
        assert claim.commit() == 0
