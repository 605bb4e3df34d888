#!/bin/sh
# Regenerates the figures of docs/PERFORMANCE.md on this machine: run at a quiet moment
# (nothing else compiling), from the repository root, after building into BUILD.
#   docs/perf/run.sh [BUILD]        (default build)
set -eu
BUILD=${1:-build}
QKV=$BUILD/tools/qkv/qkv
OUT=docs/perf
uptime | tee $OUT/load.txt
# The machine's fp32 peak and read bandwidth, measured afresh (cached afterwards).
$QKV bench --remeasure --preset tiny --tokens 1 --threads 1 --min-time 0.01 --quiet \
	--no-reference >/dev/null
for p in gpt2-small llama2-7b llama3-8b; do
	$QKV bench --preset $p --tokens 1,16,128,512 --threads 1,2 --precision f32,int8 \
		--backends blas,openmp,int8 --json $OUT/$p.json --csv $OUT/$p.csv --markdown $OUT/$p.md \
		--plot $OUT/$p.svg >$OUT/$p.txt
done
# Issue 6: the whole `--backends all` table for Llama-3-8B in under a minute.
/usr/bin/time -f "%e s elapsed" -o $OUT/llama3-8b-all.time \
	$QKV bench --preset llama3-8b --tokens 1,128 --backends all >$OUT/llama3-8b-all.txt
# Dispatcher overhead (core -> plugin) on a tiny shape, one thread.
$QKV bench --preset tiny --tokens 1,16 --threads 1 --overhead --no-reference \
	--min-time 0.5 >$OUT/overhead.txt
uptime | tee -a $OUT/load.txt
python3 docs/perf/summary.py $OUT >$OUT/summary.md
