"""--sync-replicas K (DESIGN.md section 5): a write is answered only once K
peers applied it, so it survives SIGKILL of the node that took it; a wait
longer than --sync-timeout is answered anyway (or the connection closed, with
--sync-timeout-mode close) and counted."""

import signal
import socket
import struct
import time

import pytest

from cluster import Writer, make_cluster, wait_converged  # noqa: F401 (fixture)

pytestmark = pytest.mark.syncached_only


def sync_writer(node, tag):
    def op(c, i):
        key = "%s:%d" % (tag, i)
        assert c.call(b"set %s 0 0 2\r\nok\r\n" % key.encode()) == b"STORED\r\n"
        return key, i
    return Writer(node, op)


@pytest.mark.time_limit(60)
def test_write_acknowledged_with_sync_replicas_survives_sigkill_of_its_node(make_cluster):
    nodes = make_cluster(3, extra=["--sync-replicas", "1", "--sync-timeout", "10000"])
    a, b, c = nodes
    w = sync_writer(a, "s")
    w.start()
    deadline = time.monotonic() + 10
    while w.count < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # stats render every 250 ms
    st = a.repl_stats()
    # Most writes wait; one whose ack beat the worker's check (a descheduled worker) need not.
    assert int(st["sync_waits"]) >= 100 and st["sync_timeouts"] == "0", st
    a.kill(signal.SIGKILL)
    w.join(5)
    acked = list(w.acked)
    assert len(acked) >= 300
    # Every acknowledged write is on b or c (a write may have reached only one of
    # them: each node streams only what it originated, and its origin is dead).
    held = set(b.values(acked)) | set(c.values(acked))
    lost = [k for k in acked if k not in held]
    assert not lost, "%d writes acknowledged with --sync-replicas 1 lost: %s" % (
        len(lost), lost[:5])
    # a comes back empty: it takes b's and c's stores, then gives each of them its
    # own writes the other had (a delta copy), so all three converge.
    a.start()
    snap = wait_converged(nodes, timeout=20)
    assert not [k for k in acked if k not in snap]
    assert b.repl_stats()["sync_replicas"] == "1"


@pytest.mark.time_limit(60)
def test_sync_timeout_answers_anyway_and_counts(make_cluster):
    nodes = make_cluster(2, extra=["--sync-replicas", "1", "--sync-timeout", "300"])
    a, b = nodes
    with a.client() as cl:
        assert cl.call(b"set warm 0 0 1\r\nw\r\n") == b"STORED\r\n"
        b.pause()
        time.sleep(0.05)  # SIGSTOP lands on every thread of b
        try:
            start = time.monotonic()
            assert cl.call(b"set slow 0 0 1\r\ns\r\n", timeout=5) == b"STORED\r\n"
            waited = time.monotonic() - start
        finally:
            b.resume()
        assert 0.25 <= waited < 2.0, waited
        assert cl.call(b"get slow\r\n", b"END\r\n") == b"VALUE slow 0 1\r\ns\r\nEND\r\n"
    time.sleep(0.3)
    st = a.repl_stats()
    # "warm" counts as a wait only if its ack had not come back before the worker looked:
    # on a loaded machine the worker can be descheduled for that long, so only "slow" is sure.
    assert int(st["sync_timeouts"]) >= 1 and int(st["sync_waits"]) >= 1, st
    wait_converged(nodes, timeout=10)


@pytest.mark.time_limit(60)
def test_sync_timeout_mode_close_drops_the_connection(make_cluster):
    nodes = make_cluster(2, extra=["--sync-replicas", "1", "--sync-timeout", "200",
                                   "--sync-timeout-mode", "close"])
    a, b = nodes
    b.pause()
    time.sleep(0.05)
    try:
        with a.client() as cl:
            cl.send(b"set x 0 0 1\r\nx\r\n")
            assert cl.is_closed(timeout=5)
    finally:
        b.resume()
    with a.client() as cl:  # reads never wait
        assert cl.call(b"get x\r\n", b"END\r\n") == b"VALUE x 0 1\r\nx\r\nEND\r\n"


@pytest.mark.parametrize("k", ["1", "every"])  # more than the peers; not a number
def test_sync_replicas_needs_enough_peers_and_a_number(make_cluster, k):
    node = make_cluster(1, extra=["--sync-replicas", k], start=False)[0]
    node.start(wait=False)
    node.proc.wait(10)
    node.expected_exit = True
    assert node.proc.returncode != 0
    assert "--sync-replicas" in node.log()


# -- the wait holds one connection, not its worker ------------------------------------
# With -t 1 every connection shares the worker: a held reply must not stall the others.

def held_state_count(node):
    """How many client connections `stats conns` shows parked waiting for the peers."""
    with node.client() as c:
        st = c.stats("conns")
    return sum(1 for k, v in st.items() if k.endswith(":state") and v == "conn_io_queue")


