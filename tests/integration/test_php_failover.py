"""PHP sessions through the loss of a node (issue #16; DESIGN.md sections 1
and 5, CLIENTS.md section 2), with exactly the client settings docs/PHP.md
tells users to copy: each examples/php/*.ini file is parsed here by PHP itself
and passed to php-cli setting by setting, only session.save_path pointed at
this test's servers, and the nodes get the flags the file names on its
`; syncached flags:` line. So the documented settings are the tested ones.

Every run is USERS php-cli processes (workers), each one user incrementing its
own locked session request after request (php/session_failover_worker.php),
while one server is SIGKILLed, kept down DOWN s, and restarted empty:

- pool: every worker lists every server (consistent hashing, client failover).
  3 syncached nodes must keep every session with every acknowledged increment;
  2 plain memcached servers get the same clients and schedule for comparison:
  where the clients fail over, syncached must fail no more requests than they
  do, give or take one per user (the locks left behind, below); their lost
  sessions are figures only (losing them is what syncached is for).
- local node: a node per web server, each worker talks to its own node only;
  the users of the killed node are moved to another node (as a load balancer
  would) and back once it has returned; no request may fail after a move.

Locks: a request that dies with its machine (web server and node on one host)
leaves its session lock behind, and on syncached that lock has been replicated
to the other nodes, where it blocks the session until its TTL. In each run one
user's request holds its lock when the node holding that lock is killed, and
its PHP process is killed with it; the user goes on in a new process. Every
user's longest stretch without an acknowledged request must stay within the
lock TTL the ini file sets (plus the server's expiry rounding and the client's
polling step). Each run prints one FIGURES line (JSON) for docs/PHP.md.
"""

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
import warnings

import pytest

import cluster
import harness
from cluster import make_cluster, wait_converged  # noqa: F401 (fixture)

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
# Beyond the lock TTL a session may wait: the server rounds expiry to whole
# seconds (a lock can live up to 1 s longer than its TTL), the client polls
# for the lock in steps (up to 0.2 s for php-memcached, 1 s for pecl memcache),
# and 30 PHP processes on 2 cores run late.
LOCK_MARGIN = 2.5

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

def user_verdict(chain, final, killed_at, dead_at):
    """Problems with one user: `chain` is the results of the workers that
    served it, in order; `final` the session's value at the end. Returns
    (problems, increments lost in flight).

    DESIGN 5: writes are replicated asynchronously; one the killed node
    acknowledged within milliseconds of its death may be lost (with
    --sync-replicas it may not). Tolerated: a single lost increment per session,
    never emptied, whose write was begun before the node was gone and
    acknowledged at most 50 ms before the SIGKILL. (With 30 processes on 2
    cores PHP reads its clock late: t_sent is read before the write goes out and
    t_ack after its answer came, so both bounds hold for every write the node
    really took in its last 50 ms, however late PHP ran.)"""
    problems, lost = [], 0
    sid = chain[0]["sid"]
    for r in chain:
        for i, n, last, t_ack, t_read, t_sent in r["regressions"]:
            if (last - n == 1 and n > 0 and lost == 0 and t_sent < dead_at
                    and t_ack > killed_at - 0.05):
                lost = 1
            else:
                problems.append("%s: request %d read %d after %d was acknowledged at kill%+.3fs "
                                "(read at kill%+.3fs)" % (sid, i, n, last, t_ack - killed_at,
                                                          t_read - killed_at))
    end = chain[-1]
    if sum(r["acks"] for r in chain) == 0:
        problems.append("%s: no request acknowledged at all" % sid)
    # The session ends with the last acknowledged write (one less if lost in
    # flight), or a later write whose acknowledgement failed but that was stored.
    if not isinstance(final, int) or not end["last"] - lost <= final <= end["max_written"]:
        problems.append("%s: ends with %r; last acknowledged %d (lost in flight %d), highest "
                        "written %d" % (sid, final, end["last"], lost, end["max_written"]))
    return problems, lost


def stretch(chain, t0):
    """The longest time after t0 the user went without an acknowledged request:
    within each worker, and from one worker's last acknowledgement to the
    next's first (a move, or a request lost with its web server)."""
    spans = [g for r in chain for g in r["gaps"]]
    for prev, nxt in zip(chain, chain[1:]):
        spans.append((prev["last_ack_at"] or prev["start"], nxt["first_ack_at"] or nxt["end"]))
    return max([b - max(a, t0) for a, b in spans if b > t0] + [0.0])


