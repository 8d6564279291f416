"""Replication (DESIGN.md section 5): concurrent clients of every protocol write
through every node, often the same keys; once writes stop all replicas hold the
same keys, values, flags, expiry, CAS and versions."""

import random
import threading
import time
import zlib

import pytest

from cluster import Writer, make_cluster, wait_converged  # noqa: F401 (fixture)

pymemcache = pytest.importorskip("pymemcache.client.base")
pylibmc = pytest.importorskip("pylibmc")

pytestmark = pytest.mark.syncached_only

SHARED = ["shared:%d" % i for i in range(40)]      # written by every client on every node
COUNTERS = ["cnt:%d" % i for i in range(10)]       # incremented everywhere
WRITE_SECONDS = 2.0


def text_ops(node, tag, seed):
    """pymemcache (ascii, replies awaited): set/add/append/incr/delete/touch/cas."""
    rnd = random.Random(seed)
    c = pymemcache.Client(("127.0.0.1", node.port), connect_timeout=5, timeout=5,
                          default_noreply=False)

    def op(_, i):
        r = rnd.random()
        key = rnd.choice(SHARED) if r < 0.6 else "%s:u%d" % (tag, i)
        value = ("%s-%d" % (tag, i)).encode()
        try:
            if r < 0.35 or r >= 0.6:
                c.set(key, value, expire=rnd.choice([0, 0, 3600]), flags=rnd.randrange(1 << 32))
            elif r < 0.42:
                c.add(key, value)
            elif r < 0.48:
                c.append(key, b"+t")
            elif r < 0.52:
                c.delete(key)
            elif r < 0.55:
                c.touch(key, 7200)
            else:
                v, cas = c.gets(key)
                if cas is not None:
                    c.cas(key, value, cas)
            if rnd.random() < 0.2:
                ck = rnd.choice(COUNTERS)
                if c.incr(ck, 1) is None:
                    c.add(ck, b"0")
        except pymemcache.MemcacheClientError:
            pass  # e.g. incr on a counter another client just set to something else
        return None

    return op, c


def meta_ops(tag, seed):
    """Raw meta commands: ms (modes S/A/P/E), ma with autovivify, md, mg+touch."""
    rnd = random.Random(seed)

    def op(c, i):
        r = rnd.random()
        key = rnd.choice(SHARED) if r < 0.6 else "%s:u%d" % (tag, i)
        value = ("%s-%d" % (tag, i)).encode()
        if r < 0.35 or r >= 0.6:
            req = b"ms %s %d F%d T%d\r\n%s\r\n" % (key.encode(), len(value), rnd.randrange(1 << 32),
                                                   rnd.choice([0, 5000]), value)
            ok = (b"HD",)
        elif r < 0.42:
            req = b"ms %s 2 MA\r\n+m\r\n" % key.encode()
            ok = (b"HD", b"NS")
        elif r < 0.46:
            req = b"ms %s 2 MP\r\np+\r\n" % key.encode()
            ok = (b"HD", b"NS")
        elif r < 0.5:
            req = b"ms %s %d ME\r\n%s\r\n" % (key.encode(), len(value), value)
            ok = (b"HD", b"NS")
        elif r < 0.54:
            req = b"md %s\r\n" % key.encode()
            ok = (b"HD", b"NF")
        else:
            req = b"mg %s T9000 v\r\n" % key.encode()
            ok = (b"VA", b"EN")
        line = c.call(req)
        assert line.split(b" ")[0].strip() in ok, (req, line)
        if line.startswith(b"VA "):
            c.read_exact(int(line.split()[1]) + 2)
        if rnd.random() < 0.2:
            line = c.call(b"ma %s N0 J0\r\n" % rnd.choice(COUNTERS).encode())
            assert line.startswith((b"HD", b"CLIENT_ERROR")), line
        return None

    return op


def binary_ops(node, tag, seed):
    """pylibmc with binary=True: set/add/append/incr/delete/touch."""
    rnd = random.Random(seed)
    c = pylibmc.Client([node.addr()], binary=True,
                       behaviors={"tcp_nodelay": True, "connect_timeout": 5000,
                                  "receive_timeout": 5000000, "send_timeout": 5000000})

    def op(_, i):
        r = rnd.random()
        key = rnd.choice(SHARED) if r < 0.6 else "%s:u%d" % (tag, i)
        value = "%s-%d" % (tag, i)
        try:
            if r < 0.35 or r >= 0.6:
                c.set(key, value, time=rnd.choice([0, 0, 4000]))
            elif r < 0.42:
                c.add(key, value)
            elif r < 0.48:
                c.append(key, "+b")
            elif r < 0.52:
                c.delete(key)
            else:
                c.touch(key, 6000)
            if rnd.random() < 0.2:
                ck = rnd.choice(COUNTERS)
                try:
                    c.incr(ck, 1)
                except pylibmc.NotFound:
                    c.add(ck, "0")
        except (pylibmc.NotFound, pylibmc.NotStored, pylibmc.ClientError):
            pass
        return None

    return op, c


