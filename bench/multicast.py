#!/usr/bin/env python3
"""Multicast fan-out figures for docs/REPLICATION.md (issue 23): for clusters of 3, 5
and 9 nodes (full replication), the writer's bytes on the wire per write and the
cluster's CPU per write, with the change stream over TCP (one copy per peer) and
over an epgm group (--multicast), in the same run; TCP is measured twice on 3 nodes
as the A/A control.

Each node runs in a network namespace of its own on a bridge (tests/integration/
netns_lab.py; never a real interface), -t 1. The load: 20,000 sets of 200 B
through node 1 (pipelined, one connection), until every node holds the last one.
Bytes: node 1's interface tx_bytes (everything it sent: stream, PINGs, acks,
TCP's own). CPU: utime+stime of every node. Needs root. Prints JSON.

  sudo /usr/bin/python3 bench/multicast.py [--quick]
  (SYNCACHED_MULTICAST_FLAGS="--multicast-rate 50000" adds flags to the multicast nodes)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("SYNCACHED_BUILD_DIR", os.path.join(ROOT, "build"))

import harness  # noqa: E402
from netns_lab import Lab  # noqa: E402

QUICK = "--quick" in sys.argv
WRITES = 4000 if QUICK else 20000
SIZE = 200
HZ = os.sysconf("SC_CLK_TCK")
SECRET = "bench-multicast-secret-0123456789abcdef"
GROUP = "239.193.9.9:5600"


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / HZ


def tx_bytes(host):
    r = subprocess.run(["ip", "netns", "exec", host.name, "cat",
                        "/sys/class/net/%s/statistics/tx_bytes" % host.iface],
                       capture_output=True, text=True, timeout=10, check=True)
    return int(r.stdout)


def serving(host):
    try:
        host.client(11211, timeout=0.5).close()
        return True
    except OSError:
        return False


def holds(host, key):
    with host.client(11211) as c:
        return c.value(key) is not None


def every_link(hosts, field, value):
    """Whether every node says `value` of each of its peers' `peer:<addr>:<field>`."""
    for h in hosts:
        with h.client(11211) as c:
            st = c.stats("replication")
        if sum(1 for k, v in st.items() if k.startswith("peer:") and k.endswith(":" + field)
               and v == value) < len(hosts) - 1:
            return False
    return True


def run(nodes, multicast, workdir):
    with Lab.make(nodes, net="10.232.0") as lab:
        secret = os.path.join(workdir, "secret")
        with open(secret, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(secret, 0o600)
        pids = []
        for h in lab.hosts:
            peers = ",".join("%s:11212" % o.addr for o in lab.hosts if o is not h)
            argv = [harness.server_bin(), "-l", h.addr, "-p", "11211", "-U", "0", "-u", "root",
                    "-t", "1", "-m", "1024", "--node-id", str(h.index), "--replication-port",
                    "11212", "--peers", peers, "--join-timeout", "1", "--cluster-secret-file",
                    secret]
            if multicast:
                argv += ["--multicast", "epgm://%s;%s" % (h.addr, GROUP)]
                argv += os.environ.get("SYNCACHED_MULTICAST_FLAGS", "").split()
            pids.append(h.spawn(argv, os.path.join(workdir, "n%d.log" % h.index)).pid)
        for h in lab.hosts:
            lab.wait(lambda: serving(h), 30, "node %d" % h.index)
        lab.wait(lambda: every_link(lab.hosts, "state", "streaming"), 30, "every link streaming")
        if multicast:
            lab.wait(lambda: every_link(lab.hosts, "multicast", "on"), 30, "every link on multicast")
        writer = lab.hosts[0]
        time.sleep(0.5)
        bytes0, cpu0 = tx_bytes(writer), cpu_seconds(pids)
        value = b"v" * SIZE
        start = time.monotonic()
        with writer.client(11211, timeout=60) as c:
            for first in range(0, WRITES, 500):
                c.send(b"".join(b"set k%d 0 0 %d noreply\r\n%s\r\n" % (i, SIZE, value)
                                for i in range(first, min(WRITES, first + 500))) + b"mn\r\n")
                assert c.readline(timeout=60) == b"MN\r\n"
        last = "k%d" % (WRITES - 1)
        for h in lab.hosts:
            lab.wait(lambda: holds(h, last), 60, "the last write on node %d" % h.index)
        took = time.monotonic() - start
        time.sleep(0.3)  # the acks of the last batches
        sent, cpu = tx_bytes(writer) - bytes0, cpu_seconds(pids) - cpu0
        out = {"bytes_per_write": round(sent / WRITES, 1),
               "cluster_cpu_us_per_write": round(cpu * 1e6 / WRITES, 2),
               "seconds_to_every_node": round(took, 3)}
        if multicast:  # what TCP had to carry after all
            for field in ("multicast_repairs", "multicast_fallbacks"):
                out[field] = 0
            for h in lab.hosts:
                with h.client(11211) as c:
                    st = c.stats("replication")
                for field in ("multicast_repairs", "multicast_fallbacks"):
                    out[field] += sum(int(v) for k, v in st.items() if k.endswith(":" + field))
        return out


def main():
    res = {"writes": WRITES, "value_bytes": SIZE}
    with tempfile.TemporaryDirectory(prefix="sc-mcast-bench-") as workdir:
        for nodes in (3, 5, 9):
            res["tcp_%d" % nodes] = run(nodes, False, workdir)
            res["multicast_%d" % nodes] = run(nodes, True, workdir)
            if nodes == 3:
                res["tcp_3_again"] = run(3, False, workdir)
    ratios = {}
    for nodes in (3, 5, 9):
        t, m = res["tcp_%d" % nodes], res["multicast_%d" % nodes]
        ratios["bytes_%d" % nodes] = round(m["bytes_per_write"] / t["bytes_per_write"], 2)
        ratios["cpu_%d" % nodes] = round(m["cluster_cpu_us_per_write"] /
                                         t["cluster_cpu_us_per_write"], 2)
    a, b = res["tcp_3"], res["tcp_3_again"]
    ratios["aa_bytes_3"] = round(b["bytes_per_write"] / a["bytes_per_write"], 2)
    ratios["aa_cpu_3"] = round(b["cluster_cpu_us_per_write"] / a["cluster_cpu_us_per_write"], 2)
    res["multicast_vs_tcp"] = ratios
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
