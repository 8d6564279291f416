"""stats groups and lru_crawler metadump: the names monitoring tools parse
(CLIENTS.md §3) and what the counters mean after a known command sequence.

Values that legitimately differ between engines (slab class ids, chunk
sizes, pointer values, pid, uptime, byte counts) are checked for form only.
Every test gets a fresh server so counters start from zero.
"""

import re
import time
import urllib.parse

import pytest

import harness

STATS_NAMES = """
pid uptime time version pointer_size rusage_user rusage_system max_connections
curr_connections total_connections rejected_connections connection_structures
cmd_get cmd_set cmd_flush cmd_touch cmd_meta get_hits get_misses get_expired
get_flushed delete_hits delete_misses incr_hits incr_misses decr_hits decr_misses
cas_hits cas_misses cas_badval touch_hits touch_misses auth_cmds auth_errors
bytes_read bytes_written limit_maxbytes accepting_conns listen_disabled_num threads
conn_yields bytes curr_items total_items evictions reclaimed store_too_large
store_no_memory hash_power_level hash_bytes hash_is_expanding malloc_fails
expired_unfetched evicted_unfetched reserved_fds libevent
""".split()

SETTINGS_NAMES = """
maxbytes maxconns tcpport udpport verbosity evictions item_size_max cas_enabled
auth_enabled_sasl auth_enabled_ascii binding_protocol num_threads flush_enabled
dump_enabled growth_factor chunk_size
""".split()

SLAB_CLASS_NAMES = """
chunk_size chunks_per_page total_pages total_chunks used_chunks free_chunks
free_chunks_end get_hits cmd_set delete_hits incr_hits decr_hits cas_hits
cas_badval touch_hits
""".split()

ITEM_CLASS_NAMES = """
number age evicted evicted_time outofmemory reclaimed expired_unfetched
evicted_unfetched
""".split()

COUNTERS = """
cmd_get cmd_set cmd_touch cmd_flush get_hits get_misses delete_hits delete_misses
incr_hits incr_misses decr_hits decr_misses cas_hits cas_misses cas_badval
touch_hits touch_misses store_too_large
""".split()


@pytest.fixture
def client(server):
    c = server.connect()
    yield c
    c.close()


def read_raw(c, group=""):
    line = ("stats " + group).strip().encode() + b"\r\n"
    return c.call(line, b"END\r\n")


def counters(c):
    s = c.stats()
    return {k: int(s[k]) for k in COUNTERS}


def per_class(stats, prefix=""):
    """{'<class>': {name: value}} from 'STAT [prefix]<class>:<name> <value>'."""
    out = {}
    for key, value in stats.items():
        m = re.fullmatch(re.escape(prefix) + r"(\d+):(\w+)", key)
        if m:
            out.setdefault(m.group(1), {})[m.group(2)] = value
    return out


# --- format and names -------------------------------------------------------------

def idle_connections(c):
    """Waits until c is the only client (the start-up probe may linger)."""
    assert harness.wait_for(lambda: c.stats()["curr_connections"] == "1")


def test_general_stats_format_and_names(server, client):
    idle_connections(client)
    raw = read_raw(client)
    assert re.fullmatch(rb"(STAT [a-z_0-9]+ [!-~]+\r\n)+END\r\n", raw), raw
    stats = harness.parse_stats(raw)
    missing = [n for n in STATS_NAMES if n not in stats]
    assert not missing, missing
    assert int(stats["pid"]) == server.pid
    assert stats["pointer_size"] in ("32", "64")
    for name in ("rusage_user", "rusage_system"):
        assert re.fullmatch(r"\d+\.\d{6}", stats[name]), stats[name]
    assert abs(int(stats["time"]) - time.time()) <= 2
    assert stats["limit_maxbytes"] == str(64 << 20)
    assert stats["max_connections"] == "1024"
    assert stats["threads"] == "4"
    assert stats["accepting_conns"] == "1"
    assert stats["curr_connections"] == "1"
    for name in COUNTERS + ["curr_items", "total_items", "evictions", "bytes"]:
        assert stats[name] == "0", name


