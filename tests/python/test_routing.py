"""Pattern subscriptions and filters from Python through a real shmqd:
channels that match now and later, msg.channel, per-channel order and
counters, a deleted channel ending alone, asyncio on a pattern handle,
each kind of filter term, and the errors for bad patterns and filters."""

import asyncio
import time

import pytest

import shmq

HANG_S = 30


def recv_n(sub, n):
    """n messages from sub, each within HANG_S, as (channel, offset, payload)."""
    return [(m.channel, m.offset, bytes(m.data)) for m in (sub.recv(timeout=HANG_S)
                                                           for _ in range(n))]


def test_pattern_reads_matching_channels_and_names_each(client):
    for name in ("orders.eu.created", "orders.us.created", "orders.eu.paid"):
        client.create(name, policy="block")
    with client.subscriber("orders.*.created", start="earliest") as sub:
        assert sub.pattern
        for name in ("orders.eu.created", "orders.us.created", "orders.eu.paid"):
            with client.publisher(name) as pub:
                for i in range(3):
                    pub.publish(b"%s %d" % (name.encode(), i))
        got = recv_n(sub, 6)
        with pytest.raises(shmq.Again):
            sub.recv(timeout=0)
    by_channel = {}
    for channel, offset, data in got:
        by_channel.setdefault(channel, []).append((offset, data))
    assert by_channel == {
        name: [(i, b"%s %d" % (name.encode(), i)) for i in range(3)]
        for name in ("orders.eu.created", "orders.us.created")}


def test_plain_subscriber_messages_name_their_channel(client):
    client.create("plain.one", policy="block")
    with client.subscriber("plain.one", start="earliest") as sub, \
            client.publisher("plain.one") as pub:
        assert not sub.pattern
        pub.publish(b"x")
        assert sub.recv(timeout=HANG_S).channel == "plain.one"
        with pytest.raises(shmq.BadState):
            sub.channels


def test_pattern_reaches_a_channel_created_after_it(client):
    with client.subscriber("later.>") as sub:
        client.create("later.a.b", policy="block")
        # the daemon tells the handle of the new channel; publish until it reads
        with client.publisher("later.a.b") as pub:
            deadline = time.monotonic() + HANG_S
            while True:
                pub.publish(b"hello")
                try:
                    msg = sub.recv(timeout=0.05)
                    break
                except shmq.Timeout:
                    assert time.monotonic() < deadline, "the new channel never delivered"
        assert (msg.channel, bytes(msg.data)) == ("later.a.b", b"hello")
        assert [c.name for c in sub.channels] == ["later.a.b"]


def test_a_deleted_channel_ends_alone(client):
    client.create("del.a", policy="block")
    client.create("del.b", policy="block")
    with client.subscriber("del.*", start="earliest") as sub:
        with client.publisher("del.a") as pa, client.publisher("del.b") as pb:
            pa.publish(b"a0")
            pb.publish(b"b0")
        client.delete("del.a")
        got = sorted(recv_n(sub, 2))
        assert got == [("del.a", 0, b"a0"), ("del.b", 0, b"b0")]
        with client.publisher("del.b") as pb:
            pb.publish(b"b1")
        assert recv_n(sub, 1) == [("del.b", 1, b"b1")]
        deadline = time.monotonic() + HANG_S
        while not {c.name: c.ended for c in sub.channels}.get("del.a"):
            assert time.monotonic() < deadline, "the deleted channel never ended"
            with pytest.raises((shmq.Timeout, shmq.Again)):
                sub.recv(timeout=0.05)
        ended = {c.name: c.ended for c in sub.channels}
        assert ended == {"del.a": True, "del.b": False}


def test_per_channel_counters(client):
    client.create("cnt.a", policy="block")
    client.create("cnt.b", policy="block")
    with client.subscriber("cnt.*", start="earliest") as sub:
        with client.publisher("cnt.a") as pa, client.publisher("cnt.b") as pb:
            for i in range(5):
                pa.publish(b"a")
            pb.publish(b"b")
        recv_n(sub, 6)
        counts = {c.name: c.stats["received"] for c in sub.channels}
        assert counts == {"cnt.a": 5, "cnt.b": 1}
        assert sub.stats["received"] == 6


