#!/usr/bin/env python3
# seeds.py - write the seed inputs of tests/fuzz/corpus/TARGET/seed-*: one
# honest session or file per seed, in each harness's input format (see the
# comment at the top of each fuzz_*.c). Run from the source root after a
# format change; the fuzzers' finds are kept beside the seeds as crash-*,
# regress-* and the minimised corpus files.
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# shm/proto.h
MAGIC, VERSION, MINOR = 0x50514853, 4, 4
HELLO, CREATE, DELETE, LIST, INFO, OPEN, CLOSE, PEERS, STATS, RESUME, REPAIR = range(1, 12)
MATCH, WATCH, UNWATCH, WATCHES = range(14, 18)  # 12 GROUP, 13 INBOX
PUB, SUB, MON = 1, 2, 3


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def req(op, body, seq=1):
    return struct.pack("<IHHIiII", MAGIC, VERSION, op, seq, 0, len(body), 0) + body


def opts(cap=0, maxmsg=0, policy=0, pubs=0, numa=0, flags=0):
    return struct.pack("<QIIIiII", cap, maxmsg, policy, pubs, numa, flags, 0)


def name(n):
    return n.encode().ljust(256, b"\0")


def pattern(s):
    return s.encode().ljust(256, b"\0")


def proto_msg(body, flags=4):
    return struct.pack("<BH", flags, len(body)) + body


def proto():
    hello = req(HELLO, struct.pack("<IIII", VERSION, MINOR, 0, 0))
    create = req(CREATE, name("a") + opts(cap=4096, maxmsg=64))
    sess = {
        "hello": [hello],
        "create": [hello, create, req(INFO, name("a") + opts()), req(LIST, bytes(8))],
        "delete": [hello, create, req(DELETE, name("a") + opts())],
        "stats": [hello, req(STATS, bytes(8))],
        "repair": [hello, create, req(REPAIR, name("a") + opts())],
        "routing": [hello, req(WATCH, pattern("a.>")), req(CREATE, name("a.b") + opts(cap=4096, maxmsg=64)),
                    req(MATCH, pattern("a.*") + struct.pack("<II", 0, 1)), req(WATCHES, bytes(8)),
                    req(UNWATCH, struct.pack("<Q", 1)), req(DELETE, name("a.b") + opts())],
    }
    for role, wait in ((PUB, 0), (SUB, 0), (SUB, 3), (MON, 0)):
        o = req(OPEN, name("b") + struct.pack("<II", role, 1) + opts(cap=4096, maxmsg=64, policy=role % 2)
                + struct.pack("<IIQ", 1, wait, 0))
        close = req(CLOSE, struct.pack("<QII", 0, role, 0))
        peers = req(PEERS, struct.pack("<QII", 0, 1 + role % 3, 0))
        resume = req(RESUME, struct.pack("<QIIII", 0, role, 0, 0, 0))
        msgs = [proto_msg(hello), proto_msg(o), proto_msg(peers, 4 | 8), proto_msg(resume, 4 | 8 | 16),
                proto_msg(close, 4 | 8 | 16)]
        put("fuzz_proto", "open-%d-%d" % (role, wait), b"".join(msgs))
    for k, v in sess.items():
        put("fuzz_proto", k, b"".join(proto_msg(m) for m in v))
    put("fuzz_proto", "fds", proto_msg(hello, 4 | 3) + proto_msg(create, 4 | 1))


def record():
    # start byte, then steps (fuzz_record.c)
    pub = lambda n, fields=0: bytes([0, n, fields, 4, 2]) + b"payload-" * 4
    put("fuzz_record", "plain", bytes([0]) + pub(10) * 3)
    put("fuzz_record", "fields", bytes([0]) + pub(20, 0xff) + pub(3, 0x90) + pub(0, 0x01))
    put("fuzz_record", "wrap", bytes([1]) + pub(200) * 40)
    put("fuzz_record", "poke", bytes([0]) + pub(30, 0x10) + bytes([1, 0, 0, 8]) + b"\xff" * 8)
    put("fuzz_record", "abort", bytes([2]) + pub(5) + bytes([4, 40]) + pub(6))
    put("fuzz_record", "tail", bytes([0]) + pub(5) + bytes([2]) + struct.pack("<QQ", 3, 4096 + 64))


def config():
    put("fuzz_config", "full", b"""# shmqd.conf
[daemon]
stuck_ms = 500
max_channels = 64
max_channels_per_uid = 8
max_connections_per_uid = 16
max_handles_per_uid = 4
hello_timeout_ms = 2000
create = *

[channel orders]
capacity = 4MiB
max_message = 64K
policy = block
publishers = one
numa_node = none
timestamps = off
max_handles_per_uid = 2
publish = 1000, 1001
subscribe = *

[channel ticks]
capacity = 1G
policy = drop
""")
    put("fuzz_config", "sizes", b"4096\n4K\n4KB\n4KiB\n1g\n512B\n0\n18446744073709551615\n16E\n")


