#!/usr/bin/env python3
"""Benchmarks syncached side by side with Debian's memcached (bench/README.md).

Each (workload, round, server) measurement starts a fresh server on a free
loopback port pinned to the server cpus, preloads its key space, measures a
timed loadgen pass pinned to the client cpus (throughput, latency, server
CPU and context switches from /proc), then counts syscalls on a second,
shorter pass, and stops the server. Rounds alternate the order (A B / B A /
A B) and a second memcached (A/A) shows the noise band. Python 3 stdlib only.
"""

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_lib  # noqa: E402
import bench_report  # noqa: E402
from bench_lib import (BenchError, Loadgen, Server, SyscallCounter, machine_busy_seconds,  # noqa
                       proc_cpu_seconds, proc_ctx_switches, proc_rss_bytes, reap_all)

REPO = Path(__file__).resolve().parent.parent

BASE = dict(proto="text", ratio="9:1", value_size=100, keys=100000, conns=16, depth=1, mget=1)
WORKLOADS = {
    "get90": dict(),
    "set100": dict(ratio="0:1"),
    "mget16": dict(ratio="1:0", mget=16),
    "mget100": dict(ratio="1:0", mget=100),
    "pipe16": dict(depth=16),
    "sess4k": dict(ratio="1:1", value_size=4096, keys=20000),
    "bin90": dict(proto="binary"),
    "meta90": dict(proto="meta"),
    "lat1": dict(conns=1),
}
DEFAULT_WORKLOADS = "get90,set100,mget16,mget100,pipe16,sess4k,bin90,lat1,memory"
# Memory workload: (name, items, value bytes, key prefix).
MEMORY_SETS = [("100 B", 1000000, 100, "m:"), ("4 KB", 100000, 4096, "M:")]
PLOT_CONNS = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def workload(name, quick):
    wl = dict(BASE, **WORKLOADS[name])
    if quick:
        wl["keys"] = min(wl["keys"], 2000)
    return wl


def loadgen_args(wl, name):
    return ["--proto", wl["proto"], "--ratio", wl["ratio"], "--value-size", wl["value_size"],
            "--keys", wl["keys"], "--conns", wl["conns"], "--depth", wl["depth"],
            "--mget", wl["mget"], "--key-prefix", f"{name}:"]


def check(res, what):
    if res["errors"]:
        raise BenchError(f"loadgen counted {res['errors']} errors in {what}: "
                         f"{res['error_detail']}\n{res['stderr']}")


def measure(server, lg, name, wl, opt, syscall_method):
    """One measurement of one workload on a fresh `server`; returns metrics."""
    base = loadgen_args(wl, name)
    timeout = opt.duration * 3 + 60
    counter = SyscallCounter(syscall_method)
    server.start()
    try:
        pre = lg.run(server.port, base + ["--preload", "--duration", 0, "--depth", 32], timeout)
        check(pre, f"{name} preload on {server.name}")
        if opt.quick:  # one pass: count syscalls during the (meaningless) timed pass
            counter.start(server.pid)
        pid = server.pid
        cpu0, ctx0, busy0 = proc_cpu_seconds(pid), proc_ctx_switches(pid), machine_busy_seconds()
        t0 = time.monotonic()
        res = lg.run(server.port, base + ["--duration", opt.duration], timeout)
        t1 = time.monotonic()
        cpu1, ctx1, busy1 = proc_cpu_seconds(pid), proc_ctx_switches(pid), machine_busy_seconds()
        check(res, f"{name} on {server.name}")
        syscalls, sys_ops = None, 0
        if opt.quick:
            syscalls, sys_ops = counter.stop(), res["run"]["ops_total"]
        elif syscall_method != "none":
            counter.start(server.pid)
            sc = lg.run(server.port, base + ["--duration", opt.syscall_duration], timeout)
            syscalls, sys_ops = counter.stop(), sc["run"]["ops_total"]
            check(sc, f"{name} syscall pass on {server.name}")
        if not server.alive():
            raise BenchError(f"{server.name} died during {name}")
    except BenchError as e:
        if not server.alive():
            raise BenchError(f"{e}\n{server.exit_report()}") from None
        raise
    finally:
        counter.stop()  # no-op unless an error left it attached
        server.stop(wait=not opt.quick)
    run = res["run"]
    ops = max(run["ops_total"], 1)
    return {
        "ops_per_sec": run["ops_per_sec"],
        "p50_us": run["latency_us"]["p50"],
        "p99_us": run["latency_us"]["p99"],
        "p999_us": run["latency_us"]["p999"],
        "cpu_s_per_mreq": (cpu1 - cpu0) / ops * 1e6,
        "client_cpu_s_per_mreq": res["client_cpu_s"] / ops * 1e6,
        "server_util": (cpu1 - cpu0) / max(t1 - t0, 1e-9),
        # CPU used by everything else on the machine meanwhile, in cores: a
        # noisy neighbour shows up here (and in a wide A/A band).
        "background_cores": max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - res["client_cpu_s"])
        / max(t1 - t0, 1e-9),
        "syscalls_per_req": syscalls / sys_ops if syscalls is not None and sys_ops else None,
        "ctxsw_per_req": (ctx1 - ctx0) / ops,
        "hit_ratio": run["hit_ratio"] if run["keys"] else None,
        "ops_total": run["ops_total"],
        "loadgen": {k: res[k] for k in ("config", "run", "cmd")},
    }