def test_general_stats_follow_flags(start_server):
    stats = start_server("-m", "100", "-c", "500", "-t", "2").connect().stats()
    assert stats["limit_maxbytes"] == str(100 << 20)
    assert stats["max_connections"] == "500"
    assert stats["threads"] == "2"


def test_version_stat_matches_version_command(client):
    reply = client.call(b"version\r\n")
    assert reply == b"VERSION " + client.stats()["version"].encode() + b"\r\n"


def test_settings_names_and_values(start_server):
    srv = start_server("-m", "32", "-c", "200", "-t", "3", "-I", "2m", "-C")
    raw = read_raw(srv.connect(), "settings")
    assert re.fullmatch(rb"(STAT [a-z_0-9]+ [!-~]+\r\n)+END\r\n", raw), raw
    s = harness.parse_stats(raw)
    missing = [n for n in SETTINGS_NAMES if n not in s]
    assert not missing, missing
    assert s["maxbytes"] == str(32 << 20)
    assert s["maxconns"] == "200"
    assert s["tcpport"] == str(srv.port)
    assert s["udpport"] == "0"
    assert s["num_threads"] == "3"
    assert s["item_size_max"] == str(2 << 20)
    assert s["cas_enabled"] == "no"
    assert s["evictions"] == "on"
    assert s["verbosity"] == "0"
    assert s["auth_enabled_sasl"] == "no"
    assert s["binding_protocol"] == "auto-negotiate"
    assert s["flush_enabled"] == "yes"


def test_settings_reflect_M_and_verbosity(start_server):
    c = start_server("-M").connect()
    assert c.call(b"verbosity 1\r\n") == b"OK\r\n"
    s = c.stats("settings")
    assert s["evictions"] == "off"
    assert s["verbosity"] == "1"
    assert s["cas_enabled"] == "yes"


def test_unknown_stats_group_is_error(client):
    assert client.call(b"stats nosuchgroup\r\n") == b"ERROR\r\n"
    assert client.exchange(b"") == b""


# --- counters after a known sequence -----------------------------------------------

def test_counters_after_known_sequence(client):
    steps = [
        (b"set a 0 0 1\r\nx\r\n", b"STORED\r\n", {"cmd_set": 1}),
        (b"add a 0 0 1\r\nx\r\n", b"NOT_STORED\r\n", {"cmd_set": 1}),
        (b"replace zz 0 0 1\r\nx\r\n", b"NOT_STORED\r\n", {"cmd_set": 1}),
        (b"append a 0 0 1\r\ny\r\n", b"STORED\r\n", {"cmd_set": 1}),
        (b"get a\r\n", b"VALUE a 0 2\r\nxy\r\nEND\r\n", {"cmd_get": 1, "get_hits": 1}),
        (b"get zz\r\n", b"END\r\n", {"cmd_get": 1, "get_misses": 1}),
        (b"get a a zz\r\n", b"VALUE a 0 2\r\nxy\r\nVALUE a 0 2\r\nxy\r\nEND\r\n",
         {"cmd_get": 3, "get_hits": 2, "get_misses": 1}),
        # gat/gats count as touches, not as gets.
        (b"gat 100 a zz\r\n", b"VALUE a 0 2\r\nxy\r\nEND\r\n",
         {"cmd_touch": 2, "touch_hits": 1, "touch_misses": 1}),
        (b"touch a 100\r\n", b"TOUCHED\r\n", {"cmd_touch": 1, "touch_hits": 1}),
        (b"touch zz 100\r\n", b"NOT_FOUND\r\n", {"cmd_touch": 1, "touch_misses": 1}),
        (b"delete a\r\n", b"DELETED\r\n", {"delete_hits": 1}),
        (b"delete a\r\n", b"NOT_FOUND\r\n", {"delete_misses": 1}),
        (b"incr n 1\r\n", b"NOT_FOUND\r\n", {"incr_misses": 1}),
        (b"decr n 1\r\n", b"NOT_FOUND\r\n", {"decr_misses": 1}),
        (b"set n 0 0 1\r\n5\r\n", b"STORED\r\n", {"cmd_set": 1}),
        (b"incr n 1\r\n", b"6\r\n", {"incr_hits": 1}),
        (b"decr n 1\r\n", b"5\r\n", {"decr_hits": 1}),
        (b"incr n abc\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n", {}),
        (b"cas n 0 0 1 999999\r\n1\r\n", b"EXISTS\r\n", {"cmd_set": 1, "cas_badval": 1}),
        (b"cas zz 0 0 1 1\r\n1\r\n", b"NOT_FOUND\r\n", {"cmd_set": 1, "cas_misses": 1}),
        (b"flush_all\r\n", b"OK\r\n", {"cmd_flush": 1}),
        (b"mg zz v\r\n", b"EN\r\n", {"cmd_get": 1, "get_misses": 1}),
        (b"ms m 1\r\nx\r\n", b"HD\r\n", {"cmd_set": 1}),
        (b"mg m v\r\n", b"VA 1\r\nx\r\n", {"cmd_get": 1, "get_hits": 1}),
        (b"md m\r\n", b"HD\r\n", {"delete_hits": 1}),
        (b"ma m\r\n", b"NF\r\n", {"incr_misses": 1}),
        (b"ma m MD\r\n", b"NF\r\n", {"decr_misses": 1}),
        (b"set big 0 0 2000000\r\n" + b"x" * 2000000 + b"\r\n",
         b"SERVER_ERROR object too large for cache\r\n", {"store_too_large": 1}),
    ]
    before = counters(client)
    for request, reply, delta in steps:
        assert client.exchange(request) == reply, request
        after = counters(client)
        changed = {k: after[k] - before[k] for k in COUNTERS if after[k] != before[k]}
        assert changed == delta, (request, changed)
        before = after


