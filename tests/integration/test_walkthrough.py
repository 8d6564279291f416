"""docs/OPERATIONS.md's three-node cluster, as an operator sets it up (issue #18):
the package's example confs (packaging/examples/cluster/nodeN.conf) with their
10.0.0.N addresses moved to 127.0.0.1 and free ports, a cluster secret of mode
600, data dirs, client TLS on every listener but a loopback admin one (notls:),
the metrics endpoint, each node started by the unit's ExecStart line. Then the
checks the page tells the operator to make: syncached-tool wait-synced and
cluster, the metrics, `stats replication`'s auth, and a session written over
TLS on one node read over TLS on another.
"""

import json
import os
import re
import socket
import subprocess
import time
import urllib.request

import pytest

import harness
from cluster import distinct_free_ports
from test_service import unit_command
from tls_support import OPENSSL, TlsClient, context, make_ca, make_cert

pytestmark = [pytest.mark.syncached_only, pytest.mark.time_limit(120),
              pytest.mark.skipif(OPENSSL is None, reason="needs the openssl CLI")]

EXAMPLES = os.path.join(harness.REPO, "packaging", "examples", "cluster")
TOOL = os.path.join(os.environ.get("SYNCACHED_BUILD_DIR", os.path.join(harness.REPO, "build")),
                    "bin", "syncached-tool")


def node_conf(i, ports, tmp):
    """nodeN.conf with loopback addresses, free ports and the test's paths."""
    with open(os.path.join(EXAMPLES, "node%d.conf" % i)) as f:
        text = f.read()
    for j, p in ports.items():
        text = text.replace("10.0.0.%d:11212" % j, "127.0.0.1:%d" % p["repl"])
    me = ports[i]
    text = text.replace("-l 10.0.0.%d\n" % i,
                        "-l 127.0.0.1,notls:127.0.0.1:%d\n" % me["admin"])
    text = text.replace("-p 11211\n", "-p %d\n" % me["client"])
    text = text.replace("/var/lib/syncached", str(tmp / ("data%d" % i)))
    text = text.replace("/etc/syncached/secret", str(tmp / "secret"))
    assert not [l for l in text.splitlines() if "10.0.0." in l and not l.startswith("#")], text
    os.mkdir(str(tmp / ("data%d" % i)))
    text += "\n".join([
        "--replication-port %d" % me["repl"],
        "--metrics-port %d" % me["metrics"],
        "-U 0",
        "-Z",
        "-o ssl_chain_cert=%s,ssl_key=%s" % (tmp / "server1.crt", tmp / "server1.key"),
        "--join-timeout 2",
    ] + (["-u root"] if os.geteuid() == 0 else [])) + "\n"
    path = tmp / ("node%d.conf" % i)
    path.write_text(text)
    return path


@pytest.fixture
def cluster(tmp_path):
    free = distinct_free_ports(12)
    ports = {i: dict(zip(("client", "repl", "admin", "metrics"), free[4 * (i - 1):4 * i]))
             for i in (1, 2, 3)}
    make_ca(str(tmp_path), "ca")
    make_cert(str(tmp_path), "server1", "ca", 1001, True)
    secret = tmp_path / "secret"
    secret.write_bytes(os.urandom(32).hex().encode() + b"\n")
    os.chmod(str(secret), 0o600)
    procs = []
    try:
        for i in (1, 2, 3):
            argv = [harness.server_bin()] + unit_command("syncached.service",
                                                          node_conf(i, ports, tmp_path))
            log = open(str(tmp_path / ("node%d.log" % i)), "wb")
            procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                          preexec_fn=harness._die_with_parent))
            log.close()
        for i, p in zip((1, 2, 3), procs):
            wait_port(ports[i]["admin"], p, tmp_path / ("node%d.log" % i))
        yield ports, tmp_path
    finally:
        for p in procs:
            p.kill()
            p.wait(10)


def wait_port(port, proc, log, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            socket.create_connection((harness.HOST, port), timeout=0.5).close()
            return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("not serving:\n" + log.read_text()[-3000:])


def tool(*args, timeout=60):
    return subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=timeout)


def test_three_node_cluster_with_tls_metrics_and_the_tool(cluster):
    ports, tmp = cluster
    admin = ["127.0.0.1:%d" % ports[i]["admin"] for i in (1, 2, 3)]

    # Every node follows every peer (what a rolling restart waits for).
    for a in admin:
        r = tool(a, "wait-synced", "--timeout", "30")
        assert r.returncode == 0, (a, r.stdout, r.stderr)

    # One view of the cluster from node 1, the nodes named by a members file
    # (docs/SHARDING.md's format; the admin listeners stand for client addresses).
    members = tmp / "members"
    members.write_text("".join("%d %s 127.0.0.1:%d\n" % (i, admin[i - 1], ports[i]["repl"])
                               for i in (1, 2, 3)))
    r = tool(admin[0], "cluster", "--json", "--members", str(members))
    assert r.returncode == 0, r.stderr
    view = json.loads(r.stdout)
    assert view["synced"] and view["cluster_name"] == "sessions", view
    nodes = {n["node"]: n for n in view["nodes"]}
    assert sorted(nodes) == [1, 2, 3], view
    for i in (2, 3):
        assert nodes[i]["client"] == admin[i - 1], view
        assert (nodes[i]["status"], nodes[i]["link"], nodes[i]["lag_changes"]) == \
            ("up", "streaming", 0), view

    # The links are authenticated and encrypted (CURVE), as the secret file asks.
    for i in (1, 2, 3):
        c = harness.Client(harness.HOST, ports[i]["admin"])
        c.send(b"stats replication\r\n")
        stats = c.read_until(b"END\r\n").decode()
        assert "STAT auth curve\r\n" in stats, stats
        c.close()

    # Prometheus sees both peers streaming on every node.
    for i in (1, 2, 3):
        url = "http://127.0.0.1:%d/metrics" % ports[i]["metrics"]
        body = urllib.request.urlopen(url, timeout=10).read().decode()
        streaming = re.findall(
            r'^syncached_replication_peer_state\{[^}]*state="streaming"[^}]*\} 1$', body, re.M)
        assert len(streaming) == 2, (i, streaming)
        assert re.search(r'^memcached_up 1$', body, re.M) or "memcached_uptime_seconds" in body

    # A session written over TLS on node 1 is read over TLS on node 3.
    ctx = context(str(tmp))
    c1 = TlsClient(ports[1]["client"], ctx)
    assert c1.call(b"set sess:abc 0 0 5\r\nhello\r\n") == b"STORED\r\n"
    deadline = time.monotonic() + 10
    c3 = TlsClient(ports[3]["client"], ctx)
    while c3.value("sess:abc") != b"hello":
        assert time.monotonic() < deadline, "not replicated"
        time.sleep(0.05)
    # The client port speaks only TLS: a plain request gets no memcached reply.
    plain = harness.Client(harness.HOST, ports[2]["client"], timeout=2)
    plain.send(b"version\r\n")
    try:
        reply = plain.readline(2)
    except OSError:  # closed, or silent for 2 s (TimeoutError): both refuse it
        reply = b""
    assert not reply.startswith(b"VERSION"), reply
