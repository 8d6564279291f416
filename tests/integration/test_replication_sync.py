"""--sync-replicas K (DESIGN.md section 5): a write is answered only once K
peers applied it, so it survives SIGKILL of the node that took it; a wait
longer than --sync-timeout is answered anyway (or the connection closed, with
--sync-timeout-mode close) and counted."""

import signal
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
    assert int(st["sync_waits"]) >= 200 and st["sync_timeouts"] == "0", st
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
    assert int(st["sync_timeouts"]) >= 1 and int(st["sync_waits"]) >= 2, st
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


def test_sync_replicas_needs_enough_peers(make_cluster):
    node = make_cluster(1, extra=["--sync-replicas", "1"], start=False)[0]
    node.start(wait=False)
    node.proc.wait(10)
    node.expected_exit = True
    assert node.proc.returncode != 0
    assert "--sync-replicas" in node.log()
