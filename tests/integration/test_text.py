"""Text protocol, byte for byte as memcached 1.6.18 answers (doc/protocol.txt).

Every expected reply below was recorded from Debian's memcached 1.6.18.
CAS uniques, TTL seconds and item sizes legitimately differ between engines,
so those are checked by meaning (distinct, changed, within a second), never
pinned.
"""

import re
import time

import pytest

import harness


def mg_ttl(c, key):
    """Remaining TTL as `mg <key> t` reports it (-1: never; None: miss)."""
    reply = c.call(("mg %s t\r\n" % key).encode())
    if reply == b"EN\r\n":
        return None
    m = re.fullmatch(rb"HD t(-?\d+)\r\n", reply)
    assert m, reply
    return int(m.group(1))


def assert_ttl_about(c, key, expected, late=0):
    """TTL within 2 s below expected (clock ticks), or `late` s above it
    (absolute times: the server's second may lag the wall clock)."""
    ttl = mg_ttl(c, key)
    assert ttl is not None and expected - 2 <= ttl <= expected + late, (key, ttl, expected)


# --- retrieval -------------------------------------------------------------

def test_set_then_get_is_byte_exact(client):
    assert client.set("k", "hello", flags=42) == b"STORED\r\n"
    assert client.get("k") == b"VALUE k 42 5\r\nhello\r\nEND\r\n"


def test_get_of_missing_key_is_just_end(client):
    assert client.get("nope") == b"END\r\n"


def test_multi_get_keeps_request_order_skips_misses_repeats_duplicates(client):
    client.set("a", "1")
    client.set("c", "333", flags=7)
    assert client.get("c", "b", "a", "c") == (
        b"VALUE c 7 3\r\n333\r\nVALUE a 0 1\r\n1\r\nVALUE c 7 3\r\n333\r\nEND\r\n")


def test_gets_adds_a_cas_unique_per_item(client):
    client.set("a", "1")
    client.set("b", "2")
    reply = client.get("a", "b", "zz", cmd="gets")
    m = re.fullmatch(rb"VALUE a 0 1 (\d+)\r\n1\r\nVALUE b 0 1 (\d+)\r\n2\r\nEND\r\n", reply)
    assert m, reply
    assert m.group(1) != m.group(2)


def test_values_are_opaque_bytes(client):
    value = bytes(range(256)) + b"\r\nEND\r\n\x00"
    assert client.store("set", "bin", value) == b"STORED\r\n"
    assert client.value("bin") == value


def test_empty_value(client):
    assert client.set("e", b"") == b"STORED\r\n"
    assert client.get("e") == b"VALUE e 0 0\r\n\r\nEND\r\n"


def test_flags_are_32_bit_unsigned(client):
    assert client.set("f", "x", flags=4294967295) == b"STORED\r\n"
    assert client.get("f") == b"VALUE f 4294967295 1\r\nx\r\nEND\r\n"


def test_key_of_250_bytes_is_accepted(client):
    key = "k" * 250
    assert client.set(key, "v") == b"STORED\r\n"
    assert client.get(key) == ("VALUE %s 0 1\r\nv\r\nEND\r\n" % key).encode()


def test_value_just_under_the_default_item_size_limit(client):
    value = bytes(i % 251 for i in range((1 << 20) - 1024))
    assert client.store("set", "big", value) == b"STORED\r\n"
    assert client.value("big") == value


def test_gat_returns_value_and_sets_ttl(client):
    client.set("a", "1", exptime=1000)
    assert client.call(b"gat 300 a zz\r\n", b"END\r\n") == b"VALUE a 0 1\r\n1\r\nEND\r\n"
    assert_ttl_about(client, "a", 300)
    assert client.call(b"gat 0 a\r\n", b"END\r\n") == b"VALUE a 0 1\r\n1\r\nEND\r\n"
    assert mg_ttl(client, "a") == -1


def test_gats_returns_cas_and_does_not_change_it(client):
    client.set("a", "1")
    cas = client.gets_cas("a")
    assert client.call(b"gats 100 a\r\n", b"END\r\n") == b"VALUE a 0 1 %d\r\n1\r\nEND\r\n" % cas
    assert client.gets_cas("a") == cas


