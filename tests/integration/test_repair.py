"""Anti-entropy (docs/REPAIR.md, issue 20): a node that missed changes the stream
carried (the test-only hook SYNCACHED_TEST_DROP_PREFIX makes it drop peers' changes
to some keys) gets them from the next digest comparison, deletes included; replicas
in sync exchange only roots; evictions are not fetched back."""

import time

import pytest

from cluster import make_cluster, wait_converged  # noqa: F401 (fixture)

pytestmark = pytest.mark.syncached_only

REPAIR = ["--repair-interval", "1"]


def repair_stats(node):
    return {k[len("repair_"):]: int(v) for k, v in node.repl_stats().items()
            if k.startswith("repair_")}


def wait_for(what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        got = what()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def set_keys(node, keys, value=b"v"):
    with node.client() as c:
        for k in keys:
            assert c.call(b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(value), value)) == \
                b"STORED\r\n"


@pytest.mark.time_limit(90)
def test_missed_writes_are_repaired(make_cluster):
    nodes = make_cluster(3, REPAIR, start=False)
    nodes[2].env["SYNCACHED_TEST_DROP_PREFIX"] = "lost:"
    nodes.start()
    lost = ["lost:%d" % i for i in range(500)]
    kept = ["kept:%d" % i for i in range(500)]
    set_keys(nodes[0], lost + kept)
    assert wait_for(lambda: repair_stats(nodes[2]).get("test_dropped", 0) >= 500)
    # The stream alone left node 3 without them; the comparisons (every second) bring
    # them, whatever node 3 had applied when they ran.
    assert wait_for(lambda: len(nodes[2].values(lost)) == len(lost)), \
        "node 3 still lacks %d keys; %r" % (len(lost) - len(nodes[2].values(lost)),
                                            repair_stats(nodes[2]))
    held = nodes[2].values(lost + kept)
    assert all(v[0] == b"v" for v in held.values())
    assert wait_for(lambda: repair_stats(nodes[2])["keys_applied"] >= len(lost)), \
        repair_stats(nodes[2])
    assert repair_stats(nodes[2])["runs_failed"] == 0
    wait_converged(nodes, timeout=20)


@pytest.mark.time_limit(90)
def test_missed_delete_is_repaired(make_cluster):
    nodes = make_cluster(2, REPAIR, start=False)
    nodes[1].env["SYNCACHED_TEST_DROP_PREFIX"] = "del:"
    nodes.start()
    # Node 2 takes the write from its own client, then misses node 1's delete.
    set_keys(nodes[1], ["del:x"])
    assert wait_for(lambda: "del:x" in nodes[0].values(["del:x"]))
    assert "del:x" in nodes[1].values(["del:x"])  # its own write
    with nodes[0].client() as c:
        assert c.call(b"delete del:x\r\n") == b"DELETED\r\n"
    assert wait_for(lambda: "del:x" not in nodes[1].values(["del:x"])), repair_stats(nodes[1])
    # (stats are rendered a moment after the change they count)
    assert wait_for(lambda: repair_stats(nodes[1])["keys_applied"] >= 1), repair_stats(nodes[1])


@pytest.mark.time_limit(90)
def test_replicas_in_sync_exchange_only_roots(make_cluster):
    nodes = make_cluster(2, REPAIR)
    set_keys(nodes[0], ["k:%d" % i for i in range(20000)])
    wait_converged(nodes, timeout=30)
    # Let one round run on converged data, then measure a few more.
    time.sleep(2.5)
    before = [repair_stats(n) for n in nodes]
    time.sleep(4)
    after = [repair_stats(n) for n in nodes]
    for b, a in zip(before, after):
        runs = a["runs"] - b["runs"]
        assert runs >= 4, (b, a)  # each node began some and answered some
        # A run is counted when it begins and in sync when it ends: one may straddle
        # each snapshot. None found a differing bucket.
        assert abs(a["runs_in_sync"] - b["runs_in_sync"] - runs) <= 1, (b, a)
        assert a["buckets_differing"] == b["buckets_differing"], (b, a)
        assert a["runs_failed"] == b["runs_failed"], (b, a)
        assert a["keys_sent"] == b["keys_sent"], (b, a)
        # Root and answer: under 64 bytes each way per comparison.
        assert a["bytes_sent"] - b["bytes_sent"] <= 64 * runs, (b, a)


@pytest.mark.time_limit(90)
def test_repair_on_demand(make_cluster):
    nodes = make_cluster(2, ["--repair-interval", "0"], start=False)
    nodes[1].env["SYNCACHED_TEST_DROP_PREFIX"] = "od:"
    nodes.start()
    # Past the comparisons the links run 1 s after they come up (one begun by each node).
    assert wait_for(lambda: all(repair_stats(n)["runs"] >= 2 for n in nodes))
    keys = ["od:%d" % i for i in range(50)]
    set_keys(nodes[0], keys)
    assert wait_for(lambda: repair_stats(nodes[1]).get("test_dropped", 0) >= len(keys))
    time.sleep(1.5)
    assert nodes[1].values(keys) == {}  # nothing compares by itself any more
    with nodes[1].client() as c:
        assert c.call(b"repair\r\n") == b"OK\r\n"
    assert wait_for(lambda: len(nodes[1].values(keys)) == len(keys)), repair_stats(nodes[1])


def test_repair_needs_peers(make_cluster):
    node = make_cluster(1)[0]
    with node.client() as c:
        assert c.call(b"repair\r\n") == b"SERVER_ERROR repair needs --peers\r\n"
        c.send(b"repair noreply\r\nversion\r\n")
        assert c.readline().startswith(b"VERSION ")
