"""Replication links and who may join (DESIGN.md section 5): a shared cluster
secret (CURVE), a node with another secret or another cluster name is refused,
counted and logged, and exchanges no data either way."""

import os
import subprocess
import time

import pytest

import harness
from cluster import make_cluster, wait_converged  # noqa: F401 (fixture)

pytestmark = pytest.mark.syncached_only

SECRET = "s3cr3t-Sh4red-by-th3-cluster-0123456789"
OTHER_SECRET = "an0ther-s3cret-n0t-the-clusters-9876543210"


def secret_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)


def write_keys(node, prefix, n=20):
    with node.client() as c:
        for i in range(n):
            assert c.set("%s%d" % (prefix, i), b"from-%d" % node.node_id) == b"STORED\r\n"
    return ["%s%d" % (prefix, i) for i in range(n)]


def settle(nodes, seconds=2.0):
    """Lets replication run (for 'nothing arrives' checks); nodes must stay up."""
    time.sleep(seconds)
    for n in nodes:
        assert n.alive(), n.log()


@pytest.mark.time_limit(40)
def test_nodes_sharing_a_secret_converge(make_cluster, tmp_path):
    f = secret_file(tmp_path, "secret", SECRET)
    nodes = make_cluster(3, ["--cluster-secret-file", f])
    for n in nodes:
        write_keys(n, "k%d-" % n.node_id)
    snap = wait_converged(nodes, timeout=15)
    assert len(snap) == 60
    for n in nodes:
        log = n.log()
        assert "unauthenticated" not in log
        assert SECRET not in log
        st = n.repl_stats()
        assert st["auth_failures"] == "0"
        assert st["auth"] == "curve", st


@pytest.mark.time_limit(30)
def test_secret_never_shows_in_stats_or_help(make_cluster, tmp_path):
    f = secret_file(tmp_path, "secret", SECRET + "\n")
    nodes = make_cluster(2, ["--cluster-secret-file", f])
    for n in nodes:
        with n.client() as c:
            for group in ("", "settings", "replication", "conns", "items", "slabs"):
                raw = c.call(("stats %s" % group).strip().encode() + b"\r\n", b"END\r\n")
                for s in (SECRET, SECRET[:16]):
                    assert s.encode() not in raw, "secret bytes in stats %s" % group
    r = harness.run_binary(["--help", "--cluster-secret-file", f])
    assert r.returncode == 0 and b"--cluster-secret-file" in r.stdout
    assert SECRET[:16].encode() not in r.stdout + r.stderr


def process_memory_holds(pid, needle):
    """True when some readable mapping of process pid contains needle."""
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1]:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            tail = b""
            try:
                mem.seek(start)
                while start < end:
                    data = mem.read(min(end - start, 16 << 20))
                    if not data:
                        break
                    chunk = tail + data
                    if needle in chunk:
                        return True
                    start += len(data)
                    tail = chunk[-(len(needle) - 1):]
            except (OSError, ValueError, OverflowError):
                continue  # [vvar] and the like
    return False


@pytest.mark.time_limit(30)
def test_secret_is_wiped_from_memory_once_keys_are_derived(make_cluster, tmp_path):
    """The buffers syncached owns (the file read, the parsed options, the copies
    handed to the server and the replicator) are zeroed once the CURVE keys are
    derived: no copy of the secret stays in the running process, live or freed.
    Short fragments may remain in CPU register state spilled to stacks (and
    libzmq keeps the derived keys, see docs/REPLICATION.md), so the secret is
    long and the check looks for its last 160 bytes: more than any vector
    register holds, and past the allocator's bookkeeping in a freed block."""
    long_secret = ("Lq8" + "wX2kD9-vT4mZ7-" * 15)[:200]
    needle = long_secret[40:].encode()
    if harness.sanitized_build():
        pytest.skip("ASan reserves terabytes of shadow memory; the plain build checks this")
    f = secret_file(tmp_path, "secret", long_secret + "\n")
    nodes = make_cluster(2, ["--cluster-secret-file", f])
    wait_converged(nodes, timeout=10)
    try:
        open("/proc/%d/mem" % nodes[0].pid, "rb").close()
    except OSError as e:
        pytest.skip("cannot read the node's memory: %s" % e)
    for n in nodes:
        assert not process_memory_holds(n.pid, needle), "%r still holds the secret" % n
    # The scan sees what is there (a string constant of the binary).
    assert process_memory_holds(nodes[0].pid, b"syncached-cluster-v1:")


