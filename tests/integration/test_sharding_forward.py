"""Any node serves any key (issue 19, docs/SHARDING.md): 4 nodes, --replication-factor 2.

Random keys are written and read through random nodes, owners or not, in text
(pymemcache), meta and binary; read-modify-writes run on the first live owner, so
`add` grants once and `incr` is exact whichever nodes the clients use; a multi-get
through a non-owner keeps the client's key order; with one owner of a key killed,
the other serves it through every node; with both killed, the reply is
SERVER_ERROR (binary: temporary failure) within a bounded time, never a hang.

Every key written through any node ends on exactly its owners.
"""

import random
import struct
import threading
import time

import pytest

import harness
import sharding
from cluster import HOST, make_cluster  # noqa: F401 (fixture)

pymemcache = pytest.importorskip("pymemcache")
from pymemcache.client.base import Client as PyClient  # noqa: E402

pytestmark = [pytest.mark.syncached_only, pytest.mark.time_limit(120)]

R = 2
HEADER = struct.Struct(">BBHBBHIIQ")
GET, SET, ADD, INCR, NOOP, GETKQ, SETQ = 0x00, 0x01, 0x02, 0x05, 0x0A, 0x0D, 0x11
TMPFAIL = 0x86


def start_sharded(make_cluster, n=4, r=R, extra=()):  # noqa: F811
    nodes = make_cluster(n, start=False)
    nodes.members = sharding.shard(nodes, r, extra=extra)
    return nodes.start()


def owners(nodes, keys):
    """key -> [node ids] in failover order, from syncached-tool (the clients' ring)."""
    return sharding.owners(nodes.members, keys, R)


def node_by_id(nodes, node_id):
    return next(n for n in nodes if n.node_id == node_id)


def non_owner(nodes, own):
    return next(n for n in nodes if n.node_id not in own)


def packet(op, key=b"", extras=b"", value=b"", cas=0, opaque=0):
    return HEADER.pack(0x80, op, len(key), len(extras), 0, 0,
                       len(extras) + len(key) + len(value), opaque, cas) + extras + key + value


class Bin:
    def __init__(self, node):
        self.c = node.client()

    def read(self):
        head = self.c.read_exact(24)
        f = HEADER.unpack(head)
        body = self.c.read_exact(f[6])
        extlen, keylen = f[3], f[2]
        return {"op": f[1], "status": f[5], "opaque": f[7], "key": body[extlen:extlen + keylen],
                "value": body[extlen + keylen:]}

    def until_noop(self, data, opaque=0xABCD):
        self.c.send(data + packet(NOOP, opaque=opaque))
        out = []
        while True:
            r = self.read()
            if r["op"] == NOOP and r["opaque"] == opaque:
                return out
            out.append(r)


def meta(node, request, terminator=b"MN\r\n"):
    with node.client() as c:
        return c.call(request + b"mn\r\n", terminator)


def py(node):
    return PyClient((HOST, node.port), connect_timeout=5, timeout=5, default_noreply=False)


