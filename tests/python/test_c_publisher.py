"""A publisher in C (the build tree's shmq command, fed by seq) and a
subscriber in Python exchange 1,000,000 messages on a block-policy
channel: each arrives once, in order, none lost."""

import os
import subprocess

import shmq

COUNT = 1_000_000


def test_c_publisher_python_subscriber_exactly_once(daemon, tool):
    env = dict(os.environ, SHMQ_SOCKET=daemon.sock)
    with shmq.connect(daemon.sock) as c:
        c.create("seq", capacity="1M", max_message=32, policy="block")
        with c.subscriber("seq", start="earliest") as sub:
            seq = subprocess.Popen(["seq", "1", str(COUNT)], stdout=subprocess.PIPE)
            pub = subprocess.Popen([tool, "pub", "seq"], stdin=seq.stdout, env=env,
                                   stderr=subprocess.PIPE)
            seq.stdout.close()
            expected = 1
            try:
                for msg in sub.iter(timeout=30):
                    assert int(msg.data) == expected, f"at offset {msg.offset}"
                    assert msg.offset == expected - 1 and msg.lost == 0
                    expected += 1
                    if expected > COUNT:
                        break
            finally:
                pub_err = pub.communicate(timeout=30)[1]
                seq.wait(30)
            assert pub.returncode == 0, pub_err.decode(errors="replace")
            assert expected == COUNT + 1
            assert list(sub.iter(timeout=0.2)) == []  # nothing more, nothing twice
            assert sub.stats == {"received": COUNT, "lost_overrun": 0, "lost_abandoned": 0,
                                 "filtered": 0, "unopened": 0, "expired": 0}
