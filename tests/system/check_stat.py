#!/usr/bin/env python3
"""check_stat.py - shmq-stat against a real shmqd in a fresh directory.

  check_stat.py workload    a known workload gives exactly the expected counters in --json
  check_stat.py prometheus  --prometheus passes `promtool check metrics` (missing promtool fails)
  check_stat.py http        --listen on TCP answers a curl scrape, refuses other methods, paths, sizes
  check_stat.py live        the live view on a pty shows channel names and non-zero rates
  check_stat.py garbage     a scribbled or newer data header: clear error, exit 1, no crash
  check_stat.py stress      publishers and readers in every wait mode: counters stay exact
  check_stat.py down        with the daemon gone, the open channels still show, marked
  check_stat.py busy       the daemon stopped (SIGSTOP): the view goes on, from shared memory
  check_stat.py nonroot     as nobody: only the channels and clients it may see (root only)
  check_stat.py idle        --listen: silent and half-sent connections do not hold a scrape
  check_stat.py drip        --listen: a request that never ends is cut on its own deadline
  check_stat.py badchan     --listen: a channel it cannot read is an error metric, not a stop
  check_stat.py access      --listen: who may scrape, and each sees what `shmq ls` shows it
  check_stat.py names       a non-ASCII command name is UTF-8 in --json; invalid bytes U+FFFD
  check_stat.py rates       --once and --json measure rates over --interval: numbers with traffic
  check_stat.py schemas     every --json of shmq (sub, ls, info) and shmq-stat parses and
                            carries the schema version its doc gives

Environment: SHMQD, SHMQ_STAT, STAT_WORKLOAD (set by meson).
"""
import json
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SHMQD = os.environ["SHMQD"]
STAT = os.environ["SHMQ_STAT"]
WORK = os.environ["STAT_WORKLOAD"]
SHMQ = os.environ.get("SHMQ_TOOL", "")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Env:
    def __init__(self, config=None):
        self.dir = tempfile.mkdtemp(prefix="shmq-stat-test-")
        os.chmod(self.dir, 0o755)
        self.config = None
        if config:
            self.config = os.path.join(self.dir, "shmqd.conf")
            with open(self.config, "w") as f:
                f.write(config)
        self.sock = os.path.join(self.dir, "shmqd.sock")
        os.environ["SHMQ_SOCKET"] = self.sock
        self.log = open(os.path.join(self.dir, "shmqd.log"), "w")
        self.daemon = None
        self.procs = []
        self.start_daemon()

    def start_daemon(self):
        args = [SHMQD, "--socket", self.sock]
        if self.config:
            args += ["--config", self.config]
        self.daemon = subprocess.Popen(args, stderr=self.log)
        for _ in range(500):
            if os.path.exists(self.sock):
                return
            time.sleep(0.01)
        fail("shmqd did not start")

    def stop_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            self.daemon.wait(timeout=20)

    def spawn(self, *args, comm=None):
        env = dict(os.environ)
        if comm is not None:  # bytes: the command name it takes (prctl)
            env["STAT_WORKLOAD_COMM"] = os.fsdecode(comm)
        p = subprocess.Popen([WORK] + [str(a) for a in args], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, bufsize=1, env=env)
        self.procs.append(p)
        return p

    def line(self, p, want, timeout=60):
        r, _, _ = select.select([p.stdout], [], [], timeout)
        check(r, "no '%s' from %s within %d s" % (want, p.args, timeout))
        got = p.stdout.readline().split()
        check(got and got[0] == want, "%s said %r, not %s" % (p.args, got, want))
        return [int(x) for x in got[1:]]

    def create(self, name, *opts):
        subprocess.run([SHMQ, "create", name] + list(opts), check=True)

    def stat(self, *args, ok=True):
        r = subprocess.run([STAT] + list(args), capture_output=True, text=True, timeout=60)
        if ok and r.returncode != 0:
            fail("shmq-stat %s exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
        return r

    def json(self, *args):
        snap = json.loads(self.stat("--json", *args).stdout)
        check(snap["schema"] == "shmq-stat" and snap["version"] == 1, "schema/version")
        return snap

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    if p.stdin:
                        p.stdin.close()
                    else:
                        p.terminate()
                except OSError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.stop_daemon()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def chan(snap, name):
    for c in snap["channels"]:
        if c["name"] == name:
            return c
    fail("channel %s not in the snapshot: %s" % (name, [c["name"] for c in snap["channels"]]))


def samples_below(n, first=0):
    """Sampled offsets (multiples of 64) in [first, n)."""
    return len([o for o in range(first, n) if o % 64 == 0])


def rec_bytes(length):
    return (32 + length + 31) & ~31


def eq(got, want, what):
    check(got == want, "%s: got %r, want %r" % (what, got, want))


# ---- the known workload ----

def setup_workload(e):
    e.create("w.main", "--capacity", "4M", "--max-message", "2K")
    e.create("w.drop", "--capacity", "4K", "--max-message", "64", "--policy", "drop")
    e.create("w.claim", "--capacity", "64K", "--max-message", "64")
    a = e.spawn("sub", "w.main", 10000, "sleep")
    b = e.spawn("sub", "w.main", 4000, "spin_sleep")
    e.line(a, "ready")
    e.line(b, "ready")
    pub = e.spawn("pub", "w.main", 10000, 100, 1000)
    eq(e.line(pub, "done"), [10000, 9999 * 100 + 1000, 1000], "publisher's own count")
    ra, rb = e.line(a, "done"), e.line(b, "done")
    eq(ra, [10000, 0, 0], "reader a's own count")
    eq(rb, [4000, 0, 0], "reader b's own count")
    lap = e.spawn("lapped", "w.drop")
    e.line(lap, "ready")
    dpub = e.spawn("pub", "w.drop", 1000, 32, 32)
    e.line(dpub, "done")
    lap.stdin.write("go\n")
    lap.stdin.flush()
    rl = e.line(lap, "done")
    c = e.spawn("sub", "w.claim", 10, "eventfd")
    e.line(c, "ready")
    cl = e.spawn("claim", "w.claim", 16)
    e.line(cl, "claimed")
    cl.send_signal(signal.SIGKILL)
    cl.wait()
    cpub = e.spawn("pub", "w.claim", 10, 8, 8)
    e.line(cpub, "done")
    rc = e.line(c, "done")
    return {"a": a, "b": b, "pub": pub, "lap": lap, "rl": rl, "rc": rc, "c": c, "cpub": cpub}


def test_workload():
    e = Env()
    try:
        w = setup_workload(e)
        snap = e.json()
        d = snap["daemon"]
        check(d["reachable"], "daemon reachable")
        eq(d["repairs"], 1, "daemon repairs (the killed claim)")
        eq(d["channels"], 3, "daemon channels")
        eq(d["protocol_errors"], 0, "daemon protocol errors")
        eq(d["denials"], 0, "daemon denials")
        check(d["uptime_s"] >= 0 and d["clients"] >= 6, "daemon uptime/clients: %r" % d)
        pids = {cl["pid"]: cl for cl in snap["clients"]}
        check(w["a"].pid in pids and pids[w["a"].pid]["channels"] == 1, "client rows: %r" % pids)
        eq(pids[w["pub"].pid]["comm"], "stat_workload", "client comm")

        m = chan(snap, "w.main")
        eq(m["error"], None, "w.main error")
        eq(m["messages"], 10000, "w.main messages")
        eq(m["publishers"], 1, "w.main publishers")
        eq(m["subscribers"], 2, "w.main subscribers")
        eq(m["monitors"], 1, "w.main monitors (this shmq-stat)")
        eq(m["depth_messages"], 6000, "w.main depth")
        eq(m["depth_bytes"], 5999 * rec_bytes(100) + rec_bytes(1000), "w.main depth bytes")
        eq(m["drops"], 0, "w.main drops")
        eq(m["abandoned"], 0, "w.main abandoned")
        eq(m["largest_message_bytes"], 1000, "w.main largest message")
        eq(m["latency"]["samples"], samples_below(10000) + samples_below(4000), "w.main samples")
        eq(sum(m["latency"]["counts"]), m["latency"]["samples"], "w.main bucket sum")
        rows = {r["pid"]: r for r in m["readers"]}
        ra, rb = rows[w["a"].pid], rows[w["b"].pid]
        eq((ra["received"], ra["lag_messages"], ra["offset"], ra["wait"]),
           (10000, 0, 10000, "sleep"), "reader a")
        eq((rb["received"], rb["lag_messages"], rb["offset"], rb["wait"]),
           (4000, 6000, 4000, "spin_sleep"), "reader b")
        check(rb["slowest"] and not ra["slowest"], "the stopped reader is the slowest")
        eq(ra["latency"]["samples"], samples_below(10000), "reader a samples")
        eq(rb["latency"]["samples"], samples_below(4000), "reader b samples")
        eq((ra["lost_overrun"], ra["lost_abandoned"]), (0, 0), "reader a lost")
        # w.main's publisher, from its entry
        pw = [x for x in snap_pubs(m) if x["pid"] == w["pub"].pid][0]
        eq((pw["messages"], pw["bytes"], pw["largest_message_bytes"], pw["abandoned"]),
           (10000, 9999 * 100 + 1000, 1000, 0), "w.main publisher")

        dr = chan(snap, "w.drop")
        eq(dr["policy"], "drop", "w.drop policy")
        eq(dr["messages"], 1000, "w.drop messages")
        lr = dr["readers"][0]
        rl = w["rl"]
        check(rl[1] > 0, "the lapped reader lost messages: %r" % rl)
        eq(rl[0] + rl[1], 1000, "the lapped reader's received + lost")
        eq((lr["received"], lr["lost_overrun"], lr["lag_messages"]), (rl[0], rl[1], 0),
           "w.drop reader")
        eq(dr["drops"], rl[1], "w.drop drops")

        ca = chan(snap, "w.claim")
        eq(ca["messages"], 11, "w.claim messages (one abandoned)")
        eq(ca["abandoned"], 1, "w.claim abandoned")
        eq(ca["publishers"], 1, "w.claim publishers (the killed one is gone)")
        cr = ca["readers"][0]
        eq((cr["received"], cr["lost_abandoned"], cr["wait"]), (10, 1, "eventfd"), "w.claim reader")
        eq(w["rc"], [10, 0, 1], "w.claim reader's own count")

        # --channel narrows, with a glob
        narrowed = e.json("--channel", "w.d*")
        eq([c["name"] for c in narrowed["channels"]], ["w.drop"], "--channel w.d*")
        # text: every channel's name
        out = e.stat("--once").stdout
        for name in ("w.main", "w.drop", "w.claim"):
            check(name in out, "--once shows %s" % name)
        # --watch: JSON lines with rates
        lines = e.stat("--json", "--watch", "0.2", "--count", "2").stdout.splitlines()
        eq(len(lines), 2, "--watch --count 2 lines")
        second = json.loads(lines[1])
        check(second["interval_s"] and chan(second, "w.main")["rate_messages_per_s"] == 0,
              "--watch second line has rates: %r" % second["interval_s"])
    finally:
        e.close()
    print("workload: ok")


def snap_pubs(c):
    return c["pubs"]


# ---- Prometheus ----

def promtool():
    path = shutil.which("promtool")
    if not path:
        fail("promtool is missing: install Debian's prometheus package (scripts/deps.sh build)")
    return path


def test_prometheus():
    tool = promtool()
    e = Env()
    try:
        setup_workload(e)
        text = e.stat("--prometheus").stdout
        for want in ('shmq_channel_messages_total{channel="w.main"} 10000',
                     'shmq_daemon_repairs_total 1',
                     'shmq_channel_latency_seconds_bucket{channel="w.main",le="+Inf"} %d'
                     % (samples_below(10000) + samples_below(4000)),
                     'shmq_channel_abandoned_total{channel="w.claim"} 1'):
            check(want in text, "--prometheus lacks %r" % want)
        r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True,
                           text=True)
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            fail("promtool check metrics: exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    finally:
        e.close()
    print("prometheus: ok")


# ---- HTTP ----

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raw_http(port, data, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
    except OSError:
        pass
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    s.close()
    return got.decode("latin-1")


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "10"] + list(args), capture_output=True,
                          text=True)


