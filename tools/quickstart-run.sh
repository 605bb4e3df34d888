#!/bin/sh
# Quick start 1: install what is needed, build, and run the default model.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
exec build/tools/qkv/qkv run configs/default.yaml "$@"
