#!/bin/sh
# The `qkv` command as a new user meets it (issue 15, points 8, 10, 11, 12, 13): each
# check runs the real binary on the shipped default config (tiny shape) and looks at the
# exit status, stdout and stderr. No timing is asserted: the noise checks use a backend
# built to be noisy (tests/bench/slow, QKV_TEST_JITTER).
# usage: cli_test.sh QKV SOURCE_ROOT SLOW_PLUGIN_DIR BROKEN_PLUGIN_DIR
set -eu
QKV=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
SLOW=$3
BROKEN=$4
CFG=$SRC/configs/default.yaml
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cli/common.sh
. "$here/common.sh"
# run EXPECTED_STATUS ARGS...: stdout in $TMP/out, stderr in $TMP/err
run() {
	want=$1
	shift
	set +e
	"$QKV" "$@" >"$TMP/out" 2>"$TMP/err"
	got=$?
	set -e
	[ "$got" -eq "$want" ] ||
		fail "qkv $*: exit $got, expected $want; stderr: $(cat "$TMP/err")"
}
has() { grep -q -- "$2" "$TMP/$1" || fail "$1 lacks '$2': $(cat "$TMP/$1")"; }
lacks() { ! grep -q -- "$2" "$TMP/$1" || fail "$1 has '$2': $(cat "$TMP/$1")"; }

# 11: T rows that do not fit in memory: a message, not a bare exit 1. Under ASan the
# limit is ASan's own (ulimit -v and ASan's shadow memory do not mix), its warnings
# about the refused allocation on stderr, not in check-sanitizers' report folder.
if ldd "$QKV" 2>/dev/null | grep -q libasan; then
	set +e
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:allocator_may_return_null=1:max_allocation_size_mb=1024:log_path=stderr" \
		"$QKV" run "$CFG" --tokens 16777216 >"$TMP/out" 2>"$TMP/err"
	got=$?
	set -e
else
	set +e
	# shellcheck disable=SC3045 # dash and bash both have ulimit -v
	(ulimit -v 1500000 && "$QKV" run "$CFG" --tokens 16777216) >"$TMP/out" 2>"$TMP/err"
	got=$?
	set -e
fi
[ "$got" -eq 1 ] || fail "--tokens 16777216 under a memory limit: exit $got"
has err "out of memory: T = 16777216 rows need"
has err "fewer --tokens"
echo "ok: out-of-memory message"

# 11: --out DIR is checked before computing; no success line after a failure.
run 1 run "$CFG" --out /proc/qkv-cannot-be-here
has err "/proc/qkv-cannot-be-here"
lacks out "backend="
run 0 run "$CFG" --tokens 3 --out "$TMP/o"
for p in q k v; do [ -s "$TMP/o/$p.npy" ] || fail "--out: $p.npy missing"; done
echo "ok: --out checked first"

# 11 + 13: --json - is stdout (no file named -), with the median of --repeat calls.
(cd "$TMP" && "$QKV" run "$CFG" --tokens 2 --repeat 5 --json - >"$TMP/out" 2>"$TMP/err") ||
	fail "--json -: $(cat "$TMP/err")"
[ ! -e "$TMP/-" ] || fail "--json - wrote a file named -"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["repeat"]==5 and d["T"]==2, d' \
	"$TMP/out" || fail "--json - is not the summary JSON: $(cat "$TMP/out")"
has err "median of --repeat calls"
run 0 run "$CFG" --tokens 2
has out "one cold call"
echo "ok: --json - and --repeat"

