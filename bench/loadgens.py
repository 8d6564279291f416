#!/usr/bin/env python3
"""syncached against Debian's memcached under load generators nobody on the team
wrote (issue #21): memtier_benchmark (RedisLabs; not a Debian package, see
bench/README.md for its build) and libmemcached-tools' memaslap (`memcaslap` in
Debian 12). The project's own loadgen (bench/run.py) is not the only judge.

Three servers, `-t 1 -m 1024`, on cpu 0: A = syncached, B = memcached, C =
memcached again (the A/A control: C/B is 1.00 on a perfect machine), started
afresh for each workload and preloaded with its keys. The load generator runs on
cpu 1 with one thread. Each workload is measured ROUNDS times in alternating
order (A B C / C B A ...): a timed pass (the loadgen's ops, the server's utime+stime from /proc per op) and
a separate shorter pass under `perf stat -e raw_syscalls:sys_enter` (syscalls
per op, all threads), so counting does not perturb the timed numbers. Ratios
are medians over rounds of the ratio within each round.

A request is what the loadgen counts as one: for memtier a multi-get of 16 keys
is one request; memaslap counts each key of a multi-get.

  /usr/bin/python3 bench/loadgens.py [--loadgen memtier,memaslap] [--workloads a,b]
      [--rounds 3] [--duration 6] [--markdown FILE] [--json FILE]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_lib as bl  # noqa: E402
import bench_report as br  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYNCACHED = os.environ.get("SYNCACHED_BIN", os.path.join(ROOT, "build/bin/syncached"))
MEMCACHED = "/usr/bin/memcached"
MEMTIER = os.environ.get("MEMTIER", "memtier_benchmark")
MEMASLAP = "/usr/bin/memcaslap"
CONNS = 20
KEYS = 100_000

# name -> memtier arguments; memaslap arguments (None: memaslap has no such mode).
# memaslap's "cfg" is a command mix file: 0 = set, 1 = get, with their shares.
WORKLOADS = {
    "get90": (["--ratio=1:9"], {"mix": "0 0.1\n1 0.9\n"}),
    "set100": (["--ratio=1:0"], {"mix": "0 1.0\n1 0.0\n"}),
    "sess4k": (["--ratio=1:1", "--data-size=4096"], {"mix": "0 0.5\n1 0.5\n", "size": 4096}),
    "bin90": (["--ratio=1:9", "--protocol=memcache_binary"],
              {"mix": "0 0.1\n1 0.9\n", "args": ["--binary"]}),
    "mget16": (["--ratio=0:16", "--multi-key-get=16"],
               {"mix": "0 0.0\n1 1.0\n", "args": ["--division=16"]}),
    "mget100": (["--ratio=0:100", "--multi-key-get=100"], None),
    "pipe16": (["--ratio=1:9", "--pipeline=16"], None),
    "lat1": (["--ratio=1:9", "--clients=1"], {"mix": "0 0.1\n1 0.9\n", "conns": 1}),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def value_size(name):
    return 4096 if name == "sess4k" else 100


class Memtier:
    name = "memtier"

    def __init__(self, workdir):
        self.workdir = workdir

    def available(self):
        return subprocess.run(["which", MEMTIER], capture_output=True).returncode == 0

    def _run(self, port, args, seconds=None, requests=None):
        out = os.path.join(self.workdir, "memtier.json")
        cmd = ["taskset", "-c", "1", MEMTIER, "--server=127.0.0.1", f"--port={port}",
               "--protocol=memcache_text", "--threads=1", f"--clients={CONNS}",
               f"--key-maximum={KEYS}", "--key-minimum=1", "--hide-histogram",
               f"--json-out-file={out}"]
        cmd += [f"--test-time={seconds}"] if seconds else [f"--requests={requests}"]
        cmd += args  # later options win: a workload's --protocol or --clients
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=(seconds or 60) + 60)
        if p.returncode != 0:
            raise bl.BenchError(f"memtier failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
        with open(out) as f:
            totals = json.load(f)["ALL STATS"]
        if totals["Totals"].get("Connection Errors"):
            raise bl.BenchError(f"memtier reported connection errors: {' '.join(cmd)}")
        return totals["Totals"]["Count"], totals["Totals"]["Ops/sec"]

    def preload(self, port, name):
        args = [a for a in WORKLOADS[name][0] if a.startswith(("--data-size", "--protocol"))]
        self._run(port, ["--ratio=1:0", "--key-pattern=P:P", "--clients=1",
                         f"--data-size={value_size(name)}"] + args, requests="allkeys")

    def supports(self, name):
        return True

    def run(self, port, name, seconds):
        return self._run(port, ["--key-pattern=R:R", f"--data-size={value_size(name)}"] +
                         WORKLOADS[name][0], seconds=seconds)


class Memaslap:
    name = "memaslap"

    def __init__(self, workdir):
        self.workdir = workdir

    def available(self):
        return os.access(MEMASLAP, os.X_OK)

    def supports(self, name):
        return WORKLOADS[name][1] is not None

    def _run(self, port, name, seconds, mix=None):
        spec = WORKLOADS[name][1]
        cfg = os.path.join(self.workdir, "memaslap.cfg")
        with open(cfg, "w") as f:
            f.write("key\n32 32 1\nvalue\n%d %d 1\ncmd\n%s" % (
                value_size(name), value_size(name), mix or spec["mix"]))
        cmd = ["taskset", "-c", "1", MEMASLAP, f"--servers=127.0.0.1:{port}", "--threads=1",
               f"--concurrency={spec.get('conns', CONNS)}", f"--time={seconds}s",
               f"--cfg_cmd={cfg}"] + spec.get("args", [])
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        m = re.search(r"Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+)", p.stdout)
        if not m:
            raise bl.BenchError(f"memaslap printed no totals: {' '.join(cmd)}\n"
                                f"{p.stdout[-2000:]}{p.stderr[-1000:]}")
        return int(m.group(2)), int(m.group(3))

    def preload(self, port, name):
        # memaslap draws its own keys (the same sequence every run): a pass of sets fills them.
        self._run(port, name, 3, mix="0 1.0\n1 0.0\n")

    def run(self, port, name, seconds):
        return self._run(port, name, seconds)


def measure(server, gen, name, opt):
    before = bl.proc_cpu_seconds(server.pid)
    ops, ops_per_sec = gen.run(server.port, name, opt.duration)
    cpu = bl.proc_cpu_seconds(server.pid) - before
    out = {"ops_per_sec": ops_per_sec, "cpu_us_per_req": cpu * 1e6 / max(ops, 1)}
    counter = bl.SyscallCounter(opt.syscalls)
    counter.start(server.pid)
    try:
        ops, _ = gen.run(server.port, name, opt.syscall_duration)
    finally:
        calls = counter.stop()
    out["syscalls_per_req"] = calls / max(ops, 1) if calls is not None else None
    if not server.alive():
        raise bl.BenchError(server.exit_report())
    return out


METRICS = [("ops_per_sec", "throughput"), ("cpu_us_per_req", "server CPU/req"),
           ("syscalls_per_req", "syscalls/req")]


def summarize(rounds):
    out = {"medians": {}, "ratio": {}, "aa_ratio": {}}
    for s in ("A", "B", "C"):
        out["medians"][s] = {k: br.median([r[s][k] for r in rounds]) for k, _ in METRICS}
    for k, _ in METRICS:
        out["ratio"][k] = br.ratio_of_rounds(rounds, "A", "B", k)
        out["aa_ratio"][k] = br.ratio_of_rounds(rounds, "C", "B", k)
    return out


def markdown(results, opt):
    lines = [f"Servers `-t 1 -m 1024` on cpu 0, the load generator on cpu 1 (1 thread, "
             f"{CONNS} connections unless the workload says otherwise), {opt.rounds} "
             f"alternating round(s) of {opt.duration} s; syscalls on a separate "
             f"{opt.syscall_duration} s pass. Ratios syncached / memcached, the A/A "
             f"ratio (memcached / memcached) in brackets; median of per-round ratios.", ""]
    for gen, per_wl in results.items():
        lines += [f"**{gen}**", "",
                  "| workload | throughput | server CPU/req | syscalls/req | syscalls/req "
                  "syncached, memcached | ops/s syncached, memcached |",
                  "|---|---:|---:|---:|---:|---:|"]
        for wl, s in per_wl.items():
            cells = [f"{br.fmt(s['ratio'][k])} ({br.fmt(s['aa_ratio'][k])})" for k, _ in METRICS]
            med = s["medians"]
            lines.append(f"| {wl} | " + " | ".join(cells) +
                         f" | {br.fmt(med['A']['syscalls_per_req'])}, "
                         f"{br.fmt(med['B']['syscalls_per_req'])} | "
                         f"{br.fmt(med['A']['ops_per_sec'], '{:.0f}')}, "
                         f"{br.fmt(med['B']['ops_per_sec'], '{:.0f}')} |")
        lines.append("")
    return "\n".join(lines)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--loadgen", default="memtier,memaslap")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=6)
    p.add_argument("--syscall-duration", type=int, default=2)
    p.add_argument("--syscalls", default="perf", choices=["perf", "strace", "none"])
    p.add_argument("--markdown")
    p.add_argument("--json")
    return p.parse_args()


def main():
    opt = parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="loadgens-bench-") as workdir:
        gens = {"memtier": Memtier(workdir), "memaslap": Memaslap(workdir)}
        servers = {"A": bl.Server("syncached", SYNCACHED, 1, 1024, "0"),
                   "B": bl.Server("memcached", MEMCACHED, 1, 1024, "0"),
                   "C": bl.Server("memcached (A/A)", MEMCACHED, 1, 1024, "0")}
        try:
            for name in opt.loadgen.split(","):
                gen = gens[name]
                if not gen.available():
                    sys.exit(f"bench/loadgens.py: {name} not found (bench/README.md)")
                results[name] = {}
                for wl in opt.workloads.split(","):
                    if not gen.supports(wl):
                        continue
                    # Fresh servers per workload: what the one before left in the store
                    # (memaslap's 100 B keys under sess4k's 4 KB) is not this workload.
                    for s in servers.values():
                        s.stop()
                        s.start()
                        gen.preload(s.port, wl)
                    rounds = []
                    for r in range(opt.rounds):
                        order = "ABC" if r % 2 == 0 else "CBA"
                        rounds.append({k: measure(servers[k], gen, wl, opt) for k in order})
                        log(f"{name} {wl} round {r + 1}: " + ", ".join(
                            f"{k} {rounds[-1][k]['ops_per_sec']:.0f}/s "
                            f"{rounds[-1][k]['cpu_us_per_req']:.2f}us "
                            f"{rounds[-1][k]['syscalls_per_req'] or 0:.3f}sc" for k in "ABC"))
                    results[name][wl] = summarize(rounds)
        finally:
            for s in servers.values():
                s.stop()
    text = markdown(results, opt)
    print(text)
    if opt.markdown:
        with open(opt.markdown, "w") as f:
            f.write(text)
    if opt.json:
        with open(opt.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