@pytest.mark.time_limit(60)
def test_waiting_write_does_not_stall_other_connections_on_its_worker(make_cluster):
    nodes = make_cluster(2, extra=["-t", "1", "--sync-replicas", "1", "--sync-timeout", "2000"])
    a, b = nodes
    with a.client() as writer, a.client() as reader:
        assert writer.call(b"set warm 0 0 1\r\nw\r\n") == b"STORED\r\n"
        b.pause()
        time.sleep(0.05)  # SIGSTOP lands on every thread of b
        try:
            start = time.monotonic()
            writer.send(b"set held 0 0 1\r\nh\r\n")
            time.sleep(0.1)
            # Same worker, other connection: answered at once. Reads never wait, and see
            # the held write (it is applied locally; only its reply waits).
            assert reader.call(b"version\r\n", timeout=1).startswith(b"VERSION ")
            assert reader.call(b"get held\r\n", b"END\r\n", timeout=1) == \
                b"VALUE held 0 1\r\nh\r\nEND\r\n"
            assert time.monotonic() - start < 1.0
            assert held_state_count(a) == 1
            assert writer.read_available(0.2) == b""  # still held
            assert writer.readline(timeout=5) == b"STORED\r\n"  # at the timeout (ack mode)
            waited = time.monotonic() - start
        finally:
            b.resume()
    assert 1.8 <= waited < 4.0, waited
    time.sleep(0.3)  # stats render every 250 ms
    st = a.repl_stats()
    assert int(st["sync_timeouts"]) == 1 and int(st["sync_waits"]) >= 1, st  # "warm": see above
    assert int(st["sync_wait_us"]) >= 1800000, st
    wait_converged(nodes, timeout=10)


@pytest.mark.time_limit(60)
def test_pipelined_sets_on_a_held_connection_are_answered_in_order_once_acked(make_cluster):
    nodes = make_cluster(2, extra=["-t", "1", "--sync-replicas", "1", "--sync-timeout", "20000"])
    a, b = nodes
    with a.client() as cl, a.client() as other:
        assert cl.call(b"set warm 0 0 1\r\nw\r\n") == b"STORED\r\n"
        b.pause()
        time.sleep(0.05)
        try:
            cl.send(b"set p1 0 0 2\r\nv1\r\n")
            time.sleep(0.1)
            # Arrives while the connection is held: not processed until it is released.
            cl.send(b"set p2 0 0 2\r\nv2\r\nset p3 0 0 2\r\nv3\r\ndelete p1\r\nget p1 p2 p3\r\n")
            time.sleep(0.2)
            assert cl.read_available(0.1) == b""
            assert other.call(b"get p2\r\n", b"END\r\n", timeout=1) == b"END\r\n"
        finally:
            b.resume()
        start = time.monotonic()
        expect = (b"STORED\r\nSTORED\r\nSTORED\r\nDELETED\r\n"
                  b"VALUE p2 0 2\r\nv2\r\nVALUE p3 0 2\r\nv3\r\nEND\r\n")
        assert cl.read_until(b"END\r\n", timeout=10) == expect
        assert time.monotonic() - start < 5.0  # the acknowledgement, not the 20 s timeout
    time.sleep(0.3)
    st = a.repl_stats()
    # p1 waited for certain (b was paused); p2, p3 and the delete may find their ack already
    # in when the worker checks, so they need not count as waits.
    assert st["sync_timeouts"] == "0" and int(st["sync_waits"]) >= 1, {
        k: st[k] for k in ("sync_waits", "sync_timeouts")}
    assert held_state_count(a) == 0
    wait_converged(nodes, timeout=10)


@pytest.mark.time_limit(60)
def test_sync_timeout_mode_close_closes_only_the_waiting_connection(make_cluster):
    nodes = make_cluster(2, extra=["-t", "1", "--sync-replicas", "1", "--sync-timeout", "1500",
                                   "--sync-timeout-mode", "close"])
    a, b = nodes
    with a.client() as idle, a.client() as reader:
        assert idle.call(b"set warm 0 0 1\r\nw\r\n") == b"STORED\r\n"
        b.pause()
        time.sleep(0.05)
        try:
            with a.client() as writer:
                start = time.monotonic()
                writer.send(b"set x 0 0 1\r\nx\r\nget x\r\n")
                time.sleep(0.05)
                assert reader.call(b"get warm\r\n", b"END\r\n", timeout=0.5) == \
                    b"VALUE warm 0 1\r\nw\r\nEND\r\n"
                assert time.monotonic() - start < 0.7
                assert writer.is_closed(timeout=5)
                assert time.monotonic() - start >= 1.4
                assert writer.buf == b""  # closed unanswered
            # The others on the same worker are untouched.
            assert reader.call(b"version\r\n", timeout=1).startswith(b"VERSION ")
            assert idle.call(b"get x\r\n", b"END\r\n", timeout=1) == b"VALUE x 0 1\r\nx\r\nEND\r\n"
        finally:
            b.resume()
        assert idle.call(b"set y 0 0 1\r\ny\r\n", timeout=5) == b"STORED\r\n"
    time.sleep(0.3)
    st = a.repl_stats()
    assert int(st["sync_timeouts"]) == 1, st


