"""Malformed text requests, answered exactly as memcached 1.6.18 answers them.

After every bad request the same connection (or, where memcached closes it,
a new one) still works and nothing was stored. Replies were recorded from
Debian's memcached 1.6.18; the comments say why memcached answers that way
(proto_text.c), since several of these are accidents an implementer would
not guess.
"""

import struct

import pytest

LONG_KEY = "k" * 251
BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"


def assert_usable(c, key="a"):
    """The connection still answers and `key` was not stored."""
    assert c.exchange(b"") == b""
    assert c.value(key) is None


@pytest.mark.parametrize("line", [
    b"foo\r\n", b"SET a 0 0 1\r\n", b"Get a\r\n", b"\r\n", b"\n", b"x\r\n", b"mx a\r\n",
    b"gett a\r\n", b"\x01\x02\xfe\xff garbage\r\n", b"\x00\x01\r\n", b"\xff\xfe\xfd\n",
])
def test_unknown_or_empty_command_is_error(client, line):
    assert client.call(line) == b"ERROR\r\n"
    assert_usable(client)


def test_wrong_token_counts_are_error(client):
    for line in (b"set\r\n", b"set a\r\n", b"set a 0 0\r\n", b"add a 0\r\n",
                 b"cas a 0 0 1\r\n", b"touch a\r\n", b"incr a\r\n", b"decr\r\n",
                 b"delete\r\n", b"delete a 0 noreply x\r\n", b"touch a 1 noreply x\r\n"):
        assert client.call(line) == b"ERROR\r\n", line
    assert_usable(client)


def test_storage_line_with_too_many_tokens_leaves_data_line_as_a_command(client):
    """No data is swallowed after an ERROR: the value line is parsed as a
    command of its own (here: another ERROR)."""
    assert client.exchange(b"set a 0 0 1 noreply x\r\nx\r\n") == b"ERROR\r\nERROR\r\n"
    assert client.exchange(b"cas a 0 0 1 1 noreply x\r\nx\r\n") == b"ERROR\r\nERROR\r\n"
    assert client.exchange(b"set a 0 0 1 2 3\r\nx\r\n") == b"ERROR\r\nERROR\r\n"
    assert_usable(client)


def test_data_line_after_rejected_command_is_executed(client):
    """Since nothing is swallowed, a data line that looks like a command runs."""
    assert client.exchange(b"set a 0 0 abc\r\nset b 0 0 1\r\nB\r\n") == BAD_FORMAT + b"STORED\r\n"
    assert client.value("b") == b"B"
    assert client.value("a") is None


def test_commands_are_case_sensitive_and_space_separated_only(client):
    client.set("a", "1")
    assert client.exchange(b"GET a\r\n") == b"ERROR\r\n"
    assert client.exchange(b"get\ta\r\n") == b"ERROR\r\n"      # tab is not a separator
    assert client.get("a\tb") == b"END\r\n"                     # ... it is part of the key


@pytest.mark.parametrize("request_line", [
    "get %s\r\n" % LONG_KEY, "gets a %s\r\n" % LONG_KEY, "gat 1 %s\r\n" % LONG_KEY,
    "incr %s 1\r\n" % LONG_KEY, "decr %s 1\r\n" % LONG_KEY, "delete %s\r\n" % LONG_KEY,
    "touch %s 1\r\n" % LONG_KEY, "mg %s v\r\n" % LONG_KEY, "md %s\r\n" % LONG_KEY,
    "ma %s\r\n" % LONG_KEY, "me %s\r\n" % LONG_KEY,
])
def test_key_longer_than_250_bytes(client, request_line):
    assert client.call(request_line.encode()) == BAD_FORMAT
    assert_usable(client)


@pytest.mark.parametrize("cmd", ["set", "add", "replace", "append", "prepend", "ms"])
def test_storage_with_long_key_does_not_swallow_the_data(client, cmd):
    head = ("ms %s 1" if cmd == "ms" else cmd + " %s 0 0 1") % LONG_KEY
    assert client.exchange(head.encode() + b"\r\nx\r\n") == BAD_FORMAT + b"ERROR\r\n"
    assert_usable(client, LONG_KEY[:250])


def test_multi_get_with_one_long_key_answers_only_the_error(client):
    """Hits before the bad key are dropped: the whole reply is the error."""
    client.set("a", "1")
    client.set("b", "2")
    assert client.get("a", LONG_KEY, "b") == BAD_FORMAT
    assert client.get("b", "a") == b"VALUE b 0 1\r\n2\r\nVALUE a 0 1\r\n1\r\nEND\r\n"


