"""Helpers of the PHP session runs (test_php_failover.py, test_php_sharded.py):
the documented ini files read by PHP itself, the php-cli workers and their
request chains, the kill-and-restart schedule of a pool run, and the verdict
and FIGURES of a run. The tests' docstrings say what each run asserts."""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

import pytest

import cluster
import harness
from cluster import wait_converged
from php_verdict import figures_of

PHP = shutil.which("php")
MEMCACHED = "/usr/bin/memcached"
PHP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "php")
WORKER = os.path.join(PHP_DIR, "session_failover_worker.php")
READER = os.path.join(PHP_DIR, "session_read_all.php")
EXAMPLES = os.path.join(harness.REPO, "examples", "php")

USERS = 30            # concurrent workers (one session each)
PAUSE_MS = 20         # between one worker's requests
BEFORE_KILL = 0.5     # seconds the workers run before the kill (after all started)
DOWN = 5.0            # seconds the killed server stays down
AFTER_RETURN = 1.5    # seconds the workers go on once it serves again
WORKER_MAX = 90       # a worker's own limit (seconds), should the test not stop it

# The handler configurations: name -> (pool file, local-node file).
CONFIGS = {
    "memcached-binary": ("memcached-binary-pool.ini", "memcached-binary-local.ini"),
    "memcached-ascii": ("memcached-ascii-pool.ini", "memcached-ascii-local.ini"),
    "memcache": ("memcache-pool.ini", "memcache-local.ini"),
}

# Under ASan one handler is enough: the server's paths are the same (CI time).
CHOSEN = ["memcached-binary"] if harness.sanitized_build() else sorted(CONFIGS)

# Settings of the test itself, not of the deployment: no cookies or headers in
# php-cli, the test's own session ids, PHP's warnings on stderr.
TEST_INI = [("session.use_cookies", "0"), ("session.use_only_cookies", "0"),
            ("session.cache_limiter", ""), ("session.use_strict_mode", "0"),
            ("display_errors", "stderr"), ("log_errors", "0")]

pytestmark = [pytest.mark.skipif(PHP is None, reason="php-cli not installed")]


# -- the ini files -------------------------------------------------------------

