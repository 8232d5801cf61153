"""python -m shmq.bench - shmq from Python beside Python's own ways of
moving messages between processes, in the same run: 64-byte ping-pong
latency and one-way streaming rate for shmq, multiprocessing.Queue and
an AF_UNIX socketpair (SOCK_SEQPACKET, one message per datagram).

Each transport runs between this process and one peer process (started
with multiprocessing's spawn method), pinned to two CPUs (--cpus). Every
figure is the median over --runs rounds, each round running every
transport once. One-way latency is half a round trip. Streaming counts
messages the receiver took (and read the first byte of) per second,
from the moment it told the sender to start until the last one.

shmq needs a daemon: --socket PATH (or $SHMQ_SOCKET, or the default
path) names a running one; --shmqd PATH starts a private one on a
temporary socket for the run and stops it after.
"""

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import shmq

_CTX = multiprocessing.get_context("spawn")


def _pin(cpu):
    if cpu is not None:
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass


# ---- peers: each runs in its own process -------------------------------


def _shmq_echo(sock, ping, pong, cpu, ready):
    _pin(cpu)
    with shmq.connect(sock) as c:
        with c.subscriber(ping, start="earliest") as sub, c.publisher(pong) as pub:
            ready.set()
            for msg in sub:
                if msg.size == 0:
                    break
                _publish_retrying(pub, msg.data)