@pytest.mark.parametrize("data", [b"xy\r\n", b"xyzw\r\n", b"x\n\r\n", b"old\r\n"])
def test_bad_data_chunk(client, data):
    """memcached reads <bytes>+2, finds no \\r\\n at its end, answers
    "bad data chunk" and parses what follows as a new command line."""
    client.set("a", "orig")
    reply = client.exchange(b"set a 0 0 1\r\n" + data)
    assert reply.startswith(b"CLIENT_ERROR bad data chunk\r\n"), reply
    assert set(reply.split(b"\r\n")[1:-1]) <= {b"ERROR"}, reply
    assert client.value("a") == b"orig"


def test_bad_data_chunk_exact_replies(client):
    assert client.exchange(b"set a 0 0 1\r\nxy\r\n") == b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"
    assert client.exchange(b"set a 0 0 1\r\nxyzw\r\nget a\r\n") == (
        b"CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n")
    assert client.exchange(b"set a 0 0 1\nx\nget a\n") == b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"
    # noreply hides the error line but not the ERROR of the leftover "\n".
    assert client.exchange(b"set a 0 0 1 noreply\r\nxy\r\n") == b"ERROR\r\n"
    assert_usable(client)


@pytest.mark.parametrize("length", [b"-1", b"abc", b"1x", b"", b"2147483648", b"2147483646",
                                    b"2147483647", b"99999999999999999999", b"0x10"])
def test_negative_garbage_or_overflowing_length_is_rejected_without_swallowing(client, length):
    line = b"set a 0 0 " + length + b"\r\n" if length else b"set a 0 0 \r\n"
    expected = BAD_FORMAT if length else b"ERROR\r\n"
    assert client.exchange(line) == expected
    assert_usable(client)


@pytest.mark.parametrize("head", [b"set a abc 0 1", b"set a -1 0 1", b"set a 0x10 0 1",
                                  b"set a 18446744073709551616 0 1", b"set a 0 abc 1",
                                  b"set a 0 1.5 1", b"cas a 0 0 1 abc", b"cas a 0 0 1 -1"])
def test_bad_flags_exptime_or_cas_token(client, head):
    assert client.exchange(head + b"\r\nx\r\n") == BAD_FORMAT + b"ERROR\r\n"
    assert_usable(client)


def test_numeric_fields_are_truncated_to_32_bits_like_memcached(client):
    """memcached parses flags/exptime/length into 64-bit longs and keeps the
    low 32 bits (safe_strtoul/safe_strtol in util.c)."""
    assert client.set("f", "x", flags=4294967296) == b"STORED\r\n"
    assert client.get("f") == b"VALUE f 0 1\r\nx\r\nEND\r\n"
    assert client.set("f", "x", flags=4294967297) == b"STORED\r\n"
    assert client.get("f") == b"VALUE f 1 1\r\nx\r\nEND\r\n"
    assert client.set("f", "x", flags=18446744073709551615) == b"STORED\r\n"
    assert client.get("f") == b"VALUE f 4294967295 1\r\nx\r\nEND\r\n"
    assert client.call(b"set len 0 0 4294967297\r\nx\r\n") == b"STORED\r\n"
    assert client.value("len") == b"x"
    assert client.set("e", "x", exptime=4294967296) == b"STORED\r\n"   # exptime 0
    assert client.call(b"mg e t\r\n") == b"HD t-1\r\n"
    assert client.set("e2", "x", exptime=2147483648) == b"STORED\r\n"  # negative
    assert client.value("e2") is None


def test_numbers_accept_plus_sign_and_leading_zeros(client):
    assert client.call(b"set a +5 0 01\r\nx\r\n") == b"STORED\r\n"
    assert client.get("a") == b"VALUE a 5 1\r\nx\r\nEND\r\n"


