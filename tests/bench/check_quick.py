#!/usr/bin/env python3
"""Smoke test of shmq-bench: `--quick --json FILE --csv FILE` must give a
well-formed result for every scenario (figures when "ok", a reason when
"skipped", no "failed"), and a baseline that is not installed must be
"skipped" with its reason, never a failure or a zero. The v3 sections must
be there and parse: publisher modes and batches, memory per MiB, mixed
sizes, and the acceptance figures ("verdicts") in JSON and CSV always and in
the terminal report with `--targets`; `--summary` without `--targets` shows
no verdict. The JSON carries the schema version man/shmq-bench.1 gives.
The durability baselines: disk-read always runs; Redis and JetStream rows
are there at 64 B and 4 KiB, measured (with a note naming the server and
its sync setting) or, where the server is not installed, skipped with
the package to install, never failed. Performance is not asserted: a verdict may be PASS or MISS, only its shape
is checked.

usage: check_quick.py PATH/TO/shmq-bench   (SHMQD in the environment)
"""
import csv
import json
import math
import os
import re
import subprocess
import sys
import tempfile

# One shmq-bench --quick run takes about a minute on an idle machine; with
# its CPUs busy with something else, several (scripts/test.sh
# --stress-neighbour). Three runs must fit in the test's meson timeout.
RUN_TIMEOUT_S = 480
PCTS = ["count", "min", "mean", "p50", "p90", "p99", "p99.9", "p99.99", "max"]
EXPECT_GROUPS = {"pingpong", "stream", "fanout", "group", "durable", "memory", "mixed",
                 "counters"}
EXPECT_SHMQ = {
    ("pingpong", "shmq-spin"), ("pingpong", "shmq-spin-excl"),
    ("pingpong", "shmq-spin-sleep"), ("pingpong", "shmq-sleep"),
    ("pingpong", "shmq-eventfd"),
    ("stream", "shmq"), ("stream", "shmq-batch"), ("stream", "shmq-excl"),
    ("stream", "shmq-excl-batch"), ("stream", "shmq-claimv"),
    ("stream", "shmq-excl-claimv"), ("stream", "shmq-publishv"),
    ("stream", "shmq-excl-publishv"), ("stream", "shmq-excl-nots"),
    ("stream", "shmq-excl-batch-nots"),
    ("memory", "shmq"), ("memory", "shmq-mixed"),
    ("mixed", "shmq"), ("mixed", "shmq-excl"),
    ("fanout", "shmq"),
    ("counters", "spin-on"), ("counters", "spin-off"),
    ("counters", "stream-on"), ("counters", "stream-off"),
}
# The acceptance figures (a target each) and those without a target.
TARGETS = {
    "spin_excl_p50_ratio", "spin_excl_p99_ratio", "spin_shared_p50_ratio",
    "stream_excl_ring_ratio", "stream_excl_min", "stream_shared_ring_ratio",
    "stream_shared_min", "claimv_excl_ratio", "claimv_shared_ratio",
    "memory_v2_ratio", "iox_spin_p50_ratio", "counters_spin_p50_ratio",
    "counters_stream_ratio", "sleep_p99_ratio", "fanout_first_p99_ratio",
}
INFO = {
    "spin_shared_p99_ratio", "iox_spin_shared_p50_ratio", "publishv_excl_ratio",
    "publishv_shared_ratio", "timestamp_recv_ns", "timestamp_recv_pct",
    "timestamp_poll_ns", "timestamp_poll_pct", "memory_mixed_per_mib",
    "mixed_shared_msgs", "mixed_shared_mb", "mixed_excl_msgs", "mixed_excl_mb",
}
# Figures that need iceoryx: skipped, with the reason, where it is absent
# or its RouDi cannot start (another one runs on this machine).
NEED_IOX = {"iox_spin_p50_ratio", "iox_spin_shared_p50_ratio"}
# Baselines of other brokers, each at 64 B and 4 KiB; ok rows carry a note.
SERVER_BASELINES = {"redis-always", "redis-everysec", "js-ack", "js-async"}
# Targets whose scenarios --summary does not run (fan-out): skipped there.
NOT_IN_SUMMARY = {"fanout_first_p99_ratio"}
VERDICT_HEADER = "acceptance figures of the v3 channel format"
MAN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "man",
                   "shmq-bench.1")


