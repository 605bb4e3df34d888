#!/bin/sh
# The plugin template, copied out of the tree and built against an installed qkv with
# pkg-config only, passes `qkv conform` (by file, and by name once installed into
# qkv's backenddir). Slow: it builds and installs qkv into a temporary prefix.
# usage: template_test.sh SOURCE_ROOT
set -eu
src=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qkv-template.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

run() { # run a command quietly; show the end of its log when it fails
	log=$tmp/$1.log
	shift
	"$@" >"$log" 2>&1 || {
		tail -n 40 "$log" >&2
		echo "FAIL: $*" >&2
		exit 1
	}
}

echo "== qkv installed into $tmp/prefix"
run setup meson setup "$tmp/build" "$src" --prefix "$tmp/prefix" -Dtests=disabled
run ninja ninja -C "$tmp/build"
run install meson install -C "$tmp/build"
pc=$(find "$tmp/prefix" -name qkv.pc | head -n 1)
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
qkv=$tmp/prefix/bin/qkv

echo "== template copied to $tmp/template and built with pkg-config qkv"
cp -r "$src/plugins/template" "$tmp/template"
run tsetup meson setup "$tmp/template/build" "$tmp/template"
run tninja ninja -C "$tmp/template/build"

echo "== qkv conform on the built file"
env -u QKV_PLUGIN_PATH "$qkv" conform "$tmp/template/build/qkv_template.so" \
	--report "$tmp/report.json" | tail -n 2
grep -q '"failed": 0' "$tmp/report.json" || {
	echo "FAIL: the report shows failures" >&2
	exit 1
}

echo "== installed into backenddir, found by name"
run tinstall meson install -C "$tmp/template/build"
env -u QKV_PLUGIN_PATH "$qkv" conform template --cases 'abi_metadata,f32_seed_example' |
	tail -n 2
echo "== the template's own meson test (qkv conform)"
run ttest meson test -C "$tmp/template/build"
echo PASS
