"""orders.py - shmq from Python: a publisher process and two subscribers in
one script, one blocking (in a thread) and one on asyncio.

    export SHMQ_SOCKET=/tmp/shmq.sock          # a running shmqd
    PYTHONPATH=python:build/python python3 python/examples/orders.py [COUNT]

The parent creates the channel "orders.example" (block policy: the
publisher waits for the slowest subscriber, so nobody loses anything),
opens both subscribers, then forks a publisher that sends COUNT orders
(default 1000) as JSON, the last with a "done" header. Each subscriber
checks it saw every order once, in order, and prints a line; the
channel is deleted at the end.
"""

import asyncio
import concurrent.futures
import json
import os
import sys

import shmq

CHANNEL = "orders.example"


def publish(count):
    """In the child: COUNT orders, in batches of up to 100, then 'done'."""
    with shmq.connect() as c, c.publisher(CHANNEL) as pub:
        batch = []
        for i in range(count):
            batch.append(json.dumps({"order": i, "qty": i % 7 + 1}).encode())
            if len(batch) == 100:
                pub.publish_many(batch)  # all of the batch becomes visible at once
                batch = []
        if batch:
            pub.publish_many(batch)
        with pub.claim(2, headers={"done": b"1"}) as claim:  # written in place
            claim.data[:] = b"{}"


def is_done(msg):
    return msg.headers is not None and ("done", b"1") in msg.headers


def blocking_subscriber(sub):
    """Iterate: msg.data is a view into shared memory, valid until the next receive."""
    expected = 0
    for msg in sub:
        if is_done(msg):
            return expected
        order = json.loads(bytes(msg.data))  # json wants bytes: a copy
        assert order["order"] == expected, (order, expected)
        expected += 1


async def async_subscriber(sub):
    """The same on asyncio: the subscriber's descriptor wakes the event loop."""
    expected = 0
    async for msg in sub:
        if is_done(msg):
            return expected
        assert json.loads(bytes(msg.data))["order"] == expected
        expected += 1


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with shmq.connect() as c:
        c.create(CHANNEL, policy="block", max_message="1K", exist_ok=True)
        try:
            with c.subscriber(CHANNEL) as sub, c.subscriber(CHANNEL, wait="eventfd") as asub:
                pid = os.fork()
                if pid == 0:
                    try:
                        publish(count)
                    finally:
                        os._exit(0)
                # both read at once: the publisher waits for the slower one
                with concurrent.futures.ThreadPoolExecutor(1) as pool:
                    blocking = pool.submit(blocking_subscriber, sub)
                    n = asyncio.run(async_subscriber(asub))
                    print(f"blocking subscriber: {blocking.result()} orders, in order")
                print(f"asyncio subscriber: {n} orders, in order")
                _, status = os.waitpid(pid, 0)
                if status:
                    raise SystemExit(f"publisher exited with status {status}")
        finally:
            c.delete(CHANNEL)


if __name__ == "__main__":
    main()
