#!/bin/sh
# Install the Debian 12 packages qkv needs to build, run and test. Idempotent: apt is
# only called when a package is missing. Run as root (or with sudo available).
set -eu

PKGS="gcc libc6-dev pkg-config meson ninja-build libyaml-dev libopenblas-dev libcriterion-dev \
python3 python3-numpy python3-venv python3-pip python3-setuptools valgrind clang-14 libclang-rt-14-dev libomp-14-dev binutils libdnnl-dev \
libsimde-dev openmpi-bin libopenmpi-dev shellcheck clang-format libopenblas-openmp-dev \
gcc-aarch64-linux-gnu libc6-dev-arm64-cross"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "qkv: installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
