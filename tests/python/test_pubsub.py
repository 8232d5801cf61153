"""Publish and subscribe from Python through a real shmqd: order, offsets,
fan-out, start positions, header fields, batches, claims and the
channel calls."""

import shmq


def test_messages_arrive_in_order_with_dense_offsets(client):
    client.create("orders", policy="block")
    with client.subscriber("orders", start="earliest") as sub, client.publisher("orders") as pub:
        offsets = [pub.publish(b"m%d" % i) for i in range(100)]
        got = [(m.offset, bytes(m.data)) for m in sub.iter(timeout=0.5)]
    assert offsets == list(range(100))
    assert got == [(i, b"m%d" % i) for i in range(100)]


def test_plain_iteration_yields_every_message(client):
    client.create("loop", policy="block")
    with client.subscriber("loop", start="earliest") as sub, client.publisher("loop") as pub:
        for i in range(10):
            pub.publish(str(i).encode())
        seen = []
        for msg in sub:
            seen.append(int(bytes(msg.data)))
            if len(seen) == 10:
                break
    assert seen == list(range(10))


def test_every_subscriber_receives_every_message(client):
    client.create("fan", policy="block")
    subs = [client.subscriber("fan", start="earliest") for _ in range(3)]
    with client.publisher("fan") as pub:
        for i in range(50):
            pub.publish(bytes([i]) * (i + 1))
    for sub in subs:
        got = [bytes(m.data) for m in sub.iter(timeout=0.5)]
        assert got == [bytes([i]) * (i + 1) for i in range(50)]
        sub.close()


def test_latest_start_sees_only_what_follows_and_offset_start_replays(client):
    client.create("replay", policy="block")
    with client.publisher("replay") as pub:
        for i in range(5):
            pub.publish(b"old%d" % i)
        # (on a block channel a subscriber never starts below one attached
        # before it: the offset subscriber opens first)
        with client.subscriber("replay", start=3) as from3, \
                client.subscriber("replay", start="latest") as latest:
            pub.publish(b"new")
            assert [bytes(m.data) for m in latest.iter(timeout=0.3)] == [b"new"]
            assert [m.offset for m in from3.iter(timeout=0.3)] == [3, 4, 5]


def test_message_attributes(client):
    client.create("attrs", policy="block")
    with client.subscriber("attrs", start="earliest") as sub, client.publisher("attrs") as pub:
        pub.publish(b"12345")
        msg = sub.recv(timeout=5)
        assert (msg.offset, msg.size, len(msg), msg.lost) == (0, 5, 5, 0)
        assert msg.timestamp_ns > 1_600_000_000 * 10**9
        assert msg.key is None and msg.msg_id is None and msg.headers is None


def test_header_fields_round_trip(client):
    client.create("hdr", policy="block")
    with client.subscriber("hdr", start="earliest") as sub, client.publisher("hdr") as pub:
        pub.publish(b"body", key=b"user-7", msg_id=42, corr_id=99, reply_to="replies.me",
                    content_type="application/json", expiry_ns=2**62,
                    headers={"trace": b"abc", "empty": b""})
        msg = sub.recv(timeout=5)
        fields = (msg.key, msg.msg_id, msg.corr_id, msg.reply_to, msg.content_type,
                  msg.expiry_ns, msg.headers)
    assert fields == (b"user-7", 42, 99, "replies.me", "application/json", 2**62,
                      [("trace", b"abc"), ("empty", b"")])
    assert msg.key_hash is not None


def test_header_fields_stay_readable_after_the_next_receive(client):
    client.create("hdr2", policy="block")
    with client.subscriber("hdr2", start="earliest") as sub, client.publisher("hdr2") as pub:
        pub.publish(b"a", key="k", msg_id=1)
        pub.publish(b"b")
        first = sub.recv(timeout=5)
        sub.recv(timeout=5)
        assert (first.key, first.msg_id, first.offset) == (b"k", 1, 0)


def test_publish_many_is_one_atomic_batch(client):
    client.create("batch", policy="block")
    with client.subscriber("batch", start="earliest") as sub, client.publisher("batch") as pub:
        pub.publish(b"before")
        first = pub.publish_many([b"a", bytearray(b"bb"), memoryview(b"ccc")])
        got = [(m.offset, bytes(m.data), m.batch) for m in sub.iter(timeout=0.5)]
    assert first == 1
    assert got == [(0, b"before", False), (1, b"a", True), (2, b"bb", False),
                   (3, b"ccc", False)]


def test_claim_writes_in_place_and_commits(client):
    client.create("claim", policy="block")
    with client.subscriber("claim", start="earliest") as sub, client.publisher("claim") as pub:
        with pub.claim(16, key=b"k") as c:
            assert len(c.data) == 16 and not c.data.readonly
            c.data[:5] = b"hello"
            offset = c.commit(5)
        with pub.claim(3) as c:  # leaving the block commits all of it
            c.data[:] = b"xyz"
        a = sub.recv(timeout=5)
        assert (a.offset, bytes(a.data), a.key) == (offset, b"hello", b"k")
        b = sub.recv(timeout=5)
        assert bytes(b.data) == b"xyz"


def test_claim_is_aborted_by_an_exception(client):
    client.create("abort", policy="block")
    with client.subscriber("abort", start="earliest") as sub, client.publisher("abort") as pub:
        try:
            with pub.claim(8) as c:
                c.data[:2] = b"no"
                raise KeyError("fail")
        except KeyError:
            pass
        pub.publish(b"yes")
        msg = sub.recv(timeout=5)
        # the aborted message is skipped and counted as lost
        assert (bytes(msg.data), msg.offset, msg.lost) == (b"yes", 1, 1)


def test_claim_view_is_released_by_commit(client):
    client.create("claimview", policy="block")
    with client.publisher("claimview") as pub:
        c = pub.claim(4)
        view = c.data
        c.commit()
        try:
            view[0] = 1
        except ValueError:
            pass
        else:
            raise AssertionError("a claim's view was writable after commit")


def test_channel_calls(client):
    client.create("a.b", capacity="64K", max_message=100, policy="block", publishers="one")
    client.create("a.c", capacity=8192, exist_ok=True)
    client.create("a.c", exist_ok=True)
    info = client.info("a.b")
    assert (info.name, info.policy, info.capacity, info.max_message, info.publishers) == \
        ("a.b", shmq.Policy.BLOCK, 65536, 100, shmq.Publishers.ONE)
    assert sorted(i.name for i in client.channels()) == ["a.b", "a.c"]
    with client.publisher("a.b") as pub:
        assert pub.max_message == 100
    client.delete("a.b")
    assert [i.name for i in client.channels()] == ["a.c"]
    assert client.connected


def test_close_of_the_client_closes_its_handles(daemon):
    c = shmq.connect(daemon.sock)
    c.create("h", policy="block")
    sub = c.subscriber("h")
    pub = c.publisher("h")
    c.close()
    assert sub.closed and pub.closed
    c.close()  # twice is harmless