def test_gat_argument_errors(client):
    assert client.call(b"gat a\r\n") == b"CLIENT_ERROR invalid exptime argument\r\n"
    assert client.call(b"gat 10\r\n") == b"END\r\n"
    assert client.call(b"gat\r\n") == b"ERROR\r\n"
    assert client.call(b"get\r\n") == b"ERROR\r\n"
    assert client.call(b"gets\r\n") == b"ERROR\r\n"


def test_very_long_multi_get_line(client):
    """Multi-gets may be far longer than the 2 KB line limit (CLIENTS.md §1.4)."""
    present = ["key:%05d" % i for i in range(0, 10000, 10)]
    for key in present:
        client.send(("set %s 0 0 %d noreply\r\n%s\r\n" % (key, len(key), key)).encode())
    assert client.exchange(b"") == b""
    keys = ["key:%05d" % i for i in range(10000)]
    line = ("get " + " ".join(keys) + "\r\n").encode()
    assert len(line) > 90000
    expected = b"".join(("VALUE %s 0 %d\r\n%s\r\n" % (k, len(k), k)).encode()
                        for k in present) + b"END\r\n"
    client.send(line)
    assert client.read_exact(len(expected), timeout=20) == expected
    assert client.exchange(b"") == b""


def test_long_get_line_arriving_in_pieces(client):
    client.set("x", "1")
    line = b"get " + b" ".join(b"m%04d" % i for i in range(1000)) + b" x\r\n"
    for i in range(0, len(line), 1500):
        client.send(line[i:i + 1500])
        time.sleep(0.01)
    assert client.read_until(b"END\r\n") == b"VALUE x 0 1\r\n1\r\nEND\r\n"


# --- storage ---------------------------------------------------------------

def test_add_only_when_absent(client):
    assert client.store("add", "a", "1") == b"STORED\r\n"
    assert client.store("add", "a", "2") == b"NOT_STORED\r\n"
    assert client.value("a") == b"1"


def test_replace_only_when_present(client):
    assert client.store("replace", "a", "1") == b"NOT_STORED\r\n"
    assert client.value("a") is None
    client.set("a", "1")
    assert client.store("replace", "a", "2", flags=9) == b"STORED\r\n"
    assert client.get("a") == b"VALUE a 9 1\r\n2\r\nEND\r\n"


def test_append_prepend_need_the_item_and_keep_its_flags_and_ttl(client):
    assert client.store("append", "a", "x") == b"NOT_STORED\r\n"
    assert client.store("prepend", "a", "x") == b"NOT_STORED\r\n"
    client.set("a", "mid", flags=3, exptime=500)
    assert client.store("append", "a", "END", flags=9, exptime=0) == b"STORED\r\n"
    assert client.store("prepend", "a", "<<", flags=9, exptime=0) == b"STORED\r\n"
    assert client.get("a") == b"VALUE a 3 8\r\n<<midEND\r\nEND\r\n"
    assert_ttl_about(client, "a", 500)


def test_cas_stored_exists_not_found(client):
    assert client.store("cas", "a", "1", cas=1) == b"NOT_FOUND\r\n"
    client.set("a", "1")
    cas = client.gets_cas("a")
    assert client.store("cas", "a", "2", cas=cas + 1000) == b"EXISTS\r\n"
    assert client.store("cas", "a", "2", flags=5, cas=cas) == b"STORED\r\n"
    assert client.get("a") == b"VALUE a 5 1\r\n2\r\nEND\r\n"
    assert client.store("cas", "a", "3", cas=cas) == b"EXISTS\r\n"
    assert client.value("a") == b"2"


def test_every_mutation_changes_cas_but_touch_and_gat_do_not(client):
    client.set("n", "1")
    seen = [client.gets_cas("n")]

    def changed():
        cas = client.gets_cas("n")
        assert cas not in seen, (cas, seen)
        seen.append(cas)

    client.set("n", "2")
    changed()
    client.store("append", "n", "0")
    changed()
    client.store("prepend", "n", "1")
    changed()
    client.store("replace", "n", "5")
    changed()
    assert client.call(b"incr n 1\r\n") == b"6\r\n"
    changed()
    assert client.call(b"decr n 1\r\n") == b"5\r\n"
    changed()
    client.store("cas", "n", "7", cas=seen[-1])
    changed()
    assert client.call(b"touch n 100\r\n") == b"TOUCHED\r\n"
    client.call(b"gat 100 n\r\n", b"END\r\n")
    assert client.gets_cas("n") == seen[-1]


