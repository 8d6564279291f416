"""Binary protocol: raw packets checked byte for byte against memcached 1.6.18's
answers, and real clients (pylibmc binary=True, php-memcached's binary sessions,
memccapable -b); malformed framing: test_binary_framing.py.

Every test passes against Debian's memcached too (SYNCACHED_BIN=/usr/bin/memcached)
except those marked syncached_only, where memcached's own behaviour is a bug
(named in the test).
"""

import os
import shutil
import struct
import subprocess
import time

import pytest


pylibmc = pytest.importorskip("pylibmc")

PHP = shutil.which("php")
PHP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "php")

GET, SET, ADD, REPLACE, DELETE, INCR, DECR, QUIT, FLUSH, GETQ, NOOP, VERSION = range(0x0C)
GETK, GETKQ, APPEND, PREPEND, STAT, SETQ, ADDQ, REPLACEQ, DELETEQ, INCRQ, DECRQ = range(0x0C, 0x17)
QUITQ, FLUSHQ, APPENDQ, PREPENDQ, VERBOSITY, TOUCH, GAT, GATQ = range(0x17, 0x1F)
SASL_LIST_MECHS, SASL_AUTH, SASL_STEP, GATK, GATKQ = range(0x20, 0x25)

SUCCESS, KEY_ENOENT, KEY_EEXISTS, E2BIG, EINVAL, NOT_STORED, DELTA_BADVAL = range(7)
UNKNOWN_COMMAND = 0x81
MESSAGES = {
    KEY_ENOENT: b"Not found", KEY_EEXISTS: b"Data exists for key.", E2BIG: b"Too large.",
    EINVAL: b"Invalid arguments", NOT_STORED: b"Not stored.",
    DELTA_BADVAL: b"Non-numeric server-side value for incr or decr",
    UNKNOWN_COMMAND: b"Unknown command",
}
HEADER = struct.Struct(">BBHBBHIIQ")


def packet(op, key=b"", extras=b"", value=b"", cas=0, opaque=0, magic=0x80, bodylen=None):
    if bodylen is None:
        bodylen = len(extras) + len(key) + len(value)
    return HEADER.pack(magic, op, len(key), len(extras), 0, 0, bodylen, opaque, cas) + \
        extras + key + value


def set_packet(op, key, value, flags=0, exptime=0, cas=0, opaque=0):
    return packet(op, key, struct.pack(">II", flags, exptime), value, cas, opaque)


def incr_packet(op, key, delta, initial, exptime, cas=0):
    return packet(op, key, struct.pack(">QQI", delta, initial, exptime), cas=cas)


def be32(v):
    return struct.pack(">I", v)


class Response:
    def __init__(self, raw):
        (self.magic, self.op, keylen, extlen, _, self.status, bodylen, self.opaque,
         self.cas) = HEADER.unpack(raw[:24])
        body = raw[24:]
        self.extras, self.key, self.value = body[:extlen], body[extlen:extlen + keylen], \
            body[extlen + keylen:]
        self.raw = raw

    def __repr__(self):
        return "Response(op=%#x status=%#x extras=%r key=%r value=%r opaque=%d cas=%d)" % (
            self.op, self.status, self.extras, self.key, self.value[:200], self.opaque,
            self.cas)

    def fields(self):
        """Everything but the CAS, whose numbers differ between servers."""
        return (self.op, self.status, self.extras, self.key, self.value, self.opaque)


def ok(op, extras=b"", key=b"", value=b"", opaque=0):
    return (op, SUCCESS, extras, key, value, opaque)


def error(op, status, opaque=0):
    return (op, status, b"", b"", MESSAGES[status], opaque)


