// Whole-buffer helpers the parallel layers need: element-type conversion, scaling, the sum
// of squares (gradient norms), and the two re-layouts of tensor-parallel gathers.
//
// Conventions of every kernel in src/kernels/cpu: raw pointers and int64_t sizes, dense
// row-major, no threads of their own.
#pragma once

#include <cstdint>

namespace tpb::cpu {

// fp32 <-> bf16 (uint16_t bits; round to nearest even), n elements.
void cast_f32_to_bf16(uint16_t* out, const float* in, int64_t n);
void cast_bf16_to_f32(float* out, const uint16_t* in, int64_t n);
// x *= s
void scale(float* x, int64_t n, float s);
// sum x[i]^2, accumulated in double.
double sum_squares(const float* x, int64_t n);
// staging holds, rank after rank, (rows, widths[r]) blocks of `elem` bytes per element;
// out (rows, sum of widths) gets them side by side.
void interleave_blocks(void* out, const void* staging, const int64_t* widths, int n_ranks,
                       int64_t rows, int64_t elem);
// out (rows, width) = columns [offset, offset + width) of full (rows, total).
void take_columns(void* out, const void* full, int64_t rows, int64_t total, int64_t offset,
                  int64_t width, int64_t elem);

}  // namespace tpb::cpu
