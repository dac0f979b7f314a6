#!/bin/sh
# install-deps.sh: install the Debian packages mnem builds, tests and
# benchmarks with, and do nothing when they are all present.
set -eu

PACKAGES="build-essential pkg-config lua5.4 liblua5.4-dev lua-cjson lua-cjson-dev
libcurl4-openssl-dev libssl-dev libpq-dev libexpat1-dev
postgresql python3-botocore awscli python3-boto3 lua-check clang-format
valgrind hyperfine curl procps"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

echo "mnem: installing missing Debian packages:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "mnem: these packages are missing and sudo is not available:$missing" >&2
    echo "mnem: install them as root, then run make again" >&2
    exit 1
  }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
