#!/bin/sh
# Build against the build tree, not an install (issue 15 point 7): with
# PKG_CONFIG_PATH=BUILD/meson-uninstalled, pkg-config finds qkv-uninstalled.pc, and
#   - a consumer compiled with `pkg-config --cflags --libs qkv` finds <qkv/qkv.h> (and the
#     <qkv/plugin.h> it includes), links the build tree's libqkv and runs on its scalar
#     backend, found with no plugin folder or variable;
#   - the plugin template (plugins/template) builds out of tree against it, and the
#     consumer loads the plugin it made.
# usage: uninstalled_test.sh SOURCE_ROOT BUILD_ROOT
set -eu
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qkv-uninstalled.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
CC=${CC:-cc}

# shellcheck source=tests/install/common.sh
. "$here/common.sh"

PKG_CONFIG_PATH=$build/meson-uninstalled
export PKG_CONFIG_PATH
[ -f "$PKG_CONFIG_PATH/qkv-uninstalled.pc" ] || fail "no $PKG_CONFIG_PATH/qkv-uninstalled.pc"
cflags=$(pkg-config --cflags qkv) || fail "pkg-config --cflags qkv"
libs=$(pkg-config --libs qkv) || fail "pkg-config --libs qkv"
echo "cflags: $cflags"
echo "libs: $libs"

# shellcheck disable=SC2086 # word splitting of pkg-config output is intended
$CC -std=c11 -Wall -Wextra -Werror -pedantic $cflags "$here/consumer.c" -o "$tmp/consumer" \
	$libs -lm -Wl,-rpath,"$build/core" || fail "consumer did not build against $build"
echo "ok: consumer built with the uninstalled qkv.pc"
scalar_dir=$build/backends/scalar
(cd "$tmp" && clean_env ./consumer "$scalar_dir" scalar) ||
	fail "consumer on the build tree's scalar backend"

cp -r "$src/plugins/template" "$tmp/template"
run_log "$tmp/template-setup.log" meson setup "$tmp/template/build" "$tmp/template"
run_log "$tmp/template-ninja.log" ninja -C "$tmp/template/build"
so=$(find "$tmp/template/build" -name 'qkv_*.so' -type f | head -n 1)
[ -n "$so" ] || fail "the template built no qkv_*.so"
echo "ok: template built against the build tree: $so"
name=$(basename "$so" .so)
name=${name#qkv_}
dir=$(cd "$(dirname "$so")" && pwd)
(cd "$tmp" && clean_env ./consumer "$dir" "$name" "$dir") || fail "consumer with the template"
echo PASS
