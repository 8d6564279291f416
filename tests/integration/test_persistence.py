"""Persistence (DESIGN.md section 6): --data-dir journals every change and
compacts into snapshots; a node killed with SIGKILL comes back with every
acknowledged write, a torn journal tail is dropped, not fatal, and a node of a
cluster restarted with its data catches up from its peers' backlogs instead of
taking a full copy. Real processes, real SIGKILL."""

import glob
import os
import signal
import time

import pytest

from cluster import (bulk_load, make_cluster,  # noqa: F401 (fixture)
                     unique_writer, wait_converged)

pytestmark = pytest.mark.syncached_only


def with_data(node, *extra):
    node.data_dir = os.path.join(node.workdir, "data%d" % node.node_id)
    node.extra += ["--data-dir", node.data_dir] + list(extra)
    return node


def single(make_cluster, *extra):
    """One node (no peers: a plain single node) with a data dir."""
    nodes = make_cluster(1, start=False)
    with_data(nodes[0], *extra)
    return nodes[0].start()


def cluster_with_data(make_cluster, n):
    nodes = make_cluster(n, start=False)
    for node in nodes:
        with_data(node)
    return nodes.start()


def file_size(path):
    """0 for a file compaction renamed or deleted since it was listed."""
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def pers_stats(node):
    with node.client() as c:
        return c.stats("persistence")


def mutate_everything(node):
    """One of each kind of mutation, in the text and meta protocols."""
    with node.client() as c:
        assert c.call(b"set plain 5 0 3\r\nabc\r\n") == b"STORED\r\n"
        assert c.call(b"set gone 0 0 1\r\nx\r\n") == b"STORED\r\n"
        assert c.call(b"delete gone\r\n") == b"DELETED\r\n"
        assert c.call(b"set counter 0 0 2\r\n10\r\n") == b"STORED\r\n"
        assert c.call(b"incr counter 32\r\n") == b"42\r\n"
        assert c.call(b"set app 0 0 3\r\nabc\r\n") == b"STORED\r\n"
        assert c.call(b"append app 0 0 3\r\ndef\r\n") == b"STORED\r\n"
        assert c.call(b"prepend app 0 0 1\r\n_\r\n") == b"STORED\r\n"
        assert c.call(b"set ttl 0 0 1\r\nt\r\n") == b"STORED\r\n"
        assert c.call(b"touch ttl 3600\r\n") == b"TOUCHED\r\n"
        assert c.call(b"ms meta 4 F7 T0\r\nmeta\r\n") == b"HD\r\n"
        assert c.call(b"set short 0 1 1\r\ns\r\n") == b"STORED\r\n"


def check_everything(node):
    v = node.values(["plain", "gone", "counter", "app", "ttl", "meta"])
    assert v["plain"][:2] == (b"abc", 5)
    assert "gone" not in v
    assert v["counter"][0] == b"42"
    assert v["app"][0] == b"_abcdef"
    assert v["meta"][:2] == (b"meta", 7)
    dump = node.metadump()
    assert abs(dump["ttl"]["exp"] - (time.time() + 3600)) < 30, dump["ttl"]


@pytest.mark.time_limit(60)
def test_sigkill_loses_no_acknowledged_write(make_cluster):
    node = single(make_cluster)
    mutate_everything(node)
    w = unique_writer(node, "k", size=64, batch=4)
    w.start()
    deadline = time.monotonic() + 10
    while w.count < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    node.kill(signal.SIGKILL)  # mid-stream: the writer is still sending
    w.join(5)
    acked = w.keys_acked()
    assert len(acked) >= 1200
    time.sleep(1.1)  # "short" (1 s) must be expired when it comes back
    node.start()
    got = node.values(acked)
    missing = [k for k in acked if k not in got]
    assert not missing, "%d acknowledged keys lost, e.g. %s" % (len(missing), missing[:5])
    assert got[acked[-1]][1] == w.count - 1  # flags carry the writer's op number
    check_everything(node)
    assert "short" not in node.values(["short"])
    st = pers_stats(node)
    assert int(st["recovered_journal_records"]) >= len(acked)


