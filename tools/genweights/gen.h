/* The deterministic weights of qkv-genweights, as a specification other code can
 * recompute (tests do, independently).
 *
 *   splitmix64(x)   the standard finaliser of x + 0x9E3779B97F4A7C15
 *   base(seed, j)   = splitmix64(splitmix64(seed) + j), j = tensor role:
 *                     0 q.weight, 1 k.weight, 2 v.weight, 3 q.bias, 4 k.bias, 5 v.bias
 *   element i       (index in the tensor's row-major [d_out x d_model] storage)
 *     u1 = ((splitmix64(base + 2i) >> 11) + 1) * 2^-53        in (0, 1]
 *     u2 =  (splitmix64(base + 2i + 1) >> 11) * 2^-53          in [0, 1)
 *     value = GEN_STD * sqrt(-2 ln u1) * cos(2 pi u2)            (Box-Muller, double)
 *   then rounded to f32, and from f32 to bf16 or f16 (nearest, ties to even).
 * GEN_STD = 0.02, the initialiser std of GPT-2 and Llama.
 */
#ifndef QKV_GENWEIGHTS_GEN_H
#define QKV_GENWEIGHTS_GEN_H

#include <stdint.h>

#define GEN_STD 0.02

uint64_t gen_splitmix64(uint64_t x);
uint64_t gen_base(uint64_t seed, unsigned role);
double gen_value(uint64_t base, uint64_t i);

/* f32 -> bf16 / f16 bits, round to nearest, ties to even; NaN stays NaN. */
uint16_t gen_f32_to_bf16(float f);
uint16_t gen_f32_to_f16(float f);

#endif
