#!/usr/bin/env python3
"""Anti-entropy figures for docs/REPAIR.md (issue 20): two nodes holding the same
N items of 100 B (default 1M):

  - in sync: one `repair` on node 2, until both comparisons it starts or answers
    are done: bytes exchanged and wall time;
  - diverged: node 2 started with SYNCACHED_TEST_DROP_PREFIX (it never applied the
    peers' changes to 1 % of the keys); one `repair`, until node 2 holds them all:
    bytes, keys, wall time and items/s.

Loopback ports 29500-29599. Prints JSON.

  /usr/bin/python3 bench/repair.py [--items N]   (after building syncached and the loadgen)
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = os.environ.get("SYNCACHED_BIN", os.path.join(ROOT, "build/bin/syncached"))
LG = os.environ.get("SYNCACHED_LOADGEN", os.path.join(ROOT, "build/bin/syncached-loadgen"))
ITEMS = int(sys.argv[sys.argv.index("--items") + 1]) if "--items" in sys.argv else 1000000


def call(port, line):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(line.encode())
        out = b""
        while not out.endswith(b"END\r\n") and not out.endswith(b"OK\r\n"):
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            out += chunk
    return out.decode()


def repl(port, group="replication"):
    out = {}
    for line in call(port, ("stats %s" % group).strip() + "\r\n").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    return out


def num(stats, name):
    return int(stats.get(name, 0))


def wait_for(what, timeout=120, show=None):
    end = time.time() + timeout
    while time.time() < end:
        if what():
            return True
        time.sleep(0.02)
    raise RuntimeError("timed out" + (": %r" % show() if show else ""))


def cluster(tmp, drop_prefix=None):
    procs = []
    for i, (port, rport, peer) in enumerate([(29501, 29511, 29512), (29502, 29512, 29511)]):
        env = dict(os.environ)
        if drop_prefix and i == 1:
            env["SYNCACHED_TEST_DROP_PREFIX"] = drop_prefix
        args = [B, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "1024", "--node-id",
                str(i + 1), "--replication-port", str(rport), "--peers", "127.0.0.1:%d" % peer,
                "--join-timeout", "1", "--repair-interval", "0"]
        if os.geteuid() == 0:
            args += ["-u", "root"]
        procs.append(subprocess.Popen(args, env=env, stdout=open(os.path.join(tmp, "n%d" % i), "w"),
                                      stderr=subprocess.STDOUT))
    for port in (29501, 29502):
        wait_for(lambda: _up(port), 30)
    return procs


def _up(port):
    try:
        socket.create_connection(("127.0.0.1", port)).close()
        return True
    except OSError:
        return False


def load():
    subprocess.run([LG, "--port", "29501", "--keys", str(ITEMS), "--preload", "--duration", "0",
                    "--conns", "8", "--depth", "32", "--value-size", "100"],
                   check=True, capture_output=True)


def run_repair(diverged):
    tmp = tempfile.mkdtemp(prefix="syncached-repair-bench-")
    # The loadgen's keys are key:000000..key:999999 (fixed width): "key:00" is 1 % of
    # them when the item count is a power of ten.
    procs = cluster(tmp, "key:00" if diverged else None)
    try:
        # The comparisons each link runs once it streams come first: not during the load.
        wait_for(lambda: all(num(repl(p), "repair_runs") >= 2 for p in (29501, 29502)), 60)
        load()
        dropped = ITEMS // 100 if diverged else 0
        wait_for(lambda: num(repl(29502, ""), "curr_items") == ITEMS - dropped, 300,
                 lambda: (repl(29502, "").get("curr_items"), repl(29502)))
        time.sleep(3)  # out of the 2 s comparisons leave to the stream
        b1, b2 = repl(29501), repl(29502)
        t0 = time.time()
        assert call(29502, "repair\r\n") == "OK\r\n"
        if diverged:
            wait_for(lambda: num(repl(29502), "repair_keys_applied") -
                     num(b2, "repair_keys_applied") >= dropped, 300)
        else:
            wait_for(lambda: num(repl(29502), "repair_runs") - num(b2, "repair_runs") >= 1 and
                     num(repl(29501), "repair_runs") - num(b1, "repair_runs") >= 1, 60)
        secs = time.time() - t0
        a1, a2 = repl(29501), repl(29502)
        moved = sum(num(a, "repair_bytes_sent") - num(b, "repair_bytes_sent")
                    for a, b in ((a1, b1), (a2, b2)))
        out = {"items": ITEMS, "seconds": round(secs, 3), "bytes": moved,
               "buckets_differing": num(a2, "repair_buckets_differing") -
               num(b2, "repair_buckets_differing"),
               "keys_applied": num(a2, "repair_keys_applied") - num(b2, "repair_keys_applied")}
        if diverged:
            out["items_per_s"] = int(out["keys_applied"] / max(secs, 1e-3))
        return out
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps({"in_sync": run_repair(False), "diverged_1pct": run_repair(True)}, indent=1))
