# shellcheck shell=sh
# Sourced by the tests/cli scripts: a scratch folder $TMP, removed on exit, and fail.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
