"""Process and socket helpers for the integration suite.

The suite is written against Debian's memcached 1.6.18 first and then run
unchanged against syncached: every reply it pins is memcached's, byte for
byte. Nothing here sleeps without a deadline and no process outlives the test
that started it (conftest.py stops every Server at teardown).
"""

import atexit
import ctypes
import os
import random
import signal
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = "127.0.0.1"
IO_TIMEOUT = 5.0  # seconds any single socket wait may take


def build_dir():
    return os.environ.get("SYNCACHED_BUILD_DIR", os.path.join(REPO, "build"))


def server_bin():
    """SYNCACHED_BIN, else <build dir>/bin/syncached."""
    return os.environ.get("SYNCACHED_BIN", os.path.join(build_dir(), "bin", "syncached"))


def is_memcached():
    """True when the suite runs against the reference memcached binary."""
    return os.path.basename(server_bin()) == "memcached"


def sanitized_build():
    """True for an ASan/UBSan build (its RSS says nothing about -m)."""
    if os.environ.get("SYNCACHED_SANITIZE") == "1":
        return True
    try:
        with open(os.path.join(build_dir(), "CMakeCache.txt")) as f:
            return "SYNCACHED_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


_handed_out = set()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_RESERVED = os.path.join(tempfile.gettempdir(), "syncached-test-ports")
_RESERVATION_S = 1800  # longer than any test file runs


def _reserve(port):
    """Claims `port` among the test processes ctest runs side by side (a file made
    with O_EXCL): two of them must not hand out the same port before either binds."""
    os.makedirs(_RESERVED, exist_ok=True)
    path = os.path.join(_RESERVED, str(port))
    for _ in range(2):
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            atexit.register(_release, path)
            return True
        except FileExistsError:
            try:
                if time.time() - os.stat(path).st_mtime < _RESERVATION_S:
                    return False
                os.unlink(path)  # left by a process that died
            except FileNotFoundError:
                pass
    return False


