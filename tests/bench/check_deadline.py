#!/usr/bin/env python3
"""shmq-bench never hangs: with `--only selftest,pingpong/raw-spin
--deadline 3`, the scenario that never finishes (selftest/hang, a peer
process spinning) and the one that aborts as a failed assertion would
(selftest/crash) are each reported "failed" with their reason, the raw-spin
rows around them still run "ok" in every repetition, the exit status is 1,
and nothing the broken scenarios started outlives the run (a leftover
process would hold the output pipes open, and the wait for them would time
out). Performance is not asserted.

usage: check_deadline.py PATH/TO/shmq-bench
"""
import json
import subprocess
import sys
import tempfile
import time

DEADLINE_S = 3
# Two repetitions of two deadlines and a short ping-pong, on a machine
# whose CPUs may be busy with something else.
RUN_TIMEOUT_S = 240


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main():
    bench = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = tmp + "/r.json"
        args = [bench, "--only", "selftest,pingpong/raw-spin", "--deadline", str(DEADLINE_S),
                "--reps", "2", "--iters", "2000", "--warmup", "100", "--json", out]
        t0 = time.monotonic()
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            stdout, stderr = p.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            fail("shmq-bench or a process it started still runs after %d s" % RUN_TIMEOUT_S)
        took = time.monotonic() - t0
        print(stdout + stderr)
        if p.returncode != 1:
            fail("exit status %d, want 1 (a scenario failed)" % p.returncode)
        with open(out) as f:
            results = json.load(f)["results"]
    got = {(r["scenario"], r["transport"]): r for r in results}
    want = {("selftest", "hang"): "overran its deadline of %d s" % DEADLINE_S,
            ("selftest", "crash"): "killed by signal 6"}
    for key, reason in want.items():
        r = got.get(key)
        if not r or r["status"] != "failed" or reason not in r.get("reason", ""):
            fail("%s/%s: want failed with '%s', got %s" % (key + (reason, r)))
    for key in [("pingpong", "raw-spin"), ("pingpong", "raw-spin-futex")]:
        r = got.get(key)
        if not r or r["status"] != "ok" or r.get("reps") != 2:
            fail("%s/%s: want ok in 2 repetitions, got %s" % (key + (r,)))
    if "selftest/hang 64 B: FAILED (overran" not in stderr:
        fail("the progress lines do not say why selftest/hang failed")
    print("ok: hung and crashed scenarios reported failed, the run went on (%.1f s)" % took)


if __name__ == "__main__":
    main()
