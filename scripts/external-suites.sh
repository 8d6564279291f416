#!/usr/bin/env bash
# Runs client libraries' own test suites against syncached, and the same suites
# against Debian's memcached, and prints both results side by side. A suite's
# failures only count against syncached where memcached passes.
#
#   scripts/external-suites.sh SRC_DIR [SYNCACHED_BIN]
#
# SRC_DIR holds source checkouts (not reachable from CI, so this is not part of
# scripts/test.sh): pymemcache/ (github pinterest/pymemcache), pylibmc/
# (lericson/pylibmc), php-memcached/ (php-memcached-dev/php-memcached),
# pecl-memcache/ (websupport-sk/pecl-memcache), memcached/ (memcached/memcached at
# tag 1.6.18: its t/ and doc/). Missing ones are skipped. Needs php8.2-dev for
# run-tests.php. Uses ports 11211/11212 (TCP and UDP).
set -u
src=$(realpath "${1:?usage: $0 SRC_DIR [SYNCACHED_BIN]}")
sc=$(realpath "${2:-build/bin/syncached}")
py=/usr/bin/python3
runtests=$(ls /usr/lib/php/*/build/run-tests.php 2>/dev/null | head -1)
out=$(mktemp -d)
pids=()

start() {  # $1 binary: two servers, as the PHP suites expect
  local extra=()
  [[ $1 == */memcached ]] && extra=(-u root)
  for p in 11211 11212; do
    "$1" -l 127.0.0.1 -p $p -U $p "${extra[@]}" & pids+=($!)
  done
  sleep 0.5
}
stop() { kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; pids=(); }
trap stop EXIT

phpt() {  # $1 dir, $2 log; prints "passed N failed N"
  find "$1/tests" \( -name '*.out' -o -name '*.diff' -o -name '*.exp' -o -name '*.log' \) -delete
  TEST_PHP_EXECUTABLE=/usr/bin/php timeout 900 php "$runtests" -q -p /usr/bin/php "$1/tests" >"$2" 2>&1
  printf 'passed %s failed %s' "$(awk -F: '/^Tests passed/{print $2+0}' "$2")" \
    "$(awk -F: '/^Tests failed/{print $2+0}' "$2")"
}

suite() {  # $1 label, $2 server binary
  start "$2"
  local r=()
  if [[ -d $src/pymemcache ]]; then
    r+=("pymemcache: $(cd "$src/pymemcache" && timeout 600 $py -m pytest -q -p no:cacheprovider \
      -c /dev/null --rootdir . pymemcache/test/test_integration.py --server 127.0.0.1 \
      --port 11211 -k 'not tls' 2>&1 | tail -1)")
  fi
  if [[ -d $src/pylibmc ]]; then
    r+=("pylibmc: $(cd "$src/pylibmc" && timeout 600 $py -m pytest -q -p no:cacheprovider \
      -c /dev/null --rootdir . tests 2>&1 | tail -1)")
  fi
  if [[ -n $runtests && -d $src/php-memcached ]]; then
    r+=("php-memcached: $(phpt "$src/php-memcached" "$out/$1.php-memcached.log")")
  fi
  if [[ -n $runtests && -d $src/pecl-memcache ]]; then
    # Its connect.inc reports PHP 8.2's dynamic-property deprecation into every SKIPIF.
    sed -i 's/^error_reporting(E_ALL);/error_reporting(E_ALL \& ~E_DEPRECATED);/' \
      "$src/pecl-memcache/tests/connect.inc"
    for proto in ascii binary; do
      r+=("pecl-memcache $proto: $(MEMCACHE_PROTOCOL=$proto phpt "$src/pecl-memcache" \
        "$out/$1.pecl-memcache-$proto.log")")
    done
  fi
  stop
  if [[ -d $src/memcached/t ]]; then
    # t/lib/MemcachedTest.pm starts ./memcached-debug through ./timedrun. Debian's
    # memcached refuses the -o relaxed_privileges the harness adds (which enables
    # the debugtime command the expiry tests use); syncached takes it.
    local strip='s/ -o relaxed_privileges//'
    [[ $2 == */memcached ]] || strip='s/^//'
    # rm first: an earlier setup may have left symlinks there, and writing through one
    # would overwrite the server binary itself.
    rm -f "$src/memcached/timedrun" "$src/memcached/memcached-debug"
    printf '#!/bin/sh\nsecs=$1; shift\nexec timeout "$secs" "$@"\n' >"$src/memcached/timedrun"
    cat >"$src/memcached/memcached-debug" <<WRAP
#!/bin/sh
# The harness's arguments have no spaces in them: plain word splitting is enough.
exec $2 \$(printf ' %s' "\$@" | sed '$strip')
WRAP
    chmod +x "$src/memcached/timedrun" "$src/memcached/memcached-debug"
    (cd "$src/memcached" && timeout 1800 prove -j1 t/*.t >"$out/$1.memcached-t.log" 2>&1)
    local failed
    failed=$(grep -B1 -E '^Dubious|^Failed [0-9]+/|^ +Parse errors' "$out/$1.memcached-t.log" |
      grep -oE '^t/[^ ]+\.t' | sort -u | tr '\n' ' ')
    r+=("memcached t/: $(grep -cE '^t/.* ok$' "$out/$1.memcached-t.log") files ok; failed: ${failed:-none}")
  fi
  printf '%s\n' "${r[@]/#/$1 }"
}

suite syncached "$sc"
suite memcached /usr/bin/memcached
for f in "$out"/syncached.*.log; do
  m=${f/syncached./memcached.}
  if ! diff -q <(sed -n '/FAILED TEST SUMMARY/,$p' "$m") <(sed -n '/FAILED TEST SUMMARY/,$p' "$f") >/dev/null; then
    echo "differs from memcached: $(basename "$f" .log)"
    diff <(sed -n '/FAILED TEST SUMMARY/,$p' "$m") <(sed -n '/FAILED TEST SUMMARY/,$p' "$f")
  fi
done
echo "logs: $out"
