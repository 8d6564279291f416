#!/usr/bin/env python3
"""Membership-change figures for docs/SHARDING.md (issue 20): a fourth node added to
three (R=2) holding N items of 100 B (default 1M), so it takes over half of them
from its peers, while a get90 load runs against node 1, a source:

  - handover: seconds from `members reload` until every node is ready, and the
    items node 4 applied per second over that time;
  - the source's get90 throughput during the handover, against the same load
    before it (run twice: the A/A control) and after it (when the source
    forwards the keys it no longer owns).

Pinning (2 cores): node 1 on cpu 0; the other nodes and the loadgen on cpu 1. --repair-rate is a flag of this script, passed to every node (default 1g:
the throttle out of the way; the server's default is 16m). Loopback ports
29600-29799. Prints JSON; --trace prints each node's repair counters to stderr
while the handover runs; HANDOVER_BENCH_DIR keeps the nodes' logs there.

  /usr/bin/python3 bench/handover.py [--items N] [--repair-rate R] [--trace]
"""
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replication as rp  # noqa: E402 (start, wait_port, stop)
import repair as rep  # noqa: E402 (call, repl, num, wait_for)


def flag(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


ITEMS = int(flag("--items", "1000000"))
RATE = flag("--repair-rate", "1g")
SLICE = 0.5  # seconds per get90 measurement during the handover


def members_file(path, n):
    with open(path, "w") as f:
        for i in range(1, n + 1):
            f.write("%d 127.0.0.1:%d 127.0.0.1:%d\n" % (i, 29600 + i, 29700 + i))


def start_node(i, members, workdir, extra=()):
    args = [rp.B, "-l", "127.0.0.1", "-p", str(29600 + i), "-m", "2048", "--node-id", str(i),
            "--members", members, "--replication-factor", "2", "--join-timeout", "1",
            "--repair-interval", "0", "--repair-rate", RATE] + list(extra)
    if os.geteuid() == 0:
        args += ["-u", "root"]
    proc = rp.start(args, 0 if i == 1 else 1, os.path.join(workdir, "node%d.log" % i))
    rp.wait_port(29600 + i)
    return proc


def get90(seconds):
    r = rp.lg(29601, "--keys", str(ITEMS), "--conns", "4", "--depth", "4", "--ratio", "9:1",
              "--duration", str(seconds), "--verify", "length")
    return r["ops_per_sec"]


def main():
    res = {"items": ITEMS, "repair_rate": RATE}
    with tempfile.TemporaryDirectory(prefix="handover-bench-") as workdir:
        workdir = os.environ.get("HANDOVER_BENCH_DIR", workdir)
        members = os.path.join(workdir, "members")
        members_file(members, 3)
        procs = [start_node(i, members, workdir) for i in (1, 2, 3)]
        try:
            rp.lg(29601, "--keys", str(ITEMS), "--preload", "--duration", "0", "--conns", "8",
                  "--depth", "32", "--value-size", "100")
            rep.wait_for(lambda: sum(rep.num(rep.repl(p, ""), "curr_items")
                                     for p in (29601, 29602, 29603)) >= 2 * ITEMS, 300)
            time.sleep(2)
            res["get90_before_ops_per_sec"] = round(get90(4))
            res["get90_before_again_ops_per_sec"] = round(get90(4))  # the A/A control
            epoch = rep.repl(29601)["members_epoch"]
            members_file(members, 4)
            procs.append(start_node(4, members, workdir, ["--join"]))
            slices, done = [], threading.Event()

            def load():
                while not done.is_set():
                    t0 = time.time()
                    ops = get90(SLICE)
                    slices.append((t0, time.time(), ops))

            loader = threading.Thread(target=load)
            loader.start()
            time.sleep(1.2)  # slices of the load alone, then the change
            t0 = time.time()
            reloads = []
            for port in (29601, 29602, 29603):  # node 4 started with the new file
                r0 = time.time()
                assert rep.call(port, "members reload\r\n") == "OK\r\n"
                reloads.append(round(time.time() - r0, 3))
            res["reload_seconds"] = reloads  # each rebuilds its digests from its store

            def ready():
                stats = [rep.repl(p) for p in (29601, 29602, 29603, 29604)]
                if "--trace" in sys.argv:
                    print("%.2f" % (time.time() - t0), [
                        {k[7:]: v for k, v in st.items() if k in (
                            "repair_runs", "repair_keys_applied", "repair_keys_sent",
                            "repair_bytes_sent", "repair_keys_listed", "repair_keys_received", "members_unowned_dropped")} for st in stats],
                          file=sys.stderr)
                return all(s["members_epoch"] != epoch and s["members_all_ready"] == "1"
                           for s in stats)
            rep.wait_for(ready, 300, lambda: [
                {k: v for k, v in rep.repl(p).items() if "members" in k or "repair" in k
                 or k.endswith(":state") or k.endswith(":handed_over")}
                for p in (29601, 29602, 29603, 29604)])
            t1 = time.time()
            time.sleep(1.2)
            done.set()
            loader.join()
            applied = rep.num(rep.repl(29604), "repair_keys_applied")
            res["handover_seconds"] = round(t1 - t0, 3)
            res["items_taken_over"] = applied
            res["items_per_sec"] = round(applied / (t1 - t0))
            during = [ops for (a, b, ops) in slices if a >= t0 and b <= t1]
            res["get90_during_ops_per_sec"] = [round(x) for x in during]
            res["get90_after_ops_per_sec"] = round(get90(4))
            base = res["get90_before_ops_per_sec"]
            res["ratios"] = {
                "aa_before_again_over_before":
                    round(res["get90_before_again_ops_per_sec"] / base, 2),
                # After: node 1 forwards the keys it no longer owns.
                "after_over_before": round(res["get90_after_ops_per_sec"] / base, 2),
                "during_over_before": round(sum(during) / len(during) / base, 2)
                if during else None,
            }
        finally:
            rp.stop(*procs)
    print(json.dumps(res, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
