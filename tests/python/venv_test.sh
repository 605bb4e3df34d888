#!/bin/sh
# The Python package as a user installs it (issue 26 item 2): a fresh virtual environment
# (system site-packages for NumPy), `pip install` of tools/python with no index (no
# network), then the example of tools/python/README.md run as it is, from the source root,
# with the package imported from the environment (not from tools/python) and told where
# libqkv is by QKV_LIBRARY.
#   venv_test.sh PYTHON SOURCE_ROOT LIBQKV
set -eu
py=$1 src=$2 lib=$3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
# A copy: pip builds in the source folder, and the tree stays clean.
mkdir "$TMP/src"
cp -R "$src/tools/python/pyproject.toml" "$src/tools/python/README.md" "$src/tools/python/qkv" "$TMP/src/"
rm -rf "$TMP/src/qkv/__pycache__"
"$py" -m venv --system-site-packages "$TMP/venv" || fail "python3 -m venv (Debian: python3-venv)"
export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
"$TMP/venv/bin/python" -m pip install --no-build-isolation --quiet "$TMP/src" >"$TMP/pip.log" 2>&1 ||
	fail "pip install: $(cat "$TMP/pip.log")"
# The README's python block, as it is.
awk '/^```python$/ {on = 1; next} /^```$/ {on = 0} on' "$src/tools/python/README.md" >"$TMP/example.py"
[ -s "$TMP/example.py" ] || fail "no python block in tools/python/README.md"
cd "$src"
unset PYTHONPATH
where=$(QKV_LIBRARY=$lib "$TMP/venv/bin/python" -c 'import qkv; print(qkv.__file__)')
case $where in "$TMP/venv/"*) ;; *) fail "qkv imported from $where, not from the environment" ;; esac
QKV_LIBRARY=$lib "$TMP/venv/bin/python" "$TMP/example.py" >"$TMP/out" 2>&1 ||
	fail "the README example: $(cat "$TMP/out")"
grep -q '^backend .* q (5, 64) k (5, 32)' "$TMP/out" || fail "example output: $(cat "$TMP/out")"
grep -q '^cache rows 7..11 written by scalar' "$TMP/out" || fail "example output: $(cat "$TMP/out")"
# Told where libqkv is by the argument too; a wrong path is an error that says how to fix it.
QKV_LIBRARY=/nonexistent/libqkv.so "$TMP/venv/bin/python" -c 'import qkv, sys; print(qkv.version(library=sys.argv[1]))' "$lib" >/dev/null ||
	fail "library= did not win over QKV_LIBRARY"
if QKV_LIBRARY=/nonexistent/libqkv.so "$TMP/venv/bin/python" -c 'import qkv; qkv.version()' 2>"$TMP/err"; then
	fail "a missing libqkv was not reported"
fi
grep -q 'QKV_LIBRARY' "$TMP/err" || fail "missing libqkv: $(cat "$TMP/err")"
"$TMP/venv/bin/python" -m pip show qkv >"$TMP/show" 2>&1 || fail "pip show qkv"
grep -q "^Requires: numpy" "$TMP/show" || fail "pip show: numpy is not the dependency: $(cat "$TMP/show")"
# The package's version is the library's (tools/python/pyproject.toml follows qkv.h).
QKV_LIBRARY=$lib "$TMP/venv/bin/python" -c '
import importlib.metadata as md, qkv, sys
if md.version("qkv") != qkv.version():
    sys.exit("package version %s, libqkv %s: update tools/python/pyproject.toml"
             % (md.version("qkv"), qkv.version()))' || fail "versions differ"
cat "$TMP/out"
echo "PASS: installed into a fresh venv, README example ran"