@pytest.mark.time_limit(40)
def test_node_with_wrong_secret_gets_nothing_and_gives_nothing(make_cluster, tmp_path):
    good = secret_file(tmp_path, "good", SECRET)
    bad = secret_file(tmp_path, "bad", OTHER_SECRET)
    nodes = make_cluster(3, start=False)
    a, b, c = nodes
    a.extra = b.extra = ["--cluster-secret-file", good]
    c.extra = ["--cluster-secret-file", bad]
    nodes.start()
    good_keys = write_keys(a, "good-a") + write_keys(b, "good-b")
    bad_keys = write_keys(c, "bad-c")
    wait_converged([a, b], timeout=10)
    settle(nodes)
    assert not c.values(good_keys), "the wrong-secret node received data"
    assert not a.values(bad_keys) and not b.values(bad_keys), "data from the wrong-secret node applied"
    failures = int(a.repl_stats()["auth_failures"]) + int(b.repl_stats()["auth_failures"])
    c_errors = [v for k, v in c.repl_stats().items() if k.endswith(":last_error")]
    c_states = [v for k, v in c.repl_stats().items() if k.endswith(":state")]
    assert failures > 0 or any(e != "none" for e in c_errors), (failures, c_errors)
    assert all(s in ("connecting", "refused") for s in c_states), c_states
    # The refusal is logged on the nodes that refused, and no log shows a secret.
    assert any("handshake" in n.log() or "secret" in n.log().lower() for n in (a, b))
    for n in nodes:
        log = n.log()
        for s in (SECRET, OTHER_SECRET, SECRET[:16], OTHER_SECRET[:16]):
            assert s not in log, "secret bytes in %r's log" % n


@pytest.mark.time_limit(40)
def test_wrong_secret_refusal_is_logged_usefully(make_cluster, tmp_path):
    """The refusal log line does not pass the refusing node's own listener off
    as the peer, and is not repeated several times a second (a misconfigured
    node must not flood the logs)."""
    good = secret_file(tmp_path, "good", SECRET)
    bad = secret_file(tmp_path, "bad", OTHER_SECRET)
    nodes = make_cluster(2, start=False)
    a, b = nodes
    a.extra = ["--cluster-secret-file", good]
    b.extra = ["--cluster-secret-file", bad]
    nodes.start()
    settle(nodes, 3.0)
    lines = [l for l in a.log().splitlines() if "handshake" in l or "secret" in l.lower()]
    lines = [l for l in lines if "unauthenticated" not in l]
    assert lines, a.log()
    own = "from tcp://127.0.0.1:%d" % a.rport
    assert not any(own in l for l in lines), (
        "the refusal names the refusing node's own listener %s, not the peer:\n%s"
        % (own, "\n".join(lines[:3])))
    assert len(lines) <= 10, "%d refusal lines in ~4 s (log flood):\n%s" % (
        len(lines), "\n".join(lines[:5]))


@pytest.mark.time_limit(40)
def test_node_reusing_another_nodes_id_is_refused(make_cluster):
    nodes = make_cluster(3, start=False)
    a, b, c = nodes
    c.node_id = a.node_id          # a misconfiguration: two nodes with id 1
    nodes.start()
    settle(nodes, 1.5)
    assert int(a.repl_stats()["refused_peers"]) > 0
    assert "this node's id" in a.log() or "node id" in a.log()


@pytest.mark.time_limit(40)
def test_node_with_another_cluster_name_is_refused(make_cluster):
    nodes = make_cluster(3, start=False)
    a, b, c = nodes
    a.extra = b.extra = ["--cluster-name", "alpha"]
    c.extra = ["--cluster-name", "beta"]
    nodes.start()
    good_keys = write_keys(a, "alpha-a") + write_keys(b, "alpha-b")
    bad_keys = write_keys(c, "beta-c")
    wait_converged([a, b], timeout=10)
    settle(nodes)
    assert not c.values(good_keys)
    assert not a.values(bad_keys) and not b.values(bad_keys)
    assert int(a.repl_stats()["refused_peers"]) > 0
    assert int(b.repl_stats()["refused_peers"]) > 0
    st = c.repl_stats()
    assert c.peer_stat(a, "state", st) == "refused", st
    assert "refused" in c.peer_stat(a, "last_error", st)
    # c refuses a and b too (their name is not its name).
    assert int(st["refused_peers"]) > 0
    assert "cluster name differs" in a.log()
    assert "beta" in a.log()


@pytest.mark.time_limit(30)
def test_without_a_secret_links_are_logged_as_unauthenticated(make_cluster):
    nodes = make_cluster(2)
    for n in nodes:
        line = [l for l in n.log().splitlines() if "unauthenticated" in l]
        assert line and ("WARN" in line[0] or "warn" in line[0].lower()), n.log()
        assert n.repl_stats()["auth"] == "none"


@pytest.mark.parametrize("content", ["short", ""])
def test_too_short_or_empty_secret_is_refused_at_start(tmp_path, content):
    f = secret_file(tmp_path, "secret", content)
    port, rport = harness.free_port(), harness.free_port()
    try:
        r = harness.run_binary(harness.base_args(port) + [
            "--node-id", "1", "--replication-port", str(rport), "--peers", "127.0.0.1:1",
            "--cluster-secret-file", f], timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("a node with a %d-byte secret started and ran" % len(content))
    assert r.returncode != 0
    err = (r.stdout + r.stderr).decode()
    assert "cluster-secret-file" in err and len(err.strip().splitlines()) == 1, err


def test_missing_secret_file_is_refused_at_start(tmp_path):
    port, rport = harness.free_port(), harness.free_port()
    r = harness.run_binary(harness.base_args(port) + [
        "--node-id", "1", "--replication-port", str(rport), "--peers", "127.0.0.1:1",
        "--cluster-secret-file", str(tmp_path / "nope")], timeout=10)
    assert r.returncode != 0
    assert "cluster-secret-file" in (r.stdout + r.stderr).decode()
