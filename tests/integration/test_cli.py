"""Command line, signals and the shutdown command (DESIGN.md §2, §7).

memcached's own flags must behave as memcached's do; a bad flag or value is
refused at start. memcached's messages are not one line naming the option,
so that stricter form (DESIGN.md §2) is checked for syncached only.
"""

import re
import signal
import time

import pytest

import harness

BAD_VALUES = [
    # (args, names any of which the one-line error must mention)
    (["-m", "abc"], ("-m", "memory-limit")),
    (["-p", "70000"], ("-p", "port")),
    (["-t", "0"], ("-t", "threads")),
    (["-t", "abc"], ("-t", "threads")),
    (["-c", "0"], ("-c", "conn-limit")),
    (["-I", "100"], ("-I", "max-item-size")),
    (["-I", "abc"], ("-I", "max-item-size")),
    (["-B", "foo"], ("-B", "protocol")),
    (["-f", "0.5"], ("-f", "slab-growth-factor")),
]


def start_args(*extra):
    """A full command line (listen address, free port, -u when root) + extra."""
    return harness.base_args(harness.free_port()) + list(extra)


def lines_of(result):
    return (result.stdout + result.stderr).decode("utf-8", "replace").strip().splitlines()


def test_version_flag_prints_one_version_line():
    for flag in ("-V", "--version"):
        r = harness.run_binary([flag])
        assert r.returncode == 0, r
        out = r.stdout.decode()
        assert re.fullmatch(r"\S+ [0-9][^\n]*\n", out), out
        if harness.is_memcached():
            assert out == "memcached 1.6.18\n"


def test_help_flag_exits_zero():
    r = harness.run_binary(["-h"])
    assert r.returncode == 0
    assert "-p" in r.stdout.decode()


@pytest.mark.parametrize("flag, name", [("-Q", "Q"), ("--bogus", "bogus")])
def test_unknown_flag_is_refused_naming_it(flag, name):
    r = harness.run_binary(start_args(flag))
    assert r.returncode != 0
    assert name in lines_of(r)[0], lines_of(r)


@pytest.mark.syncached_only
@pytest.mark.parametrize("flag", ["-Q", "--bogus"])
def test_unknown_flag_error_is_one_line(flag):
    r = harness.run_binary(start_args(flag))
    assert r.returncode != 0
    assert len(lines_of(r)) == 1, lines_of(r)


def test_missing_flag_argument_is_refused():
    r = harness.run_binary(start_args("-m"))
    assert r.returncode != 0
    assert "m" in lines_of(r)[0]


