#include "kernels/cpu/layout.h"

#include <cstring>

#include "base/bf16.h"

namespace tpb::cpu {

void cast_f32_to_bf16(uint16_t* out, const float* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = float_to_bf16(in[i]);
}

void cast_bf16_to_f32(float* out, const uint16_t* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_float(in[i]);
}

void scale(float* x, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

double sum_squares(const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  return s;
}

void interleave_blocks(void* out, const void* staging, const int64_t* widths, int n_ranks,
                       int64_t rows, int64_t elem) {
  int64_t total = 0;
  for (int r = 0; r < n_ranks; ++r) total += widths[r];
  const char* src = static_cast<const char*>(staging);
  char* dst = static_cast<char*>(out);
  int64_t col = 0;
  for (int r = 0; r < n_ranks; ++r) {
    const int64_t w = widths[r];
    for (int64_t i = 0; i < rows; ++i)
      std::memcpy(dst + (i * total + col) * elem, src + i * w * elem, static_cast<size_t>(w * elem));
    src += rows * w * elem;
    col += w;
  }
}

void take_columns(void* out, const void* full, int64_t rows, int64_t total, int64_t offset,
                  int64_t width, int64_t elem) {
  const char* src = static_cast<const char*>(full);
  char* dst = static_cast<char*>(out);
  for (int64_t i = 0; i < rows; ++i)
    std::memcpy(dst + i * width * elem, src + (i * total + offset) * elem, static_cast<size_t>(width * elem));
}

}  // namespace tpb::cpu
