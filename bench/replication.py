#!/usr/bin/env python3
"""Replication and persistence figures for docs/PERFORMANCE.md (issue #7), each
against Debian's memcached in the same run:

  - write cost: server CPU per set (utime+stime of every node, from /proc) for a
    single node, a 2-node async cluster, a 2-node --sync-replicas 1 cluster and a
    single node with --data-dir, against memcached's per set;
  - write latency: one connection, one set at a time (p50/p99), same set-ups;
  - reads on a replicated node: CPU per get90 request against memcached;
  - a source's get90 throughput while it streams a full copy of 1M items, the
    copy's duration, and catch-up time after a 1 s pause.

Pinning (2 cores): the node taking the load (and memcached) on cpu 0, the loadgen
and the replica on cpu 1. Loopback ports 28000-29999. Prints JSON.

  /usr/bin/python3 bench/replication.py [--quick]   (after building syncached and the loadgen)
  /usr/bin/python3 bench/replication.py --fsync-only   (memcached twice, the A/A control,
      and a node with --data-dir under --fsync everysec and always: 16 connections and 1)
  /usr/bin/python3 bench/replication.py --sync-only   (memcached, a 2-node async cluster,
      the same with --sync-replicas 1, memcached again (A/A): 16 connections and 1; plus
      the loopback round trip of a 1-byte TCP ping-pong, the floor a sync ack adds)
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = os.environ.get("SYNCACHED_BIN", os.path.join(ROOT, "build/bin/syncached"))
LG = os.environ.get("SYNCACHED_LOADGEN", os.path.join(ROOT, "build/bin/syncached-loadgen"))
MC = "/usr/bin/memcached"
QUICK = "--quick" in sys.argv
FSYNC_ONLY = "--fsync-only" in sys.argv
SYNC_ONLY = "--sync-only" in sys.argv
DUR = "1" if QUICK else "4"
HZ = os.sysconf("SC_CLK_TCK")


def start(args, cpu, log):
    return subprocess.Popen(["taskset", "-c", str(cpu)] + args, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)


def wait_port(p, t=30):
    end = time.time() + t
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", p)).close()
            return True
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("port %d not serving" % p)


def lg(port, *a):
    out = subprocess.run(["taskset", "-c", "1", LG, "--port", str(port)] + list(a),
                         capture_output=True, text=True).stdout
    return json.loads(out).get("run", {})


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / HZ


def measure(port, pids, *args):
    """Runs the loadgen; returns (ops/s, p50 us, p99 us, server CPU us per op)."""
    before = cpu_seconds(pids)
    r = lg(port, *args)
    used = cpu_seconds(pids) - before
    ops = r["ops_per_sec"] * float(DUR)
    return {"ops_per_sec": round(r["ops_per_sec"]), "p50_us": r["latency_us"]["p50"],
            "p99_us": r["latency_us"]["p99"], "cpu_us_per_op": round(used * 1e6 / ops, 2)}


def memcached(port):
    return start([MC, "-p", str(port), "-l", "127.0.0.1", "-U", "0", "-u", "root", "-t", "1",
                  "-m", "2048"], 0, "/tmp/rp-mc.log")


def node(i, peers, extra=()):
    args = [B, "-l", "127.0.0.1", "-p", str(28000 + i), "-t", "1", "-m", "2048"]
    if peers:
        args += ["--node-id", str(i), "--replication-port", str(29000 + i), "--peers",
                 ",".join("127.0.0.1:%d" % (29000 + j) for j in peers), "--join-timeout", "1"]
    return args + list(extra)


def stop(*procs):
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


SETS = ["--conns", "16", "--keys", "100000", "--duration", DUR, "--ratio", "0:1"]
LAT1 = ["--conns", "1", "--keys", "100000", "--duration", DUR, "--ratio", "0:1"]
GET90 = ["--conns", "16", "--keys", "100000", "--duration", DUR, "--preload"]


def write_figures(res):
    mc = memcached(28100)
    wait_port(28100)
    res["memcached_sets"] = measure(28100, [mc.pid], *SETS)
    res["memcached_lat1_set"] = measure(28100, [mc.pid], *LAT1)
    res["memcached_get90"] = measure(28100, [mc.pid], *GET90)
    stop(mc)

    single = start(node(5, []), 0, "/tmp/rp5.log")
    wait_port(28005)
    res["single_sets"] = measure(28005, [single.pid], *SETS)
    res["single_lat1_set"] = measure(28005, [single.pid], *LAT1)
    stop(single)

    disk_figures(res)

    cluster_figures(res, with_get90=True)


def cluster_figures(res, with_get90=False):
    """A 2-node cluster, async and with --sync-replicas 1: sets (16 conns), lat1."""
    for name, extra in (("cluster", ()), ("sync1", ("--sync-replicas", "1"))):
        n1 = start(node(1, [2], extra), 0, "/tmp/rp1.log")
        n2 = start(node(2, [1], extra), 1, "/tmp/rp2.log")
        wait_port(28001)
        wait_port(28002)
        res[name + "_sets"] = measure(28001, [n1.pid, n2.pid], *SETS)
        res[name + "_lat1_set"] = measure(28001, [n1.pid, n2.pid], *LAT1)
        if name == "cluster" and with_get90:
            res[name + "_get90"] = measure(28001, [n1.pid], *GET90)
        stop(n1, n2)


def loopback_rtt_us(n=20000):
    """Median round trip of a 1-byte ping-pong between cpu 0 and cpu 1 over loopback TCP."""
    code = ("import socket,sys,time,statistics;s=socket.socket();s.setsockopt(6,1,1);"
            "s.connect(('127.0.0.1',int(sys.argv[1])));t=[]\n"
            "for i in range(%d):\n a=time.perf_counter();s.sendall(b'x');s.recv(1);"
            "t.append(time.perf_counter()-a)\n"
            "print(statistics.median(t)*1e6)" % n)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    echo = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c",
                             "import socket,sys;s=socket.fromfd(3,2,1);c,_=s.accept();"
                             "c.setsockopt(6,1,1)\nwhile True:\n b=c.recv(1)\n"
                             " if not b: break\n c.sendall(b)"], pass_fds=[srv.fileno()])
    out = subprocess.run(["taskset", "-c", "1", sys.executable, "-c", code, str(port)],
                         capture_output=True, text=True, timeout=120).stdout
    echo.wait(timeout=10)
    srv.close()
    return round(float(out), 1)


def between_memcached(res, figures):
    """memcached (sets, lat1), then `figures(res)`, then memcached again: the A/A control."""
    for tag in ("memcached", "memcached_aa"):
        mc = memcached(28100)
        wait_port(28100)
        res[tag + "_sets"] = measure(28100, [mc.pid], *SETS)
        res[tag + "_lat1_set"] = measure(28100, [mc.pid], *LAT1)
        stop(mc)
        if tag == "memcached":
            figures(res)


def sync_figures(res):
    """memcached, async and sync clusters, memcached again (A/A); ratios."""
    between_memcached(res, cluster_figures)
    res["loopback_rtt_us"] = loopback_rtt_us()
    mc_lat = res["memcached_lat1_set"]["p50_us"]
    res["ratios"] = {
        "aa_cpu_per_set": round(res["memcached_aa_sets"]["cpu_us_per_op"] /
                                res["memcached_sets"]["cpu_us_per_op"], 2),
        "aa_lat1_p50": round(res["memcached_aa_lat1_set"]["p50_us"] / mc_lat, 2),
        "sync1_cpu_over_async": round(res["sync1_sets"]["cpu_us_per_op"] /
                                      res["cluster_sets"]["cpu_us_per_op"], 2),
        "sync1_lat1_p50_minus_memcached_us": round(res["sync1_lat1_set"]["p50_us"] - mc_lat, 1),
    }


def disk_figures(res):
    data = tempfile.mkdtemp(prefix="rp-data-")
    try:
        for policy in ("everysec", "always"):
            disk = start(node(6, [], ["--data-dir", data + "/" + policy, "--fsync", policy]), 0,
                         "/tmp/rp6.log")
            wait_port(28006)
            res["data_dir_%s_sets" % policy] = measure(28006, [disk.pid], *SETS)
            res["data_dir_%s_lat1_set" % policy] = measure(28006, [disk.pid], *LAT1)
            stop(disk)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def fsync_figures(res):
    """memcached, a node with each fsync policy, memcached again (A/A)."""
    between_memcached(res, disk_figures)
    mc_set, mc_lat = res["memcached_sets"], res["memcached_lat1_set"]
    out = {"aa_cpu_per_set": round(res["memcached_aa_sets"]["cpu_us_per_op"] /
                                   mc_set["cpu_us_per_op"], 2),
           "aa_sets_p50": round(res["memcached_aa_sets"]["p50_us"] / mc_set["p50_us"], 2),
           "aa_lat1_p50": round(res["memcached_aa_lat1_set"]["p50_us"] / mc_lat["p50_us"], 2)}
    for policy in ("everysec", "always"):
        name = "data_dir_" + policy
        out[name + "_cpu_per_set"] = round(res[name + "_sets"]["cpu_us_per_op"] /
                                           mc_set["cpu_us_per_op"], 2)
        out[name + "_sets_p50"] = round(res[name + "_sets"]["p50_us"] / mc_set["p50_us"], 2)
        out[name + "_lat1_p50"] = round(res[name + "_lat1_set"]["p50_us"] / mc_lat["p50_us"], 2)
    res["ratios_vs_memcached"] = out


def copy_figures(res):
    n1 = start(node(1, [2]), 0, "/tmp/rp1.log")
    n2 = start(node(2, [1]), 0, "/tmp/rp2.log")
    wait_port(28001)
    wait_port(28002)
    keys = "100000" if QUICK else "1000000"
    lg(28001, "--conns", "8", "--keys", keys, "--preload", "--duration", "0")
    r = lg(28001, "--conns", "16", "--keys", keys, "--duration", "3")
    res["source_get90_ops_normal"] = round(r["ops_per_sec"])
    n3 = start(node(3, [1]), 1, "/tmp/rp3.log")
    t = time.time()
    box = {}
    th = threading.Thread(target=lambda: box.update(
        r=lg(28001, "--conns", "16", "--keys", keys, "--duration", "1.5")))
    th.start()
    wait_port(28003, 60)
    res["full_copy_seconds"] = round(time.time() - t, 2)
    res["full_copy_items"] = int(keys)
    th.join()
    res["source_get90_ops_during_copy"] = round(box["r"]["ops_per_sec"])
    stop(n3)
    # Catch-up after a 1 s pause of node 2 under writes.
    w = subprocess.Popen(["taskset", "-c", "1", LG, "--port", "28001", "--conns", "4", "--keys",
                          "100000", "--duration", "4", "--ratio", "0:1"], stdout=subprocess.DEVNULL)
    time.sleep(1)
    os.kill(n2.pid, signal.SIGSTOP)
    time.sleep(1.0)
    os.kill(n2.pid, signal.SIGCONT)
    t = time.time()
    s = socket.create_connection(("127.0.0.1", 28002))

    def lag():
        s.sendall(b"stats replication\r\n")
        b = b""
        while not b.endswith(b"END\r\n"):
            b += s.recv(65536)
        return [int(line.split()[2]) for line in b.split(b"\r\n") if b":lag_changes" in line][0]

    while lag() > 50 and time.time() - t < 10:
        time.sleep(0.01)
    res["catch_up_after_1s_pause_seconds"] = round(time.time() - t, 3)
    w.wait()
    stop(n1, n2)


def ratios(res):
    mc_set = res["memcached_sets"]["cpu_us_per_op"]
    mc_lat = res["memcached_lat1_set"]["p50_us"]
    out = {}
    for name in ("single", "cluster", "sync1", "data_dir_everysec", "data_dir_always"):
        out[name + "_cpu_per_set"] = round(res[name + "_sets"]["cpu_us_per_op"] / mc_set, 2)
        out[name + "_lat1_p50"] = round(res[name + "_lat1_set"]["p50_us"] / mc_lat, 2)
    out["cluster_get90_cpu"] = round(res["cluster_get90"]["cpu_us_per_op"] /
                                     res["memcached_get90"]["cpu_us_per_op"], 2)
    return out


if __name__ == "__main__":  # bench/sharding.py imports the helpers above
    res = {}
    if FSYNC_ONLY or SYNC_ONLY:
        (fsync_figures if FSYNC_ONLY else sync_figures)(res)
        print(json.dumps(res, indent=1))
        sys.exit(0)
    write_figures(res)
    copy_figures(res)
    res["ratios_vs_memcached"] = ratios(res)
    print(json.dumps(res, indent=1))
