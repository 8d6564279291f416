"""Every mutation replicates as its resulting state (DESIGN.md section 5): text,
meta and expiry. Each test writes its own keys through one node of a shared
3-node cluster and waits until every node holds exactly what that node holds
(value, flags, CAS, absolute expiry, version)."""

import struct
import time

import pytest

import harness

from cluster import cluster3, distinct_free_ports, make_cluster, wait_converged  # noqa: F401

pytestmark = pytest.mark.syncached_only

REPL_TIMEOUT = 6.0


def state(node, key):
    """(value, flags, cas, exp, ver) of key on node, or None."""
    meta = node.metadump().get(key)
    vals = node.values([key]).get(key)
    if meta is None or vals is None:
        return None
    return vals + (meta["exp"], meta["ver"])


def replicated(nodes, key, source=None, timeout=REPL_TIMEOUT):
    """Waits until every node holds the state `source` (default nodes[0]) holds
    for key (None: absent everywhere); returns that state."""
    source = source or nodes[0]
    want = state(source, key)
    deadline = time.monotonic() + timeout
    while True:
        got = [state(n, key) for n in nodes]
        if all(g == want for g in got):
            return want
        if time.monotonic() >= deadline:
            raise AssertionError("key %r not replicated from %r within %.0f s:\n  want %r\n  got %s"
                                 % (key, source, timeout, want,
                                    "\n  got ".join("%r %r" % (n, g) for n, g in zip(nodes, got))))
        time.sleep(0.05)


def call(node, req):
    with node.client() as c:
        return c.call(req)


@pytest.fixture
def nodes(cluster3):
    for n in cluster3:
        assert n.alive(), "node died in an earlier test:\n" + n.log()[-3000:]
    return cluster3


def test_set_with_flags(nodes):
    a, b, c = nodes
    assert call(a, b"set op:set 4294967295 0 5\r\nhello\r\n") == b"STORED\r\n"
    s = replicated(nodes, "op:set", a)
    assert s[:2] == (b"hello", 4294967295)
    assert s[3] == -1                      # no expiry
    assert s[4].endswith(".%d" % a.node_id)  # version names its origin


def test_add_replace_append_prepend_through_different_nodes(nodes):
    a, b, c = nodes
    assert call(a, b"add op:arp 1 0 1\r\nm\r\n") == b"STORED\r\n"
    replicated(nodes, "op:arp", a)
    assert call(b, b"add op:arp 0 0 1\r\nx\r\n") == b"NOT_STORED\r\n"
    assert call(b, b"append op:arp 0 0 2\r\n>>\r\n") == b"STORED\r\n"
    replicated(nodes, "op:arp", b)
    assert call(c, b"prepend op:arp 0 0 2\r\n<<\r\n") == b"STORED\r\n"
    replicated(nodes, "op:arp", c)
    assert call(a, b"replace op:arp 2 0 3\r\nnew\r\n") == b"STORED\r\n"
    s = replicated(nodes, "op:arp", a)
    assert s[:2] == (b"new", 2)
    assert call(b, b"replace op:arp-missing 0 0 1\r\nx\r\n") == b"NOT_STORED\r\n"
    assert call(c, b"append op:arp2 0 0 1\r\nx\r\n") == b"NOT_STORED\r\n"


def test_append_keeps_flags_and_expiry_on_replicas(nodes):
    a, b, c = nodes
    assert call(a, b"set op:apx 77 5000 1\r\nv\r\n") == b"STORED\r\n"
    s0 = replicated(nodes, "op:apx", a)
    assert call(b, b"append op:apx 0 0 1\r\nw\r\n") == b"STORED\r\n"
    s1 = replicated(nodes, "op:apx", b)
    assert s1[0] == b"vw" and s1[1] == 77 and s1[3] == s0[3]


