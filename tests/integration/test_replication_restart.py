"""A node that restarts is followed by its peers at once (DESIGN.md section 5).

The probe of issue 16: restart a node (after SIGTERM or SIGKILL, with or without
a data dir), write to it as soon as it serves, SIGKILL it 300 ms later: every
write must be on every peer. Before the fix a peer still followed the node's
previous run and noticed the new one only after 3 s of silence, so those writes
were acknowledged and then lost with the node. The peers' `stats replication`
must also show the link streaming right after the node serves.
"""

import os
import signal
import statistics
import time

import pytest

from cluster import make_cluster  # noqa: F401 (fixture)

ROUNDS = int(os.environ.get("SYNCACHED_RESTART_ROUNDS", "20"))
KEYS = 50
KILL_AFTER = 0.3
STREAMING_WITHIN = 0.1   # the goal; a busy CI machine is allowed a few slow rounds

pytestmark = pytest.mark.syncached_only


def with_data(node):
    node.extra += ["--data-dir", os.path.join(node.workdir, "data%d" % node.node_id)]


def streaming_after(peer, node, deadline):
    """Seconds until `peer` reports its link to `node` streaming (None: not by deadline)."""
    start = time.monotonic()
    while time.monotonic() < deadline:
        if peer.peer_stat(node, "state") == "streaming":
            return time.monotonic() - start
        time.sleep(0.005)
    return None


def missing_on(peer, keys, timeout=2.0):
    """Keys `peer` does not hold, after giving it `timeout` to apply what it received."""
    deadline = time.monotonic() + timeout
    while True:
        held = peer.values(keys)
        missing = [k for k in keys if k not in held]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.05)


def probe(nodes, stop_signal, rounds, tag):
    victim, peers = nodes[-1], nodes[:-1]
    lost, delays, problems, late_rounds = [], [], [], []
    for r in range(rounds):
        victim.kill(stop_signal)
        victim.start(wait=False)
        victim.wait_ready(timeout=20)
        served_at = time.monotonic()
        keys = ["%s-r%d-k%d" % (tag, r, i) for i in range(KEYS)]
        with victim.client() as c:
            first = time.monotonic()
            for k in keys:
                assert c.call(b"set %s 0 0 1\r\nv\r\n" % k.encode()) == b"STORED\r\n"
            last = time.monotonic()
        assert first - served_at < 0.1, "the first write came %.3f s after serving" % (
            first - served_at)
        # The peers' view, measured from when the node served (polling costs a few ms).
        for p in peers:
            d = streaming_after(p, victim, first + KILL_AFTER)
            if d is None:
                late_rounds.append("round %d (%s): node %d's link is %s" % (
                    r, time.strftime("%H:%M:%S", time.gmtime()), p.node_id,
                    p.peer_stat(victim, "state")))
            delays.append(d if d is None else d + (first - served_at))
        # 300 ms after the last write was acknowledged (on a loaded machine the 50 writes
        # alone can take longer than that).
        time.sleep(max(0.0, last + KILL_AFTER - time.monotonic()))
        victim.kill(signal.SIGKILL)
        for p in peers:
            m = missing_on(p, keys)
            if m:
                lost.append("round %d (%s): node %d lacks %d of %d writes" % (
                    r, time.strftime("%H:%M:%S", time.gmtime()), p.node_id, len(m), KEYS))
        # The next round starts from a running node (stopped again by stop_signal).
        victim.start(wait=False)
        victim.wait_ready(timeout=20)
    if lost:
        problems.append("; ".join(lost[:5]))
    late = [d for d in delays if d is None or d > STREAMING_WITHIN]
    known = sorted(d for d in delays if d is not None)
    print("%s: %d rounds, %d writes lost; link streaming after serving: median %.0f ms, "
          "max %s" % (tag, rounds, len(lost), 1000 * statistics.median(known) if known else -1,
                      "never" if None in delays else "%.0f ms" % (1000 * max(known))))
    # A tenth of the links may take over 100 ms on a loaded machine (ASan, ctest -j2),
    # never the median; no write may be lost in any round.
    if known and statistics.median(known) > STREAMING_WITHIN:
        problems.append("median %.0f ms to streaming" % (1000 * statistics.median(known)))
    if len(late) > max(1, len(delays) // 10):
        problems.append("%d of %d links streamed later than %.0f ms (%s)" % (
            len(late), len(delays), 1000 * STREAMING_WITHIN, "; ".join(late_rounds[:5])))
    assert not problems, "\n".join(problems)


@pytest.mark.time_limit(150)
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
def test_first_writes_of_an_empty_restart_reach_the_peers(make_cluster, stop_signal):
    nodes = make_cluster(3)
    probe(nodes, stop_signal, ROUNDS, "empty")


@pytest.mark.time_limit(150)
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
def test_first_writes_of_a_restart_with_data_reach_the_peers(make_cluster, stop_signal):
    nodes = make_cluster(3, start=False)
    for n in nodes:
        with_data(n)
    nodes.start()
    probe(nodes, stop_signal, ROUNDS, "data")
