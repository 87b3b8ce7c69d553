// Naive reference implementations of the kernels, for tests only: straightforward loops in
// double precision, written from the formulas rather than from src/kernels, with no attempt
// at speed (attention builds the full (T, T) score matrix, RoPE multiplies complex numbers).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tpb::testing::ref {

using Floats = std::span<const float>;
using Ints = std::span<const int32_t>;
using Doubles = std::vector<double>;

// op(A) op(B): (m, n); a stored (m, k) or (k, m) when trans_a; b (k, n) or (n, k) when trans_b.
Doubles matmul(Floats a, Floats b, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b);

Doubles silu(Floats x);
Doubles swiglu(Floats gate, Floats up);

// (N, C) -> (N, C); rstd (N) into *rstd when given.
Doubles rmsnorm(Floats x, Floats weight, int64_t n_rows, int64_t c, float eps,
                Doubles* rstd = nullptr);
Doubles softmax(Floats x, int64_t n_rows, int64_t c);

// x (B, T, H, D).
Doubles rope(Floats x, int64_t B, int64_t T, int64_t H, int64_t D, double theta,
             int64_t pos_offset);

// q (B, T, NH, D), k, v (B, T, NKV, D) -> out (B, T, NH, D); lse (B, NH, T) into *lse.
Doubles attention(Floats q, Floats k, Floats v, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                  int64_t D, Doubles* lse = nullptr);

// (N) losses.
Doubles cross_entropy(Floats logits, Ints targets, int64_t n_rows, int64_t v);

// One optimizer step, updating param (and m, v) in place; step counts from 1.
void sgd_step(Doubles& param, Floats grad, double lr, double weight_decay);
void adamw_step(Doubles& param, Doubles& m, Doubles& v, Floats grad, double lr, double beta1,
                double beta2, double eps, double weight_decay, int step);

}  // namespace tpb::testing::ref
