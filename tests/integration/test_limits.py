"""Memory and connection limits, and abuse the server must survive while it
keeps serving other clients (DESIGN.md §3, §4).

RSS bound: memcached 1.6.18 -m 64 after 200 MB of 10 KB values sits at about
70 MiB; the bound both engines must meet is 1.25 x -m + 16 MiB.
"""

import resource
import socket
import struct
import time

import pytest

import harness

MIB = 1 << 20
VALUE = b"v" * 10240


def rss_bound(megabytes):
    return int(1.25 * megabytes * MIB) + 16 * MIB


def assert_rss_at_most(srv, limit):
    """RSS checks are skipped for sanitizer builds (shadow memory)."""
    if not harness.is_memcached() and harness.sanitized_build():
        return
    assert srv.rss_bytes() <= limit, (srv.rss_bytes(), limit)


def fill(c, count, prefix="key", batch=200):
    """Sets `count` 10 KB values, pipelined; returns {reply: how many}."""
    replies = {}
    for start in range(0, count, batch):
        n = min(batch, count - start)
        c.send(b"".join(b"set %s%d 0 0 %d\r\n%s\r\n" % (prefix.encode(), i, len(VALUE), VALUE)
                        for i in range(start, start + n)))
        for _ in range(n):
            reply = c.readline(timeout=20)
            replies[reply] = replies.get(reply, 0) + 1
    return replies


def assert_serving(srv):
    """A new client can store and read back."""
    with srv.connect() as c:
        assert c.set("probe", "ok") == b"STORED\r\n"
        assert c.value("probe") == b"ok"


@pytest.fixture(scope="module", autouse=True)
def _enough_file_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --- memory --------------------------------------------------------------------------

@pytest.mark.time_limit(120)
def test_200mb_into_64mb_evicts_and_rss_stays_bounded(start_server):
    srv = start_server("-m", "64")
    c = srv.connect()
    count = 200 * MIB // len(VALUE)
    assert fill(c, count) == {b"STORED\r\n": count}
    stats = c.stats()
    assert int(stats["evictions"]) > 0
    assert int(stats["bytes"]) <= 64 * MIB
    assert 0 < int(stats["curr_items"]) < count
    assert int(stats["curr_items"]) + int(stats["evictions"]) == count
    assert int(stats["total_items"]) == count
    assert_rss_at_most(srv, rss_bound(64))
    # Least recently used went first: the newest key is there, the oldest not.
    assert c.value("key%d" % (count - 1)) == VALUE
    assert c.value("key0") is None
    assert_serving(srv)


@pytest.mark.time_limit(120)
def test_M_answers_out_of_memory_when_full(start_server):
    srv = start_server("-m", "64", "-M")
    c = srv.connect()
    count = 100 * MIB // len(VALUE)
    replies = fill(c, count)
    oom = b"SERVER_ERROR out of memory storing object\r\n"
    assert set(replies) == {b"STORED\r\n", oom}, replies
    assert replies[b"STORED\r\n"] * len(VALUE) <= 64 * MIB
    stats = c.stats()
    assert stats["evictions"] == "0"
    assert int(stats["store_no_memory"]) == replies[oom]
    assert int(stats["curr_items"]) == replies[b"STORED\r\n"]
    assert c.value("key0") == VALUE                       # nothing was evicted
    assert c.set("another", VALUE) == oom
    assert_rss_at_most(srv, rss_bound(64))
    # Deleting makes room again.
    for i in range(50):
        c.call(b"delete key%d\r\n" % i)
    assert c.set("another", VALUE) == b"STORED\r\n"


# --- connections ---------------------------------------------------------------------

def test_connection_limit_rejects_with_error_line(start_server):
    """memcached (maxconns_fast): the refused connection gets this one line
    and is closed. memcached counts its own descriptors against -c, so it
    accepts fewer than -c clients (40 of 64 with -t 4)."""
    srv = start_server("-c", "64")
    conns, rejected = [], None
    for _ in range(80):
        c = srv.connect()
        c.send(b"version\r\n")
        line = c.readline()
        if not line.startswith(b"VERSION "):
            rejected = (c, line)
            break
        conns.append(c)
    assert rejected is not None, "no connection refused with -c 64"
    c, line = rejected
    assert line == b"ERROR Too many open connections\r\n"
    assert c.is_closed()
    assert 10 <= len(conns) <= 64
    stats = conns[0].stats()
    assert int(stats["rejected_connections"]) >= 1
    assert stats["max_connections"] == "64"
    for c in conns[1:]:
        c.close()
    assert harness.wait_for(lambda: conns[0].stats()["curr_connections"] == "1")
    assert_serving(srv)


@pytest.mark.time_limit(120)
def test_10k_connections_opened_and_dropped(start_server):
    srv = start_server()
    total, batch = 10000, 250
    linger_rst = struct.pack("ii", 1, 0)
    for start in range(0, total, batch):
        socks = []
        for i in range(batch):
            s = socket.create_connection((srv.host, srv.port), timeout=5)
            kind = (start + i) % 4
            if kind == 1:
                s.sendall(b"get a b c\r\n")
            elif kind == 2:
                s.sendall(b"set half 0 0 100\r\nonly part of the valu")
            elif kind == 3:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_rst)
            socks.append(s)
        for s in socks:
            s.close()
        assert srv.alive()
    assert_serving(srv)
    with srv.connect() as c:
        assert c.value("half") is None
        assert harness.wait_for(lambda: c.stats()["curr_connections"] == "1", timeout=10)
        assert int(c.stats()["total_connections"]) >= total
    assert_rss_at_most(srv, rss_bound(64))


