#include "kernels/cpu/embedding.h"

#include "base/error.h"

namespace tpb::cpu {

void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t n_tokens,
                       int64_t v_local, int64_t c, int64_t vocab_start) {
  for (int64_t n = 0; n < n_tokens; ++n) {
    const int64_t tok = tokens[n];
    TPB_CHECK(tok >= 0, "negative token id {} at position {}", tok, n);
    const int64_t row = tok - vocab_start;
    float* y = out + n * c;
    if (row >= 0 && row < v_local) {
      const float* src = table + row * c;
      for (int64_t i = 0; i < c; ++i) y[i] = src[i];
    } else {
      for (int64_t i = 0; i < c; ++i) y[i] = 0.0f;
    }
  }
}

void embedding_backward(float* dtable, const float* dout, const int32_t* tokens,
                        int64_t n_tokens, int64_t v_local, int64_t c, int64_t vocab_start) {
  for (int64_t n = 0; n < n_tokens; ++n) {
    const int64_t tok = tokens[n];
    TPB_CHECK(tok >= 0, "negative token id {} at position {}", tok, n);
    const int64_t row = tok - vocab_start;
    if (row < 0 || row >= v_local) continue;
    float* dst = dtable + row * c;
    const float* dy = dout + n * c;
    for (int64_t i = 0; i < c; ++i) dst[i] += dy[i];
  }
}

}  // namespace tpb::cpu