def test_random_keys_through_random_nodes_every_protocol(make_cluster):  # noqa: F811
    nodes = start_sharded(make_cluster)
    rnd = random.Random(19)
    keys = ["fw:%d:%s" % (i, rnd.randrange(10**9)) for i in range(150)]
    want = {}
    for i, key in enumerate(keys):
        value = ("v%d-" % i + "x" * rnd.randrange(0, 300)).encode()
        node = rnd.choice(nodes)
        proto = i % 3
        if proto == 0:
            assert py(node).set(key, value, noreply=False) is True
        elif proto == 1:
            assert meta(node, b"ms %s %d T0\r\n%s\r\n" % (key.encode(), len(value), value)) == \
                b"HD\r\nMN\r\n"
        else:
            b = Bin(node)
            r = b.until_noop(packet(SET, key.encode(), struct.pack(">II", 7, 0), value, opaque=5))
            assert [(x["op"], x["status"], x["opaque"]) for x in r] == [(SET, 0, 5)]
        want[key] = value
    for i, key in enumerate(keys):
        node = rnd.choice(nodes)
        # A write ran on one owner; the other gets it by replication, soon.
        assert harness.wait_for(lambda: py(node).get(key) == want[key], timeout=5)
        got = meta(node, b"mg %s v k Oq1\r\n" % key.encode())
        value = want[key]
        assert got == b"VA %d k%s Oq1\r\n%s\r\nMN\r\n" % (len(value), key.encode(), value)
        r = Bin(node).until_noop(packet(GETKQ, key.encode(), opaque=9))
        assert [(x["op"], x["status"], x["key"], x["value"], x["opaque"]) for x in r] == \
            [(GETKQ, 0, key.encode(), value, 9)]
    # The nodes forwarded (a non-owner cannot have served any of these itself).
    forwarded = 0
    for node in nodes:
        with node.client() as c:
            st = c.stats("cluster")
        assert st["ring"] == "ketama" and st["replication_factor"] == "2"
        assert st["members"] == "4" and 0.2 < float(st["owned_share"]) < 0.8
        forwarded += int(st["forwarded"])
    assert forwarded > 100
    # Forwarded writes landed on owners only: each node's own store (metadump reads it
    # without forwarding) holds exactly the keys it owns.
    own = owners(nodes, keys)
    for node in nodes:
        mine = {k for k in keys if node.node_id in own[k]}
        assert harness.wait_for(
            lambda: {k for k in node.metadump() if k.startswith("fw:")} == mine), node


def test_quiet_noreply_and_multiget_order_through_a_non_owner(make_cluster):  # noqa: F811
    nodes = start_sharded(make_cluster)
    keys = ["order:%d" % i for i in range(40)]
    own = owners(nodes, keys)
    via = nodes[0]
    foreign = [k for k in keys if via.node_id not in own[k]]
    assert len(foreign) > 5
    with via.client() as c:
        for k in keys[::2]:
            c.send(b"set %s 3 0 %d noreply\r\n%s\r\n" % (k.encode(), len(k), k.encode()))
        raw = c.call(b"get %s\r\n" % " ".join(reversed(keys)).encode(), b"END\r\n")
    expect = b"".join(b"VALUE %s 3 %d\r\n%s\r\n" % (k.encode(), len(k), k.encode())
                      for k in reversed(keys) if keys.index(k) % 2 == 0)
    assert raw == expect + b"END\r\n"
    k = foreign[0]
    missing = next(m for m in foreign if keys.index(m) % 2 == 1 and m != k)
    assert meta(via, b"ms %s 1 q O1\r\nz\r\nmg %s v q O2\r\nmg %s v q k O3\r\n" % (
        k.encode(), missing.encode(), k.encode())) == b"VA 1 k%s O3\r\nz\r\nMN\r\n" % k.encode()
    b = Bin(via)
    r = b.until_noop(packet(SETQ, missing.encode(), struct.pack(">II", 0, 0), b"q", opaque=1) +
                     packet(GETKQ, b"nope:" + missing.encode(), opaque=2) +
                     packet(GETKQ, missing.encode(), opaque=3))
    assert [(x["op"], x["status"], x["opaque"], x["value"]) for x in r] == \
        [(GETKQ, 0, 3, b"q")]


