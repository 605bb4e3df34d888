/* The case list, one X-macro so the Criterion runner declares one test per case and
 * the library builds its table from the same lines:
 *   X(name, precision or -1, function, what it checks)
 * Every case is mandatory; a case with a precision is skipped (not passed) when the
 * backend does not declare that precision. */
#ifndef QKV_CONFORM_LIST_H
#define QKV_CONFORM_LIST_H

#include "conform.h"

#define CF_PRECISION_CASES(X, P, p)                                                                \
	X(p##_seed_example, P, cf_case_seed_example,                                               \
	  "x=(2,3), W=[[1,10],[0,-1]] gives (2,17) in both layouts")                               \
	X(p##_exact_integers, P, cf_case_exact_integers,                                           \
	  "integer-valued X, W, bias with an exact result: bit for bit")                           \
	X(p##_random_sizes, P, cf_case_random_sizes,                                               \
	  "odd, prime, power-of-two K and N up to 4096, T = 1, 2, 7, 64, 257")                     \
	X(p##_layouts, P, cf_case_layouts, "in_out and out_in weights give the same result")       \
	X(p##_gqa, P, cf_case_gqa, "n_kv_heads < n_heads (GQA and MQA): K, V narrower than Q")     \
	X(p##_bias, P, cf_case_bias, "biases are added to every row")                              \
	X(p##_strides, P, cf_case_strides,                                                         \
	  "row strides > width and unaligned X, Q, K, V; gaps untouched")                          \
	X(p##_guard_bytes, P, cf_case_guard_bytes, "no write before, after or between the rows")   \
	X(p##_x_bounds, P, cf_case_x_bounds,                                                       \
	  "no read before or after X (guard pages: a stray read crashes this case)")               \
	X(p##_t_zero, P, cf_case_t_zero, "T = 0 succeeds and writes nothing")                      \
	X(p##_determinism, P, cf_case_determinism, "repeated calls give identical bits")           \
	X(p##_concurrency, P, cf_case_concurrency,                                                 \
	  "8 threads calling project on one handle equal serial calls")                            \
	X(p##_threads, P, cf_case_threads,                                                         \
	  "batch threads 1, 2, 3, 8, and above / below the problem's, within bound")               \
	X(p##_rows, P, cf_case_rows,                                                               \
	  "T = 1..1100 across 64/256/512/1024, biases (some NULL), strides, threads 1-3")          \
	X(p##_large_k, P, cf_case_large_k,                                                         \
	  "K = 4097 .. 66001, N above 4096 (blocking, tails, counters)")                           \
	X(p##_concurrency_cold, P, cf_case_concurrency_cold,                                       \
	  "concurrent first calls on fresh handles, threads 2-4 per call, no warm-up")             \
	X(p##_many_calls, P, cf_case_many_calls, "100 calls on one handle: stable bits")           \
	X(p##_two_handles, P, cf_case_two_handles, "two live handles of different shapes")         \
	X(p##_x_readonly, P, cf_case_x_readonly, "X in read-only pages during the call")           \
	X(p##_x_refill, P, cf_case_x_refill,                                                       \
	  "X refilled in place between calls, at every size class, threads 1-16")                  \
	X(p##_w_readonly, P, cf_case_w_readonly,                                                   \
	  "weights read-only between guard pages, unchanged after prepare and calls")              \
	X(p##_out_pages, P, cf_case_out_pages, "outputs against PROT_NONE pages at both ends")     \
	X(p##_guards_by_size, P, cf_case_guards_by_size,                                           \
	  "X, outputs, weights against guard pages at every size class, threads 1-16")             \
	X(p##_concurrency_by_size, P, cf_case_concurrency_by_size,                                 \
	  "two handles, two threads each at once, 1..2100 rows, threads 1-16")

/* Edge cases (conform_cases_num.c, _sizes.c, _memory.c): each runs every precision the
 * backend declares. */
#define CF_EDGE_CASES(X)                                                                           \
	X(nonfinite_weights, -1, cf_case_nonfinite_weights,                                        \
	  "+-Inf, NaN in W and biases: 0*Inf = NaN with zero X, Inf X with zero W")                \
	X(edge_sizes, -1, cf_case_edge_sizes,                                                      \
	  "T = 2047..2049, 4097; d_q = 65600; threads = QKV_MAX_THREADS with T < threads")         \
	X(misaligned_weights, -1, cf_case_misaligned_weights,                                      \
	  "w, bias, w_scale at 4 mod 64, w_i8 odd (zero copy from a file), every size class")      \
	X(weights_let_go, -1, cf_case_weights_let_go,                                              \
	  "memory (ABI 1.2): keeps_weights 0 holds with the given weights overwritten")

#define CF_CASES(X)                                                                                \
	X(abi_metadata, -1, cf_case_abi_metadata,                                                  \
	  "ABI major, struct size, name format, version, precisions, members, probe in bounds")    \
	X(refuse_undeclared_precision, -1, cf_case_refuse_undeclared,                              \
	  "prepare refuses undeclared and unknown precisions with QKV_ERR_UNSUPPORTED")            \
	X(release_after_failed_prepare, -1, cf_case_release_after_failed,                          \
	  "release(NULL) and release after a failed prepare are safe")                             \
	X(prepare_failures, -1, cf_case_prepare_failures,                                          \
	  "weights, scales missing, each allocation failing: release is safe (guarded)")           \
	CF_PRECISION_CASES(X, QKV_F32, f32)                                                        \
	X(f32_nan_inf, QKV_F32, cf_case_nan_inf, "NaN and +-Inf in X propagate as in float64")     \
	X(f32_exact_wide, QKV_F32, cf_case_exact_wide,                                             \
	  "12-bit integers, K to 65537: exact in f32, not with bf16/f16 rounding")                 \
	X(f32_accuracy, QKV_F32, cf_case_accuracy,                                                 \
	  "random data vs float64, statistical bound a bf16/f16 kernel exceeds")                   \
	X(f32_subnormal, QKV_F32, cf_case_subnormal, "subnormal X exact (no FTZ/DAZ)")             \
	CF_PRECISION_CASES(X, QKV_BF16, bf16)                                                      \
	X(bf16_nan_inf, QKV_BF16, cf_case_nan_inf, "NaN and +-Inf in X propagate as in float64")   \
	X(bf16_exact_wide, QKV_BF16, cf_case_exact_wide,                                           \
	  "12-bit integers: W rounded to bf16 ties-to-even, X and sums exact")                     \
	X(bf16_accuracy, QKV_BF16, cf_case_accuracy,                                               \
	  "random data vs float64 (bf16 W), statistical bound: X and sums stay f32")               \
	X(bf16_subnormal, QKV_BF16, cf_case_subnormal, "subnormal X exact (no FTZ/DAZ)")           \
	CF_PRECISION_CASES(X, QKV_INT8, int8)                                                      \
	X(int8_saturation, QKV_INT8, cf_case_int8_saturation,                                      \
	  "K in the thousands, every quantized value +-127: no 16-bit saturation")                 \
	X(int8_prequantized, QKV_INT8, cf_case_int8_prequantized,                                  \
	  "pre-quantized weights (w_i8 + w_scale, w = NULL) are used as given")                    \
	X(stored_block_types, QKV_STORED, cf_case_block_types,                                     \
	  "declared weight types (GGUF blocks, mixes, wild/NaN scales): reference bit for bit")    \
	X(int8_special, QKV_INT8, cf_case_int8_special,                                            \
	  "zero, subnormal-amax, tiny, huge rows and columns, rounding ties")                      \
	X(int8_nan_inf, QKV_INT8, cf_case_nan_inf, "a row of X with NaN or Inf gives NaN outputs") \
	CF_EDGE_CASES(X)                                                                           \
	X(abi_struct_sizes, -1, cf_case_abi_struct_sizes,                                          \
	  "structs with struct_size > sizeof (zeroed tail), as a newer core passes")               \
	X(error_buffer, -1, cf_case_error_buffer, "error messages stay in err[errlen], NUL-ended") \
	X(no_output, -1, cf_case_no_output, "nothing printed to stdout or stderr")                 \
	X(no_leaks, -1, cf_case_no_leaks,                                                          \
	  "heap in use stable over repeated prepare/project/release")                              \
	X(exports, -1, cf_case_exports, "the file exports qkv_backend_descriptor only")            \
	X(process_state, -1, cf_case_process_state,                                                \
	  "caller's OpenMP settings, signals, affinity, locale, environment left as found")        \
	X(thread_budget, -1, cf_case_thread_budget,                                                \
	  "batch.threads = 1: no other thread works for the call (CPU time)")                      \
	X(no_resource_leaks, -1, cf_case_no_resource_leaks,                                        \
	  "descriptors, threads, mapped memory stable over prepare/project/release")               \
	X(recycled_addresses, -1, cf_case_recycled_addresses,                                      \
	  "new weights at a released handle's addresses, every T class: no stale cache")           \
	X(calls_3000, -1, cf_case_calls_3000, "3000 calls of mixed T and threads: stable bits")    \
	X(concurrent_prepare, -1, cf_case_concurrent_prepare,                                      \
	  "6 threads prepare, project and release at once")                                        \
	X(small_stack, -1, cf_case_small_stack, "project on a 256 KiB caller stack, K = 100,000")  \
	X(huge_strides, -1, cf_case_huge_strides,                                                  \
	  "ldx, ld_out of 2^29, 2^31 floats; every T with its last row past 2^34 bytes")

#define CF_DECLARE(name, prec, fn, what)                                                           \
	void fn(const struct qkv_backend *be, int precision, uint64_t seed, struct cf_report *r);
/* Several lines share one function: declaring it twice is harmless. */
CF_CASES(CF_DECLARE)
#undef CF_DECLARE

#endif
