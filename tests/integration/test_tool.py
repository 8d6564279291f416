"""syncached-tool (tools/syncached-tool): memcached-tool's modes byte for byte
against Debian's /usr/share/memcached/scripts/memcached-tool on the same live
server, dump -> flush -> restore, --json, and on real clusters `cluster` and
`wait-synced` (syncached only).

What may differ between two runs, and only that: `stats` values that the
tools' own connections or the clock change (MOVING_STATS below), the display
table's Max_age (seconds, it ticks), and the order of dump records (the
script prints them in Perl hash order).
"""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import harness
from cluster import make_cluster  # noqa: F401  (fixture)

MEMCACHED_TOOL = "/usr/share/memcached/scripts/memcached-tool"
MOVING_STATS = {"time", "uptime", "rusage_user", "rusage_system", "bytes_read",
                "bytes_written", "total_connections",
                # memcached only: its LRU thread's counter, its buffer pools
                "lru_maintainer_juggles", "read_buf_bytes", "read_buf_bytes_free",
                "read_buf_count", "response_obj_bytes", "response_obj_count"}


def tool_bin():
    return os.environ.get("SYNCACHED_TOOL",
                          os.path.join(harness.build_dir(), "bin", "syncached-tool"))


def run(argv, timeout=30, stdin=None):
    return subprocess.run(argv, capture_output=True, timeout=timeout, input=stdin,
                          preexec_fn=harness._die_with_parent)


def ours(addr, *args, timeout=30, stdin=None):
    return run([tool_bin(), addr] + list(args), timeout, stdin)


def theirs(addr, *args):
    return run(["perl", MEMCACHED_TOOL, addr] + list(args))


pytestmark = pytest.mark.skipif(not os.path.exists(MEMCACHED_TOOL),
                                reason="Debian's memcached-tool not installed")


def fill(srv):
    with srv.connect() as c:
        for i in range(40):
            value = b"v%d" % i * (1 + i * 40)      # spread over slab classes
            assert c.call(b"set key%d %d 0 %d\r\n%s\r\n" % (i, i, len(value), value)) == b"STORED\r\n"
        assert c.call(b"set ttl 5 1000 2\r\nhi\r\n") == b"STORED\r\n"
        assert c.call(b"set crlf 0 0 6\r\na\r\nb\r\n\r\n") == b"STORED\r\n"
        assert c.call(b"set n,comma 0 0 1\r\nx\r\n") == b"STORED\r\n"
        assert c.call(b"get key1 key2\r\n", b"END\r\n").endswith(b"END\r\n")


def addr(srv):
    return "%s:%d" % (srv.host, srv.port)


def test_display_matches_memcached_tool_but_for_max_age(server):
    fill(server)
    a, b = ours(addr(server)), theirs(addr(server))
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    mask = lambda out: re.sub(rb"(?m)^(.{13}) *\d+s ", rb"\1 AGE ", out)  # noqa: E731
    assert len(a.stdout.splitlines()) > 2
    assert mask(a.stdout) == mask(b.stdout)
    assert ours(addr(server), "display").stdout.splitlines()[0] == b.stdout.splitlines()[0]


def test_stats_match_memcached_tool_but_for_moving_values(server):
    fill(server)
    a, b = ours(addr(server), "stats"), theirs(addr(server), "stats")
    assert a.returncode == 0, a.stderr
    la, lb = a.stdout.split(b"\n"), b.stdout.split(b"\n")
    assert la[0] == lb[0] == b"#%-22s %5s %13s" % (addr(server).encode(), b"Field", b"Value")
    assert len(la) == len(lb) > 40
    for x, y in zip(la[1:], lb[1:]):
        name = x.split()[0].decode() if x.strip() else ""
        if name in MOVING_STATS:
            assert x.split()[0] == y.split()[0] and x.endswith(b"\r") and y.endswith(b"\r")
        else:
            assert x == y
    assert la[1].endswith(b"\r")  # the script's chomp keeps the \r: so do we


@pytest.mark.parametrize("mode", ["settings", "sizes"])
def test_settings_and_sizes_match_memcached_tool_exactly(server, mode):
    a, b = ours(addr(server), mode), theirs(addr(server), mode)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout


def test_a_port_less_address_is_shown_as_memcached_tool_shows_it(start_server):
    # Only port 11211 would make this a live comparison; the header alone is the
    # point, and the failure message for a node that is not there.
    a = ours("127.0.0.1:1", "settings")
    b = theirs("127.0.0.1:1", "settings")
    assert a.returncode != 0 and b.returncode != 0
    assert a.stderr.splitlines()[0] == b.stderr.splitlines()[0] == b"Couldn't connect to 127.0.0.1:1"


def split_records(out):
    recs, i = [], 0
    while i < len(out):
        j = out.index(b"\r\n", i)
        n = int(out[i:j].split()[-1])
        recs.append(out[i:j + 2 + n + 2])
        i = j + 2 + n + 2
    return recs


