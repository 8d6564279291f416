"""Peer links secure by default (issue #24, docs/REPLICATION.md "Securing the
links"): a node whose replication port (the -l addresses; none = all
interfaces) or whose peers are not all loopback refuses to start without
--cluster-secret-file unless --insecure-peers is given; the secret file must
be a regular file readable by its owner only, and long enough.

The refusals happen while the options are parsed, before anything binds; the
refused commands run in a network namespace of their own (`unshare --net`,
when available) so that even a node that wrongly started could not reach a
real network. The tests with nodes on non-loopback addresses build a network
namespace (`ip netns add`, a veth pair with 10.200.7.1/24 and 10.200.7.2/24),
run the nodes in it with `ip netns exec` and talk to them from this process
through setns(2); they need root and are skipped with the reason otherwise.
"""

import os
import shutil
import signal
import subprocess
import time

import pytest

import harness
import netns_lab

pytestmark = pytest.mark.syncached_only

SECRET = "s3cr3t-Sh4red-by-th3-cluster-0123456789"
OTHER_SECRET = "an0ther-s3cret-n0t-the-clusters-9876543210"
EX_USAGE = 64  # what every bad option exits with


def secret_file(tmp_path, name, text, mode=0o600):
    path = tmp_path / name
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def node_args(port, rport, peers, listen=harness.HOST, extra=()):
    """A replicated node's command line (node id 1); listen=None: no -l at all."""
    args = ["-l", listen] if listen else []
    args += ["-p", str(port), "-U", "0"]
    if os.geteuid() == 0:
        args += ["-u", "root"]
    args += ["--node-id", "1", "--replication-port", str(rport), "--peers", ",".join(peers),
             "--join-timeout", "1"]
    return args + list(extra)


def run_refused(args):
    """Runs the binary expecting it to refuse its options; returns its one line."""
    argv = [harness.server_bin()] + list(args)
    if os.geteuid() == 0 and shutil.which("unshare"):
        argv = ["unshare", "--net", "--"] + argv
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
                           preexec_fn=harness._die_with_parent)
    except subprocess.TimeoutExpired:
        pytest.fail("started and ran instead of refusing: %r" % argv)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert r.returncode == EX_USAGE, (r.returncode, out)
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith("syncached: "), out
    return lines[0]


# -- refusals without a secret -------------------------------------------------------

LOOPBACK_PEER = "127.0.0.1:%d" % 1


@pytest.mark.time_limit(30)
@pytest.mark.parametrize("listen, peers, why", [
    (None, [LOOPBACK_PEER], "the replication port would listen on all interfaces (no -l given)"),
    ("192.0.2.10", [LOOPBACK_PEER],
     "the replication port would listen on 192.0.2.10 (-l), which is not loopback"),
    ("127.0.0.1,192.0.2.10", [LOOPBACK_PEER],
     "the replication port would listen on 192.0.2.10 (-l), which is not loopback"),
    ("127.0.0.1", [LOOPBACK_PEER, "192.0.2.20:11212"],
     "peer 192.0.2.20:11212 is not a loopback address"),
    ("127.0.0.1", ["peer1.example:11212"], "peer peer1.example:11212 is not a loopback address"),
], ids=["no-l", "l-not-loopback", "one-l-not-loopback", "peer-not-loopback", "peer-hostname"])
def test_replication_beyond_loopback_without_a_secret_is_refused(listen, peers, why):
    line = run_refused(node_args(harness.free_port(), harness.free_port(), peers, listen))
    assert line == (
        "syncached: replication without --cluster-secret-file is limited to loopback "
        "addresses, but " + why + ": generate a secret (head -c 32 /dev/urandom | base64 > "
        "/etc/syncached/secret; chmod 600 /etc/syncached/secret) and give every node "
        "--cluster-secret-file /etc/syncached/secret, or pass --insecure-peers to accept "
        "unauthenticated peers"), line


@pytest.mark.time_limit(30)
def test_a_config_file_without_a_secret_is_refused_too(tmp_path):
    conf = tmp_path / "syncached.conf"
    conf.write_text("node-id = 1\npeers = 192.0.2.20:11212\n")
    line = run_refused(["-l", "127.0.0.1", "-p", str(harness.free_port()), "-U", "0",
                        "--config", str(conf)])
    assert "peer 192.0.2.20:11212 is not a loopback address" in line
    assert "--insecure-peers" in line


