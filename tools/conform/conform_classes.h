/* The size classes a backend may special-case (issue 25), the one list every sweep reads:
 * T = 1..8, around 16, 64, 128, 256, 512, 1024 and past 2048; d_model not a multiple of 4,
 * of 4 not 8, of 8 not 16, of 16 not 32; per-call budgets 1, 2, 3, 4, 8 and 16 against a
 * model budget of 4 (8 and 16 are above it). A check run only where a defect does not live
 * misses it: a T >= 128 path that over-reads X, keeps partial sums in the handle, caches
 * by an address or computes offsets in 32 bits passes every case at small T. */
#ifndef QKV_CONFORM_CLASSES_H
#define QKV_CONFORM_CLASSES_H

#include <stddef.h>
#include <stdint.h>

#include "conform_int.h" /* CF_COUNT */

/* static in a header: each case file gets the same table (unused ones are not warned
 * about), and the list is written once */
static const size_t cf_class_T[] = {1,  2,  3,  4,   5,   6,   7,   8,    15,
                                    16, 17, 64, 127, 128, 256, 512, 1024, 2049};
static const uint32_t cf_class_K[] = {33, 36, 40, 48};
static const uint32_t cf_class_threads[] = {1, 2, 3, 4, 8, 16};
#define CF_MODEL_THREADS 4 /* the problem's budget in the sweeps */

/* One point of a sweep: every T with every K (T-major), the per-call budget cycling with
 * the point's number, so that every budget meets the large T classes too. */
struct cf_class_point {
	size_t T;
	uint32_t K, threads;
};
#define CF_CLASS_POINTS (CF_COUNT(cf_class_T) * CF_COUNT(cf_class_K))

static inline struct cf_class_point cf_class_point(size_t n)
{
	size_t nK = CF_COUNT(cf_class_K);
	return (struct cf_class_point){cf_class_T[n / nK % CF_COUNT(cf_class_T)],
	                               cf_class_K[n % nK],
	                               cf_class_threads[n % CF_COUNT(cf_class_threads)]};
}

/* The same for a lighter sweep: point i meets T class i once, with K and the budget
 * cycling; the six classes from T = 127 on meet every K and every budget. */
static inline struct cf_class_point cf_class_diagonal(size_t i)
{
	return (struct cf_class_point){cf_class_T[i % CF_COUNT(cf_class_T)],
	                               cf_class_K[i % CF_COUNT(cf_class_K)],
	                               cf_class_threads[i % CF_COUNT(cf_class_threads)]};
}
#define CF_CLASS_DIAGONAL CF_COUNT(cf_class_T)

#endif
