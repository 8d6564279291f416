#!/usr/bin/env bash
# Installs build dependencies, builds a release binary and runs one node on
# 127.0.0.1:11211 in the foreground (memory only, no peers). Extra args go to syncached.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSYNCACHED_TESTS=OFF -DSYNCACHED_BENCH=OFF >/dev/null
cmake --build build-release --target syncached -j"$(nproc)"
echo "syncached on 127.0.0.1:11211 (Ctrl-C stops it)"
exec build-release/bin/syncached -l 127.0.0.1 -p 11211 "$@"
