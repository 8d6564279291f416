"""Key placement against the real PHP clients (issue 19, docs/SHARDING.md).

syncached-tool owners must name the server that php-memcached (libmemcached
ketama, both flavours) and pecl/memcache (consistent, crc32) choose for each key,
and, with a server gone, the server the client fails over to.
"""

import os
import random
import shutil
import socket
import string
import subprocess
import tempfile

import pytest

import harness

PHP = shutil.which("php")
PHP_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "php", "placement.php")
TOOL = os.path.join(harness.build_dir(), "bin", "syncached-tool")
KEYS = 10000

pytestmark = [pytest.mark.skipif(PHP is None, reason="php-cli not installed"),
              pytest.mark.time_limit(60)]


def sample_keys(n, seed=19):
    rnd = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + ",-_.:"
    return ["%s%d" % ("".join(rnd.choice(alphabet) for _ in range(rnd.randint(4, 40))), i)
            for i in range(n)]


@pytest.fixture(scope="module")
def servers():
    started = []
    try:
        for _ in range(4):
            started.append(harness.Server())
        yield started
    finally:
        for s in started:
            s.stop()


def members_file(servers, ids):
    f = tempfile.NamedTemporaryFile("w", suffix=".members", delete=False)
    for node_id, srv in zip(ids, servers):
        f.write("%d 127.0.0.1:%d 127.0.0.1:%d\n" % (node_id, srv.port, srv.port + 1))
    f.close()
    return f.name


