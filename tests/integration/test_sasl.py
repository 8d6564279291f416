"""SASL (-S) over the binary protocol: Cyrus libsasl2 with a sasldb made by
saslpasswd2 and a memcached.conf found through SASL_CONF_PATH (as memcached
does), plus memcached's MEMCACHED_SASL_PWDB file of user:password lines.

Debian's memcached is built without MEMCACHED_SASL_PWDB support, so the tests of
that file are syncached_only; the rest pass against memcached unchanged.
"""

import os
import shutil
import socket
import subprocess

import pytest

import harness
from test_binary import (GET, NOOP, SASL_AUTH, SASL_LIST_MECHS, SASL_STEP, SET, STAT,
                         SUCCESS, VERSION, BinClient, ok, packet, set_packet)

pylibmc = pytest.importorskip("pylibmc")

SASLPASSWD2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
PHP = shutil.which("php")
AUTH_ERROR, AUTH_CONTINUE, EINVAL = 0x20, 0x21, 0x04
AUTH_FAILURE = b"Auth failure."

pytestmark = pytest.mark.skipif(not os.path.exists(SASLPASSWD2),
                                reason="saslpasswd2 (sasl2-bin) not installed")


def plain(user, password):
    return b"\0" + user + b"\0" + password


def auth_error(op, opaque=0):
    return (op, AUTH_ERROR, b"", b"", AUTH_FAILURE, opaque)


def system_sasl_config():
    return any(os.path.exists(p) for p in ("/etc/sasl/memcached.conf",
                                           "/etc/sasl2/memcached.conf"))