def _release(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def free_port():
    """A port nothing is bound to, below the kernel's ephemeral range: a port from
    bind(0) is a port outgoing connections (ours, ZeroMQ's, other tests') may take
    while a node is down between a kill and its restart, or before it binds."""
    high = min(_ephemeral_low(), 65536) - 1
    low = max(1024, high - 20000)
    for _ in range(1000):
        port = random.randint(low, high)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
        if not _reserve(port):
            continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def base_args(port):
    args = ["-l", HOST, "-p", str(port), "-U", "0"]
    if os.geteuid() == 0:
        # memcached refuses to run as root without -u; syncached accepts -u too.
        args += ["-u", "root"]
    return args


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL if the test runner itself dies."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_binary(args, timeout=10.0):
    """Runs the server binary to completion (for -V, bad flags, ...)."""
    return subprocess.run([server_bin()] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout, preexec_fn=_die_with_parent)


class Server:
    """One server process on 127.0.0.1:port, started with extra args."""

    def __init__(self, extra_args=(), start_timeout=10.0):
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.host = HOST
        self._log = tempfile.TemporaryFile()
        try:
            self._start(start_timeout)
        except BaseException:  # includes the per-test time limit
            self.stop()
            raise

    def _start(self, start_timeout):
        deadline = time.monotonic() + start_timeout
        for attempt in range(5):
            self.port = free_port()
            argv = [server_bin()] + base_args(self.port) + self.extra_args
            self._log.seek(0)
            self._log.truncate()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
            if self._wait_ready(deadline):
                return
            self.stop(timeout=2.0)
            # Retry only when another process took the port since we probed it.
            if "in use" not in self.output() or time.monotonic() >= deadline:
                break
        raise RuntimeError("server did not start: %r\n%s" % (argv, self.output()[-2000:]))

    def _wait_ready(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.01)
        return False

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def output(self, limit=1 << 20):
        """The process's stdout+stderr so far (at most `limit` bytes)."""
        self._log.seek(0)
        return self._log.read(limit).decode("utf-8", "replace")

    def rss_bytes(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def connect(self, timeout=IO_TIMEOUT):
        return Client(self.host, self.port, timeout)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Stops the process (sig, then SIGKILL); returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        return self.proc.returncode


class Client:
    """A raw text-protocol connection for byte-exact checks.

    Every read has a deadline; a reply that does not arrive in time fails the
    test with what was received so far instead of hanging it.
    """

    def __init__(self, host, port, timeout=IO_TIMEOUT):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, deadline, want):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out waiting for %s; got %r" % (want, self.buf[:2000]))
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError("timed out waiting for %s; got %r" % (want, self.buf[:2000]))
        if not chunk:
            raise ConnectionError("closed while waiting for %s; got %r" % (want, self.buf[:2000]))
        self.buf += chunk

    def read_until(self, terminator=b"\r\n", timeout=None):
        """Returns everything up to and including the first terminator."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            i = self.buf.find(terminator)
            if i >= 0:
                out, self.buf = self.buf[:i + len(terminator)], self.buf[i + len(terminator):]
                return out
            self._fill(deadline, repr(terminator))

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            self._fill(deadline, "%d bytes" % n)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def readline(self, timeout=None):
        return self.read_until(b"\r\n", timeout)

    def read_available(self, wait=0.2):
        """Whatever arrives within `wait` seconds (for 'nothing more was sent')."""
        deadline = time.monotonic() + wait
        try:
            while True:
                self._fill(deadline, "more")
        except (TimeoutError, ConnectionError):
            pass
        out, self.buf = self.buf, b""
        return out

    def call(self, request, terminator=b"\r\n", timeout=None):
        """Sends a request and returns the reply up to the terminator."""
        self.send(request)
        return self.read_until(terminator, timeout)

    def exchange(self, request, timeout=None):
        """Sends request + 'version' and returns every byte before VERSION.

        The answer is then exactly what the request produced, no more and no
        less (b"" when it produced nothing, e.g. with noreply). Don't use it
        when the request leaves the server expecting data or closes.
        """
        if isinstance(request, str):
            request = request.encode()
        self.send(request + b"version\r\n")
        out = self.read_until(b"VERSION ", timeout)
        self.read_until(b"\r\n", timeout)
        return out[:-len(b"VERSION ")]

    def is_closed(self, timeout=None):
        """True when the server closes the connection within the timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                self._fill(deadline, "close")
        except TimeoutError:  # (a subclass of OSError: test it first)
            return False
        except OSError:  # orderly close or ECONNRESET
            return True

    # Small conveniences; they keep the tests readable.
    def store(self, cmd, key, value, flags=0, exptime=0, cas=None, noreply=False):
        """A storage command; returns its reply line (b"" with noreply)."""
        if isinstance(value, str):
            value = value.encode()
        head = "%s %s %d %d %d" % (cmd, key, flags, exptime, len(value))
        if cas is not None:
            head += " %d" % cas
        if noreply:
            head += " noreply"
        req = head.encode() + b"\r\n" + value + b"\r\n"
        return self.exchange(req) if noreply else self.call(req)

    def set(self, key, value, flags=0, exptime=0):
        return self.store("set", key, value, flags, exptime)

    def read_retrieval(self, timeout=None):
        """Reads one get/gets/gat/gats reply (VALUE blocks then END, or an
        error line) by its framing, so values may contain anything."""
        out = b""
        while True:
            line = self.readline(timeout)
            out += line
            if not line.startswith(b"VALUE "):
                return out
            out += self.read_exact(int(line.split()[3]) + 2, timeout)

    def get(self, *keys, cmd="get"):
        """The raw reply of a retrieval command, END line included."""
        self.send(("%s %s\r\n" % (cmd, " ".join(keys))).encode())
        return self.read_retrieval()

    def value(self, key):
        """The stored value of key (bytes), or None on a miss."""
        reply = self.get(key)
        if reply == b"END\r\n":
            return None
        head, rest = reply.split(b"\r\n", 1)
        n = int(head.split()[3])
        assert rest[n:] == b"\r\nEND\r\n", reply
        return rest[:n]

    def gets_cas(self, key):
        """The CAS unique `gets` reports for key (int), or None on a miss."""
        reply = self.get(key, cmd="gets")
        return None if reply == b"END\r\n" else int(reply.split(b"\r\n")[0].split()[4])

    def stats(self, group=""):
        line = ("stats %s" % group).strip() + "\r\n"
        return parse_stats(self.call(line.encode(), b"END\r\n"))


def parse_stats(raw):
    """Parses 'STAT name value' lines (checked to be well formed) to a dict."""
    lines = raw.split(b"\r\n")
    assert lines[-2:] == [b"END", b""], raw[-200:]
    out = {}
    for line in lines[:-2]:
        parts = line.split(b" ", 2)
        assert len(parts) == 3 and parts[0] == b"STAT", line
        out[parts[1].decode()] = parts[2].decode()
    return out


def wait_for(predicate, timeout=5.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