def test_gets_on_one_node_cas_on_another(nodes):
    a, b, c = nodes
    assert call(a, b"set op:cas 0 0 2\r\nv1\r\n") == b"STORED\r\n"
    s = replicated(nodes, "op:cas", a)
    with a.client() as ca:
        unique = ca.gets_cas("op:cas")
    assert unique == s[2]
    # b holds the same version, hence the same CAS unique: cas succeeds there.
    assert call(b, b"cas op:cas 0 0 2 %d\r\nv2\r\n" % unique) == b"STORED\r\n"
    s2 = replicated(nodes, "op:cas", b)
    assert s2[0] == b"v2" and s2[2] != unique
    # The old unique is stale on every node now.
    assert call(c, b"cas op:cas 0 0 2 %d\r\nv3\r\n" % unique) == b"EXISTS\r\n"
    assert call(a, b"cas op:cas 0 0 2 %d\r\nv3\r\n" % unique) == b"EXISTS\r\n"
    # Meta compare-and-set with the new unique, on the third node.
    assert call(c, b"ms op:cas 2 C%d\r\nv4\r\n" % s2[2]) == b"HD\r\n"
    assert replicated(nodes, "op:cas", c)[0] == b"v4"


def test_incr_decr(nodes):
    a, b, c = nodes
    assert call(a, b"set op:n 5 0 2\r\n10\r\n") == b"STORED\r\n"
    replicated(nodes, "op:n", a)
    assert call(b, b"incr op:n 5\r\n") == b"15\r\n"
    replicated(nodes, "op:n", b)
    assert call(c, b"decr op:n 100\r\n") == b"0\r\n"    # clamps at 0
    s = replicated(nodes, "op:n", c)
    assert s[:2] == (b"0 ", 5)   # memcached pads a shrunk decr result with spaces
    assert call(a, b"set op:w 0 0 20\r\n18446744073709551615\r\n") == b"STORED\r\n"
    replicated(nodes, "op:w", a)
    assert call(b, b"incr op:w 2\r\n") == b"1\r\n"      # wraps
    assert replicated(nodes, "op:w", b)[0].rstrip(b" ") == b"1"


def test_touch_gat_gats_move_expiry_everywhere(nodes):
    a, b, c = nodes
    assert call(a, b"set op:t 0 0 1\r\nx\r\n") == b"STORED\r\n"
    assert replicated(nodes, "op:t", a)[3] == -1
    now = time.time()
    assert call(b, b"touch op:t 1000\r\n") == b"TOUCHED\r\n"
    s = replicated(nodes, "op:t", b)
    assert abs(s[3] - (now + 1000)) <= 3, s
    with c.client() as cc:
        cc.send(b"gat 2000 op:t\r\n")
        assert cc.read_retrieval() == b"VALUE op:t 0 1\r\nx\r\nEND\r\n"
    s = replicated(nodes, "op:t", c)
    assert abs(s[3] - (now + 2000)) <= 3, s
    with a.client() as ca:
        ca.send(b"gats 3000 op:t\r\n")
        assert ca.read_retrieval().startswith(b"VALUE op:t 0 1 ")
    s = replicated(nodes, "op:t", a)
    assert abs(s[3] - (now + 3000)) <= 3, s
    # mg with T is a touch too.
    assert call(b, b"mg op:t T4000\r\n") == b"HD\r\n"
    s = replicated(nodes, "op:t", b)
    assert abs(s[3] - (now + 4000)) <= 3, s


def test_delete(nodes):
    a, b, c = nodes
    assert call(a, b"set op:d 0 0 1\r\nx\r\n") == b"STORED\r\n"
    replicated(nodes, "op:d", a)
    assert call(b, b"delete op:d\r\n") == b"DELETED\r\n"
    assert replicated(nodes, "op:d", b) is None
    assert call(c, b"delete op:d\r\n") == b"NOT_FOUND\r\n"
    assert call(a, b"md op:d\r\n") == b"NF\r\n"
    # (stats replication is rendered every 250 ms)
    deadline = time.monotonic() + 2
    while int(b.repl_stats()["tombstones"]) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int(b.repl_stats()["tombstones"]) >= 1


