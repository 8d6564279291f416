"""The Debian package's service, run the way systemd runs it (issue #18).

The command comes from the unit files themselves (packaging/syncached.service and
syncached@.service): their ExecStart line, with the binary under test, the config
path pointed at the file under test and the harness's -l 127.0.0.1 -p <free> -U 0
after it (the command line wins over the file). Configs: the one the package ships
and Debian's /etc/memcached.conf exactly as the memcached package ships it.

Readiness: the test plays systemd's part, a unix datagram socket named by
NOTIFY_SOCKET, and checks READY=1 comes from the main process only once the
client port accepts, after the join gate; SIGHUP reopens --log-file.
"""

import os
import shlex
import signal
import socket
import struct
import subprocess
import time

import pytest

import harness

pytestmark = pytest.mark.syncached_only

PACKAGING = os.path.join(harness.REPO, "packaging")
DEBIAN_MEMCACHED_CONF = "/usr/share/memcached/memcached.conf.default"  # /etc's pristine copy


def exec_start(unit, instance=None):
    """The unit's ExecStart command as argv (systemd's own prefixes are not used)."""
    with open(os.path.join(PACKAGING, unit)) as f:
        lines = [l.strip() for l in f if l.startswith("ExecStart=")]
    assert len(lines) == 1, lines
    argv = shlex.split(lines[0][len("ExecStart="):])
    if instance is not None:
        argv = [a.replace("%i", instance) for a in argv]
    assert "%" not in " ".join(argv), argv
    return argv


def unit_command(unit, conf, instance=None):
    """ExecStart's arguments with /usr/bin/syncached and its --config file checked and
    the config path replaced by `conf`."""
    argv = exec_start(unit, instance)
    assert argv[0] == "/usr/bin/syncached", argv
    i = argv.index("--config")
    expected = "/etc/syncached_%s.conf" % instance if instance else "/etc/syncached.conf"
    assert argv[i + 1] == expected, argv
    argv[i + 1] = str(conf)
    return argv[1:]


def stat_map(client, group=b""):
    client.send(b"stats " + group + b"\r\n" if group else b"stats\r\n")
    out = {}
    while True:
        line = client.readline()
        if line == b"END\r\n":
            return out
        parts = line.decode().split(" ", 2)
        out[parts[1]] = parts[2].rstrip("\r\n")


def roundtrip(srv):
    with srv.connect() as c:
        assert c.call(b"set unit 0 0 2\r\nok\r\n") == b"STORED\r\n"
        assert c.call(b"get unit\r\n", b"END\r\n") == b"VALUE unit 0 2\r\nok\r\nEND\r\n"
        return stat_map(c), stat_map(c, b"settings")


@pytest.mark.time_limit(30)
@pytest.mark.parametrize("unit,instance", [("syncached.service", None),
                                           ("syncached@.service", "sessions")])
def test_the_shipped_conf_starts_through_the_unit(start_server, tmp_path, unit, instance):
    conf = tmp_path / "syncached.conf"
    with open(os.path.join(PACKAGING, "syncached.conf")) as f:
        conf.write_text(f.read())
    data = tmp_path / "data"  # the conf's /var/lib/syncached, which systemd would create
    srv = start_server(*unit_command(unit, conf, instance), "--data-dir", str(data))
    stats, settings = roundtrip(srv)
    assert stats["pid"] == str(srv.pid)
    assert settings["maxbytes"] == str(64 << 20)
    assert settings["tcpport"] == str(srv.port)
    # The conf keeps data on disk: the journal is there.
    assert os.listdir(data), "the shipped conf's --data-dir is not in effect"


@pytest.mark.time_limit(30)
def test_debians_memcached_conf_as_shipped_starts_through_the_unit(start_server, tmp_path):
    """Debian's file has -d (ignored: systemd runs the process, as Debian's wrapper
    drops it), -u memcache, -P /var/run/memcached/memcached.pid and the wrapper's
    `logfile /var/log/memcached.log`; only the last two are pointed elsewhere here,
    on the command line, so the test writes nothing outside its directory."""
    if not os.path.exists(DEBIAN_MEMCACHED_CONF):
        pytest.skip("%s not installed (Debian's memcached package)" % DEBIAN_MEMCACHED_CONF)
    pid_file = tmp_path / "memcached.pid"
    log_file = tmp_path / "memcached.log"
    srv = start_server(*unit_command("syncached.service", DEBIAN_MEMCACHED_CONF),
                       "-P", str(pid_file), "--log-file", str(log_file))
    stats, settings = roundtrip(srv)
    # In the foreground (-d ignored): the process started is the one serving.
    assert stats["pid"] == str(srv.pid)
    assert pid_file.read_text() == "%d\n" % srv.pid
    assert settings["maxbytes"] == str(64 << 20)  # -m 64
    assert log_file.exists()  # logfile -> --log-file (here overridden)