def failed(chains, t0, t1=float("inf")):
    """Failed requests that ended in [t0, t1) (one in flight at the kill fails
    because of it, and counts after it)."""
    return sum(1 for chain in chains for r in chain for f in r["failures"] if t0 <= f[1] < t1)


def requests(chains, t0, t1):
    """About how many requests were begun in [t0, t1) (by each worker's rate)."""
    total = 0.0
    for chain in chains:
        for r in chain:
            overlap = max(0.0, min(t1, r["end"]) - max(t0, r["start"]))
            total += r["attempts"] * overlap / max(r["end"] - r["start"], 1e-3)
    return int(total)


def failure_kinds(chains, t0, t1=float("inf")):
    """Failed requests that ended in [t0, t1), by the handler's first message."""
    kinds = {}
    for chain in chains:
        for r in chain:
            for f in r["failures"]:
                if t0 <= f[1] < t1:
                    first = f[3][1] if f[3] else "returned false"
                    first = re.sub(r"\(0x[0-9a-f]+\) ", "", first.split("): ", 1)[-1])
                    key = "%s: %s" % (f[2], first[:70])
                    kinds[key] = kinds.get(key, 0) + 1
    return kinds


def failed_where(chains, t0, victim_port):
    """Failed requests since t0 by the server their messages name: the killed
    one, another, or none named."""
    where = {"killed": 0, "other": 0, "unnamed": 0}
    for chain in chains:
        for r in chain:
            for f in r["failures"]:
                if f[1] >= t0:
                    ports = {int(p) for m in f[3][1:3]
                             for p in re.findall(r"host: [\d.]+:(\d+)", m)}
                    where["unnamed" if not ports else
                          "killed" if ports == {victim_port} else "other"] += 1
    return where


def figures_of(chains, finals, killed_at, dead_at, restarted_at, stopped_at, ttl, holder_sid,
               victim_port):
    """(figures, problems, stretches) over every user."""
    problems, lost_in_flight, kept = [], [], 0
    for sid, chain in chains.items():
        p, lost = user_verdict(chain, finals.get(sid), killed_at, dead_at)
        problems += p
        kept += not p
        if lost:
            lost_in_flight.append(sid)
    if lost_in_flight:
        warnings.warn("acknowledged session writes lost with the killed node (async "
                      "replication window): %s" % lost_in_flight)
    all_chains = list(chains.values())
    stretches = {sid: stretch(chain, killed_at) for sid, chain in chains.items()}
    figures = {
        "sessions": len(chains), "kept": kept, "lost_in_flight": len(lost_in_flight),
        "failed_down": failed(all_chains, killed_at, restarted_at),
        "failed_return": failed(all_chains, restarted_at),
        "failed_before": failed(all_chains, 0, killed_at),
        "sessions_failing": sum(1 for c in all_chains
                                if any(f[1] >= killed_at for r in c for f in r["failures"])),
        "requests_after_kill": requests(all_chains, killed_at, stopped_at),
        "warned_after_kill": sum(1 for c in all_chains for r in c for w in r["warned"]
                                 if w[0] >= killed_at),
        "slow_after_kill": sum(1 for c in all_chains for r in c for s in r["slow"]
                               if s[0] + s[1] >= killed_at),
        # requests that failed because the session stayed locked (php-memcached
        # gives up after sess_lock_retries; pecl memcache waits on)
        "lock_failures": sum(1 for c in all_chains for r in c for f in r["failures"]
                             if f[1] >= killed_at and f[3] and f[3][3]),
        # the requests of the user whose request died holding its lock
        "holder_failed": sum(1 for r in chains[holder_sid] for f in r["failures"]
                             if f[1] >= killed_at),
        "longest_stretch": round(max(stretches.values()), 2),
        "holder_stretch": round(stretches[holder_sid], 2), "lock_ttl": ttl,
        "kinds": failure_kinds(all_chains, killed_at),
        "failed_at": failed_where(all_chains, killed_at, victim_port),
    }
    if figures["failed_before"]:
        figures["kinds_before"] = failure_kinds(all_chains, 0, killed_at)
    return figures, problems, stretches