def test_dump_and_keys_match_memcached_tool_but_for_order(server):
    fill(server)
    k1, k2 = ours(addr(server), "keys"), theirs(addr(server), "keys")
    assert k1.stderr == k2.stderr == b"Dumping memcache keys\n"
    assert sorted(k1.stdout.splitlines()) == sorted(k2.stdout.splitlines())
    a, b = ours(addr(server), "dump"), theirs(addr(server), "dump")
    assert a.returncode == 0, a.stderr
    assert a.stderr == b.stderr == b"Dumping memcache contents\n"
    ra, rb = split_records(a.stdout), split_records(b.stdout)
    assert len(ra) == 43
    assert sorted(ra) == sorted(rb)
    assert b"add crlf 0 0 6\r\na\r\nb\r\n\r\n" in ra
    assert any(r.startswith(b"add ttl 5 ") and int(r.split()[3]) > time.time() + 900 for r in ra)
    la = ours(addr(server), "dump", "5")
    lb = theirs(addr(server), "dump", "5")
    assert la.stderr == lb.stderr == b"Dumping memcache contents (limiting to 5 keys)\n"
    # Which 5: the first the crawler meets, and memcached's get of the dumps
    # above reordered its LRU; each is one of the full dump's records.
    assert len(split_records(la.stdout)) == len(split_records(lb.stdout)) == 5
    assert set(split_records(la.stdout)) <= set(rb)


def test_json_parses(server):
    fill(server)
    stats = json.loads(ours(addr(server), "stats", "--json").stdout)
    assert stats["curr_items"] == 43 and isinstance(stats["version"], str)
    settings = json.loads(ours(addr(server), "settings", "--json").stdout)
    assert settings["tcpport"] == server.port
    json.loads(ours(addr(server), "sizes", "--json").stdout)
    display = json.loads(ours(addr(server), "display", "--json").stdout)
    assert sum(row["count"] for row in display) == 43
    assert all(set(row) >= {"class", "chunk_size", "pages", "full"} for row in display)


def metadump(srv):
    with srv.connect() as c:
        raw = c.call(b"lru_crawler metadump all\r\n", b"END\r\n")
    out = {}
    for line in raw.split(b"\n"):  # metadump lines end in "\n" alone, as memcached's
        line = line.strip()
        if line.startswith(b"key="):
            f = dict(x.split(b"=", 1) for x in line.split())
            out[f[b"key"]] = int(f[b"exp"])
    return out


def values(srv, keys):
    out = {}
    with srv.connect() as c:
        for k in keys:
            r = c.call(b"get " + k + b"\r\n", b"END\r\n")
            if r.startswith(b"VALUE "):
                head, rest = r.split(b"\r\n", 1)
                _, _, flags, n = head.split()
                out[k] = (int(flags), rest[:int(n)])
    return out


