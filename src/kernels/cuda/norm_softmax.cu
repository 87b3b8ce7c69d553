// RMSNorm and row softmax on the GPU (formulas of src/kernels/cpu/rmsnorm.h and softmax.h).
// One block per row (grid-stride over the rows), fp32 reductions over the row, fp32 or bf16
// activations rounded once on store. RMSNorm's weight gradient is a separate deterministic
// column reduction (column_sums_kernel): no atomics anywhere.
//
// In place: every row kernel reads the whole row for its reductions before the block-wide
// barrier of the reduction, and afterwards each thread rewrites only elements it has just
// read itself, so out may alias inp (forward) as the CPU kernels allow.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "device/cuda/cuda_context.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/dtype_dispatch.cuh"

namespace tpb::cuda {
namespace {

// rstd[n] = 1 / sqrt(mean_c inp[n, c]^2 + eps);  out[n, c] = inp[n, c] * rstd[n] * weight[c]
template <class T>
__global__ void rmsnorm_forward_kernel(T* out, float* rstd, const T* inp, const T* weight,
                                       int64_t rows, int64_t c, float eps) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* x = inp + row * c;
    T* y = out + row * c;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) {
      const float v = to_float(x[i]);
      ss += v * v;
    }
    ss = block_sum(ss);
    const float ms = c > 0 ? ss / static_cast<float>(c) : 0.0f;
    const float r = 1.0f / sqrtf(ms + eps);  // IEEE sqrt and division, as std::sqrt
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x)
      y[i] = from_float<T>(to_float(x[i]) * r * to_float(weight[i]));
    if (threadIdx.x == 0) rstd[row] = r;
  }
}

// dinp[n, c] += rstd * dout * weight - rstd^3 / C * (sum_c' dout weight inp) * inp
template <class T>
__global__ void rmsnorm_backward_kernel(T* dinp, const T* dout, const T* inp, const T* weight,
                                        const float* rstd, int64_t rows, int64_t c) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* x = inp + row * c;
    const T* dy = dout + row * c;
    T* dx = dinp + row * c;
    float dot = 0.0f;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x)
      dot += to_float(dy[i]) * to_float(weight[i]) * to_float(x[i]);
    dot = block_sum(dot);
    const float r = rstd[row];
    const float coef = r * r * r * dot / static_cast<float>(c);
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) {
      const float g = r * to_float(dy[i]) * to_float(weight[i]) - coef * to_float(x[i]);
      dx[i] = from_float<T>(to_float(dx[i]) + g);
    }
  }
}

// out[n, :] = exp(inp[n, :] - max) / sum exp(inp[n, :] - max). The exponentials are
// recomputed in the last pass (nothing is written before it, for in-place calls).
template <class T>
__global__ void softmax_forward_kernel(T* out, const T* inp, int64_t rows, int64_t c) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* x = inp + row * c;
    T* y = out + row * c;
    float mx = -INFINITY;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) mx = fmaxf(mx, to_float(x[i]));
    mx = block_max(mx);
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) sum += expf(to_float(x[i]) - mx);
    sum = block_sum(sum);
    const float inv = 1.0f / sum;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x)
      y[i] = from_float<T>(expf(to_float(x[i]) - mx) * inv);
  }
}

// dinp[n, c] += out[n, c] * (dout[n, c] - sum_c' dout[n, c'] out[n, c'])
template <class T>
__global__ void softmax_backward_kernel(T* dinp, const T* dout, const T* out, int64_t rows,
                                        int64_t c) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* dy = dout + row * c;
    const T* y = out + row * c;
    T* dx = dinp + row * c;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) s += to_float(dy[i]) * to_float(y[i]);
    s = block_sum(s);
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) {
      const float yi = to_float(y[i]);
      dx[i] = from_float<T>(to_float(dx[i]) + yi * (to_float(dy[i]) - s));
    }
  }
}

}  // namespace

void rmsnorm_forward(void* out, float* rstd, const void* inp, const void* weight, DType t,
                     int64_t rows, int64_t c, float eps) {
  // c == 0 still writes rstd = 1 / sqrt(eps) for every row, as the CPU kernel does.
  if (rows <= 0 || c < 0) return;
  dispatch_act(t, "rmsnorm_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    rmsnorm_forward_kernel<T><<<row_grid(rows), row_threads(c), 0, compute_stream()>>>(
        static_cast<T*>(out), rstd, static_cast<const T*>(inp), static_cast<const T*>(weight),
        rows, c, eps);
    check_launch("rmsnorm_forward");
  });
}

void rmsnorm_backward(void* dinp, float* dweight, const void* dout, const void* inp,
                      const void* weight, const float* rstd, DType t, int64_t rows, int64_t c) {
  if (rows <= 0 || c <= 0) return;
  dispatch_act(t, "rmsnorm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    // dweight[c] += sum_n dout[n, c] * inp[n, c] * rstd[n], first: it reads dout and inp
    // before dinp is touched.
    launch_column_sums<T, true>(dweight, static_cast<const T*>(dout), static_cast<const T*>(inp),
                                rstd, rows, c, "rmsnorm_backward (dweight)");
    rmsnorm_backward_kernel<T><<<row_grid(rows), row_threads(c), 0, compute_stream()>>>(
        static_cast<T*>(dinp), static_cast<const T*>(dout), static_cast<const T*>(inp),
        static_cast<const T*>(weight), rstd, rows, c);
    check_launch("rmsnorm_backward (dinp)");
  });
}

void softmax_forward(void* out, const void* inp, DType t, int64_t rows, int64_t c) {
  if (rows <= 0 || c <= 0) return;
  dispatch_act(t, "softmax_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_forward_kernel<T><<<row_grid(rows), row_threads(c), 0, compute_stream()>>>(
        static_cast<T*>(out), static_cast<const T*>(inp), rows, c);
    check_launch("softmax_forward");
  });
}

void softmax_backward(void* dinp, const void* dout, const void* out, DType t, int64_t rows,
                      int64_t c) {
  if (rows <= 0 || c <= 0) return;
  dispatch_act(t, "softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_backward_kernel<T><<<row_grid(rows), row_threads(c), 0, compute_stream()>>>(
        static_cast<T*>(dinp), static_cast<const T*>(dout), static_cast<const T*>(out), rows, c);
    check_launch("softmax_backward");
  });
}

}  // namespace tpb::cuda