@pytest.mark.time_limit(30)
def test_loopback_only_replication_starts_without_a_secret(start_server):
    """localhost and 127.0.0.0/8 peers on a 127.0.0.1 listener: allowed, with the
    unauthenticated warning and `auth none`."""
    srv = start_server("--node-id", "1", "--replication-port", str(harness.free_port()),
                       "--peers", "localhost:%d,127.0.0.2:%d" % (harness.free_port(),
                                                                  harness.free_port()),
                       "--join-timeout", "1")
    with srv.connect() as c:
        assert c.stats("replication")["auth"] == "none"
    assert "unauthenticated" in srv.output()


# -- refusals of the secret file ------------------------------------------------------

def refused_secret(tmp_path, path):
    line = run_refused(node_args(harness.free_port(), harness.free_port(), [LOOPBACK_PEER],
                                 extra=["--cluster-secret-file", path]))
    assert line.startswith("syncached: --cluster-secret-file: "), line
    for s in (SECRET, SECRET[:16]):
        assert s not in line
    return line


@pytest.mark.time_limit(30)
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_secret_file_readable_by_others_is_refused(tmp_path, mode):
    f = secret_file(tmp_path, "secret", SECRET + "\n", mode)
    line = refused_secret(tmp_path, f)
    assert line == (
        "syncached: --cluster-secret-file: '%s' has mode %04o: a secret file must be "
        "readable by its owner only (no group or other permissions); fix: chmod 600 '%s'"
        % (f, mode, f)), line


@pytest.mark.time_limit(30)
@pytest.mark.parametrize("content", ["", "\n"])
def test_empty_secret_is_refused(tmp_path, content):
    f = secret_file(tmp_path, "secret", content)
    assert refused_secret(tmp_path, f) == (
        "syncached: --cluster-secret-file: '%s' is empty; generate a secret: "
        "head -c 32 /dev/urandom | base64 > '%s'" % (f, f))


@pytest.mark.time_limit(30)
def test_short_secret_is_refused(tmp_path):
    f = secret_file(tmp_path, "secret", SECRET[:15] + "\n")  # 15 bytes once trimmed
    assert refused_secret(tmp_path, f) == (
        "syncached: --cluster-secret-file: the secret in '%s' is 15 bytes, at least 16 are "
        "needed; generate one: head -c 32 /dev/urandom | base64 > '%s'" % (f, f))


@pytest.mark.time_limit(30)
def test_directory_or_symlink_to_one_as_secret_file_is_refused(tmp_path):
    d = tmp_path / "secrets"
    d.mkdir(mode=0o700)
    assert refused_secret(tmp_path, str(d)) == (
        "syncached: --cluster-secret-file: '%s' is a directory, not a regular file holding "
        "the secret" % d)
    link = tmp_path / "link"
    link.symlink_to(d)
    assert "'%s' is a symlink to a directory" % link in refused_secret(tmp_path, str(link))


@pytest.mark.time_limit(30)
def test_symlink_to_a_good_secret_file_is_accepted(start_server, tmp_path):
    """Mounted secrets are often symlinks (Kubernetes' ..data): what counts is the file."""
    target = secret_file(tmp_path, "real", SECRET)
    link = tmp_path / "secret"
    link.symlink_to(target)
    srv = start_server("--node-id", "1", "--replication-port", str(harness.free_port()),
                       "--peers", "127.0.0.1:%d" % harness.free_port(), "--join-timeout", "1",
                       "--cluster-secret-file", str(link))
    with srv.connect() as c:
        assert c.stats("replication")["auth"] == "curve"


# -- nodes on non-loopback addresses, in a network namespace -------------------------

NET = "10.200.7"
A, B = NET + ".1", NET + ".2"


