#!/bin/sh
# Outside tests: every C file under 800 lines and every function under 120 (issue 21), unless
# the file says why on a line "lengths: <reason>" near its top. A function is counted from
# its opening brace in column 0 to the closing one (the project's clang-format style).
set -eu
src=$1
cd "$src"
files=$(git ls-files '*.c' '*.h' '*.inc' 2>/dev/null || find . -name '*.[ch]' -o -name '*.inc')
[ -n "$files" ] || { echo "lengths: no C files found under $src" >&2; exit 1; }
bad=0
for f in $files; do
	case $f in tests/* | */tests/*) continue ;; esac
	head -n 20 "$f" | grep -q 'lengths: ' && continue
	n=$(wc -l <"$f")
	[ "$n" -lt 800 ] || { echo "lengths: $f has $n lines (limit 800)" >&2; bad=1; }
	awk -v f="$f" '
		/^[A-Za-z_].*\(/ { name = $0 }
		/^\{/ { start = NR }
		/^\}/ { if (start && NR - start - 1 >= 120) {
				printf "lengths: %s:%d: %d lines in %s\n", f, start, NR - start - 1, name
				bad = 1 }
			start = 0 }
		END { exit bad }' "$f" >&2 || bad=1
done
[ "$bad" -eq 0 ] && echo "lengths: every file under 800 lines, every function under 120"
exit "$bad"
