// The CUDA kernel launchers of a build without the CUDA toolkit: each one
// throws. They are unreachable in practice (no tensor can be allocated on the
// device in such a build, and tpb::ops checks devices first); they exist so the
// dispatch in ops.cpp links either way.
#include "base/error.h"
#include "kernels/cuda/cuda_kernels.h"

namespace tpb::cuda {

namespace {
[[noreturn]] void absent(const char* kernel) {
  throw Error(fmt::format("{}: tpbench was built without CUDA", kernel));
}
}  // namespace

void matmul(void* out, DType out_t, const void* a, const void* b, DType in_t, int64_t m, int64_t n,
            int64_t k, bool trans_a, bool trans_b, float alpha, float beta) {
  absent("matmul");
}
void bias_add_forward(void* out, const void* bias, DType t, int64_t rows, int64_t c) {
  absent("bias_add_forward");
}
void bias_add_backward(float* dbias, const void* dout, DType t, int64_t rows, int64_t c) {
  absent("bias_add_backward");
}
void silu_forward(void* out, const void* inp, DType t, int64_t n) { absent("silu_forward"); }
void silu_backward(void* dinp, const void* dout, const void* inp, DType t, int64_t n) {
  absent("silu_backward");
}
void swiglu_forward(void* out, const void* gate, const void* up, DType t, int64_t n) {
  absent("swiglu_forward");
}
void swiglu_backward(void* dgate, void* dup, const void* dout, const void* gate, const void* up,
                     DType t, int64_t n) {
  absent("swiglu_backward");
}
void add_forward(void* out, const void* a, const void* b, DType t, int64_t n) {
  absent("add_forward");
}
void rmsnorm_forward(void* out, float* rstd, const void* inp, const void* weight, DType t,
                     int64_t rows, int64_t c, float eps) {
  absent("rmsnorm_forward");
}
void rmsnorm_backward(void* dinp, float* dweight, const void* dout, const void* inp,
                      const void* weight, const float* rstd, DType t, int64_t rows, int64_t c) {
  absent("rmsnorm_backward");
}
void softmax_forward(void* out, const void* inp, DType t, int64_t rows, int64_t c) {
  absent("softmax_forward");
}
void softmax_backward(void* dinp, const void* dout, const void* out, DType t, int64_t rows,
                      int64_t c) {
  absent("softmax_backward");
}
void rope_forward(void* out, const void* inp, DType t, int64_t B, int64_t T, int64_t H, int64_t D,
                  float theta, int64_t pos_offset) {
  absent("rope_forward");
}
void rope_backward(void* dinp, const void* dout, DType t, int64_t B, int64_t T, int64_t H,
                   int64_t D, float theta, int64_t pos_offset) {
  absent("rope_backward");
}
void attention_forward(void* out, float* lse, const void* q, const void* k, const void* v, DType t,
                       int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D) {
  absent("attention_forward");
}
void attention_backward(void* dq, void* dk, void* dv, const void* dout, const void* q,
                        const void* k, const void* v, const void* out, const float* lse, DType t,
                        int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D) {
  absent("attention_backward");
}
void embedding_forward(void* out, const int32_t* tokens, const void* table, DType t,
                       int64_t n_tokens, int64_t v_local, int64_t c, int64_t vocab_start) {
  absent("embedding_forward");
}
void embedding_backward(float* dtable, const void* dout, const int32_t* tokens, DType t,
                        int64_t n_tokens, int64_t v_local, int64_t c, int64_t vocab_start) {
  absent("embedding_backward");
}
void cross_entropy_forward(float* losses, const float* logits, const int32_t* targets, int64_t rows,
                           int64_t v) {
  absent("cross_entropy_forward");
}
void cross_entropy_backward(float* dlogits, const float* dlosses, const float* logits,
                            const int32_t* targets, int64_t rows, int64_t v) {
  absent("cross_entropy_backward");
}
void ce_row_max(float* row_max, const float* logits, int64_t rows, int64_t v) {
  absent("ce_row_max");
}
void ce_sum_exp_target(float* stats, const float* logits, const float* row_max,
                       const int32_t* targets, int64_t rows, int64_t v, int64_t vocab_start) {
  absent("ce_sum_exp_target");
}
void ce_losses(float* losses, const float* stats, const float* row_max, int64_t rows) {
  absent("ce_losses");
}
void ce_backward(void* dlogits, DType t, const float* logits, const float* row_max,
                 const float* stats, const int32_t* targets, int64_t rows, int64_t v,
                 int64_t vocab_start, float scale) {
  absent("ce_backward");
}
double mse_forward(const float* pred, const float* target, int64_t n) { absent("mse_forward"); }
void mse_backward(float* dpred, const float* pred, const float* target, int64_t n, float dloss) {
  absent("mse_backward");
}
void sgd_step(float* param, const float* grad, int64_t n, float lr, float weight_decay) {
  absent("sgd_step");
}
void adamw_step(float* param, float* m, float* v, const float* grad, int64_t n,
                const cpu::AdamWConfig& config, int64_t step) {
  absent("adamw_step");
}
void cast(void* out, DType out_t, const void* in, DType in_t, int64_t n) { absent("cast"); }
void scale(float* x, int64_t n, float s) { absent("scale"); }
double sum_squares(const float* x, int64_t n) { absent("sum_squares"); }
void interleave_blocks(void* out, const void* staging, const int64_t* widths, int n_ranks,
                       int64_t rows, DType t) {
  absent("interleave_blocks");
}
void take_columns(void* out, const void* full, int64_t rows, int64_t total, int64_t offset,
                  int64_t width, DType t) {
  absent("take_columns");
}

}  // namespace tpb::cuda