class Netns:
    """A network namespace with two addresses (A, B) on a veth pair, nodes run in
    it with `ip netns exec`, and this process's sockets opened in it (setns)."""

    def __init__(self, name, workdir):
        self.name = name
        self.workdir = workdir
        self.nodes = []

    def ip(self, *args):
        r = subprocess.run(["ip", "-n", self.name] + list(args), capture_output=True,
                           timeout=10)
        if r.returncode != 0:
            raise OSError("ip -n %s %s: %s" % (self.name, " ".join(args),
                                               r.stderr.decode().strip()))

    def set_up(self):
        self.ip("link", "set", "lo", "up")
        try:
            self.ip("link", "add", "sc0", "type", "veth", "peer", "name", "sc1")
            links = ("sc0", "sc1")
        except OSError:
            self.ip("link", "add", "sc0", "type", "dummy")
            links = ("sc0", "sc0")
        self.ip("addr", "add", A + "/24", "dev", links[0])
        self.ip("addr", "add", B + "/24", "dev", links[1])
        for link in set(links):
            self.ip("link", "set", link, "up")

    def entered(self):
        """This thread in the namespace (sockets made meanwhile stay in it)."""
        return netns_lab.entered(self.name)

    def client(self, host, port, timeout=harness.IO_TIMEOUT):
        with self.entered():
            return harness.Client(host, port, timeout)

    def node(self, node_id, listen, port, rport, peers, extra):
        n = NsNode(self, node_id, listen, port, rport, peers, extra)
        self.nodes.append(n)
        return n

    def run(self, args):
        return subprocess.run(["ip", "netns", "exec", self.name, harness.server_bin()] + args,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
                              preexec_fn=harness._die_with_parent)

    def stop_all(self):
        problems = []
        for n in self.nodes:
            problem = n.stop()
            if problem:
                problems.append(problem)
        return problems


