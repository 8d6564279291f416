"""The Prometheus endpoint (--metrics-port): scraped from live nodes, read with a
strict parser of the text format 0.0.4, checked for memcached_exporter's names,
for values that follow the traffic, for replication metrics that follow a paused
peer, and for HTTP misuse that must be refused without harm."""

import os
import re
import socket
import time

import pytest

import harness
from cluster import make_cluster  # noqa: F401 (fixture)

pytestmark = pytest.mark.syncached_only

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')

# What memcached_exporter emits from memcached 1.6's stats that syncached has too.
EXPORTER_NAMES = """memcached_up memcached_uptime_seconds memcached_time_seconds
memcached_version memcached_process_user_cpu_seconds_total
memcached_process_system_cpu_seconds_total memcached_current_bytes memcached_limit_bytes
memcached_commands_total memcached_current_items memcached_items_total
memcached_read_bytes_total memcached_written_bytes_total memcached_current_connections
memcached_connections_total memcached_connections_rejected_total
memcached_connections_yielded_total memcached_connections_listener_disabled_total
memcached_items_evicted_total memcached_items_reclaimed_total memcached_item_too_large_total
memcached_item_no_memory_total memcached_malloced_bytes memcached_accepting_connections
memcached_max_connections memcached_lru_crawler_enabled memcached_lru_crawler_starts_total
memcached_lru_crawler_reclaimed_total memcached_lru_crawler_items_checked_total""".split()
# Per size class: present once a class holds items.
EXPORTER_SLAB_NAMES = """memcached_slab_current_items memcached_slab_items_age_seconds
memcached_slab_chunk_size_bytes memcached_slab_commands_total memcached_slab_lru_hits_total
memcached_slab_mem_requested_bytes memcached_slab_items_evicted_total""".split()


def parse_exposition(text):
    """{(name, frozenset(labels)): value}, asserting format 0.0.4 strictly."""
    assert text.endswith("\n"), "exposition must end with a newline"
    samples, types, helps, closed = {}, {}, set(), set()
    current = None
    for line in text[:-1].split("\n"):
        assert line, "empty line"
        if line.startswith("#"):
            parts = line.split(" ", 3)
            assert parts[0] == "#" and parts[1] in ("HELP", "TYPE") and len(parts) >= 3, line
            name = parts[2]
            assert NAME.match(name), line
            if parts[1] == "TYPE":
                assert name not in types, "second TYPE for " + name
                assert name not in {n for n, _ in samples}, "TYPE after samples: " + name
                assert parts[3] in ("counter", "gauge", "untyped", "histogram", "summary"), line
                types[name] = parts[3]
            else:
                assert name not in helps, "second HELP for " + name
                assert len(parts) == 4 and "\\" not in parts[3].replace("\\\\", "").replace("\\n", "")
                helps.add(name)
            if name != current:
                assert name not in closed, "family %s is split" % name
                if current:
                    closed.add(current)
                current = name
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)\Z", line)
        assert m, "bad sample line: %r" % line
        name, labels_text, value = m.groups()
        assert name == current, "sample outside its family: " + line
        labels = {}
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = LABEL.match(labels_text, pos)
                assert lm, "bad labels: " + line
                assert lm.group(1) not in labels, "repeated label: " + line
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
                if pos < len(labels_text):
                    assert labels_text[pos] == ",", "bad labels: " + line
                    pos += 1
        v = float(value)  # accepts NaN, +Inf, -Inf as Go's ParseFloat does
        if types.get(name) == "counter":
            assert v >= 0, line
        key = (name, frozenset(labels.items()))
        assert key not in samples, "duplicate series: " + line
        samples[key] = v
    return samples