def test_add_grants_once_and_incr_is_exact(make_cluster):  # noqa: F811
    nodes = start_sharded(make_cluster)
    grants = {}

    def add_all(node, key, barrier, results):
        with node.client() as c:
            barrier.wait(5)
            results.append(c.call(b"add %s 0 0 1\r\n%d\r\n" % (key.encode(), node.node_id)))

    for i in range(20):
        key = "lock:%d" % i
        barrier, results = threading.Barrier(len(nodes)), []
        threads = [threading.Thread(target=add_all, args=(n, key, barrier, results))
                   for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        grants[key] = results
        assert sorted(results) == [b"NOT_STORED\r\n"] * 3 + [b"STORED\r\n"], (key, results)

    key = "counter"
    own = owners(nodes, [key])[key]
    # Through a co-owner: it runs on the first owner like the incrs, so they count
    # from it at once (no wait for replication).
    co_owner = node_by_id(nodes, own[1])
    assert py(co_owner).set(key, b"0", noreply=False)
    replies = []

    def incr(node):
        with node.client() as c:
            for _ in range(50):
                replies.append(int(c.call(b"incr %s 1\r\n" % key.encode())))

    threads = [threading.Thread(target=incr, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(replies) == list(range(1, 201))
    for node in nodes:  # owners and non-owners alike, once replication caught up
        assert harness.wait_for(lambda: py(node).get(key) == b"200", timeout=5)


def test_owner_down_other_owner_serves_then_server_error(make_cluster):  # noqa: F811
    nodes = start_sharded(make_cluster)
    keys = ["down:%d" % i for i in range(200)]
    own = owners(nodes, keys)
    victim = nodes[1]
    hit = [k for k in keys if victim.node_id in own[k]]
    assert len(hit) > 20
    for k in hit:
        assert py(nodes[0]).set(k, k.encode(), noreply=False)
    # Both owners hold every key before one dies.
    for k in hit:
        for o in own[k]:
            assert harness.wait_for(
                lambda: sharding.held(node_by_id(nodes, o), k) == k.encode(), timeout=5)
    victim.kill()
    rnd = random.Random(5)
    live = [n for n in nodes if n is not victim]
    for k in hit:
        node = rnd.choice(live)
        assert py(node).get(k) == k.encode(), (k, own[k], node)
        with node.client() as c:
            assert c.call(b"add %s 0 0 1\r\nx\r\n" % k.encode()) == b"NOT_STORED\r\n"
            assert c.call(b"append %s 0 0 1\r\n+\r\n" % k.encode()) == b"STORED\r\n"
    # Both owners of these keys gone: every node answers SERVER_ERROR, quickly.
    second = node_by_id(nodes, next(o for o in own[hit[0]] if o != victim.node_id))
    second.kill()
    lost = [k for k in hit if second.node_id in own[k]]
    for node in nodes:
        if not node.alive():
            continue
        for k in lost[:3]:
            start = time.monotonic()
            with node.client() as c:
                assert c.call(b"get %s\r\n" % k.encode()) == b"SERVER_ERROR forwarding failed\r\n"
                assert c.call(b"mg %s v q\r\nmn\r\n" % k.encode(), b"MN\r\n") == \
                    b"SERVER_ERROR forwarding failed\r\nMN\r\n"
            r = Bin(node).until_noop(packet(GET, k.encode(), opaque=4))
            assert [(x["op"], x["status"], x["opaque"]) for x in r] == [(GET, TMPFAIL, 4)]
            assert time.monotonic() - start < 3.0
        with node.client() as c:
            st = c.stats("cluster")
        assert int(st["forward_unavailable"]) > 0


def test_crossing_forwards_do_not_wait_on_each_other(make_cluster):  # noqa: F811
    """Clients on every node at once, each key owned elsewhere half the time: nodes
    forward to each other concurrently. A worker waiting on another node while that
    node's worker waits on it would stall both until the timeout (SERVER_ERROR and a
    node marked down); forwards run off the workers, so none may fail."""
    nodes = start_sharded(make_cluster)
    keys = ["cross:%d" % i for i in range(300)]
    failures = []

    def client(node, seed):
        rnd = random.Random(seed)
        with node.client() as c:
            for i in range(300):
                k = rnd.choice(keys).encode()
                if rnd.random() < 0.5:
                    r = c.call(b"set %s 0 0 2\r\nab\r\n" % k)
                    if r != b"STORED\r\n":
                        failures.append((node.node_id, r))
                else:
                    r = c.call(b"get %s %s\r\n" % (k, rnd.choice(keys).encode()), b"END\r\n")
                    if b"SERVER_ERROR" in r:
                        failures.append((node.node_id, r))

    threads = [threading.Thread(target=client, args=(n, 10 * n.node_id + j))
               for n in nodes for j in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures[:5]
    for node in nodes:
        with node.client() as c:
            assert c.stats("cluster")["forward_errors"] == "0", node
    assert time.monotonic() - start < 30


def test_forwarded_writes_with_sync_replicas(make_cluster):  # noqa: F811
    """--sync-replicas 1: an owner holds a forwarded write's reply until its co-owner
    has it, and a connection held for a forward is not released early by that wait:
    pipelined writes through non-owners all succeed, in order, and are on both owners
    once acknowledged."""
    nodes = start_sharded(make_cluster, extra=["--sync-replicas", "1"])
    keys = ["sync:%d" % i for i in range(60)]
    own = owners(nodes, keys)
    for node in nodes:
        mine = [k for k in keys if node.node_id not in own[k]][:10]
        with node.client() as c:
            c.send(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(k), k.encode())
                            for k in mine) + b"mn\r\n")
            assert c.read_until(b"MN\r\n") == b"STORED\r\n" * len(mine) + b"MN\r\n"
        for k in mine:  # acknowledged: both owners hold it
            for o in own[k]:
                assert sharding.held(node_by_id(nodes, o), k) == k.encode(), (k, o)


def test_pipelined_requests_through_a_non_owner_keep_order(make_cluster):  # noqa: F811
    """One write of 300 requests for keys here and elsewhere (set, get, incr, delete,
    meta): each relayed one waits for its owner while the connection is held, so the
    replies come back in request order, each what memcached would answer."""
    nodes = start_sharded(make_cluster)
    via = nodes[0]
    rnd = random.Random(11)
    keys = ["pipe:%d" % i for i in range(30)]
    assert any(via.node_id not in o for o in owners(nodes, keys).values())
    model, requests, expect = {}, [], []
    for i in range(300):
        k = rnd.choice(keys)
        op = rnd.choice(["set", "get", "incr", "delete", "mg"])
        if op == "set":
            v = str(rnd.randrange(1000))
            requests.append(b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(v), v.encode()))
            expect.append(b"STORED\r\n")
            model[k] = v
        elif op == "get":
            requests.append(b"get %s\r\n" % k.encode())
            expect.append((b"VALUE %s 0 %d\r\n%s\r\n" % (k.encode(), len(model[k]),
                                                         model[k].encode()) if k in model
                           else b"") + b"END\r\n")
        elif op == "incr":
            requests.append(b"incr %s 3\r\n" % k.encode())
            if k in model:
                model[k] = str(int(model[k]) + 3)
                expect.append(model[k].encode() + b"\r\n")
            else:
                expect.append(b"NOT_FOUND\r\n")
        elif op == "delete":
            requests.append(b"delete %s\r\n" % k.encode())
            expect.append(b"DELETED\r\n" if model.pop(k, None) is not None else b"NOT_FOUND\r\n")
        else:
            requests.append(b"mg %s v k O%d\r\n" % (k.encode(), i))
            expect.append(b"VA %d k%s O%d\r\n%s\r\n" % (len(model[k]), k.encode(), i,
                                                        model[k].encode())
                          if k in model else b"EN k%s O%d\r\n" % (k.encode(), i))
    with via.client() as c:
        c.send(b"".join(requests) + b"mn\r\n")
        assert c.read_until(b"MN\r\n", timeout=30) == b"".join(expect) + b"MN\r\n"


def test_stalled_owner_costs_a_bounded_wait_then_the_other_owner_serves(make_cluster):  # noqa: F811
    """An owner that takes connections but never answers (SIGSTOP): requests relayed
    to it are answered SERVER_ERROR once the hold runs out (about a second), the node
    is skipped, and the key's other owner serves it; nothing hangs."""
    nodes = start_sharded(make_cluster)
    keys = ["stall:%d" % i for i in range(200)]
    own = owners(nodes, keys)
    victim = nodes[1]
    first = [k for k in keys if own[k][0] == victim.node_id]
    via = next(n for n in nodes if n is not victim and
               sum(n.node_id not in own[k] for k in first) >= 3)
    mine = [k for k in first if via.node_id not in own[k]][:3]
    for k in mine:
        assert py(via).set(k, k.encode(), noreply=False)
        for o in own[k]:
            assert harness.wait_for(
                lambda: sharding.held(node_by_id(nodes, o), k) == k.encode(), timeout=5)
    victim.pause()
    try:
        replies = []

        def get(k):
            with via.client() as c:
                start = time.monotonic()
                replies.append((c.call(b"get %s\r\n" % k.encode(), b"\r\n", timeout=10),
                                time.monotonic() - start))

        threads = [threading.Thread(target=get, args=(k,)) for k in mine]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        assert len(replies) == len(mine)
        for line, took in replies:
            assert line in (b"SERVER_ERROR forwarding failed\r\n",) or line.startswith(b"VALUE")
            assert took < 5, took
        assert any(line.startswith(b"SERVER_ERROR") for line, _ in replies)
        # Marked down: the co-owner answers at once.
        for k in mine:
            start = time.monotonic()
            assert py(via).get(k) == k.encode()
            assert time.monotonic() - start < 0.5
    finally:
        victim.resume()
    with via.client() as c:
        assert int(c.stats("cluster")["forward_errors"]) >= 1
    for k in mine:  # back: served again, whoever answers
        assert harness.wait_for(lambda: py(via).get(k) == k.encode(), timeout=10)


def test_a_client_gone_while_its_request_waits_disturbs_no_one(make_cluster):  # noqa: F811
    """A client that closes while its relayed request waits: the owner's reply for it
    is dropped, and the next client on the same relay connection gets its own reply,
    not the dead client's."""
    nodes = start_sharded(make_cluster, extra=["-t", "1"])  # one worker: one relay link
    keys = ["gone:%d" % i for i in range(100)]
    own = owners(nodes, keys)
    via = nodes[0]
    far = [k for k in keys if via.node_id not in own[k]]
    target = own[far[0]][0]
    a, b = [k for k in far if own[k][0] == target][:2]
    assert py(via).set(a, b"AAAA", noreply=False) and py(via).set(b, b"BB", noreply=False)
    owner = node_by_id(nodes, target)
    owner.pause()
    try:
        gone = via.client()
        gone.send(b"get %s\r\n" % a.encode())
        time.sleep(0.1)
        gone.close()
        stays = via.client()
        stays.send(b"get %s\r\n" % b.encode())
        time.sleep(0.1)
    finally:
        owner.resume()
    assert stays.read_until(b"END\r\n", timeout=5) == b"VALUE %s 0 2\r\nBB\r\nEND\r\n" % b.encode()
    stays.close()


def test_a_reply_too_large_to_gather_is_refused_alone(make_cluster):  # noqa: F811
    """A get through a non-owner is gathered whole before it is passed on, up to
    32 MiB: past that the client gets memcached's out of memory reply (and the
    forwarding node does not hold the rest); the owner is not marked down, and a get
    just under the limit, and the next requests, are answered."""
    nodes = start_sharded(make_cluster, extra=["-t", "1", "-m", "256"])
    keys = ["big:%d" % i for i in range(2000)]
    own = owners(nodes, keys)
    via = nodes[0]
    first = next(k for k in keys if via.node_id not in own[k])
    group = [k for k in keys if own[k] == own[first]][:80]  # one owner list: relayed
    assert len(group) == 80
    value = b"v" * (512 * 1024)
    with node_by_id(nodes, own[first][0]).client() as c:
        for k in group:
            assert c.call(b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(value), value)) == \
                b"STORED\r\n"
    # 80 x 512 KiB = 40 MiB: refused; and a split get (this node's own keys too).
    mine = next(k for k in keys if via.node_id in own[k])
    for ks in (group, [mine] + group):
        with via.client(timeout=30) as c:
            reply = c.call(b"get %s\r\n" % " ".join(ks).encode(), timeout=30)
        assert reply == b"SERVER_ERROR out of memory writing get response\r\n", reply[:80]
    # 40 x 512 KiB = 20 MiB: every value, in order.
    with via.client(timeout=30) as c:
        raw = c.call(b"get %s\r\n" % " ".join(group[:40]).encode(), b"END\r\n", timeout=30)
    assert raw.count(b"VALUE ") == 40 and len(raw) > 40 * len(value), len(raw)
    with via.client() as c:
        assert c.stats("cluster")["forward_errors"] == "0"
        assert c.call(b"get %s\r\n" % first.encode(), b"END\r\n").startswith(b"VALUE ")
