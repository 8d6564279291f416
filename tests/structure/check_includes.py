#!/usr/bin/env python3
"""The module boundaries of docs/ARCHITECTURE.md, checked (issue #22).

Each folder of src/ is a module. A module may include only the modules it may
depend on (DEPENDS below: protocol and storage know nothing of the network,
replication and persistence never include each other, ...), and of another
module only its public headers (PUBLIC: the one named after the module, plus
the few listed). Tests, fuzz targets and the simulator look inside on purpose
and are not checked. Prints each violation as file:line and exits 1 if any.

  check_includes.py [SRC_DIR]     (default: the repository's src/)
  check_includes.py --self-test   a forbidden include must be reported
"""
import os
import re
import sys
import tempfile

DEPENDS = {
    "common": set(),
    "protocol": set(),
    "watch": set(),
    "record": {"common"},
    "placement": {"common"},
    "repair": {"common", "record"},
    "storage": {"common", "record"},
    "engine": {"common", "protocol", "storage", "watch"},
    "net": {"common"},
    "metrics": {"common", "net"},
    "replication": {"common", "record", "repair", "storage"},
    "persistence": {"common", "record", "storage"},
    "forward": {"common", "engine", "net", "placement", "protocol"},
    "server": {"common", "engine", "forward", "metrics", "net", "persistence", "placement",
               "repair", "replication", "storage", "watch", "protocol", "record"},
}
# Headers other modules may include besides <module>/<module>.h. common is a set of
# small utilities, each its own public header.
PUBLIC_EXTRA = {"protocol/binary.h", "protocol/reply.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/([A-Za-z0-9_]+\.h)"')


def check(src):
    problems = []
    modules = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    for mod in modules:
        if mod not in DEPENDS:
            problems.append("%s: a module missing from DEPENDS in %s" % (mod, __file__))
            continue
        for root, _, files in os.walk(os.path.join(src, mod)):
            for name in sorted(files):
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m or m.group(1) == mod:
                            continue
                        other, header = m.group(1), m.group(2)
                        where = "%s:%d" % (os.path.relpath(path, os.path.dirname(src)), lineno)
                        if other not in DEPENDS.get(mod, set()):
                            problems.append("%s: %s may not depend on %s (%s/%s)"
                                            % (where, mod, other, other, header))
                        elif (other != "common" and header != other + ".h" and
                              "%s/%s" % (other, header) not in PUBLIC_EXTRA):
                            problems.append("%s: %s/%s is internal to %s; use %s/%s.h"
                                            % (where, other, header, other, other, other))
    return problems


def self_test():
    with tempfile.TemporaryDirectory() as d:
        for mod in ("protocol", "storage", "net"):
            os.makedirs(os.path.join(d, mod))
        with open(os.path.join(d, "protocol", "bad.cc"), "w") as f:
            f.write('#include "storage/storage.h"\n')
        with open(os.path.join(d, "net", "peek.cc"), "w") as f:
            f.write('#include "common/log.h"\n#include "storage/shard.h"\n')
        found = check(d)
        assert any("protocol may not depend on storage" in p for p in found), found
        assert any("net may not depend on storage" in p for p in found), found
        assert len(found) == 2, found
    print("self-test: forbidden includes are reported")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "src")
    problems = check(src)
    for p in problems:
        print(p)
    print("%d module boundary violation(s) in %s" % (len(problems), src))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
