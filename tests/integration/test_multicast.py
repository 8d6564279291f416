"""Multicast of the change stream (issue 23, docs/REPLICATION.md "Multicast"):
three nodes, one network namespace each, joined by veth pairs on a bridge in a
namespace of its own (netns_lab.py; never a real interface). The stream goes
to an epgm group sealed with the cluster secret; TCP carries the handshake,
acks, catch-ups and what a node asks for again. Loss and blackouts are made
with nftables rules in a receiver's namespace. Skipped with the reason where
namespaces cannot be made (not root, no iproute2)."""

import os
import shutil
import time

import pytest

import harness
from netns_lab import Lab

pytestmark = pytest.mark.syncached_only

SECRET = "mult1cast-s3cret-of-the-cluster-0123456789"
OTHER = "an0ther-s3cret-n0t-the-clusters-9876543210"
GROUP = "239.193.7.7:5599"
PORT, RPORT = 11211, 11212


def secret_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text + "\n")
    os.chmod(path, 0o600)
    return str(path)


def start_node(lab, host, secret, tmp_path, extra=()):
    peers = ",".join("%s:%d" % (h.addr, RPORT) for h in lab.hosts if h is not host)
    argv = [harness.server_bin(), "-l", host.addr, "-p", str(PORT), "-U", "0", "-u", "root",
            "--node-id", str(host.index), "--replication-port", str(RPORT), "--peers", peers,
            "--join-timeout", "1", "--cluster-secret-file", secret,
            "--multicast", "epgm://%s;%s" % (host.addr, GROUP), "-v"] + list(extra)
    host.log = str(tmp_path / ("node%d.log" % host.index))
    host.proc = host.spawn(argv, host.log)


def log_of(host):
    with open(host.log, "rb") as f:
        return f.read().decode("utf-8", "replace")[-4000:]


def wait_serving(lab, host):
    def up():
        assert host.proc.poll() is None, "node %d exited:\n%s" % (host.index, log_of(host))
        try:
            host.client(PORT, timeout=0.5).close()
            return True
        except OSError:
            return False
    lab.wait(up, 20, "node %d to serve" % host.index)


def repl(host):
    with host.client(PORT) as c:
        return c.stats("replication")


def peer_stat(st, peer, field):
    return st.get("peer:%s:%d:%s" % (peer.addr, RPORT, field))


def all_on_multicast(lab, hosts):
    for h in hosts:
        st = repl(h)
        for p in hosts:
            if p is not h and peer_stat(st, p, "multicast") != "on":
                return False
    return True


def write(host, prefix, n, size=200):
    value = b"m" * size
    with host.client(PORT, timeout=30) as c:
        for start in range(0, n, 500):
            c.send(b"".join(b"set %s%d 0 0 %d noreply\r\n%s\r\n" % (prefix.encode(), i, size, value)
                            for i in range(start, min(n, start + 500))) + b"mn\r\n")
            assert c.readline(timeout=30) == b"MN\r\n"
    return ["%s%d" % (prefix, i) for i in range(n)]


def missing(host, keys):
    with host.client(PORT, timeout=30) as c:
        out = []
        for start in range(0, len(keys), 100):
            batch = keys[start:start + 100]
            got = {line.split()[1].decode() for line in c.get(*batch).split(b"\r\n")
                   if line.startswith(b"VALUE ")}
            out += [k for k in batch if k not in got]
        return out


def tcp_bytes(st):
    return sum(int(v) for k, v in st.items()
               if k.startswith("subscriber:") and k.endswith(":bytes_sent"))


def start_cluster(lab, tmp_path):
    """Every host's node, with the cluster's secret, serving, every link on the group."""
    secret = secret_file(tmp_path, "secret", SECRET)
    for h in lab.hosts:
        start_node(lab, h, secret, tmp_path)
    for h in lab.hosts:
        wait_serving(lab, h)
    lab.wait(lambda: all_on_multicast(lab, lab.hosts), 20, "every link on multicast")


@pytest.fixture
def lab():
    if not shutil.which("nft"):
        pytest.skip("no nft command (Debian package nftables)")
    with Lab.make(3) as lab:
        yield lab