def connections(node):
    with node.client() as c:
        return int(c.stats()["curr_connections"])


@pytest.mark.time_limit(60)
def test_client_gone_while_held_is_cleaned_up_and_the_node_keeps_serving(make_cluster):
    nodes = make_cluster(2, extra=["-t", "1", "--sync-replicas", "1", "--sync-timeout", "1500"])
    a, b = nodes
    with a.client() as cl:
        assert cl.call(b"set warm 0 0 1\r\nw\r\n") == b"STORED\r\n"
    baseline = connections(a)
    b.pause()
    time.sleep(0.05)
    try:
        # One closes politely (FIN: noticed when its hold ends), one resets (RST: at once).
        polite, rude = a.client(), a.client()
        polite.send(b"set gone1 0 0 1\r\n1\r\n")
        rude.send(b"set gone2 0 0 1\r\n2\r\n")
        time.sleep(0.1)
        assert held_state_count(a) == 2
        polite.close()
        rude.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        rude.close()
        with a.client() as other:
            assert other.call(b"get gone1 gone2\r\n", b"END\r\n", timeout=1) == \
                b"VALUE gone1 0 1\r\n1\r\nVALUE gone2 0 1\r\n2\r\nEND\r\n"
    finally:
        b.resume()
    deadline = time.monotonic() + 10
    while connections(a) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert connections(a) == baseline
    with a.client() as cl:
        assert cl.call(b"set after 0 0 1\r\na\r\n", timeout=5) == b"STORED\r\n"
    wait_converged(nodes, timeout=10)
    assert a.alive()


@pytest.mark.time_limit(60)
def test_sigterm_while_a_reply_is_held_exits_promptly(make_cluster):
    nodes = make_cluster(2, extra=["--sync-replicas", "1", "--sync-timeout", "30000"])
    a, b = nodes
    with a.client() as cl:
        assert cl.call(b"set warm 0 0 1\r\nw\r\n") == b"STORED\r\n"
        b.pause()
        time.sleep(0.05)
        try:
            cl.send(b"set late 0 0 1\r\nl\r\n")
            time.sleep(0.1)
            start = time.monotonic()
            a.expected_exit = True
            a.proc.send_signal(signal.SIGTERM)
            assert a.proc.wait(10) == 0
            # The drain gives a held reply a short grace (not its 30 s), then ends the
            # hold as a timeout would: ack mode answers it.
            assert time.monotonic() - start < 5.0
            assert cl.readline(timeout=1) == b"STORED\r\n"
        finally:
            b.resume()


@pytest.mark.time_limit(90)
def test_sync_replicas_all_waits_for_every_follower_but_not_a_killed_one(make_cluster):
    """`--sync-replicas all`: an acknowledged write is already on every other node
    (where a client failing over reads it); a SIGKILLed node stops counting at once
    (its connection closes), so writes go on without waiting for it; with no peer
    left the write waits for one, as K=1 does."""
    nodes = make_cluster(3, extra=["--sync-replicas", "all", "--sync-timeout", "1500"])
    a, b, c = nodes
    assert a.repl_stats()["sync_replicas"] == "all"
    with a.client() as wa, b.client() as rb, c.client() as rc:
        for i in range(300):
            key = b"all:%d" % i
            assert wa.call(b"set %s 0 0 1\r\nv\r\n" % key) == b"STORED\r\n"
            for reader in (rb, rc):  # read at once: no wait for replication
                assert reader.call(b"get %s\r\n" % key, b"END\r\n") == (
                    b"VALUE %s 0 1\r\nv\r\nEND\r\n" % key), (i, reader)
        c.kill(signal.SIGKILL)
        slowest = 0.0
        for i in range(100):
            key = b"one-down:%d" % i
            start = time.monotonic()
            assert wa.call(b"set %s 0 0 1\r\nv\r\n" % key, timeout=5) == b"STORED\r\n"
            slowest = max(slowest, time.monotonic() - start)
            assert rb.call(b"get %s\r\n" % key, b"END\r\n") == (
                b"VALUE %s 0 1\r\nv\r\nEND\r\n" % key), i
        # Far below --sync-timeout: the closed connection is noticed in milliseconds
        # (a PING every 300 ms would notice it too, but later).
        assert slowest < 0.5, slowest
        time.sleep(0.3)
        assert a.repl_stats()["sync_timeouts"] == "0", a.repl_stats()
        b.kill(signal.SIGKILL)
        time.sleep(0.2)
        start = time.monotonic()
        assert wa.call(b"set alone 0 0 1\r\nv\r\n", timeout=5) == b"STORED\r\n"
        assert time.monotonic() - start >= 1.3  # no follower: waits for one, then answers
    time.sleep(0.3)
    assert a.repl_stats()["sync_timeouts"] == "1", a.repl_stats()
    b.start()
    c.start()
    wait_converged(nodes, timeout=20)

