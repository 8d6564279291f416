"""The sync lane (docs/REPLICATION.md "The sync lane"): with --sync-replicas,
a node sends the changes a reply waits for to its peers' client ports itself,
sealed, and releases the reply when enough peers answered, or when the ZeroMQ
stream acknowledged them, whichever comes first. What a user relies on: every
acknowledged write is on the peers it waited for; the stream's second copy of a
change is not a conflict; bytes from anyone else are refused without harm; a
peer that stops answering costs no more than it did without the lane."""

import os
import signal
import socket
import struct
import time

import pytest

import harness
from cluster import make_cluster, wait_converged  # noqa: F401 (fixture)

pytestmark = pytest.mark.syncached_only

HELLO = b"syncached_lane\r\n"


def recv_exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def lane_stats(node):
    st = node.repl_stats()
    return {k: int(v) for k, v in st.items() if k.startswith("lane_") or k == "conflicts"}


def wait_lane_peers(writer, peers, timeout=10):
    """Until a write on `writer` went over the lane to each of `peers`."""
    deadline = time.monotonic() + timeout
    i = 0
    with writer.client() as c:
        while time.monotonic() < deadline:
            assert c.call(b"set lanewarm%d 0 0 1\r\nw\r\n" % i) == b"STORED\r\n"
            i += 1
            time.sleep(0.3)  # stats render every 250 ms
            if all(lane_stats(p).get("lane_applied", 0) > 0 for p in peers):
                return
    raise AssertionError("no lane frame reached %r" % (peers,))


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("secret", [False, True])
def test_acknowledged_writes_are_on_every_peer_and_applied_once(make_cluster, tmp_path, secret):
    extra = ["--sync-replicas", "all", "--sync-timeout", "10000"]
    if secret:
        path = tmp_path / "secret"
        path.write_text("a cluster secret for the sync lane test\n")
        os.chmod(path, 0o600)
        extra += ["--cluster-secret-file", str(path)]
    nodes = make_cluster(3, extra=extra)
    a, b, c = nodes
    wait_lane_peers(a, [b, c])
    before = {n.port: lane_stats(n) for n in nodes}
    with a.client() as wa, b.client() as rb, c.client() as rc:
        for i in range(200):
            key = b"lane:%d" % i
            value = b"v%d" % i
            assert wa.call(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value)) == b"STORED\r\n"
            want = b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key, len(value), value)
            # Acknowledged with `all`: both peers hold it the moment the reply came.
            assert rb.call(b"get %s\r\n" % key, b"END\r\n") == want, i
            assert rc.call(b"get %s\r\n" % key, b"END\r\n") == want, i
    time.sleep(0.6)
    after = {n.port: lane_stats(n) for n in nodes}
    sent = after[a.port]["lane_sent"] - before[a.port]["lane_sent"]
    answered = after[a.port]["lane_settled"] - before[a.port]["lane_settled"]
    assert sent >= 150 and answered >= 150, (before, after)  # most went over the lane
    for n in (b, c):
        assert after[n.port]["lane_applied"] - before[n.port]["lane_applied"] >= 150, after
        assert after[n.port]["lane_refused"] == 0, after
        # Each change came twice (lane, then stream) and was applied once: the second
        # copy, the very same version, is not a conflict.
        assert after[n.port]["conflicts"] == 0, after
    wait_converged(nodes, timeout=20)