def adopt():
    # setup byte, then steps (fuzz_adopt.c)
    put("fuzz_adopt", "genuine", bytes([0x03, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 4, 0]))
    put("fuzz_adopt", "two", bytes([0x07] + [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0,
                                          0, 3, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0]))
    put("fuzz_adopt", "stranger", bytes([0x01, 0, 0, 3, 0, 0, 0, 0, 1, 3, 0, 0, 0]))
    put("fuzz_adopt", "busy", bytes([0x12, 0, 0, 0, 0, 0, 0, 4, 1]))
    # a dedupe channel (setup bit 5): its record carries the table as a fourth descriptor
    put("fuzz_adopt", "dedupe", bytes([0x23, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0,
                                       0, 4, 0]))
    put("fuzz_adopt", "dedupe-table", bytes([0x23, 5, 8, 0, 4, 1, 2, 3, 4, 0, 0, 5, 0, 0, 0,
                                             0, 0, 6, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
                                             0, 0, 1, 0, 0, 0, 0, 4, 0]))


def cli():
    put("fuzz_cli", "lines", b"\x00\x00\x01one\ntwo\n\nthree")
    put("fuzz_cli", "nul", b"\x01\x00\x01one\0two\0\0three\0")
    put("fuzz_cli", "frames", b"\x02\x00\x01" + b"\0\0\0\x03abc\0\0\0\0\0\0\0\x05hello")
    put("fuzz_cli", "format", b"\x07\x00\x01%o %t %T %l %L %s %k %h %m %c %y %r %%\\n\\t\\0\\\\\0payload\x01\xff")
    put("fuzz_cli", "format-raw", b"\x0b\x00\x01%h %k\0\x10\x00\x10\x00\x01\x00\x00\x00abcdefgh")


def fnv1a(b):
    h = 2166136261
    for x in b:
        h = ((h ^ x) * 16777619) & 0xffffffff
    return h or 1


def routing():
    # even first byte: pattern NUL name; odd: an extension area (fuzz_routing.c)
    put("fuzz_routing", "star", b"\0orders.*.created\0orders.eu.created")
    put("fuzz_routing", "gt", b"\0orders.>\0orders.eu.x")
    put("fuzz_routing", "short", b"\0a.*\0a")
    put("fuzz_routing", "bad", b"\0a.>.b\0a.x.b")
    var = struct.pack("<H", 2) + b"k1" + struct.pack("<H", 1) + b"t" + struct.pack("<HHH", 1, 1, 1) + b"hv"
    n = (8 + len(var) + 7) // 8 * 8
    area = struct.pack("<HHI", n, 0x10 | 0x40 | 0x80, fnv1a(b"k1")) + var
    put("fuzz_routing", "area", b"\x01" + area + bytes(n - len(area)))


def dedupe():
    # steps (fuzz_dedupe.c): 0 poke, 1 reserve [id][owner][now u32][op][pos u32], 2 alive [mask]
    def reserve(i, owner, now, commit=True, pos=1):
        b = bytes([1, i, owner]) + struct.pack("<I", now)
        return b + (bytes([0]) + struct.pack("<I", pos) if commit else bytes([1]))
    put("fuzz_dedupe", "commits", b"".join(reserve(i, 1, 10, True, i) for i in range(20)) +
        b"".join(reserve(i, 2, 20) for i in range(20)))
    put("fuzz_dedupe", "mixed", reserve(5, 1, 10, False) + bytes([2]) + struct.pack("<Q", 4) +
        reserve(5, 2, 30) + bytes([0, 200, 0, 16]) + bytes(range(16)) + reserve(9, 3, 40))


def journal():
    # odd first byte: steps after a made header (fuzz_journal.c); even: a raw file
    msg = lambda n, fl=0: bytes([0]) + struct.pack("<HB", n, fl)
    ckpt = lambda back=0: bytes([2, back])
    put("fuzz_journal", "honest", b"\x01" + ckpt() + msg(10) + msg(200, 8) + bytes([1, 3]) +
        ckpt(2) + msg(0) + msg(33) + bytes([3]))
    put("fuzz_journal", "torn", b"\x01" + ckpt() + msg(100) + ckpt() + msg(50) + msg(70) +
        bytes([5]) + struct.pack("<H", 4096 + 64 + 160 + 64 + 90))
    put("fuzz_journal", "flip", b"\x01" + ckpt() + msg(100) + msg(5) + ckpt(1) + msg(9) +
        bytes([4]) + struct.pack("<HB", 100, 1) + b"\xff")
    put("fuzz_journal", "raw", b"\x00" + b"SHQMJSEG" + bytes(120))


for f in (proto, record, config, adopt, cli, routing, dedupe, journal):
    f()
