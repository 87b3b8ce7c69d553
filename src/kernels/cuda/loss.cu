// Losses on the GPU (formulas of src/kernels/cpu/loss.h, vocab_ce.h and layout.h's
// sum_squares): whole-vocabulary and vocab-parallel cross-entropy on fp32 logits, mean
// squared error, and the sum of squares of a buffer.
//
// Cross-entropy: one block per row (grid-stride over the rows); the row max in fp32, the sum
// of exponentials accumulated in double as on the CPU (V may be large). A target outside
// [0, V) cannot throw here (the CPU kernels do): its loss is NaN, and the whole-vocabulary
// backward adds NaN to its row of dlogits, so the error shows instead of hiding.
//
// mse_forward and sum_squares reduce in double in two deterministic passes (per-block
// partial sums into a fixed scratch array of this file, then one block adds them in a fixed
// order), copy the sum to the host and synchronise the compute stream. The scratch is one
// per device: calls are assumed to come from one host thread, like everything queued on the
// one compute stream.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "device/cuda/cuda_context.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/dtype_dispatch.cuh"

namespace tpb::cuda {
namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kReduceBlocks = 1024;  // most blocks of the first reduction pass

__device__ double g_partials[kReduceBlocks];
__device__ double g_sum;


// ---- whole-vocabulary cross-entropy ----

// logsumexp of a row as the CPU computes it: max in float, sum_j exp(x[j] - max) of float
// exponentials in double, then max + float(log(sum)). Every thread of the block calls it
// and gets the result.
__device__ float row_logsumexp(const float* x, int64_t v) {
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < v; j += blockDim.x) mx = fmaxf(mx, x[j]);
  mx = block_max(mx);
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < v; j += blockDim.x)
    sum += static_cast<double>(expf(x[j] - mx));
  sum = block_sum(sum);
  return mx + static_cast<float>(log(sum));
}

__global__ void cross_entropy_forward_kernel(float* losses, const float* logits,
                                             const int32_t* targets, int64_t rows, int64_t v) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* x = logits + row * v;
    const float lse = row_logsumexp(x, v);
    if (threadIdx.x == 0) {
      const int64_t tgt = targets[row];
      losses[row] = (tgt >= 0 && tgt < v) ? lse - x[tgt] : NAN;
    }
  }
}

// dlogits[n, j] += dlosses[n] * (exp(logits[n, j] - lse) - [j == target])
__global__ void cross_entropy_backward_kernel(float* dlogits, const float* dlosses,
                                              const float* logits, const int32_t* targets,
                                              int64_t rows, int64_t v) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* x = logits + row * v;
    float* dx = dlogits + row * v;
    const float lse = row_logsumexp(x, v);
    const int64_t tgt = targets[row];
    const float g = (tgt >= 0 && tgt < v) ? dlosses[row] : NAN;
    for (int64_t j = threadIdx.x; j < v; j += blockDim.x) {
      float d = dx[j] + g * expf(x[j] - lse);
      if (j == tgt) d -= g;
      dx[j] = d;
    }
  }
}

// ---- vocab-parallel cross-entropy, in steps ----

__global__ void ce_row_max_kernel(float* row_max, const float* logits, int64_t rows,
                                  int64_t v) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* x = logits + row * v;
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < v; j += blockDim.x) mx = fmaxf(mx, x[j]);
    mx = block_max(mx);
    if (threadIdx.x == 0) row_max[row] = mx;
  }
}

__global__ void ce_sum_exp_target_kernel(float* stats, const float* logits,
                                         const float* row_max, const int32_t* targets,
                                         int64_t rows, int64_t v, int64_t vocab_start) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* x = logits + row * v;
    const float mx = row_max[row];
    double sum = 0.0;
    for (int64_t j = threadIdx.x; j < v; j += blockDim.x)
      sum += static_cast<double>(expf(x[j] - mx));
    sum = block_sum(sum);
    if (threadIdx.x == 0) {
      stats[row] = static_cast<float>(sum);
      const int64_t local = static_cast<int64_t>(targets[row]) - vocab_start;
      stats[rows + row] = (local >= 0 && local < v) ? x[local] : 0.0f;
    }
  }
}

__global__ void ce_losses_kernel(float* losses, const float* stats, const float* row_max,
                                 int64_t rows) {
  for (int64_t n = first_index(); n < rows; n += grid_stride())
    losses[n] = static_cast<float>(log(static_cast<double>(stats[n])) +
                                   static_cast<double>(row_max[n]) -
                                   static_cast<double>(stats[rows + n]));
}

// dlogits[n, j] = exp(logits[n, j] - row_max[n]) * (scale / stats[n]) - scale [j == target]
template <class T>
__global__ void ce_backward_kernel(T* dlogits, const float* logits, const float* row_max,
                                   const float* stats, const int32_t* targets, int64_t rows,
                                   int64_t v, int64_t vocab_start, float scale) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* x = logits + row * v;
    T* dx = dlogits + row * v;
    const float inv = scale / stats[row];
    const float mx = row_max[row];
    const int64_t local = static_cast<int64_t>(targets[row]) - vocab_start;
    for (int64_t j = threadIdx.x; j < v; j += blockDim.x) {
      float d = expf(x[j] - mx) * inv;
      if (j == local) d -= scale;
      dx[j] = from_float<T>(d);
    }
  }
}

// ---- double reductions: mse, sum of squares ----

