#!/usr/bin/env python3
"""Sharding figures for docs/SHARDING.md (issue #19), against Debian's memcached
in the same run:

  - cluster CPU per client write with R=2 for N = 2, 3 and 5 nodes (utime+stime of
    every node over the writes of all clients), each client sending each key to
    its first owner as a ketama client does (the loadgen's --key-file: the keys
    node n owns first); beside it an unsharded 2-node cluster (--peers) and
    memcached's CPU per set;
  - with --forwarded: the CPU of a get served by its owner against one that lands
    on a non-owner and is forwarded (needs forwarding in the server).

Pinning (2 cores): every node and memcached on cpu 0, the loadgens on cpu 1.
Loopback ports 28200-28399. Prints JSON.

  /usr/bin/python3 bench/sharding.py [--quick] [--forwarded | --forwarded-only]

SHARDING_BENCH_CONNS sets each loadgen's connections (default 4).
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replication as rp  # noqa: E402 (start, wait_port, cpu_seconds, memcached, stop)

ROOT = rp.ROOT
TOOL = os.path.join(ROOT, "build/bin/syncached-tool")
KEYS = 20000 if rp.QUICK else 100000
CONNS = os.environ.get("SHARDING_BENCH_CONNS", "4")


def members_file(n, workdir):
    path = os.path.join(workdir, "members-%d" % n)
    with open(path, "w") as f:
        for i in range(1, n + 1):
            f.write("%d 127.0.0.1:%d 127.0.0.1:%d\n" % (i, 28200 + i, 28300 + i))
    return path


def first_owners(members, keys):
    out = subprocess.run([TOOL, "owners", "--members", members, "-R", "1"],
                         input="\n".join(keys) + "\n", capture_output=True, text=True,
                         check=True).stdout
    return {line.split(" ")[0]: int(line.split(" ")[1]) for line in out.splitlines()}


def start_nodes(n, extra_for):
    procs = []
    for i in range(1, n + 1):
        args = [rp.B, "-l", "127.0.0.1", "-p", str(28200 + i), "-t", "1", "-m", "2048",
                "--node-id", str(i), "--join-timeout", "1"] + extra_for(i)
        procs.append(rp.start(args, 0, "/tmp/sh%d.log" % i))
    for i in range(1, n + 1):
        rp.wait_port(28200 + i)
    return procs


def parallel_sets(ports_and_files):
    """One loadgen per (port, key file), all at once; returns total sets."""
    runs = []
    for port, key_file in ports_and_files:
        argv = ["taskset", "-c", "1", rp.LG, "--port", str(port), "--conns", CONNS,
                "--duration", rp.DUR, "--ratio", "0:1"]
        argv += ["--key-file", key_file] if key_file else ["--keys", str(KEYS)]
        runs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, text=True))
    total = 0
    for r in runs:
        out, _ = r.communicate()
        total += json.loads(out)["run"]["ops_per_sec"] * float(rp.DUR)
    return total


def cpu_per_write(procs, ports_and_files):
    pids = [p.pid for p in procs]
    before = rp.cpu_seconds(pids)
    writes = parallel_sets(ports_and_files)
    return round((rp.cpu_seconds(pids) - before) * 1e6 / writes, 2), round(writes)


def sharded(n, workdir, res):
    members = members_file(n, workdir)
    keys = ["key:%07d" % i for i in range(KEYS)]
    first = first_owners(members, keys)
    files = []
    for i in range(1, n + 1):
        path = os.path.join(workdir, "keys-%d-%d" % (n, i))
        with open(path, "w") as f:
            f.write("\n".join(k for k in keys if first[k] == i) + "\n")
        files.append((28200 + i, path))
    procs = start_nodes(n, lambda i: ["--members", members, "--replication-factor", "2"])
    try:
        cpu, writes = cpu_per_write(procs, files)
        res["sharded_n%d_r2_cpu_us_per_write" % n] = cpu
        res["sharded_n%d_r2_writes" % n] = writes
    finally:
        rp.stop(*procs)


def unsharded_pair(res):
    procs = start_nodes(2, lambda i: ["--replication-port", str(28300 + i), "--peers",
                                      "127.0.0.1:%d" % (28300 + 3 - i)])
    try:
        res["peers_n2_cpu_us_per_write"], _ = cpu_per_write(procs, [(28201, None)])
    finally:
        rp.stop(*procs)


def memcached_sets(res):
    mc = rp.memcached(28399)
    rp.wait_port(28399)
    try:
        res["memcached_cpu_us_per_set"], _ = cpu_per_write([mc], [(28399, None)])
    finally:
        rp.stop(mc)


def forwarded(workdir, res):
    """3 nodes, R=1: gets sent to their owner against gets sent to another node."""
    members = members_file(3, workdir)
    keys = ["key:%07d" % i for i in range(KEYS)]
    first = first_owners(members, keys)
    own = os.path.join(workdir, "own-1")
    other = os.path.join(workdir, "other-1")
    with open(own, "w") as f:
        f.write("\n".join(k for k in keys if first[k] == 1) + "\n")
    with open(other, "w") as f:
        f.write("\n".join(k for k in keys if first[k] != 1) + "\n")
    procs = start_nodes(3, lambda i: ["--members", members, "--replication-factor", "1"])
    try:
        # local twice: the second run is the A/A control of the first.
        for name, path in (("local", own), ("forwarded", other), ("local_again", own)):
            subprocess.run(["taskset", "-c", "1", rp.LG, "--port", "28201", "--key-file", path,
                            "--conns", CONNS, "--preload", "--duration", "0"],
                           stdout=subprocess.DEVNULL, check=True)
            pids = [p.pid for p in procs]
            before = rp.cpu_seconds(pids)
            out = subprocess.run(["taskset", "-c", "1", rp.LG, "--port", "28201", "--key-file",
                                  path, "--conns", CONNS, "--duration", rp.DUR, "--ratio", "1:0"],
                                 capture_output=True, text=True).stdout
            r = json.loads(out)["run"]
            ops = r["ops_per_sec"] * float(rp.DUR)
            res["get_%s_cpu_us_per_op" % name] = round(
                (rp.cpu_seconds(pids) - before) * 1e6 / ops, 2)
            res["get_%s_p50_us" % name] = r["latency_us"]["p50"]
    finally:
        rp.stop(*procs)


def main():
    res = {}
    with tempfile.TemporaryDirectory(prefix="sharding-bench-") as workdir:
        if "--forwarded-only" not in sys.argv:
            memcached_sets(res)
            unsharded_pair(res)
            for n in (2, 3, 5):
                sharded(n, workdir, res)
        if "--forwarded" in sys.argv or "--forwarded-only" in sys.argv:
            forwarded(workdir, res)
    mc = res.get("memcached_cpu_us_per_set")
    res["ratios"] = {k.replace("_cpu_us_per_write", ""): round(v / mc, 2)
                     for k, v in res.items() if mc and k.endswith("_cpu_us_per_write")}
    if "get_local_cpu_us_per_op" in res:
        res["ratios"]["forwarded_over_local_get_cpu"] = round(
            res["get_forwarded_cpu_us_per_op"] / res["get_local_cpu_us_per_op"], 2)
        res["ratios"]["aa_local_again_over_local_get_cpu"] = round(
            res["get_local_again_cpu_us_per_op"] / res["get_local_cpu_us_per_op"], 2)
    print(json.dumps(res, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
