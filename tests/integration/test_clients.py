"""Real clients against the server: Debian's python3-pymemcache,
python3-pylibmc (libmemcached, ascii) and libmemcached-tools' memccapable."""

import re
import subprocess

import pytest

pymemcache = pytest.importorskip("pymemcache.client.base")
pylibmc = pytest.importorskip("pylibmc")


@pytest.fixture
def pmc(shared_server):
    """pymemcache with its default: every write sent with noreply."""
    c = pymemcache.Client((shared_server.host, shared_server.port), connect_timeout=5, timeout=5)
    yield c
    c.close()


@pytest.fixture
def pmc_reply(shared_server):
    c = pymemcache.Client((shared_server.host, shared_server.port), connect_timeout=5,
                          timeout=5, default_noreply=False)
    yield c
    c.close()


@pytest.fixture
def lmc(shared_server):
    c = pylibmc.Client(["%s:%d" % (shared_server.host, shared_server.port)], binary=False,
                       behaviors={"cas": True, "tcp_nodelay": True,
                                  "connect_timeout": 5000, "receive_timeout": 5000000,
                                  "send_timeout": 5000000})
    yield c
    c.disconnect_all()


# --- pymemcache ---------------------------------------------------------------------

def test_pymemcache_noreply_default_writes(pmc):
    assert pmc.set("k", b"v1") is True
    assert pmc.get("k") == b"v1"
    assert pmc.add("k", b"v2") is True             # noreply: the client cannot know
    assert pmc.get("k") == b"v1"
    assert pmc.replace("k", b"v3") is True
    assert pmc.append("k", b"-a") is True
    assert pmc.prepend("k", b"p-") is True
    assert pmc.get("k") == b"p-v3-a"
    assert pmc.set_many({"a": b"1", "b": b"2"}) == []
    assert pmc.get_many(["a", "b", "zz"]) == {"a": b"1", "b": b"2"}
    assert pmc.incr("a", 5) == 6                   # incr/decr wait for replies
    assert pmc.decr("a", 1) == 5
    assert pmc.incr("a", 1, noreply=True) is None
    assert pmc.get("a") == b"6"
    assert pmc.touch("a", 100) is True
    assert pmc.delete("b") is True
    assert pmc.get("b") is None
    assert pmc.delete_many(["a", "k"]) is True
    assert pmc.get_many(["a", "k"]) == {}
    assert pmc.flush_all() is True


def test_pymemcache_with_replies(pmc_reply):
    c = pmc_reply
    assert c.set("k", b"v", expire=100, flags=7) is True
    assert c.add("k", b"x") is False
    assert c.add("n", b"10") is True
    assert c.replace("zz", b"x") is False
    assert c.replace("k", b"w") is True
    assert c.append("zz", b"x") is False
    assert c.prepend("zz", b"x") is False
    assert c.incr("n", 5) == 15
    assert c.decr("n", 20) == 0
    assert c.incr("zz", 1) is None
    assert c.incr("n", 2 ** 64 - 1) == 2 ** 64 - 1
    assert c.incr("n", 1) == 0
    value, cas = c.gets("k")
    assert value == b"w"
    assert c.cas("k", b"new", cas) is True
    assert c.cas("k", b"newer", cas) is False
    assert c.cas("zz", b"x", cas) is None
    assert c.get("k") == b"new"
    assert c.gets_many(["k", "zz"])["k"][0] == b"new"
    assert c.touch("k", 10) is True
    assert c.touch("zz", 10) is False
    assert c.delete("k") is True
    assert c.delete("k") is False
    assert c.flush_all(noreply=False) is True
    assert c.get("n") is None


def test_pymemcache_stats_and_version(pmc_reply):
    pmc_reply.set("a", b"1")
    pmc_reply.get("a")
    stats = pmc_reply.stats()
    # (shared server: items flushed by earlier tests may still be counted)
    assert stats[b"curr_items"] >= 1
    assert stats[b"get_hits"] >= 1
    settings = pmc_reply.stats("settings")
    assert settings[b"item_size_max"] == 1 << 20
    assert re.fullmatch(rb"[0-9][!-~]*", pmc_reply.version())


def test_pymemcache_large_and_binary_values(pmc_reply):
    value = bytes(range(256)) * 4000
    assert pmc_reply.set("big", value) is True
    assert pmc_reply.get("big") == value
    many = {"key%d" % i: b"v%d" % i for i in range(500)}
    assert pmc_reply.set_many(many) == []
    assert pmc_reply.get_many(list(many)) == many