def test_cas_hit_counter(client):
    client.set("n", "1")
    cas = client.gets_cas("n")
    before = counters(client)
    assert client.store("cas", "n", "2", cas=cas) == b"STORED\r\n"
    after = counters(client)
    assert after["cas_hits"] - before["cas_hits"] == 1
    assert after["cmd_set"] - before["cmd_set"] == 1


def test_items_and_bytes(client):
    stats = client.stats()
    assert (stats["curr_items"], stats["total_items"], stats["bytes"]) == ("0", "0", "0")
    for i in range(10):
        client.set("k%d" % i, "v" * 100)
    stats = client.stats()
    assert stats["curr_items"] == "10"
    assert stats["total_items"] == "10"
    assert int(stats["bytes"]) >= 10 * 100
    full = int(stats["bytes"])
    client.set("k0", "v" * 200)                        # replace: total_items counts it
    stats = client.stats()
    assert (stats["curr_items"], stats["total_items"]) == ("10", "11")
    assert int(stats["bytes"]) > full
    for i in range(5):
        client.call(b"delete k%d\r\n" % i)
    stats = client.stats()
    assert stats["curr_items"] == "5"
    assert 0 < int(stats["bytes"]) < full
    for i in range(5, 10):
        client.call(b"delete k%d\r\n" % i)
    stats = client.stats()
    assert (stats["curr_items"], stats["bytes"]) == ("0", "0")


def test_connection_counters(server):
    first = server.connect()
    idle_connections(first)
    base = first.stats()
    others = [server.connect() for _ in range(3)]
    for o in others:
        assert o.exchange(b"") == b""
    stats = first.stats()
    assert stats["curr_connections"] == "4"
    assert int(stats["total_connections"]) - int(base["total_connections"]) == 3
    for o in others:
        o.close()
    assert harness.wait_for(lambda: first.stats()["curr_connections"] == "1")


def test_bytes_read_and_written_grow(client):
    before = client.stats()
    client.set("a", "x" * 1000)
    client.value("a")
    after = client.stats()
    assert int(after["bytes_read"]) - int(before["bytes_read"]) >= 1000
    assert int(after["bytes_written"]) - int(before["bytes_written"]) >= 1000


def test_stats_reset(client):
    client.set("a", "1")
    client.value("a")
    client.value("zz")
    assert client.call(b"stats reset\r\n") == b"RESET\r\n"
    stats = client.stats()
    for name in COUNTERS + ["total_items"]:
        assert stats[name] == "0", name
    assert stats["curr_items"] == "1"                  # state, not a counter
    assert int(stats["bytes"]) > 0


