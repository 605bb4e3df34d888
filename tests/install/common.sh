# shellcheck shell=sh
# Sourced by install_test.sh and uninstalled_test.sh: how both report and run steps.

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
run_log() { # run a command quietly; show its log when it fails
	log=$1
	shift
	"$@" >"$log" 2>&1 || {
		tail -n 40 "$log" >&2
		fail "$*"
	}
}
# The consumer must find everything by itself: nothing from the caller's environment.
clean_env() { env -u QKV_PLUGIN_PATH -u QKV_BACKEND -u QKV_THREADS -u LD_LIBRARY_PATH "$@"; }