class BinClient:
    """Raw binary connection on top of harness.Client (reads have deadlines)."""

    def __init__(self, srv):
        self.c = srv.connect()

    def close(self):
        self.c.close()

    def send(self, data):
        self.c.send(data)

    def read(self):
        head = self.c.read_exact(24)
        assert head[0] == 0x81, head
        return Response(head + self.c.read_exact(HEADER.unpack(head)[6]))

    def call(self, data):
        self.send(data)
        return self.read()

    def until_noop(self, data, opaque=0x0A0A0A0A):
        """Sends data + NOOP; returns every response before the NOOP's."""
        self.send(data + packet(NOOP, opaque=opaque))
        out = []
        while True:
            r = self.read()
            if r.op == NOOP and r.opaque == opaque:
                return out
            out.append(r)

    def stats(self, group=b""):
        self.send(packet(STAT, group))
        out = []
        while True:
            r = self.read()
            if r.status != SUCCESS:
                return r
            if not r.key:
                return out
            out.append((r.key.decode(), r.value.decode()))

    def is_closed(self):
        return self.c.is_closed()


@pytest.fixture
def bc(shared_server):
    c = BinClient(shared_server)
    yield c
    c.close()


def mc_client(srv, **kw):
    return pylibmc.Client(["%s:%d" % (srv.host, srv.port)], binary=True, **kw)


# --- pylibmc, memccapable ----------------------------------------------------------


def test_pylibmc_binary_every_operation(shared_server):
    mc = mc_client(shared_server, behaviors={"cas": True})
    assert mc.set("k", "v") and mc.get("k") == "v"
    assert mc.set("b", b"\x00\xffbytes") and mc.get("b") == b"\x00\xffbytes"
    assert mc.add("k", "x") is False
    assert mc.add("new", "x") and mc.replace("new", "y") and mc.get("new") == "y"
    with pytest.raises(pylibmc.NotFound):  # binary answers "Not found" to replace
        mc.replace("missing", "x")
    assert mc.append("k", "w") and mc.prepend("k", "<") and mc.get("k") == "<vw"
    value, cas = mc.gets("k")
    assert value == "<vw" and cas > 0
    assert mc.cas("k", "new", cas) is True
    assert mc.cas("k", "newer", cas) is False
    assert mc.get("k") == "new"
    assert mc.set("n", 10) and mc.incr("n", 5) == 15 and mc.decr("n", 100) == 0
    with pytest.raises(pylibmc.NotFound):
        mc.incr("missing-counter")
    assert mc.set_multi({"m1": "1", "m2": "2", "m3": "3"}) == []
    assert mc.get_multi(["m1", "nope", "m3", "m2"]) == {"m1": "1", "m2": "2", "m3": "3"}
    assert mc.delete_multi(["m1", "m2"]) and mc.get_multi(["m1", "m2", "m3"]) == {"m3": "3"}
    assert mc.delete("k") and mc.get("k") is None
    assert mc.delete("k") is False
    assert mc.set("t", "v", time=100) and mc.touch("t", 1)
    assert mc.flush_all() and mc.get("m3") is None
    (name, stats), = mc.get_stats()
    assert int(stats["cmd_set"]) > 0 and stats["version"]


def test_pylibmc_multi_get_of_many_keys(shared_server):
    mc = mc_client(shared_server)
    keys = ["key:%d" % i for i in range(2000)]
    assert mc.set_multi({k: k * 3 for k in keys[::2]}) == []
    got = mc.get_multi(keys)
    assert got == {k: k * 3 for k in keys[::2]}


def test_pylibmc_binary_large_values(shared_server):
    mc = mc_client(shared_server)
    big = os.urandom(1000 * 1000)
    assert mc.set("big", big) and mc.get("big") == big
    with pytest.raises(pylibmc.TooBig):
        mc.set("huge", b"x" * (1024 * 1024 + 1))