@pytest.mark.time_limit(60)
def test_fsync_always_shares_fsyncs_and_loses_no_acknowledged_write(make_cluster):
    """--fsync always: a reply leaves only once its change is fsynced, but the
    worker does not wait in fdatasync: it holds the connection and serves the
    others, so writers on many connections share each fsync (group commit)."""
    node = single(make_cluster, "--fsync", "always", "-t", "2")
    mutate_everything(node)
    writers = [unique_writer(node, "w%d" % i, size=64) for i in range(12)]
    for w in writers:
        w.start()
    deadline = time.monotonic() + 10
    while sum(w.count for w in writers) < 3000 and time.monotonic() < deadline:
        time.sleep(0.01)
    st = pers_stats(node)
    node.kill(signal.SIGKILL)  # mid-stream: every writer is still sending
    for w in writers:
        w.join(5)
    acked = [k for w in writers for k in w.keys_acked()]
    assert len(acked) >= 3000
    # Each fsync covered several connections' writes (one per write would be 3000+).
    assert int(st["fsync_waits"]) >= 1000, st
    assert int(st["fsyncs"]) * 2 < int(st["fsync_waits"]), st
    assert st["fsync_timeouts"] == "0", st
    node.start()
    got = node.values(acked)
    missing = [k for k in acked if k not in got]
    assert not missing, "%d acknowledged keys lost, e.g. %s" % (len(missing), missing[:5])
    check_everything(node)


@pytest.mark.time_limit(60)
def test_restart_keeps_values_flags_expiry_and_cas(make_cluster):
    node = single(make_cluster)
    bulk_load(node, 2000, prefix="b", size=100)
    mutate_everything(node)
    with node.client() as c:
        assert c.call(b"flush_all\r\n") == b"OK\r\n"
    bulk_load(node, 500, prefix="after:", size=10)
    mutate_everything(node)
    time.sleep(1.1)  # "short" expires first: the comparison is of what lives
    before = node.snapshot()
    assert len(before) == 500 + 5, sorted(before)[:10]
    node.kill(signal.SIGKILL)
    node.start()
    after = node.snapshot()
    assert after == before  # keys, values, flags, CAS, absolute expiry, version
    with node.client() as c:  # a CAS from before the restart still works after it
        key = "after:1"
        cas = before[key][2]
        assert c.call(b"cas %s 0 0 1 %d\r\nz\r\n" % (key.encode(), cas)) == b"STORED\r\n"
        assert c.call(b"cas %s 0 0 1 %d\r\nz\r\n" % (key.encode(), cas)) == b"EXISTS\r\n"


@pytest.mark.time_limit(90)
def test_compaction_bounds_the_journal_and_restart_is_exact(make_cluster):
    node = single(make_cluster, "--journal-size", "256k")
    value = b"x" * 1000
    with node.client() as c:
        for rnd in range(40):  # 40 x 300 overwrites of 300 keys: ~12 MB of changes
            c.send(b"".join(b"set ow%d %d 0 %d noreply\r\n%s\r\n" % (i, rnd, len(value), value)
                            for i in range(300)) + b"mn\r\n")
            assert c.readline(timeout=20) == b"MN\r\n"
    # Compaction runs behind the writes; within a few seconds of them the files are
    # a few times the data (two snapshots and the journal since the older one), not
    # the 12 MB written.
    deadline = time.monotonic() + 20
    while True:
        files = os.listdir(node.data_dir)
        size = sum(file_size(os.path.join(node.data_dir, f)) for f in files)
        snapshots = int(pers_stats(node)["snapshots"])
        if snapshots >= 2 and size < 5 << 20:
            break
        assert time.monotonic() < deadline, (files, size, pers_stats(node))
        time.sleep(0.1)
    before = node.snapshot()
    assert len(before) == 300 and all(v[1] == 39 for v in before.values())
    node.kill(signal.SIGKILL)
    node.start()
    assert node.snapshot() == before
    st = pers_stats(node)
    assert int(st["recovered_snapshot_records"]) > 0, st


@pytest.mark.time_limit(60)
def test_torn_or_damaged_journal_tail_is_dropped_not_fatal(make_cluster):
    node = single(make_cluster)
    bulk_load(node, 1000, prefix="t:", size=50)
    # Where the segment's frames end: the space after it is allocated ahead (zeros).
    end = 16 + int(pers_stats(node)["journal_bytes"])
    node.kill(signal.SIGKILL)
    journal = sorted(glob.glob(os.path.join(node.data_dir, "journal-*.log")))[-1]
    assert os.path.getsize(journal) >= end
    with open(journal, "r+b") as f:
        f.seek(end)
        f.write(b"\xc5\x01\x01\x05\xff")  # a record header cut short
    node.start()
    assert len(node.values(["t:%d" % i for i in range(1000)])) == 1000
    assert int(pers_stats(node)["recovered_dropped_bytes"]) == 5
    # Garbage in the middle of an older segment: what precedes it still loads.
    with node.client() as c:
        assert c.call(b"set more 0 0 1\r\nm\r\n") == b"STORED\r\n"
    node.kill(signal.SIGKILL)
    with open(journal, "r+b") as f:
        f.seek(end - 200)
        f.write(b"\x00" * 8)
    node.start()
    got = node.values(["t:%d" % i for i in range(1000)] + ["more"])
    assert len(got) >= 990 and "more" in got
    assert "dropped" in node.log(all_runs=False)