def report(label, figures):
    print("\nFIGURES %s %s" % (label, json.dumps(figures, sort_keys=True)))


def describe(problems, chains):
    sample = next((r["stderr"] for c in chains.values() for r in c
                   if r.get("stderr", "").strip()), "")[-1500:]
    return "%d problems:\n%s\n(a worker's stderr: %s)" % (
        len(problems), "\n".join(problems[:12]), sample)


# -- the pool topology ---------------------------------------------------------

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


# The configurations whose clients fail over by themselves: their failed
# requests are the few in flight when a node dies and are compared with plain
# memcached's. (php-memcached over the text protocol cannot read a session
# from another node while its own is down: how many requests fail then depends
# on which sessions the random session ids put on the killed node, and varies
# from run to run on either server; docs/PHP.md.)
FAILS_OVER = {"memcached-binary", "memcache"}



def check_syncached_run(label, figures, problems, chains, stretches):
    """What every syncached run must show: every session whole, nobody kept out
    longer than the lock TTL (plus LOCK_MARGIN), and the leftover lock of the
    request killed with its node really holding its session a while."""
    report(label, figures)
    assert not problems, describe(problems, chains)
    ttl = figures["lock_ttl"]
    too_long = {sid: round(s, 2) for sid, s in stretches.items() if s > ttl + LOCK_MARGIN}
    assert not too_long, "sessions unusable longer than the lock TTL %d s: %r" % (ttl, too_long)
    assert figures["holder_stretch"] >= 1.0, figures

@pytest.mark.time_limit(120)
@pytest.mark.parametrize("config", CHOSEN)
def test_pool_sessions_survive_a_node_loss(config, make_cluster, make_plain, workers):
    """Pool topology: 3 syncached nodes (with the flags the file names) keep
    every session and every acknowledged increment through a node's SIGKILL,
    DOWN s of absence and empty restart; no session waits longer than the
    file's lock TTL (plus LOCK_MARGIN), and the lock left by the request killed
    with the node does block its session (the replicated lock is real, and the
    TTL is what ends it). 2 plain memcached servers with the same clients and
    schedule are measured beside it; where the clients fail over, syncached
    fails no more requests than they do, give or take one per user."""
    pool_file = CONFIGS[config][0]
    file_settings = read_ini(pool_file)
    plain = None
    # Under ASan the comparison would time memcached, not our code: skip it.
    if os.access(MEMCACHED, os.X_OK) and not harness.sanitized_build():
        plain, _, _, _ = pool_run(make_plain(2), file_settings, workers, replicated=False)
        workers.kill_all()
        report("memcached-2 %s pool" % config, plain)
    if harness.is_memcached():
        return  # the suite runs against memcached: no cluster
    nodes = make_cluster(3, server_flags(pool_file))
    figures, problems, chains, stretches = pool_run(nodes, file_settings, workers,
                                                    replicated=True)
    check_syncached_run("syncached-3 %s pool" % config, figures, problems, chains, stretches)
    assert sum(r["acks"] for c in chains.values() for r in c) > USERS * 20
    if plain is not None and config in FAILS_OVER:
        # At most one more per user: on syncached a lock that a request in
        # flight at the kill left behind survives (on plain memcached it dies
        # with its node, and the session with it), and php-memcached fails a
        # request that waits more than 2 s for a lock hashed to a dead node
        # (docs/PHP.md). Measured: 1-10 against 0-4.
        ours = figures["failed_down"] + figures["failed_return"]
        theirs = plain["failed_down"] + plain["failed_return"]
        assert ours <= theirs + USERS, (ours, theirs)


# -- the local-node topology ---------------------------------------------------