def doc_schema_version():
    """The JSON schema version that man/shmq-bench.1 documents."""
    with open(MAN) as f:
        m = re.search(r"schema_version\\fP\s+(\d+)", f.read())
    if not m:
        fail("man/shmq-bench.1 gives no schema_version")
    return int(m.group(1))


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check_summary(where, s):
    if not isinstance(s, dict):
        fail(f"{where}: not an object")
    for k in PCTS:
        if not isinstance(s.get(k), (int, float)):
            fail(f"{where}: {k} missing or not a number")
    if s["count"] <= 0:
        fail(f"{where}: empty histogram")
    order = [s[k] for k in ["min", "p50", "p90", "p99", "p99.9", "p99.99", "max"]]
    if order != sorted(order):
        fail(f"{where}: percentiles out of order: {order}")
    if s["max"] <= 0:
        fail(f"{where}: zero latency")


def check_result(r):
    name = f"{r.get('scenario')}/{r.get('transport')} {r.get('size_bytes')} B"
    for k in ["scenario", "transport", "kind", "status"]:
        if not isinstance(r.get(k), str) or not r[k]:
            fail(f"{name}: {k} missing")
    if r["status"] == "failed":
        # run() noted a failed baseline (another tool); shmq's rows may not fail
        if r.get("kind") == "shmq" or not r.get("reason"):
            fail(f"{name}: failed: {r.get('reason')}")
        return
    if r["status"] == "skipped":
        if not r.get("reason"):
            fail(f"{name}: skipped without a reason")
        for k in ["latency_ns", "first_ns", "msgs_per_s", "per_rep"]:
            if k in r:
                fail(f"{name}: skipped but reports {k}")
        return
    if r["status"] != "ok":
        fail(f"{name}: unknown status {r['status']}")
    if not r.get("reps") or not r.get("iters"):
        fail(f"{name}: no repetitions")
    if len(r.get("per_rep", [])) != r["reps"]:
        fail(f"{name}: per_rep has {len(r.get('per_rep', []))} entries, reps {r['reps']}")
    has = False
    for k in ["latency_ns", "first_ns", "last_ns"]:
        if k in r:
            check_summary(f"{name} {k}", r[k])
            has = True
    if "msgs_per_s" in r:
        if not isinstance(r["msgs_per_s"], (int, float)) or r["msgs_per_s"] <= 0:
            fail(f"{name}: msgs_per_s is {r['msgs_per_s']}")
        if r.get("gb_per_s", 0) <= 0:
            fail(f"{name}: gb_per_s is {r.get('gb_per_s')}")
        has = True
    if r["scenario"] == "fanout" and not (0 < r.get("delivered", 0) <= 1):
        fail(f"{name}: delivered is {r.get('delivered')}")
    if r["scenario"] == "memory":
        for k in ["held_msgs", "ring_bytes", "held_per_mib"]:
            if not isinstance(r.get(k), (int, float)) or r[k] <= 0:
                fail(f"{name}: {k} is {r.get(k)}")
        if any(not isinstance(p.get("held_msgs"), int) for p in r["per_rep"]):
            fail(f"{name}: per_rep without held_msgs")
        has = True
    if r["scenario"] == "mixed":
        if not r.get("workload") or not r.get("mb_per_s", 0) > 0:
            fail(f"{name}: mixed sizes without workload or mb_per_s")
    if not has:
        fail(f"{name}: ok without figures")


def check_verdicts(doc, text, all_ran, in_text=True):
    """The verdicts of one run: every figure present and well-formed; when
    all_ran, none of the shmq ones skipped; each targeted one has its line in
    the terminal output (in_text: run with --targets), else none does."""
    vs = doc.get("verdicts")
    if not isinstance(vs, list):
        fail("no verdicts array")
    byk = {v.get("key"): v for v in vs}
    if set(byk) != TARGETS | INFO:
        fail(f"verdict keys {sorted(set(byk) ^ (TARGETS | INFO))} missing or unexpected")
    if in_text and VERDICT_HEADER not in text:
        fail(f"no '{VERDICT_HEADER}' section in the output")
    if not in_text and (VERDICT_HEADER in text or re.search(r"\b(MISS|MISSED|PASS)\b", text)):
        fail("verdicts in the output without --targets")
    for k, v in byk.items():
        word = v.get("verdict")
        if not isinstance(v.get("figure"), str) or not v["figure"]:
            fail(f"verdict {k}: no figure text")
        if word == "skipped":
            if not v.get("reason"):
                fail(f"verdict {k}: skipped without a reason")
            if all_ran and k not in NEED_IOX:
                fail(f"verdict {k}: skipped in a run of every scenario: {v['reason']}")
            continue
        if not isinstance(v.get("value"), (int, float)) or not math.isfinite(v["value"]):
            fail(f"verdict {k}: value is {v.get('value')}")
        if k in INFO:
            if word != "info" or "op" in v:
                fail(f"figure {k}: {word}, expected info without a target")
            continue
        if word not in ("PASS", "MISS"):
            fail(f"verdict {k}: {word}")
        if v.get("op") not in ("<=", ">=") or not isinstance(v.get("target"), (int, float)):
            fail(f"verdict {k}: op {v.get('op')} target {v.get('target')}")
        met = v["value"] <= v["target"] if v["op"] == "<=" else v["value"] >= v["target"]
        if met != (word == "PASS"):
            fail(f"verdict {k}: {word} for {v['value']} {v['op']} {v['target']}")
        if not v.get("purpose"):
            fail(f"verdict {k}: no purpose")
        if in_text and not any(v["figure"] in line and word in line
                               for line in text.splitlines()):
            fail(f"verdict {k}: no '{v['figure']} ... {word}' line in the output")
        if in_text and "for: " + v["purpose"] not in text:
            fail(f"verdict {k}: its purpose is not in the output")
    return byk