def read_ini(filename):
    """[(name, value)] of an examples/php file, parsed by PHP's own ini parser
    (raw: values as written, quotes removed)."""
    path = os.path.join(EXAMPLES, filename)
    r = subprocess.run([PHP, "-n", "-r", "echo json_encode(parse_ini_file($argv[1], false, "
                        "INI_SCANNER_RAW));", path], capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stderr == b"", (path, r.stdout, r.stderr)
    parsed = json.loads(r.stdout)
    assert isinstance(parsed, dict) and parsed, (path, r.stdout)
    return list(parsed.items())


def server_flags(filename):
    """The syncached flags an examples/php file is written for: its comment
    line `; syncached flags: ...` (the test starts its nodes with them)."""
    with open(os.path.join(EXAMPLES, filename)) as f:
        for line in f:
            m = re.match(r";\s*syncached flags:\s*(.*?)\s*$", line)
            if m:
                return m.group(1).split()
    return []


def with_servers(settings, servers):
    """The settings with session.save_path naming `servers` (host:port) instead
    of the file's example addresses; pecl memcache's per-server parameters
    (?persistent=...&timeout=...) are kept, server by server."""
    out, replaced = [], False
    for name, value in settings:
        if name == "session.save_path":
            replaced = True
            urls = [u.strip() for u in value.split(",") if u.strip()]
            assert urls, (value, servers)  # more servers take the last one's parameters
            if urls[0].startswith("tcp://"):
                queries = [urllib.parse.urlsplit(u).query for u in urls]
                parts = []
                for i, server in enumerate(servers):
                    query = queries[min(i, len(queries) - 1)]
                    parts.append("tcp://" + server + ("?" + query if query else ""))
                value = ",".join(parts)
            else:
                value = ",".join(servers)
        out.append((name, value))
    assert replaced, "no session.save_path in the file"
    return out


def ini_value(settings, name, default=None):
    return dict(settings).get(name, default)


def d_args(settings):
    """-d arguments. php-cli passes `-d name=value` to its ini parser as is
    when the value starts with a letter or digit, where `?`, `&`, `=`, `|` ...
    are operators (a pecl memcache save_path is then a syntax error, and every
    -d after it silently ignored): such values go in double quotes."""
    args = []
    for name, value in list(TEST_INI) + list(settings):
        assert '"' not in value, (name, value)
        if value and not value.replace(".", "").replace("_", "").isalnum():
            value = '"%s"' % value
        args += ["-d", "%s=%s" % (name, value)]
    return args + ["-d", "error_reporting=E_ALL & ~E_DEPRECATED"]


def _norm(value):
    v = str(value).strip().lower()
    # PHP's ini parser turns On/Off into "1"/"" (and ini_get gives those back).
    return {"on": "1", "yes": "1", "true": "1", "off": "0", "no": "0", "false": "0",
            "none": "0", "": "0"}.get(v, v)


def check_effective(settings):
    """Fails unless php-cli took every setting as given (a setting PHP does not
    know, or one its parser dropped, would otherwise go unnoticed)."""
    names = [n for n, _ in settings]
    code = ("$out = []; foreach (array_slice($argv, 1) as $n) { $out[$n] = ini_get($n); } "
            "echo json_encode($out);")
    r = subprocess.run([PHP] + d_args(settings) + ["-r", code] + names,
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stderr == b"", (r.stdout, r.stderr)
    got = json.loads(r.stdout)
    wrong = {n: (v, got.get(n)) for n, v in settings if got.get(n) is False or
             _norm(got.get(n)) != _norm(v)}
    assert not wrong, "php-cli did not take these settings (file, effective): %r" % wrong


def session_key(settings, sid):
    """The key the handler stores session sid under."""
    if ini_value(settings, "session.save_handler") == "memcached":
        return ini_value(settings, "memcached.sess_prefix", "memc.sess.key.") + sid
    return sid


def lock_key(settings, sid):
    if ini_value(settings, "session.save_handler") == "memcached":
        return ini_value(settings, "memcached.sess_prefix", "memc.sess.key.") + "lock." + sid
    return sid + ".lock"


def lock_ttl(settings):
    """The lock TTL the file sets (seconds); the file must set one."""
    if ini_value(settings, "session.save_handler") == "memcached":
        ttl = ini_value(settings, "memcached.sess_lock_expire")
    else:
        ttl = ini_value(settings, "memcache.lock_timeout")
    assert ttl is not None and int(ttl) > 0, "the file sets no lock TTL"
    return int(ttl)


# -- servers -------------------------------------------------------------------

class PlainNode(cluster.Node):
    """Debian's memcached on a fixed port (restarts keep it), for comparison."""

    def argv(self):
        return [MEMCACHED] + harness.base_args(self.port)

    def __repr__(self):
        return "memcached(port %d)" % self.port


@pytest.fixture
def make_plain():
    """Factory: make_plain(n) -> [PlainNode] started; all stopped at teardown."""
    workdir = tempfile.TemporaryDirectory(prefix="syncached-php-")
    nodes = []

    def make(n):
        for i, port in enumerate(cluster.distinct_free_ports(n)):
            node = PlainNode(i + 1, port, 0, workdir.name)
            nodes.append(node)
            node.start()
        return nodes[-n:]

    try:
        yield make
    finally:
        problems = [p for p in (n.stop() for n in nodes) if p]
        workdir.cleanup()
    if problems:
        pytest.fail("\n\n".join(problems))


def addrs(nodes):
    return ["%s:%d" % (harness.HOST, n.port) for n in nodes]


# -- workers -------------------------------------------------------------------

class Worker:
    """One php-cli worker process: user `sid` on one web server. `carry` is
    the state of the user's previous worker (a user the load balancer moved)."""

    def __init__(self, settings, sid, carry=None):
        self.sid = sid
        args = [sid, PAUSE_MS, WORKER_MAX]
        if carry:
            args += [carry["last"], repr(carry["last_ack_at"]), repr(carry["last_sent_at"]),
                     carry["max_written"]]
        self.proc = subprocess.Popen([PHP] + d_args(settings) + [WORKER] + [str(a) for a in args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=harness._die_with_parent)

    def readline(self, timeout=30.0):
        """The worker's next line (without buffering past it: the results are
        read with communicate() later)."""
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.proc.stdout], [], [], remaining)[0]:
                raise AssertionError("worker %s: no line within %.0f s (so far %r)"
                                     % (self.sid, timeout, line))
            ch = os.read(self.proc.stdout.fileno(), 1)
            if not ch:
                raise AssertionError("worker %s exited (%r): %s" % (self.sid, line, self.stderr()))
            line += ch
        return line.decode()

    def stderr(self):
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read().decode(errors="replace")[-2000:]

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def hold(self):
        """Makes the worker's next request stop while it holds the session's
        lock; returns its results so far."""
        self.send("hold")
        line = self.readline()
        assert line.startswith("locked "), (self.sid, line)
        return json.loads(line[len("locked "):])

    def stop(self):
        """Asks the worker to finish (end of its input)."""
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.stdin = None  # communicate() must not flush it

    def collect(self, timeout=60.0):
        """Waits for the worker's results (stop() it first)."""
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, (self.sid, self.proc.returncode, out[-2000:],
                                           err[-2000:])
        result = json.loads(out.decode().strip().splitlines()[-1])
        result["stderr"] = err.decode(errors="replace")
        return result

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Workers(list):
    """Every Worker of a test; killed at teardown if still running."""

    def start(self, settings, sid, carry=None):
        w = Worker(settings, sid, carry)
        self.append(w)
        return w

    def kill_all(self):
        while self:
            self.pop().kill()


@pytest.fixture
def workers():
    ws = Workers()
    try:
        yield ws
    finally:
        ws.kill_all()


def start_users(workers, settings_of, sids):
    """{sid: Worker}, once every worker has done its first request."""
    started = {sid: workers.start(settings_of(sid), sid) for sid in sids}
    for w in started.values():
        assert w.readline() == "started\n", w.sid
    return started


def run_for(seconds, ws):
    """Lets the workers go on for `seconds`, failing if one of them exits."""
    deadline = time.monotonic() + seconds
    while True:
        for w in ws:
            if w.proc.poll() is not None:
                out, err = w.proc.communicate()
                raise AssertionError("worker %s exited early with %s: %r %r" % (
                    w.sid, w.proc.returncode, out[-1000:], err[-2000:]))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(0.1, remaining))


