#!/bin/sh
# The lint suite: every C source and header in the tree is clang-format clean
# (.clang-format at the root), and every shell script passes shellcheck at
# severity "warning". Both tools come from tools/install-deps.sh; when one is
# missing outside CI the check is reported as skipped (exit 77), never as passed.
#
#   tests/lint/lint.sh SOURCE_ROOT
set -eu
root=${1:?usage: lint.sh SOURCE_ROOT}
cd "$root"

missing=""
command -v clang-format >/dev/null 2>&1 || missing="$missing clang-format"
command -v shellcheck >/dev/null 2>&1 || missing="$missing shellcheck"
if [ -n "$missing" ]; then
	if [ "${CI:-}" = true ]; then
		echo "lint: missing:$missing (tools/install-deps.sh installs them)" >&2
		exit 1
	fi
	echo "lint: skipped, missing:$missing" >&2
	exit 77
fi

# Sources of the project only: build folders (build*/) and the corpus's binary cases
# are not ours to format.
list=$(mktemp)
trap 'rm -f "$list"' EXIT
find . -path './build*' -prune -o -path './.git' -prune -o -path './tests/corpus/cases' -prune \
	-o -type f \( -name '*.c' -o -name '*.h' \) -print | sort >"$list"
n=$(wc -l <"$list")
status=0
# shellcheck disable=SC2046 # one path per line, none with spaces (checked below)
if grep -q ' ' "$list"; then
	echo "lint: a source path holds a space; this script does not handle it" >&2
	exit 1
fi
# shellcheck disable=SC2046
clang-format --dry-run -Werror $(cat "$list") || status=1
echo "lint: clang-format checked $n C files"

find . -path './build*' -prune -o -path './.git' -prune -o -type f \
	\( -name '*.sh' -o -path './.ci/run' \) -print | sort >"$list"
n=$(wc -l <"$list")
# shellcheck disable=SC2046
shellcheck -S warning $(cat "$list") || status=1
echo "lint: shellcheck checked $n scripts"
[ $status = 0 ] || echo "lint: FAILED (fix with: clang-format -i FILE; shellcheck FILE)" >&2
exit $status