def test_http():
    check(shutil.which("curl"), "curl is missing (scripts/deps.sh build)")
    e = Env()
    port = free_port()
    srv = None
    try:
        e.create("h.one")
        r = e.stat("--listen", "0.0.0.0:%d" % port, "--tcp-exposes-all", ok=False)
        check(r.returncode == 2 and "loopback" in r.stderr, "non-loopback refused: %r" % r.stderr)
        srv = subprocess.Popen([STAT, "--listen", "127.0.0.1:%d" % port, "--tcp-exposes-all"],
                               stderr=subprocess.PIPE, text=True)
        for _ in range(200):
            if curl("-o", "/dev/null", "http://127.0.0.1:%d/metrics" % port).returncode == 0:
                break
            time.sleep(0.05)
        r = curl("-i", "http://127.0.0.1:%d/metrics" % port)
        check(r.returncode == 0 and r.stdout.startswith("HTTP/1.1 200"), "scrape: %r" % r.stdout[:200])
        check('shmq_channel_monitors{channel="h.one"} 1' in r.stdout, "scrape has h.one")
        r = curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--data", "x",
                 "http://127.0.0.1:%d/metrics" % port)
        eq(r.stdout, "405", "POST")
        r = curl("-o", "/dev/null", "-w", "%{http_code}", "-I", "http://127.0.0.1:%d/metrics" % port)
        eq(r.stdout, "405", "HEAD")
        r = curl("-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:%d/other" % port)
        eq(r.stdout, "404", "other path")
        big = raw_http(port, b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
        check(big.startswith("HTTP/1.1 431"), "oversized request: %r" % big[:80])
        for garbage in (b"garbage line here\r\n\r\n", b"GET /metrics FOO/1.0\r\n\r\n"):
            bad = raw_http(port, garbage)
            check(bad.startswith("HTTP/1.1 400"), "garbage request: %r" % bad[:80])
        bad = raw_http(port, b"garbage\r\n\r\n")
        check(bad == "" or bad.startswith("HTTP/1.1 400"), "one word: %r" % bad[:80])
        # a client that says nothing does not hold the scrapes after it for long
        idle = socket.create_connection(("127.0.0.1", port))
        t0 = time.time()
        r = curl("-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:%d/metrics" % port)
        eq(r.stdout, "200", "scrape after an idle client")
        check(time.time() - t0 < 8, "an idle client held the responder")
        idle.close()
        check(srv.poll() is None, "the responder still runs")
    finally:
        if srv:
            srv.send_signal(signal.SIGTERM)
            srv.wait(timeout=10)
        e.close()
    print("http: ok")


# ---- the live view on a pty ----

def read_pty(fd, seconds):
    """What a program on the pty at fd writes until it ends or seconds pass, as text."""
    seen = b""
    deadline = time.time() + seconds
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    return seen.decode("utf-8", "replace")


def test_live():
    e = Env()
    try:
        e.create("live.alpha", "--capacity", "64K", "--max-message", "64")
        e.create("live.beta")
        s = e.spawn("sub", "live.alpha", 10 ** 12, "sleep")
        e.line(s, "ready")
        feeder = subprocess.Popen([WORK, "pub", "live.alpha", str(10 ** 12), "16", "16"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(STAT, [STAT, "--interval", "0.5", "--count", "6", "--sort", "rate"])
        text = read_pty(fd, 30)
        _, status = os.waitpid(pid, 0)
        feeder.kill()
        feeder.wait()
        s.kill()
        eq(os.waitstatus_to_exitcode(status), 0, "live view exit")
        frames = text.split("\x1b[H\x1b[2J")
        check(len(frames) >= 3, "live frames: %d" % len(frames))
        last = frames[-1]
        check("live.alpha" in last and "live.beta" in last, "channel names in the view")
        check("\x1b[" in last, "colour on a terminal")
        row = [l for l in last.splitlines() if l.lstrip("\x1b[0-9;m").startswith("live.alpha")
               or "live.alpha" in l.split(" ")[0]][0]
        rate = row.split()[1]
        check(rate not in ("-", "0"), "non-zero rate in %r" % row)
        for l in last.splitlines():
            plain = l
            while "\x1b[" in plain:
                a = plain.index("\x1b[")
                b = a + 2
                while b < len(plain) and not plain[b].isalpha():
                    b += 1
                plain = plain[:a] + plain[b + 1:]
            check(len(plain) <= 80, "line wider than 80 columns: %r" % plain)
        print(last)
    finally:
        e.close()
    print("live: ok")


# ---- garbage ----

def test_garbage():
    e = Env()
    try:
        for what in ("magic", "version", "incompat"):
            name = "g." + what
            e.create(name)
            s = e.spawn("scribble", name, what)
            e.line(s, "done")
            for mode in (["--json"], ["--once"], ["--prometheus"]):
                r = e.stat(*mode, "--channel", name, ok=False)
                eq(r.returncode, 1, "%s after %s: exit" % (mode, what))
                check(name in r.stderr and "SHMQ_E" in r.stderr, "clear error: %r" % r.stderr)
                check("Traceback" not in r.stderr and r.returncode >= 0, "no crash")
            s.stdin.close()
            s.wait()
        # a channel opened before the scribble: the running view stops too
        e.create("g.later")
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(STAT, [STAT, "--interval", "0.2", "--channel", "g.later"])
        time.sleep(1)
        s = e.spawn("scribble", "g.later", "magic")
        e.line(s, "done")
        seen = read_pty(fd, 20)
        _, status = os.waitpid(pid, 0)
        eq(os.waitstatus_to_exitcode(status), 1, "live view exit after the scribble")
        check("SHMQ_ECORRUPT" in seen, "live view says why")
    finally:
        e.close()
    print("garbage: ok")


# ---- stress ----

def test_stress():
    e = Env()
    npub, per = 3, 100000
    total = npub * per
    try:
        e.create("s.block", "--capacity", "64K", "--max-message", "256", "--policy", "block")
        waits = ["spin", "spin_sleep", "sleep", "eventfd"]
        subs = [e.spawn("sub", "s.block", total, w) for w in waits]
        for s in subs:
            e.line(s, "ready")
        pubs = [e.spawn("pubvar", "s.block", per, 200, 7 + i) for i in range(npub)]
        own = {p.pid: e.line(p, "done", timeout=240) for p in pubs}
        for s in subs:
            eq(e.line(s, "done", timeout=240), [total, 0, 0], "reader's own count")
        snap = e.json()
        c = chan(snap, "s.block")
        eq(c["messages"], total, "messages")
        eq(c["depth_messages"], 0, "depth")
        eq(c["abandoned"], 0, "abandoned")
        eq(c["largest_message_bytes"], max(v[2] for v in own.values()), "largest message")
        eq(c["latency"]["samples"], len(waits) * samples_below(total), "latency samples")
        eq({r["wait"] for r in c["readers"]}, set(waits), "wait modes")
        for r in c["readers"]:
            eq((r["received"], r["lost_overrun"], r["lost_abandoned"], r["lag_messages"]),
               (total, 0, 0, 0), "reader %s" % r["wait"])
            eq(r["latency"]["samples"], samples_below(total), "reader %s samples" % r["wait"])
        check(sum(r["sleeps"] for r in c["readers"] if r["wait"] == "spin") == 0,
              "spinning readers never sleep")
        for p in snap_pubs(c):
            mine = own[p["pid"]]
            eq((p["messages"], p["bytes"], p["largest_message_bytes"], p["abandoned"]),
               (mine[0], mine[1], mine[2], 0), "publisher %d" % p["pid"])
        eq(sum(p["space_waits"] for p in snap_pubs(c)), c["space_waits"], "space waits sum")
    finally:
        e.close()
    print("stress: ok")


# ---- the daemon goes away ----

def test_down():
    e = Env()
    try:
        e.create("d.kept")
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(STAT, [STAT, "--interval", "0.2", "--count", "30"])
        time.sleep(1.5)
        e.stop_daemon()
        seen = read_pty(fd, 30)
        _, status = os.waitpid(pid, 0)
        eq(os.waitstatus_to_exitcode(status), 0, "live view exit")
        last = seen.split("\x1b[H\x1b[2J")[-1]
        check("daemon unreachable" in last and "d.kept" in last, "down view: %r" % last)
        r = e.stat("--json", ok=False)
        eq(r.returncode, 3, "--json without a daemon and nothing open")
    finally:
        e.close()
    print("down: ok")


# ---- the daemon stops answering ----



def test_busy():
    e = Env()
    feeder = None
    try:
        e.create("b.flow", "--capacity", "64K", "--max-message", "64")
        s = e.spawn("sub", "b.flow", 10 ** 12, "sleep")
        e.line(s, "ready")
        feeder = subprocess.Popen([WORK, "pub", "b.flow", str(10 ** 12), "16", "16"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(STAT, [STAT, "--interval", "0.3", "--color", "never"])
        read_pty(fd, 1.5)
        e.daemon.send_signal(signal.SIGSTOP)
        try:
            t0 = time.time()
            r = e.stat("--json", ok=False)
            check(time.time() - t0 < 10, "--json against a stopped daemon returns")
            eq(r.returncode, 3, "--json against a stopped daemon, nothing open")
            text = read_pty(fd, 4)
        finally:
            e.daemon.send_signal(signal.SIGCONT)
        frames = text.split("\x1b[H\x1b[2J")
        check(len(frames) >= 4, "the view kept refreshing: %d frames" % len(frames))
        last = frames[-2] if len(frames) > 2 else frames[-1]
        check("daemon not answering" in last, "the view says so: %r" % last)
        row = [l for l in last.splitlines() if l.startswith("b.flow")]
        check(row and row[0].split()[1] not in ("0", "-"), "rates still come: %r" % row)
        text = read_pty(fd, 2)
        check("daemon up" in text.split("\x1b[H\x1b[2J")[-1], "the daemon is back in the view")
        os.kill(pid, signal.SIGTERM)
        read_pty(fd, 2)
        _, status = os.waitpid(pid, 0)
        eq(os.waitstatus_to_exitcode(status), 0, "live view exit")
        s.kill()
    finally:
        if feeder:
            feeder.kill()
            feeder.wait()
        e.close()
    print("busy: ok")


# ---- a user who is not root ----

NOBODY = 65534


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def stage_for_nobody(prog, folder):
    """Copy prog, and the libraries it loads from outside /usr and /lib, to
    folder (reachable by all), as the build tree may sit where nobody
    cannot enter; returns the copy and the environment that runs it."""
    os.makedirs(folder, mode=0o755)
    os.chmod(folder, 0o755)
    out = subprocess.run(["ldd", prog], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        lib = line.split("=>")[1].split()[0] if "=>" in line else ""
        if lib.startswith("/") and not lib.startswith(("/usr/", "/lib")):
            shutil.copy(lib, folder)
    copy = shutil.copy(prog, folder)
    for name in os.listdir(folder):
        os.chmod(os.path.join(folder, name), 0o755)
    return copy, dict(os.environ, LD_LIBRARY_PATH=folder)


def test_nonroot():
    if os.geteuid() != 0:
        print("needs root to become nobody: skipping")
        sys.exit(77)
    e = Env("[channel n.visible]\npublish = 0\nsubscribe = %d\n"
            "[channel n.pubonly]\npublish = %d\nsubscribe = 0\n"
            "[channel n.hidden]\npublish = 0\nsubscribe = 0\n" % (NOBODY, NOBODY))
    try:
        stat, env = stage_for_nobody(STAT, os.path.join(e.dir, "bin"))
        try:
            subprocess.run([stat, "--version"], capture_output=True, env=env,
                           preexec_fn=as_nobody)
        except PermissionError:
            print("nobody cannot execute %s (noexec?): skipping" % stat)
            sys.exit(77)
        root_sub = e.spawn("sub", "n.visible", 1, "sleep")
        e.line(root_sub, "ready")
        r = subprocess.run([stat, "--json"], capture_output=True, text=True, timeout=60,
                           env=env, preexec_fn=as_nobody)
        eq(r.returncode, 0, "shmq-stat as nobody: " + r.stderr)
        snap = json.loads(r.stdout)
        names = {c["name"]: c for c in snap["channels"]}
        eq(sorted(names), ["n.pubonly", "n.visible"], "channels nobody may see")
        eq(names["n.pubonly"]["error"], "SHMQ_EPERM", "a publish-only channel")
        eq(names["n.visible"]["error"], None, "a channel nobody may subscribe to")
        eq(names["n.visible"]["subscribers"], 1, "its subscriber")
        eq(snap["daemon"]["channels"], 2, "daemon channels for nobody")
        check(snap["clients"] and all(c["uid"] == NOBODY for c in snap["clients"]),
              "nobody sees only its own clients: %r" % snap["clients"])
        eq(snap["daemon"]["clients"], len(snap["clients"]), "client count")
        r = subprocess.run([stat, "--once"], capture_output=True, text=True, timeout=60,
                           env=env, preexec_fn=as_nobody)
        check(r.returncode == 0 and "n.visible" in r.stdout and "n.hidden" not in r.stdout,
              "--once as nobody: %r" % r.stdout)
        root = e.json()
        check(len(root["clients"]) > len(snap["clients"]) and root["daemon"]["channels"] == 3,
              "root sees every client and channel")
        root_sub.kill()
    finally:
        e.close()
    print("nonroot: ok")


# ---- the exporter: concurrent connections, per-channel errors, access ----

def start_exporter(e, *args):
    """shmq-stat --listen ARGS...; returns it once a scrape would be answered."""
    srv = subprocess.Popen([STAT, "--listen"] + list(args), stderr=subprocess.PIPE, text=True)
    e.procs.append(srv)
    return srv


def wait_up(srv, *curl_args):
    for _ in range(600):
        check(srv.poll() is None, "the exporter exited: %s" % (srv.stderr.read()
                                                            if srv.poll() is not None else ""))
        r = curl("-o", "/dev/null", "-w", "%{http_code}", *curl_args)
        if r.returncode == 0 and r.stdout == "200":
            return
        time.sleep(0.05)
    fail("the exporter never answered %r" % (curl_args,))


def stop_exporter(srv):
    if srv.poll() is None:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=30)
    return srv.returncode


def tcp_url(port):
    return "http://127.0.0.1:%d/metrics" % port


def test_idle():
    check(shutil.which("curl"), "curl is missing (scripts/deps.sh build)")
    e = Env()
    port = free_port()
    idle = []
    try:
        e.create("i.one")
        srv = start_exporter(e, "127.0.0.1:%d" % port, "--tcp-exposes-all")
        wait_up(srv, tcp_url(port))
        # more silent clients than any listen backlog, and two that stop mid-request
        for _ in range(20):
            idle.append(socket.create_connection(("127.0.0.1", port)))
        for part in (b"GET /metr", b"GET /metrics HTTP/1.1\r\nHost: x\r\n"):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(part)
            idle.append(s)
        t0 = time.time()
        r = curl("-i", "--max-time", "60", tcp_url(port))
        took = time.time() - t0
        check(r.returncode == 0 and r.stdout.startswith("HTTP/1.1 200"),
              "scrape beside silent clients: %r %r" % (r.stdout[:100], r.stderr))
        check('shmq_channel_up{channel="i.one"} 1' in r.stdout, "the scrape has i.one")
        # each silent client still waits on its own: the scrape did not wait for it
        for s in idle:
            s.setblocking(False)
            try:
                got = s.recv(1)
                fail("a silent client was answered or closed before the scrape ended "
                     "(%r, scrape took %.1f s)" % (got, took))
            except BlockingIOError:
                pass
        # ... and each is closed, on its own deadline, without an answer to wait for
        for s in idle:
            s.setblocking(True)
            s.settimeout(120)
            try:
                got = s.recv(65536)
            except ConnectionResetError:
                got = b""
            check(not got.startswith(b"HTTP/1.1 200"), "a silent client got metrics")
        check(srv.poll() is None, "the exporter still runs")
        eq(stop_exporter(srv), 0, "exporter exit on SIGTERM")
    finally:
        for s in idle:
            s.close()
        e.close()
    print("idle: ok")


def test_drip():
    e = Env()
    port = free_port()
    try:
        e.create("d.one")
        srv = start_exporter(e, "127.0.0.1:%d" % port, "--tcp-exposes-all")
        wait_up(srv, tcp_url(port))
        # a byte every second: never idle, never done
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        t0, closed = time.time(), False
        while not closed and time.time() - t0 < 120:
            try:
                s.sendall(b"a")
            except OSError:
                closed = True
                break
            r, _, _ = select.select([s], [], [], 1)
            if r:
                try:
                    got = s.recv(65536)
                except OSError:
                    got = b""
                check(not got.startswith(b"HTTP/1.1 200"), "a request never finished got metrics")
                closed = not got
        s.close()
        check(closed, "a client sending a byte a second still held its connection after 120 s")
        r = curl("-o", "/dev/null", "-w", "%{http_code}", "--max-time", "60", tcp_url(port))
        eq(r.stdout, "200", "a scrape after the slow client")
        eq(stop_exporter(srv), 0, "exporter exit on SIGTERM")
    finally:
        e.close()
    print("drip: ok")


def test_badchan():
    tool = promtool()
    e = Env()
    port = free_port()
    try:
        e.create("c.good")
        e.create("c.bad")
        srv = start_exporter(e, "127.0.0.1:%d" % port, "--tcp-exposes-all")
        wait_up(srv, tcp_url(port))
        s = e.spawn("scribble", "c.bad", "incompat")
        e.line(s, "done")
        for _ in range(3):
            r = curl("-i", "--max-time", "60", tcp_url(port))
            check(r.returncode == 0 and r.stdout.startswith("HTTP/1.1 200"),
                  "scrape with an unreadable channel: %r" % r.stdout[:100])
            text = r.stdout.split("\n\n", 1)[1]
            for want in ('shmq_channel_up{channel="c.good"} 1',
                         'shmq_channel_up{channel="c.bad"} 0',
                         'shmq_channel_error{channel="c.bad",error="SHMQ_EVERSION"} 1',
                         'shmq_channel_messages_total{channel="c.good"} 0'):
                check(want in text, "scrape lacks %r" % want)
            check('shmq_channel_messages_total{channel="c.bad"}' not in text,
                  "numbers of the unreadable channel")
            p = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True,
                               text=True)
            if p.returncode != 0 or p.stdout.strip() or p.stderr.strip():
                fail("promtool check metrics: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
        check(srv.poll() is None, "the exporter still runs")
        eq(stop_exporter(srv), 0, "exporter exit on SIGTERM")
    finally:
        e.close()
    print("badchan: ok")


def curl_as(uid, *args):
    def drop():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return subprocess.run(["curl", "-sS", "--max-time", "60"] + list(args), capture_output=True,
                          text=True, preexec_fn=drop)


def test_access():
    if os.geteuid() != 0:
        print("needs root to become nobody: skipping")
        sys.exit(77)
    check(shutil.which("curl"), "curl is missing (scripts/deps.sh build)")
    stranger = NOBODY - 1
    e = Env("[channel n.visible]\npublish = 0\nsubscribe = %d\n"
            "[channel n.pubonly]\npublish = %d\nsubscribe = 0\n"
            "[channel n.hidden]\npublish = 0\nsubscribe = 0\n" % (NOBODY, NOBODY))
    port = free_port()
    try:
        # TCP cannot tell who connects: only when asked to serve everyone
        try:
            r = subprocess.run([STAT, "--listen", "127.0.0.1:%d" % port], capture_output=True,
                               text=True, timeout=30)
        except subprocess.TimeoutExpired:
            fail("--listen on TCP without --tcp-exposes-all served")
        check(r.returncode == 2 and "--tcp-exposes-all" in r.stderr,
              "TCP without --tcp-exposes-all: exit %d %r" % (r.returncode, r.stderr))
        r = e.stat("--listen", "unix:" + e.dir + "/x.sock", "--allow-uid", "no-such-user-xyz",
                   ok=False)
        eq(r.returncode, 2, "--allow-uid of an unknown user")

        sock = os.path.join(e.dir, "metrics.sock")
        srv = start_exporter(e, "unix:" + sock, "--allow-uid", "nobody")
        url = ["--unix-socket", sock, "http://localhost/metrics"]
        wait_up(srv, *url)
        r = curl(*url)
        for name in ("n.visible", "n.pubonly", "n.hidden"):
            check('shmq_channel_up{channel="%s"} 1' % name in r.stdout, "root sees %s" % name)
        r = curl_as(NOBODY, "-i", *url)
        check(r.returncode == 0 and r.stdout.startswith("HTTP/1.1 200"),
              "scrape as nobody: %r %r" % (r.stdout[:100], r.stderr))
        check('shmq_channel_up{channel="n.visible"} 1' in r.stdout, "nobody sees n.visible")
        check('shmq_channel_error{channel="n.pubonly",error="SHMQ_EPERM"} 1' in r.stdout,
              "n.pubonly is an error for nobody")
        check("n.hidden" not in r.stdout, "nobody does not see n.hidden")
        check('shmq_daemon_channels 2' in r.stdout, "the daemon's count for nobody")
        p = subprocess.run([promtool(), "check", "metrics"], input=r.stdout.split("\n\n", 1)[1],
                           capture_output=True, text=True)
        check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
              "promtool check metrics on nobody's scrape: %s%s" % (p.stdout, p.stderr))
        for line in r.stdout.splitlines():
            if line.startswith("shmq_client_channels{"):
                check('uid="%d"' % NOBODY in line, "a client of another uid: %r" % line)
        r = curl_as(stranger, "-o", "/dev/null", "-w", "%{http_code}", *url)
        eq(r.stdout, "403", "a uid not allowed")
        eq(stop_exporter(srv), 0, "exporter exit on SIGTERM")
        check(not os.path.exists(sock), "the socket is removed at exit")

        # without --allow-uid, only its own uid (and root) may connect at all
        srv = start_exporter(e, "unix:" + sock)
        wait_up(srv, *url)
        eq(os.stat(sock).st_mode & 0o777, 0o600, "socket mode")
        r = curl_as(NOBODY, "-o", "/dev/null", *url)
        check(r.returncode != 0, "nobody connected to a 0600 socket")
        # a socket in use is not taken over; one left by a killed exporter is
        r = e.stat("--listen", "unix:" + sock, ok=False)
        check(r.returncode == 2 and "in use" in r.stderr, "second exporter: %r" % r.stderr)
        wait_up(srv, *url)
        srv.kill()
        srv.wait()
        check(os.path.exists(sock), "a killed exporter leaves its socket")
        srv = start_exporter(e, "unix:" + sock)
        wait_up(srv, *url)
        eq(stop_exporter(srv), 0, "exporter exit on SIGTERM")

        # run by nobody: it may not hand root's uid a view, and root gets nobody's
        mine = os.path.join(e.dir, "nobody")
        os.mkdir(mine)
        os.chown(mine, NOBODY, NOBODY)
        sock = os.path.join(mine, "metrics.sock")
        r = subprocess.run([STAT, "--listen", "unix:" + sock, "--allow-uid", "root"],
                           capture_output=True, text=True, timeout=30, preexec_fn=as_nobody)
        check(r.returncode == 2 and "needs root" in r.stderr,
              "--allow-uid root by nobody: exit %d %r" % (r.returncode, r.stderr))
        srv = subprocess.Popen([STAT, "--listen", "unix:" + sock], stderr=subprocess.PIPE,
                               text=True, preexec_fn=as_nobody)
        e.procs.append(srv)
        url = ["--unix-socket", sock, "http://localhost/metrics"]
        wait_up(srv, *url)
        r = curl(*url)
        check('shmq_channel_up{channel="n.visible"} 1' in r.stdout and "n.hidden" not in r.stdout,
              "root's scrape of nobody's exporter shows nobody's view")
        eq(stop_exporter(srv), 0, "exporter exit on SIGTERM")
    finally:
        e.close()
    print("access: ok")


# ---- JSON: names, rates, schemas ----

def test_names():
    e = Env()
    try:
        e.create("u.chan")
        good = e.spawn("sub", "u.chan", 1, "sleep", comm="café-sub".encode())
        bad = e.spawn("sub", "u.chan", 1, "sleep", comm=b"bad\xff\xc3-sub")
        e.line(good, "ready")
        e.line(bad, "ready")
        raw = e.stat("--json", "--interval", "0").stdout.encode()
        check(b'"comm":"caf\xc3\xa9-sub"' in raw,
              "café-sub is UTF-8 in the JSON, not escaped bytes: %r" % raw[:600])
        snap = json.loads(raw)
        comms = {c["pid"]: c["comm"] for c in snap["clients"]}
        eq(comms.get(good.pid), "café-sub", "the comm of the café-sub process")
        eq(comms.get(bad.pid), "bad\ufffd\ufffd-sub", "invalid bytes become U+FFFD")
        # Prometheus gets UTF-8 too (the exposition format requires it)
        prom = subprocess.run([STAT, "--prometheus"], capture_output=True, timeout=60).stdout
        prom.decode("utf-8")  # valid, or this raises
        check('comm="café-sub"' in prom.decode() and 'comm="bad\ufffd\ufffd-sub"' in prom.decode(),
              "--prometheus comm labels: %r" % prom[-800:])
        e.stat("--once", "--interval", "0")
        for p in (good, bad):
            p.terminate()
    finally:
        e.close()
    print("names: ok")


def column(line, header, name):
    """The value under column name of a text table row (split on spaces)."""
    return line.split()[header.split().index(name)]


def test_rates():
    e = Env()
    pub = None
    try:
        e.create("r.chan")
        reader = e.spawn("sub", "r.chan", 1 << 40, "sleep")
        e.line(reader, "ready")
        pub = subprocess.Popen([SHMQ, "pub", "r.chan", "x", "--count", "100000000", "--rate",
                                "200"])
        counters = os.environ.get("SHMQ_COUNTERS") != "0"
        snap = e.json()  # the default --interval: 1 s between two samples
        check(snap["interval_s"] is not None and snap["interval_s"] >= 0.9,
              "--json interval_s: %r" % snap["interval_s"])
        c = chan(snap, "r.chan")
        check(c["rate_messages_per_s"] is not None and c["rate_messages_per_s"] > 0,
              "--json rate_messages_per_s with traffic: %r" % c["rate_messages_per_s"])
        check(c["rate_bytes_per_s"] is not None and c["rate_bytes_per_s"] > 0,
              "--json rate_bytes_per_s with traffic: %r" % c["rate_bytes_per_s"])
        rr = [r for r in c["readers"] if r["pid"] == reader.pid][0]
        check(rr["rate_received_per_s"] is not None, "--json rate_received_per_s is a number")
        if counters:
            check(rr["rate_received_per_s"] > 0, "reader rate: %r" % rr["rate_received_per_s"])
        lines = e.stat("--once", "--interval", "0.5").stdout.splitlines()
        hdr = [l for l in lines if l.startswith("CHANNEL")][0]
        row = [l for l in lines if l.startswith("r.chan")][0]
        rate = column(row, hdr, "MSG/S")
        check(rate != "-" and float(rate.rstrip("kM")) > 0, "--once MSG/S: %r" % row)
        rhdr = [l for l in lines if "RECV/S" in l][0]
        rrow = [l for l in lines if " r.chan " in l and str(reader.pid) in l][0]
        recv = rrow.split()[rhdr.split().index("RECV/S") + rrow.startswith("*")]
        check(recv != "-", "--once RECV/S: %r" % rrow)
        if counters:
            check(float(recv.rstrip("kM")) > 0, "--once RECV/S: %r" % rrow)
        # --interval 0: one sample, and no rates
        one = e.json("--interval", "0")
        eq(one["interval_s"], None, "--interval 0: interval_s")
        eq(chan(one, "r.chan")["rate_messages_per_s"], None, "--interval 0: no rate")
        eq(e.json("--interval", "0ms")["interval_s"], None, "--interval 0ms: one sample")
        unit = e.json("--interval", "300ms")["interval_s"]
        check(unit is not None and unit >= 0.25, "--interval 300ms: interval_s %r" % unit)
        r = e.stat("--interval", "0", ok=False)
        eq(r.returncode, 2, "--interval 0 for the live view is a usage error")
        reader.terminate()
    finally:
        if pub:
            pub.terminate()
            pub.wait()
        e.close()
    print("rates: ok")


DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs")


def doc_versions():
    """schema name -> version, from the tables of docs/CLI.md and docs/STATS.md."""
    import re
    found = {}
    with open(os.path.join(DOCS, "CLI.md")) as f:
        for m in re.finditer(r"^\| `(shmq-[a-z]+)` \| (\d+) \|", f.read(), re.M):
            found[m.group(1)] = int(m.group(2))
    with open(os.path.join(DOCS, "STATS.md")) as f:
        m = re.search(r"^## JSON schema \(version (\d+)\)", f.read(), re.M)
        found["shmq-stat"] = int(m.group(1))
    return found


def test_schemas():
    want = doc_versions()
    check({"shmq-sub", "shmq-ls", "shmq-info", "shmq-stat"} <= set(want),
          "docs give every schema's version: %r" % want)
    e = Env()
    try:
        e.create("s.one")
        subprocess.run([SHMQ, "pub", "s.one", "--key", "k", "-H", "h=v", "text"], check=True)
        subprocess.run([SHMQ, "pub", "s.one", "--file", "/dev/stdin"], input=b"\xff\x00bin",
                       check=True)
        outs = {
            "shmq-sub": [SHMQ, "sub", "s.one", "-e", "--json"],
            "shmq-ls": [SHMQ, "ls", "--json"],
            "shmq-info": [SHMQ, "info", "s.one", "--json"],
            "shmq-stat": [STAT, "--json", "--interval", "0.2"],
        }
        for schema, cmd in outs.items():
            r = subprocess.run(cmd, capture_output=True, timeout=60)
            eq(r.returncode, 0, "%s exit (%s)" % (" ".join(cmd), r.stderr))
            lines = r.stdout.decode().splitlines()
            check(lines, "%s printed nothing" % " ".join(cmd))
            for line in lines:
                o = json.loads(line)  # parses, or this raises
                eq((o.get("schema"), o.get("version")), (schema, want[schema]),
                   "%s: schema and version" % " ".join(cmd))
        ls = json.loads(subprocess.run([SHMQ, "ls", "--json"], capture_output=True,
                                       check=True).stdout)
        eq([(c["name"], c["policy"], c["tail"], c["timestamps"], c["numa"])
            for c in ls["channels"]], [("s.one", "drop", 2, True, "none")], "ls --json channels")
        info = json.loads(subprocess.run([SHMQ, "info", "s.one", "--json"], capture_output=True,
                                         check=True).stdout)
        eq({k: v for k, v in info.items() if k not in ("schema", "version")}, ls["channels"][0],
           "info --json holds the channel of ls --json")
        r = e.stat("--json", "--watch", "0.2", "--count", "2").stdout.splitlines()
        for line in r:
            eq(json.loads(line)["version"], want["shmq-stat"], "--watch line version")
    finally:
        e.close()
    print("schemas: ok")


# Tests of exact counts need the message-path counters (-Dcounters=true).
NEEDS_COUNTERS = {"workload", "prometheus", "stress"}

TESTS = {"workload": test_workload, "prometheus": test_prometheus, "http": test_http,
         "live": test_live, "garbage": test_garbage, "stress": test_stress, "down": test_down,
         "nonroot": test_nonroot, "busy": test_busy, "idle": test_idle, "badchan": test_badchan,
         "drip": test_drip,
         "access": test_access, "names": test_names, "rates": test_rates,
         "schemas": test_schemas}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in TESTS:
        print("usage: check_stat.py " + "|".join(TESTS), file=sys.stderr)
        sys.exit(2)
    if sys.argv[1] in NEEDS_COUNTERS and os.environ.get("SHMQ_COUNTERS") == "0":
        print("built with -Dcounters=false: the counters read zero; skipping")
        sys.exit(77)
    TESTS[sys.argv[1]]()
