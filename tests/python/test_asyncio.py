"""asyncio through the event-fd wait mode: a subscriber opened with
wait="eventfd" awaits its descriptor with loop.add_reader, so the event
loop runs other tasks while it waits."""

import asyncio
import threading
import time

import pytest

import shmq

HANG_S = 30


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, HANG_S))


def test_async_for_receives_what_another_task_publishes(client):
    client.create("aio", policy="block")
    sub = client.subscriber("aio", start="earliest", wait="eventfd")
    pub = client.publisher("aio")

    async def producer():
        for i in range(200):
            pub.publish(b"%d" % i)
            if i % 20 == 0:
                await asyncio.sleep(0.01)  # the consumer drains and waits meanwhile

    async def consumer():
        got = []
        async for msg in sub:
            got.append(int(bytes(msg.data)))
            if len(got) == 200:
                return got

    async def main():
        got, _ = await asyncio.gather(consumer(), producer())
        return got

    assert run(main()) == list(range(200))
    sub.close()
    pub.close()


def test_waiting_subscriber_leaves_the_loop_free(client):
    client.create("aiofree")
    sub = client.subscriber("aiofree", wait="eventfd")
    pub = client.publisher("aiofree")
    ticks = []

    async def ticker():
        for i in range(5):
            ticks.append(i)
            await asyncio.sleep(0.01)
        pub.publish(b"after the ticks")

    async def main():
        t = asyncio.create_task(ticker())
        msg = await sub.recv_async()
        await t
        return bytes(msg.data)

    assert run(main()) == b"after the ticks"
    assert ticks == list(range(5))  # the loop ran the ticker while recv_async waited
    sub.close()
    pub.close()


def test_publisher_thread_wakes_the_loop(client):
    client.create("aiothread", policy="block")
    sub = client.subscriber("aiothread", start="earliest", wait="eventfd")
    n = 5000

    def publish():
        with client.publisher("aiothread") as pub:
            for i in range(n):
                pub.publish(i.to_bytes(4, "little"))
                if i % 1000 == 0:
                    time.sleep(0.005)

    async def main():
        seen = 0
        async for msg in sub:
            assert int.from_bytes(msg.data, "little") == seen
            seen += 1
            if seen == n:
                return seen

    t = threading.Thread(target=publish)
    t.start()
    try:
        assert run(main()) == n
    finally:
        t.join(HANG_S)
    sub.close()


def test_async_on_a_subscriber_without_eventfd_raises_bad_state(client):
    client.create("aiobad")
    with client.subscriber("aiobad", wait="sleep") as sub:
        with pytest.raises(shmq.BadState) as e:
            run(sub.recv_async())
        assert "eventfd" in str(e.value)