def test_data_block_may_contain_anything_of_declared_length(client):
    assert client.call(b"set a 0 0 7\r\nget a\r\n\r\n") == b"STORED\r\n"
    assert client.value("a") == b"get a\r\n"


# --- delete, touch ---------------------------------------------------------

def test_delete(client):
    client.set("a", "1")
    assert client.call(b"delete a\r\n") == b"DELETED\r\n"
    assert client.call(b"delete a\r\n") == b"NOT_FOUND\r\n"
    assert client.value("a") is None


def test_delete_accepts_legacy_zero_time_only(client):
    client.set("a", "1")
    assert client.call(b"delete a 0\r\n") == b"DELETED\r\n"
    assert client.call(b"delete a 5\r\n") == (
        b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n")
    client.set("a", "1")
    assert client.exchange(b"delete a 0 noreply\r\n") == b""
    assert client.value("a") is None
    assert client.call(b"delete a 0 noreply x\r\n") == b"ERROR\r\n"
    assert client.call(b"delete\r\n") == b"ERROR\r\n"


def test_touch(client):
    assert client.call(b"touch a 10\r\n") == b"NOT_FOUND\r\n"
    client.set("a", "1")
    assert client.call(b"touch a 200\r\n") == b"TOUCHED\r\n"
    assert_ttl_about(client, "a", 200)
    assert client.call(b"touch a 0\r\n") == b"TOUCHED\r\n"
    assert mg_ttl(client, "a") == -1
    assert client.call(b"touch a abc\r\n") == b"CLIENT_ERROR invalid exptime argument\r\n"
    assert client.call(b"touch a\r\n") == b"ERROR\r\n"


# --- incr / decr -----------------------------------------------------------

def test_incr_decr_basics(client):
    assert client.call(b"incr n 1\r\n") == b"NOT_FOUND\r\n"
    assert client.call(b"decr n 1\r\n") == b"NOT_FOUND\r\n"
    client.set("n", "10", flags=5)
    assert client.call(b"incr n 5\r\n") == b"15\r\n"
    assert client.call(b"decr n 3\r\n") == b"12\r\n"
    assert client.call(b"incr n 0\r\n") == b"12\r\n"
    assert client.call(b"incr n 00001\r\n") == b"13\r\n"
    assert client.call(b"incr n +1\r\n") == b"14\r\n"
    assert client.get("n") == b"VALUE n 5 2\r\n14\r\nEND\r\n"


def test_incr_wraps_at_2_64(client):
    client.set("n", "18446744073709551615")
    assert client.call(b"incr n 1\r\n") == b"0\r\n"
    client.set("n", "5")
    assert client.call(b"incr n 18446744073709551615\r\n") == b"4\r\n"


def test_decr_clamps_at_zero(client):
    client.set("n", "5")
    assert client.call(b"decr n 100\r\n") == b"0\r\n"
    assert client.call(b"decr n 1\r\n") == b"0\r\n"


def test_incr_decr_result_shorter_than_value_is_space_padded(client):
    """memcached rewrites the number in place: length is kept, padded with
    spaces (protocol.txt "decrementing a number such that it loses length")."""
    client.set("n", "10")
    assert client.call(b"decr n 1\r\n") == b"9\r\n"
    assert client.get("n") == b"VALUE n 0 2\r\n9 \r\nEND\r\n"
    assert client.call(b"incr n 100\r\n") == b"109\r\n"
    assert client.get("n") == b"VALUE n 0 3\r\n109\r\nEND\r\n"
    client.set("w", "18446744073709551615")
    client.call(b"incr w 1\r\n")
    assert client.get("w") == b"VALUE w 0 20\r\n0" + b" " * 19 + b"\r\nEND\r\n"


def test_incr_accepts_surrounding_spaces_in_the_stored_number(client):
    client.set("n", " 12")
    assert client.call(b"incr n 1\r\n") == b"13\r\n"
    client.set("m", "12 ")
    assert client.call(b"incr m 1\r\n") == b"13\r\n"


@pytest.mark.parametrize("value", ["abc", "1a2", "", "-1", "184467440737095516150"])
def test_incr_on_non_numeric_value_is_a_client_error(client, value):
    client.set("n", value)
    for cmd in (b"incr n 1\r\n", b"decr n 1\r\n"):
        assert client.call(cmd) == b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    assert client.value("n") == value.encode()


@pytest.mark.parametrize("delta", [b"abc", b"-1", b"18446744073709551616", b"1.5"])
def test_incr_with_invalid_delta(client, delta):
    client.set("n", "1")
    assert client.call(b"incr n %s\r\n" % delta) == b"CLIENT_ERROR invalid numeric delta argument\r\n"
    assert client.call(b"decr n %s\r\n" % delta) == b"CLIENT_ERROR invalid numeric delta argument\r\n"
    assert client.call(b"incr nokey %s\r\n" % delta) == b"CLIENT_ERROR invalid numeric delta argument\r\n"


def test_incr_wrong_token_counts(client):
    assert client.call(b"incr n\r\n") == b"ERROR\r\n"
    assert client.call(b"incr\r\n") == b"ERROR\r\n"
    assert client.call(b"incr n 1 noreply x\r\n") == b"ERROR\r\n"


# --- flush_all, verbosity, version, quit ------------------------------------

def test_flush_all_immediate(client):
    client.set("a", "1")
    client.set("b", "2")
    assert client.call(b"flush_all\r\n") == b"OK\r\n"
    assert client.get("a", "b") == b"END\r\n"
    assert client.set("a", "3") == b"STORED\r\n"
    assert client.value("a") == b"3"
    assert client.call(b"flush_all 0\r\n") == b"OK\r\n"
    assert client.value("a") is None


def test_flush_all_with_future_delay_keeps_items_for_now(client):
    client.set("a", "1")
    assert client.call(b"flush_all 100\r\n") == b"OK\r\n"
    assert client.value("a") == b"1"


def test_flush_all_argument_forms(client):
    assert client.exchange(b"flush_all noreply\r\nflush_all 0 noreply\r\n") == b""
    assert client.call(b"flush_all abc\r\n") == b"CLIENT_ERROR invalid exptime argument\r\n"
    assert client.exchange(b"flush_all abc noreply\r\n") == b""
    assert client.call(b"flush_all -1\r\n") == b"OK\r\n"
    assert client.call(b"flush_all 1 2\r\n") == b"OK\r\n"
    assert client.call(b"flush_all 1 2 3\r\n") == b"ERROR\r\n"


def test_verbosity(client):
    assert client.call(b"verbosity 1\r\n") == b"OK\r\n"
    assert client.call(b"verbosity 0\r\n") == b"OK\r\n"
    assert client.call(b"verbosity 1 2\r\n") == b"OK\r\n"
    assert client.exchange(b"verbosity 0 noreply\r\n") == b""
    assert client.call(b"verbosity abc\r\n") == b"CLIENT_ERROR bad command line format\r\n"
    # "noreply" is taken as the level: the error is suppressed by noreply.
    assert client.exchange(b"verbosity noreply\r\n") == b""
    assert client.call(b"verbosity\r\n") == b"ERROR\r\n"
    assert client.call(b"verbosity 1 2 3\r\n") == b"ERROR\r\n"


def test_version(client):
    reply = client.call(b"version\r\n")
    assert re.fullmatch(rb"VERSION [0-9][!-~]*\r\n", reply), reply
    if harness.is_memcached():
        assert reply == b"VERSION 1.6.18\r\n"
    assert client.call(b"version ignored args\r\n") == reply


def test_quit_closes_without_reply_and_ignores_the_rest(shared_server):
    c = shared_server.connect()
    c.send(b"set a 0 0 1\r\n1\r\nquit\r\nset b 0 0 1\r\n2\r\n")
    assert c.readline() == b"STORED\r\n"
    assert c.is_closed()
    assert c.buf == b""
    c2 = shared_server.connect()
    assert c2.get("a", "b") == b"VALUE a 0 1\r\n1\r\nEND\r\n"
    c3 = shared_server.connect()
    c3.send(b"quit now\r\n")
    assert c3.is_closed() and c3.buf == b""


# --- noreply -----------------------------------------------------------------

def test_noreply_on_every_write_command(client):
    ex = client.exchange
    assert ex(b"set n 0 0 1 noreply\r\n1\r\n") == b""
    assert ex(b"add n 0 0 1 noreply\r\n9\r\n") == b""           # NOT_STORED, silent
    assert ex(b"add m 0 0 1 noreply\r\n2\r\n") == b""
    assert ex(b"replace m 0 0 1 noreply\r\n3\r\n") == b""
    assert ex(b"replace zz 0 0 1 noreply\r\n3\r\n") == b""      # NOT_STORED, silent
    assert ex(b"append m 0 0 1 noreply\r\n4\r\n") == b""
    assert ex(b"prepend m 0 0 1 noreply\r\n2\r\n") == b""
    assert ex(b"incr n 5 noreply\r\n") == b""
    assert ex(b"decr n 2 noreply\r\n") == b""
    assert ex(b"incr zz 1 noreply\r\n") == b""                  # NOT_FOUND, silent
    assert client.get("n", "m") == b"VALUE n 0 1\r\n4\r\nVALUE m 0 3\r\n234\r\nEND\r\n"
    cas = client.gets_cas("m")
    assert ex(b"cas m 0 0 1 %d noreply\r\n5\r\n" % cas) == b""
    assert ex(b"cas m 0 0 1 %d noreply\r\n6\r\n" % cas) == b""  # EXISTS, silent
    assert ex(b"cas zz 0 0 1 1 noreply\r\n6\r\n") == b""        # NOT_FOUND, silent
    assert client.value("m") == b"5"
    assert ex(b"touch m 100 noreply\r\n") == b""
    assert_ttl_about(client, "m", 100)
    assert ex(b"touch zz 100 noreply\r\n") == b""
    assert ex(b"delete n noreply\r\n") == b""
    assert ex(b"delete n noreply\r\n") == b""
    assert ex(b"verbosity 0 noreply\r\n") == b""
    assert client.value("n") is None
    assert ex(b"flush_all noreply\r\n") == b""
    assert client.value("m") is None


def test_noreply_also_silences_errors_of_that_command(client):
    ex = client.exchange
    client.set("s", "abc")
    assert ex(b"incr s 1 noreply\r\n") == b""                   # non-numeric, silent
    assert ex(b"incr s x noreply\r\n") == b""                   # bad delta, silent
    assert ex(b"touch s x noreply\r\n") == b""                  # bad exptime, silent
    # A bad command line is silent too, and its data line is then a command.
    assert ex(b"set a abc 0 1 noreply\r\nx\r\n") == b"ERROR\r\n"


def test_noreply_must_be_the_last_token_spelled_exactly(client):
    assert client.call(b"set a 0 0 1 norepl\r\nx\r\n") == b"STORED\r\n"
    assert client.call(b"set a 0 0 1 NOREPLY\r\nx\r\n") == b"STORED\r\n"
    assert client.call(b"get a noreply\r\n", b"END\r\n") == b"VALUE a 0 1\r\nx\r\nEND\r\n"


# --- expiry ------------------------------------------------------------------

def test_exptime_zero_never_expires(client):
    client.set("a", "1", exptime=0)
    assert mg_ttl(client, "a") == -1


def test_negative_exptime_is_already_expired(client):
    assert client.set("a", "1", exptime=-1) == b"STORED\r\n"
    assert client.value("a") is None
    assert client.set("b", "1", exptime=-2147483648) == b"STORED\r\n"
    assert client.value("b") is None


def test_absolute_exptime_in_the_past_is_already_expired(client):
    assert client.set("a", "1", exptime=int(time.time()) - 10) == b"STORED\r\n"
    assert client.value("a") is None


def test_add_with_1970_exptime_is_born_expired(client):
    """CLIENTS.md §1.8: php-memcached's "does this sid exist" probe."""
    probe = b"add probe 0 2678400 0\r\n\r\n"
    assert client.call(probe) == b"STORED\r\n"
    assert client.get("probe") == b"END\r\n"
    assert client.call(probe) == b"STORED\r\n"


def test_absolute_exptime_in_the_future(client):
    client.set("a", "1", exptime=int(time.time()) + 100)
    assert client.value("a") == b"1"
    assert_ttl_about(client, "a", 100, late=1)


def test_thirty_days_is_the_last_relative_exptime(client):
    client.set("rel", "1", exptime=2592000)
    assert_ttl_about(client, "rel", 2592000)
    client.set("abs", "1", exptime=2592001)                 # 1970-01-31: expired
    assert client.value("abs") is None


def test_touch_and_gat_with_negative_exptime_expire_the_item(client):
    client.set("a", "1")
    assert client.call(b"touch a -1\r\n") == b"TOUCHED\r\n"
    assert client.value("a") is None
    client.set("b", "2")
    assert client.call(b"gat -1 b\r\n", b"END\r\n") == b"VALUE b 0 1\r\n2\r\nEND\r\n"
    assert client.value("b") is None


def test_relative_expiry_and_delayed_flush_take_effect(start_server):
    """The only sleeping test here: one ~2.3 s wait covers both."""
    ttl_srv, flush_srv = start_server(), start_server()
    ttl, flush = ttl_srv.connect(), flush_srv.connect()
    ttl.set("short", "1", exptime=1)
    ttl.set("long", "2", exptime=100)
    flush.set("a", "1")
    assert flush.call(b"flush_all 2\r\n") == b"OK\r\n"
    assert flush.value("a") == b"1"
    time.sleep(2.3)
    assert ttl.value("short") is None
    assert ttl.value("long") == b"2"
    assert flush.value("a") is None
    assert flush.set("a", "new") == b"STORED\r\n"
    assert flush.value("a") == b"new"


# --- framing -------------------------------------------------------------------

def test_pipelined_requests_in_one_send(client):
    request = (b"set a 0 0 1\r\n1\r\nget a\r\nadd a 0 0 1\r\n2\r\nincr a 9\r\n"
               b"gets zz\r\ndelete a\r\ndelete a\r\ntouch a 1\r\nmn\r\n")
    expected = (b"STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\nNOT_STORED\r\n10\r\n"
                b"END\r\nDELETED\r\nNOT_FOUND\r\nNOT_FOUND\r\nMN\r\n")
    client.send(request)
    assert client.read_exact(len(expected)) == expected
    assert client.read_available(0.1) == b""


def test_many_pipelined_sets_and_gets(client):
    n = 2000
    client.send(b"".join(b"set k%d 0 0 %d\r\n%d\r\n" % (i, len(b"%d" % i), i) for i in range(n)))
    assert client.read_exact(n * 8, timeout=20) == b"STORED\r\n" * n
    client.send(b"".join(b"get k%d\r\n" % i for i in range(n)))
    expected = b"".join(b"VALUE k%d 0 %d\r\n%d\r\nEND\r\n" % (i, len(b"%d" % i), i)
                        for i in range(n))
    assert client.read_exact(len(expected), timeout=20) == expected


def test_request_split_byte_by_byte(client):
    request = b"set split 3 0 5\r\nab\r\nc\r\nget split\r\nincr nokey 1\r\n"
    for i in range(len(request)):
        client.send(request[i:i + 1])
        time.sleep(0.002)
    expected = b"STORED\r\nVALUE split 3 5\r\nab\r\nc\r\nEND\r\nNOT_FOUND\r\n"
    assert client.read_exact(len(expected)) == expected


def test_bare_newline_ends_a_command_line_but_not_a_data_block(client):
    assert client.call(b"get a\n") == b"END\r\n"
    assert client.call(b"set a 0 0 1\nx\r\n") == b"STORED\r\n"
    assert client.value("a") == b"x"


def test_extra_spaces_between_tokens_are_ignored(client):
    assert client.call(b"  set  a  0  0  1 \r\nx\r\n") == b"STORED\r\n"
    assert client.call(b"get  a   zz  \r\n", b"END\r\n") == b"VALUE a 0 1\r\nx\r\nEND\r\n"
