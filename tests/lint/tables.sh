#!/bin/sh
# Every weight type of <qkv/wtype.h> and every weight format of core/src/weights_format.c
# is named in HACKING.md's "What a change touches" lists (and a type in test_wtype.c's spec
# table): adding one without its rows fails here.
set -eu
src=$1
bad=0
types=$(sed -n 's/^[[:space:]]*{"\([a-z0-9_]*\)", [0-9]*, [0-9]*, [0-9]*, QKV_ACT_.*/\1/p' \
	"$src/plugins/include/qkv/wtype.h")
[ -n "$types" ] || { echo "tables: no type rows found in wtype.h" >&2; exit 1; }
line=$(grep '^Weight formats today' -A1 "$src/HACKING.md" | tr '\n' ' ')
for t in $types; do
	echo "$line" | grep -q "[ ,]${t}[,.]" || { echo "tables: type $t not in HACKING.md" >&2; bad=1; }
	grep -q "{\"$t\"," "$src/tests/unit/test_wtype.c" ||
		{ echo "tables: type $t has no spec row in tests/unit/test_wtype.c" >&2; bad=1; }
done
formats=$(sed -n 's/^.*\[QKV_FMT_[A-Z_]*\] = {QKV_FMT_[A-Z_]*, QKV_FMT_[A-Z_]*, "\([a-z]*\)".*/\1/p' \
	"$src/core/src/weights_format.c" | sort -u)
[ -n "$formats" ] || { echo "tables: no format rows found in weights_format.c" >&2; exit 1; }
for f in $formats; do
	echo "$line" | grep -q "[ ,]${f}[ ,(.]" || { echo "tables: format $f not in HACKING.md" >&2; bad=1; }
done
[ "$bad" = 0 ] && echo "tables: $(echo "$types" | wc -w) types, $(echo "$formats" | wc -w) formats listed"
exit "$bad"
