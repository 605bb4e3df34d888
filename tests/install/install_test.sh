#!/bin/sh
# Install qkv into a temporary prefix from a fresh build of the source tree, then build
# programs out of tree against the installed copy with pkg-config only:
#   - the files are where they belong (libqkv.so with its soname, libqkv.a, headers,
#     qkv.pc, the qkv tool, the backends in $libdir/qkv/backends);
#   - `meson install --destdir` stages the same tree under DESTDIR;
#   - a consumer linked with `pkg-config --cflags --libs qkv` (and one linked with the
#     static library) runs with a clean environment and finds the installed backends;
#   - installed objects export only what they should (check_symbols.sh);
#   - the plugin template (plugins/template), when present, builds against the
#     installed qkv and the consumer loads it;
#   - the qkv command (tools/qkv, tools/bench, tools/conform, tools/common) builds from
#     its sources with pkg-config only, and its info/run/bench/conform run.
# usage: install_test.sh SOURCE_ROOT
set -eu
src=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qkv-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
CC=${CC:-cc}

step() { echo "== $*"; }
# shellcheck source=tests/install/common.sh
. "$here/common.sh"

step "fresh build of $src, installed into $prefix"
run_log "$tmp/setup.log" meson setup "$tmp/build" "$src" --prefix "$prefix" -Dtests=disabled
run_log "$tmp/ninja.log" ninja -C "$tmp/build"
run_log "$tmp/install.log" meson install -C "$tmp/build"
run_log "$tmp/destdir.log" meson install -C "$tmp/build" --destdir "$tmp/stage"
[ -f "$tmp/stage$prefix/include/qkv/qkv.h" ] || fail "--destdir did not stage under $tmp/stage"

pc=$(find "$prefix" -name qkv.pc | head -n 1)
[ -n "$pc" ] || fail "qkv.pc not installed"
PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir qkv)
backenddir=$(pkg-config --variable=backenddir qkv)
version=$(pkg-config --modversion qkv)
echo "libdir $libdir, backenddir $backenddir, version $version"

step "installed files"
for f in "$libdir/libqkv.so" "$libdir/libqkv.so.0" "$libdir/libqkv.so.$version" \
	"$libdir/libqkv.a" "$prefix/include/qkv/qkv.h" "$prefix/include/qkv/plugin.h" \
	"$prefix/bin/qkv"; do
	[ -e "$f" ] || fail "missing $f"
	echo "ok: $f"
