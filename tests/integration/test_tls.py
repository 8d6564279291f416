"""Client TLS (-Z, -o ssl_*, notls: listeners, refresh_certs, SIGHUP), as memcached 1.6.

Certificates are made at test time with the openssl CLI (EC P-256: quick). Runs
against Debian's memcached too (built with TLS); syncached_only marks what differs.
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

import pytest

import harness
from tls_support import OPENSSL, TlsClient, context, make_ca, make_cert

pymemcache = pytest.importorskip("pymemcache.client.base")

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl CLI")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tls"))
    make_ca(d, "ca")
    make_ca(d, "otherca")
    make_cert(d, "server1", "ca", 1001, True)
    make_cert(d, "server2", "ca", 2002, True)
    make_cert(d, "client", "ca", 3003, False)
    make_cert(d, "intruder", "otherca", 4004, False)
    return d


def _live_cert(certs, tmp_path, name="server1"):
    """Copies a server cert/key to paths the test may overwrite (refresh tests)."""
    for ext in ("crt", "key"):
        shutil.copy(os.path.join(certs, "%s.%s" % (name, ext)), str(tmp_path / ("live." + ext)))
    return str(tmp_path / "live.crt"), str(tmp_path / "live.key")


def _tls_args(crt, key, *opts):
    o = ["ssl_chain_cert=" + crt, "ssl_key=" + key] + list(opts)
    return ["-Z", "-o", ",".join(o)]


def _stats(c, group=""):
    c.send(("stats %s\r\n" % group).strip() + "\r\n" if group else "stats\r\n")
    out = {}
    while True:
        line = c.readline().decode()
        if line == "END\r\n":
            return out
        _, name, value = line.rstrip("\r\n").split(" ", 2)
        out[name] = value


def _refused(port, ctx):
    """True if a TLS client cannot complete a request (handshake or first read fails)."""
    try:
        with TlsClient(port, ctx) as c:
            return not c.call("version\r\n").startswith(b"VERSION ")
    except (ssl.SSLError, ConnectionError, OSError, TimeoutError):
        return True


def test_s_client_version(start_server, certs, tmp_path):
    crt, key = _live_cert(certs, tmp_path)
    srv = start_server(*_tls_args(crt, key))
    r = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % srv.port, "-quiet",
                        "-CAfile", os.path.join(certs, "ca.crt"), "-verify_return_error"],
                       input=b"version\r\nquit\r\n", capture_output=True, timeout=20)
    assert r.stdout.startswith(b"VERSION "), (r.stdout, r.stderr[-2000:])


def test_pymemcache_set_get(start_server, certs, tmp_path):
    crt, key = _live_cert(certs, tmp_path)
    srv = start_server(*_tls_args(crt, key))
    c = pymemcache.Client((harness.HOST, srv.port), tls_context=context(certs),
                          connect_timeout=5, timeout=10)
    try:
        assert c.set(b"k", b"v")
        assert c.get(b"k") == b"v"
        # Several TLS records each way: partial writes and read-ahead.
        big = os.urandom(700 * 1024)
        assert c.set(b"big", big)
        assert c.get(b"big") == big
        many = {b"m%d" % i: b"x" * (i * 37) for i in range(200)}
        assert c.set_many(many) == []
        assert c.get_many(list(many)) == many
    finally:
        c.close()


def test_pipelined_over_tls(start_server, certs, tmp_path):
    """Many requests in one write, replies bigger than the socket buffer."""
    crt, key = _live_cert(certs, tmp_path)
    srv = start_server(*_tls_args(crt, key))
    with TlsClient(srv.port, context(certs)) as c:
        value = b"y" * 100000
        assert c.call(b"set p 0 0 %d\r\n%s\r\n" % (len(value), value)) == b"STORED\r\n"
        c.send(b"get p\r\n" * 40)
        for _ in range(40):
            assert c.readline() == b"VALUE p 0 %d\r\n" % len(value)
            assert c.read_exact(len(value) + 2) == value + b"\r\n"
            assert c.readline() == b"END\r\n"


def test_client_cert_required(start_server, certs, tmp_path):
    crt, key = _live_cert(certs, tmp_path)
    srv = start_server(*_tls_args(crt, key, "ssl_verify_mode=2",
                                  "ssl_ca_cert=" + os.path.join(certs, "ca.crt")))
    with TlsClient(srv.port, context(certs, "client")) as c:
        assert c.call("version\r\n").startswith(b"VERSION ")
    assert _refused(srv.port, context(certs))  # no client certificate
    assert _refused(srv.port, context(certs, "intruder"))  # signed by another CA
    assert srv.alive()


def test_min_version(start_server, certs, tmp_path):
    crt, key = _live_cert(certs, tmp_path)
    srv = start_server(*_tls_args(crt, key, "ssl_min_version=3"))
    assert _refused(srv.port, context(certs, maximum_version=ssl.TLSVersion.TLSv1_2))
    with TlsClient(srv.port, context(certs, maximum_version=ssl.TLSVersion.TLSv1_3)) as c:
        assert c.sock.version() == "TLSv1.3"
        settings = _stats(c, "settings")
        assert settings["ssl_min_version"] == "tlsv1.3"
    srv2 = start_server(*_tls_args(crt, key))  # default tlsv1.2: a 1.2 client is fine
    with TlsClient(srv2.port, context(certs, maximum_version=ssl.TLSVersion.TLSv1_2)) as c:
        assert c.sock.version() == "TLSv1.2"
        assert c.call("version\r\n").startswith(b"VERSION ")


def test_stats_settings_and_stats(start_server, certs, tmp_path):
    crt, key = _live_cert(certs, tmp_path)
    ca = os.path.join(certs, "ca.crt")
    srv = start_server(*_tls_args(crt, key, "ssl_verify_mode=1", "ssl_ca_cert=" + ca,
                                  "ssl_session_cache", "ssl_ciphers=ECDHE-ECDSA-AES128-GCM-SHA256"))
    with TlsClient(srv.port, context(certs, "client")) as c:
        s = _stats(c, "settings")
        assert s["ssl_enabled"] == "yes"
        assert s["ssl_chain_cert"] == crt and s["ssl_key"] == key
        assert s["ssl_verify_mode"] == "1"  # SSL_VERIFY_PEER, as memcached prints it
        assert s["ssl_keyformat"] == "1"
        assert s["ssl_ciphers"] == "ECDHE-ECDSA-AES128-GCM-SHA256"
        assert s["ssl_ca_cert"] == ca
        assert s["ssl_wbuf_size"] == "16384"
        assert s["ssl_session_cache"] == "yes"
        assert s["ssl_kernel_tls"] == "no"
        st = _stats(c)
        assert int(st["ssl_new_sessions"]) >= 1
        # memcached may count the harness's connect-and-close readiness probe.
        assert st["ssl_handshake_errors"] == "0" or harness.is_memcached()
        # memcached's clock starts 62 s before its start, so it says 62 at first.
        assert 0 <= int(st["time_since_server_cert_refresh"]) < 60 or harness.is_memcached()
        names = list(st)
        assert names.index("ssl_handshake_errors") == names.index("log_watchers") + 2


def test_stats_without_tls(server):
    with server.connect() as c:
        s = _stats(c, "settings")
        assert (s["ssl_enabled"], s["ssl_chain_cert"], s["ssl_verify_mode"], s["ssl_ciphers"],
                s["ssl_min_version"]) == ("no", "(null)", "0", "NULL", "tlsv1.2")
        assert "ssl_handshake_errors" not in _stats(c)
        assert c.call("refresh_certs\r\n") == b"Error TLS not enabled\r\n"


def test_notls_listener(start_server, certs, tmp_path):
    crt, key = _live_cert(certs, tmp_path)
    plain_port = harness.free_port()
    srv = start_server(*_tls_args(crt, key), "-l", "notls:127.0.0.1:%d" % plain_port)
    with harness.Client(harness.HOST, plain_port) as c:
        assert c.call("set a 0 0 1\r\nx\r\n") == b"STORED\r\n"
    with TlsClient(srv.port, context(certs)) as c:
        assert c.call("get a\r\n", b"END\r\n") == b"VALUE a 0 1\r\nx\r\nEND\r\n"


def test_garbage_closes_and_counts(start_server, certs, tmp_path):
    crt, key = _live_cert(certs, tmp_path)
    plain_port = harness.free_port()
    srv = start_server(*_tls_args(crt, key), "-l", "notls:127.0.0.1:%d" % plain_port)
    with harness.Client(harness.HOST, plain_port) as c:
        before = int(_stats(c)["ssl_handshake_errors"])
    for junk in (b"get foo\r\n", os.urandom(3000), b"\x16\x03\x01\x00\x05hello"):
        with socket.create_connection((harness.HOST, srv.port), timeout=5) as s:
            s.sendall(junk)
            s.settimeout(5)
            try:
                while s.recv(4096):  # a TLS alert may come first; then the close
                    pass
            except ConnectionResetError:
                pass
    assert srv.alive()
    with harness.Client(harness.HOST, plain_port) as c:
        after = int(_stats(c)["ssl_handshake_errors"])
    if harness.is_memcached():
        # memcached counts only what SSL_accept sees at accept time (a race here).
        assert after >= before
    else:
        assert after == before + 3
    with TlsClient(srv.port, context(certs)) as c:
        assert c.call("version\r\n").startswith(b"VERSION ")


def _wait_serial(port, ctx, want, deadline):
    while True:
        with TlsClient(port, ctx) as c:
            if c.serial() == want:
                return
        if time.monotonic() > deadline:
            raise AssertionError("served certificate is not serial %d" % want)
        time.sleep(0.05)


@pytest.mark.time_limit(60)
def test_refresh_certs_and_sighup(start_server, certs, tmp_path):
    crt, key = _live_cert(certs, tmp_path, "server1")
    srv = start_server(*_tls_args(crt, key))
    ctx = context(certs)
    old = TlsClient(srv.port, ctx)
    try:
        assert old.serial() == 1001
        _live_cert(certs, tmp_path, "server2")
        assert old.call("refresh_certs\r\n") == b"OK\r\n"
        with TlsClient(srv.port, ctx) as c:
            assert c.serial() == 2002
            assert c.sock.getpeercert()["subject"] == ((("commonName", "server2"),),)
        assert old.call("version\r\n").startswith(b"VERSION ")  # open connections carry on

        # A broken file: memcached's message; syncached keeps serving the old certificate.
        with open(crt, "w") as f:
            f.write("not a certificate\n")
        reply = old.call("refresh_certs\r\n")
        assert reply.startswith(b"Error loading the certificate chain: " + crt.encode() + b" : ")
        if not harness.is_memcached():
            with TlsClient(srv.port, ctx) as c:
                assert c.serial() == 2002

        if harness.is_memcached():
            return  # memcached 1.6.18's SIGHUP reloads nothing
        _live_cert(certs, tmp_path, "server1")
        srv.proc.send_signal(signal.SIGHUP)
        _wait_serial(srv.port, ctx, 1001, time.monotonic() + 10)
    finally:
        old.close()


def test_config_errors(certs, tmp_path):
    crt, key = _live_cert(certs, tmp_path)
    port = str(harness.free_port())
    cases = [
        (["-l", "notls:127.0.0.1"], "'notls' option is valid only when SSL is enabled"),
        (["-Z", "-o", "ssl_verify_mode=5"], "Invalid ssl_verify_mode. Use help to see valid options."),
        (["-Z", "-o", "ssl_min_version=9"], "Invalid ssl_min_version. Use help to see valid options."),
        (["-Z", "-o", "ssl_chain_cert=" + str(tmp_path / "missing.crt"), "-l", "127.0.0.1"],
         "Error loading the certificate chain: " + str(tmp_path / "missing.crt") + " : "),
        (["-Z", "-o", "ssl_chain_cert=%s,ssl_key=%s" % (crt, os.path.join(certs, "server2.key")),
          "-l", "127.0.0.1"], "Error loading the key: " + os.path.join(certs, "server2.key") + " : "),
    ]
    user = ["-u", "root"] if os.geteuid() == 0 else []
    for args, want in cases:
        r = harness.run_binary(["-p", port, "-U", "0"] + user + args)
        out = (r.stdout + r.stderr).decode()
        assert r.returncode != 0 and want in out, (args, r.returncode, out)


@pytest.mark.time_limit(120)
def test_pymemcache_own_tls_test(start_server, certs, tmp_path):
    """pymemcache's test_integration.py::test_tls, unchanged, against this server. The
    Debian package ships the test but not its certs/ca-root.crt: a copy of the test
    directory gets our CA under that name."""
    import pymemcache.test as pt
    src = os.path.dirname(pt.__file__)
    dst = tmp_path / "pymemcache_tests"
    shutil.copytree(src, str(dst), ignore=shutil.ignore_patterns("__pycache__"))
    os.makedirs(str(dst / "certs"), exist_ok=True)
    shutil.copy(os.path.join(certs, "ca.crt"), str(dst / "certs" / "ca-root.crt"))
    crt, key = _live_cert(certs, tmp_path)
    srv = start_server(*_tls_args(crt, key))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(dst / "test_integration.py"), "-k", "test_tls",
                        "--tls-server", "localhost", "--tls-port", str(srv.port)],
                       cwd=str(tmp_path), capture_output=True, timeout=100)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0 and " passed" in out, out[-3000:] + r.stderr.decode()[-2000:]