def test_extra_token_on_storage_line_is_ignored_unless_noreply(client):
    assert client.call(b"set a 0 0 1 garbage\r\nx\r\n") == b"STORED\r\n"
    assert client.call(b"touch a 1 garbage\r\n") == b"TOUCHED\r\n"
    assert client.call(b"incr a 1 garbage\r\n") == (
        b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")


def test_keys_may_hold_control_characters(client):
    """memcached's text protocol only splits on spaces; other bytes, control
    characters included, are part of the key."""
    assert client.call(b"set k\x01y 0 0 1\r\nx\r\n") == b"STORED\r\n"
    assert client.get("k\x01y") == b"VALUE k\x01y 0 1\r\nx\r\nEND\r\n"
    assert client.get("a\r") == b"END\r\n"                      # "get a\r\r\n": key "a\r"


def test_nul_byte_ends_the_command_line(client):
    client.set("a", "1")
    assert client.exchange(b"get a\x00b c\r\n") == b"VALUE a 0 1\r\n1\r\nEND\r\n"


# --- too large ------------------------------------------------------------------

def test_value_over_item_size_limit_is_refused_and_swallowed(client):
    big = b"x" * (1 << 20)
    assert client.call(b"set a 0 0 %d\r\n%s\r\n" % (len(big), big)) == (
        b"SERVER_ERROR object too large for cache\r\n")
    assert_usable(client)


def test_swallow_takes_exactly_length_plus_two_bytes_whatever_they_are(client):
    n = 2000000
    assert client.exchange(b"set a 0 0 %d\r\n%sXYget a\r\n" % (n, b"x" * n)) == (
        b"SERVER_ERROR object too large for cache\r\nEND\r\n")
    client.send(b"set a 0 0 %d\r\n%s" % (n, b"y" * (n - 2)))
    # 2 bytes of the swallow are still owed: they eat "\r\n", then "ge".
    assert client.exchange(b"\r\nget a\r\n") == (
        b"SERVER_ERROR object too large for cache\r\nERROR\r\n")
    assert_usable(client)


def test_too_large_set_deletes_the_old_value_but_append_does_not(client):
    """memcached unlinks the key when a SET fails for size ("avoid stale
    data"); add/replace/append/prepend leave it."""
    n = 2000000
    client.set("a", "old")
    client.set("b", "old")
    assert client.call(b"set a 0 0 %d\r\n%s\r\n" % (n, b"x" * n)) == (
        b"SERVER_ERROR object too large for cache\r\n")
    assert client.call(b"append b 0 0 %d\r\n%s\r\n" % (n, b"x" * n)) == (
        b"SERVER_ERROR object too large for cache\r\n")
    assert client.value("a") is None
    assert client.value("b") == b"old"


def test_too_large_with_noreply_is_silent(client):
    n = 2000000
    assert client.exchange(b"set a 0 0 %d noreply\r\n%s\r\n" % (n, b"x" * n)) == b""
    assert_usable(client)


def test_item_size_limit_follows_dash_I(start_server):
    c = start_server("-I", "2m").connect()
    assert c.set("ok", b"v" * 1500000) == b"STORED\r\n"
    assert c.set("big", b"v" * 2100000) == b"SERVER_ERROR object too large for cache\r\n"
    assert c.value("ok") == b"v" * 1500000
    assert_usable(c, "big")
    stats = c.stats()
    assert stats["store_too_large"] == "1"
    assert c.stats("settings")["item_size_max"] == str(2 << 20)


# --- lines that are not commands ------------------------------------------------------

def test_line_of_1mb_without_newline_closes_the_connection(shared_server):
    c = shared_server.connect()
    try:
        c.send(b"set a 0 0 1 " + b" " * (1 << 20))
    except ConnectionError:
        pass  # the server may close while we are still sending
    assert c.is_closed()
    assert c.buf == b""
    other = shared_server.connect()
    assert_usable(other)


def test_get_line_of_1mb_is_buffered_until_its_newline(client):
    """Only get/gets lines may exceed 2 KB; this one then has a >250 byte key."""
    client.send(b"get " + b"k" * (1 << 20))
    assert client.read_available(0.3) == b""
    assert client.exchange(b"\r\n") == BAD_FORMAT


def test_http_request_line_closes_the_connection_silently(shared_server):
    c = shared_server.connect()
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.is_closed()
    assert c.buf == b""


def test_binary_garbage_after_text_commands(client):
    """Only the first byte of a connection selects the binary protocol."""
    client.set("a", "1")
    assert client.exchange(b"\x80\x01\x00\x00\r\n") == b"ERROR\r\n"
    assert client.value("a") == b"1"


# --- binary protocol garbage (binary protocol is a later issue) --------------------------

def binary_request(opcode, key=b"", extras=b"", body=b"", opaque=0x01020304, magic=0x80):
    total = len(extras) + len(key) + len(body)
    return struct.pack(">BBHBBHIIQ", magic, opcode, len(key), len(extras), 0, 0, total,
                       opaque, 0) + extras + key + body


def binary_response(opcode, status, body=b"", opaque=0x01020304):
    return struct.pack(">BBHBBHIIQ", 0x81, opcode, 0, 0, 0, status, len(body), opaque, 0) + body


NOOP = 0x0a


@pytest.mark.binary
def test_binary_unknown_opcode_and_bad_arguments(shared_server):
    c = shared_server.connect()
    c.send(binary_request(0xfe))
    expected = binary_response(0xfe, 0x81, b"Unknown command")
    assert c.read_exact(len(expected)) == expected
    c.send(binary_request(NOOP))
    assert c.read_exact(24) == binary_response(NOOP, 0)
    c.send(binary_request(0x00, key=b"k" * 300))               # GET with a 300-byte key
    expected = binary_response(0x00, 0x04, b"Invalid arguments")
    assert c.read_exact(len(expected)) == expected


@pytest.mark.binary
def test_binary_bad_magic_after_first_packet_closes(shared_server):
    c = shared_server.connect()
    c.send(binary_request(NOOP) + b"\x00" * 24)
    assert c.read_exact(24) == binary_response(NOOP, 0)
    assert c.is_closed()
    assert_usable(shared_server.connect())
