// Token embedding on the GPU (formulas of src/kernels/cpu/embedding.h), vocab-parallel
// ready: rows of table hold ids [vocab_start, vocab_start + v_local); any other id (negative
// ones included: the host checks ids, a kernel cannot throw) gives a zero output row and no
// gradient. One block per token (grid-stride over tokens), threads along the C columns.
// The backward adds into the fp32 dtable with atomicAdd, since tokens repeat.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "device/cuda/cuda_context.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/dtype_dispatch.cuh"

namespace tpb::cuda {
namespace {

template <class T>
__global__ void embedding_forward_kernel(T* out, const int32_t* tokens, const T* table,
                                         int64_t n_tokens, int64_t v_local, int64_t c,
                                         int64_t vocab_start) {
  for (int64_t n = blockIdx.x; n < n_tokens; n += gridDim.x) {
    const int64_t row = static_cast<int64_t>(tokens[n]) - vocab_start;
    T* y = out + n * c;
    if (row >= 0 && row < v_local) {
      const T* src = table + row * c;
      for (int64_t i = threadIdx.x; i < c; i += blockDim.x) y[i] = src[i];
    } else {
      for (int64_t i = threadIdx.x; i < c; i += blockDim.x) y[i] = from_float<T>(0.0f);
    }
  }
}

template <class T>
__global__ void embedding_backward_kernel(float* dtable, const T* dout, const int32_t* tokens,
                                          int64_t n_tokens, int64_t v_local, int64_t c,
                                          int64_t vocab_start) {
  for (int64_t n = blockIdx.x; n < n_tokens; n += gridDim.x) {
    const int64_t row = static_cast<int64_t>(tokens[n]) - vocab_start;
    if (row < 0 || row >= v_local) continue;  // uniform over the block
    float* dst = dtable + row * c;
    const T* dy = dout + n * c;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) atomicAdd(dst + i, to_float(dy[i]));
  }
}

}  // namespace

void embedding_forward(void* out, const int32_t* tokens, const void* table, DType t,
                       int64_t n_tokens, int64_t v_local, int64_t c, int64_t vocab_start) {
  if (n_tokens <= 0 || c <= 0) return;
  dispatch_act(t, "embedding_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    embedding_forward_kernel<T><<<row_grid(n_tokens), row_threads(c), 0, compute_stream()>>>(
        static_cast<T*>(out), tokens, static_cast<const T*>(table), n_tokens, v_local, c,
        vocab_start);
    check_launch("embedding_forward");
  });
}

void embedding_backward(float* dtable, const void* dout, const int32_t* tokens, DType t,
                        int64_t n_tokens, int64_t v_local, int64_t c, int64_t vocab_start) {
  if (n_tokens <= 0 || c <= 0 || v_local <= 0) return;
  dispatch_act(t, "embedding_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    embedding_backward_kernel<T><<<row_grid(n_tokens), row_threads(c), 0, compute_stream()>>>(
        dtable, static_cast<const T*>(dout), tokens, n_tokens, v_local, c, vocab_start);
    check_launch("embedding_backward");
  });
}

}  // namespace tpb::cuda