def test_meta_set_modes(nodes):
    a, b, c = nodes
    assert call(a, b"ms op:ms 3 F9 T0\r\nabc\r\n") == b"HD\r\n"
    assert replicated(nodes, "op:ms", a)[:2] == (b"abc", 9)
    assert call(b, b"ms op:ms 1 ME\r\nx\r\n") == b"NS\r\n"       # add: exists (replicated)
    assert call(b, b"ms op:ms 2 MA\r\n++\r\n") == b"HD\r\n"      # append
    assert replicated(nodes, "op:ms", b)[0] == b"abc++"
    assert call(c, b"ms op:ms 2 MP\r\n--\r\n") == b"HD\r\n"      # prepend
    assert replicated(nodes, "op:ms", c)[0] == b"--abc++"
    assert call(a, b"ms op:ms 1 MR F3\r\nr\r\n") == b"HD\r\n"    # replace
    assert replicated(nodes, "op:ms", a)[:2] == (b"r", 3)
    assert call(b, b"ms op:ms 1 MS T5000\r\ns\r\n") == b"HD\r\n"  # set, with TTL
    s = replicated(nodes, "op:ms", b)
    assert s[0] == b"s" and s[3] > time.time() + 4000
    assert call(c, b"ms op:ms-new 1 ME\r\ne\r\n") == b"HD\r\n"   # add: new key
    assert replicated(nodes, "op:ms-new", c)[0] == b"e"
    assert call(a, b"ms op:ms-none 1 MR\r\nr\r\n") == b"NS\r\n"
    assert call(a, b"ms op:ms-none 1 MA\r\nr\r\n") == b"NS\r\n"


def test_meta_arithmetic_modes(nodes):
    a, b, c = nodes
    # Autovivify with an initial value and a TTL.
    with a.client() as ca:
        assert ca.call(b"ma op:ma N5000 J7 v\r\n") == b"VA 1\r\n"
        assert ca.readline() == b"7\r\n"
    s = replicated(nodes, "op:ma", a)
    assert s[0] == b"7" and s[3] > time.time() + 4000
    assert call(b, b"ma op:ma MI D10\r\n") == b"HD\r\n"
    assert replicated(nodes, "op:ma", b)[0] == b"17"
    assert call(c, b"ma op:ma MD D3\r\n") == b"HD\r\n"
    assert replicated(nodes, "op:ma", c)[0] == b"14"
    assert call(a, b"ma op:ma-none\r\n") == b"NF\r\n"
    assert replicated(nodes, "op:ma-none", a) is None


def test_meta_delete_and_invalidate(nodes):
    a, b, c = nodes
    assert call(a, b"ms op:md 1\r\nx\r\n") == b"HD\r\n"
    replicated(nodes, "op:md", a)
    assert call(b, b"md op:md q\r\nmn\r\n") == b"MN\r\n"
    assert replicated(nodes, "op:md", b) is None
    # md with I marks the item stale (kept, with a new TTL): the replicas
    # must hold a stale item too (mg reports X and W there).
    assert call(a, b"ms op:mdi 1\r\nx\r\n") == b"HD\r\n"
    replicated(nodes, "op:mdi", a)
    assert call(c, b"md op:mdi I T30\r\n") == b"HD\r\n"
    s = replicated(nodes, "op:mdi", c)
    assert s is not None and s[3] > 0
    for n in (a, b):
        reply = call(n, b"mg op:mdi c\r\n")
        assert reply.split()[0] == b"HD" and b" X" in reply, (n, reply)
    # ms with I and an older CAS stores the value as stale (memcached 1.6).
    assert call(a, b"ms op:msi 1\r\nx\r\n") == b"HD\r\n"
    old = replicated(nodes, "op:msi", a)[2]
    assert call(b, b"ms op:msi 1\r\ny\r\n") == b"HD\r\n"
    replicated(nodes, "op:msi", b)
    assert call(c, b"ms op:msi 1 I C%d\r\nz\r\n" % old) == b"HD\r\n"
    s = replicated(nodes, "op:msi", c)
    assert s[0] == b"z"
    for n in (a, b):
        reply = call(n, b"mg op:msi c\r\n")
        assert reply.split()[0] == b"HD" and b" X" in reply, (n, reply)


def test_meta_invalidate_on_a_node_that_did_not_write_the_item(nodes):
    """md I (no T) changes the item's CAS on the node that runs it; the item was
    written by another node: the new state must still reach every node."""
    a, b, c = nodes
    assert call(a, b"ms op:mdi2 1\r\nx\r\n") == b"HD\r\n"
    before = replicated(nodes, "op:mdi2", a)
    assert call(c, b"md op:mdi2 I\r\n") == b"HD\r\n"
    after = replicated(nodes, "op:mdi2", c)
    assert after[2] != before[2]