def test_async_for_on_a_pattern_subscriber(client):
    client.create("aio.x", policy="block")
    client.create("aio.y", policy="block")
    sub = client.subscriber("aio.*", start="earliest")
    pa, pb = client.publisher("aio.x"), client.publisher("aio.y")

    async def producer():
        for i in range(40):
            (pa if i % 2 else pb).publish(b"%d" % i)
            if i % 10 == 0:
                await asyncio.sleep(0.01)

    async def consumer():
        got = []
        async for msg in sub:
            got.append((msg.channel, int(bytes(msg.data))))
            if len(got) == 40:
                return got

    async def main():
        got, _ = await asyncio.gather(consumer(), producer())
        return got

    got = asyncio.run(asyncio.wait_for(main(), HANG_S))
    assert sorted(i for _, i in got) == list(range(40))
    assert all(ch == ("aio.x" if i % 2 else "aio.y") for ch, i in got)
    sub.close()


def test_match_lists_channels_by_pattern(client):
    for name in ("m.a.x", "m.b.x", "m.a.y", "other"):
        client.create(name)
    assert sorted(c.name for c in client.match("m.*.x")) == ["m.a.x", "m.b.x"]
    assert sorted(c.name for c in client.match("m.>")) == ["m.a.x", "m.a.y", "m.b.x"]
    assert client.match("none.>") == []


@pytest.mark.parametrize("pattern", ["a..b", "a.>.b", ".a", "a.", "", "a.b*", "x" * 300])
def test_bad_patterns_raise_bad_pattern(client, pattern):
    with pytest.raises(shmq.BadPattern):
        shmq.check_pattern(pattern)
    with pytest.raises(shmq.BadPattern):
        client.subscriber(pattern, pattern=True)
    with pytest.raises(shmq.BadPattern):
        client.match(pattern)


def publish_keyed(client, name, n_keys, per_key):
    client.create(name, policy="block", capacity="8M")
    with client.publisher(name) as pub:
        for i in range(per_key):
            for k in range(n_keys):
                pub.publish(b"%d.%d" % (k, i), key=b"k%03d" % k)


def test_key_filter_delivers_exactly_the_keys_and_counts_the_rest(client):
    publish_keyed(client, "keys", 100, 10)
    wanted = [b"k%03d" % k for k in (3, 17, 42)]
    with client.subscriber("keys", start="earliest",
                           filter=[shmq.KeyEq(k) for k in wanted], match="any") as sub:
        got = [bytes(m.key) for m in sub.iter(timeout=0.5)]
        stats = sub.stats
    assert sorted(got) == sorted(wanted * 10)
    assert stats["received"] == 30 and stats["filtered"] == 970
    assert stats["lost_overrun"] == 0 and stats["lost_abandoned"] == 0


def test_key_prefix_and_hash_terms(client):
    publish_keyed(client, "kp", 100, 2)
    with client.subscriber("kp", start="earliest", filter=shmq.KeyPrefix("k01")) as sub:
        got = sorted({bytes(m.key) for m in sub.iter(timeout=0.5)})
    assert got == [b"k%03d" % k for k in range(10, 20)]
    with client.subscriber("kp", start="earliest", filter=shmq.KeyHash(4, 1, 2)) as sub:
        got = [bytes(m.key) for m in sub.iter(timeout=0.5)]
    expect = [b"k%03d" % k for k in range(100) if 1 <= shmq.key_hash(b"k%03d" % k) % 4 <= 2]
    assert sorted(got) == sorted(expect * 2) and 0 < len(expect) < 100


