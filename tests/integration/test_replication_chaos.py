"""A random fault schedule over a 3-node cluster (DESIGN.md §5, §6), with data
dirs or with --sync-replicas and no disk: writers on every node set, overwrite,
delete and incr a shared key space and store keys of their own, while nodes
are SIGKILLed and restarted (with their data, or wiped), SIGSTOPped and
resumed, or stopped with SIGTERM. When
the faults stop, every node must hold the same data, every acknowledged write
of a key nobody else writes must be there, and every acknowledged delete of
such a key must stay deleted.

SYNCACHED_CHAOS_SEED picks the schedule (printed on failure) and
SYNCACHED_CHAOS_SECONDS its length, so a long hunt is one command:
    for s in $(seq 100); do SYNCACHED_CHAOS_SEED=$s pytest -q -x test_replication_chaos.py; done
"""

import os
import random
import shutil
import signal
import time

import pytest

from chaos_ops import check_own_keys, start_writers
from cluster import make_cluster, wait_converged  # noqa: F401 (fixture)

SECONDS = float(os.environ.get("SYNCACHED_CHAOS_SECONDS", "20"))
pytestmark = [pytest.mark.syncached_only, pytest.mark.time_limit(SECONDS + 150)]

def with_data(node, extra):
    node.data_dir = os.path.join(node.workdir, "data%d" % node.node_id)
    node.extra += ["--data-dir", node.data_dir, "--backlog-size", "1m"] + extra


def in_memory(node, extra):
    node.data_dir = None
    node.extra += ["--backlog-size", "1m"] + extra


VARIANTS = {
    "default": (with_data, []),
    # Tombstones kept 2 s: every return of a node is a sweeping full copy, under writes.
    "sweeping": (with_data, ["--tombstone-ttl", "2"]),
    # No disk: every restart starts empty, and an acknowledged write is safe only
    # because a peer applied it before the reply (a timeout closes the connection
    # unanswered, so it is never acknowledged).
    "sync-replicas": (in_memory, ["--sync-replicas", "1", "--sync-timeout-mode", "close"]),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_random_faults_end_converged_with_every_acknowledged_write(make_cluster, variant):
    setup, extra = VARIANTS[variant]
    seed = int(os.environ.get("SYNCACHED_CHAOS_SEED", "7"))
    seconds = SECONDS
    rng = random.Random(seed)
    nodes = make_cluster(3, start=False)
    for node in nodes:
        setup(node, extra)
    nodes.start()
    owns, writers = start_writers(nodes, rng)

    log = ["seed %d" % seed]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0.2, 1.5))
        victim = rng.choice(nodes)
        fault = rng.choice(["kill", "kill", "wipe", "pause", "pause", "term"])
        log.append("%.1f %s node%d" % (seconds - (deadline - time.monotonic()), fault,
                                       victim.node_id))
        if fault == "pause":
            victim.pause()
            time.sleep(rng.uniform(0.1, 2.0))
            victim.resume()
            continue
        victim.kill(signal.SIGTERM if fault == "term" else signal.SIGKILL)
        if fault == "wipe" and victim.data_dir:
            # A replacement machine: its own writes that never left are lost,
            # so its writer's keys can no longer be promised.
            shutil.rmtree(victim.data_dir, ignore_errors=True)
            owns["w%d" % victim.node_id].wiped = True
        time.sleep(rng.uniform(0.0, 1.0))
        victim.start()
        victim.wait_ready(30)

    for w in writers:
        w.stop()
    for node in nodes:
        if node.paused:
            node.resume()
    try:
        check_own_keys(owns, wait_converged(nodes, timeout=60))
    except AssertionError as e:
        raise AssertionError("%s\nschedule: %s" % (e, "; ".join(log))) from None
