# shellcheck shell=sh
# Sourced by the check scripts (fuzz.sh, tsan.sh, check-sanitizers.sh, check-valgrind.sh):
# the build step they share.

# build_step BUILD NAME [TARGET...]: ninja TARGETs (all when none) in BUILD, its output in
# BUILD/NAME-build.log; on failure its last lines, "NAME: build failed" and exit 1.
build_step() {
	_dir=$1
	_name=$2
	shift 2
	ninja -C "$_dir" "$@" >"$_dir/$_name-build.log" 2>&1 || {
		tail -30 "$_dir/$_name-build.log" >&2
		echo "$_name: build failed" >&2
		exit 1
	}
}

# backend_targets ROOT: the ninja target of every backend plugin in the tree, one a line.
backend_targets() {
	for _m in "$1"/backends/*/meson.build; do
		_b=$(basename "$(dirname "$_m")")
		echo "backends/$_b/qkv_$_b.so"
	done
}
