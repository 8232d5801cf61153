"""Request/reply from Python through a real shmqd: request() against a
responder thread and a responder process, send()/recv() with corr_ids,
a reply view overwritten in the inbox (verify raises), the inbox going
with its requester, and the errors for bad input."""

import os
import subprocess
import sys
import threading

import pytest

import shmq

HANG_S = 30


def responder(sock, channel, n, ready):
    """Answer n requests of channel with their payload upper-cased."""
    with shmq.connect(sock) as c, c.subscriber(channel) as sub:
        ready.set()
        for _ in range(n):
            req = sub.recv(timeout=HANG_S)
            req.reply(bytes(req.data).upper(), headers={"served-by": b"thread"})


def start_responder(daemon, channel, n):
    ready = threading.Event()
    t = threading.Thread(target=responder, args=(daemon.sock, channel, n, ready), daemon=True)
    t.start()
    assert ready.wait(HANG_S)
    return t


def test_request_returns_its_reply(client, daemon):
    client.create("svc", policy="block")
    t = start_responder(daemon, "svc", 100)
    with client.requester("svc") as r:
        assert r.inbox.startswith("_inbox.")
        replies = [r.request(b"ping %d" % i, timeout=HANG_S) for i in range(100)]
        assert r.dropped == 0
    t.join(HANG_S)
    assert replies == [b"PING %d" % i for i in range(100)]


def test_request_to_a_responder_process(client, daemon):
    client.create("proc.svc", policy="block")
    child = r"""
import sys, shmq
with shmq.connect(sys.argv[1]) as c, c.subscriber("proc.svc") as sub:
    print("ready", flush=True)
    for req in sub.iter(timeout=5.0):
        req.reply(bytes(req.data)[::-1])
        if bytes(req.data) == b"stop":
            break
"""
    p = subprocess.Popen([sys.executable, "-c", child, daemon.sock], env=dict(os.environ),
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "ready\n"
    with client.requester("proc.svc") as r:
        got = [r.request(b"abc%d" % i, timeout=HANG_S) for i in range(50)]
        assert r.request(b"stop", timeout=HANG_S) == b"pots"
    assert p.wait(HANG_S) == 0
    assert got == [(b"abc%d" % i)[::-1] for i in range(50)]


def test_send_and_recv_match_replies_by_corr_id(client, daemon):
    client.create("async.svc", policy="block")
    t = start_responder(daemon, "async.svc", 10)
    with client.requester("async.svc") as r:
        ids = {r.send(b"q%d" % i): b"Q%d" % i for i in range(10)}
        assert len(ids) == 10
        got = {}
        for _ in range(10):
            msg = r.recv(timeout=HANG_S)
            got[msg.corr_id] = bytes(msg.data)
            assert msg.headers == [("served-by", b"thread")]
            assert msg.channel == r.inbox
            msg.verify()
    t.join(HANG_S)
    assert got == ids


def test_a_reply_overwritten_in_the_inbox_fails_verify(client):
    client.create("lap", policy="block", max_message=4096)
    with client.subscriber("lap") as sub, client.requester("lap") as r:
        r.send(b"first")
        first_req = sub.recv(timeout=HANG_S)
        first_req.reply(b"reply")
        view = r.recv(timeout=HANG_S)
        assert bytes(view.data) == b"reply"
        view.verify()
        # the inbox is a drop ring of 64 KiB: replies to one request lap it
        r.send(b"second")
        req = sub.recv(timeout=HANG_S)
        for _ in range(40):
            req.reply(b"x" * 4000)
        with pytest.raises(shmq.Overrun):
            view.verify()


def test_request_with_nobody_reading_raises_no_reader(client):
    client.create("lonely", policy="block")
    with client.requester("lonely") as r:
        with pytest.raises(shmq.NoReader):
            r.request(b"anyone?", timeout=1)
        with pytest.raises(shmq.NoReader):
            r.send(b"anyone?")


def test_request_times_out_when_nobody_answers(client):
    client.create("mute", policy="block")
    with client.subscriber("mute"), client.requester("mute") as r:
        with pytest.raises(shmq.Timeout):
            r.request(b"hello", timeout=0.2)
        with pytest.raises(shmq.Timeout):
            r.recv(timeout=0.2)
        with pytest.raises(shmq.Again):
            r.recv(timeout=0)


def test_the_inbox_goes_with_its_requester(client):
    client.create("gone", policy="block")
    with client.subscriber("gone") as sub:
        r = client.requester("gone")
        inbox = r.inbox
        assert client.info(inbox).flags & 0x2  # SHMQ_CHAN_INBOX
        r.send(b"late")
        req = sub.recv(timeout=HANG_S)
        r.close()
        with pytest.raises(shmq.NoSuchChannel):
            req.reply(b"too late")
    with pytest.raises(shmq.NoSuchChannel):
        client.info(inbox)


def test_bad_reply_and_requester_input(client):
    client.create("plainch", policy="block")
    with client.subscriber("plainch", start="earliest") as sub, \
            client.publisher("plainch") as pub:
        pub.publish(b"no reply_to")
        msg = sub.recv(timeout=HANG_S)
        with pytest.raises(shmq.InvalidArgument):
            msg.reply(b"nowhere")
        pub.publish(b"not an inbox", reply_to="plainch")
        msg = sub.recv(timeout=HANG_S)
        with pytest.raises(shmq.PermissionDenied):
            msg.reply(b"no")
        with pytest.raises(shmq.Again):
            sub.recv(timeout=0)  # releases msg all the same
        with pytest.raises(ValueError):
            msg.reply(b"released")
    with pytest.raises(shmq.NoSuchChannel):
        client.requester("no.such")
    with pytest.raises(shmq.BadName):
        client.requester("bad..name")
