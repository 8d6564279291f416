"""The writers of the chaos tests: each node's writer sets, overwrites, deletes
and incrs a shared key space (so that last-writer-wins is exercised) and keeps
keys of its own, recording what it was told about them, so that after the
faults every acknowledged write and delete of an own key can be checked."""

import random
import threading

from cluster import Writer


SHARED_KEYS = 64


class OwnKeys:
    """What one writer was told about its own keys: per key, the states it may
    be in (the last acknowledged one, plus any attempted since whose answer
    was lost with the connection); None stands for deleted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.possible = {}
        self.wiped = False

    def attempt(self, c, key, value, request, ok):
        try:
            reply = c.call(request)
        except Exception:
            with self.lock:
                self.possible.setdefault(key, {None}).add(value)
            raise
        with self.lock:
            if reply in ok:
                self.possible[key] = {value}
            else:
                self.possible.setdefault(key, {None}).add(value)
        return reply in ok


def chaos_op(rng, tag, own):
    def op(c, i):
        r = rng.random()
        if r < 0.35:
            key = "own:%s:%d" % (tag, rng.randrange(200))
            value = b"%s-%d" % (tag.encode(), i)
            request = b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), len(value), value)
            return (key, value) if own.attempt(c, key, value, request, (b"STORED\r\n",)) else None
        if r < 0.45:
            key = "own:%s:%d" % (tag, rng.randrange(200))
            request = b"delete %s\r\n" % key.encode()
            ok = (b"DELETED\r\n", b"NOT_FOUND\r\n")
            return (key, None) if own.attempt(c, key, None, request, ok) else None
        key = "shared:%d" % rng.randrange(SHARED_KEYS)
        if r < 0.75:
            value = b"%s-%d" % (tag.encode(), i) * rng.choice((1, 10, 100))
            c.call(b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), len(value), value))
        elif r < 0.85:
            c.call(b"delete %s\r\n" % key.encode())
        else:
            c.call(b"incr %s 1\r\n" % key.encode())
        return None
    return op


def start_writers(nodes, rng):
    """One reconnecting writer per node; returns ({tag: OwnKeys}, [Writer])."""
    owns, writers = {}, []
    for node in nodes:
        tag = "w%d" % node.node_id
        owns[tag] = OwnKeys()
        w = Writer(node, chaos_op(random.Random(rng.random()), tag, owns[tag]), reconnect=True)
        w.start()
        writers.append(w)
    return owns, writers


def check_own_keys(owns, snap):
    """Every acknowledged state of an own key is what the converged cluster holds
    (keys of a writer whose node lost its data are not promised)."""
    for own in owns.values():
        if own.wiped:
            continue
        for key, possible in own.possible.items():
            got = snap.get(key)
            assert (got[0] if got else None) in possible, (key, possible, got)
