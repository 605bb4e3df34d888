#!/bin/sh
# The tree builds on aarch64: configure a cross build with Debian's aarch64 gcc
# (gcc-aarch64-linux-gnu) and compile every object file of the library, the backends and
# the tools for aarch64 with the project's warnings-as-errors. Nothing is linked (the
# machine holds no aarch64 libyaml or OpenBLAS; their headers are the same on both),
# so this proves that no x86 code escapes its run-time dispatch, not that it runs.
#
#   tools/check-aarch64.sh [BUILD_DIR]      (default: build-aarch64)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-aarch64}
case $build in /*) ;; *) build=$PWD/$build ;; esac
if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
	echo "check-aarch64: aarch64-linux-gnu-gcc not found (tools/install-deps.sh installs it)" >&2
	exit 1
fi

mkdir -p "$build"
cross=$build/../$(basename "$build").ini
cat >"$cross" <<EOT
[binaries]
c = 'aarch64-linux-gnu-gcc'
ar = 'aarch64-linux-gnu-ar'
strip = 'aarch64-linux-gnu-strip'
pkgconfig = 'pkg-config'

[built-in options]
c_args = ['-idirafter', '/usr/include']

[properties]
pkg_config_libdir = ['/usr/lib/x86_64-linux-gnu/pkgconfig', '/usr/share/pkgconfig']

[host_machine]
system = 'linux'
cpu_family = 'aarch64'
cpu = 'armv8-a'
endian = 'little'
EOT
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$root" --cross-file "$cross" -Dtests=disabled -Donednn=disabled \
		>"$build.setup.log" 2>&1 || {
		tail -20 "$build.setup.log" >&2
		echo "check-aarch64: meson setup failed" >&2
		exit 1
	}
fi
objects=$(ninja -C "$build" -t targets all | sed -n 's/^\([^:]*\.o\): .*/\1/p' | sort -u)
n=$(printf '%s\n' "$objects" | wc -l)
# shellcheck disable=SC2086 # one object path per word
ninja -C "$build" -k 0 $objects >"$build.log" 2>&1 || {
	grep -E 'error|FAILED' "$build.log" | head -40 >&2
	echo "check-aarch64: FAILED (full log: $build.log)" >&2
	exit 1
}
echo "check-aarch64: $n object files compiled for aarch64 with -Werror"