def run_writers(writers, seconds):
    for w in writers:
        w.start()
    time.sleep(seconds)
    for w in writers:
        w.stop()
    errors = [(w.name, w.errors) for w in writers if w.errors]
    idle = [w.name for w in writers if w.ops < 20]
    assert not idle, "writers that hardly wrote: %s" % idle
    return errors


def writers_for(nodes, protocols):
    writers, closers = [], []
    for node in nodes:
        for proto in protocols:
            tag = "%s%d" % (proto, node.node_id)
            seed = zlib.crc32(tag.encode())
            if proto == "text":
                op, c = text_ops(node, tag, seed)
                closers.append(c.close)
            elif proto == "meta":
                op = meta_ops(tag, seed)
            else:
                op, c = binary_ops(node, tag, seed)
                closers.append(c.disconnect_all)
            w = Writer(node, op)
            w.name = tag
            writers.append(w)
    return writers, closers


@pytest.mark.time_limit(60)
def test_text_and_meta_clients_on_every_node_converge(make_cluster):
    nodes = make_cluster(3)
    writers, closers = writers_for(nodes, ["text", "meta"])
    try:
        errors = run_writers(writers, WRITE_SECONDS)
    finally:
        for close in closers:
            close()
    assert not errors, errors
    snap = wait_converged(nodes, timeout=20)
    assert len(snap) > 100
    assert any(k.startswith("shared:") for k in snap)


@pytest.mark.time_limit(60)
def test_text_meta_and_binary_clients_on_every_node_converge(make_cluster):
    nodes = make_cluster(3)
    probe = pylibmc.Client([nodes[0].addr()], binary=True)
    try:
        probe.set("binary-probe", "1")
        works = probe.get("binary-probe") == "1"
    except pylibmc.Error:
        works = False
    finally:
        probe.disconnect_all()
    if not works:
        pytest.xfail("binary protocol not working yet (pylibmc binary=True set/get failed)")
    writers, closers = writers_for(nodes, ["text", "meta", "binary"])
    try:
        errors = run_writers(writers, WRITE_SECONDS)
    finally:
        for close in closers:
            close()
    assert not errors, errors
    snap = wait_converged(nodes, timeout=20)
    assert any(k.startswith("binary") for k in snap)


@pytest.mark.time_limit(60)
def test_unique_acknowledged_writes_all_arrive(make_cluster):
    """Each node's client writes its own keys (pipelined sets, acknowledged):
    every acknowledged value is on every node afterwards."""
    nodes = make_cluster(3)

    def op_for(node):
        def op(c, i):
            key = "n%d:%d" % (node.node_id, i % 500)
            value = b"%d-%d" % (node.node_id, i)
            assert c.store("set", key, value, flags=i) == b"STORED\r\n"
            return key, (value, i)
        return op

    writers = [Writer(n, op_for(n)) for n in nodes]
    assert not run_writers(writers, WRITE_SECONDS)
    snap = wait_converged(nodes, timeout=20)
    for w in writers:
        assert w.count > 50
        for key, (value, flags) in w.acked.items():
            assert key in snap, key
            assert snap[key][:2] == (value, flags), (key, snap[key])


@pytest.mark.time_limit(45)
def test_same_keys_written_concurrently_on_two_nodes_end_equal(make_cluster):
    """Last writer wins: two nodes overwrite the same 20 keys as fast as they
    can; every node ends with the same value (and version) for each key, and
    that value is one of the values written."""
    nodes = make_cluster(3)
    keys = ["hot%d" % i for i in range(20)]
    written = {k: set() for k in keys}
    lock = threading.Lock()

    def op_for(node):
        def op(c, i):
            key = keys[i % len(keys)]
            value = b"n%d-%d" % (node.node_id, i)
            with lock:
                written[key].add(value)
            assert c.store("set", key, value) == b"STORED\r\n"
            return key, value
        return op

    writers = [Writer(n, op_for(n)) for n in nodes[:2]]
    assert not run_writers(writers, 1.5)
    snap = wait_converged(nodes, timeout=15)
    for key in keys:
        assert snap[key][0] in written[key]
    origins = {snap[k][4].split(".")[1] for k in keys}
    # Which node wins a key depends on timing; usually both win some.
    assert origins <= {"1", "2"}