class NsNode:
    def __init__(self, ns, node_id, listen, port, rport, peers, extra):
        self.ns, self.node_id, self.listen = ns, node_id, listen
        self.port, self.rport = port, rport
        self.argv = node_args(port, rport, peers, listen, extra)
        self.argv[self.argv.index("--node-id") + 1] = str(node_id)
        self.argv += ["-v"]
        self.log_path = os.path.join(ns.workdir, "node%d.log" % node_id)
        self.proc = None

    def start(self):
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns.name, harness.server_bin()] + self.argv,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=harness._die_with_parent)
        return self

    def wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("node %d exited with %s:\n%s"
                                     % (self.node_id, self.proc.returncode, self.log()))
            try:
                self.client(timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("node %d not serving after %.0f s:\n%s"
                             % (self.node_id, timeout, self.log()))

    def client(self, timeout=harness.IO_TIMEOUT):
        return self.ns.client(self.listen or "127.0.0.1", self.port, timeout)

    def repl_stats(self):
        with self.client() as c:
            return c.stats("replication")

    def write(self, prefix, n=20):
        keys = ["%s%d" % (prefix, i) for i in range(n)]
        with self.client() as c:
            for k in keys:
                assert c.set(k, "from-node-%d" % self.node_id) == b"STORED\r\n"
        return keys

    def holds(self, keys):
        """The keys of `keys` this node holds."""
        with self.client() as c:
            return [k for k in keys if c.value(k) is not None]

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return "node %d died during the test (status %s):\n%s" % (
                self.node_id, self.proc.returncode, self.log()[-3000:])
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return "node %d did not exit within 5 s of SIGTERM" % self.node_id
        return None if status == 0 else "node %d exited with %d on SIGTERM:\n%s" % (
            self.node_id, status, self.log()[-3000:])


@pytest.fixture
def netns(tmp_path):
    """A fresh network namespace, deleted (after stopping its nodes) at teardown."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    if not shutil.which("ip"):
        pytest.skip("no ip command (Debian package iproute2)")
    name = "syncached-t%d-%d" % (os.getpid(), time.monotonic_ns() % 1000000)
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, timeout=10)
    if r.returncode != 0:
        pytest.skip("ip netns add failed: %s" % r.stderr.decode().strip())
    ns = Netns(name, str(tmp_path))
    problems = []
    try:
        try:
            ns.set_up()
        except OSError as e:
            pytest.skip("cannot give the namespace addresses: %s" % e)
        yield ns
    finally:
        problems = ns.stop_all()
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
    if problems:
        pytest.fail("\n\n".join(problems))


def wait_until(predicate, timeout, what):
    if not harness.wait_for(predicate, timeout=timeout, interval=0.1):
        raise AssertionError("timed out waiting for " + what)


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("intruder", ["other-secret", "no-secret"])
def test_peer_without_the_clusters_secret_gets_nothing_and_gives_nothing(netns, tmp_path,
                                                                         intruder):
    """Node 1 on A with a secret peers with node 2 (same secret) and with an
    address where an intruder listens (another secret, or none: --insecure-peers,
    listening on all of the namespace's interfaces). The intruder subscribes to
    node 1 too. Nodes 1 and 2 replicate; the intruder's writes are not applied
    on node 1, it obtains no copy of node 1's data, and node 1 counts the
    refused handshakes in auth_failures."""
    good = secret_file(tmp_path, "good", SECRET + "\n")
    victim = netns.node(1, A, 11211, 11212, [B + ":11222", B + ":11232"],
                        ["--cluster-secret-file", good])
    friend = netns.node(2, B, 11221, 11222, [A + ":11212"], ["--cluster-secret-file", good])
    if intruder == "other-secret":
        bad = secret_file(tmp_path, "bad", OTHER_SECRET + "\n")
        thief = netns.node(3, B, 11231, 11232, [A + ":11212"], ["--cluster-secret-file", bad])
    else:
        thief = netns.node(3, None, 11231, 11232, [A + ":11212"], ["--insecure-peers"])
    for n in (victim, friend, thief):
        n.start()
    for n in (victim, friend, thief):
        n.wait_ready()

    victim_keys = victim.write("victim-")
    friend_keys = friend.write("friend-")
    thief_keys = thief.write("thief-")
    # The namespace carries replication: the nodes holding the secret converge.
    wait_until(lambda: len(victim.holds(friend_keys)) == len(friend_keys)
               and len(friend.holds(victim_keys)) == len(victim_keys), 15,
               "nodes 1 and 2 to replicate over %s/%s" % (A, B))
    wait_until(lambda: int(victim.repl_stats()["auth_failures"]) > 0, 15,
               "node 1 to count the intruder's handshakes")
    time.sleep(2.0)  # the intruder keeps retrying meanwhile
    for n in (victim, friend, thief):
        assert n.alive(), n.log()

    assert victim.holds(thief_keys) == [], "the intruder's writes were applied on node 1"
    assert thief.holds(victim_keys + friend_keys) == [], "the intruder obtained a copy"
    vs = victim.repl_stats()
    assert vs["auth"] == "curve"
    assert int(vs["auth_failures"]) > 0
    assert vs["peer:%s:11232:applied" % B] == "0", vs
    assert vs["peer:%s:11232:state" % B] in ("connecting", "refused"), vs
    assert not [k for k in vs if k.startswith("subscriber:3:")], vs
    assert "subscriber:2:mode" in vs, vs
    ts = thief.repl_stats()
    assert ts["auth"] == ("none" if intruder == "no-secret" else "curve")
    assert ts["peer:%s:11212:applied" % A] == "0", ts
    assert ts["peer:%s:11212:state" % A] in ("connecting", "refused"), ts
    assert "refused peer" in victim.log() and "CURVE handshake failed" in victim.log()
    if intruder == "no-secret":
        warnings = [l for l in thief.log().splitlines() if "unauthenticated" in l]
        assert warnings and "WARN" in warnings[0].upper(), thief.log()
    for n in (victim, friend, thief):
        for s in (SECRET, OTHER_SECRET, SECRET[:16], OTHER_SECRET[:16]):
            assert s not in n.log(), "secret bytes in node %d's log" % n.node_id


@pytest.mark.time_limit(60)
def test_non_loopback_node_refuses_without_a_secret_and_starts_with_insecure_peers(
        netns, tmp_path):
    """On a real (namespaced) interface: refused without a secret; --insecure-peers,
    on the command line or in a config file, starts it with the warning and
    `auth none` in stats replication."""
    args = node_args(11241, 11242, [B + ":11222"], A)
    r = netns.run(args)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert r.returncode == EX_USAGE, out
    assert "the replication port would listen on %s (-l), which is not loopback" % A in out
    assert "--insecure-peers" in out

    a = netns.node(1, A, 11241, 11242, [B + ":11222"], ["--insecure-peers"]).start()
    conf = tmp_path / "insecure.conf"
    conf.write_text("# replication inside a private network, knowingly open\ninsecure-peers\n")
    b = netns.node(2, None, 11221, 11222, [A + ":11242"], ["--config", str(conf)]).start()
    a.wait_ready()
    b.wait_ready()
    for n in (a, b):
        st = n.repl_stats()
        assert st["auth"] == "none", st
        lines = [l for l in n.log().splitlines() if "unauthenticated" in l]
        assert lines and "WARN" in lines[0].upper(), n.log()
    keys = a.write("open-")
    wait_until(lambda: len(b.holds(keys)) == len(keys), 15, "replication without a secret")
