"""Clusters of syncached nodes on 127.0.0.1 for the replication tests.

    nodes = make_cluster(3)                # fixture: started, ready, stopped at teardown
    nodes[0].client().set("k", "v")
    wait_converged(nodes)                  # every node holds the same keys/values/...

A Node keeps its ports across restarts (kill(), start()), so its peers find it
again. Its log is a file read back with log(). Nothing sleeps without a
deadline; every process is killed at teardown, also after a failure, and a
node that died without being told to (a crash) fails the test.
"""

import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

import pytest

import harness

HOST = harness.HOST


class Node:
    def __init__(self, node_id, port, rport, workdir):
        self.node_id = node_id
        self.port = port
        self.rport = rport
        self.peers = []          # replication addresses of the others
        self.extra = []          # more args (secret file, backlog size, ...)
        self.env = {}            # more environment variables
        self.proc = None
        self.workdir = workdir
        self.logs = []           # one file per run
        self.expected_exit = True
        self.paused = False
        self.terminating = False  # teardown's SIGTERM sent
        self.others = []         # the other nodes of its cluster (for failure reports)

    # -- process ------------------------------------------------------------
    def argv(self):
        args = [harness.server_bin()] + harness.base_args(self.port)
        args += ["-v", "--node-id", str(self.node_id), "--replication-port", str(self.rport),
                 "--join-timeout", "1"]
        if self.peers:
            args += ["--peers", ",".join(self.peers)]
        return args + list(self.extra)

    def start(self, wait=True, timeout=20.0):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        path = os.path.join(self.workdir, "node%d.run%d.log" % (self.node_id, len(self.logs) + 1))
        self.logs.append(path)
        self.terminating = False
        out = open(path, "wb")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, env=dict(os.environ, **self.env),
                                     preexec_fn=harness._die_with_parent)
        out.close()
        self.expected_exit = False
        self.paused = False
        if wait:
            self.wait_ready(timeout)
        return self

    def ready(self):
        """True when the client port accepts a connection (the join gate is open)."""
        try:
            socket.create_connection((HOST, self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError("node %d exited with %s before serving:\n%s"
                                     % (self.node_id, self.proc.returncode,
                                        self.log(all_runs=False)[-3000:]))
            if self.ready():
                return
            time.sleep(0.02)
        # A joiner waits on its peers: their side of the story goes with the failure.
        others = "".join("\n" + o.log()[-3000:] for o in self.others)
        raise AssertionError("node %d not serving after %.0f s:\n%s%s"
                             % (self.node_id, timeout, self.log()[-3000:], others))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        """Kills the node on purpose (its exit does not fail the test)."""
        self.expected_exit = True
        if self.alive():
            if self.paused:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.paused = False

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def signal_stop(self):
        """Teardown's first half: SIGTERM, so that a cluster's nodes drain at once
        (one by one, each would wait for the peers gone before it to time out)."""
        if self.proc is None or not self.alive():
            return
        if self.paused:
            self.proc.send_signal(signal.SIGCONT)
            self.paused = False
        self.proc.send_signal(signal.SIGTERM)
        self.terminating = True

    def stop(self):
        """Teardown: SIGTERM (SIGKILL after 5 s). Returns a problem or None."""
        if self.proc is None:
            return None
        problem = None
        if not self.alive() and not self.terminating:
            if not self.expected_exit:
                problem = "node %d died during the test (status %s)" % (self.node_id,
                                                                      self.proc.returncode)
        else:
            self.signal_stop()
            try:
                status = self.proc.wait(5)
                if status != 0 and not self.expected_exit:
                    problem = "node %d exited with %d on SIGTERM" % (self.node_id, status)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                problem = "node %d did not exit within 5 s of SIGTERM" % self.node_id
        if problem:
            # The last run first: a report cut short must still show why it ended.
            problem += "; its last run:\n%s\nall runs:\n%s" % (
                self.log(all_runs=False)[-2000:], self.log()[-2000:])
        return problem

    def log(self, all_runs=True):
        text = ""
        for path in (self.logs if all_runs else self.logs[-1:]):
            with open(path, "rb") as f:
                text += "--- %s\n" % os.path.basename(path) + f.read().decode("utf-8", "replace")
        return text

    def rss_bytes(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    # -- clients ------------------------------------------------------------
    def client(self, timeout=harness.IO_TIMEOUT):
        return harness.Client(HOST, self.port, timeout)

    def addr(self):
        return "%s:%d" % (HOST, self.port)

    def repl_stats(self):
        with self.client() as c:
            return c.stats("replication")

    def peer_stat(self, other, name, stats=None):
        stats = stats if stats is not None else self.repl_stats()
        return stats.get("peer:%s:%d:%s" % (HOST, other.rport, name))

    def metadump(self):
        """{key: {exp, cas, ver, size}} from `lru_crawler metadump all`."""
        with self.client(timeout=20) as c:
            raw = c.call(b"lru_crawler metadump all\r\n", b"END\r\n", timeout=20)
        out = {}
        for line in raw.split(b"\n"):
            line = line.strip()
            if not line or line == b"END":
                continue
            fields = dict(f.split(b"=", 1) for f in line.split(b" "))
            key = urllib.parse.unquote_to_bytes(fields[b"key"]).decode("latin-1")
            out[key] = {"exp": int(fields[b"exp"]), "cas": int(fields[b"cas"]),
                        "ver": fields[b"ver"].decode(), "size": int(fields[b"size"])}
        return out

    def values(self, keys, batch=100):
        """{key: (value, flags, cas)} by `gets` (misses are absent)."""
        out = {}
        keys = list(keys)
        with self.client(timeout=20) as c:
            for i in range(0, len(keys), batch):
                c.send(("gets %s\r\n" % " ".join(keys[i:i + batch])).encode())
                while True:
                    line = c.readline(timeout=20)
                    if line == b"END\r\n":
                        break
                    assert line.startswith(b"VALUE "), line
                    _, key, flags, n, cas = line.split()
                    data = c.read_exact(int(n) + 2, timeout=20)[:-2]
                    out[key.decode("latin-1")] = (data, int(flags), int(cas))
        return out

    def snapshot(self):
        """Everything that must agree between replicas, per live key."""
        meta = self.metadump()
        vals = self.values(sorted(meta))
        snap = {}
        for key, m in meta.items():
            if key not in vals:
                continue  # expired between the dump and the gets
            value, flags, cas = vals[key]
            snap[key] = (value, flags, cas, m["exp"], m["ver"])
        return snap

    def __repr__(self):
        return "node%d(port %d, rport %d)" % (self.node_id, self.port, self.rport)


def distinct_free_ports(n):
    ports = set()
    while len(ports) < n:
        ports.add(harness.free_port())
    return sorted(ports)


class Cluster(list):
    """A list of Nodes that all peer with each other."""

    def __init__(self, n, extra=(), workdir=None):
        super().__init__()
        ports = distinct_free_ports(2 * n)
        for i in range(n):
            self.append(Node(i + 1, ports[2 * i], ports[2 * i + 1], workdir))
        for node in self:
            node.peers = ["%s:%d" % (HOST, o.rport) for o in self if o is not node]
            node.extra = list(extra)
            node.others = [o for o in self if o is not node]

    def start(self, timeout=20.0):
        for node in self:
            node.start(wait=False)
        for node in self:
            node.wait_ready(timeout)
        return self

    def add_node(self, extra=None):
        """A new node that peers with every existing one (their --peers are not
        changed: a node subscribes to the peers it is told, and every node serves
        whoever subscribes, so the newcomer pulls from all but is pulled by none
        until they restart)."""
        port, rport = distinct_free_ports(2)
        node = Node(len(self) + 1, port, rport, self[0].workdir)
        node.peers = ["%s:%d" % (HOST, o.rport) for o in self]
        node.extra = list(self[0].extra if extra is None else extra)
        node.others = list(self)
        for o in self:
            o.others.append(node)
        self.append(node)
        return node

    def logs(self, limit=4000):
        return "\n".join("%r:\n%s" % (n, n.log()[-limit:]) for n in self)


def _cluster_factory(name):
    """Generator behind the fixtures: yields make(n, extra, start) and at the
    end stops every node, failing on crashes (SYNCACHED_KEEP_LOGS=DIR keeps
    the node logs)."""
    clusters = []
    workdir = tempfile.TemporaryDirectory(prefix="syncached-repl-")

    def make(n, extra=(), start=True):
        c = Cluster(n, extra, workdir.name)
        clusters.append(c)
        if start:
            c.start()
        return c

    try:
        yield make
    finally:
        while _writers:
            w = _writers.pop()
            w.stop_event.set()
            w.join(10)
        problems = []
        for c in clusters:
            for node in c:
                node.signal_stop()
        for c in clusters:
            for node in c:
                problem = node.stop()
                if problem:
                    problems.append(problem)
        keep = os.environ.get("SYNCACHED_KEEP_LOGS")
        if keep:
            import shutil
            dest = os.path.join(keep, name)
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(workdir.name, dest)
        workdir.cleanup()
    if problems:
        pytest.fail("\n\n".join(problems))


@pytest.fixture
def make_cluster(request):
    """Factory fixture: make_cluster(n, extra_args, start=True) -> Cluster."""
    yield from _cluster_factory(request.node.name)


@pytest.fixture(scope="module")
def cluster3(request):
    """One running 3-node cluster for a whole module (tests use distinct keys)."""
    gen = _cluster_factory(request.module.__name__)
    make = next(gen)
    yield make(3)
    next(gen, None)


# -- convergence ---------------------------------------------------------------

def describe_diff(snaps, names, limit=8):
    keys = set()
    for s in snaps:
        keys |= set(s)
    lines = []
    for key in sorted(keys):
        vals = [s.get(key) for s in snaps]
        if any(v != vals[0] for v in vals):
            lines.append("  %r: " % key + "; ".join(
                "%s=%s" % (name, _short(v)) for name, v in zip(names, vals)))
            if len(lines) >= limit:
                break
    n_diff = sum(1 for key in keys if len({repr(s.get(key)) for s in snaps}) > 1)
    counts = ", ".join("%s:%d keys" % (name, len(s)) for name, s in zip(names, snaps))
    return "%d keys differ (%s)\n" % (n_diff, counts) + "\n".join(lines)


def _short(v):
    if v is None:
        return "absent"
    value, flags, cas, exp, ver = v
    return "(%r f=%d cas=%d exp=%d ver=%s)" % (value[:40], flags, cas, exp, ver)


def wait_converged(nodes, timeout=20.0, interval=0.25):
    """Polls every node's snapshot until all are identical; returns it.
    Fails with the differing keys (and the nodes' replication stats) if they
    are not identical within `timeout`."""
    deadline = time.monotonic() + timeout
    names = [repr(n) for n in nodes]
    while True:
        snaps = [n.snapshot() for n in nodes]
        if all(s == snaps[0] for s in snaps[1:]):
            return snaps[0]
        if time.monotonic() >= deadline:
            stats = "\n".join("%r %s" % (n, _brief_stats(n)) for n in nodes)
            raise AssertionError("nodes did not converge within %.0f s: %s\n%s"
                                 % (timeout, describe_diff(snaps, names), stats))
        time.sleep(interval)


def _brief_stats(node):
    try:
        st = node.repl_stats()
    except Exception as e:  # noqa: BLE001 - diagnostics only
        return "(no stats: %s)" % e
    keep = ("state", "lag_changes", "full_copies", "catch_ups", "last_error", "mode",
            "applied", "conflicts", "tombstones", "queue_overflows")
    return " ".join("%s=%s" % (k, v) for k, v in st.items() if k.split(":")[-1] in keep)


def wait_key(nodes, key, predicate, timeout=10.0):
    """Waits until predicate(values-of-key on node) holds on every node;
    returns the per-node results [(value, flags, cas) or None]."""
    deadline = time.monotonic() + timeout
    while True:
        got = [n.values([key]).get(key) for n in nodes]
        if all(predicate(g) for g in got):
            return got
        if time.monotonic() >= deadline:
            raise AssertionError("key %r on %s: %r" % (key, nodes, got))
        time.sleep(0.05)


# -- load ----------------------------------------------------------------------

_writers = []  # started Writers; the cluster fixtures stop them at teardown


class Writer(threading.Thread):
    """Writes through one node until stopped; keeps what was acknowledged.

    fn(client, i) performs write i and returns (key, value) when it was
    acknowledged, None otherwise. Connection errors end the thread quietly
    unless `reconnect` is set (then it retries on the same node)."""

    def __init__(self, node, fn, reconnect=False, limit=None):
        super().__init__(daemon=True)
        self.node, self.fn, self.reconnect, self.limit = node, fn, reconnect, limit
        self.stop_event = threading.Event()
        self.acked = {}   # key -> last acknowledged value
        self.count = 0    # acknowledged writes
        self.ops = 0      # calls of fn that returned
        self.errors = []

    def start(self):
        _writers.append(self)
        super().start()

    def run(self):
        i = 0
        c = None
        while not self.stop_event.is_set() and (self.limit is None or i < self.limit):
            try:
                if c is None:
                    c = self.node.client()
                r = self.fn(c, i)
                if r is not None:
                    self.acked[r[0]] = r[1]
                    self.count += 1
                self.ops += 1
                i += 1
            except (OSError, ConnectionError, TimeoutError) as e:
                self.errors.append(repr(e))
                if c is not None:
                    c.close()
                c = None
                if not self.reconnect:
                    return
                self.stop_event.wait(0.05)
            except Exception as e:  # noqa: BLE001 - surfaced by the test
                self.errors.append(repr(e))
                return
        if c is not None:
            c.close()

    def stop(self, timeout=10.0):
        self.stop_event.set()
        self.join(timeout)
        assert not self.is_alive(), "writer thread did not stop"


def unique_writer(node, tag, size=50, batch=1, pause=0.0):
    """Acknowledged sets of never-overwritten keys tag:<i> (batch pipelined,
    `pause` seconds between batches); a key's flags are the number of the write
    that stored it, so a reader can tell which write it sees."""
    def op(c, i):
        if pause:
            time.sleep(pause)
        keys = ["%s:%d" % (tag, i * batch + j) for j in range(batch)]
        value = (b"%s" % tag.encode()) * (size // len(tag) + 1)
        c.send(b"".join(b"set %s %d 0 %d\r\n%s\r\n" % (k.encode(), i, len(value), value)
                        for k in keys))
        for k in keys:
            assert c.readline() == b"STORED\r\n"
        return keys[-1], value
    w = Writer(node, op)
    w.keys_acked = lambda: ["%s:%d" % (tag, i) for i in range(w.count * batch)]
    return w


def bulk_load(node, n, prefix="bulk", size=100, batch=2000):
    """Stores n items through node with pipelined noreply sets, then waits for
    them (a `mn`-style barrier: one plain command after the batch)."""
    value = (b"v" * size)
    with node.client(timeout=30) as c:
        for start in range(0, n, batch):
            req = b"".join(b"set %s%d 0 0 %d noreply\r\n%s\r\n" % (prefix.encode(), i, size, value)
                           for i in range(start, min(n, start + batch)))
            c.send(req + b"mn\r\n")
            assert c.readline(timeout=30) == b"MN\r\n"


def count_items(node):
    with node.client() as c:
        return int(c.stats()["curr_items"])


def log_has(node, pattern):
    return re.search(pattern, node.log()) is not None