def test_dump_to_a_file_then_restore_round_trips(server, tmp_path):
    fill(server)
    before_exp = metadump(server)
    before = values(server, before_exp)
    path = str(tmp_path / "dump")
    d = ours(addr(server), "dump", "-o", path)
    assert d.returncode == 0, d.stderr
    assert d.stdout == b""
    assert d.stderr.strip() == b"dumped 43 items to " + path.encode()  # not a tty: a count
    with server.connect() as c:
        assert c.call(b"flush_all\r\n") == b"OK\r\n"
    assert metadump(server) == {}
    r = ours(addr(server), "restore", path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == b"restored 43 items"
    after_exp = metadump(server)
    assert values(server, after_exp) == before
    assert after_exp.keys() == before_exp.keys()
    for k, exp in before_exp.items():  # absolute -> remaining -> absolute again
        assert abs(after_exp[k] - exp) <= 2 if exp > 0 else after_exp[k] == -1, k
    # add keeps what is there; an expired record is skipped; stdin works.
    again = ours(addr(server), "restore", "-", "--add", stdin=open(path, "rb").read()
                 + b"add gone 0 %d 1\r\nx\r\n" % (int(time.time()) - 10))
    assert again.returncode == 0, again.stderr
    assert again.stderr.strip() == b"restored 0 items, 43 not stored (key exists), 1 skipped (expired)"
    bad = ours(addr(server), "restore", "-", stdin=b"add k 0 0 5\r\nab\r\n")
    assert bad.returncode != 0 and b"truncated value" in bad.stderr


def test_unix_socket(tmp_path):
    path = str(tmp_path / "mc.sock")
    args = [harness.server_bin(), "-s", path, "-U", "0"]
    if os.geteuid() == 0:
        args += ["-u", "root"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=harness._die_with_parent)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(path):
            assert time.monotonic() < deadline and proc.poll() is None, "no socket"
            time.sleep(0.02)
        a, b = ours(path, "settings"), theirs(path, "settings")
        assert a.returncode == 0, a.stderr
        assert a.stdout == b.stdout and a.stdout.startswith(b"#" + path.encode())
    finally:
        proc.terminate()
        proc.wait(10)


# -- clusters -------------------------------------------------------------------

def nodes_arg(cluster, but):
    return ",".join("%d=%s" % (n.node_id, n.addr()) for n in cluster if n is not but)


def cluster_json(cluster, node):
    r = ours(node.addr(), "cluster", "--json", "--nodes", nodes_arg(cluster, node))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError("not within %.0f s: %s" % (timeout, what))
        time.sleep(0.2)


@pytest.mark.syncached_only
@pytest.mark.time_limit(90)
def test_cluster_shows_every_node_and_a_paused_one(make_cluster):  # noqa: F811
    c = make_cluster(3)
    with c[0].client() as cl:
        assert cl.call(b"set k 0 0 1\r\nx\r\n") == b"STORED\r\n"
    ok = wait_for(lambda: (lambda v: v if v["synced"] and all(
        n["status"] == "up" and n["synced"] for n in v["nodes"]) else None)(
        cluster_json(c, c[0])), 15, "every node up and synced")
    assert [n["node"] for n in ok["nodes"]] == [1, 2, 3]
    assert [n["link"] for n in ok["nodes"]] == ["self", "streaming", "streaming"]
    assert ok["nodes"][0]["replication"] == "127.0.0.1:%d" % c[0].rport  # as peers list it
    assert [n["client"] for n in ok["nodes"]] == [n.addr() for n in c]
    assert all(n["lag_changes"] == 0 and n["ring"] is None for n in ok["nodes"][1:])
    text = ours(c[0].addr(), "cluster", "--nodes", nodes_arg(c, c[0])).stdout.decode()
    lines = text.splitlines()
    assert lines[0].startswith("cluster syncached, as node 1 (%s)" % c[0].addr())
    assert lines[1].split() == ["node", "client", "replication", "status", "link",
                                "lag_changes", "lag_ms", "synced", "ring", "last_error"]
    assert [ln.split()[0] for ln in lines[2:]] == ["1", "2", "3"]
    # Without --nodes the client ports (not replication port - 1 here) are
    # unknown: the node's own view of its peers still shows.
    alone = json.loads(ours(c[0].addr(), "cluster", "--json").stdout)
    assert [(n["node"], n["status"], n["link"]) for n in alone["nodes"]] == \
        [(1, "up", "self"), (2, "?", "streaming"), (3, "?", "streaming")]

    c[2].pause()
    try:
        # Its client port no longer answers at once; node 1's link to it drops
        # after 3 s of silence.
        v = wait_for(lambda: (lambda v: v if v["nodes"][2]["link"] != "streaming" else None)(
            cluster_json(c, c[0])), 15, "node 1 sees node 3 gone")
        assert v["nodes"][2]["status"] == "no-reply"
        assert v["nodes"][2]["synced"] is None
        assert v["nodes"][2]["last_error"] != "none"
        assert v["synced"] is False
        text = ours(c[0].addr(), "cluster", "--nodes", nodes_arg(c, c[0])).stdout.decode()
        row3 = text.splitlines()[4].split()
        assert row3[0] == "3" and row3[3] == "no-reply" and row3[4] != "streaming"
    finally:
        c[2].resume()


@pytest.mark.syncached_only
@pytest.mark.time_limit(90)
def test_wait_synced(make_cluster):  # noqa: F811
    c = make_cluster(2)
    r = ours(c[0].addr(), "wait-synced", "--timeout", "20", timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith("%s: synced (node 1, 1 peers streaming)" % c[0].addr())
    c[1].pause()
    try:
        wait_for(lambda: c[0].peer_stat(c[1], "state") != "streaming", 15,
                 "node 1's link to the stopped node 2 drops")
        t0 = time.monotonic()
        r = ours(c[0].addr(), "wait-synced", "--timeout", "1.5", timeout=30)
        assert r.returncode == 1
        assert 1.4 < time.monotonic() - t0 < 10
        assert b"not synced after 1.5 s" in r.stderr
        assert b"peer 127.0.0.1:%d (node 2)" % c[1].rport in r.stderr
    finally:
        c[1].resume()
    r = ours(c[0].addr(), "wait-synced", "--timeout", "30", timeout=40)
    assert r.returncode == 0, r.stderr
    # A node that is not serving: waits, then says so.
    c[1].kill()
    port = c[1].port
    r = ours("127.0.0.1:%d" % port, "wait-synced", "--timeout", "0.5", timeout=10)
    assert r.returncode == 1 and b"not serving yet" in r.stderr


def test_repair(make_cluster):  # noqa: F811
    c = make_cluster(2)
    r = ours(c[0].addr(), "repair", timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "%s: repair started with every peer (repair_* in " \
        "'stats replication')\n" % c[0].addr()
    alone = make_cluster(1)
    r = ours(alone[0].addr(), "repair", timeout=30)
    assert r.returncode == 1
    assert r.stderr.decode() == "syncached-tool: %s: SERVER_ERROR repair needs --peers\n" % (
        alone[0].addr())