class Notifications:
    """systemd's end of NOTIFY_SOCKET: a unix datagram socket that records each
    message with the sender's pid (SCM_CREDENTIALS, as systemd checks
    NotifyAccess=main)."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address)
        self.sock.setblocking(False)
        self.messages = []  # (pid, {key: value})

    def poll(self):
        """Messages that arrived since the last call."""
        new = []
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except BlockingIOError:
                break
            pid = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", payload[:12])[0]
            fields = dict(l.split("=", 1) for l in data.decode().split("\n") if l)
            new.append((pid, fields))
        self.messages += new
        return new

    def close(self):
        self.sock.close()


def accepts(port):
    try:
        socket.create_connection((harness.HOST, port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.time_limit(30)
@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_ready_once_the_node_serves_after_the_join_gate(tmp_path, abstract):
    """A node whose peer never answers waits --join-timeout (1 s) at the join gate
    with its client port bound but not listening; READY=1 must come after that,
    from the main pid, and the port must accept the moment it has come."""
    if abstract:
        name = "syncached-test-%d-%d" % (os.getpid(), time.monotonic_ns())
        notify, env_value = "\0" + name, "@" + name
    else:
        notify = env_value = str(tmp_path / "notify")
    listener = Notifications(notify)
    port, repl, dead_peer = harness.free_port(), harness.free_port(), harness.free_port()
    argv = [harness.server_bin()] + harness.base_args(port) + [
        "--node-id", "1", "--replication-port", str(repl),
        "--peers", "127.0.0.1:%d" % dead_peer, "--join-timeout", "1"]
    env = dict(os.environ, NOTIFY_SOCKET=env_value)
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=harness._die_with_parent)
    try:
        ready_at = None
        while ready_at is None:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() - started < 15, "no READY=1: %r" % listener.messages
            for pid, fields in listener.poll():
                assert pid == proc.pid, "sent by pid %s, not the main pid %d" % (pid, proc.pid)
                if fields.get("READY") == "1":
                    ready_at = time.monotonic()
                    assert accepts(port), "READY=1 before the client port accepts"
            time.sleep(0.01)
        assert ready_at - started >= 0.9, "READY=1 before the join gate's 1 s passed"
        statuses = [f["STATUS"] for _, f in listener.messages if "STATUS" in f]
        assert any(s.startswith("joining the cluster") for s in statuses), statuses
        assert statuses[-1] == "serving on port %d" % port, statuses
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        listener.poll()
        assert listener.messages[-1][1].get("STOPPING") == "1", listener.messages
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
        listener.close()


@pytest.mark.time_limit(30)
def test_no_notify_socket_and_a_bad_one_change_nothing(start_server, monkeypatch, tmp_path):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    roundtrip(start_server())
    monkeypatch.setenv("NOTIFY_SOCKET", "relative/path")
    roundtrip(start_server())


def wait_for(predicate, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.01)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


@pytest.mark.time_limit(30)
def test_sighup_reopens_the_log_file(start_server, tmp_path):
    log = tmp_path / "syncached.log"
    rotated = tmp_path / "syncached.log.1"
    srv = start_server("--log-file", str(log), "-v")
    wait_for(lambda: "listening on port %d" % srv.port in read(log), "the start-up lines")
    assert "listening" not in srv.output()  # the file, not stderr
    os.rename(log, rotated)  # what logrotate does, then it signals
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "SIGHUP: log file reopened" in read(log), "the reopened file")
    assert "SIGHUP: reopening the log file %s" % log in read(rotated)
    assert "reopened" not in read(rotated)
    before = read(rotated)
    # Later lines go to the new file only.
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: read(log).count("SIGHUP: log file reopened") == 2, "the second reopen")
    assert read(rotated) == before
    roundtrip(srv)
    assert srv.alive()


@pytest.mark.time_limit(30)
def test_a_log_file_that_cannot_be_opened_leaves_the_log_on_stderr(start_server, tmp_path):
    srv = start_server("--log-file", str(tmp_path / "missing-dir" / "x.log"))
    roundtrip(srv)
    assert "WARN --log-file: cannot open log file %s" % (tmp_path / "missing-dir" / "x.log") \
        in srv.output()


@pytest.mark.time_limit(30)
def test_a_failed_start_is_reported_on_stderr_and_in_the_log_file(tmp_path):
    log = tmp_path / "x.log"
    with socket.socket() as taken:
        taken.bind((harness.HOST, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = harness.run_binary(["-l", harness.HOST, "-p", str(port), "-U", "0",
                                     "--log-file", str(log)])
    assert result.returncode == 71
    assert b"in use" in result.stderr, result.stderr
    assert "in use" in read(log)