@pytest.mark.time_limit(30)
def test_second_process_on_the_same_data_dir_is_refused(make_cluster):
    node = single(make_cluster)
    other = make_cluster(1, start=False)[0]
    other.extra += ["--data-dir", node.data_dir]
    other.start(wait=False)
    deadline = time.monotonic() + 10
    while other.alive():
        assert time.monotonic() < deadline, "second process did not exit"
        time.sleep(0.02)
    other.expected_exit = True
    assert other.proc.returncode != 0
    assert "in use by another process" in other.log()
    assert node.alive()


@pytest.mark.time_limit(90)
def test_cluster_node_killed_under_load_catches_up_from_the_backlog(make_cluster):
    nodes = cluster_with_data(make_cluster, 3)
    a, b, c = nodes
    bulk_load(a, 5000, prefix="pre", size=100)
    wait_converged(nodes, timeout=15)
    writers = [unique_writer(n, "w%d" % n.node_id, size=64, batch=4) for n in nodes]
    for w in writers:
        w.start()
    time.sleep(0.7)
    c.kill(signal.SIGKILL)
    writers[2].join(5)
    time.sleep(0.7)  # a and b keep writing: c must catch up on this
    c.start(wait=False)
    deadline = time.monotonic() + 20
    while not c.ready():
        assert c.alive() and time.monotonic() < deadline, c.log()
        time.sleep(0.005)
    must_have = writers[0].keys_acked() + writers[1].keys_acked()
    time.sleep(0.5)
    for w in writers:
        w.stop()
    snap = wait_converged(nodes, timeout=20)
    lost = [k for w in writers for k in w.keys_acked() if k not in snap]
    assert not lost, "%d acknowledged keys lost, e.g. %s" % (len(lost), lost[:5])
    assert set(must_have) <= set(snap)
    time.sleep(0.3)  # stats render every 250 ms
    st = c.repl_stats()
    for other in (a, b):
        assert c.peer_stat(other, "catch_ups", st) == "1", st
        assert c.peer_stat(other, "full_copies", st) == "0", st
    assert "full copy from" not in c.log(all_runs=False)
    # The other way, c sends a and b only what it wrote lately (a delta copy), not
    # its whole store: its last writes may never have left before the kill.
    own = len(writers[2].keys_acked()) + 100  # and a batch it had not acknowledged
    cst = c.repl_stats()
    for other in (a, b):
        assert int(cst["subscriber:%d:delta_copies" % other.node_id]) == 1, cst
        assert cst["subscriber:%d:full_copies" % other.node_id] == "0", cst
        st = other.repl_stats()
        assert int(other.peer_stat(c, "last_copy_records", st)) <= own < len(snap), st


def kill_all_under_writes_and_restart(nodes, writers, before_kill=lambda: None):
    """Writers on for a second, every node SIGKILLed, restarted: every write any
    of them saw acknowledged is on every node once they converge. Returns what
    before_kill() returned just before the kills."""
    for w in writers:
        w.start()
    time.sleep(1.0)
    seen = before_kill()
    for n in nodes:
        n.kill(signal.SIGKILL)
    for w in writers:
        w.join(5)
    acked = [k for w in writers for k in w.keys_acked()]
    assert len(acked) > 300
    nodes.start()
    snap = wait_converged(nodes, timeout=30)
    lost = [k for k in acked if k not in snap]
    assert not lost, "%d acknowledged keys lost, e.g. %s" % (len(lost), lost[:5])
    return seen


@pytest.mark.time_limit(90)
def test_whole_cluster_killed_and_restarted_loses_nothing(make_cluster):
    nodes = cluster_with_data(make_cluster, 3)
    writers = [unique_writer(n, "z%d" % n.node_id, size=64, batch=4) for n in nodes]
    kill_all_under_writes_and_restart(nodes, writers)
    time.sleep(0.3)
    for n in nodes:  # every node had its data: deltas, no full copies
        st = n.repl_stats()
        assert sum(int(v) for k, v in st.items() if k.endswith(":delta_copies")) == 2, st
        assert sum(int(v) for k, v in st.items()
                   if k.startswith("subscriber:") and k.endswith(":full_copies")) == 0, st