# --- other groups --------------------------------------------------------------------

def test_stats_items(client):
    assert read_raw(client, "items") == b"END\r\n"
    for i in range(5):
        client.set("small%d" % i, "x")
    client.set("large", "x" * 50000)
    raw = read_raw(client, "items")
    assert re.fullmatch(rb"(STAT items:\d+:[a-z_]+ \d+\r\n)+END\r\n", raw), raw
    classes = per_class(harness.parse_stats(raw), "items:")
    assert len(classes) >= 2
    for cls, names in classes.items():
        missing = [n for n in ITEM_CLASS_NAMES if n not in names]
        assert not missing, (cls, missing)
    assert sum(int(v["number"]) for v in classes.values()) == 6


def test_stats_slabs(client):
    for i in range(5):
        client.set("small%d" % i, "x")
    client.set("large", "x" * 50000)
    client.value("small0")
    client.value("large")
    raw = read_raw(client, "slabs")
    assert re.fullmatch(rb"(STAT [a-z_0-9:]+ \d+\r\n)+END\r\n", raw), raw
    stats = harness.parse_stats(raw)
    classes = per_class(stats)
    assert len(classes) >= 2
    for cls, names in classes.items():
        missing = [n for n in SLAB_CLASS_NAMES if n not in names]
        assert not missing, (cls, missing)
        assert int(names["used_chunks"]) <= int(names["total_chunks"])
    assert int(stats["active_slabs"]) == len(classes)
    assert int(stats["total_malloced"]) > 50000
    assert sum(int(v["get_hits"]) for v in classes.values()) == 2
    assert sum(int(v["cmd_set"]) for v in classes.values()) == 6


def test_stats_sizes_format(client):
    client.set("a", "x")
    raw = read_raw(client, "sizes")
    assert re.fullmatch(rb"(STAT [!-~]+ [!-~]+\r\n)*END\r\n", raw), raw


def test_stats_conns(client):
    client.set("a", "x")
    raw = read_raw(client, "conns")
    assert re.fullmatch(rb"(STAT \d+:[a-z_]+ [!-~]+\r\n)+END\r\n", raw), raw
    local = "tcp:127.0.0.1:%d" % client.sock.getsockname()[1]
    entries = per_class(harness.parse_stats(raw))
    mine = [e for e in entries.values() if e.get("addr") == local]
    assert len(mine) == 1, entries
    assert "state" in mine[0]
    assert int(mine[0]["secs_since_last_cmd"]) >= 0


def test_stats_detail(client):
    assert client.call(b"stats detail\r\n") == b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"
    assert client.call(b"stats detail on\r\n") == b"OK\r\n"
    client.set("user:1", "x")
    client.get("user:1", "user:2", "other")
    client.call(b"delete user:1\r\n")
    assert read_raw(client, "detail dump") == (
        b"PREFIX user get 2 hit 1 set 1 del 1\r\nEND\r\n")
    assert client.call(b"stats detail off\r\n") == b"OK\r\n"


# --- lru_crawler metadump ------------------------------------------------------------

def metadump_raw(c, deadline=10.0):
    """`lru_crawler metadump all`, retried while memcached answers BUSY
    (its crawler also runs on its own, e.g. shortly after start)."""
    end = time.monotonic() + deadline
    while True:
        c.send(b"lru_crawler metadump all\r\n")
        first = c.read_until(b"\n", timeout=deadline)     # dump lines end in \n only
        if not first.startswith(b"BUSY ") or time.monotonic() > end:
            break
        time.sleep(0.1)
    if first == b"END\r\n" or not first.startswith(b"key="):
        return first
    return first + c.read_until(b"END\r\n", timeout=deadline)


def metadump(c):
    raw = metadump_raw(c)
    lines = raw[:-len(b"END\r\n")].split(b"\n")
    assert lines[-1] == b"", raw
    out = {}
    for line in lines[:-1]:
        fields = dict(f.split(b"=", 1) for f in line.split(b" "))
        out[urllib.parse.unquote(fields[b"key"].decode())] = fields
    return out


