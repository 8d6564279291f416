#!/usr/bin/env python3
"""Hit ratios of eviction policies for one size class, as a model (no server): what
replacing the item's two LRU links (8 B) would change (issue 21, docs/PERFORMANCE.md,
"Leaner items").

  lru2     what syncached's slab classes did before session 18 (its large items
           still do): exact LRU order by store, reads only mark an item active, an
           active item at the tail goes back to the head once (second chance); a
           write in place moves the item to the head.
  clock    what its slab classes do now: CLOCK over the class's chunks in slab
           order, the active bit as its reference bit; freed chunks are reused last-in first-out, as the slab
           free lists do; a write in place sets the reference bit (ow-ref) or not.
  sample   Redis-style: evict the least recently accessed of N random chunks.

Zipf-distributed keys, cache-aside (a get that misses sets the key), optionally 15 %
writes to keys (in place when cached) and 5 % deletes, which free chunks in the middle
of CLOCK's order. The first third of the requests warms the cache.

  /usr/bin/python3 bench/eviction_policies.py [--keys N] [--requests N]
"""
import bisect
import random
import sys
from collections import OrderedDict


def flag(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def zipf_keys(n, s, count, seed):
    rnd = random.Random(seed)
    weights = [1.0 / (i ** s) for i in range(1, n + 1)]
    total, acc, cdf = sum(weights), 0.0, []
    for w in weights:
        acc += w / total
        cdf.append(acc)
    perm = list(range(n))
    rnd.shuffle(perm)
    return [perm[min(bisect.bisect_left(cdf, rnd.random()), n - 1)] for _ in range(count)]


class Lru2:
    def __init__(self, cap):
        self.cap, self.d = cap, OrderedDict()  # key -> active

    def get(self, k):
        if k in self.d:
            self.d[k] = True
            return True
        return False

    def insert(self, k):
        while len(self.d) >= self.cap:
            old, active = next(iter(self.d.items()))
            if active:
                self.d.move_to_end(old)
                self.d[old] = False
            else:
                del self.d[old]
        self.d[k] = False

    def overwrite(self, k):
        if k not in self.d:
            return False
        self.d.move_to_end(k)
        self.d[k] = False
        return True

    def delete(self, k):
        self.d.pop(k, None)


class Clock:
    def __init__(self, cap, overwrite_ref=True):
        self.cap, self.overwrite_ref = cap, overwrite_ref
        self.slot, self.ref, self.where = [None] * cap, [False] * cap, {}
        self.free, self.hand = list(range(cap - 1, -1, -1)), 0

    def get(self, k):
        i = self.where.get(k)
        if i is None:
            return False
        self.ref[i] = True
        return True

    def insert(self, k):
        if not self.free:
            while True:
                j, self.hand = self.hand, (self.hand + 1) % self.cap
                if self.ref[j]:
                    self.ref[j] = False
                    continue
                del self.where[self.slot[j]]
                self.slot[j] = None
                self.free.append(j)
                break
        i = self.free.pop()
        self.slot[i], self.ref[i], self.where[k] = k, False, i

    def overwrite(self, k):
        i = self.where.get(k)
        if i is None:
            return False
        self.ref[i] = self.overwrite_ref
        return True

    def delete(self, k):
        i = self.where.pop(k, None)
        if i is not None:
            self.slot[i], self.ref[i] = None, False
            self.free.append(i)


class Sample:
    def __init__(self, cap, n):
        self.cap, self.n, self.rnd = cap, n, random.Random(1)
        self.slot, self.t, self.where = [None] * cap, [0] * cap, {}
        self.free, self.now = list(range(cap - 1, -1, -1)), 0

    def get(self, k):
        self.now += 1
        i = self.where.get(k)
        if i is None:
            return False
        self.t[i] = self.now
        return True

    def insert(self, k):
        self.now += 1
        if not self.free:
            best = None
            for _ in range(self.n):
                j = self.rnd.randrange(self.cap)
                if self.slot[j] is not None and (best is None or self.t[j] < self.t[best]):
                    best = j
            if best is None:
                best = next(j for j in range(self.cap) if self.slot[j] is not None)
            del self.where[self.slot[best]]
            self.slot[best] = None
            self.free.append(best)
        i = self.free.pop()
        self.slot[i], self.t[i], self.where[k] = k, self.now, i

    def overwrite(self, k):
        i = self.where.get(k)
        if i is None:
            return False
        self.now += 1
        self.t[i] = self.now
        return True

    def delete(self, k):
        i = self.where.pop(k, None)
        if i is not None:
            self.slot[i] = None
            self.free.append(i)


def run(cache, keys, ops, writes):
    hits = gets = 0
    for k, op in zip(keys, ops):
        if not writes or op < 0.80:
            gets += 1
            if cache.get(k):
                hits += 1
            else:
                cache.insert(k)
        elif op < 0.95:
            if not cache.overwrite(k):
                cache.insert(k)
        else:
            cache.delete(k)
    return hits / gets


def main():
    n, reqs = flag("--keys", 200000), flag("--requests", 1500000)
    policies = (("lru2", lambda c: Lru2(c)), ("clock ow-ref", lambda c: Clock(c, True)),
                ("clock ow-noref", lambda c: Clock(c, False)), ("sample5", lambda c: Sample(c, 5)))
    rnd = random.Random(3)
    ops = [rnd.random() for _ in range(reqs)]
    print("| zipf | cache | writes+deletes | " + " | ".join(p[0] for p in policies) + " |")
    print("|---" * (3 + len(policies)) + "|")
    for s in (0.8, 1.0):
        keys = zipf_keys(n, s, reqs, 7)
        warm = reqs // 3
        for frac in (0.05, 0.2):
            for writes in (False, True):
                row = []
                for _, make in policies:
                    cache = make(int(n * frac))
                    run(cache, keys[:warm], ops[:warm], writes)
                    row.append("%.4f" % run(cache, keys[warm:], ops[warm:], writes))
                print("| %.1f | %d %% | %s | %s |" % (s, frac * 100, "yes" if writes else "no",
                                                    " | ".join(row)), flush=True)


if __name__ == "__main__":
    main()