@pytest.mark.time_limit(90)
def test_fsync_always_with_sync_replicas_waits_for_both(make_cluster):
    """A reply held for its fsync and for a peer's ack at once: both counted, and
    a whole cluster killed with SIGKILL comes back with every acknowledged write."""
    nodes = make_cluster(2, extra=["--sync-replicas", "1"], start=False)
    for node in nodes:
        with_data(node, "--fsync", "always")
    nodes.start()
    writers = [unique_writer(n, "b%d%d" % (n.node_id, i), size=64) for n in nodes
               for i in range(4)]
    stats = kill_all_under_writes_and_restart(
        nodes, writers, before_kill=lambda: [(pers_stats(n), n.repl_stats()) for n in nodes])
    for pers, repl in stats:
        assert int(pers["fsync_waits"]) > 0 and int(repl["sync_waits"]) > 0, (pers, repl)
        assert pers["fsync_timeouts"] == "0" and repl["sync_timeouts"] == "0", (pers, repl)


def overwrite_past_backlog(node, keys):
    """3 MB of 8 KB overwrites of new0..new<keys-1> through node: a peer's position
    leaves a 1 MB backlog."""
    value = b"n" * 8192
    with node.client(timeout=30) as c:
        for start in range(0, 384, 64):
            c.send(b"".join(b"set new%d 0 0 8192 noreply\r\n%s\r\n" % (i % keys, value)
                            for i in range(start, start + 64)) + b"mn\r\n")
            assert c.readline(timeout=30) == b"MN\r\n"


def test_node_back_after_its_backlog_drops_what_was_flushed_meanwhile(make_cluster):
    """b (with its data) was down while a ran flush_all and then more than b's
    backlog of writes: b gets a full copy, and the items it kept on disk from
    before the flush must go, as they went on a. A copy that only adds what the
    source has would leave them on b for good."""
    nodes = make_cluster(2, start=False)
    for node in nodes:
        with_data(node, "--backlog-size", "1m")
    nodes.start()
    a, b = nodes
    bulk_load(a, 2000, prefix="old", size=100)
    wait_converged(nodes, timeout=15)
    b.kill(signal.SIGKILL)
    with a.client() as c:
        assert c.call(b"flush_all\r\n") == b"OK\r\n"
    time.sleep(1.1)  # writes in the flush's second count as before it, as in memcached
    overwrite_past_backlog(a, keys=50)
    b.start()
    snap = wait_converged(nodes, timeout=20)
    assert sorted(snap) == sorted("new%d" % i for i in range(50))
    time.sleep(0.3)
    assert b.peer_stat(a, "full_copies") == "1", b.repl_stats()  # a delta counts as one
    # b told a how far it had followed it: a sends only its changes since, not its store.
    assert "delta copy to node 2 (our changes since its last one, which is no longer" in a.log()


def test_node_away_longer_than_tombstones_last_drops_what_was_deleted_meanwhile(make_cluster):
    """b (with its data) was down while a deleted keys, and longer than a keeps
    its tombstones (--tombstone-ttl 2): a delta copy would carry no delete for
    them, so they would live on b alone for good. b gets a full copy instead and
    drops the items of a's origin that a no longer holds; its own writes and
    a's updates stay."""
    nodes = make_cluster(2, start=False)
    for node in nodes:
        with_data(node, "--tombstone-ttl", "2", "--backlog-size", "1m")
    nodes.start()
    a, b = nodes
    bulk_load(a, 100, prefix="k", size=20)
    with b.client() as c:
        assert c.call(b"set b-own 0 0 1\r\nb\r\n") == b"STORED\r\n"
    wait_converged(nodes, timeout=15)
    b.kill(signal.SIGKILL)
    with a.client() as c:
        for i in range(50):
            assert c.call(b"delete k%d\r\n" % i) == b"DELETED\r\n"
        assert c.call(b"set k50 0 0 7\r\nupdated\r\n") == b"STORED\r\n"
        assert c.call(b"set fresh 0 0 1\r\nf\r\n") == b"STORED\r\n"
    overwrite_past_backlog(a, keys=10)
    # The stats are rendered twice a second: see the tombstones come, then go.
    deadline = time.monotonic() + 15
    seen = False
    while time.monotonic() < deadline:
        tombstones = int(a.repl_stats()["tombstones"])
        seen = seen or tombstones >= 50
        if seen and tombstones == 0:
            break
        time.sleep(0.1)
    assert seen and tombstones == 0, tombstones
    b.start()
    snap = wait_converged(nodes, timeout=20)
    expected = (["k%d" % i for i in range(50, 100)] + ["new%d" % i for i in range(10)]
                + ["b-own", "fresh"])
    assert sorted(snap) == sorted(expected)
    assert snap["k50"][0] == b"updated"
    time.sleep(0.3)
    assert b.peer_stat(a, "swept") == "50", b.repl_stats()
    assert "away longer than our tombstones are kept" in a.log()
    # The drops are on b's disk too: a restart does not bring the keys back.
    b.kill(signal.SIGKILL)
    b.start()
    assert sorted(wait_converged(nodes, timeout=20)) == sorted(expected)
