#!/bin/sh
# Exported symbols (nm -D --defined-only): libqkv.so exports exactly the QKV_API functions
# declared in qkv.h, and every backend module exactly `qkv_backend_descriptor`.
# usage: check_symbols.sh QKV_H LIBQKV_SO [BACKEND_SO...]
set -eu
[ $# -ge 2 ] || { echo "usage: $0 QKV_H LIBQKV_SO [BACKEND_SO...]" >&2; exit 2; }
header=$1
lib=$2
shift 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qkv-syms.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0

# `QKV_API <type> qkv_name(` -> qkv_name
sed -n 's/^QKV_API[^(]*[ *]\(qkv_[a-z0-9_]*\)(.*/\1/p' "$header" | sort -u >"$tmp/declared"
[ -s "$tmp/declared" ] || { echo "FAIL: no QKV_API declarations found in $header" >&2; exit 1; }
nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u >"$tmp/exported"
if cmp -s "$tmp/declared" "$tmp/exported"; then
	echo "ok: $lib exports exactly the $(wc -l <"$tmp/declared") functions of $header"
else
	echo "FAIL: $lib exports a different set than $header declares" >&2
	comm -13 "$tmp/declared" "$tmp/exported" | sed 's/^/  exported, not in the header: /' >&2
	comm -23 "$tmp/declared" "$tmp/exported" | sed 's/^/  declared, not exported:      /' >&2
	status=1
fi

for mod in "$@"; do
	syms=$(nm -D --defined-only "$mod" | awk 'NF >= 3 { print $2 " " $3 }')
	case "$syms" in
	"D qkv_backend_descriptor" | "R qkv_backend_descriptor")
		echo "ok: $mod exports only qkv_backend_descriptor" ;;
	*)
		echo "FAIL: $mod must export exactly the data object qkv_backend_descriptor; it exports:" >&2
		printf '%s\n' "$syms" | sed 's/^/  /' >&2
		status=1 ;;
	esac
done
exit $status