def http(port, request, timeout=5.0):
    """Sends raw bytes, returns everything until the server closes (or timeout)."""
    with socket.create_connection((harness.HOST, port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return data + b"<timeout>"
            except ConnectionResetError:  # closed with our bytes unread
                return data + b"<reset>"
            if not chunk:
                return data
            data += chunk


def scrape(port):
    raw = http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), raw[:200]
    assert b"\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8" in head
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    assert length == len(body)
    return parse_exposition(body.decode())


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def names(samples):
    return {n for n, _ in samples}


def metrics_server(start_server, *args):
    port = harness.free_port()
    srv = start_server("--metrics-port", str(port), *args)
    assert harness.wait_for(lambda: _listening(port), timeout=5)
    return srv, port


def _listening(port):
    try:
        socket.create_connection((harness.HOST, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_exporter_names_and_values_follow_traffic(start_server):
    srv, port = metrics_server(start_server)
    before = scrape(port)
    missing = set(EXPORTER_NAMES) - names(before)
    assert not missing, missing
    assert not [n for n in names(before) if n.startswith("syncached_")]  # no peers, no data dir
    with srv.connect() as c:
        for i in range(10):
            assert c.set("k%d" % i, b"v" * 100) == b"STORED\r\n"
        c.get("k1", "k2", "nope")
        stats = c.stats()
    after = scrape(port)
    missing = set(EXPORTER_SLAB_NAMES) - names(after)
    assert not missing, missing
    cmd = "memcached_commands_total"
    assert value(after, cmd, command="set", status="hit") - value(before, cmd, command="set", status="hit") == 10
    assert value(after, cmd, command="get", status="hit") - value(before, cmd, command="get", status="hit") == 2
    assert value(after, cmd, command="get", status="miss") - value(before, cmd, command="get", status="miss") == 1
    assert value(after, "memcached_current_items") == 10
    assert value(after, "memcached_items_total") == 10
    assert value(after, "memcached_version", version=stats["version"]) == 1
    assert value(after, "memcached_limit_bytes") == int(stats["limit_maxbytes"])
    assert value(after, "memcached_read_bytes_total") > value(before, "memcached_read_bytes_total")
    assert sum(v for (n, _), v in after.items() if n == "memcached_slab_current_items") == 10
    # Scrapes are not memcached connections.
    assert value(after, "memcached_connections_total") == int(stats["total_connections"])


def test_http_misuse_is_refused_and_the_endpoint_survives(start_server):
    srv, port = metrics_server(start_server)
    head = http(port, b"HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and head.endswith(b"\r\n\r\n")
    assert b"Content-Length: 0" not in head
    assert http(port, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 404")
    assert http(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nab").startswith(
        b"HTTP/1.1 405")
    for bad in (b"\x00\xff garbage\r\n\r\n", b"GET /metrics\r\n\r\n", b"get /x HTTP/9.9\r\n\r\n",
                b"GET /metrics HTTP/1.1\r\n folded\r\n\r\n", os.urandom(3000) + b"\n\n"):
        reply = http(port, bad)
        assert re.match(rb"HTTP/1.1 (400|505) ", reply), (bad[:40], reply[:80])
        assert not reply.endswith(b"<timeout>")  # closed by the server
    # Closed with the rest unread: the 431 may be lost to the reset that follows.
    big = http(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
    assert big.startswith(b"HTTP/1.1 431") or big == b"<reset>", big[:80]
    # Keep-alive and pipelining: two answers on one connection, in order.
    two = http(port, b"GET /metrics HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert two.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 404" in two and two.count(b"HTTP/1.1 ") == 2
    # A stalled half head does not block other scrapers.
    with socket.create_connection((harness.HOST, port), timeout=5) as stalled:
        stalled.sendall(b"GET /metr")
        assert value(scrape(port), "memcached_up") == 1
    assert srv.alive()
    with srv.connect() as c:
        assert c.call(b"version\r\n").startswith(b"VERSION ")


def test_options_from_the_config_file(start_server, tmp_path):
    port = harness.free_port()
    conf = tmp_path / "syncached.conf"
    conf.write_text("--metrics-port %d\nmetrics-addr = 127.0.0.1\n" % port)
    start_server("--config", str(conf))
    assert harness.wait_for(lambda: _listening(port), timeout=5)
    assert value(scrape(port), "memcached_up") == 1


def test_persistence_metrics(start_server, tmp_path):
    srv, port = metrics_server(start_server, "--data-dir", str(tmp_path / "data"))
    before = scrape(port)
    assert value(before, "syncached_persistence_info", data_dir=str(tmp_path / "data"),
                 fsync="everysec") == 1
    with srv.connect() as c:
        for i in range(5):
            assert c.set("p%d" % i, b"x") == b"STORED\r\n"
    after = scrape(port)
    name = "syncached_persistence_journal_records_total"
    assert value(after, name) - value(before, name) == 5
    assert value(after, "syncached_persistence_journal_written_bytes_total") > 0


def test_hundreds_of_keep_alive_scrapes_of_a_full_node(start_server):
    """Every scrape on one connection is answered in full. The cost per scrape
    (under 1 ms, the issue's figure) is measured by bench/metrics/scrape.py and
    recorded in docs/PERFORMANCE.md; here it is printed, and bounded only loosely
    so that a shared CI machine cannot fail it while a blow-up still does."""
    srv, port = metrics_server(start_server)
    with srv.connect() as c:
        for i in range(1000):  # some classes and items to render
            c.send(b"set c%d 0 0 %d noreply\r\n%s\r\n" % (i, i % 900, b"v" * (i % 900)))
        assert c.call(b"version\r\n").startswith(b"VERSION")
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu():
        with open("/proc/%d/stat" % srv.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    n = 300
    with socket.create_connection((harness.HOST, port), timeout=5) as s:
        start = cpu()
        for _ in range(n):
            s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(65536)
            length = int(re.search(rb"Content-Length: (\d+)", data).group(1))
            body = data.split(b"\r\n\r\n", 1)[1]
            while len(body) < length:
                body += s.recv(65536)
        per_scrape = (cpu() - start) / n
    print("server CPU per scrape: %.3f ms" % (per_scrape * 1000))
    assert b"memcached_current_items 1000" in body
    if not harness.sanitized_build():
        assert per_scrape < 0.02


def _replication_ready(node, other):
    s = scrape(node.metrics_port)
    peer = "%s:%d" % (harness.HOST, other.rport)
    return value(s, "syncached_replication_peer_state", peer=peer, state="streaming") == 1


@pytest.mark.time_limit(90)
def test_replication_metrics_follow_a_paused_peer(make_cluster):  # noqa: F811
    nodes = make_cluster(2, start=False)
    for n in nodes:
        n.metrics_port = harness.free_port()
        n.extra += ["--metrics-port", str(n.metrics_port)]
    nodes.start()
    a, b = nodes
    assert harness.wait_for(lambda: _replication_ready(a, b) and _replication_ready(b, a), timeout=15)
    peer_b = "%s:%d" % (harness.HOST, b.rport)
    s = scrape(a.metrics_port)
    assert value(s, "syncached_replication_info", node_id="1", cluster_name="syncached",
                 auth="none") == 1
    assert value(s, "syncached_replication_peer_node_id", peer=peer_b) == 2
    assert value(s, "syncached_replication_peer_last_error_info", peer=peer_b, error="none") == 1
    assert value(s, "syncached_replication_subscriber_mode", node="2", mode="streaming") == 1
    sent_before = value(s, "syncached_replication_subscriber_sent_bytes_total", node="2")
    applied_before = value(scrape(b.metrics_port), "syncached_replication_peer_applied_total",
                           peer="%s:%d" % (harness.HOST, a.rport))

    b.pause()
    try:
        with a.client() as c:
            for i in range(50):
                assert c.set("paused%d" % i, b"x" * 50) == b"STORED\r\n"

        def noticed():
            s = scrape(a.metrics_port)
            return (value(s, "syncached_replication_subscriber_unacked_changes", node="2") or 0) >= 50 and \
                value(s, "syncached_replication_peer_state", peer=peer_b, state="streaming") == 0

        # Unacknowledged writes grow at once; the link leaves streaming after 3 s of silence.
        assert harness.wait_for(noticed, timeout=15, interval=0.25)
    finally:
        b.resume()

    def recovered():
        s = scrape(a.metrics_port)
        return value(s, "syncached_replication_peer_state", peer=peer_b, state="streaming") == 1 and \
            value(s, "syncached_replication_subscriber_unacked_changes", node="2") == 0

    assert harness.wait_for(recovered, timeout=20, interval=0.25)
    s = scrape(a.metrics_port)
    assert value(s, "syncached_replication_subscriber_sent_bytes_total", node="2") > sent_before
    sb = scrape(b.metrics_port)
    assert value(sb, "syncached_replication_peer_applied_total",
                 peer="%s:%d" % (harness.HOST, a.rport)) >= applied_before + 50
