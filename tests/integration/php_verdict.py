"""The verdict of a PHP session run (php_sessions.py runs them): each user's
request chain judged against the kill, the run's FIGURES line for docs/PHP.md,
and what every syncached run must show."""

import json
import re
import warnings

# Beyond the lock TTL a session may wait: the server rounds expiry to whole
# seconds (a lock can live up to 1 s longer than its TTL), the client polls
# for the lock in steps (up to 0.2 s for php-memcached, 1 s for pecl memcache),
# and 30 PHP processes on 2 cores run late.
LOCK_MARGIN = 2.5


def user_verdict(chain, final, killed_at, dead_at):
    """Problems with one user: `chain` is the results of the workers that
    served it, in order; `final` the session's value at the end. Returns
    (problems, increments lost in flight).

    DESIGN 5: writes are replicated asynchronously; one the killed node
    acknowledged within milliseconds of its death may be lost (with
    --sync-replicas it may not). Tolerated: a single lost increment per session,
    never emptied, whose write was begun before the node was gone and
    acknowledged at most 50 ms before the SIGKILL. (With 30 processes on 2
    cores PHP reads its clock late: t_sent is read before the write goes out and
    t_ack after its answer came, so both bounds hold for every write the node
    really took in its last 50 ms, however late PHP ran.)"""
    problems, lost = [], 0
    sid = chain[0]["sid"]
    for r in chain:
        for i, n, last, t_ack, t_read, t_sent in r["regressions"]:
            if (last - n == 1 and n > 0 and lost == 0 and t_sent < dead_at
                    and t_ack > killed_at - 0.05):
                lost = 1
            else:
                problems.append("%s: request %d read %d after %d was acknowledged at kill%+.3fs "
                                "(read at kill%+.3fs)" % (sid, i, n, last, t_ack - killed_at,
                                                          t_read - killed_at))
    end = chain[-1]
    if sum(r["acks"] for r in chain) == 0:
        problems.append("%s: no request acknowledged at all" % sid)
    # The session ends with the last acknowledged write (one less if lost in
    # flight), or a later write whose acknowledgement failed but that was stored.
    if not isinstance(final, int) or not end["last"] - lost <= final <= end["max_written"]:
        problems.append("%s: ends with %r; last acknowledged %d (lost in flight %d), highest "
                        "written %d" % (sid, final, end["last"], lost, end["max_written"]))
    return problems, lost


def stretch(chain, t0):
    """The longest time after t0 the user went without an acknowledged request:
    within each worker, and from one worker's last acknowledgement to the
    next's first (a move, or a request lost with its web server)."""
    spans = [g for r in chain for g in r["gaps"]]
    for prev, nxt in zip(chain, chain[1:]):
        spans.append((prev["last_ack_at"] or prev["start"], nxt["first_ack_at"] or nxt["end"]))
    return max([b - max(a, t0) for a, b in spans if b > t0] + [0.0])


def failed(chains, t0, t1=float("inf")):
    """Failed requests that ended in [t0, t1) (one in flight at the kill fails
    because of it, and counts after it)."""
    return sum(1 for chain in chains for r in chain for f in r["failures"] if t0 <= f[1] < t1)


def requests(chains, t0, t1):
    """About how many requests were begun in [t0, t1) (by each worker's rate)."""
    total = 0.0
    for chain in chains:
        for r in chain:
            overlap = max(0.0, min(t1, r["end"]) - max(t0, r["start"]))
            total += r["attempts"] * overlap / max(r["end"] - r["start"], 1e-3)
    return int(total)


def failure_kinds(chains, t0, t1=float("inf")):
    """Failed requests that ended in [t0, t1), by the handler's first message."""
    kinds = {}
    for chain in chains:
        for r in chain:
            for f in r["failures"]:
                if t0 <= f[1] < t1:
                    first = f[3][1] if f[3] else "returned false"
                    first = re.sub(r"\(0x[0-9a-f]+\) ", "", first.split("): ", 1)[-1])
                    key = "%s: %s" % (f[2], first[:70])
                    kinds[key] = kinds.get(key, 0) + 1
    return kinds


def failed_where(chains, t0, victim_port):
    """Failed requests since t0 by the server their messages name: the killed
    one, another, or none named."""
    where = {"killed": 0, "other": 0, "unnamed": 0}
    for chain in chains:
        for r in chain:
            for f in r["failures"]:
                if f[1] >= t0:
                    ports = {int(p) for m in f[3][1:3]
                             for p in re.findall(r"host: [\d.]+:(\d+)", m)}
                    where["unnamed" if not ports else
                          "killed" if ports == {victim_port} else "other"] += 1
    return where