@pytest.mark.time_limit(90)
def test_stream_goes_by_multicast_and_tcp_carries_none_of_it(lab, tmp_path):
    start_cluster(lab, tmp_path)
    n1 = lab.hosts[0]
    before = repl(n1)
    keys = write(n1, "k", 3000)
    for h in lab.hosts[1:]:
        lab.wait(lambda: not missing(h, keys[-1:]), 20, "the last key on node %d" % h.index)
        assert not missing(h, keys), "node %d lacks keys" % h.index
    time.sleep(0.5)
    after = repl(n1)
    sent_mcast = int(after["multicast_bytes_sent"]) - int(before["multicast_bytes_sent"])
    sent_tcp = tcp_bytes(after) - tcp_bytes(before)
    assert sent_mcast > 3000 * 200, after
    # TCP: PINGs and the like only (the stream itself would be 2 x 600 KB).
    assert sent_tcp < sent_mcast // 20, (sent_tcp, sent_mcast)
    # Nodes 2 and 3 wrote nothing, heard everything of node 1 on the group.
    for h in lab.hosts[1:]:
        st = repl(h)
        assert int(peer_stat(st, n1, "multicast_received")) > 0, st
        assert peer_stat(st, n1, "multicast_fallbacks") == "0", st


@pytest.mark.time_limit(120)
def test_loss_and_a_blackout_on_one_receiver_are_repaired(lab, tmp_path):
    start_cluster(lab, tmp_path)
    n1, n3 = lab.hosts[0], lab.hosts[2]
    # A fifth of the UDP datagrams reaching node 3 are dropped (PGM's own repairs and
    # ours over TCP must make up for them).
    n3.nft("table inet loss {\n chain in {\n type filter hook input priority 0;\n"
           " meta l4proto udp numgen random mod 5 0 drop\n }\n}\n")
    keys = write(n1, "lossy", 3000)
    lab.wait(lambda: not missing(n3, keys), 30, "node 3 to hold every key despite loss")
    # A blackout longer than PGM's window and than the group's silence limit (3 s):
    # node 3 streams over TCP meanwhile.
    n3.nft("flush ruleset")
    n3.nft("table inet dark {\n chain in {\n type filter hook input priority 0;\n"
           " meta l4proto udp drop\n }\n}\n")
    dark = write(n1, "dark", 1000)
    time.sleep(4.0)
    dark += write(n1, "dark2-", 1000)
    n3.nft("flush ruleset")
    lab.wait(lambda: not missing(n3, dark), 30, "node 3 to hold what was written in the dark")
    assert not missing(lab.hosts[1], keys + dark)
    st = repl(n3)
    repaired = int(peer_stat(st, n1, "multicast_repairs"))
    fallbacks = int(peer_stat(st, n1, "multicast_fallbacks"))
    assert repaired + fallbacks > 0, st
    assert fallbacks >= 1, st


@pytest.mark.time_limit(90)
def test_a_node_without_the_secret_neither_reads_nor_injects(lab, tmp_path):
    good = secret_file(tmp_path, "good", SECRET)
    bad = secret_file(tmp_path, "bad", OTHER)
    n1, n2, n3 = lab.hosts
    start_node(lab, n1, good, tmp_path)
    start_node(lab, n2, good, tmp_path)
    start_node(lab, n3, bad, tmp_path)  # same group, same cluster name, another secret
    for h in lab.hosts:
        wait_serving(lab, h)
    lab.wait(lambda: all_on_multicast(lab, [n1, n2]), 20, "nodes 1 and 2 on multicast")
    keys = write(n1, "secret-", 500)
    lab.wait(lambda: not missing(n2, keys), 20, "node 2 to hold node 1's keys")
    forged = write(n3, "forged-", 500)
    time.sleep(1.5)
    assert missing(n3, keys) == keys, "the node without the secret read the stream"
    for h in (n1, n2):
        assert missing(h, forged) == forged, "node %d applied the intruder's writes" % h.index
        st = repl(h)
        # Its frames name a node and run no link follows: looked at, never opened.
        assert int(st["multicast_ignored"]) > 0, st


@pytest.mark.parametrize("args,why", [
    (["--multicast", "udp://10.0.0.1:5555"], "expected epgm://"),
    (["--multicast", "epgm://10.0.0.1;239.1.1.1"], "expected epgm://"),
    (["-l", "127.0.0.1", "--peers", "127.0.0.1:1", "--node-id", "1",
      "--multicast", "epgm://127.0.0.1;239.1.1.1:5555"], "needs --cluster-secret-file"),
    (["--multicast", "epgm://127.0.0.1;239.1.1.1:5555"], "needs --peers"),
])
def test_refused_settings_say_why(args, why):
    """Without namespaces: what --multicast cannot do is refused at start, with the
    reason (the sealed frames need the secret; a group needs peers)."""
    r = harness.run_binary(["-p", "0", "-U", "0"] + args)
    assert r.returncode != 0
    assert why in (r.stdout + r.stderr).decode(), r
