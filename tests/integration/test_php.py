"""PHP clients (php-cli with php-memcached and pecl memcache): the object
APIs, and session storage with locking under many concurrent processes.

Scripts live in php/. Binary-protocol sessions (php-memcached's default) are
a later issue: that test is marked `binary` (SYNCACHED_TEST_BINARY=1).
"""

import os
import shutil
import subprocess
import time

import pytest

PHP = shutil.which("php")
PHP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "php")
PROCESSES = 20
INCREMENTS = 5

pytestmark = pytest.mark.skipif(PHP is None, reason="php-cli not installed")


def php_argv(script, *args, ini=()):
    argv = [PHP]
    # E_DEPRECATED: pecl memcache itself trips PHP 8.2 dynamic-property notices.
    argv += ["-d", "display_errors=stderr", "-d", "log_errors=0",
             "-d", "error_reporting=E_ALL & ~E_DEPRECATED"]
    for item in ini:
        argv += ["-d", item]
    return argv + [os.path.join(PHP_DIR, script)] + [str(a) for a in args]


def run_php(script, *args, ini=(), timeout=60):
    r = subprocess.run(php_argv(script, *args, ini=ini), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def session_ini(handler, port, binary=False):
    common = ["session.use_cookies=0", "session.use_only_cookies=0", "session.cache_limiter=",
              "session.use_strict_mode=0", "session.lazy_write=0",
              "session.save_handler=" + handler]
    if handler == "memcached":
        return common + [
            "session.save_path=127.0.0.1:%d" % port,
            "memcached.sess_binary_protocol=%d" % (1 if binary else 0),
            "memcached.sess_locking=1",
            "memcached.sess_lock_wait_min=5", "memcached.sess_lock_wait_max=20",
            "memcached.sess_lock_retries=3000",
        ]
    return common + ["session.save_path=tcp://127.0.0.1:%d" % port,
                     "memcache.lock_timeout=60"]


def concurrent_session_increments(server, handler, binary=False):
    """PROCESSES php processes each add INCREMENTS to one locked session."""
    ini = session_ini(handler, server.port, binary)
    sid = "syncachedtest%s%d" % (handler, int(time.time() * 1000) % 100000)
    procs = [subprocess.Popen(php_argv("session_counter.php", sid, INCREMENTS, ini=ini),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
             for _ in range(PROCESSES)]
    try:
        failures = []
        for p in procs:
            out, err = p.communicate(timeout=90)
            if p.returncode != 0 or err:
                failures.append((p.returncode, out.decode(), err.decode()))
        assert not failures, failures[:3]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    rc, out, err = run_php("session_counter.php", sid, 0, ini=ini)
    assert (rc, err) == (0, ""), err
    assert int(out) == PROCESSES * INCREMENTS


@pytest.mark.time_limit(150)
def test_php_memcached_ascii_sessions_with_locking(server):
    concurrent_session_increments(server, "memcached")
    c = server.connect()
    stats = c.stats()
    assert int(stats["cmd_set"]) >= PROCESSES * INCREMENTS


@pytest.mark.time_limit(150)
def test_php_memcache_sessions_with_locking(server):
    concurrent_session_increments(server, "memcache")


@pytest.mark.binary
@pytest.mark.time_limit(150)
def test_php_memcached_binary_sessions_with_locking(server):
    concurrent_session_increments(server, "memcached", binary=True)


def test_php_memcached_session_is_stored_under_its_prefix(server):
    ini = session_ini("memcached", server.port)
    rc, out, err = run_php("session_counter.php", "abc123", 3, ini=ini)
    assert (rc, out, err) == (0, "3\n", "")
    c = server.connect()
    assert c.value("memc.sess.key.abc123") == b"n|i:3;"
    # The lock record is gone once the session is closed.
    assert c.value("memc.sess.key.lock.abc123") is None


def test_php_memcached_object_api_ascii(shared_server):
    rc, out, err = run_php("memcached_api.php", shared_server.port)
    assert (rc, out, err) == (0, "OK\n", "")


@pytest.mark.binary
def test_php_memcached_object_api_binary(shared_server):
    rc, out, err = run_php("memcached_api.php", shared_server.port, "binary")
    assert (rc, out, err) == (0, "OK\n", "")


def test_php_memcache_object_api(shared_server):
    rc, out, err = run_php("memcache_api.php", shared_server.port)
    assert (rc, out, err) == (0, "OK\n", "")
