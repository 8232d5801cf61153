"""Bad input from Python: each SHMQ_E... code raises its own exception
class, derived from shmq.Error, with the code and shmq_strerror's
sentence."""

import os

import pytest

import shmq
from shmq._shmq_cffi import lib


def test_every_code_has_its_own_class_with_the_library_sentence():
    codes = range(1, lib.SHMQ_ERR_COUNT)
    assert sorted(shmq.ERRORS) == list(codes)
    assert len(set(shmq.ERRORS.values())) == len(codes)
    for code, cls in shmq.ERRORS.items():
        assert issubclass(cls, shmq.Error) and cls.code == code
        e = cls(code)
        assert e.message == shmq.strerror(-code) and e.name == shmq.errname(code)
        assert e.message in str(e) and e.name in str(e)


def test_unknown_channel_raises_no_such_channel(client):
    for call in (lambda: client.subscriber("nope"), lambda: client.publisher("nope"),
                 lambda: client.info("nope"), lambda: client.delete("nope")):
        with pytest.raises(shmq.NoSuchChannel) as e:
            call()
        assert e.value.code == lib.SHMQ_ENOENT and "'nope'" in str(e.value)


@pytest.mark.parametrize("name", ["", "a..b", ".a", "a b", "x" * 201])
def test_bad_name_raises_bad_name(client, name):
    with pytest.raises(shmq.BadName):
        client.create(name)


def test_second_create_raises_channel_exists(client):
    client.create("twice")
    with pytest.raises(shmq.ChannelExists):
        client.create("twice")
    client.create("twice", exist_ok=True)


def test_oversized_message_raises_too_big(client):
    client.create("small", max_message=64)
    with client.publisher("small") as pub:
        pub.publish(b"x" * 64)
        with pytest.raises(shmq.TooBig):
            pub.publish(b"x" * 65)
        with pytest.raises(shmq.TooBig):
            pub.claim(65)


def test_full_block_channel_raises_full_then_timeout(client):
    client.create("full", capacity=4096, policy="block")
    with client.subscriber("full"), client.publisher("full") as pub:
        sent = 0
        with pytest.raises(shmq.Full):
            while sent < 1000:
                pub.publish(b"x" * 64, timeout=0)
                sent += 1
        assert 0 < sent < 1000
        with pytest.raises(shmq.Timeout):
            pub.publish(b"x" * 64, timeout=0.05)
        with pytest.raises(TimeoutError):  # shmq.Timeout is a TimeoutError
            pub.publish_many([b"y" * 64], timeout=0.01)


def test_empty_channel_raises_again_or_timeout(client):
    client.create("empty")
    with client.subscriber("empty") as sub:
        with pytest.raises(shmq.Again):
            sub.recv(timeout=0)
        with pytest.raises(shmq.Timeout):
            sub.recv(timeout=0.05)
        assert list(sub.iter(timeout=0.01)) == []


def test_no_daemon_raises_no_daemon(tmp_path):
    with pytest.raises(shmq.NoDaemon) as e:
        shmq.connect(str(tmp_path / "nobody"))
    assert isinstance(e.value, ConnectionError)


def test_bad_settings_raise_invalid_argument(client):
    with pytest.raises(shmq.InvalidArgument):
        client.create("p", policy="sometimes")
    with pytest.raises(shmq.InvalidArgument):
        client.create("p", capacity="4Q")
    with pytest.raises(ValueError):  # InvalidArgument is a ValueError
        client.create("p", max_message=(16 << 20) + 1)
    with pytest.raises(shmq.InvalidArgument):
        client.subscriber("p", start=-1)
    client.create("p")
    with pytest.raises(shmq.InvalidArgument):
        client.subscriber("p", start=10)  # beyond the next offset
    with client.subscriber("p") as sub:
        with pytest.raises(shmq.InvalidArgument):
            sub.recv(timeout=-1)


def test_second_exclusive_publisher_raises_busy(client):
    client.create("solo", publishers="one")
    with client.publisher("solo"):
        with pytest.raises(shmq.Busy):
            client.publisher("solo")


def test_descriptor_of_a_sleeping_subscriber_raises_bad_state(client):
    client.create("fd")
    with client.subscriber("fd", wait="sleep") as sub:
        with pytest.raises(shmq.BadState):
            sub.fileno()
    with client.subscriber("fd", wait="eventfd") as sub:
        assert sub.fileno() >= 0


def test_second_open_claim_raises_bad_state(client):
    client.create("claims")
    with client.publisher("claims") as pub:
        with pub.claim(8):
            with pytest.raises(shmq.BadState):
                pub.claim(8)


def test_receive_from_a_deleted_channel_raises_deleted(client):
    client.create("gone")
    with client.subscriber("gone") as sub:
        client.delete("gone")
        with pytest.raises((shmq.Deleted, shmq.Closed)):
            sub.recv(timeout=5)


def test_closed_handles_raise_value_error(client):
    client.create("closed")
    sub = client.subscriber("closed")
    pub = client.publisher("closed")
    sub.close()
    pub.close()
    with pytest.raises(ValueError):
        sub.recv(timeout=0)
    with pytest.raises(ValueError):
        pub.publish(b"x")
    client.close()
    with pytest.raises(ValueError):
        client.create("after")


def test_bad_payload_type_raises_type_error(client):
    client.create("types")
    with client.publisher("types") as pub:
        with pytest.raises(TypeError):
            pub.publish("a str is not bytes")
        with pytest.raises(TypeError):
            pub.publish(b"x", colour="red")


def test_errors_carry_context_and_code(daemon):
    path = os.path.join(daemon.dir, "elsewhere")
    with pytest.raises(shmq.Error) as e:
        shmq.connect(path)
    assert e.value.code == lib.SHMQ_ENODAEMON and path in str(e.value)


def test_bad_header_fields_raise_invalid_argument_or_too_big(client):
    client.create("fields", policy="block")
    with client.publisher("fields") as pub:
        with pytest.raises(shmq.InvalidArgument):
            pub.publish(b"x", key=b"")  # a key is 1..1024 bytes
        with pytest.raises(shmq.InvalidArgument):
            pub.publish(b"x", headers={f"h{i}": b"v" for i in range(17)})  # at most 16
        with pytest.raises(shmq.InvalidArgument):
            pub.publish(b"x", headers={"": b"v"})  # a name is 1..255 bytes
        with pytest.raises(shmq.TooBig):  # all fields together take at most 4096 bytes
            pub.publish(b"x", headers={f"h{i}": b"v" * 1000 for i in range(5)})
        with pytest.raises(OverflowError):
            pub.publish(b"x", msg_id=-1)
        assert pub.publish(b"ok", key=b"k" * 1024) == 0  # none of the above went out
