#!/bin/sh
# The C example of a Markdown file (README.md) compiles against the public header as written.
# usage: doc_snippet.sh FILE.md INCLUDE_DIR...
set -eu
doc=$1
shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qkv-doc.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sed -n '/^```c$/,/^```$/{/^```/d;p}' "$doc" >"$tmp/snippet.c"
[ -s "$tmp/snippet.c" ] || { echo "FAIL: no \`\`\`c block in $doc" >&2; exit 1; }
incs=
for d in "$@"; do incs="$incs -I$d"; done
# shellcheck disable=SC2086
${CC:-cc} -std=c11 -pedantic -Wall -Wextra -Werror \
	$incs -c "$tmp/snippet.c" -o "$tmp/snippet.o"
echo "ok: the $(wc -l <"$tmp/snippet.c")-line C example of $doc compiles"
