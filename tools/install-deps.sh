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

# aarch64 (tools/check-aarch64.sh builds for it and runs the tests under qemu-user): the
# arm64 libraries beside the amd64 ones (Debian multiarch). Criterion is the exception:
# libcriterion3:arm64 needs libnanomsg5:arm64 1.1.5+dfsg-1.1 while amd64 has the binNMU
# 1.1.5+dfsg-1.1+b1, and Multi-Arch: same packages must match exactly, so apt would
# remove the amd64 Criterion. Those two packages are unpacked into /opt/qkv-aarch64
# instead (with a criterion.pc that the cross file finds), the headers being the amd64 ones,
# and so is dash:arm64 (installing it would replace the system's /bin/sh): the shell
# tools/cross/qemu_exec_shim.c runs for the tests' system() calls under qemu-user.
# oneDNN likewise: libdnnl2:arm64 installs (the library the aarch64 onednn backend runs
# with), but libdnnl-dev:arm64 cannot sit beside the amd64 one (their dnnl_config.h
# differ: DNNL_GPU_RUNTIME), so its headers are unpacked into /opt/qkv-aarch64 too, with
# a libdnnl.so link to the installed library and a dnnl.pc the cross file finds.
ARM_PKGS="qemu-user libc6:arm64 libyaml-dev:arm64 libopenblas-dev:arm64 \
libopenblas-openmp-dev:arm64 libgomp1:arm64 libffi8:arm64 libgit2-1.5:arm64 libdnnl2:arm64"
ARM_CRIT=/opt/qkv-aarch64
for p in $ARM_PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -f "$ARM_CRIT/usr/lib/aarch64-linux-gnu/pkgconfig/criterion.pc" ] && [ -x "$ARM_CRIT/bin/dash" ] ||
	missing="$missing unpacked:arm64"
[ -f "$ARM_CRIT/usr/lib/aarch64-linux-gnu/pkgconfig/dnnl.pc" ] || missing="$missing unpacked-dnnl:arm64"
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "qkv: installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # one package per word
apt_missing=$(printf '%s\n' $missing | grep -v '^unpacked' | tr '\n' ' ')
# shellcheck disable=SC2086
[ -z "$apt_missing" ] || $SUDO apt-get install -y -qq --no-install-recommends $apt_missing >/dev/null
if [ ! -f "$ARM_CRIT/usr/lib/aarch64-linux-gnu/pkgconfig/criterion.pc" ] || [ ! -x "$ARM_CRIT/bin/dash" ]; then
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -qq libcriterion3:arm64 libnanomsg5:arm64 dash:arm64 2>/dev/null)
	$SUDO mkdir -p "$ARM_CRIT"
	for deb in "$tmp"/*.deb; do $SUDO dpkg-deb -x "$deb" "$ARM_CRIT"; done
	rm -rf "$tmp"
	lib=$ARM_CRIT/usr/lib/aarch64-linux-gnu
	$SUDO ln -sf libcriterion.so.3 "$lib/libcriterion.so"
	$SUDO mkdir -p "$lib/pkgconfig"
	# RPATH (not RUNPATH) so libcriterion finds libnanomsg beside it too.
	# shellcheck disable=SC2016 # ${libdir} is pkg-config's variable
	printf '%s\n' "libdir=$lib" "Name: criterion" \
		"Description: Criterion for arm64, unpacked from Debian's libcriterion3:arm64" \
		"Version: 2.4.1" 'Libs: -L${libdir} -lcriterion -Wl,--disable-new-dtags,-rpath,${libdir}' \
		"Cflags:" | $SUDO tee "$lib/pkgconfig/criterion.pc" >/dev/null
fi
if [ ! -f "$ARM_CRIT/usr/lib/aarch64-linux-gnu/pkgconfig/dnnl.pc" ]; then
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -qq libdnnl-dev:arm64 2>/dev/null)
	$SUDO mkdir -p "$ARM_CRIT"
	$SUDO dpkg-deb -x "$tmp"/libdnnl-dev_*_arm64.deb "$ARM_CRIT"
	rm -rf "$tmp"
	lib=$ARM_CRIT/usr/lib/aarch64-linux-gnu
	$SUDO ln -sf /usr/lib/aarch64-linux-gnu/libdnnl.so.2 "$lib/libdnnl.so" # libdnnl2:arm64's
	$SUDO mkdir -p "$lib/pkgconfig"
	printf '%s\n' "Name: dnnl" \
		"Description: oneDNN for arm64: libdnnl2:arm64 with libdnnl-dev:arm64's headers, unpacked" \
		"Version: $(dpkg-query -W -f='${Version}' libdnnl2:arm64 | sed 's/-[^-]*$//')" \
		"Libs: -L$lib -ldnnl" "Cflags: -I$ARM_CRIT/usr/include" |
		$SUDO tee "$lib/pkgconfig/dnnl.pc" >/dev/null
fi