def test_pymemcache_server_errors_surface(pmc_reply):
    with pytest.raises(pymemcache.MemcacheServerError):
        pmc_reply.set("big", b"x" * (2 << 20))
    assert pmc_reply.set("k", b"abc") is True
    with pytest.raises(pymemcache.MemcacheClientError):
        pmc_reply.incr("k", 1)
    assert pmc_reply.get("k") == b"abc"


# --- pylibmc ------------------------------------------------------------------------

def test_pylibmc_basic_operations(lmc):
    assert lmc.set("k", "v") is True
    assert lmc.get("k") == "v"
    assert lmc.add("k", "x") is False
    assert lmc.add("n", 10) is True
    assert lmc.replace("zz", "x") is False
    assert lmc.replace("k", "w") is True
    assert lmc.append("k", "-a") is True
    assert lmc.prepend("k", "p-") is True
    assert lmc.get("k") == "p-w-a"
    assert lmc.incr("n", 5) == 15
    assert lmc.decr("n", 100) == 0
    with pytest.raises(pylibmc.NotFound):
        lmc.incr("zz")
    assert lmc.touch("k", 100) is True
    assert lmc.touch("zz", 100) is False
    assert lmc.delete("k") is True
    assert lmc.delete("k") is False
    assert lmc.get("k") is None


def test_pylibmc_multi_operations(lmc):
    data = {"key%d" % i: "value%d" % i for i in range(300)}
    assert lmc.set_multi(data) == []
    assert lmc.get_multi(list(data) + ["missing"]) == data
    assert lmc.add_multi({"key1": "x", "new": "y"}) == ["key1"]
    assert lmc.delete_multi(["key1", "key2"]) is True
    got = lmc.get_multi(["key1", "key2", "key3", "new"])
    assert got == {"key3": "value3", "new": "y"}
    lmc.set_multi({"a": 1, "b": 2})
    assert lmc.incr_multi(["a", "b"], delta=10) is None
    assert lmc.get_multi(["a", "b"]) == {"a": 11, "b": 12}


def test_pylibmc_cas_behaviour(lmc):
    lmc.set("k", "v1")
    value, cas = lmc.gets("k")
    assert value == "v1" and cas
    assert lmc.cas("k", "v2", cas) is True
    assert lmc.cas("k", "v3", cas) is False
    assert lmc.get("k") == "v2"
    assert lmc.gets("zz") == (None, None)


def test_pylibmc_serialized_types_and_flags(lmc):
    obj = {"list": [1, 2, 3], "text": "h\u00e9llo", "n": 2 ** 40}
    lmc.set("obj", obj)
    lmc.set("int", 42)
    lmc.set("bytes", b"\x00\xff")
    assert lmc.get_multi(["obj", "int", "bytes"]) == {"obj": obj, "int": 42, "bytes": b"\x00\xff"}


def test_pylibmc_stats_and_flush(lmc, shared_server):
    lmc.set("a", "1")
    (name, stats), = lmc.get_stats()
    assert int(stats["pid"]) == shared_server.pid
    assert int(stats["curr_items"]) >= 1
    assert int(stats["cmd_set"]) >= 1
    assert int(stats["limit_maxbytes"]) == 64 << 20
    assert lmc.flush_all() is True
    assert lmc.get("a") is None


# --- memccapable ---------------------------------------------------------------------

def run_memccapable(server, *args):
    r = subprocess.run(["memccapable", "-h", server.host, "-p", str(server.port), "-t", "5"]
                       + list(args), capture_output=True, timeout=120)
    out = r.stdout.decode() + r.stderr.decode()
    results = re.findall(r"^(.+?)\s+\[(\w+)\]\s*$", out, re.M)
    return r.returncode, out, results


def test_memccapable_ascii_passes_every_check(server):
    rc, out, results = run_memccapable(server, "-a")
    assert len(results) >= 27, out
    failed = [name for name, verdict in results if verdict != "pass"]
    assert not failed, out
    assert rc == 0 and "All tests passed" in out, out


@pytest.mark.binary
def test_memccapable_binary_passes_every_check(server):
    rc, out, results = run_memccapable(server, "-b")
    assert len(results) >= 27, out
    failed = [name for name, verdict in results if verdict != "pass"]
    assert not failed, out
    assert rc == 0 and "All tests passed" in out, out
