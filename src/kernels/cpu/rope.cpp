#include "kernels/cpu/rope.h"

#include <cmath>
#include <vector>

#include "base/error.h"

namespace tpb::cpu {

namespace {

// cos_sin[(t * half + i) * 2 + {0, 1}] = {cos, sin} of the angle of token t, pair i.
std::vector<float> rope_table(int64_t T, int64_t D, float theta, int64_t pos_offset) {
  const int64_t half = D / 2;
  std::vector<float> cos_sin(static_cast<size_t>(T * half * 2));
  for (int64_t i = 0; i < half; ++i) {
    const double freq =
        std::pow(static_cast<double>(theta), -2.0 * static_cast<double>(i) / static_cast<double>(D));
    for (int64_t t = 0; t < T; ++t) {
      const double angle = static_cast<double>(pos_offset + t) * freq;
      cos_sin[(t * half + i) * 2] = static_cast<float>(std::cos(angle));
      cos_sin[(t * half + i) * 2 + 1] = static_cast<float>(std::sin(angle));
    }
  }
  return cos_sin;
}

void check_sizes(int64_t B, int64_t T, int64_t H, int64_t D, int64_t pos_offset) {
  TPB_CHECK(B >= 0 && T >= 0 && H >= 0 && D >= 0 && D % 2 == 0 && pos_offset >= 0,
            "rope sizes B={} T={} H={} D={} (D must be even) pos_offset={}", B, T, H, D,
            pos_offset);
}

// dst = R(sign * angle) src pair by pair, or dst += it. Forward rotates (sign +1,
// overwrite; dst may alias src); backward applies the transpose, R(-angle), accumulating.
void rotate_pairs(float* dst, const float* src, int64_t B, int64_t T, int64_t H, int64_t D,
                  float theta, int64_t pos_offset, float sign, bool accumulate) {
  check_sizes(B, T, H, D, pos_offset);
  const int64_t half = D / 2;
  const std::vector<float> cos_sin = rope_table(T, D, theta, pos_offset);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const float* cs = cos_sin.data() + t * half * 2;
      for (int64_t h = 0; h < H; ++h) {
        const int64_t base = ((b * T + t) * H + h) * D;
        const float* x = src + base;
        float* y = dst + base;
        for (int64_t i = 0; i < half; ++i) {
          // Read both before writing either: dst may alias src.
          const float x0 = x[2 * i], x1 = x[2 * i + 1];
          const float c = cs[2 * i], s = sign * cs[2 * i + 1];
          const float y0 = x0 * c - x1 * s, y1 = x0 * s + x1 * c;
          y[2 * i] = accumulate ? y[2 * i] + y0 : y0;
          y[2 * i + 1] = accumulate ? y[2 * i + 1] + y1 : y1;
        }
      }
    }
  }
}

}  // namespace

void rope_forward(float* out, const float* inp, int64_t B, int64_t T, int64_t H, int64_t D,
                  float theta, int64_t pos_offset) {
  rotate_pairs(out, inp, B, T, H, D, theta, pos_offset, 1.0f, /*accumulate=*/false);
}

void rope_backward(float* dinp, const float* dout, int64_t B, int64_t T, int64_t H, int64_t D,
                   float theta, int64_t pos_offset) {
  rotate_pairs(dinp, dout, B, T, H, D, theta, pos_offset, -1.0f, /*accumulate=*/true);
}

}  // namespace tpb::cpu