def run(argv, keys, ini=()):
    if argv[0] == PHP:
        argv = [PHP, "-d", "display_errors=stderr", "-d",
                "error_reporting=E_ALL & ~E_DEPRECATED"] + \
               [x for item in ini for x in ("-d", item)] + argv[1:]
    r = subprocess.run(argv, input="\n".join(keys) + "\n", capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def tool_owners(members, ring, keys, r=1, dead=(), prefix=None):
    argv = [TOOL, "owners", "--members", members, "--ring", ring, "-R", str(r), "--addresses"]
    if dead:
        argv += ["--dead", ",".join(map(str, dead))]
    if prefix:
        argv += ["--prefix", prefix]
    out = {}
    for line in run(argv, keys).splitlines():
        key, *owners = line.split(" ")
        out[key] = owners
    return out


def server_list(servers):
    return ",".join("127.0.0.1:%d" % s.port for s in servers)


def php_memcached_choice(ring, servers, keys):
    out = run([PHP, PHP_SCRIPT, "memcached", ring, server_list(servers)], keys)
    return dict(line.split(" ") for line in out.splitlines())


def holders(servers, keys):
    """key -> the addresses of the servers that hold it (asked directly)."""
    found = {k: [] for k in keys}
    for srv in servers:
        with socket.create_connection((srv.host, srv.port), timeout=5) as s:
            f = s.makefile("rwb")
            for i in range(0, len(keys), 100):
                f.write(("get %s\r\n" % " ".join(keys[i:i + 100])).encode())
                f.flush()
                while True:
                    line = f.readline().decode().rstrip("\r\n")
                    if line == "END":
                        break
                    assert line.startswith("VALUE "), line
                    found[line.split(" ")[1]].append("127.0.0.1:%d" % srv.port)
                    f.readline()
    return found


def flush(servers):
    for srv in servers:
        with socket.create_connection((srv.host, srv.port), timeout=5) as s:
            s.sendall(b"flush_all\r\n")
            assert s.recv(100) == b"OK\r\n"


def count_agreeing(ours, theirs, keys):
    bad = [k for k in keys if ours[k] != theirs[k]]
    return len(keys) - len(bad), bad[:5]


@pytest.mark.parametrize("ring", ["ketama", "ketama-weighted"])
def test_php_memcached_get_server_by_key(servers, ring):
    keys = sample_keys(KEYS)
    members = members_file(servers, [1, 2, 3, 4])
    ours = tool_owners(members, ring, keys, r=2)
    php = php_memcached_choice(ring, servers, keys)
    agree, bad = count_agreeing({k: o[0] for k, o in ours.items()}, php, keys)
    assert agree == KEYS, bad

    # One server removed from the client's list: libmemcached's ring of the other
    # three is exactly where its failover (ejection) sends the removed server's keys.
    removed = servers[2]
    php3 = php_memcached_choice(ring, servers[:2] + servers[3:], keys)
    dead = tool_owners(members, ring, keys, r=1, dead=[3])
    agree, bad = count_agreeing({k: o[0] for k, o in dead.items()}, php3, keys)
    assert agree == KEYS, bad
    addr = "127.0.0.1:%d" % removed.port
    moved = [k for k in keys if ours[k][0] == addr]
    assert len(moved) > KEYS // 8
    assert all(php3[k] == ours[k][1] for k in moved)
    os.unlink(members)


def test_php_memcached_session_handler_hashes_without_its_prefix(servers):
    sids = ["sess%05d%s" % (i, "abcdefghij"[i % 10]) for i in range(300)]
    ini = ["session.save_handler=memcached", "session.save_path=" + server_list(servers),
           "session.use_cookies=0", "session.use_only_cookies=0", "session.cache_limiter=",
           "session.use_strict_mode=0", "memcached.sess_locking=0",
           "memcached.sess_binary_protocol=0"]
    flush(servers)
    run([PHP, PHP_SCRIPT, "sessions", "-"], sids, ini=ini)
    stored = ["memc.sess.key." + s for s in sids]
    members = members_file(servers, [1, 2, 3, 4])
    ours = tool_owners(members, "ketama", stored, prefix="memc.sess.key.")
    found = holders(servers, stored)
    agree, bad = count_agreeing({k: o[:1] for k, o in ours.items()}, found, stored)
    assert agree == len(stored), bad
    os.unlink(members)


def test_pecl_memcache_session_handler_places_sessions_and_locks(servers):
    """pecl memcache's session handler writes each session (and, while it is
    open, its lock sid.lock) to the servers of sid-0, sid-1, ...: exactly the
    owners of `memcache-session`, R = memcache.session_redundancy."""
    sids = ["ms%05d%s" % (i, "abcdefghij"[i % 10]) for i in range(300)]
    save_path = ",".join("tcp://127.0.0.1:%d" % s.port for s in servers)
    ini = ["session.save_handler=memcache", "session.save_path=" + save_path,
           "session.use_cookies=0", "session.use_only_cookies=0", "session.cache_limiter=",
           "session.use_strict_mode=0", "memcache.hash_strategy=consistent",
           "memcache.session_redundancy=2", "memcache.lock_timeout=30"]
    flush(servers)
    run([PHP, PHP_SCRIPT, "sessions", "-"], sids, ini=ini)
    members = members_file(servers, [1, 2, 3, 4])
    ours = tool_owners(members, "memcache-session", sids, r=2)
    found = holders(servers, sids)
    bad = [(k, sorted(ours[k]), sorted(found[k])) for k in sids if sorted(ours[k]) != sorted(found[k])]
    assert not bad, bad[:5]
    locks = tool_owners(members, "memcache-session", [s + ".lock" for s in sids], r=2)
    assert all(locks[s + ".lock"] == ours[s] for s in sids)
    os.unlink(members)


def test_pecl_memcache_consistent_crc32(servers):
    ini = ["memcache.hash_strategy=consistent", "memcache.hash_function=crc32",
           "memcache.allow_failover=1"]
    keys = sample_keys(KEYS, seed=7)
    members = members_file(servers, [1, 2, 3, 4])
    flush(servers)
    run([PHP, PHP_SCRIPT, "memcache-set", server_list(servers)], keys, ini=ini)
    ours = tool_owners(members, "memcache", keys, r=2)
    found = holders(servers, keys)
    agree, bad = count_agreeing({k: o[:1] for k, o in ours.items()}, found, keys)
    assert agree == KEYS, bad

    # The client's list without server 3 is another ring: ours from the same list.
    three = servers[:2] + servers[3:]
    members3 = members_file(three, [1, 2, 4])
    flush(servers)
    run([PHP, PHP_SCRIPT, "memcache-set", server_list(three)], keys, ini=ini)
    ours3 = tool_owners(members3, "memcache", keys)
    found = holders(servers, keys)
    agree, bad = count_agreeing(ours3, found, keys)
    assert agree == KEYS, bad
    os.unlink(members)
    os.unlink(members3)


def test_pecl_memcache_failover_to_key_dash_i(servers):
    """Server 3 listed but down: pecl rehashes key-0, key-1, ... to a live one."""
    ini = ["memcache.hash_strategy=consistent", "memcache.hash_function=crc32",
           "memcache.allow_failover=1", "memcache.max_failover_attempts=20"]
    keys = sample_keys(KEYS, seed=11)
    members = members_file(servers, [1, 2, 3, 4])
    flush(servers)
    # A listening socket that refuses at once stands in for the dead server: a closed
    # port on 127.0.0.1, so the module's servers stay up for the other tests.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    listed = "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d" % (
        servers[0].port, servers[1].port, dead_port, servers[3].port)
    dead_members = tempfile.NamedTemporaryFile("w", suffix=".members", delete=False)
    for node_id, port in zip([1, 2, 3, 4], [servers[0].port, servers[1].port, dead_port,
                                            servers[3].port]):
        dead_members.write("%d 127.0.0.1:%d r%d\n" % (node_id, port, node_id))
    dead_members.close()
    run([PHP, PHP_SCRIPT, "memcache-set", listed], keys, ini=ini)
    full = tool_owners(dead_members.name, "memcache", keys, r=2)
    ours = tool_owners(dead_members.name, "memcache", keys, dead=[3])
    live = [servers[0], servers[1], servers[3]]
    found = holders(live, keys)
    agree, bad = count_agreeing(ours, found, keys)
    assert agree == KEYS, bad
    dead_addr = "127.0.0.1:%d" % dead_port
    failed_over = [k for k in keys if full[k][0] == dead_addr]
    assert len(failed_over) > KEYS // 8
    # Where owners[1] is live (always, with one dead), failover lands on it.
    assert all(found[k] == full[k][1:2] for k in failed_over)
    os.unlink(members)
    os.unlink(dead_members.name)