def _shmq_send(sock, name, n, size, batch, cpu, ready, go):
    _pin(cpu)
    payload = b"x" * size
    with shmq.connect(sock) as c, c.publisher(name) as pub:
        ready.set()
        go.wait()
        if batch > 1:
            msgs = [payload] * batch
            for _ in range(n // batch):
                _publish_retrying(pub, msgs)
            for _ in range(n % batch):
                _publish_retrying(pub, payload)
        else:
            for _ in range(n):
                _publish_retrying(pub, payload)


def _publish_retrying(pub, what):
    """Publish again what shmqd abandoned: on a loaded machine the sender
    can be descheduled between claim and commit for longer than the daemon
    waits (readers then count the first attempt as lost)."""
    while True:
        try:
            if isinstance(what, list):
                return pub.publish_many(what)
            return pub.publish(what)
        except shmq.Abandoned:
            pass


def _queue_echo(q_in, q_out, cpu, ready):
    _pin(cpu)
    ready.set()
    while True:
        m = q_in.get()
        if not m:
            break
        q_out.put(m)


def _queue_send(q, n, size, cpu, ready, go):
    _pin(cpu)
    payload = b"x" * size
    ready.set()
    go.wait()
    for _ in range(n):
        q.put(payload)


def _sock_echo(s, cpu, ready):
    _pin(cpu)
    ready.set()
    while True:
        m = s.recv(65536)
        if not m:
            break
        s.send(m)


def _sock_send(s, n, size, cpu, ready, go):
    _pin(cpu)
    payload = b"x" * size
    ready.set()
    go.wait()
    for _ in range(n):
        s.send(payload)


# ---- the measuring side ------------------------------------------------


def _start(target, args, cpu, go=None):
    """Start target(*args, cpu, ready[, go]) in a peer process; once it is ready."""
    ready = _CTX.Event()
    extra = (ready,) if go is None else (ready, go)
    p = _CTX.Process(target=target, args=(*args, cpu, *extra), daemon=True)
    p.start()
    deadline = time.monotonic() + 60
    while not ready.wait(0.05):
        if not p.is_alive() or time.monotonic() > deadline:
            p.kill()
            raise RuntimeError(f"{target.__name__} did not start (exit code {p.exitcode})")
    return p


def _stop(p):
    p.join(60)
    if p.is_alive():
        p.kill()
        p.join()


def _pingpong(send, recv, warmup, n, payload):
    """One-way latencies in ns: half of each of n timed round trips."""
    for _ in range(warmup):
        send(payload)
        recv()
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t = clock()
        send(payload)
        recv()
        out.append((clock() - t) / 2)
    return out


def _percentiles(lat):
    lat = sorted(lat)
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    return {"p50": pick(0.50), "p99": pick(0.99), "p999": pick(0.999), "max": lat[-1]}


class Bench:
    def __init__(self, args):
        self.a = args
        self.sock = args.socket
        cpus = [int(c) for c in args.cpus.split(",")] if args.cpus else []
        self.cpu_self = cpus[0] if cpus else None
        self.cpu_peer = cpus[1] if len(cpus) > 1 else None
        self.payload = b"x" * args.size
        self.seq = 0

    def _names(self, *kinds):
        self.seq += 1
        return [f"bench.py.{os.getpid()}.{self.seq}.{k}" for k in kinds]

    # ping-pong

    def pp_shmq(self):
        a = self.a
        ping, pong = self._names("ping", "pong")
        with shmq.connect(self.sock) as c:
            for name in (ping, pong):
                c.create(name, capacity="1M", max_message=max(a.size, 1), policy="block")
            with c.subscriber(pong, start="earliest") as sub, c.publisher(ping) as pub:
                p = _start(_shmq_echo, (self.sock, ping, pong), self.cpu_peer)
                lat = _pingpong(pub.publish, lambda: sub.recv(timeout=60), a.warmup,
                                a.roundtrips, self.payload)
                pub.publish(b"")
                _stop(p)
            for name in (ping, pong):
                c.delete(name)
        return _percentiles(lat)

    def pp_queue(self):
        a = self.a
        q1, q2 = _CTX.Queue(), _CTX.Queue()
        p = _start(_queue_echo, (q1, q2), self.cpu_peer)
        lat = _pingpong(q1.put, q2.get, a.warmup, a.roundtrips, self.payload)
        q1.put(b"")
        _stop(p)
        return _percentiles(lat)

    def pp_socket(self):
        a = self.a
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        p = _start(_sock_echo, (theirs,), self.cpu_peer)
        theirs.close()
        lat = _pingpong(mine.send, lambda: mine.recv(65536), a.warmup, a.roundtrips,
                        self.payload)
        mine.close()
        _stop(p)
        return _percentiles(lat)

    # streaming: messages per second at the receiver

    def st_shmq(self, batch=1):
        a = self.a
        (name,) = self._names("stream")
        go = _CTX.Event()
        with shmq.connect(self.sock) as c:
            c.create(name, capacity="4M", max_message=max(a.size, 1), policy="block")
            with c.subscriber(name, start="earliest") as sub:
                p = _start(_shmq_send, (self.sock, name, a.count, a.size, batch),
                           self.cpu_peer, go)
                t0 = time.perf_counter()
                go.set()
                n = 0
                while n < a.count:
                    try:
                        for msg in sub.iter(timeout=1.0):
                            msg.data[0]
                            n += 1
                            if n == a.count:
                                break
                    finally:
                        if n < a.count and not p.is_alive():
                            raise RuntimeError(f"the sender died after {n} messages")
                rate = n / (time.perf_counter() - t0)
                _stop(p)
            c.delete(name)
        return {"msgs_per_s": rate}

    def st_queue(self):
        a = self.a
        q = _CTX.Queue()
        go = _CTX.Event()
        p = _start(_queue_send, (q, a.count, a.size), self.cpu_peer, go)
        t0 = time.perf_counter()
        go.set()
        get = q.get
        for _ in range(a.count):
            get()[0]
        rate = a.count / (time.perf_counter() - t0)
        _stop(p)
        return {"msgs_per_s": rate}

    def st_socket(self):
        a = self.a
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        go = _CTX.Event()
        p = _start(_sock_send, (theirs, a.count, a.size), self.cpu_peer, go)
        theirs.close()
        t0 = time.perf_counter()
        go.set()
        recv = mine.recv
        for _ in range(a.count):
            recv(65536)[0]
        rate = a.count / (time.perf_counter() - t0)
        mine.close()
        _stop(p)
        return {"msgs_per_s": rate}


SCENARIOS = [
    ("pingpong", "shmq", "pp_shmq", {}),
    ("pingpong", "multiprocessing.Queue", "pp_queue", {}),
    ("pingpong", "socketpair", "pp_socket", {}),
    ("streaming", "shmq publish()", "st_shmq", {}),
    ("streaming", "shmq publish_many(64)", "st_shmq", {"batch": 64}),
    ("streaming", "multiprocessing.Queue", "st_queue", {}),
    ("streaming", "socketpair", "st_socket", {}),
]


def run_all(args):
    b = Bench(args)
    _pin(b.cpu_self)
    rounds = []
    for r in range(args.runs):
        one = {}
        for kind, name, method, kw in SCENARIOS:
            one[(kind, name)] = getattr(b, method)(**kw)
            if not args.quiet:
                print(f"  round {r + 1}: {kind} {name}: {_brief(one[(kind, name)])}",
                      file=sys.stderr)
        rounds.append(one)
    return {key: {m: statistics.median(rd[key][m] for rd in rounds) for m in rounds[0][key]}
            for key in rounds[0]}


def _brief(fig):
    if "msgs_per_s" in fig:
        return f"{fig['msgs_per_s']:,.0f} msgs/s"
    return f"p50 {fig['p50']:,.0f} ns, p99 {fig['p99']:,.0f} ns"


def report(args, res, out=sys.stdout):
    w = out.write
    w(f"shmq.bench: Python {sys.version.split()[0]}, {args.size} B messages, median of "
      f"{args.runs} run(s), CPUs {args.cpus or 'unpinned'}\n")
    w(f"ping-pong, one-way = round trip / 2, {args.roundtrips:,} round trips"
      f" after {args.warmup:,}:\n")
    w(f"  {'transport':<28}{'p50 ns':>12}{'p99 ns':>12}{'p99.9 ns':>12}{'max ns':>12}\n")
    for (kind, name), fig in res.items():
        if kind == "pingpong":
            w(f"  {name:<28}{fig['p50']:>12,.0f}{fig['p99']:>12,.0f}{fig['p999']:>12,.0f}"
              f"{fig['max']:>12,.0f}\n")
    w(f"streaming, {args.count:,} messages:\n")
    w(f"  {'transport':<28}{'msgs/s':>14}\n")
    for (kind, name), fig in res.items():
        if kind == "streaming":
            w(f"  {name:<28}{fig['msgs_per_s']:>14,.0f}\n")
    st = {name: fig["msgs_per_s"] for (kind, name), fig in res.items() if kind == "streaming"}
    pp = {name: fig["p50"] for (kind, name), fig in res.items() if kind == "pingpong"}
    w("ratios:\n")
    for base in ("multiprocessing.Queue", "socketpair"):
        w(f"  streaming shmq publish() / {base}: {st['shmq publish()'] / st[base]:.1f}x; "
          f"shmq publish_many(64) / {base}: {st['shmq publish_many(64)'] / st[base]:.1f}x\n")
        w(f"  ping-pong p50 {base} / shmq: {pp[base] / pp['shmq']:.1f}x\n")


class _Daemon:
    """A private shmqd on a temporary socket (--shmqd)."""

    def __init__(self, path):
        self.dir = tempfile.mkdtemp(prefix="shmq-bench.")
        self.sock = os.path.join(self.dir, "s")
        # the daemon keeps stderr for its log: a file, not a pipe this waits on
        with open(os.path.join(self.dir, "shmqd.log"), "w") as log:
            out = subprocess.run([path, "--quiet", "--socket", self.sock, "--background"],
                                 check=True, stdout=subprocess.PIPE, stderr=log, text=True)
        self.pid = int(out.stdout.split()[0])

    def stop(self):
        try:
            os.kill(self.pid, signal.SIGTERM)
            for _ in range(300):
                os.kill(self.pid, 0)
                time.sleep(0.01)
        except ProcessLookupError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m shmq.bench",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", help="shmqd's socket (default: $SHMQ_SOCKET or the default)")
    ap.add_argument("--shmqd", help="start this shmqd on a temporary socket for the run")
    ap.add_argument("--size", type=int, default=64, help="payload bytes (default 64)")
    ap.add_argument("--roundtrips", type=int, default=20000,
                    help="timed ping-pong round trips (default 20,000)")
    ap.add_argument("--warmup", type=int, default=2000, help="untimed round trips first")
    ap.add_argument("--count", type=int, default=200000,
                    help="streamed messages per transport (default 200,000)")
    ap.add_argument("--runs", type=int, default=3, help="rounds; figures are medians (3)")
    ap.add_argument("--cpus", default="0,1" if (os.cpu_count() or 1) > 1 else "",
                    help="CPU of this process, CPU of the peer (default 0,1; '' unpinned)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("-q", "--quiet", action="store_true", help="no per-round lines on stderr")
    args = ap.parse_args(argv)
    if args.size < 1 or args.count < 1 or args.roundtrips < 1 or args.runs < 1:
        ap.error("--size, --count, --roundtrips and --runs must be positive")
    daemon = _Daemon(args.shmqd) if args.shmqd else None
    if daemon:
        args.socket = daemon.sock
    try:
        try:
            shmq.connect(args.socket).close()
        except shmq.NoDaemon as e:
            print(f"shmq.bench: {e}; start shmqd or give --shmqd PATH", file=sys.stderr)
            return 1
        res = run_all(args)
    finally:
        if daemon:
            daemon.stop()
    report(args, res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": [
                {"scenario": k, "transport": n, **fig} for (k, n), fig in res.items()]},
                f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