// g_partials[block] = this block's share of sum_i (a[i] - b[i])^2 (b given) or a[i]^2
// (b null), each term formed in double.
__global__ void sum_squares_pass1_kernel(const float* a, const float* b, int64_t n) {
  double s = 0.0;
  if (b != nullptr) {
    for (int64_t i = first_index(); i < n; i += grid_stride()) {
      const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
      s += d * d;
    }
  } else {
    for (int64_t i = first_index(); i < n; i += grid_stride()) {
      const double x = static_cast<double>(a[i]);
      s += x * x;
    }
  }
  s = block_sum(s);
  if (threadIdx.x == 0) g_partials[blockIdx.x] = s;
}

// g_sum = g_partials[0] + ... + g_partials[parts - 1]; one block of kReduceBlocks threads.
__global__ void sum_squares_pass2_kernel(unsigned parts) {
  double s = threadIdx.x < parts ? g_partials[threadIdx.x] : 0.0;
  s = block_sum(s);
  if (threadIdx.x == 0) g_sum = s;
}

// The double sum of squares (of a - b, or of a), on the host; synchronises. n > 0.
double reduce_squares(const float* a, const float* b, int64_t n, const char* name) {
  cudaStream_t stream = compute_stream();
  unsigned parts = blocks_for(n, kThreads);
  if (parts > kReduceBlocks) parts = kReduceBlocks;
  sum_squares_pass1_kernel<<<parts, kThreads, 0, stream>>>(a, b, n);
  check_launch(name);
  sum_squares_pass2_kernel<<<1, kReduceBlocks, 0, stream>>>(parts);
  check_launch(name);
  double result = 0.0;
  check(cudaMemcpyFromSymbolAsync(&result, g_sum, sizeof(double), 0, cudaMemcpyDeviceToHost,
                                  stream),
        name);
  check(cudaStreamSynchronize(stream), name);
  return result;
}

// dpred[i] += coef * (pred[i] - target[i])
__global__ void mse_backward_kernel(float* dpred, const float* pred, const float* target,
                                    int64_t n, float coef) {
  for (int64_t i = first_index(); i < n; i += grid_stride())
    dpred[i] += coef * (pred[i] - target[i]);
}

}  // namespace

void cross_entropy_forward(float* losses, const float* logits, const int32_t* targets,
                           int64_t rows, int64_t v) {
  if (rows <= 0) return;
  cross_entropy_forward_kernel<<<row_grid(rows), row_threads(v), 0, compute_stream()>>>(
      losses, logits, targets, rows, v);
  check_launch("cross_entropy_forward");
}

void cross_entropy_backward(float* dlogits, const float* dlosses, const float* logits,
                            const int32_t* targets, int64_t rows, int64_t v) {
  if (rows <= 0 || v <= 0) return;
  cross_entropy_backward_kernel<<<row_grid(rows), row_threads(v), 0, compute_stream()>>>(
      dlogits, dlosses, logits, targets, rows, v);
  check_launch("cross_entropy_backward");
}

void ce_row_max(float* row_max, const float* logits, int64_t rows, int64_t v) {
  if (rows <= 0) return;
  ce_row_max_kernel<<<row_grid(rows), row_threads(v), 0, compute_stream()>>>(row_max, logits,
                                                                            rows, v);
  check_launch("ce_row_max");
}

void ce_sum_exp_target(float* stats, const float* logits, const float* row_max,
                       const int32_t* targets, int64_t rows, int64_t v, int64_t vocab_start) {
  if (rows <= 0) return;
  ce_sum_exp_target_kernel<<<row_grid(rows), row_threads(v), 0, compute_stream()>>>(
      stats, logits, row_max, targets, rows, v, vocab_start);
  check_launch("ce_sum_exp_target");
}

void ce_losses(float* losses, const float* stats, const float* row_max, int64_t rows) {
  if (rows <= 0) return;
  ce_losses_kernel<<<blocks_for(rows, kThreads), kThreads, 0, compute_stream()>>>(
      losses, stats, row_max, rows);
  check_launch("ce_losses");
}

void ce_backward(void* dlogits, DType t, const float* logits, const float* row_max,
                 const float* stats, const int32_t* targets, int64_t rows, int64_t v,
                 int64_t vocab_start, float scale) {
  if (rows <= 0 || v <= 0) return;
  dispatch_act(t, "ce_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    ce_backward_kernel<T><<<row_grid(rows), row_threads(v), 0, compute_stream()>>>(
        static_cast<T*>(dlogits), logits, row_max, stats, targets, rows, v, vocab_start, scale);
    check_launch("ce_backward");
  });
}

double mse_forward(const float* pred, const float* target, int64_t n) {
  // The mean of no elements (the CPU kernel refuses n == 0; the entry point checks).
  if (n <= 0) return std::numeric_limits<double>::quiet_NaN();
  return reduce_squares(pred, target, n, "mse_forward") / static_cast<double>(n);
}

void mse_backward(float* dpred, const float* pred, const float* target, int64_t n, float dloss) {
  if (n <= 0) return;
  const float coef = 2.0f * dloss / static_cast<float>(n);  // as the CPU kernel
  mse_backward_kernel<<<blocks_for(n, kThreads), kThreads, 0, compute_stream()>>>(
      dpred, pred, target, n, coef);
  check_launch("mse_backward");
}

double sum_squares(const float* x, int64_t n) {
  if (n <= 0) return 0.0;
  return reduce_squares(x, nullptr, n, "sum_squares");
}

}  // namespace tpb::cuda
