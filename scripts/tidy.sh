#!/usr/bin/env bash
# clang-tidy with .clang-tidy's checks over src/ and tools/ (not tests/: 53 more files,
# each parsing GoogleTest), using the compile commands of a configured build directory
# (CMakeLists.txt exports them). Any finding fails: .clang-tidy sets WarningsAsErrors.
#   scripts/tidy.sh <build dir> [jobs]      e.g. scripts/tidy.sh build-fuzz 2
# scripts/test.sh runs it on its clang build.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/tidy.sh <build dir> [jobs]}
jobs=${2:-$(nproc)}
if [[ ! -f $dir/compile_commands.json ]]; then
  echo "tidy: no $dir/compile_commands.json (configure $dir first)"
  exit 1
fi
ours="^$PWD/(src|tools)/"
# The static analyzer stops exploring a function after 20000 nodes instead of 225000:
# a third of the time on the largest files (storage/store.cc, server/server.cc), and it
# still found every analyzer finding the default found in this tree.
analyzer=(-extra-arg=-Xclang -extra-arg=-analyzer-config
          -extra-arg=-Xclang -extra-arg=max-nodes=20000)
# run-clang-tidy colours its output and echoes each command: keep only the findings.
run-clang-tidy -p "$dir" -j "$jobs" -quiet -header-filter="$ours" "${analyzer[@]}" "$ours" 2>&1 |
  sed -E 's/\x1b\[[0-9;]*m//g' |
  { grep -vE '^([0-9]+ warnings? (and [0-9]+ errors? )?generated\.|clang-tidy(-[0-9]+)? .*)$' || true; }
rc=${PIPESTATUS[0]}
((rc == 0)) && echo "tidy: no findings" || echo "tidy: findings above (fix them, or see .clang-tidy)"
exit "$rc"