def figures_of(chains, finals, killed_at, dead_at, restarted_at, stopped_at, ttl, holder_sid,
               victim_port):
    """(figures, problems, stretches) over every user."""
    problems, lost_in_flight, kept = [], [], 0
    for sid, chain in chains.items():
        p, lost = user_verdict(chain, finals.get(sid), killed_at, dead_at)
        problems += p
        kept += not p
        if lost:
            lost_in_flight.append(sid)
    if lost_in_flight:
        warnings.warn("acknowledged session writes lost with the killed node (async "
                      "replication window): %s" % lost_in_flight)
    all_chains = list(chains.values())
    stretches = {sid: stretch(chain, killed_at) for sid, chain in chains.items()}
    figures = {
        "sessions": len(chains), "kept": kept, "lost_in_flight": len(lost_in_flight),
        "failed_down": failed(all_chains, killed_at, restarted_at),
        "failed_return": failed(all_chains, restarted_at),
        "failed_before": failed(all_chains, 0, killed_at),
        "sessions_failing": sum(1 for c in all_chains
                                if any(f[1] >= killed_at for r in c for f in r["failures"])),
        "requests_after_kill": requests(all_chains, killed_at, stopped_at),
        "warned_after_kill": sum(1 for c in all_chains for r in c for w in r["warned"]
                                 if w[0] >= killed_at),
        "slow_after_kill": sum(1 for c in all_chains for r in c for s in r["slow"]
                               if s[0] + s[1] >= killed_at),
        # requests that failed because the session stayed locked (php-memcached
        # gives up after sess_lock_retries; pecl memcache waits on)
        "lock_failures": sum(1 for c in all_chains for r in c for f in r["failures"]
                             if f[1] >= killed_at and f[3] and f[3][3]),
        # the requests of the user whose request died holding its lock
        "holder_failed": sum(1 for r in chains[holder_sid] for f in r["failures"]
                             if f[1] >= killed_at),
        "longest_stretch": round(max(stretches.values()), 2),
        "holder_stretch": round(stretches[holder_sid], 2), "lock_ttl": ttl,
        "kinds": failure_kinds(all_chains, killed_at),
        "failed_at": failed_where(all_chains, killed_at, victim_port),
        "killed_at": round(killed_at, 3),  # the clients' records are in absolute time
    }
    if figures["failed_before"]:
        figures["kinds_before"] = failure_kinds(all_chains, 0, killed_at)
    return figures, problems, stretches


def report(label, figures):
    print("\nFIGURES %s %s" % (label, json.dumps(figures, sort_keys=True)))


def describe(problems, chains):
    """The problems, a worker's stderr, and what the client saw of each user
    named in them: a session read empty can be the client's doing (pecl
    memcache reads one empty when it skips every server, a server it marked
    failed earlier included)."""
    sample = next((r["stderr"] for c in chains.values() for r in c
                   if r.get("stderr", "").strip()), "")[-1500:]
    named = [sid for sid in chains if any(p.startswith(sid + ":") for p in problems)]
    seen = "\n".join("%s: %s" % (sid, json.dumps(
        [{k: r[k] for k in ("failures", "warned", "slow", "gaps", "regressions", "start", "end")}
         for r in chains[sid]]))[:3000] for sid in named[:4])
    return "%d problems:\n%s\n(a worker's stderr: %s)\nwhat the clients saw:\n%s" % (
        len(problems), "\n".join(problems[:12]), sample, seen)


# -- the pool topology ---------------------------------------------------------


# The configurations whose clients fail over by themselves: their failed
# requests are the few in flight when a node dies and are compared with plain
# memcached's. (php-memcached over the text protocol cannot read a session
# from another node while its own is down: how many requests fail then depends
# on which sessions the random session ids put on the killed node, and varies
# from run to run on either server; docs/PHP.md.)
FAILS_OVER = {"memcached-binary", "memcache"}



def check_syncached_run(label, figures, problems, chains, stretches, nodes=None):
    """What every syncached run must show: every session whole, nobody kept out
    longer than the lock TTL (plus LOCK_MARGIN), and the leftover lock of the
    request killed with its node really holding its session a while. A lost
    session shows the nodes' logs (their links' events) when `nodes` is given."""
    report(label, figures)
    assert not problems, describe(problems, chains) + (
        "\n" + nodes.logs(3000) if problems and nodes is not None else "")
    ttl = figures["lock_ttl"]
    too_long = {sid: round(s, 2) for sid, s in stretches.items() if s > ttl + LOCK_MARGIN}
    assert not too_long, "sessions unusable longer than the lock TTL %d s: %r" % (ttl, too_long)
    assert figures["holder_stretch"] >= 1.0, figures