done
soname=$(readelf -d "$libdir/libqkv.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libqkv.so.0 ] || fail "soname is '$soname', expected libqkv.so.0"
echo "ok: soname $soname"
ls "$backenddir"/qkv_*.so >/dev/null 2>&1 || fail "no backends in $backenddir"
"$here/check_symbols.sh" "$prefix/include/qkv/qkv.h" "$libdir/libqkv.so.$version" \
	"$backenddir"/qkv_*.so

step "out-of-tree consumer: pkg-config --cflags --libs qkv"
cflags=$(pkg-config --cflags qkv)
# shellcheck disable=SC2086,SC2046 # word splitting of pkg-config output is intended
$CC -std=c11 -Wall -Wextra -Werror -pedantic $cflags "$here/consumer.c" -o "$tmp/consumer" \
	$(pkg-config --libs qkv) -lm -Wl,-rpath,"$libdir" || fail "consumer did not build"
ldd "$tmp/consumer" | grep -q "$libdir/libqkv.so.0" || fail "consumer does not use $libdir"
# shellcheck disable=SC2086,SC2046
$CC -std=c11 -Wall -Wextra -Werror $cflags "$here/consumer.c" -o "$tmp/consumer_static" \
	$(pkg-config --static --libs qkv | sed 's/-lqkv\b/-l:libqkv.a/') -lm ||
	fail "static consumer did not build"
! ldd "$tmp/consumer_static" | grep -q libqkv || fail "static consumer links libqkv.so"

step "consumers find the installed backends with no environment variable"
(cd "$tmp" && clean_env ./consumer "$backenddir") || fail "consumer (default backend)"
(cd "$tmp" && clean_env ./consumer_static "$backenddir") || fail "static consumer"
for so in "$backenddir"/qkv_*.so; do
	name=$(basename "$so" .so)
	name=${name#qkv_}
	(cd "$tmp" && clean_env ./consumer "$backenddir" "$name") || fail "consumer with backend $name"
done

step "the qkv command built out of tree against the installed qkv (pkg-config only)"
# tools/qkv, tools/bench, tools/conform and tools/common use only the public headers:
# no core/src on the include path, only the installed <qkv/...> and libqkv.
# (the oneDNN reference rows also take the onednn backend's ISA table, a leaf file that
# needs only dnnl.h: both say the same of whether oneDNN's int8 is exact)
onednn=$src/tools/bench/bench_onednn_none.c
dnnl=
if [ -f /usr/include/oneapi/dnnl/dnnl.h ]; then
	onednn="$src/tools/bench/bench_onednn.c $src/backends/onednn/onednn_isa.c"
	dnnl="-I$src/backends/onednn -ldnnl"
fi
tool_src=$(for f in "$src"/tools/qkv/*.c "$src"/tools/bench/*.c "$src"/tools/conform/*.c \
	"$src"/tools/common/*.c; do
	case $f in */bench_onednn*.c) ;; *) echo "$f" ;; esac
done)
# shellcheck disable=SC2086,SC2046 # word splitting of the lists is intended
$CC -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -fopenmp $cflags $(pkg-config --cflags openblas yaml-0.1) \
	-I"$src/tools/qkv" -I"$src/tools/bench" -I"$src/tools/conform" -I"$src/tools/common" \
	$tool_src $onednn -o "$tmp/qkv" $(pkg-config --libs qkv openblas yaml-0.1) $dnnl \
	-lm -lpthread -Wl,-rpath,"$libdir" >"$tmp/qkv-build.log" 2>&1 ||
	{ tail -n 40 "$tmp/qkv-build.log" >&2; fail "qkv did not build against the install"; }
ldd "$tmp/qkv" | grep -q "$libdir/libqkv.so.0" || fail "qkv does not use $libdir"
(cd "$tmp" && clean_env ./qkv info) >"$tmp/qkv-info.log" 2>&1 || fail "qkv info: $(cat "$tmp/qkv-info.log")"
grep -q "$backenddir" "$tmp/qkv-info.log" || fail "qkv info does not search $backenddir"
(cd "$tmp" && clean_env ./qkv run "$src/configs/default.yaml" --tokens 4) >"$tmp/qkv-run.log" 2>&1 ||
	fail "qkv run: $(cat "$tmp/qkv-run.log")"
(cd "$tmp" && clean_env ./qkv bench --preset tiny --tokens 1 --min-time 0.01 --quiet) \
	>"$tmp/qkv-bench.log" 2>&1 || fail "qkv bench: $(cat "$tmp/qkv-bench.log")"
(cd "$tmp" && clean_env ./qkv conform scalar --cases 'abi_*') >"$tmp/qkv-conform.log" 2>&1 ||
	fail "qkv conform: $(cat "$tmp/qkv-conform.log")"
echo "ok: qkv built with pkg-config against $prefix: info, run, bench, conform"
"$prefix/bin/qkv" info >/dev/null 2>&1 || fail "the installed qkv does not run"

if [ -f "$src/plugins/template/meson.build" ]; then
	step "plugin template built out of tree against the installed qkv"
	cp -r "$src/plugins/template" "$tmp/template"
	run_log "$tmp/template-setup.log" meson setup "$tmp/template/build" "$tmp/template"
	run_log "$tmp/template-ninja.log" ninja -C "$tmp/template/build"
	mods=$(find "$tmp/template/build" -name 'qkv_*.so' -type f)
	[ -n "$mods" ] || fail "the template built no qkv_*.so"
	for so in $mods; do
		"$here/check_symbols.sh" "$prefix/include/qkv/qkv.h" "$libdir/libqkv.so.$version" "$so"
		name=$(basename "$so" .so)
		name=${name#qkv_}
		dir=$(cd "$(dirname "$so")" && pwd)
		(cd "$tmp" && clean_env ./consumer "$dir" "$name" "$dir") ||
			fail "consumer with the template backend $name"
	done
else
	echo "note: plugins/template/meson.build not present yet; template not tested"
fi
echo PASS