@pytest.mark.time_limit(60)
def test_a_turn_of_large_values_is_acknowledged_on_every_peer(make_cluster):
    """One pipelined write of many large values: a frame near the lane's 1 MiB
    limit, and a turn past it (left to the stream). Either way every value is
    on both peers once acknowledged."""
    nodes = make_cluster(3, extra=["--sync-replicas", "all", "--sync-timeout", "10000"])
    a, b, c = nodes
    wait_lane_peers(a, [b, c])
    for count, size in ((60, 15000), (40, 60000)):  # ~0.9 MB, then ~2.4 MB in one go
        applied = lane_stats(b)["lane_applied"]
        tag = b"big%d" % size
        value = os.urandom(size // 2).hex().encode()
        with a.client() as wa:
            wa.send(b"".join(b"set %s:%d 0 0 %d\r\n%s\r\n" % (tag, i, size, value)
                                     for i in range(count)))
            for i in range(count):
                assert wa.readline(timeout=15) == b"STORED\r\n", i
        for node in (b, c):
            with node.client() as r:
                for i in range(count):
                    got = r.call(b"get %s:%d\r\n" % (tag, i), b"END\r\n")
                    assert got == b"VALUE %s:%d 0 %d\r\n%s\r\nEND\r\n" % (
                        tag, i, size, value), (node, size, i)
        if size == 15000:  # frames of up to -R 20 such sets (300 KB) went over the lane
            time.sleep(0.3)
            assert lane_stats(b)["lane_applied"] > applied
    assert lane_stats(b)["lane_refused"] == 0


@pytest.mark.time_limit(60)
def test_lane_bytes_from_anyone_else_are_refused_and_bad_framing_closes(make_cluster):
    a, b = make_cluster(2, extra=["--sync-replicas", "1"])
    with socket.create_connection((harness.HOST, a.port), timeout=5) as s:
        # A frame nobody sealed with this cluster's key: refused, nothing applied.
        junk = b"S\x01\x03" + os.urandom(120)
        s.sendall(HELLO + struct.pack("<I", len(junk)) + junk)
        reply = recv_exactly(s, 17)
        assert reply == b"R" + b"\0" * 16
        # A length of zero (or beyond the largest frame) is not a lane: closed.
        s.sendall(struct.pack("<I", 0))
        assert s.recv(100) == b""
    with socket.create_connection((harness.HOST, a.port), timeout=5) as s:
        s.sendall(HELLO + struct.pack("<I", 64 << 20))
        assert s.recv(100) == b""
    with a.client() as c:
        assert c.call(b"set after 0 0 1\r\nx\r\n") == b"STORED\r\n"
        assert c.call(b"get after\r\n", b"END\r\n") == b"VALUE after 0 1\r\nx\r\nEND\r\n"
    time.sleep(0.3)
    assert lane_stats(a)["lane_refused"] >= 1


@pytest.mark.time_limit(60)
def test_a_single_node_answers_the_lane_hello_as_memcached_would(start_server):
    node = start_server()
    with socket.create_connection((harness.HOST, node.port), timeout=5) as s:
        s.sendall(HELLO)
        assert recv_exactly(s, 7) == b"ERROR\r\n"


@pytest.mark.time_limit(60)
def test_a_peer_that_stops_answering_costs_no_more_than_without_the_lane(make_cluster):
    """--sync-replicas 1 on 3 nodes: with c paused, b's answers release every write
    at once; after c resumes the three converge (the stream brings c what it
    missed, whatever the lane had queued for it)."""
    nodes = make_cluster(3, extra=["--sync-replicas", "1", "--sync-timeout", "5000"])
    a, b, c = nodes
    wait_lane_peers(a, [b, c])
    c.pause()
    try:
        with a.client() as wa:
            slowest = 0.0
            for i in range(300):
                t = time.monotonic()
                assert wa.call(b"set paused:%d 0 0 1\r\nx\r\n" % i) == b"STORED\r\n"
                slowest = max(slowest, time.monotonic() - t)
        # Each write waited for b only (c's lane connection just fills its socket).
        assert slowest < 1.0, slowest
    finally:
        c.resume()
    wait_converged(nodes, timeout=20)
    assert a.repl_stats()["sync_timeouts"] == "0"


@pytest.mark.time_limit(60)
def test_killed_peer_is_not_waited_for_past_the_stream_and_comes_back(make_cluster):
    """--sync-replicas all: a SIGKILLed peer's lane connection fails at once; writes
    go on being acknowledged by the others (the stream sees the peer gone), and
    the peer, restarted, catches up."""
    nodes = make_cluster(3, extra=["--sync-replicas", "all", "--sync-timeout", "10000"])
    a, b, c = nodes
    wait_lane_peers(a, [b, c])
    c.kill(signal.SIGKILL)
    with a.client() as wa:
        t = time.monotonic()
        for i in range(100):
            assert wa.call(b"set gone:%d 0 0 1\r\nx\r\n" % i, timeout=15) == b"STORED\r\n"
        assert time.monotonic() - t < 8.0
    c.start()
    wait_converged(nodes, timeout=30)