def read_sessions(settings, sids):
    """A fresh php process's view: {sid: n or None, "_failed": [...],
    "_retried": [...]} (it retries a failed read once)."""
    r = subprocess.run([PHP] + d_args(settings) + [READER] + list(sids),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def session_value(node, key):
    """$_SESSION['n'] as stored on node (None if absent)."""
    data = node.values([key]).get(key)
    if data is None:
        return None
    marker = b"n|i:"
    if marker not in data[0]:
        return data[0]
    return int(data[0].split(marker, 1)[1].split(b";", 1)[0])


def find_lock_home(servers, settings, holder):
    """Makes `holder` hold its lock; returns (its results so far, the index of
    the server its lock lives on: the one whose `watch mutations` logs the
    lock's `add`; a node does not log the changes it applies from peers)."""
    watchers = []
    try:
        for n in servers:
            c = n.client()
            c.send(b"watch mutations\r\n")
            assert c.readline() == b"OK\r\n"
            watchers.append(c)
        state = holder.hold()
        want = b" key=%s " % urllib.parse.quote(lock_key(settings, holder.sid), safe="").encode()
        # The other workers' lines flow too: scan whole chunks (line by line
        # fell seconds behind under ASan and ate the lock's TTL before the kill).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for i, c in enumerate(watchers):
                try:
                    c._fill(time.monotonic() + 0.01, "watch lines")
                except TimeoutError:
                    continue
                end = c.buf.rfind(b"\n") + 1
                if any(want in line and b" cmd=add " in line
                       for line in c.buf[:end].split(b"\n")):
                    return state, i
                c.buf = c.buf[end:]
        raise AssertionError("no server logged an add of %s's lock" % holder.sid)
    finally:
        for c in watchers:
            c.close()


def wait_locked_everywhere(nodes, key, timeout=10.0):
    """Waits until every node holds the lock `key` as taken ("1": php-memcached
    adds it so; pecl memcache's lock is always there, "0" when free, and its
    `incr` takes it): the held lock has left its node."""
    cluster.wait_key(nodes, key, lambda v: v is not None and v[0] == b"1", timeout)


# -- verdicts ------------------------------------------------------------------

def pool_run(servers, file_settings, workers, replicated, owners_of=None):
    """One pool run: USERS workers on `servers` (syncached nodes when
    `replicated`, else plain memcached); one user holds its lock, the server
    holding that lock is SIGKILLed with the user's PHP process, kept down
    DOWN s and restarted empty; the users go on AFTER_RETURN s once it serves.
    A sharded cluster gives owners_of(key): the nodes that hold key (else
    every node does). Returns (figures, problems, chains: {sid: [worker
    results]}, stretches: {sid: seconds})."""
    holders = owners_of or (lambda key: servers)
    settings = with_servers(file_settings, addrs(servers))
    check_effective(settings)
    ttl = lock_ttl(settings)
    tag = os.urandom(3).hex()
    sids = ["p%s%02d" % (tag, i) for i in range(USERS)]
    users = start_users(workers, lambda sid: settings, sids)
    run_for(BEFORE_KILL, users.values())
    holder = users.pop(sids[0])
    locked_at = time.time()  # hold() returns once the lock is taken: about then
    held, home = find_lock_home(servers, settings, holder)
    victim = servers[home]
    if replicated:
        wait_locked_everywhere(holders(lock_key(settings, holder.sid)),
                               lock_key(settings, holder.sid))
    killed_at = time.time()
    victim.kill(signal.SIGKILL)  # returns once the server is reaped
    holder.kill()  # the request holding the lock dies with the machine
    dead_at = time.time()
    successor = workers.start(settings, holder.sid, carry=held)
    run_for(killed_at + DOWN - time.time(), users.values())
    restarted_at = time.time()
    victim.start(wait=False)
    victim.wait_ready(timeout=30)
    ready_at = time.time()
    run_for(AFTER_RETURN, list(users.values()) + [successor])
    stopped_at = time.time()
    everyone = list(users.values()) + [successor]
    for w in everyone:
        w.stop()
    chains = {w.sid: [w.collect()] for w in users.values()}
    chains[holder.sid] = [held, successor.collect()]
    if replicated and owners_of is None:
        wait_converged(servers, timeout=30)
    fresh = read_sessions(settings, sids)
    figures, problems, stretches = figures_of(chains, fresh, killed_at, dead_at, restarted_at,
                                              stopped_at, ttl, holder.sid, victim.port)
    if fresh["_failed"]:
        problems.append("a fresh reader failed twice on %r" % fresh["_failed"])
    if replicated:
        deadline = time.monotonic() + 30  # sharded: no wait_converged above
        for sid in sids:
            key = session_key(settings, sid)
            while True:
                stored = [session_value(n, key) for n in holders(key)]
                if stored == [fresh.get(sid)] * len(stored) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if stored != [fresh.get(sid)] * len(stored):
                problems.append("%s: the nodes hold %r, a fresh reader read %r"
                                % (sid, stored, fresh.get(sid)))
    figures.update({"fresh_retried": len(fresh["_retried"]),
                    "rejoin_s": round(ready_at - restarted_at, 2),
                    "holder_user": holder.sid,
                    "lock_age_at_kill": round(killed_at - locked_at, 2)})
    return figures, problems, chains, stretches
