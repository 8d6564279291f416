#!/usr/bin/env python3
"""syncached against Debian's memcached under an independent load generator:
libmemcached-tools' memaslap (`memcaslap` in Debian 12), issue #21. The project's
own loadgen (bench/run.py) is not the only judge of the ratios.

After a warm-up round on each server (it fills the store), each workload runs
three times in a row against one server each: syncached, memcached, syncached
again (the A/A control), each round DURATION s of memaslap
with 1 thread and 20 concurrent connections, 100 B values. Reported per round:
memaslap's ops/s and the server's CPU (utime+stime from /proc) per op; the
ratios syncached / memcached and syncached again / syncached.

Workloads: get90 (memaslap's default mix, 90 % get 10 % set), set100, bin90 (the
default mix over the binary protocol), mget16 (multi-gets of 16 keys).

Pinning (2 cores): the server on cpu 0, memaslap on cpu 1. Loopback ports
28950-28951. Prints JSON.

  /usr/bin/python3 bench/memaslap.py [--quick]   (apt-get install libmemcached-tools)
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replication as rp  # noqa: E402 (B, MC, start, wait_port, cpu_seconds, stop)

MEMASLAP = "/usr/bin/memcaslap"
DURATION = 2 if rp.QUICK else 6
CONNS = 20
SET_ONLY = "key\n32 32 1\nvalue\n100 100 1\ncmd\n0 1.0\n1 0.0\n"  # 0: set, 1: get

WORKLOADS = {
    "get90": [],
    "set100": ["--cfg_cmd=%(cfg)s"],
    "bin90": ["--binary"],
    "mget16": ["--division=16"],
}


def memaslap(port, extra, cfg):
    """One round; returns memaslap's ops and ops/s."""
    args = ["taskset", "-c", "1", MEMASLAP, "--servers=127.0.0.1:%d" % port, "--threads=1",
            "--concurrency=%d" % CONNS, "--time=%ds" % DURATION, "--fixed_size=100"]
    args += [a % {"cfg": cfg} for a in extra]
    out = subprocess.run(args, capture_output=True, text=True, timeout=DURATION + 60).stdout
    m = re.search(r"Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+)", out)
    if not m:
        raise RuntimeError("memaslap printed no totals:\n" + out[-2000:])
    return int(m.group(2)), int(m.group(3))


def measure(port, pid, extra, cfg):
    before = rp.cpu_seconds([pid])
    ops, tps = memaslap(port, extra, cfg)
    used = rp.cpu_seconds([pid]) - before
    return {"ops_per_sec": tps, "cpu_us_per_op": round(used * 1e6 / max(ops, 1), 2)}


def main():
    if not os.access(MEMASLAP, os.X_OK):
        sys.exit("bench/memaslap.py needs %s: apt-get install libmemcached-tools" % MEMASLAP)
    res = {"duration_s": DURATION, "connections": CONNS, "value_bytes": 100, "workloads": {}}
    with tempfile.TemporaryDirectory(prefix="memaslap-bench-") as workdir:
        cfg = os.path.join(workdir, "set100.cfg")
        with open(cfg, "w") as f:
            f.write(SET_ONLY)
        user = ["-u", "root"] if os.geteuid() == 0 else []
        ours = rp.start([rp.B, "-l", "127.0.0.1", "-p", "28950", "-t", "1", "-m", "1024", "-U",
                         "0"] + user, 0, os.path.join(workdir, "syncached.log"))
        theirs = rp.start([rp.MC, "-l", "127.0.0.1", "-p", "28951", "-t", "1", "-m", "1024", "-U",
                           "0"] + user, 0, os.path.join(workdir, "memcached.log"))
        try:
            rp.wait_port(28950)
            rp.wait_port(28951)
            time.sleep(0.3)
            for port in (28950, 28951):  # warm-up: the first round fills the store
                memaslap(port, [], cfg)
            for name, extra in WORKLOADS.items():
                a = measure(28950, ours.pid, extra, cfg)
                b = measure(28951, theirs.pid, extra, cfg)
                again = measure(28950, ours.pid, extra, cfg)
                res["workloads"][name] = {
                    "syncached": a, "memcached": b, "syncached_again": again,
                    "ratios": {
                        "throughput_syncached_over_memcached":
                            round(a["ops_per_sec"] / b["ops_per_sec"], 3),
                        "cpu_per_op_syncached_over_memcached":
                            round(a["cpu_us_per_op"] / b["cpu_us_per_op"], 3),
                        "aa_throughput": round(again["ops_per_sec"] / a["ops_per_sec"], 3),
                        "aa_cpu_per_op": round(again["cpu_us_per_op"] / a["cpu_us_per_op"], 3),
                    },
                }
        finally:
            rp.stop(ours, theirs)
    print(json.dumps(res, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
