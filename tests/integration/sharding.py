"""Sharded clusters for the tests: a members file for a Cluster, and each key's
owners as syncached-tool computes them (test_placement.py checks the tool against
the clients themselves)."""

import os
import subprocess

import harness
from cluster import HOST

TOOL = os.path.join(harness.build_dir(), "bin", "syncached-tool")


def shard(cluster, r, ring="ketama", extra=()):
    """Turns a Cluster that is not started yet into one of --members with
    --replication-factor r; returns the members file's path."""
    path = os.path.join(cluster[0].workdir, "members-%d" % cluster[0].port)
    with open(path, "w") as f:
        for node in cluster:
            f.write("%d %s:%d %s:%d\n" % (node.node_id, HOST, node.port, HOST, node.rport))
    for node in cluster:
        node.peers = []
        node.extra += ["--members", path, "--replication-factor", str(r), "--ring", ring]
        node.extra += list(extra)
    return path


def owners(members, keys, r, ring="ketama", prefix=None):
    """{key: [node ids]}, in the clients' failover order."""
    keys = list(keys)
    argv = [TOOL, "owners", "--members", members, "--ring", ring, "-R", str(r)]
    if prefix:
        argv += ["--prefix", prefix]
    out = subprocess.run(argv,
                         input="\n".join(keys) + "\n", capture_output=True, text=True,
                         timeout=60, check=True).stdout
    result = {}
    for line in out.splitlines():
        key, *ids = line.split(" ")
        result[key] = [int(i) for i in ids]
    assert len(result) == len(keys), (len(result), len(keys))
    return result


# A forwarding node's first line (engine/router.h kRelayHello): an owner then answers
# from its own copy instead of passing the request to the key's first live owner.
RELAY_HELLO = b"syncached_relayed\r\n"


def held(node, key):
    """The value `node` itself holds for `key` (bytes), or None."""
    with node.client() as c:
        reply = c.call(RELAY_HELLO + b"mg %s v\r\nmn\r\n" % key.encode(), b"MN\r\n")
    if not reply.startswith(b"VA "):
        return None
    return reply.split(b"\r\n")[1]
