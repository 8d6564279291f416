#!/usr/bin/env bash
# Builds the Debian package from the -O3 Release build that scripts/run.sh makes:
#   build-release/syncached_<version>-1_<arch>.deb
# Install it with: sudo apt-get install ./build-release/syncached_*.deb
# (docs/OPERATIONS.md: what it installs, the service, replacing memcached).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh package
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSYNCACHED_TESTS=OFF -DSYNCACHED_BENCH=OFF >/dev/null
cmake --build build-release -j"$(nproc)"
rm -f build-release/syncached_*.deb
(cd build-release && cpack -G DEB >/dev/null)
ls build-release/syncached_*.deb