@pytest.mark.parametrize("args, names", BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_bad_value_is_refused_at_start(args, names):
    r = harness.run_binary(start_args(*args))
    assert r.returncode != 0, lines_of(r)
    assert lines_of(r), "no error message"


@pytest.mark.syncached_only
@pytest.mark.parametrize("args, names", BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_bad_value_error_is_one_line_naming_the_option(args, names):
    r = harness.run_binary(start_args(*args))
    lines = lines_of(r)
    assert r.returncode != 0 and len(lines) == 1, lines
    assert any(n in lines[0] for n in names), lines


def test_unknown_suboption_is_refused():
    r = harness.run_binary(start_args("-o", "unknownopt"))
    assert r.returncode != 0
    assert 'Illegal suboption "unknownopt"' in lines_of(r), lines_of(r)


def test_port_already_in_use_is_refused(server):
    r = harness.run_binary(harness.base_args(server.port))
    assert r.returncode != 0, lines_of(r)
    assert server.connect().exchange(b"") == b""


@pytest.mark.syncached_only
def test_port_in_use_is_refused_before_waiting_for_peers(server):
    """The client port is taken first: a node whose peers are away (it would wait
    --join-timeout for them) fails at once on a busy port."""
    started = time.time()
    r = harness.run_binary(harness.base_args(server.port) + [
        "--node-id", "1", "--replication-port", str(harness.free_port()),
        "--peers", "127.0.0.1:%d" % harness.free_port(), "--join-timeout", "30"], timeout=10)
    assert r.returncode != 0, lines_of(r)
    assert time.time() - started < 5
    assert any("Address already in use" in line for line in lines_of(r)), lines_of(r)


@pytest.mark.syncached_only
def test_help_documents_memcached_flags():
    r = harness.run_binary(["--help"])
    assert r.returncode == 0
    text = r.stdout.decode()
    for flag in ("-p", "-U", "-l", "-m", "-M", "-c", "-t", "-I", "-v", "-d", "-u", "-P",
                 "-S", "-Y", "-A", "-C", "-h", "-V"):
        assert re.search(r"(^|\s|,)%s\b" % re.escape(flag), text), flag


# --- signals and shutdown ------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_cleanly(start_server, sig):
    srv = start_server()
    c = srv.connect()
    assert c.set("a", "1") == b"STORED\r\n"
    started = time.monotonic()
    srv.proc.send_signal(sig)
    assert srv.proc.wait(5) == 0
    assert time.monotonic() - started < 5
    assert c.is_closed()


def test_shutdown_is_refused_without_A(server):
    c = server.connect()
    assert c.call(b"shutdown\r\n") == b"ERROR: shutdown not enabled\r\n"
    assert c.call(b"shutdown graceful\r\n") == b"ERROR: shutdown not enabled\r\n"
    assert c.exchange(b"") == b""
    assert server.alive()
    assert c.stats("settings")["shutdown_command"] == "no"


def test_shutdown_with_A_stops_the_server(start_server):
    srv = start_server("-A")
    c = srv.connect()
    assert c.stats("settings")["shutdown_command"] == "yes"
    assert c.call(b"shutdown foo\r\n") == b"CLIENT_ERROR invalid shutdown mode\r\n"
    c.send(b"shutdown\r\n")
    assert c.is_closed()
    assert c.buf == b""
    assert srv.proc.wait(5) == 0


def test_graceful_shutdown_with_A_stops_the_server(start_server):
    srv = start_server("-A")
    c = srv.connect()
    c.send(b"shutdown graceful\r\n")
    assert c.is_closed()
    assert srv.proc.wait(5) == 0


# --- flags that change behaviour --------------------------------------------------------

def test_C_disables_cas(start_server):
    c = start_server("-C").connect()
    c.set("a", "1")
    assert c.get("a", cmd="gets") == b"VALUE a 0 1 0\r\n1\r\nEND\r\n"
    assert c.call(b"mg a c\r\n") == b"HD c0\r\n"


def test_F_disables_flush_all(start_server):
    c = start_server("-F").connect()
    c.set("a", "1")
    assert c.call(b"flush_all\r\n") == b"CLIENT_ERROR flush_all not allowed\r\n"
    assert c.value("a") == b"1"
    assert c.stats()["cmd_flush"] == "1"


# --- -e: memcached's memory file for warm restarts --------------------------------------

def test_memory_file_keeps_the_data_over_a_graceful_restart(start_server, tmp_path):
    """-e PATH, then SIGUSR1 (memcached's graceful stop for a restart): the next
    start with the same -e serves what the last one held, expired items excepted."""
    path = str(tmp_path / "memory")
    srv = start_server("-m", "64", "-e", path)
    c = srv.connect()
    assert c.stats("settings")["memory_file"] == path
    assert c.set("kept", "value", flags=7) == b"STORED\r\n"
    assert c.set("big", "x" * 500000) == b"STORED\r\n"
    assert c.set("short", "s", exptime=1) == b"STORED\r\n"
    assert c.call(b"set gone 0 0 1\r\ng\r\n") == b"STORED\r\n"
    assert c.call(b"delete gone\r\n") == b"DELETED\r\n"
    srv.proc.send_signal(signal.SIGUSR1)
    assert srv.proc.wait(10) == 0
    time.sleep(1.5)
    c = start_server("-m", "64", "-e", path).connect()
    assert c.get("kept") == b"VALUE kept 7 5\r\nvalue\r\nEND\r\n"
    assert c.value("big") == b"x" * 500000
    assert c.get("short") == b"END\r\n"
    assert c.get("gone") == b"END\r\n"


def test_memory_file_with_bad_metadata_is_refused(tmp_path):
    """memcached stops on a metadata file it cannot validate rather than
    discarding or misreading the memory file."""
    path = tmp_path / "memory"
    (tmp_path / "memory.meta").write_bytes(b"")
    r = harness.run_binary(start_args("-e", str(path)))
    assert r.returncode != 0


@pytest.mark.syncached_only
def test_memory_file_that_is_not_ours_is_refused_naming_it(tmp_path):
    path = tmp_path / "memory"
    path.write_bytes(b"\0" * 4096)  # what memcached's -e leaves
    r = harness.run_binary(start_args("-e", str(path)))
    assert r.returncode != 0
    assert len(lines_of(r)) == 1 and str(path) in lines_of(r)[0], lines_of(r)


@pytest.mark.syncached_only
def test_memory_file_is_not_spread_into_a_directory_of_other_files(tmp_path):
    (tmp_path / "other").write_text("x")
    r = harness.run_binary(start_args("-e", str(tmp_path)))
    assert r.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]


@pytest.mark.syncached_only
def test_memory_file_survives_sigkill(start_server, tmp_path):
    """-e is a data dir underneath, so unlike memcached's memory file it does
    not need a graceful stop."""
    path = str(tmp_path / "memory")
    killed = harness.Server(["-e", path])
    try:
        assert killed.connect().set("kept", "value") == b"STORED\r\n"
    finally:
        killed.stop(signal.SIGKILL)
    assert start_server("-e", path).connect().value("kept") == b"value"


@pytest.mark.syncached_only
def test_memory_file_and_data_dir_together_are_refused(tmp_path):
    r = harness.run_binary(start_args("-e", str(tmp_path / "m"), "--data-dir", str(tmp_path)))
    assert r.returncode == 64
    assert len(lines_of(r)) == 1 and "-e" in lines_of(r)[0]


def test_sasl_with_ascii_protocol_is_refused():
    """CLIENTS.md §1.2: SASL is binary only."""
    r = harness.run_binary(start_args("-S", "-B", "ascii"))
    assert r.returncode == 64
    assert "ERROR: You cannot allow the ASCII protocol while using SASL." in lines_of(r)


def test_ascii_auth_file(start_server, tmp_path):
    """-Y: the first 'set' of a connection carries "user pass"."""
    auth = tmp_path / "auth"
    auth.write_text("user:pass\nbob:secret\n")
    srv = start_server("-Y", str(auth))
    c = srv.connect()
    assert c.call(b"get a\r\n") == b"CLIENT_ERROR unauthenticated\r\n"
    assert c.call(b"version\r\n") == b"CLIENT_ERROR unauthenticated\r\n"
    assert c.call(b"set x 0 0 9\r\nuser nope\r\n") == b"CLIENT_ERROR authentication failure\r\n"
    assert c.call(b"set x 0 0 9\r\nuser pass\r\n") == b"STORED\r\n"
    assert c.get("x") == b"END\r\n"                  # the auth set stores nothing
    assert c.set("a", "1") == b"STORED\r\n"
    other = srv.connect()
    assert other.call(b"set any 5 5 10\r\nbob secret\r\n") == b"STORED\r\n"
    assert other.value("a") == b"1"
    bad = srv.connect()
    assert bad.call(b"set x 0 0 3\r\nbob\r\n") == b"CLIENT_ERROR bad authentication token format\r\n"
    assert bad.call(b"set x 0 0 10\r\nbob secretXX") == (
        b"CLIENT_ERROR bad command line termination\r\n")
    stats = c.stats()
    # Only complete "user pass" attempts count; malformed ones do not.
    assert (stats["auth_cmds"], stats["auth_errors"]) == ("3", "1")
    # memcached reports the auth file's path here, not "yes".
    assert c.stats("settings")["auth_enabled_ascii"] == str(auth)
