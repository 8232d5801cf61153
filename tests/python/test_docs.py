"""What the documentation shows, run: README.md's Python blocks, the
example python/examples/orders.py, and python -m shmq.bench (a short
run: it must measure every transport and print its ratios; how fast
anything is never fails a test)."""

import json
import os
import re
import subprocess
import sys

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HANG_S = 120


def run_python(daemon, args, **kw):
    env = dict(os.environ, SHMQ_SOCKET=daemon.sock)
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=HANG_S, **kw)


def readme_python_block(n: int = 0) -> str:
    """The nth ```python block of README.md's Python section."""
    with open(os.path.join(SRC, "README.md")) as f:
        text = f.read()
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)[n]


def test_readme_python_block_runs_and_prints_what_it_says(daemon):
    out = run_python(daemon, ["-c", readme_python_block()])
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["0 b'hello' b'user-1'", "1 b'one' None",
                                       "2 b'two' None", "3 b'world' None"]


def test_readme_routing_groups_and_reqrep_block_prints_what_it_says(daemon):
    out = run_python(daemon, ["-c", readme_python_block(1)])
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[('jobs.eu', b'a'), ('jobs.us', b'c')]", "b'a' 1",
                                       "b'pong'"]


def test_example_orders_runs(daemon):
    out = run_python(daemon, [os.path.join(SRC, "python", "examples", "orders.py"), "3000"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["blocking subscriber: 3000 orders, in order",
                                       "asyncio subscriber: 3000 orders, in order"]


def test_bench_measures_every_transport(daemon, tmp_path):
    out = run_python(daemon, ["-m", "shmq.bench", "--socket", daemon.sock, "--runs", "1",
                              "--count", "3000", "--roundtrips", "300", "--warmup", "50",
                              "--quiet", "--json", str(tmp_path / "b.json")])
    assert out.returncode == 0, out.stderr
    assert "streaming shmq publish() / multiprocessing.Queue:" in out.stdout
    with open(tmp_path / "b.json") as f:
        rows = json.load(f)["results"]
    assert {(r["scenario"], r["transport"]) for r in rows} == {
        ("pingpong", "shmq"), ("pingpong", "multiprocessing.Queue"),
        ("pingpong", "socketpair"), ("streaming", "shmq publish()"),
        ("streaming", "shmq publish_many(64)"), ("streaming", "multiprocessing.Queue"),
        ("streaming", "socketpair")}
    for r in rows:
        assert r.get("msgs_per_s", 1) > 0 and r.get("p50", 1) > 0