# 13: float32 .npy input is read; float64 is refused with the exact fix.
npy() { python3 "$SRC/tests/cli/write_npy.py" "$1" "$2" "$3" "(2, 64)"; } # zeros
npy "$TMP/x32.npy" '<f4' 4
npy "$TMP/x64.npy" '<f8' 8
run 0 run "$CFG" --input "$TMP/x32.npy"
has out "T=2 "
run 1 run "$CFG" --input "$TMP/x64.npy"
has err "x64.npy"
has err "astype(np.float32)"
npy "$TMP/x8.npy" '|i1' 1
npy "$TMP/xi4.npy" '<i4' 4
# issue 26 item 7: integer input is refused naming exactly the dtypes input rows take
# (int8 is read as weights only, so it is not listed here).
for f in x8:\|i1:int8 xi4:\<i4:int32; do
	run 1 run "$CFG" --input "$TMP/${f%%:*}.npy"
	d=${f#*:}
	has err "--input $TMP/${f%%:*}.npy: dtype '${d%%:*}' (${d#*:}) is not supported for input rows (supported: '<f4' float32, '<f2' float16)\$"
	has err "astype(np.float32)"
done
echo "ok: .npy input dtypes"

# issue 26 item 9: the README's first run works as written; --help points at qkv-genweights.
run 0 run "$SRC/configs/seed-example.yaml" --input "$SRC/configs/seed-example/x.npy" \
	--out "$TMP/seed" --backend scalar
python3 -c 'import struct,sys; b=open(sys.argv[1],"rb").read(); n=struct.unpack("<H",b[8:10])[0]; q=struct.unpack("<2f",b[10+n:]); assert q==(2.0,17.0), q' \
	"$TMP/seed/q.npy" || fail "seed example: q.npy is not [[2, 17]]"
grep -q 'qkv run configs/seed-example.yaml --input configs/seed-example/x.npy' "$SRC/README.md" ||
	fail "README's first run line changed: update this test"
run 0 --help
has out "qkv-genweights"
# --check: the rows against a float64 reference within the f32 bound; a backend that
# drops the biases (a conformance broken plugin, under the name it declares) fails it.
run 0 run "$CFG" --tokens 5 --check 3
has out "check: 3 row(s) of q, k, v against a float64 reference"
has out "within the f32 bound"
mkdir "$TMP/broken"
cp "$BROKEN/qkv_broken_ignore_bias.so" "$TMP/broken/qkv_broken.so"
run 1 run "$CFG" --tokens 5 --check 3 --plugin-dir "$TMP/broken" --backend broken
has out "OUTSIDE the f32 bound"
run 1 run "$CFG" --check 2 --precision bf16 --backend scalar
has err "\-\-check compares f32 models"
echo "ok: first steps"

# issue 26 item 7: messages that name the point.
mkfifo "$TMP/fifo"
run 1 run "$CFG" --input "$TMP/fifo"
has err "is a pipe (FIFO), not a file"
: >"$TMP/afile"
run 1 run "$CFG" --out "$TMP/afile"
has err "exists and is not a folder"
lacks err "Permission denied"
run 1 run "$CFG" --machine "$TMP/no-such-profile.yaml"
has err "\-\-machine $TMP/no-such-profile.yaml: No such file"
run 2 run "$CFG" --precision f64
has err "\-\-precision: \`f64\` is not one of f32, bf16, int8"
run 0 run "$CFG" --precision bf16 --backend scalar --tokens 2
has out "precision=bf16"
run 0 run "$CFG" --plugin-dir "$TMP/no-such-dir" --tokens 1
has err "warning: \-\-plugin-dir $TMP/no-such-dir: no such folder"
export QKV_PLUGIN_PATH="$TMP/nope"
run 0 info
unset QKV_PLUGIN_PATH
has err "warning: QKV_PLUGIN_PATH $TMP/nope: no such folder"
has out "$TMP/nope  (does not exist)"
sed -e "s#file: weights/#file: $SRC/configs/weights/#" \
	-e 's/tensor: model.layers.0.self_attn.q_proj.weight/tensor: model.layers.{layer}.self_attn.q_proj.weight/' \
	"$CFG" >"$TMP/unquoted.yaml"
run 1 run "$TMP/unquoted.yaml" --layer 0
# the config parser says it (so the C API and Python do too), at the {layer}'s line/column
has err "$TMP/unquoted.yaml:14:28: key .weights.q.: a name holding {layer} inside { } must be quoted"
lacks err "hint:"
echo "ok: messages"

# issue 26 item 3: info says the order in force and its source, what serves each T,
# what was loaded; --json for scripts.
run 0 info "$CFG"
# the default order is the target's (core/src/model.c): blas first on aarch64 (simd: neon)
first="openmp, blas"
! grep -q "^simd:.* neon" "$TMP/out" || first="blas, openmp"
has out "order: $first, .*scalar (from the default)"
has out "order in force: $first, .*scalar (from the default)"
if grep -q "^  onednn *usable" "$TMP/out"; then
	has out "usable here but not in that order: onednn"
fi
has out "q: held as f32, 16.0 KiB, copied at open, tensor model.layers.0.self_attn.q_proj.weight"
has out "backend by T: T=1 "
export QKV_BACKEND=scalar
run 0 info "$CFG"
unset QKV_BACKEND
has out "order: scalar (from the environment (QKV_BACKEND))"
run 0 info "$CFG" --backend blas,scalar
has out "order: blas, scalar (from the API option .backend. (--backend))"
run 0 info "$CFG" --json -
python3 - "$TMP/out" <<'PY' || fail "info --json: $(cat "$TMP/out")"
import json, sys
d = json.load(open(sys.argv[1]))
m = d["model"]
assert m["d_model"] == 64 and m["weights"]["k"]["tensor"] == "model.layers.0.self_attn.k_proj.weight", m
assert m["weights"]["q"]["type"] in ("f32", "bf16") and m["weights"]["v"]["bytes"] > 0, m
assert m["selection_log"][0].startswith("order: "), m["selection_log"]
assert set(m["backend_by_T"]) >= {"1", "64"} and all(p["path"] for p in d["plugins"])
PY
echo "ok: info"

# 10 + 12: names checked before any work, near names suggested, one vocabulary.
run 2 run "$CFG" --backend opnemp
has err "did you mean \`openmp\`"
run 2 info --backends=scalr
has err "did you mean \`scalar\`"
run 0 run "$CFG" --backend=scalar --threads=0 --tokens=2
has out "backend=scalar"
run 2 run "$CFG" --threads
has err "\-\-threads needs a value"
run 2 run "$CFG" --bogus
has err "unknown option"
# issue 26 item 4: a typo in a backend list is an error with the near name, wherever
# the list comes from (a silent fallback would cost the speed asked for).
export QKV_BACKEND=opnemp,scalar
run 1 run "$CFG"
unset QKV_BACKEND
has err "the backend list (from the environment (QKV_BACKEND)) names \`opnemp\`"
has err "did you mean \`openmp\`"
sed -e "s#file: weights/#file: $SRC/configs/weights/#" "$CFG" >"$TMP/prefer.yaml"
printf 'backend:\n  prefer: [blsa, scalar]\n' >>"$TMP/prefer.yaml"
run 1 run "$TMP/prefer.yaml"
has err "the backend list (from the model config (backend.prefer)) names \`blsa\`"
has err "did you mean \`blas\`"
sed -e "s#file: weights/#file: $SRC/configs/weights/#" -e 's/q: {tensor: model.layers.0.self_attn.q_proj/q: {tensor: model.layers.0.self_attn.q_prj/' \
	"$CFG" >"$TMP/typo.yaml"
run 1 run "$TMP/typo.yaml"
has err "no tensor named model.layers.0.self_attn.q_prj.weight"
has err "did you mean \`model.layers.0.self_attn.q_proj.weight\`"
run 0 help quantize
has out "usage: qkv quantize"
has out "exit status"
# issue 26 item 6: one vocabulary, old spellings as documented aliases, suggestions.
run 2 run "$CFG" --plugin-dirs /tmp
has err "unknown option .--plugin-dirs.; did you mean --plugin-dir?"
run 2 info --treads 2
has err "did you mean --threads?"
run 2 run "$CFG" --zzzzzz
lacks err "did you mean"
run 0 help quantize
has out "\-\-tokens T"
has out "\-\-rows: the same, the old name"
has out "\-\-layer N"
has out "\-\-all-layers"
# issue 26 item 6: the options that steer a backend selection have nothing to act on in
# quantize (it loads no backend) or conform (it names its plugins; cases fix their
# threads): the help says so, and giving one is a usage error saying why.
has out "not taken by qkv quantize: --backend --threads --plugin-dir --machine --strict"
for o in "--backend scalar" "--threads=2" "--plugin-dir /tmp" "--machine m.yaml" "--strict" "--precision int8"; do
	# shellcheck disable=SC2086 # the option and its value
	run 2 quantize "$SRC/configs/seed-example.yaml" $o --out "$TMP/seed.safetensors"
	has err "qkv quantize: ${o%%[ =]*} is not an option of qkv quantize: "
done
has err "the output's type is --type T"
run 2 quantize "$SRC/configs/seed-example.yaml" --backnd scalar --out "$TMP/seed.safetensors"
has err "did you mean --backend?"
run 0 quantize "$SRC/configs/seed-example.yaml" --rows 3 --out "$TMP/seed.safetensors"
has out "3 Gaussian rows"
run 0 help conform
has out "\-\-json FILE"
has out "\-\-report FILE: the same, the old name"
run 0 conform scalar --cases f32_seed_example --json -
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["plugins"][0]["cases"][0]["result"]=="pass", d' \
	"$TMP/out" || fail "conform --json - is not the report: $(cat "$TMP/out")"
has err "1 passed"
# conform: --backend LIST names the backends as the arguments do (checked, near names);
# --precision keeps only the cases of those precisions (and those of none).
run 0 conform --backend scalar --cases 'f32_seed_example,bf16_seed_example,abi_metadata' --precision bf16
has out "^bf16_seed_example "
has out "^abi_metadata "
lacks out "^f32_seed_example "
has out "2 passed, 0 failed"
run 2 conform --backend scalr
has err "did you mean \`scalar\`"
run 2 conform scalar --precision f64
has err "\-\-precision: \`f64\` is not one of f32, bf16, int8, stored"
run 0 help conform
has out "not taken by qkv conform: --threads"
run 2 conform scalar --threads 2
has err "\-\-threads is not an option of qkv conform: each case sets the thread counts it checks"
# the rest of the shared vocabulary: each command takes it or says why not
for c in run info bench tune quantize conform; do
	"$QKV" help "$c" >"$TMP/help" || fail "help $c"
	for o in backend threads precision plugin-dir machine strict layer shard json; do
		grep -qE -- "^  --$o( |\$)|^not taken by qkv $c:.* --$o( |\$)" "$TMP/help" ||
			fail "qkv $c neither takes nor refuses --$o: $(cat "$TMP/help")"
	done
done
run 2 bench --preset tiny --machine "$TMP/m.yaml"
has err "\-\-machine is not an option of qkv bench: "
run 2 tune --preset tiny --json -
has err "\-\-json is not an option of qkv tune: tune writes its result as the YAML profile"
echo "ok: names and options"

# 9: a baseline of another shape is not compared (exit 1, not "0 of 0 slower").
run 0 bench --preset tiny --backend scalar --tokens 1 --min-time 0.01 --quiet --json "$TMP/base.json"
run 1 bench --preset gpt2-small --backend scalar --tokens 1 --min-time 0.01 --no-reference \
	--quiet --baseline "$TMP/base.json"
has out "baseline not compared: the baseline is shape tiny"
run 0 bench --preset tiny --backend scalar --tokens 1 --min-time 0.01 --quiet --threshold 100000 \
	--baseline "$TMP/base.json" # the threshold: no timing is asserted
has out "gating backend rows"
has out "(reference, not gated)"
echo "ok: baseline matched on shape, reference rows not gated"

# 8: a backend whose calls stall (every third sleeps 20 ms): bench re-measures and marks
# the row noisy; tune refuses to write a profile from it unless --force, and the profile
# records what it was tuned under.
export QKV_TEST_JITTER=1
run 0 bench --preset tiny --plugin-dir "$SLOW" --backend scalar --tokens 1 --min-time 0.05 \
	--no-reference --quiet --json "$TMP/b.json"
has out "noisy"
has out "reps"
grep -q '"noisy": true' "$TMP/b.json" || fail "bench JSON: no noisy row"
run 1 tune --preset tiny --plugin-dir "$SLOW" --backend scalar --precision f32 --tokens 1 \
	--min-time 0.05 --quiet --out "$TMP/m.yaml"
has err "stayed noisy"
lacks out "written" # issue 26 item 8: no "routes written to" before "not written"
[ ! -e "$TMP/m.yaml" ] || fail "tune wrote a profile from noisy rows"
run 0 tune --preset tiny --plugin-dir "$SLOW" --backend scalar --precision f32 --tokens 1 \
	--min-time 0.05 --quiet --force --out "$TMP/m.yaml"
has out "profile written to $TMP/m.yaml"
unset QKV_TEST_JITTER
for key in 'qkv_version: "' 'shape: "64,4,2,16"' 'threads: ' 'load: "' 'noisy: 1'; do
	grep -q "$key" "$TMP/m.yaml" || fail "profile lacks '$key': $(cat "$TMP/m.yaml")"
done
echo "ok: noisy rows re-measured, marked, refused"

# 8: a profile tuned for another shape or qkv version is used with a warning.
sed -e 's/shape: "64,4,2,16"/shape: "768,12,12,64"/' -e 's/qkv_version: "[^"]*"/qkv_version: "0.0.1"/' \
	"$TMP/m.yaml" >"$TMP/other.yaml"
run 0 run "$CFG" --machine "$TMP/m.yaml" --plugin-dir "$SLOW"
lacks err "warning"
# A profile with routes: info gives each range and the backend each T goes to.
run 0 info "$CFG" --machine "$TMP/m.yaml" --plugin-dir "$SLOW"
has out "order: "
has out "route T"
lacks out "18446744073709551615"
run 0 run "$CFG" --machine "$TMP/other.yaml" --plugin-dir "$SLOW"
has err "tuned for shape 768,12,12,64"
has err "tuned with qkv 0.0.1"
echo "ok: profile shape and version warnings"

# issue 26 item 1, multi-layer everywhere: tune takes --layer for a {layer} config, and
# without it the row's whole reason is printed (not cut at the column's width).
sed -e "s#file: weights/#file: $SRC/configs/weights/#" \
	-e "s/tensor: model.layers.0.\([^}]*\)}/tensor: 'model.layers.{layer}.\1'}/" "$CFG" >"$TMP/layer.yaml"
grep -q "'model.layers.{layer}.self_attn.v_proj.bias'" "$TMP/layer.yaml" || fail "layer.yaml: $(cat "$TMP/layer.yaml")"
run 1 tune "$TMP/layer.yaml" --backend scalar --precision f32 --tokens 1 --min-time 0.01 --quiet --out "$TMP/l.yaml"
has out "did not open: .*has {layer}: set weights.layer in the config or pass --layer N"
run 0 tune "$TMP/layer.yaml" --layer 0 --backend scalar --precision f32 --tokens 1 --min-time 0.01 \
	--quiet --force --out "$TMP/l.yaml"
has out "profile written to $TMP/l.yaml"
echo "ok: tune --layer"
# issue 24 item 5: info says what the backend made and whether the loaded weights were let go.
run 0 info "$CFG" --backend openmp --strict
has out "memory: .* made by the backend at prepare, 0.0 KiB of weights read in place; the loaded weights were let go"
run 0 info "$CFG" --backend scalar --strict
has out "memory: .* of weights read in place; the weights stay: the backend reads them"
run 0 info "$CFG" --backend scalar --strict --json "$TMP/i.json"
grep -q '"weights_needed": true' "$TMP/i.json" || fail "info --json memory: $(cat "$TMP/i.json")"
echo "ok: info memory"
echo PASS