def measure_memory(server, lg, opt):
    """Loads the MEMORY_SETS into a fresh server, reads every key back."""
    sets = [(n, max(items // 50, 1000) if opt.quick else items, size, prefix)
            for n, items, size, prefix in MEMORY_SETS]
    server.start()
    try:
        phases = []
        rss = proc_rss_bytes(server.pid)
        for n, items, size, prefix in sets:
            args = ["--keys", items, "--value-size", size, "--key-prefix", prefix, "--conns", 4,
                    "--depth", 32, "--duration", 0]
            res = lg.run(server.port, args + ["--preload"], 600)
            check(res, f"memory load {n} on {server.name}")
            after = proc_rss_bytes(server.pid)
            payload = res["config"]["key_len"] + size
            phases.append({"name": n, "items": items, "payload_per_item": payload,
                           "rss_growth": after - rss, "rss_per_item": (after - rss) / items,
                           "overhead_per_item": (after - rss) / items - payload,
                           "args": args})
            rss = after
        for ph in phases:
            res = lg.run(server.port, ph["args"] + ["--readback", "--mget", 100], 600)
            check(res, f"memory readback {ph['name']} on {server.name}")
            ph["misses"] = res["readback"]["misses"]
            if ph["misses"]:
                raise BenchError(f"{server.name}: {ph['misses']} of {ph['items']} "
                                 f"{ph['name']} items missing on readback")
        stats = server.stats()
        items = sum(p["items"] for p in phases)
        growth = sum(p["rss_growth"] for p in phases)
        payload = sum(p["items"] * p["payload_per_item"] for p in phases)
        phases.append({"name": "all", "items": items, "payload_per_item":
                       round(payload / items, 1), "rss_growth": growth,
                       "rss_per_item": growth / items, "overhead_per_item": (growth - payload) / items,
                       "misses": sum(p["misses"] for p in phases)})
        return {"phases": phases, "rss_final": proc_rss_bytes(server.pid),
                "stats": {k: stats.get(k) for k in ("curr_items", "bytes", "evictions",
                                                    "limit_maxbytes")}}
    finally:
        server.stop(wait=not opt.quick)


def run_plot(servers, lg, opt):
    points = {s.name: [] for s in servers}
    conns_list = [1, 4] if opt.quick else PLOT_CONNS
    wl = workload("get90", opt.quick)
    for i, conns in enumerate(conns_list):
        for s in servers if i % 2 == 0 else servers[::-1]:
            w = dict(wl, conns=conns)
            log(f"plot: get90 conns={conns} on {s.name}")
            m = measure(s, lg, "get90", w, argparse.Namespace(
                **dict(vars(opt), duration=opt.plot_duration)), "none")
            points[s.name].append((conns, m["ops_per_sec"], m["p99_us"]))
    out = Path(opt.plot_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    bench_report.plot(points, [s.name for s in servers], str(out.resolve()))
    log(f"plot written to {out}")
    return points


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--syncached", default=str(REPO / "build/bin/syncached"),
                   help="server A (default: build/bin/syncached)")
    p.add_argument("--memcached", default="/usr/bin/memcached", help="server B")
    p.add_argument("--loadgen", default=str(REPO / "build/bin/syncached-loadgen"))
    p.add_argument("-t", "--threads", type=int, default=None,
                   help="server -t for both (default: number of server cpus)")
    p.add_argument("-m", "--memory", type=int, default=1024, help="server -m MiB for both")
    p.add_argument("--server-arg", action="append", default=[],
                   help="extra argument passed to both servers (repeatable)")
    p.add_argument("--server-cpus", default="0", help="taskset cpu list for the servers")
    p.add_argument("--client-cpus", default="1", help="taskset cpu list for the loadgen")
    p.add_argument("--workloads", default=DEFAULT_WORKLOADS,
                   help=f"comma list from {','.join(WORKLOADS)},memory")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    p.add_argument("--syscall-duration", type=float, default=None,
                   help="seconds of the syscall-counting pass (default duration/3, min 1)")
    p.add_argument("--syscalls", choices=["auto", "perf", "strace", "none"], default="auto")
    p.add_argument("--no-aa", action="store_true", help="skip the memcached A/A control")
    p.add_argument("--memory-m", type=int, default=4096, help="server -m for the memory workload")
    p.add_argument("--json", help="write all results as JSON here")
    p.add_argument("--markdown", help="write the tables as Markdown here")
    p.add_argument("--plot", action="store_true", help="throughput and p99 vs connections")
    p.add_argument("--plot-out", default=str(REPO / "docs/perf-conns.png"))
    p.add_argument("--plot-duration", type=float, default=2.0)
    p.add_argument("--tls", action="store_true",
                   help="both servers with -Z (a fresh self-signed certificate), TLS clients")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: tiny key space, short passes, one round, no A/A")
    opt = p.parse_args()
    if opt.quick:
        opt.rounds, opt.duration, opt.no_aa, opt.plot_duration = 1, 0.15, True, 0.15
    opt.syscall_duration = opt.syscall_duration or max(1.0, opt.duration / 3)
    if opt.threads is None:
        opt.threads = len(cpu_list(opt.server_cpus))
    opt.workloads = [w for w in opt.workloads.split(",") if w]
    bad = [w for w in opt.workloads if w not in WORKLOADS and w != "memory"]
    if bad:
        p.error(f"unknown workload(s): {', '.join(bad)}")
    for path in (opt.syncached, opt.memcached, opt.loadgen):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            p.error(f"not an executable: {path}")
    if shutil.which("taskset") is None:
        p.error("taskset not found (util-linux)")
    return opt


def cpu_list(spec):
    cpus = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        cpus += range(int(lo), int(hi or lo) + 1)
    return cpus


def main():
    opt = parse_args()
    lg = Loadgen(opt.loadgen, opt.client_cpus)
    extra = list(opt.server_arg)
    if opt.tls:
        tls_dir = tempfile.mkdtemp(prefix="bench-tls-")
        atexit.register(shutil.rmtree, tls_dir, True)
        extra += bench_lib.enable_tls(tls_dir)
    mk = lambda name, binary, m: Server(name, binary, opt.threads, m, opt.server_cpus, extra)  # noqa
    a, b = mk("syncached", opt.syncached, opt.memory), mk("memcached", opt.memcached, opt.memory)
    servers = [a, b] + ([] if opt.no_aa else [mk("memcached-aa", opt.memcached, opt.memory)])
    failures = []

    method = opt.syscalls
    if method == "auto":
        probe = mk("probe", opt.memcached, 64)
        probe.start()
        try:
            method = SyscallCounter.detect(probe)
        finally:
            probe.stop(wait=False)
    log(f"syscall counting: {method}")

    results = {}
    for name in (w for w in opt.workloads if w != "memory"):
        wl = workload(name, opt.quick)
        results[name] = []
        for r in range(opt.rounds):
            row = {}
            for s in servers if r % 2 == 0 else servers[::-1]:
                log(f"{name} round {r + 1}/{opt.rounds}: {s.name}")
                try:
                    row[s.name] = measure(s, lg, name, wl, opt, method)
                except BenchError as e:
                    failures.append(str(e))
                    log(f"FAILED: {e}")
            results[name].append(row)

    memory = {}
    if "memory" in opt.workloads:
        for s in (a, b):
            log(f"memory: {s.name}")
            ms = Server(s.name, s.binary, opt.threads, opt.memory_m, opt.server_cpus, extra)
            try:
                memory[s.name] = measure_memory(ms, lg, opt)
            except BenchError as e:
                failures.append(str(e))
                log(f"FAILED: {e}")

    points = None
    if opt.plot:
        try:
            points = run_plot([a, b], lg, opt)
        except BenchError as e:
            failures.append(str(e))
            log(f"FAILED: {e}")

    aa = None if opt.no_aa else "memcached-aa"
    summary = bench_report.summarize(results, "syncached", "memcached", aa)
    meta = {"a_bin": opt.syncached, "b_bin": opt.memcached,
            "server_flags": f"-t {opt.threads} -m {opt.memory}" + "".join(f" {x}" for x in extra),
            "server_cpus": opt.server_cpus, "client_cpus": opt.client_cpus, "rounds": opt.rounds,
            "duration": opt.duration, "syscall_method": method,
            "syscall_duration": None if opt.quick else opt.syscall_duration}
    md = bench_report.markdown(summary, memory, "syncached", "memcached", aa, meta)
    print(md)
    if opt.markdown:
        Path(opt.markdown).write_text(md)
    if opt.json:
        Path(opt.json).write_text(json.dumps(
            {"meta": meta, "workloads": {n: WORKLOADS[n] for n in results}, "summary": summary,
             "raw": results, "memory": memory, "plot": points, "failures": failures},
            indent=1))
    if failures:
        log(f"{len(failures)} failure(s):")
        for f in failures:
            log("  " + f.splitlines()[0])
        return 1
    return 0


if __name__ == "__main__":
    status = 1
    try:
        status = main()
    except BenchError as e:
        log(f"FAILED: {e}")
    except KeyboardInterrupt:
        status = 130
    finally:
        reap_all()
    sys.exit(status)
