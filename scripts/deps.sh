#!/usr/bin/env bash
# Installs what building, testing and benchmarking syncached needs, from Debian 12's
# packages. Idempotent and quick when everything is already there.
#   scripts/deps.sh          build + test + bench dependencies
#   scripts/deps.sh build    only what building the server needs
#   scripts/deps.sh package  building it plus making the Debian package (scripts/package.sh)
set -euo pipefail

build=(cmake ninja-build g++ pkg-config libxxhash-dev libzmq3-dev libsodium-dev libsasl2-dev
       libsasl2-modules libcli11-dev libssl-dev zlib1g-dev)
test=(clang clang-format clang-tidy libclang-rt-14-dev libgtest-dev libgmock-dev libbenchmark-dev
      memcached libmemcached-tools openssl python3 python3-pytest python3-pymemcache python3-pylibmc
      php-cli php-memcached php-memcache gnuplot-nox procps linux-perf strace sasl2-bin
      iproute2 nftables systemd man-db)
# cpack -G DEB: dpkg-shlibdeps computes the package's dependencies; CPack finds the
# binaries with file(1).
package=(dpkg-dev file)

want=("${build[@]}")
case "${1:-all}" in
  build) ;;
  package) want+=("${package[@]}") ;;
  *) want+=("${package[@]}" "${test[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian memcached service would hold port 11211; syncached replaces it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet memcached 2>/dev/null; then
  systemctl stop memcached || true
fi