def local_run(nodes, file_settings, workers):
    """One local-node run on a 3-node cluster: user i is served by web server
    (node) i % 3. Node 0's machine dies: its users' PHP processes end (one of
    them killed while it holds its session's lock), its node is SIGKILLed, and
    the load balancer sends those users to the other two web servers; node 0
    comes back empty after DOWN s and once it serves its users go back to it.
    No request may fail from the kill on. Returns (figures, problems, chains,
    stretches)."""
    per_node = [with_servers(file_settings, [a]) for a in addrs(nodes)]
    check_effective(per_node[0])
    ttl = lock_ttl(per_node[0])
    tag = os.urandom(3).hex()
    sids = ["l%s%02d" % (tag, i) for i in range(USERS)]
    home = {sid: i % len(nodes) for i, sid in enumerate(sids)}
    users = start_users(workers, lambda sid: per_node[home[sid]], sids)
    run_for(BEFORE_KILL, users.values())
    victim = nodes[0]
    moving = [sid for sid in sids if home[sid] == 0]
    holder = users[moving[0]]
    held = holder.hold()
    locked_at = time.time()
    wait_locked_everywhere(nodes, lock_key(per_node[0], holder.sid))
    # The machine dies: its web server's requests end (one is lost while it
    # holds its lock), then its node. (A node dying under a live web server is
    # not this topology: the load balancer's health check must cover the node.)
    chains = {holder.sid: [held]}
    for sid in moving[1:]:
        users[sid].stop()
    for sid in moving[1:]:
        chains[sid] = [users[sid].collect()]
    killed_at = time.time()
    victim.kill(signal.SIGKILL)
    holder.kill()
    dead_at = time.time()
    moved = {}
    for k, sid in enumerate(moving):  # the load balancer sends them elsewhere
        moved[sid] = workers.start(per_node[1 + k % 2], sid, carry=chains[sid][-1])
    moved_at = time.time()
    staying = [w for sid, w in users.items() if home[sid] != 0]
    run_for(killed_at + DOWN - time.time(), staying + list(moved.values()))
    restarted_at = time.time()
    victim.start(wait=False)
    victim.wait_ready(timeout=30)
    ready_at = time.time()
    for w in moved.values():
        w.stop()
    back = {}
    for sid, w in moved.items():  # and back to their own web server
        chains[sid].append(w.collect())
        back[sid] = workers.start(per_node[0], sid, carry=chains[sid][-1])
    run_for(AFTER_RETURN, staying + list(back.values()))
    stopped_at = time.time()
    for w in staying + list(back.values()):
        w.stop()
    for w in staying:
        chains[w.sid] = [w.collect()]
    for sid, w in back.items():
        chains[sid].append(w.collect())
    wait_converged(nodes, timeout=30)
    # The returned node must have every session: read them all through it.
    fresh = read_sessions(per_node[0], sids)
    figures, problems, stretches = figures_of(chains, fresh, killed_at, dead_at, restarted_at,
                                              stopped_at, ttl, holder.sid, victim.port)
    if fresh["_failed"]:
        problems.append("a fresh reader failed twice on %r" % fresh["_failed"])
    for sid in sids:
        stored = [session_value(n, session_key(per_node[0], sid)) for n in nodes]
        if stored != [fresh.get(sid)] * len(nodes):
            problems.append("%s: the nodes hold %r, a fresh reader read %r"
                            % (sid, stored, fresh.get(sid)))
    after_move = [f for c in chains.values() for r in c for f in r["failures"] if f[1] >= killed_at]
    figures.update({"failed_after_move": len(after_move), "moved_users": len(moving),
                    "move_s": round(moved_at - killed_at, 2),
                    "rejoin_s": round(ready_at - restarted_at, 2),
                    "fresh_retried": len(fresh["_retried"]), "holder_user": holder.sid,
                    "lock_age_at_kill": round(killed_at - locked_at, 2)})
    if after_move:
        problems.append("%d requests failed after a move: %r" % (len(after_move), after_move[:3]))
    return figures, problems, chains, stretches


@pytest.mark.syncached_only
@pytest.mark.time_limit(60)
@pytest.mark.parametrize("config", CHOSEN)
def test_local_node_sessions_follow_their_users(config, make_cluster, workers):
    """Local-node topology: the users of a dead web server (and node) are served
    by the others at once, without one failed request and without losing any
    acknowledged increment, waiting at most the lock TTL for a lock their lost
    request left; the node that returns empty has every session when they come
    back to it."""
    local_file = CONFIGS[config][1]
    nodes = make_cluster(3, server_flags(local_file))
    figures, problems, chains, stretches = local_run(nodes, read_ini(local_file), workers)
    check_syncached_run("syncached-3 %s local" % config, figures, problems, chains, stretches)