@pytest.fixture
def sasl_dir(tmp_path, monkeypatch):
    """memcached.conf (mech_list: plain) + a sasldb holding alice/secret, found
    through SASL_CONF_PATH; the server started by the test inherits it."""
    db = tmp_path / "sasldb2"
    r = subprocess.run([SASLPASSWD2, "-p", "-c", "-a", "memcached", "-f", str(db), "alice"],
                       input=b"secret", capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    (tmp_path / "memcached.conf").write_text("mech_list: plain\nsasldb_path: %s\n" % db)
    monkeypatch.setenv("SASL_CONF_PATH", str(tmp_path))
    monkeypatch.delenv("MEMCACHED_SASL_PWDB", raising=False)
    return tmp_path


@pytest.fixture
def sasl_server(sasl_dir, start_server):
    return start_server("-S")


def client(srv, username, password):
    return pylibmc.Client(["%s:%d" % (srv.host, srv.port)], binary=True,
                          username=username, password=password)


def authenticate(b, user=b"alice", password=b"secret"):
    return b.call(packet(SASL_AUTH, b"PLAIN", value=plain(user, password)))


def test_pylibmc_with_the_right_password_works(sasl_server):
    mc = client(sasl_server, "alice", "secret")
    assert mc.set("k", "v") and mc.get("k") == "v"
    assert mc.set("n", 1) and mc.incr("n", 1) == 2
    assert mc.get_multi(["k", "x"]) == {"k": "v"}


def test_pylibmc_with_a_wrong_password_is_refused(sasl_server):
    client(sasl_server, "alice", "secret").set("k", "v")
    for user, password in (("alice", "wrong"), ("mallory", "secret"), ("alice", "")):
        mc = client(sasl_server, user, password)
        with pytest.raises(pylibmc.Error):
            mc.set("k", "overwritten")
    assert client(sasl_server, "alice", "secret").get("k") == "v"


def test_unauthenticated_commands_are_refused_and_closed(sasl_server):
    for req in (packet(GET, b"k", opaque=3), set_packet(SET, b"k", b"v"), packet(NOOP),
                packet(STAT)):
        b = BinClient(sasl_server)
        assert b.call(req).fields() == auth_error(req[1], 3 if req[1] == GET else 0)
        assert b.is_closed()
    # Nothing was stored.
    b = BinClient(sasl_server)
    authenticate(b)
    assert b.call(packet(GET, b"k")).status == 0x01


def test_version_and_mechanism_list_need_no_authentication(sasl_server):
    b = BinClient(sasl_server)
    assert b.call(packet(VERSION)).fields() == ok(VERSION, value=b"1.6.18")
    assert b.call(packet(SASL_LIST_MECHS, opaque=5)).fields() == \
        ok(SASL_LIST_MECHS, value=b"PLAIN", opaque=5)


def test_failed_auth_keeps_the_connection_and_counts(sasl_server):
    b = BinClient(sasl_server)
    assert authenticate(b, password=b"wrong").fields() == auth_error(SASL_AUTH)
    assert authenticate(b, user=b"nobody").fields() == auth_error(SASL_AUTH)
    assert authenticate(b).fields() == ok(SASL_AUTH, value=b"Authenticated")
    assert b.call(set_packet(SET, b"k", b"v")).status == SUCCESS
    stats = dict(b.stats())
    assert (stats["auth_cmds"], stats["auth_errors"]) == ("3", "2")
    assert dict(b.stats(b"settings"))["auth_enabled_sasl"] == "yes"


def test_plain_in_two_steps(sasl_server):
    b = BinClient(sasl_server)
    assert b.call(packet(SASL_AUTH, b"PLAIN")).fields() == \
        (SASL_AUTH, AUTH_CONTINUE, b"", b"", b"", 0)
    assert b.call(packet(SASL_STEP, b"PLAIN", value=plain(b"alice", b"secret"))).fields() == \
        ok(SASL_STEP, value=b"Authenticated")
    assert b.call(packet(GET, b"k")).status == 0x01


def test_step_without_auth_and_bad_mechanisms_fail(sasl_server):
    b = BinClient(sasl_server)
    assert b.call(packet(SASL_STEP, b"PLAIN", value=plain(b"alice", b"secret"))).fields() == \
        auth_error(SASL_STEP)
    assert b.call(packet(SASL_AUTH, b"ANONYMOUS", value=b"x")).fields() == \
        auth_error(SASL_AUTH)
    # A mechanism name over 32 bytes is invalid; the connection survives.
    assert b.call(packet(SASL_AUTH, b"X" * 40, value=b"data")).fields() == \
        (SASL_AUTH, EINVAL, b"", b"", b"Invalid arguments", 0)
    assert authenticate(b).status == SUCCESS


def test_any_sasl_command_resets_authentication(sasl_server):
    b = BinClient(sasl_server)
    assert authenticate(b).status == SUCCESS
    b.call(packet(SASL_LIST_MECHS))
    assert b.call(packet(GET, b"k")).fields() == auth_error(GET)
    assert b.is_closed()


def test_text_protocol_is_refused(sasl_server):
    c = sasl_server.connect()
    c.send(b"version\r\n" * 3)
    assert c.is_closed()
    assert c.buf == b""


@pytest.mark.skipif(PHP is None, reason="php-cli not installed")
def test_php_memcached_with_sasl(sasl_server):
    code = r"""
$m = new Memcached();
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
$m->addServer('127.0.0.1', (int)$argv[1]);
$m->setSaslAuthData($argv[2], $argv[3]);
echo $m->set('php', 'works') && $m->get('php') === 'works' ? "OK" : "FAIL " . $m->getResultMessage();
"""
    run = lambda user, pw: subprocess.run(  # noqa: E731
        [PHP, "-r", code, "--", str(sasl_server.port), user, pw], capture_output=True,
        timeout=60, stdin=subprocess.DEVNULL)
    r = run("alice", "secret")
    assert (r.returncode, r.stdout) == (0, b"OK"), r.stderr
    r = run("alice", "nope")
    assert r.stdout.startswith(b"FAIL"), r.stdout


# --- MEMCACHED_SASL_PWDB (not built into Debian's memcached) -------------------------


@pytest.mark.syncached_only
def test_password_file_alongside_sasldb(sasl_dir, start_server, monkeypatch):
    pwdb = sasl_dir / "pwdb"
    pwdb.write_text("bob:hunter2\ncarol@%s:pass3\ndave:pw:extra\n" % socket.gethostname())
    monkeypatch.setenv("MEMCACHED_SASL_PWDB", str(pwdb))
    srv = start_server("-S")
    for user, password in (("bob", "hunter2"), ("carol", "pass3"), ("dave", "pw"),
                           ("alice", "secret")):  # the last from the sasldb
        mc = client(srv, user, password)
        assert mc.set("k", user) and mc.get("k") == user
    for user, password in (("bob", "hunter"), ("dave", "pw:extra"), ("eve", "x")):
        with pytest.raises(pylibmc.Error):
            client(srv, user, password).set("k", "v")
    # The file is read on every attempt: an edit applies at once.
    pwdb.write_text("bob:changed\n")
    client(srv, "bob", "changed").set("k", "v")
    with pytest.raises(pylibmc.Error):
        client(srv, "bob", "hunter2").set("k", "v")


@pytest.mark.syncached_only
@pytest.mark.skipif(system_sasl_config(), reason="a system memcached.conf exists")
def test_password_file_alone_offers_plain(tmp_path, start_server, monkeypatch):
    pwdb = tmp_path / "pwdb"
    pwdb.write_text("bob:hunter2\n")
    monkeypatch.delenv("SASL_CONF_PATH", raising=False)
    monkeypatch.setenv("MEMCACHED_SASL_PWDB", str(pwdb))
    srv = start_server("-S")
    b = BinClient(srv)
    assert b.call(packet(SASL_LIST_MECHS)).fields() == ok(SASL_LIST_MECHS, value=b"PLAIN")
    mc = client(srv, "bob", "hunter2")
    assert mc.set("k", "v") and mc.get("k") == "v"


@pytest.mark.skipif(system_sasl_config(), reason="a system memcached.conf exists")
def test_no_sasl_configuration_fails_at_start(monkeypatch):
    monkeypatch.delenv("SASL_CONF_PATH", raising=False)
    monkeypatch.delenv("MEMCACHED_SASL_PWDB", raising=False)
    r = harness.run_binary(harness.base_args(harness.free_port()) + ["-S"])
    assert r.returncode != 0
    if not harness.is_memcached():
        assert b"SASL" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


@pytest.mark.syncached_only
def test_failures_are_logged_without_the_password(sasl_server):
    b = BinClient(sasl_server)
    authenticate(b, password=b"Sup3rS3cretGuess")
    assert harness.wait_for(lambda: "SASL authentication failed" in sasl_server.output())
    out = sasl_server.output()
    assert "alice" in out and "Sup3rS3cretGuess" not in out


@pytest.mark.skipif(PHP is None, reason="php-cli not installed")
def test_php_sessions_with_sasl(sasl_server):
    """php-memcached sessions with sess_sasl_username/password (binary + PLAIN)."""
    php_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "php")
    ini = ["session.use_cookies=0", "session.use_only_cookies=0", "session.cache_limiter=",
           "session.use_strict_mode=0", "session.lazy_write=0",
           "session.save_handler=memcached",
           "session.save_path=127.0.0.1:%d" % sasl_server.port,
           "memcached.sess_sasl_username=alice", "memcached.sess_sasl_password=secret"]
    argv = [PHP, "-d", "display_errors=stderr", "-d", "error_reporting=E_ALL & ~E_DEPRECATED"]
    for item in ini:
        argv += ["-d", item]
    r = subprocess.run(argv + [os.path.join(php_dir, "session_counter.php"), "saslsess", "3"],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"3\n", b"")
