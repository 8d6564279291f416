#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test:
#   1. Release build (-O3, the flags scripts/run.sh and scripts/package.sh build with):
#      unit tests, structure checks, the replication simulator (3 x 600 seeds and
#      the 5-node and sharded modes), integration tests (real clients, and the Debian
#      package cpack makes from this build, checked: tests/integration/test_package.py),
#      bench smoke
#   2. ASan+UBSan build: unit and integration tests again (not the long fault schedules,
#      label `schedule`), the simulator for 100 seeds a mode
#   3. clang libFuzzer build (the fuzz targets only): each for a short bounded run
#   4. clang-tidy over src/ and tools/ with that clang build's compile commands
#      (scripts/tidy.sh; any finding fails; counts as one test)
# Ends with one line "N passed, N failed" summing all stages.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)
fuzz_seconds=${SYNCACHED_FUZZ_SECONDS:-12}
passed=0
failed=0
status=0

run_ctest() {  # <build dir> [ctest args...]; CTEST_JOBS overrides the parallelism
  local dir=$1; shift
  local log
  log=$(mktemp)
  ctest --test-dir "$dir" --output-on-failure -j"${CTEST_JOBS:-$jobs}" "$@" 2>&1 | tee "$log"
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [[ -z "$line" ]]; then
    echo "no ctest summary from $dir"; failed=$((failed + 1)); status=1
  else
    local total fails
    total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
    fails=$(sed -E 's/.*, ([0-9]+) tests? failed.*/\1/' <<<"$line")
    passed=$((passed + total - fails)); failed=$((failed + fails))
    ((fails == 0)) || status=1
  fi
  rm -f "$log"
}

build() {  # <dir> [cmake args...]; TARGET=name builds only that target
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null &&
    cmake --build "$dir" -j"$jobs" ${TARGET:+--target "$TARGET"}
}

echo "== release build (-O3, as scripts/run.sh builds)"
if build build -DCMAKE_BUILD_TYPE=Release -DSYNCACHED_TESTS=ON -DSYNCACHED_BENCH=ON; then
  # Half again as many tests as cores: the integration tests spend much of their time
  # waiting on sockets and timers (README, Testing, has the timings). Not under the
  # sanitizers, whose tests are CPU-bound.
  CTEST_JOBS=$((jobs + (jobs + 1) / 2)) run_ctest build
else
  echo "release build failed"; failed=$((failed + 1)); status=1
fi

echo "== ASan+UBSan build"
# -g1: line tables for the sanitizers' reports, without full debug info to compile;
# -O1: quicker to build than -O2.
if build build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DSYNCACHED_SANITIZE=ON \
    -DSYNCACHED_BENCH=OFF -DSYNCACHED_SIM_SEEDS=100 -DSYNCACHED_PACKAGE=OFF; then
  # Fewer rounds of the restart probe, and not the long fault schedules (label
  # `schedule`): the release stage runs them whole.
  SYNCACHED_RESTART_ROUNDS=8 SYNCACHED_CHAOS_SECONDS=10 \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest build-asan -L 'unit|integration|sim' -LE schedule
else
  echo "sanitizer build failed"; failed=$((failed + 1)); status=1
fi

echo "== fuzz build (clang, libFuzzer), ${fuzz_seconds}s per target"
lines_only=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG")
# Only the fuzz targets and what they link: clang-tidy below parses every file of the
# tree with clang anyway.
if TARGET=fuzzers build build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "${lines_only[@]}" -DSYNCACHED_FUZZ=ON -DSYNCACHED_TESTS=OFF -DSYNCACHED_BENCH=OFF \
    -DSYNCACHED_PACKAGE=OFF -DSYNCACHED_FUZZ_SECONDS="$fuzz_seconds"; then
  run_ctest build-fuzz  # one core each: two at once
else
  echo "fuzz build failed"; failed=$((failed + 1)); status=1
fi

echo "== clang-tidy (src/, tools/; the fuzz build's compile commands)"
if time scripts/tidy.sh build-fuzz "$jobs"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); status=1
fi

echo "$passed passed, $failed failed"
exit $status