def test_header_and_content_type_terms(client):
    client.create("hdrs", policy="block")
    with client.publisher("hdrs") as pub:
        pub.publish(b"1", headers={"region": b"eu"}, content_type="application/json")
        pub.publish(b"2", headers={"region": b"us"})
        pub.publish(b"3", content_type="text/plain")
        pub.publish(b"4")

    def payloads(*terms, match="all"):
        with client.subscriber("hdrs", start="earliest") as sub:
            sub.set_filter(*terms, match=match)
            return [bytes(m.data) for m in sub.iter(timeout=0.3)]

    assert payloads(shmq.HeaderEq("region", b"eu")) == [b"1"]
    assert payloads(shmq.HeaderHas("region")) == [b"1", b"2"]
    assert payloads(shmq.ContentType("text/plain")) == [b"3"]
    assert payloads(shmq.HeaderHas("region"), shmq.ContentType("application/json")) == [b"1"]
    assert payloads(shmq.HeaderEq("region", "us"), shmq.ContentType("text/plain"),
                    match="any") == [b"2", b"3"]


def test_filter_can_be_removed(client):
    client.create("unf", policy="block")
    with client.subscriber("unf", start="earliest", filter=shmq.KeyEq(b"a")) as sub, \
            client.publisher("unf") as pub:
        pub.publish(b"1", key=b"a")
        pub.publish(b"2", key=b"b")
        assert [bytes(m.data) for m in sub.iter(timeout=0.3)] == [b"1"]
        sub.set_filter(None)
        pub.publish(b"3", key=b"b")
        assert [bytes(m.data) for m in sub.iter(timeout=0.3)] == [b"3"]


def test_filter_on_a_pattern_applies_to_channels_created_later(client):
    with client.subscriber("fp.>", filter=shmq.KeyEq(b"yes")) as sub:
        client.create("fp.new", policy="block")
        with client.publisher("fp.new") as pub:
            deadline = time.monotonic() + HANG_S
            while True:
                pub.publish(b"n", key=b"no")
                pub.publish(b"y", key=b"yes")
                try:
                    msg = sub.recv(timeout=0.05)
                    break
                except shmq.Timeout:
                    assert time.monotonic() < deadline, "the new channel never delivered"
        assert (bytes(msg.data), msg.key) == (b"y", b"yes")
        assert sub.stats["filtered"] >= 1


def test_bad_filters_raise_bad_filter(client):
    client.create("badf")
    with client.subscriber("badf") as sub:
        with pytest.raises(shmq.BadFilter):
            sub.set_filter()  # no terms
        with pytest.raises(shmq.BadFilter):
            sub.set_filter(*[shmq.KeyEq(b"k%d" % i) for i in range(17)])
        with pytest.raises(shmq.BadFilter):
            sub.set_filter(shmq.KeyEq(b""))
        with pytest.raises(shmq.BadFilter):
            sub.set_filter(shmq.KeyEq(b"x" * 1025))
        with pytest.raises(shmq.BadFilter):
            sub.set_filter(shmq.KeyHash(4, 3, 1))  # lo > hi
        with pytest.raises(shmq.BadFilter):
            sub.set_filter(shmq.KeyHash(4, 0, 4))  # hi not below buckets
        with pytest.raises(shmq.BadFilter):
            sub.set_filter(shmq.KeyHash(-1, 0))
        with pytest.raises(shmq.BadFilter):
            sub.set_filter(shmq.HeaderHas(""))
        with pytest.raises(shmq.BadFilter):
            sub.set_filter(shmq.KeyEq(b"a"), match="most")
        with pytest.raises(TypeError):
            sub.set_filter(b"a")
    # a subscriber whose filter is refused at open is not left open
    with pytest.raises(shmq.BadFilter):
        client.subscriber("badf", filter=[])
    assert client.info("badf").readers == 0


def test_expired_messages_are_skipped_and_counted_unless_asked_for(client):
    client.create("ttl", policy="block")
    past = time.time_ns() - 10**9
    with client.publisher("ttl") as pub:
        pub.publish(b"old", expiry_ns=past)
        pub.publish(b"new")
    with client.subscriber("ttl", start="earliest") as sub:
        assert not sub.deliver_expired
        assert [bytes(m.data) for m in sub.iter(timeout=0.3)] == [b"new"]
        assert sub.stats["expired"] == 1 and sub.stats["lost_overrun"] == 0
    with client.subscriber("ttl", start="earliest", deliver_expired=True) as sub:
        assert sub.deliver_expired
        assert [bytes(m.data) for m in sub.iter(timeout=0.3)] == [b"old", b"new"]