def test_lru_crawler_metadump_all(client):
    now = int(time.time())
    client.set("a", "x")
    client.set("b", "hello", flags=3, exptime=1000)
    client.set("p%q", "x")
    client.value("a")
    raw = metadump_raw(client)
    # One "k=v ..." line per item ended by a bare \n; keys URI-encoded.
    assert re.fullmatch(rb"(key=\S+ exp=-?\d+ la=\d+ cas=\d+ fetch=(yes|no) cls=\d+ size=\d+"
                        rb"( [a-z_]+=\S*)*\n){3}END\r\n", raw), raw
    assert b"key=p%25q " in raw
    dump = metadump(client)
    assert set(dump) == {"a", "b", "p%q"}
    for f in dump.values():
        assert abs(int(f[b"la"]) - now) <= 2
        assert int(f[b"size"]) > 0
    assert dump["a"][b"exp"] == b"-1"
    assert dump["a"][b"fetch"] == b"yes"
    assert dump["b"][b"fetch"] == b"no"
    assert abs(int(dump["b"][b"exp"]) - (now + 1000)) <= 2
    assert int(dump["a"][b"cas"]) == client.gets_cas("a")


def test_lru_crawler_metadump_empty_and_bad_args(client):
    assert metadump_raw(client) == b"END\r\n"
    assert client.call(b"lru_crawler metadump\r\n") == b"ERROR\r\n"
    assert client.call(b"lru_crawler\r\n") == b"ERROR\r\n"


def test_get_of_a_flushed_key_counts_get_flushed_then_memory_returns(client):
    # memcached's stats.t: flush_all leaves the items in place, hidden; a get of one
    # misses and counts get_flushed. The maintenance pass (each second) frees the rest;
    # should it run between the flush and the get, the get finds nothing to count, so
    # the sequence gets three tries.
    for _ in range(3):
        assert client.call(b"set fl 0 0 2\r\nxx\r\n") == b"STORED\r\n"
        assert client.call(b"set fl2 0 0 2\r\nyy\r\n") == b"STORED\r\n"
        before = client.stats()
        assert client.call(b"flush_all\r\n") == b"OK\r\n"
        assert client.call(b"get fl\r\n", b"END\r\n") == b"END\r\n"
        after = client.stats()
        assert int(after["get_misses"]) - int(before["get_misses"]) == 1
        if int(after["get_flushed"]) - int(before["get_flushed"]) == 1:
            break
    else:
        pytest.fail("get_flushed never counted a get of a flushed key")
    deadline = time.monotonic() + 5
    while int(client.stats()["curr_items"]) != 0:
        assert time.monotonic() < deadline, "flushed items were not freed"
        time.sleep(0.1)
    assert client.call(b"get fl2\r\n", b"END\r\n") == b"END\r\n"
    assert client.call(b"set fl 0 0 1\r\nz\r\n") == b"STORED\r\n"
    assert client.call(b"get fl\r\n", b"END\r\n") == b"VALUE fl 0 1\r\nz\r\nEND\r\n"


def test_store_over_a_flushed_or_expired_key_counts_reclaimed(client):
    # memcached's t/issue_183.t: the store reuses the dead item's memory. `before` is read
    # first: should the maintenance pass free the dead item before the store does, that
    # counts as reclaimed too, once. Other tests' items are cleared first, so a flush's
    # walk here has only rk to count.
    assert client.call(b"flush_all\r\n") == b"OK\r\n"
    deadline = time.monotonic() + 5
    while int(client.stats()["curr_items"]) != 0:
        assert time.monotonic() < deadline, "flushed items were not freed"
        time.sleep(0.1)
    for dead in (b"flush_all\r\n", None):
        before = int(client.stats()["reclaimed"])
        if dead:
            assert client.call(b"set rk 0 0 1\r\n1\r\n") == b"STORED\r\n"
            assert client.call(dead) == b"OK\r\n"
        else:
            assert client.call(b"set rk 0 -1 1\r\n1\r\n") == b"STORED\r\n"  # expired at once
        assert client.call(b"set rk 0 0 1\r\n2\r\n") == b"STORED\r\n"
        assert int(client.stats()["reclaimed"]) - before == 1
        assert client.call(b"get rk\r\n", b"END\r\n") == b"VALUE rk 0 1\r\n2\r\nEND\r\n"