def check_csv(path, byk):
    """CSV: one row per result with the header's column count, then the
    verdict rows, which agree with the JSON."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        fail("empty CSV")
    for r in rows:
        if None in r or None in r.values():
            fail(f"CSV row with the wrong column count: {r}")
    got = {r["transport"]: r for r in rows if r["scenario"] in ("verdict", "figure")}
    if set(got) != set(byk):
        fail(f"CSV verdict rows {sorted(got)} differ from JSON {sorted(byk)}")
    for k, r in got.items():
        if r["verdict"] != byk[k]["verdict"]:
            fail(f"CSV verdict {k}: {r['verdict']}, JSON {byk[k]['verdict']}")
        if r["verdict"] in ("PASS", "MISS", "info"):
            float(r["value"])  # parses, or this raises
    mem = [r for r in rows if r["scenario"] == "memory" and r["status"] == "ok"]
    if not mem or any(float(r["held_per_mib"]) <= 0 for r in mem):
        fail("CSV: no memory rows with held_per_mib")


def check_durable(results, servers_absent):
    """The durability baselines: disk-read measured, with its note; each
    server baseline at both sizes, measured with a note or skipped as not
    found; with servers_absent, skipped as not found."""
    rows = [r for r in results if r["scenario"] == "durable" and r["kind"] == "baseline"]
    disk_read = [r for r in rows if r["transport"] == "disk-read"]
    if not servers_absent and (len(disk_read) != 1 or disk_read[0]["status"] != "ok"
                               or "page cache" not in disk_read[0].get("note", "")):
        fail(f"disk-read did not run with its note: {disk_read}")
    for name in SERVER_BASELINES:
        got = {r["size_bytes"]: r for r in rows if r["transport"] == name}
        if set(got) != {64, 4096}:
            fail(f"durable/{name}: sizes {sorted(got)}, expected 64 and 4096")
        for r in got.values():
            if r["status"] == "ok" and not servers_absent:
                if not r.get("note"):
                    fail(f"durable/{name} {r['size_bytes']} B: ok without a note")
            elif r["status"] != "skipped" or "not found" not in r.get("reason", ""):
                fail(f"durable/{name} {r['size_bytes']} B: {r['status']}: {r.get('reason')}")


def run(bench, args, env, path):
    cmd = [bench, "--quick", "--no-progress", "--json", path] + args
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=RUN_TIMEOUT_S)
    sys.stdout.write(p.stdout[-6000:])
    sys.stderr.write(p.stderr[-3000:])
    if p.returncode not in (0, 1):
        fail(f"{' '.join(cmd)} exited {p.returncode}")
    with open(path) as f:
        doc = json.load(f)  # well-formed, or this raises
    # exit 1: a transport failed. A baseline (another tool) may fail on a
    # loaded machine (iceoryx's own clean-up has); shmq's rows may not.
    failed = [r for r in doc.get("results", []) if r.get("status") == "failed"]
    if p.returncode == 1 and (not failed or any(r.get("kind") == "shmq" for r in failed)):
        fail(f"{' '.join(cmd)} exited 1: " +
             ", ".join(f"{r.get('scenario')}/{r.get('transport')}: {r.get('reason')}"
                       for r in failed))
    for r in failed:
        print(f"note: baseline {r.get('scenario')}/{r.get('transport')} failed here: "
              f"{r.get('reason')}")
    if doc.get("tool") != "shmq-bench" or not isinstance(doc.get("results"), list):
        fail("no results array")
    if (doc.get("schema"), doc.get("schema_version")) != ("shmq-bench", doc_schema_version()):
        fail(f"schema {doc.get('schema')} version {doc.get('schema_version')}, not the man page's")
    if not doc["results"]:
        fail("empty results")
    for r in doc["results"]:
        check_result(r)
    doc["_stdout"] = p.stdout
    return doc


def main():
    bench = sys.argv[1]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = os.path.join(tmp, "all.csv")
        doc = run(bench, ["--targets", "--csv", csv_path], env, os.path.join(tmp, "all.json"))
        seen = {(r["scenario"], r["transport"]) for r in doc["results"]}
        groups = {r["scenario"] for r in doc["results"]}
        if groups != EXPECT_GROUPS:
            fail(f"scenario groups {sorted(groups)}, expected {sorted(EXPECT_GROUPS)}")
        for sc in EXPECT_SHMQ:
            if sc not in seen:
                fail(f"{sc} missing")
            if any(r["status"] != "ok" for r in doc["results"]
                   if (r["scenario"], r["transport"]) == sc):
                fail(f"{sc} did not run")
        for r in doc["results"]:
            if r["scenario"] == "durable" and r["kind"] == "shmq" and r["status"] != "ok":
                fail(f"durable/{r['transport']} {r['size_bytes']} B: {r['status']}: "
                     f"{r.get('reason')}")
            if r["scenario"] == "group" and r["status"] != "ok":
                fail(f"{r['transport']}: the consumer group scenario did not run")
        text = doc["_stdout"]
        for section in ["publisher modes, batches and timestamps", "memory: messages",
                        "mixed sizes: 90 %"]:
            if section not in text:
                fail(f"no '{section}' section in the report")
        durable = {(r["transport"], r["size_bytes"]) for r in doc["results"]
                   if r["scenario"] == "durable" and r["kind"] == "shmq"}
        if durable != {("shmq-batch", 64), ("shmq-batch", 4096), ("shmq-always", 4096)}:
            fail(f"durable shmq rows {sorted(durable)}")
        check_durable(doc["results"], servers_absent=False)
        byk = check_verdicts(doc, text, all_ran=True)
        check_csv(csv_path, byk)

        # --summary: the user's short report, no verdicts on the terminal,
        # and the same verdicts in JSON, every target there.
        doc = run(bench, ["--summary"], env, os.path.join(tmp, "summary.json"))
        if "shmq-bench --summary" not in doc["_stdout"]:
            fail("--summary printed no summary")
        byk = check_verdicts(doc, doc["_stdout"], all_ran=False, in_text=False)
        for k in TARGETS - NEED_IOX - NOT_IN_SUMMARY:
            if byk[k]["verdict"] not in ("PASS", "MISS"):
                fail(f"--summary: verdict {k} is {byk[k]['verdict']}: {byk[k].get('reason')}")

        # A baseline that is not installed: iceoryx without iox-roudi on PATH
        # (or not built at all) must be skipped with its reason; so must
        # Redis and JetStream without redis-server and nats-server.
        env2 = dict(env, PATH="/nonexistent")
        doc = run(bench, ["--targets", "--only",
                          "pingpong/iox-spin,pingpong/raw-spin,stream/iox,durable/redis,"
                          "durable/js", "--stream-size", "64"], env2,
                  os.path.join(tmp, "skip.json"))
        check_durable(doc["results"], servers_absent=True)
        iox = [r for r in doc["results"] if r["transport"].startswith("iox")]
        if len(iox) != 2:
            fail(f"expected 2 iceoryx results, got {len(iox)}")
        for r in iox:
            if r["status"] != "skipped" or "iox" not in r["reason"]:
                fail(f"{r['transport']}: not reported as skipped: {r}")
        raw = [r for r in doc["results"] if r["transport"] == "raw-spin"]
        if len(raw) != 1 or raw[0]["status"] != "ok":
            fail("raw-spin did not run beside the skipped baseline")
        byk = check_verdicts(doc, doc["_stdout"], all_ran=False)
        for k in NEED_IOX:
            if byk[k]["verdict"] != "skipped" or "iox" not in byk[k].get("reason", ""):
                fail(f"verdict {k} without iceoryx: {byk[k]}")
    print("ok: every scenario produced a well-formed result")


if __name__ == "__main__":
    main()
