"""PHP sessions on a sharded cluster (issue #19): 4 nodes, each key on 2 of
them, the clients set as docs/PHP.md's pool files say (test_php_failover.py
runs the same schedule on a 3-node cluster where every node holds every key).
The node holding a user's lock is SIGKILLed with that user's PHP process, kept
down DOWN s and restarted empty: every session keeps every acknowledged
increment, the sessions' owners end holding what a fresh reader reads (and no
other node holds them), and no session waits longer than the lock TTL."""

import pytest

import sharding
from cluster import make_cluster  # noqa: F401 (fixture)
from php_sessions import (CHOSEN, CONFIGS, addrs, pool_run, read_ini,  # noqa: F401 (workers)
                          server_flags, session_key, with_servers, workers)
from php_verdict import check_syncached_run

# How each handler places keys: the ring, and the prefix it does not hash.
RINGS = {
    "memcached-binary": ("ketama", "memc.sess.key."),
    "memcached-ascii": ("ketama", "memc.sess.key."),
    "memcache": ("memcache-session", None),
}

pytestmark = [pytest.mark.syncached_only]




@pytest.mark.time_limit(120)
@pytest.mark.parametrize("config", CHOSEN)
def test_sharded_pool_sessions_survive_a_node_loss(config, make_cluster, workers):  # noqa: F811
    pool_file = CONFIGS[config][0]
    ring, prefix = RINGS[config]
    nodes = make_cluster(4, server_flags(pool_file), start=False)
    extra = ["--ring-key-prefix", prefix] if prefix else []
    members = sharding.shard(nodes, 2, ring, extra)
    nodes.start()
    by_id = {n.node_id: n for n in nodes}

    def owners_of(key):
        return [by_id[i] for i in sharding.owners(members, [key], 2, ring, prefix)[key]]

    figures, problems, chains, stretches = pool_run(nodes, read_ini(pool_file), workers,
                                                    replicated=True, owners_of=owners_of)
    check_syncached_run("syncached-4 R=2 %s pool" % config, figures, problems, chains,
                        stretches, nodes)
    # And nowhere else: a client's redundant copy sent to a non-owner was forwarded.
    # (metadump lists a node's own items; a get would be forwarded.)
    settings = with_servers(read_ini(pool_file), addrs(nodes))
    local = {n.node_id: n.metadump() for n in nodes}
    for sid in chains:
        key = session_key(settings, sid)
        held = [n.node_id for n in nodes if n not in owners_of(key) and key in local[n.node_id]]
        assert not held, (sid, held)
