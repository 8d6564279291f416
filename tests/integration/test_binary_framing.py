"""Binary protocol framing over raw sockets (the rest of the binary protocol:
test_binary.py): truncated, malformed and oversized packets get memcached 1.6.18's
answer or a closed connection, never a crash, a hang or a buffered gigabyte; and
`-B binary` / `-B ascii` refuse the other protocol."""

import os

import pytest

import harness
from test_binary import (  # noqa: F401 (bc: a fixture)
    APPEND, DELETE, E2BIG, EINVAL, FLUSH, GET, INCR, KEY_ENOENT, NOOP, SET, SUCCESS, TOUCH,
    UNKNOWN_COMMAND, VERSION, BinClient, Response, bc, be32, error, ok, packet)



def test_truncated_header_waits_for_the_rest(bc):
    req = packet(GET, b"key", opaque=5)
    for cut in (1, 10, 23, 24, 26):
        bc.send(req[:cut])
        assert bc.c.read_available(0.1) == b""
        bc.send(req[cut:])
        assert bc.read().fields() == error(GET, KEY_ENOENT, 5)


def test_wrong_magic_closes_without_a_reply(shared_server):
    for first in (b"\x81", b"\x00", b"\xff"):
        c = BinClient(shared_server)
        assert c.call(packet(NOOP)).fields() == ok(NOOP)  # binary from the first byte
        c.send(first + packet(NOOP)[1:])
        assert c.is_closed()
        assert c.c.buf == b""
        c.close()


def test_lengths_that_do_not_add_up_are_refused_and_close(shared_server):
    for bad in (packet(GET, b"abc", bodylen=1) + b"xx",
                packet(SET, b"abc", b"\0" * 8, bodylen=5) + b"x" * 10,
                packet(NOOP, extras=b"\0" * 4, bodylen=0) + b"\0" * 4):
        c = BinClient(shared_server)
        r = c.call(bad)
        assert r.fields() == error(bad[1], UNKNOWN_COMMAND)
        assert c.is_closed()
        c.close()


def test_protocol_errors_are_invalid_arguments_and_close(shared_server):
    cases = [packet(GET, b"k" * 251), packet(GET), packet(GET, b"k", be32(0)),
             packet(SET, b"k", value=b"v"), packet(INCR, b"k", b"\0" * 8),
             packet(DELETE, b"k", value=b"v"), packet(NOOP, value=b"v"),
             packet(FLUSH, b"k"), packet(TOUCH, b"k"), packet(APPEND, value=b"v")]
    for bad in cases:
        c = BinClient(shared_server)
        assert c.call(bad).fields() == error(bad[1], EINVAL), bad[:24]
        assert c.is_closed()
        c.close()


def test_key_of_65535_bytes(shared_server):
    c = BinClient(shared_server)
    try:
        c.send(packet(GET, b"k" * 65535))
    except OSError:
        pass  # the server may close before taking it all
    assert c.is_closed()
    reply = c.c.buf  # what arrived before the close
    # memcached cannot fit such a request in its read buffer and closes; syncached
    # answers Invalid arguments (binary keys are 250 bytes at most), then closes.
    if reply or not harness.is_memcached():
        assert Response(reply).fields() == error(GET, EINVAL)


def test_huge_body_length_is_never_buffered(shared_server):
    c = BinClient(shared_server)
    # (memcached turns a body length over 2^31 negative and closes; below it both
    # refuse the value and swallow it.)
    c.send(packet(SET, b"huge", b"\0" * 8, bodylen=0x7FFFFFF0))
    if not harness.is_memcached():
        # memcached answers only once the whole body was swallowed.
        assert c.read().fields() == error(SET, E2BIG)
    before = None if harness.sanitized_build() else shared_server.rss_bytes()
    chunk = b"y" * (1 << 20)
    for _ in range(64):
        c.send(chunk)
    c.close()
    # The server still answers, and did not keep what it swallowed.
    c = BinClient(shared_server)
    assert c.call(packet(NOOP)).fields() == ok(NOOP)
    if before is not None:
        assert shared_server.rss_bytes() < before + (32 << 20)
    c.close()


def test_many_malformed_connections_leave_the_server_healthy(shared_server):
    junk = [b"\x80", b"\x80" * 24, packet(0xFF, bodylen=3) + b"abc",
            packet(GET, b"x", bodylen=0xFFFFFFFF), b"\x80\x01\x00\x01\x08" + b"\0" * 19,
            os.urandom(200)]
    for data in junk * 5:
        c = BinClient(shared_server)
        c.send(data)
        c.close()
    c = BinClient(shared_server)
    assert c.call(packet(VERSION)).status == SUCCESS
    c.close()


def test_binding_protocol_binary_closes_text_clients(start_server):
    srv = start_server("-B", "binary")
    c = srv.connect()
    c.send(b"version\r\n" * 3)  # memcached looks once 24 bytes (a header) are in
    assert c.is_closed()
    b = BinClient(srv)
    assert b.call(packet(VERSION)).fields() == ok(VERSION, value=b"1.6.18")


@pytest.mark.syncached_only
def test_binding_protocol_ascii_closes_binary_clients(start_server):
    # memcached reads the packet as a text line and waits for its end.
    srv = start_server("-B", "ascii")
    b = BinClient(srv)
    b.send(packet(VERSION))
    assert b.is_closed()


@pytest.mark.syncached_only
def test_huge_body_length_over_2g(shared_server):
    c = BinClient(shared_server)
    c.send(packet(SET, b"huge", b"\0" * 8, bodylen=0xFFFFFFFF))
    assert c.read().fields() == error(SET, E2BIG)
    c.send(b"z" * (1 << 20))
    c.close()
    c = BinClient(shared_server)
    assert c.call(packet(NOOP)).fields() == ok(NOOP)
