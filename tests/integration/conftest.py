"""Fixtures: servers on free 127.0.0.1 ports, raw clients, per-test time limit.

Run against the reference:  SYNCACHED_BIN=/usr/bin/memcached /usr/bin/python3 -m pytest tests/integration
Markers:
  syncached_only  - skipped when SYNCACHED_BIN is memcached (syncached extensions)
  binary          - binary-protocol tests (run by default; SYNCACHED_TEST_BINARY=0 skips)
  time_limit(s)   - per-test wall-clock limit in seconds (default 60)
"""

import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

DEFAULT_TIME_LIMIT = 60


def pytest_configure(config):
    config.addinivalue_line("markers", "syncached_only: test of a syncached-only behaviour")
    config.addinivalue_line("markers", "binary: binary protocol test (SYNCACHED_TEST_BINARY=0 skips)")
    config.addinivalue_line("markers", "time_limit(seconds): per-test wall-clock limit")


def pytest_sessionstart(session):
    if not os.access(harness.server_bin(), os.X_OK):
        raise pytest.UsageError("server binary %s not found: build it or set SYNCACHED_BIN"
                                % harness.server_bin())


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "syncached_only" in item.keywords and harness.is_memcached():
            item.add_marker(pytest.mark.skip(reason="syncached-only behaviour"))
        if "binary" in item.keywords and os.environ.get("SYNCACHED_TEST_BINARY") == "0":
            item.add_marker(pytest.mark.skip(reason="SYNCACHED_TEST_BINARY=0"))


class TimeLimitExceeded(Exception):
    pass


@pytest.fixture(autouse=True)
def _time_limit(request):
    """Fails (instead of hanging) any test that runs past its limit."""
    marker = request.node.get_closest_marker("time_limit")
    seconds = int(marker.args[0]) if marker else DEFAULT_TIME_LIMIT

    def on_alarm(signum, frame):
        raise TimeLimitExceeded("test exceeded %d s" % seconds)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def start_server():
    """Factory: start_server(*args) -> harness.Server; all are stopped at teardown."""
    servers = []

    def start(*args, **kwargs):
        srv = harness.Server(args, **kwargs)
        servers.append(srv)
        return srv

    yield start
    problems = [problem for problem in map(stop_checked, servers) if problem]
    if problems:
        pytest.fail("\n".join(problems))


def stop_checked(srv):
    """Stops srv with SIGTERM; describes what went wrong, if anything: a
    crash before teardown, or no clean exit (status 0) within 5 s."""
    exited_before = not srv.alive()
    status = srv.stop()
    if status == 0:
        return None
    if exited_before and status < 0:
        what = "server died of signal %d during the test" % -status
    elif exited_before:
        what = "server exited with status %d during the test" % status
    else:
        what = "server did not exit with status 0 on SIGTERM (status %d)" % status
    return what + ":\n" + srv.output()[-2000:]


@pytest.fixture
def server(start_server):
    """A fresh server with default settings (plus the harness's -l/-p/-U 0)."""
    return start_server()


class SharedServer:
    """One default server for a whole test module, restarted if it died."""

    def __init__(self):
        self.srv = None

    def get(self):
        if self.srv is None or not self.srv.alive():
            self.srv = harness.Server()
        return self.srv

    def stop(self):
        if self.srv is not None:
            problem = stop_checked(self.srv)
            assert not problem, problem


@pytest.fixture(scope="module")
def _shared():
    shared = SharedServer()
    yield shared
    shared.stop()


@pytest.fixture
def shared_server(_shared):
    """The module's default server, emptied (flush_all) for this test.

    Stopping a server costs memcached up to a second, so tests that need no
    special flags and read no counters share one. A test after which the
    server is dead fails, and the next one gets a new server.
    """
    srv = _shared.get()
    with srv.connect() as c:
        assert c.call(b"flush_all\r\n") == b"OK\r\n"
    yield srv
    assert srv.alive(), "server died during this test:\n" + srv.output()[-2000:]


@pytest.fixture
def client(shared_server):
    c = shared_server.connect()
    yield c
    c.close()