def test_memccapable_binary_and_ascii_pass(shared_server):
    for flag in ("-b", "-a"):
        r = subprocess.run(["memccapable", "-h", shared_server.host, "-p",
                            str(shared_server.port), flag],
                           capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        out = r.stdout.decode() + r.stderr.decode()
        assert r.returncode == 0 and "All tests passed" in out, out
        assert "[FAIL]" not in out, out


# --- raw packets, byte for byte -----------------------------------------------------


def test_get_set_delete_bytes(bc):
    r = bc.call(set_packet(SET, b"foo", b"bar", flags=7, opaque=0xA1B2C3D4))
    assert r.fields() == ok(SET, opaque=0xA1B2C3D4) and r.cas > 0
    cas = r.cas
    r = bc.call(packet(GET, b"foo", opaque=9))
    assert r.fields() == ok(GET, be32(7), b"", b"bar", 9) and r.cas == cas
    assert bc.call(packet(GETK, b"foo")).fields() == ok(GETK, be32(7), b"foo", b"bar")
    assert bc.call(packet(DELETE, b"foo")).fields() == ok(DELETE)
    assert bc.call(packet(DELETE, b"foo")).fields() == error(DELETE, KEY_ENOENT)
    assert bc.call(packet(GET, b"foo")).fields() == error(GET, KEY_ENOENT)
    # A GETK miss carries the key and no text.
    assert bc.call(packet(GETK, b"foo")).fields() == (GETK, KEY_ENOENT, b"", b"foo", b"", 0)


def test_quiet_commands(bc):
    # Silent on success, answered on failure; quiet gets answer hits only.
    assert bc.until_noop(set_packet(SETQ, b"k", b"1")) == []
    got = bc.until_noop(set_packet(ADDQ, b"k", b"1") + set_packet(REPLACEQ, b"x", b"1") +
                        packet(APPENDQ, b"k", value=b"2") + packet(PREPENDQ, b"x", value=b"2") +
                        incr_packet(INCRQ, b"k", 1, 0, 0) +
                        incr_packet(DECRQ, b"x", 1, 0, 0xFFFFFFFF) +
                        packet(GETQ, b"nope") + packet(GETQ, b"k") + packet(DELETEQ, b"k") +
                        packet(DELETEQ, b"k") + packet(FLUSHQ))
    assert [r.fields() for r in got] == [
        error(ADDQ, KEY_EEXISTS), error(REPLACEQ, KEY_ENOENT), error(PREPENDQ, NOT_STORED),
        error(DECRQ, KEY_ENOENT), ok(GETQ, be32(0), b"", b"13"), error(DELETEQ, KEY_ENOENT)]


def test_multi_get_with_getkq_and_noop(bc):
    for i in (1, 3, 5):
        bc.call(set_packet(SET, b"k%d" % i, b"v%d" % i, flags=i))
    got = bc.until_noop(b"".join(packet(GETKQ, b"k%d" % i, opaque=i) for i in range(1, 7)))
    assert [r.fields() for r in got] == [
        ok(GETKQ, be32(i), b"k%d" % i, b"v%d" % i, i) for i in (1, 3, 5)]


def test_cas_on_mutations(bc):
    assert bc.call(set_packet(SET, b"k", b"a", cas=5)).fields() == error(SET, KEY_ENOENT)
    cas = bc.call(set_packet(SET, b"k", b"a")).cas
    assert bc.call(set_packet(SET, b"k", b"b", cas=cas + 1)).fields() == error(SET, KEY_EEXISTS)
    r = bc.call(set_packet(REPLACE, b"k", b"b", cas=cas))
    assert r.fields() == ok(REPLACE) and r.cas not in (0, cas)
    cas = r.cas
    assert bc.call(packet(APPEND, b"k", value=b"c", cas=cas + 1)).fields() == \
        error(APPEND, KEY_EEXISTS)
    r = bc.call(packet(APPEND, b"k", value=b"c", cas=cas))
    assert r.fields() == ok(APPEND) and r.cas != cas
    assert bc.call(packet(DELETE, b"k", cas=cas)).fields() == error(DELETE, KEY_EEXISTS)
    assert bc.call(packet(GET, b"k")).value == b"bc"
    assert bc.call(packet(DELETE, b"k", cas=r.cas)).fields() == ok(DELETE)


def test_incr_with_initial_value_and_no_create(bc):
    be64 = lambda v: struct.pack(">Q", v)  # noqa: E731
    assert bc.call(incr_packet(INCR, b"n", 1, 10, 0xFFFFFFFF)).fields() == \
        error(INCR, KEY_ENOENT)
    r = bc.call(incr_packet(INCR, b"n", 1, 10, 0))
    assert r.fields() == ok(INCR, value=be64(10)) and r.cas > 0
    assert bc.call(incr_packet(INCR, b"n", 5, 10, 0)).fields() == ok(INCR, value=be64(15))
    assert bc.call(incr_packet(DECR, b"n", 100, 0, 0)).fields() == ok(DECR, value=be64(0))
    bc.call(set_packet(SET, b"w", b"18446744073709551615"))
    assert bc.call(incr_packet(INCR, b"w", 2, 0, 0)).fields() == ok(INCR, value=be64(1))
    bc.call(set_packet(SET, b"s", b"abc"))
    assert bc.call(incr_packet(INCR, b"s", 1, 0, 0)).fields() == error(INCR, DELTA_BADVAL)
    cas = bc.call(incr_packet(INCR, b"n", 1, 0, 0)).cas
    assert bc.call(incr_packet(INCR, b"n", 1, 0, 0, cas=cas + 1)).fields() == \
        error(INCR, KEY_EEXISTS)
    # The counter is text underneath (padded in place, as memcached does).
    bc.call(set_packet(SET, b"d", b"10"))
    bc.call(incr_packet(DECR, b"d", 1, 0, 0))
    assert bc.call(packet(GET, b"d")).value == b"9 "


def test_touch_and_gat(bc):
    cas = bc.call(set_packet(SET, b"k", b"val", flags=5, exptime=100)).cas
    ttl = be32(1000)
    r = bc.call(packet(TOUCH, b"k", ttl))
    assert r.fields() == ok(TOUCH, be32(5)) and r.cas == cas
    assert bc.call(packet(GAT, b"k", ttl)).fields() == ok(GAT, be32(5), b"", b"val")
    assert bc.call(packet(GATK, b"k", ttl)).fields() == ok(GATK, be32(5), b"k", b"val")
    got = bc.until_noop(packet(GATQ, b"k", ttl) + packet(GATKQ, b"k", ttl) +
                        packet(GATQ, b"x", ttl) + packet(GATKQ, b"x", ttl))
    assert [r.fields() for r in got] == [ok(GATQ, be32(5), b"", b"val"),
                                         ok(GATKQ, be32(5), b"k", b"val")]
    assert bc.call(packet(TOUCH, b"x", ttl)).fields() == error(TOUCH, KEY_ENOENT)
    assert bc.call(packet(GAT, b"x", ttl)).fields() == error(GAT, KEY_ENOENT)
    assert bc.call(packet(GATK, b"x", ttl)).fields() == (GATK, KEY_ENOENT, b"", b"x", b"", 0)
    # A TTL of 1 s takes effect: gone after it passes.
    bc.call(packet(TOUCH, b"k", be32(1)))
    deadline = time.monotonic() + 4
    while bc.call(packet(GET, b"k")).status == SUCCESS:
        assert time.monotonic() < deadline, "touched item did not expire"
        time.sleep(0.1)


def test_flush_and_version_and_noop(bc):
    bc.call(set_packet(SET, b"a", b"1"))
    assert bc.call(packet(FLUSH, opaque=3)).fields() == ok(FLUSH, opaque=3)
    assert bc.call(packet(GET, b"a")).fields() == error(GET, KEY_ENOENT)
    bc.call(set_packet(SET, b"a", b"1"))
    assert bc.call(packet(FLUSH, extras=be32(0))).fields() == ok(FLUSH)
    assert bc.call(packet(GET, b"a")).status == KEY_ENOENT
    r = bc.call(packet(VERSION, opaque=7))
    assert r.fields() == ok(VERSION, value=b"1.6.18", opaque=7) and r.cas == 0
    assert bc.call(packet(NOOP, opaque=8)).fields() == ok(NOOP, opaque=8)


def test_quit_answers_then_closes(bc):
    assert bc.call(packet(QUIT, opaque=4)).fields() == ok(QUIT, opaque=4)
    assert bc.is_closed()


def test_quitq_closes_silently(bc):
    bc.send(packet(QUITQ))
    assert bc.is_closed()
    assert bc.c.buf == b""


def test_too_large_value_is_refused_and_swallowed(bc):
    bc.call(set_packet(SET, b"big", b"small"))
    got = bc.until_noop(set_packet(SET, b"big", b"x" * (1024 * 1024)))
    assert [r.fields() for r in got] == [error(SET, E2BIG)]
    # memcached drops the old value of a refused set.
    assert bc.call(packet(GET, b"big")).status == KEY_ENOENT
    bc.call(set_packet(SET, b"a", b"small"))
    got = bc.until_noop(set_packet(ADD, b"a", b"x" * (1024 * 1024)) +
                        packet(APPEND, b"a", value=b"x" * (1024 * 1024)))
    assert [r.fields() for r in got] == [error(ADD, E2BIG), error(APPEND, E2BIG)]
    assert bc.call(packet(GET, b"a")).value == b"small"


def test_value_size_limit_matches_memcached(bc):
    fits = 1024 * 1024 - (48 + 8 + 1 + 1 + 2)
    assert bc.call(set_packet(SET, b"k", b"x" * fits)).status == SUCCESS
    assert bc.until_noop(set_packet(SET, b"k", b"x" * (fits + 1)))[0].status == E2BIG
    assert bc.until_noop(set_packet(SET, b"k", b"x" * fits, flags=1))[0].status == E2BIG


def test_stats_one_packet_each_then_an_empty_one(shared_server, bc):
    stats = dict(bc.stats())
    text = shared_server.connect().stats()
    # Same names as text `stats`, in the same order, with one-token values.
    assert list(dict(bc.stats()).keys()) == list(text.keys())
    assert stats["version"] == text["version"]
    settings = dict(bc.stats(b"settings"))
    assert settings["item_size_max"] == "1048576"
    for group in (b"items", b"slabs", b"sizes"):
        assert isinstance(bc.stats(group), list), group
    assert bc.stats(b"sizes") == [("sizes_status", "disabled")]
    assert bc.stats(b"reset") == []
    assert bc.stats(b"bogus").fields() == error(STAT, KEY_ENOENT)
    # Text only in memcached.
    assert bc.stats(b"conns").fields() == error(STAT, KEY_ENOENT)


def test_stats_detail(bc):
    assert bc.stats(b"detail on") == []
    bc.call(set_packet(SET, b"p:a", b"1"))
    bc.call(packet(GET, b"p:a"))
    assert bc.stats(b"detail dump") == [
        ("detailed", "PREFIX p get 1 hit 1 set 1 del 0\r\nEND\r\n")]
    assert bc.stats(b"detail off") == []


def test_binary_counters_show_in_text_stats(server):
    bc = BinClient(server)
    bc.call(set_packet(SET, b"k", b"1"))
    bc.until_noop(packet(GETQ, b"k") + packet(GETQ, b"x") + packet(TOUCH, b"k", be32(10)) +
                  incr_packet(INCR, b"k", 1, 0, 0) + packet(DELETE, b"k") +
                  packet(DELETE, b"k"))
    s = server.connect().stats()
    expect = {"cmd_set": 1, "cmd_get": 2, "get_hits": 1, "get_misses": 1, "cmd_touch": 1,
              "touch_hits": 1, "incr_hits": 1, "delete_hits": 1, "delete_misses": 1}
    assert {k: int(s[k]) for k in expect} == expect


def test_unknown_opcode_is_answered_and_the_connection_lives(bc):
    got = bc.until_noop(packet(0x50, value=b"abc", opaque=6))
    assert [r.fields() for r in got] == [error(0x50, UNKNOWN_COMMAND, 6)]
    # No -S: SASL opcodes are unknown commands.
    got = bc.until_noop(packet(SASL_LIST_MECHS) +
                        packet(SASL_AUTH, b"PLAIN", value=b"\0u\0p"))
    assert [r.fields() for r in got] == [error(SASL_LIST_MECHS, UNKNOWN_COMMAND),
                                         error(SASL_AUTH, UNKNOWN_COMMAND)]


@pytest.mark.syncached_only
def test_unknown_opcode_with_key_and_extras_keeps_framing(bc):
    # memcached swallows bodylen bytes after reading extras and key, eating the
    # start of the next request (and waits for them before answering).
    got = bc.until_noop(packet(0x50, b"key", be32(1), b"value"))
    assert [r.fields() for r in got] == [error(0x50, UNKNOWN_COMMAND)]


@pytest.mark.syncached_only
def test_verbosity(bc):
    # memcached 1.6 dropped VERBOSITY (Unknown command); the binary spec has it.
    assert bc.call(packet(VERBOSITY, extras=be32(1))).fields() == ok(VERBOSITY)


# --- PHP ----------------------------------------------------------------------------

def php_argv(script, *args, ini=()):
    argv = [PHP, "-d", "display_errors=stderr", "-d", "log_errors=0",
            "-d", "error_reporting=E_ALL & ~E_DEPRECATED"]
    for item in ini:
        argv += ["-d", item]
    return argv + [os.path.join(PHP_DIR, script)] + [str(a) for a in args]


@pytest.mark.skipif(PHP is None, reason="php-cli not installed")
def test_php_memcached_object_api_binary(shared_server):
    r = subprocess.run(php_argv("memcached_api.php", shared_server.port, "binary"),
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"OK\n", b"")


@pytest.mark.skipif(PHP is None, reason="php-cli not installed")
@pytest.mark.time_limit(150)
def test_php_binary_sessions_with_locking_lose_no_increment(start_server):
    """php-memcached's defaults (sess_binary_protocol=1, locking on): many
    processes increment one session counter; every increment must survive.
    The server speaks binary only (-B binary), so nothing goes over text."""
    server = start_server("-B", "binary")
    processes, increments = 24, 5
    ini = ["session.use_cookies=0", "session.use_only_cookies=0", "session.cache_limiter=",
           "session.use_strict_mode=0", "session.lazy_write=0",
           "session.save_handler=memcached",
           "session.save_path=127.0.0.1:%d" % server.port,
           "memcached.sess_locking=1", "memcached.sess_lock_wait_min=5",
           "memcached.sess_lock_wait_max=20", "memcached.sess_lock_retries=3000"]
    sid = "binsess%d" % (int(time.time() * 1000) % 1000000)
    procs = [subprocess.Popen(php_argv("session_counter.php", sid, increments, ini=ini),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(processes)]
    try:
        failures = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            if p.returncode != 0 or err:
                failures.append((p.returncode, out, err))
        assert not failures, failures[:3]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    r = subprocess.run(php_argv("session_counter.php", sid, 0, ini=ini), capture_output=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stderr) == (0, b"")
    assert int(r.stdout) == processes * increments
    # The sessions went over the binary protocol (GETK/SET/ADD/DELETE), and the
    # lock record is gone.
    bc = BinClient(server)
    r = bc.call(packet(GET, b"memc.sess.key." + sid.encode()))
    assert r.status == SUCCESS and b"i:%d;" % (processes * increments) in r.value
    assert bc.call(packet(GET, b"memc.sess.key.lock." + sid.encode())).status == KEY_ENOENT
