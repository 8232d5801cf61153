#!/usr/bin/env python3
"""Smoke test of shmq-bench: `--quick --json FILE` must give a well-formed
result for every scenario (figures when "ok", a reason when "skipped", no
"failed"), and a baseline that is not installed must be "skipped" with its
reason, never a failure or a zero. Performance is not asserted.

usage: check_quick.py PATH/TO/shmq-bench   (SHMQD in the environment)
"""
import json
import os
import subprocess
import sys
import tempfile

PCTS = ["count", "min", "mean", "p50", "p90", "p99", "p99.9", "p99.99", "max"]
EXPECT_GROUPS = {"pingpong", "stream", "fanout", "group", "durable"}
EXPECT_SHMQ = {
    ("pingpong", "shmq-spin"), ("pingpong", "shmq-spin-sleep"),
    ("pingpong", "shmq-sleep"), ("pingpong", "shmq-eventfd"),
    ("stream", "shmq"), ("stream", "shmq-batch"), ("fanout", "shmq"),
}


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
        fail(f"{name}: failed: {r.get('reason')}")
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
    if not has:
        fail(f"{name}: ok without figures")


def run(bench, args, env, path):
    cmd = [bench, "--quick", "--no-progress", "--json", path] + args
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=240)
    sys.stdout.write(p.stdout[-3000:])
    sys.stderr.write(p.stderr[-3000:])
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} exited {p.returncode}")
    with open(path) as f:
        doc = json.load(f)  # well-formed, or this raises
    if doc.get("tool") != "shmq-bench" or not isinstance(doc.get("results"), list):
        fail("no results array")
    if not doc["results"]:
        fail("empty results")
    for r in doc["results"]:
        check_result(r)
    return doc


def main():
    bench = sys.argv[1]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        doc = run(bench, [], env, os.path.join(tmp, "all.json"))
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
            if r["scenario"] in ("group", "durable") and r["kind"] == "shmq":
                if r["status"] != "skipped" or "not available yet" not in r["reason"]:
                    fail(f"{r['transport']}: expected 'not available yet'")

        # A baseline that is not installed: iceoryx without iox-roudi on PATH
        # (or not built at all) must be skipped with its reason.
        env2 = dict(env, PATH="/nonexistent")
        doc = run(bench, ["--only", "pingpong/iox-spin,pingpong/raw-spin,stream/iox",
                          "--stream-size", "64"], env2, os.path.join(tmp, "skip.json"))
        iox = [r for r in doc["results"] if r["transport"].startswith("iox")]
        if len(iox) != 2:
            fail(f"expected 2 iceoryx results, got {len(iox)}")
        for r in iox:
            if r["status"] != "skipped" or "iox" not in r["reason"]:
                fail(f"{r['transport']}: not reported as skipped: {r}")
        raw = [r for r in doc["results"] if r["transport"] == "raw-spin"]
        if len(raw) != 1 or raw[0]["status"] != "ok":
            fail("raw-spin did not run beside the skipped baseline")
    print("ok: every scenario produced a well-formed result")


if __name__ == "__main__":
    main()
