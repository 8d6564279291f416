"""Network partitions and clock skew over a real 3-node cluster (DESIGN.md §5, §6).

Every replication link runs through a fault-injecting proxy (fault_proxy.py),
and every node runs with its own clock offset (hidden --test-clock-offset-ms),
some seconds ahead or behind. A seeded schedule then isolates nodes, cuts one
direction of a link (asymmetric), cuts a pair and not the rest (partial),
blackholes or rejects, heals with or without resetting the connections,
SIGKILLs and restarts nodes with their clock stepped, and pauses nodes, while
every node's writer keeps writing. When the faults stop and the network heals,
every node must hold the same data, every acknowledged write of a key only one
writer writes must be there, and every acknowledged delete must stay deleted.

SYNCACHED_CHAOS_SEED picks the schedule (printed on failure), and
SYNCACHED_CHAOS_SECONDS its length:
    for s in $(seq 100); do SYNCACHED_CHAOS_SEED=$s pytest -q -x test_replication_partition.py; done
"""

import os
import random
import signal
import time

import pytest

from chaos_ops import check_own_keys, start_writers
from cluster import make_cluster, wait_converged  # noqa: F401 (fixture)
from fault_proxy import FaultNet

SECONDS = float(os.environ.get("SYNCACHED_CHAOS_SECONDS", "20"))
pytestmark = [pytest.mark.syncached_only, pytest.mark.time_limit(SECONDS + 150)]

MAX_SKEW_MS = 5000


def set_clock(node, offset_ms):
    node.clock_offset = offset_ms
    node.extra = [a for a in node.extra if not a.startswith("--test-clock-offset-ms=")]
    node.extra.append("--test-clock-offset-ms=%d" % offset_ms)


VARIANTS = {
    # Writes taken on either side of a partition are kept on disk and meet after it.
    "data": lambda node: ["--data-dir", os.path.join(node.workdir, "data%d" % node.node_id)],
    # No disk: an acknowledged write reached a peer before its reply, so a side cut
    # off from every peer cannot acknowledge (the connection is closed instead).
    "sync-replicas": lambda node: ["--sync-replicas", "1", "--sync-timeout-mode", "close"],
}


class Schedule:
    """The random faults, drawn from one seed, logged for the failure report."""

    def __init__(self, nodes, net, rng, seconds):
        self.nodes, self.net, self.rng = nodes, net, rng
        self.start = time.monotonic()
        self.deadline = self.start + seconds
        self.log = []

    def note(self, what):
        self.log.append("%.1f %s" % (time.monotonic() - self.start, what))

    def partition(self):
        rng, nodes = self.rng, self.nodes
        mode = rng.choice(["blackhole", "reset"])
        shape = rng.choice(["isolate", "asymmetric", "pair"])
        a, b = rng.sample(list(nodes), 2)
        if shape == "isolate":
            for o in nodes:
                if o is not a:
                    self.net.cut(a, o, mode)
                    self.net.cut(o, a, mode)
            self.note("isolate node%d (%s)" % (a.node_id, mode))
        elif shape == "asymmetric":
            self.net.cut(a, b, mode)
            self.note("node%d stops hearing node%d (%s)" % (a.node_id, b.node_id, mode))
        else:
            self.net.cut(a, b, mode)
            self.net.cut(b, a, mode)
            self.note("cut node%d <-> node%d (%s)" % (a.node_id, b.node_id, mode))
        time.sleep(rng.uniform(0.3, 6.0))
        reset = rng.random() < 0.5
        self.net.heal_all(reset=reset)
        self.note("heal%s" % (" with reset" if reset else ""))

    def restart_with_clock_step(self):
        victim = self.rng.choice(self.nodes)
        step = self.rng.randint(-MAX_SKEW_MS, MAX_SKEW_MS)
        offset = max(-MAX_SKEW_MS, min(MAX_SKEW_MS, victim.clock_offset + step))
        self.note("kill node%d, restart with clock %+d ms" % (victim.node_id, offset))
        victim.kill(signal.SIGKILL)
        set_clock(victim, offset)
        time.sleep(self.rng.uniform(0.0, 1.0))
        victim.start()
        victim.wait_ready(30)

    def pause(self):
        victim = self.rng.choice(self.nodes)
        self.note("pause node%d" % victim.node_id)
        victim.pause()
        time.sleep(self.rng.uniform(0.1, 2.0))
        victim.resume()

    def run(self):
        while time.monotonic() < self.deadline:
            time.sleep(self.rng.uniform(0.2, 1.0))
            fault = self.rng.choice([self.partition, self.partition, self.partition,
                                     self.restart_with_clock_step, self.pause])
            fault()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_partitions_and_skew_end_converged_with_every_acknowledged_write(make_cluster, variant):
    seed = int(os.environ.get("SYNCACHED_CHAOS_SEED", "11"))
    seconds = SECONDS  # scripts/test.sh shortens it for the ASan stage
    rng = random.Random(seed)
    nodes = make_cluster(3, start=False)
    net = FaultNet()
    try:
        net.wire(nodes)
        for node in nodes:
            node.extra += ["--backlog-size", "1m"] + VARIANTS[variant](node)
            set_clock(node, rng.randint(-MAX_SKEW_MS, MAX_SKEW_MS))
        nodes.start()
        owns, writers = start_writers(nodes, rng)
        schedule = Schedule(nodes, net, rng, seconds)
        schedule.note("seed %d, clocks %s" % (seed, [n.clock_offset for n in nodes]))
        schedule.run()
        for w in writers:
            w.stop()
        net.heal_all(reset=False)
        try:
            check_own_keys(owns, wait_converged(nodes, timeout=60))
        except AssertionError as e:
            raise AssertionError("%s\nschedule: %s" % (e, "; ".join(schedule.log))) from None
    finally:
        net.close()