def test_meta_set_with_explicit_cas_E_flag(nodes):
    """ms ... E<token> sets the new CAS explicitly (memcached 1.6); the write
    must still replicate and win over the older value on every node."""
    a, b, c = nodes
    assert call(a, b"set op:E 0 0 3\r\nold\r\n") == b"STORED\r\n"
    replicated(nodes, "op:E", a)
    assert call(b, b"ms op:E 3 E12345\r\nnew\r\n") == b"HD\r\n"
    assert b.values(["op:E"])["op:E"][0] == b"new"
    s = replicated(nodes, "op:E", b)
    assert s[0] == b"new"


def test_stats_replication_shows_every_peer(nodes):
    """DESIGN 5: per peer state, lag in changes and ms, bytes, full copies,
    last error."""
    for n in nodes:
        st = n.repl_stats()
        assert st["node_id"] == str(n.node_id)
        assert int(st["peers"]) == 2
        for other in nodes:
            if other is n:
                continue
            for name in ("node", "state", "lag_changes", "lag_ms", "bytes_received",
                         "full_copies", "catch_ups", "last_error"):
                assert n.peer_stat(other, name, st) is not None, (n, other, name, st)
            assert n.peer_stat(other, "state", st) == "streaming"
            assert n.peer_stat(other, "node", st) == str(other.node_id)
            assert int(st["subscriber:%d:bytes_sent" % other.node_id]) > 0


def test_expiry_travels_as_absolute_time(nodes):
    a, b, c = nodes
    now = int(time.time())
    assert call(a, b"set op:rel 0 1000 1\r\nx\r\n") == b"STORED\r\n"
    s = replicated(nodes, "op:rel", a)
    assert now + 998 <= s[3] <= now + 1003, s
    absolute = now + 5000
    assert call(b, b"set op:abs 0 %d 1\r\nx\r\n" % absolute) == b"STORED\r\n"
    assert replicated(nodes, "op:abs", b)[3] == absolute
    # A replica whose key was overwritten with an already-expired item does
    # not keep serving its old value.
    assert call(a, b"set op:neg 0 0 3\r\nold\r\n") == b"STORED\r\n"
    replicated(nodes, "op:neg", a)
    assert call(c, b"set op:neg 0 -1 3\r\nnew\r\n") == b"STORED\r\n"
    assert replicated(nodes, "op:neg", c) is None


