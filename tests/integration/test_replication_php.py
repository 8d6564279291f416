"""PHP sessions on a 3-node cluster (DESIGN.md sections 1 and 5, CLIENTS.md
section 2): 30 concurrent php-cli processes each increment their own locked
session, with all three nodes as the session servers; one node is SIGKILLed
mid-run and restarted later. No session may lose an acknowledged increment,
go backwards, or come back empty."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import warnings

import pytest

from cluster import make_cluster, wait_converged  # noqa: F401 (fixture)

PHP = shutil.which("php")
PHP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "php")
SCRIPT = os.path.join(PHP_DIR, "session_counter_failover.php")
PROCESSES = 30
RUN_SECONDS = 4.5
PAUSE_MS = 20

pytestmark = [pytest.mark.syncached_only,
              pytest.mark.skipif(PHP is None, reason="php-cli not installed")]


def common_ini(handler):
    return ["session.use_cookies=0", "session.use_only_cookies=0", "session.cache_limiter=",
            "session.use_strict_mode=0", "session.lazy_write=0", "session.gc_maxlifetime=3600",
            "session.save_handler=" + handler]


def memcache_ini(nodes):
    """pecl memcache: ascii, consistent hashing, failover, no client replicas."""
    path = ",".join("tcp://127.0.0.1:%d?persistent=0&weight=1&timeout=1&retry_interval=1"
                    % n.port for n in nodes)
    return common_ini("memcache") + [
        "session.save_path=" + path, "memcache.hash_strategy=consistent",
        "memcache.allow_failover=1", "memcache.session_redundancy=1",
        "memcache.lock_timeout=2"]


def memcached_ini(nodes, binary):
    """php-memcached as CLIENTS.md section 2 recommends for a replicated server."""
    return common_ini("memcached") + [
        "session.save_path=" + ",".join("127.0.0.1:%d" % n.port for n in nodes),
        "memcached.sess_binary_protocol=%d" % (1 if binary else 0),
        "memcached.sess_consistent_hash=1", "memcached.sess_consistent_hash_type=ketama",
        "memcached.sess_remove_failed_servers=1", "memcached.sess_server_failure_limit=1",
        "memcached.sess_number_of_replicas=0", "memcached.sess_connect_timeout=1000",
        "memcached.sess_locking=1", "memcached.sess_lock_expire=3",
        "memcached.sess_lock_wait_min=5", "memcached.sess_lock_wait_max=50",
        "memcached.sess_lock_retries=200"]


def php_argv(ini, *args):
    argv = [PHP, "-d", "display_errors=stderr", "-d", "log_errors=0",
            "-d", "error_reporting=E_ALL & ~E_DEPRECATED"]
    for item in ini:
        argv += ["-d", item]
    return argv + [SCRIPT] + [str(a) for a in args]


def session_value(node, key):
    data = node.values([key]).get(key)
    if data is None:
        return None
    m = re.search(rb"n\|i:(\d+);", data[0])
    return int(m.group(1)) if m else data[0]


def run_failover(nodes, ini, key_of, tag):
    victim = nodes[1]
    sids = ["%s%02d" % (tag, i) for i in range(PROCESSES)]
    procs = [subprocess.Popen(php_argv(ini, sid, RUN_SECONDS, PAUSE_MS), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for sid in sids]
    results, stderrs = [], []
    try:
        for p in procs:  # every process is running before the kill
            assert p.stdout.readline() == b"started\n"
        time.sleep(0.5)
        killed_at = time.time()
        victim.kill(signal.SIGKILL)  # returns once the node is reaped
        dead_at = time.time()
        time.sleep(1.5)
        restarted_at = time.time()
        victim.start(wait=False)
        for p in procs:
            out, err = p.communicate(timeout=90)
            assert p.returncode == 0, (p.returncode, out, err[-2000:])
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
            stderrs.append(err.decode())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    victim.wait_ready(timeout=20)
    wait_converged(nodes, timeout=20)
    # Every process was running before the kill and after the restart.
    assert max(r["start"] for r in results) < killed_at, "a process started after the kill"
    assert min(r["end"] for r in results) > restarted_at + 0.5, "a process ended too early"
    problems, in_flight = [], []
    for r in results:
        finals = [session_value(n, key_of(r["sid"])) for n in nodes]
        # DESIGN 5: writes are replicated asynchronously; one the killed node
        # acknowledged within milliseconds of its death may be lost (with
        # --sync-replicas it may not). Tolerated: a single lost increment per
        # session, never emptied, whose write was begun before the node was gone
        # and acknowledged at most 50 ms before the SIGKILL. (With 30 processes on
        # 2 cores PHP reads its clock late: t_sent is read before the write goes
        # out and t_ack after its answer came, so both bounds hold for every
        # write the node really took in its last 50 ms, however late PHP ran.)
        lost = 0
        for i, n, last, t_ack, t_read, t_sent in r["regressions"]:
            if (last - n == 1 and n > 0 and lost == 0 and t_sent < dead_at
                    and t_ack > killed_at - 0.05):
                lost = 1
                in_flight.append("%s lost increment %d (acknowledged at kill%+.3fs)"
                                 % (r["sid"], last, t_ack - killed_at))
            else:
                problems.append("%s: attempt %d read %d after %d was acknowledged at kill%+.3fs "
                                "(read at kill%+.3fs)" % (r["sid"], i, n, last, t_ack - killed_at,
                                                          t_read - killed_at))
        if r["acks"] == 0:
            problems.append("%s: no increment acknowledged at all (%s)" % (r["sid"], r))
        if any(f != r["acks"] - lost for f in finals):
            problems.append("%s: %d increments acknowledged (%d lost in flight), stored %s "
                            "(last written %d, %d failures)" % (r["sid"], r["acks"], lost, finals,
                                                                r["last"], r["failures"]))
    if in_flight:
        warnings.warn("acknowledged session writes lost with the killed node (async "
                      "replication window): " + "; ".join(in_flight))
    failures = sum(r["failures"] for r in results)
    detail = "\n".join(problems[:10])
    if problems:
        sample = next((e for e in stderrs if e), "")[-1500:]
        detail += "\n(%d sessions wrong; %d failed calls in all; a php stderr: %s)" % (
            len(problems), failures, sample)
    assert not problems, detail
    print("acks %d failures %d sessions with failures %d" % (sum(r["acks"] for r in results), failures, sum(1 for r in results if r["failures"])))
    return results


@pytest.mark.time_limit(120)
def test_php_memcache_sessions_survive_a_node_kill(make_cluster):
    nodes = make_cluster(3)
    results = run_failover(nodes, memcache_ini(nodes), lambda sid: sid, "pm")
    assert sum(r["acks"] for r in results) > PROCESSES * 20


@pytest.mark.time_limit(120)
def test_php_memcached_binary_sessions_survive_a_node_kill(make_cluster):
    nodes = make_cluster(3)
    results = run_failover(nodes, memcached_ini(nodes, binary=True),
                           lambda sid: "memc.sess.key." + sid, "pb")
    assert sum(r["acks"] for r in results) > PROCESSES * 20


@pytest.mark.time_limit(120)
def test_php_memcached_ascii_sessions_survive_a_node_kill(make_cluster):
    nodes = make_cluster(3)
    results = run_failover(nodes, memcached_ini(nodes, binary=False),
                           lambda sid: "memc.sess.key." + sid, "pa")
    assert sum(r["acks"] for r in results) > PROCESSES * 20
