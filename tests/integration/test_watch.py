"""memcached's `watch` command (doc/protocol.txt "Watchers"): log streams of
fetchers, mutations, evictions, connection events and deletions. Line formats
were recorded from Debian's memcached 1.6.18; `deletions` arrived in memcached
1.6.20, so its test is syncached-only. ts, gid, cfd, clsid and rport differ
between runs and engines: they are checked by shape, gid by order."""

import re
import time

import pytest

import harness
from cluster import make_cluster  # noqa: F401 (fixture)

TS_GID = rb"ts=\d+\.\d+ gid=(\d+) "


def start_watcher(srv, kinds=b""):
    w = srv.connect()
    w.send(b"watch" + (b" " + kinds if kinds else b"") + b"\r\n")
    assert w.readline() == b"OK\r\n"
    return w


def lines(w, n, timeout=5.0):
    """The next n log lines of watcher w (each read has a deadline)."""
    return [w.read_until(b"\n", timeout=timeout) for _ in range(n)]


def fields(line):
    """'ts=.. gid=.. type=x key=y ...\\n' -> dict of its key=value pairs."""
    return dict(tok.split(b"=", 1) for tok in line.rstrip(b"\n").split(b" "))


def expect(line, pattern):
    assert re.fullmatch(TS_GID + pattern + rb"\n", line), line


def gid(line):
    return int(fields(line)[b"gid"])


def test_default_watch_is_fetchers(shared_server, client):
    w = start_watcher(shared_server)
    assert client.call(b"set k1 0 0 3\r\nabc\r\n") == b"STORED\r\n"
    assert client.exchange(b"get k1 nope\r\n") == b"VALUE k1 0 3\r\nabc\r\nEND\r\n"
    got = lines(w, 3)
    # A set looks the key up first (items.c do_item_get): one item_get, no item_store.
    expect(got[0], rb"type=item_get key=k1 status=not_found clsid=0 cfd=\d+ size=0")
    expect(got[1], rb"type=item_get key=k1 status=found clsid=\d+ cfd=\d+ size=3")
    expect(got[2], rb"type=item_get key=nope status=not_found clsid=0 cfd=\d+ size=0")
    assert gid(got[0]) < gid(got[1]) < gid(got[2])
    assert fields(got[0])[b"cfd"] == fields(got[1])[b"cfd"]
    assert w.read_available(0.2) == b""