def test_short_expiry_expires_on_every_node(nodes):
    a, b, c = nodes
    assert call(b, b"set op:short 0 2 1\r\nx\r\n") == b"STORED\r\n"
    replicated(nodes, "op:short", b)
    time.sleep(2.2)
    deadline = time.monotonic() + 3
    while any(n.values(["op:short"]) for n in nodes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [n.values(["op:short"]) for n in nodes] == [{}, {}, {}]


def test_add_based_lock(nodes):
    """php-memcached's session lock: add on one node, then the lock is held
    everywhere once replicated; released by delete."""
    a, b, c = nodes
    assert call(a, b"add lock.sess1 0 30 1\r\n1\r\n") == b"STORED\r\n"
    replicated(nodes, "lock.sess1", a)
    assert call(b, b"add lock.sess1 0 30 1\r\n1\r\n") == b"NOT_STORED\r\n"
    assert call(c, b"add lock.sess1 0 30 1\r\n1\r\n") == b"NOT_STORED\r\n"
    assert call(a, b"delete lock.sess1\r\n") == b"DELETED\r\n"
    replicated(nodes, "lock.sess1", a)
    assert call(b, b"add lock.sess1 0 30 1\r\n1\r\n") == b"STORED\r\n"
    replicated(nodes, "lock.sess1", b)
    assert call(a, b"add lock.sess1 0 30 1\r\n1\r\n") == b"NOT_STORED\r\n"


def test_noreply_writes_replicate(nodes):
    a, b, c = nodes
    with a.client() as ca:
        assert ca.exchange(b"set op:nr 0 0 1 noreply\r\nx\r\nappend op:nr 0 0 1 noreply\r\ny\r\n"
                           b"set op:nr2 0 0 1 noreply\r\n5\r\nincr op:nr2 3 noreply\r\n"
                           b"set op:nr3 0 0 1 noreply\r\nz\r\ndelete op:nr3 noreply\r\n") == b""
    assert replicated(nodes, "op:nr", a)[0] == b"xy"
    assert replicated(nodes, "op:nr2", a)[0] == b"8"
    assert replicated(nodes, "op:nr3", a) is None


@pytest.mark.time_limit(40)
def test_flush_all_is_cluster_wide(make_cluster):
    nodes = make_cluster(3)
    a, b, c = nodes
    for i, n in enumerate(nodes):
        assert call(n, b"set f%d 0 0 1\r\nx\r\n" % i) == b"STORED\r\n"
    wait_converged(nodes, timeout=REPL_TIMEOUT)
    assert call(b, b"flush_all\r\n") == b"OK\r\n"
    assert wait_converged(nodes, timeout=REPL_TIMEOUT) == {}
    # A write after the flush (on another node) survives it everywhere.
    time.sleep(1.1)  # memcached's flush granularity is one second
    assert call(c, b"set after 0 0 1\r\ny\r\n") == b"STORED\r\n"
    snap = wait_converged(nodes, timeout=REPL_TIMEOUT)
    assert list(snap) == ["after"]


@pytest.mark.time_limit(40)
def test_flush_all_with_delay(make_cluster):
    nodes = make_cluster(3)
    a, b, c = nodes
    assert call(a, b"set before 0 0 1\r\nx\r\n") == b"STORED\r\n"
    wait_converged(nodes, timeout=REPL_TIMEOUT)
    t0 = time.monotonic()
    assert call(a, b"flush_all 3\r\n") == b"OK\r\n"
    assert call(b, b"set during 0 0 1\r\nx\r\n") == b"STORED\r\n"
    snap = wait_converged(nodes, timeout=REPL_TIMEOUT)
    assert time.monotonic() - t0 < 2.0, "too slow to check the delay"
    assert sorted(snap) == ["before", "during"]       # the flush has not happened yet
    time.sleep(max(0.0, t0 + 4.2 - time.monotonic()))
    # memcached: everything stored before the flush time goes, on every node.
    got = [sorted(n.values(["before", "during"])) for n in nodes]
    assert got == [[], [], []], got
    assert call(c, b"set later 0 0 1\r\nx\r\n") == b"STORED\r\n"
    snap = wait_converged(nodes, timeout=REPL_TIMEOUT)
    assert sorted(snap) == ["later"]


def test_large_value_and_longest_key(nodes):
    a, b, c = nodes
    key = "L" * 250
    value = bytes(range(256)) * 4000          # 1,024,000 bytes (under -I 1m)
    with a.client() as ca:
        assert ca.store("set", key, value, flags=42) == b"STORED\r\n"
    s = replicated(nodes, key, a)
    assert s[:2] == (value, 42)


@pytest.mark.time_limit(40)
def test_delayed_flush_with_concurrent_writes_converges(make_cluster):
    """Writes keep arriving on two nodes while a delayed flush_all issued on a
    third comes due: afterwards every node holds the same items (whatever
    survived the flush survived it everywhere)."""
    from cluster import Writer

    nodes = make_cluster(3)
    a, b, c = nodes

    def op_for(node):
        def op(cl, i):
            assert cl.store("set", "fw%d:%d" % (node.node_id, i), b"x") == b"STORED\r\n"
            time.sleep(0.002)
            return None
        return op

    writers = [Writer(n, op_for(n)) for n in (a, c)]
    for w in writers:
        w.start()
    time.sleep(0.3)
    assert call(b, b"flush_all 2\r\n") == b"OK\r\n"
    time.sleep(3.0)
    for w in writers:
        w.stop()
    assert not any(w.errors for w in writers)
    snap = wait_converged(nodes, timeout=REPL_TIMEOUT)
    assert snap, "nothing written after the flush survived"


# -- binary protocol -------------------------------------------------------------

_BIN_HEADER = struct.Struct(">BBHBBHIIQ")


def bin_call(node, op, key=b"", extras=b"", value=b"", cas=0):
    """One binary request; returns (status, cas, value)."""
    req = _BIN_HEADER.pack(0x80, op, len(key), len(extras), 0, 0,
                           len(extras) + len(key) + len(value), 0, cas) + extras + key + value
    with node.client() as c:
        c.send(req)
        head = c.read_exact(24)
        magic, rop, keylen, extlen, _, status, bodylen, _, rcas = _BIN_HEADER.unpack(head)
        body = c.read_exact(bodylen) if bodylen else b""
    assert magic == 0x81 and rop == op, head
    return status, rcas, body[extlen + keylen:]


def test_binary_mutations_replicate(nodes):
    a, b, c = nodes
    SET, ADD, REPLACE, DELETE, INCR, DECR, APPEND, PREPEND, TOUCH, GAT = (
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0e, 0x0f, 0x1c, 0x1d)
    assert bin_call(a, SET, b"bin:k", struct.pack(">II", 0xdeadbeef, 0), b"v")[0] == 0
    assert replicated(nodes, "bin:k", a)[:2] == (b"v", 0xdeadbeef)
    assert bin_call(b, ADD, b"bin:k", struct.pack(">II", 0, 0), b"x")[0] == 0x02  # exists
    assert bin_call(b, APPEND, b"bin:k", b"", b">")[0] == 0
    assert replicated(nodes, "bin:k", b)[0] == b"v>"
    assert bin_call(c, PREPEND, b"bin:k", b"", b"<")[0] == 0
    assert replicated(nodes, "bin:k", c)[0] == b"<v>"
    assert bin_call(a, REPLACE, b"bin:k", struct.pack(">II", 7, 0), b"r")[0] == 0
    assert replicated(nodes, "bin:k", a)[:2] == (b"r", 7)
    # cas from another node's version
    unique = replicated(nodes, "bin:k", a)[2]
    assert bin_call(b, SET, b"bin:k", struct.pack(">II", 7, 0), b"c", cas=unique)[0] == 0
    assert replicated(nodes, "bin:k", b)[0] == b"c"
    now = time.time()
    assert bin_call(c, TOUCH, b"bin:k", struct.pack(">I", 1000))[0] == 0
    assert abs(replicated(nodes, "bin:k", c)[3] - (now + 1000)) <= 3
    status, _, value = bin_call(a, GAT, b"bin:k", struct.pack(">I", 2000))
    assert (status, value) == (0, b"c")
    assert abs(replicated(nodes, "bin:k", a)[3] - (now + 2000)) <= 3
    # incr creating the counter from its initial value, with an expiry
    assert bin_call(b, INCR, b"bin:n", struct.pack(">QQI", 1, 40, 3000))[0] == 0
    s = replicated(nodes, "bin:n", b)
    assert s[0] == b"40" and abs(s[3] - (now + 3000)) <= 3
    assert bin_call(c, INCR, b"bin:n", struct.pack(">QQI", 2, 0, 0))[0] == 0
    assert replicated(nodes, "bin:n", c)[0] == b"42"
    assert bin_call(a, DECR, b"bin:n", struct.pack(">QQI", 50, 0, 0))[0] == 0
    assert replicated(nodes, "bin:n", a)[0].rstrip(b" ") == b"0"
    assert bin_call(b, DELETE, b"bin:k")[0] == 0
    assert replicated(nodes, "bin:k", b) is None


def test_listen_with_a_port_still_replicates(make_cluster):
    """memcached's "-l host:port" form names a client port: the replication port
    binds that host on --replication-port (it used to bind "host:port:rport")."""
    nodes = make_cluster(2, start=False)
    extra_ports = distinct_free_ports(2)
    for node, port in zip(nodes, extra_ports):
        node.extra += ["-l", "127.0.0.1:%d" % port]
    nodes.start()
    c = harness.Client(harness.HOST, extra_ports[0])
    assert c.call(b"set lport 0 0 2\r\nok\r\n") == b"STORED\r\n"
    wait_converged(nodes)
    assert nodes[1].client().value("lport") == b"ok"
