#!/bin/sh
# Run tools/examples/mpi_qkv under mpirun over the small models gen_models.py writes.
#   run_mpi.sh MPI_QKV|none GEN_MODELS.PY OUTDIR
# Exit 77 (meson: skipped) with the reason when MPI or mpirun is not there.
set -eu
exe=$1 gen=$2 out=$3
if [ "$exe" = none ]; then
	echo "SKIP: meson found no MPI (dependency('mpi')): install libopenmpi-dev and openmpi-bin (tools/install-deps.sh)"
	exit 77
fi
if ! command -v mpirun >/dev/null 2>&1; then
	echo "SKIP: mpirun is not on PATH: install openmpi-bin (tools/install-deps.sh)"
	exit 77
fi
python3 "$gen" "$out"
# Open MPI refuses root without these; loopback only (shared memory + self), and more
# ranks than cores is allowed. One thread per rank: the slices and the one-process run
# of the check use the same backend with the same threads, so they must match bit for bit.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Under ASan (tools/check-sanitizers.sh) the ranks keep every memory-error check, but
# LeakSanitizer is off for them: Open MPI leaves allocations behind in MCA components it
# has unloaded by exit, whose frames LSan cannot name (so no suppression can match them).
# qkv's own shard paths are leak-checked in-process by tests/unit/test_shard.c.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1
run() {
	mpirun --oversubscribe --mca btl self,vader --bind-to none "$@"
}
fail=0
for shape in mha gqa; do
	for layout in out_in in_out; do
		for prec in f32 int8 i8; do
			for np in 2 4; do
				cfg="$out/$shape-$layout-$prec.yaml"
				if log=$(run -np "$np" "$exe" "$cfg" --threads 1 --tokens 7 --iters 1 2>&1) &&
					echo "$log" | grep -q "0 differ, max difference 0 (bit-identical)"; then
					echo "ok   -np $np $shape $layout $prec"
				else
					echo "FAIL -np $np $shape $layout $prec"
					echo "$log"
					fail=1
				fi
			done
		done
	done
done
# A world that does not divide the heads: every rank refuses with the option named.
if log=$(run -np 3 "$exe" "$out/gqa-out_in-f32.yaml" --threads 1 2>&1); then
	echo "FAIL -np 3: accepted a world of 3 for 8 query heads"
	fail=1
elif [ "$(echo "$log" | grep -c 'shard_world.*world 3 does not divide n_heads 8')" -ne 3 ]; then
	echo "FAIL -np 3: every rank should name shard_world:"
	echo "$log"
	fail=1
else
	echo "ok   -np 3 refused: $(echo "$log" | grep -m1 'shard_world')"
fi
exit $fail