def test_mutation_lines(shared_server, client):
    w = start_watcher(shared_server, b"mutations")
    for req, reply in [(b"set m 5 100 3\r\nbar\r\n", b"STORED\r\n"),
                       (b"add m 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
                       (b"append m 0 0 2\r\nzz\r\n", b"STORED\r\n"),
                       (b"cas m 0 0 1 99999999\r\nq\r\n", b"EXISTS\r\n"),
                       (b"replace nokey 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
                       (b"cas nokey 0 0 1 1\r\nx\r\n", b"NOT_FOUND\r\n"),
                       (b"prepend m 0 0 1\r\n_\r\n", b"STORED\r\n"),
                       (b"incr m 1\r\n", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
                       (b"touch m 10\r\n", b"TOUCHED\r\n"),
                       (b"ms mm 2 T0\r\nhi\r\n", b"HD\r\n")]:
        assert client.call(req) == reply
    got = lines(w, 8)
    shapes = [rb"key=m status=stored cmd=set ttl=(\d+) clsid=\d+ cfd=\d+ size=3",
              rb"key=m status=not_stored cmd=add ttl=0 clsid=\d+ cfd=\d+ size=1",
              rb"key=m status=stored cmd=append ttl=(\d+) clsid=\d+ cfd=\d+ size=5",
              rb"key=m status=exists cmd=cas ttl=0 clsid=\d+ cfd=\d+ size=1",
              rb"key=nokey status=not_stored cmd=replace ttl=0 clsid=\d+ cfd=\d+ size=1",
              rb"key=nokey status=not_found cmd=cas ttl=0 clsid=\d+ cfd=\d+ size=1",
              rb"key=m status=stored cmd=prepend ttl=(\d+) clsid=\d+ cfd=\d+ size=6",
              rb"key=mm status=stored cmd=set ttl=0 clsid=\d+ cfd=\d+ size=2"]
    for line, shape in zip(got, shapes):
        expect(line, rb"type=item_store " + shape)
        ttl = int(fields(line)[b"ttl"])
        assert ttl == 0 or 97 <= ttl <= 100, line
    # incr and touch log only their lookups, which this watcher does not want.
    assert w.read_available(0.2) == b""


def test_every_lookup_is_a_fetch(shared_server, client):
    assert client.call(b"set n 0 0 1\r\n5\r\n") == b"STORED\r\n"
    w = start_watcher(shared_server, b"fetchers")
    for req, reply in [(b"incr n 3\r\n", b"8\r\n"), (b"touch n 100\r\n", b"TOUCHED\r\n"),
                       (b"gat 100 n\r\n", b"VALUE n 0 1\r\n8\r\nEND\r\n"),
                       (b"mg n v\r\n", b"VA 1\r\n8\r\n"), (b"delete n\r\n", b"DELETED\r\n"),
                       (b"delete n\r\n", b"NOT_FOUND\r\n"), (b"mg n v\r\n", b"EN\r\n")]:
        assert client.exchange(req) == reply
    got = lines(w, 7)
    for line in got[:5]:
        expect(line, rb"type=item_get key=n status=found clsid=\d+ cfd=\d+ size=1")
    for line in got[5:]:
        expect(line, rb"type=item_get key=n status=not_found clsid=0 cfd=\d+ size=0")


def test_keys_are_uri_encoded(shared_server, client):
    w = start_watcher(shared_server, b"mutations")
    key = b"a,b%\x01~-._Z9"
    assert client.call(b"set " + key + b" 0 0 1\r\nx\r\n") == b"STORED\r\n"
    long_key = b"#" * 250
    assert client.call(b"set " + long_key + b" 0 0 9\r\nmemcached\r\n") == b"STORED\r\n"
    got = lines(w, 2)
    assert fields(got[0])[b"key"] == b"a%2Cb%25%01~-._Z9"
    assert fields(got[1])[b"key"] == b"%23" * 250  # t/watcher.t: 750 bytes


def test_conn_events(server):
    w = start_watcher(server, b"connevents")
    c = server.connect()
    local = c.sock.getsockname()
    assert c.call(b"version\r\n").startswith(b"VERSION ")
    c.send(b"quit\r\n")
    assert c.is_closed()
    opened, closed = lines(w, 2)
    expect(opened, rb"type=conn_new rip=127\.0\.0\.1 rport=%d transport=tcp cfd=\d+" % local[1])
    expect(closed, rb"type=conn_close rip=127\.0\.0\.1 rport=%d transport=tcp reason=normal "
                   rb"cfd=\d+" % local[1])
    assert fields(opened)[b"cfd"] == fields(closed)[b"cfd"]
    # A protocol error closes with reason=error (t/watcher.t); a peer that hangs up is normal.
    c = server.connect()
    c.send(b"GET / HTTP/1.1\r\n")
    assert c.is_closed()
    c = server.connect()
    c.close()
    got = lines(w, 4)
    expect(got[1], rb"type=conn_close rip=127\.0\.0\.1 rport=\d+ transport=tcp reason=error cfd=\d+")
    expect(got[3], rb"type=conn_close rip=127\.0\.0\.1 rport=\d+ transport=tcp reason=normal cfd=\d+")


@pytest.mark.time_limit(120)
def test_evictions(start_server):
    srv = start_server("-m", "8")
    c = srv.connect()
    w = start_watcher(srv, b"evictions")
    value = b"v" * 10000
    c.send(b"".join(b"set ev%d 0 0 %d noreply\r\n%s\r\n" % (i, len(value), value)
                    for i in range(2000)))
    assert c.call(b"version\r\n").startswith(b"VERSION")
    line = w.read_until(b"\n", timeout=10)
    expect(line, rb"type=eviction key=ev\d+ fetch=no ttl=-1 la=\d+ clsid=\d+ size=10000")


@pytest.mark.syncached_only  # memcached 1.6.20 added deletions; Debian has 1.6.18
def test_deletions(shared_server, client):
    w = start_watcher(shared_server, b"deletions")
    assert client.call(b"set d 0 0 4\r\nvbar\r\n") == b"STORED\r\n"
    assert client.call(b"md missing\r\n") == b"NF\r\n"
    assert client.call(b"delete d\r\n") == b"DELETED\r\n"
    expect(w.read_until(b"\n"), rb"type=deleted key=d cmd=delete clsid=\d+ size=4")
    assert client.call(b"set d 0 0 4\r\nvbar\r\n") == b"STORED\r\n"
    assert client.call(b"md d I\r\n") == b"HD\r\n"  # marked stale: not a deletion
    assert client.call(b"md d\r\n") == b"HD\r\n"
    expect(w.read_until(b"\n"), rb"type=deleted key=d cmd=md clsid=\d+ size=4")
    assert w.read_available(0.2) == b""


def test_refusals(start_server, shared_server):
    c = shared_server.connect()
    assert c.call(b"watch bogus\r\n") == b"ERROR\r\n"
    assert c.call(b"version\r\n").startswith(b"VERSION")  # still a normal connection
    c.send(b"version\r\nwatch\r\n")
    assert c.readline().startswith(b"VERSION")
    assert c.readline() == b"ERROR cannot pipeline other commands before watch\r\n"
    # After a get memcached lets it through.
    c.send(b"get a b\r\nwatch\r\n")
    assert c.read_until(b"OK\r\n") == b"END\r\nOK\r\n"
    srv = start_server("-W")
    assert srv.connect().call(b"watch\r\n") == b"CLIENT_ERROR watch commands not allowed\r\n"


def test_watcher_ignores_its_input(shared_server, client):
    w = start_watcher(shared_server)
    w.send(b"get foo\r\nversion\r\n")
    assert w.read_available(0.3) == b""
    assert client.exchange(b"get wi\r\n") == b"END\r\n"
    expect(w.read_until(b"\n"), rb"type=item_get key=wi status=not_found clsid=0 cfd=\d+ size=0")


def test_many_watchers_across_workers(start_server):
    srv = start_server("-t", "4")
    fetchers = [start_watcher(srv, b"fetchers") for _ in range(6)]
    mutations = [start_watcher(srv, b"mutations") for _ in range(6)]
    both = start_watcher(srv, b"fetchers mutations")
    clients = [srv.connect() for _ in range(4)]
    for i in range(50):
        c = clients[i % 4]
        assert c.call(b"set mw%d 0 0 1\r\nx\r\n" % i) == b"STORED\r\n"
    for w in fetchers + mutations:
        got = lines(w, 50)
        kind = b"item_get" if w in fetchers else b"item_store"
        assert all(fields(line)[b"type"] == kind for line in got)
        assert sorted(fields(line)[b"key"] for line in got) == sorted(b"mw%d" % i for i in range(50))
    got = lines(both, 100)
    # One client's requests are answered in order, so its lines come in gid order.
    per_cfd = {}
    for line in got:
        per_cfd.setdefault(fields(line)[b"cfd"], []).append(gid(line))
    assert all(g == sorted(g) for g in per_cfd.values())
    # Watchers that go away, and a stop while others still watch (clean exit checked
    # at teardown).
    for w in fetchers[:3]:
        w.close()
    assert clients[0].call(b"set after 0 0 1\r\nx\r\n") == b"STORED\r\n"
    expect(fetchers[3].read_until(b"\n"),
           rb"type=item_get key=after status=not_found clsid=0 cfd=\d+ size=0")


def test_watcher_limit_and_stats(start_server):
    srv = start_server()
    c = srv.connect()
    watchers = [start_watcher(srv) for _ in range(20)]
    w = srv.connect()
    assert w.call(b"watch\r\n") == b"WATCHER_TOO_MANY log watcher limit reached\r\n"
    assert c.stats()["log_watchers"] == "20"
    for x in watchers:
        x.close()
    assert harness.wait_for(lambda: c.stats()["log_watchers"] == "0")
    again = start_watcher(srv)  # noqa: F841 (kept open)
    assert harness.wait_for(lambda: c.stats()["log_watchers"] == "1")


@pytest.mark.time_limit(120)
def test_slow_watcher_skips_lines_and_never_slows_clients(start_server):
    srv = start_server("-o", "watcher_logbuf_size=8")
    w = srv.connect()
    w.send(b"watch fetchers\r\n")
    assert w.readline() == b"OK\r\n"
    c = srv.connect()
    spacer = b"X" * 180
    # The watcher reads nothing meanwhile: every request must still be answered (each
    # read of the client has a deadline), in pipelined batches to go fast.
    for batch in range(40):
        c.send(b"".join(b"get s%d%s\r\n" % (batch * 500 + i, spacer) for i in range(500)))
        for _ in range(500):
            assert c.readline() == b"END\r\n"
    stats = c.stats()
    assert int(stats["log_watcher_skipped"]) > 0
    # Now drain: somewhere a "skipped=N" notice, then real lines again.
    deadline = time.monotonic() + 30
    skipped = None
    while skipped is None and time.monotonic() < deadline:
        assert c.exchange(b"get poke\r\n") == b"END\r\n"  # frees room, makes new lines
        for line in w.read_available(0.05).split(b"\n"):
            if line.startswith(b"skipped="):
                skipped = int(line[len(b"skipped="):])
    assert skipped and skipped > 0
    # Lines are kept again once the watcher caught up: keep asking until one shows.
    deadline = time.monotonic() + 30
    seen = b""
    while b"key=last " not in seen and time.monotonic() < deadline:
        assert c.exchange(b"get last\r\n") == b"END\r\n"
        seen += w.read_available(0.05)
    assert re.search(TS_GID + rb"type=item_get key=last status=not_found", seen)


def test_stop_with_watchers_attached(start_server):
    srv = start_server()
    watchers = [start_watcher(srv, b"fetchers mutations connevents evictions") for _ in range(3)]
    c = srv.connect()
    for i in range(100):
        c.send(b"set st%d 0 0 1 noreply\r\nx\r\n" % i)
    assert c.call(b"version\r\n").startswith(b"VERSION")
    assert srv.stop() == 0
    for w in watchers:
        w.read_available(0.5)
        assert w.is_closed()


@pytest.mark.syncached_only  # memcached has no replication
def test_replicated_changes_are_not_mutations(make_cluster):
    """A peer's change applied here is not a command of this node: mutations show
    only what this node's clients did (README, "watch")."""
    a, b = make_cluster(2)
    w = b.client()
    w.send(b"watch mutations deletions\r\n")
    assert w.readline() == b"OK\r\n"
    ca, cb = a.client(), b.client()
    assert ca.call(b"set fromA 0 0 1\r\nx\r\n") == b"STORED\r\n"
    assert ca.call(b"set gone 0 0 1\r\nx\r\n") == b"STORED\r\n"
    assert ca.call(b"delete gone\r\n") == b"DELETED\r\n"
    assert harness.wait_for(lambda: "fromA" in b.metadump() and "gone" not in b.metadump(),
                            timeout=10)
    assert cb.call(b"set fromB 0 0 1\r\nx\r\n") == b"STORED\r\n"
    expect(w.read_until(b"\n"), rb"type=item_store key=fromB status=stored cmd=set ttl=0 "
                                rb"clsid=\d+ cfd=\d+ size=1")
    assert w.read_available(0.2) == b""