def test_client_that_never_reads_does_not_block_others(start_server):
    srv = start_server()
    with srv.connect() as c:
        assert c.set("big", b"x" * (512 * 1024)) == b"STORED\r\n"
    rss_before = srv.rss_bytes()
    hog = socket.create_connection((srv.host, srv.port))
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.setblocking(False)
    requests = b"get big\r\n" * 1000
    sent, stalled_since = 0, None
    deadline = time.monotonic() + 15
    other = srv.connect()
    try:
        # Keep asking for 512 KB replies until the server stops reading from
        # us (or 64 MB of requests, which would be 3.5 TB of replies).
        while sent < 64 * MIB and time.monotonic() < deadline:
            try:
                sent += hog.send(requests)
                stalled_since = None
            except BlockingIOError:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 1.0:
                    break
                assert other.set("during", "1") == b"STORED\r\n"
                time.sleep(0.01)
        assert stalled_since is not None, "server read %d bytes of requests" % sent
        assert other.value("during") == b"1"
        assert_rss_at_most(srv, rss_before + 64 * MIB)
    finally:
        hog.close()
    assert_serving(srv)


@pytest.mark.time_limit(60)
def test_one_get_of_many_large_values_is_made_as_it_is_sent(start_server):
    """One line asking for 1,500 copies of a 512 KB value (750 MB of replies) from a
    client that does not read: memcached's replies point at the item; ours are copied,
    so they are made only as fast as the client takes them. A client that reads gets
    every value and one END."""
    srv = start_server()
    value = bytes(range(256)) * 2048
    with srv.connect() as c:
        assert c.set("big", value) == b"STORED\r\n"
    rss_before = srv.rss_bytes()
    hog = socket.create_connection((srv.host, srv.port))
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.sendall(b"get " + b" ".join([b"big"] * 1500) + b"\r\n")
    time.sleep(1.0)
    try:
        with srv.connect() as other:
            assert other.set("during", "1") == b"STORED\r\n"
        assert_rss_at_most(srv, rss_before + 16 * MIB)
    finally:
        hog.close()
    with srv.connect() as reader:
        reader.send(b"get " + b" ".join([b"big"] * 40) + b" nope\r\n")
        for _ in range(40):
            assert reader.readline(timeout=20) == b"VALUE big 0 %d\r\n" % len(value)
            assert reader.read_exact(len(value) + 2, timeout=20) == value + b"\r\n"
        assert reader.readline(timeout=20) == b"END\r\n"
    assert_serving(srv)


@pytest.mark.time_limit(60)
def test_2gb_value_length_is_swallowed_without_allocating(start_server):
    srv = start_server()
    rss_before = srv.rss_bytes()
    c = srv.connect()
    c.send(b"set huge 0 0 2147483645\r\n")
    chunk = b"z" * MIB
    other = srv.connect()
    for i in range(64):
        c.send(chunk)
        if i % 16 == 0:
            assert other.set("k%d" % i, "v") == b"STORED\r\n"
    assert_rss_at_most(srv, rss_before + 32 * MIB)
    c.close()
    assert other.value("huge") is None
    assert_serving(srv)
    with srv.connect() as fresh:
        assert fresh.call(b"set huge 0 0 2147483648\r\n") == (
            b"CLIENT_ERROR bad command line format\r\n")


def test_lines_of_1mb_without_newline_are_dropped(start_server):
    srv = start_server()
    rss_before = srv.rss_bytes()
    garbage = b"a" * MIB
    for _ in range(20):
        c = srv.connect()
        try:
            c.send(garbage)
        except ConnectionError:
            pass
        assert c.is_closed()
        c.close()
        assert_serving(srv)
    assert_rss_at_most(srv, rss_before + 32 * MIB)


def test_idle_timeout_closes_idle_connections(start_server):
    """-o idle_timeout=N closes connections idle for more than N seconds and counts
    them in idle_kicks (memcached lists that stat only with the option set); active
    ones stay open."""
    srv = start_server("-o", "idle_timeout=1")
    idle = srv.connect()
    active = srv.connect()
    assert active.stats()["idle_kicks"] == "0"
    deadline = time.monotonic() + 6
    closed = False
    while time.monotonic() < deadline and not closed:
        time.sleep(0.3)
        assert active.stats()["version"]        # keeps this one busy
        idle.sock.setblocking(False)
        try:
            closed = idle.sock.recv(1) == b""
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed = True
    assert closed, "idle connection still open after 6 s with idle_timeout=1"
    assert int(active.stats()["idle_kicks"]) >= 1


def test_R_limits_requests_per_event_and_counts_yields(start_server):
    """-R N: after N requests from one read the connection yields to the others; the
    rest of the pipeline is still answered, in order, and conn_yields counts it."""
    srv = start_server("-R", "1")
    c = srv.connect()
    c.send(b"set k 0 0 1\r\nx\r\n" * 6)
    assert c.read_until(b"STORED\r\n" * 6) == b"STORED\r\n" * 6
    assert int(c.stats()["conn_yields"]) >= 5
