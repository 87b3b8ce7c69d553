// Shared by the CUDA kernel files of src/kernels/cuda: the activation-type dispatch (fp32 or
// bf16), fp32 load/store conversions, and warp/block reductions. Device code and host
// launch helpers only; no fmt, no tpbench headers beyond the plain ones (nvcc compiles it).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "base/dtype.h"
#include "device/cuda/cuda_context.h"

namespace tpb::cuda {

// The element type a dispatched lambda receives: `using T = typename decltype(tag)::type;`.
template <class T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<float>{}) for fp32 or f(TypeTag<__nv_bfloat16>{}) for bf16; any other
// type is refused through check() (which throws "... in <op>: activation type must be fp32
// or bf16").
template <class F>
void dispatch_act(DType t, const char* op, F&& f) {
  if (t == DType::f32) {
    f(TypeTag<float>{});
  } else if (t == DType::bf16) {
    f(TypeTag<__nv_bfloat16>{});
  } else {
    const std::string what = std::string(op) + ": activation type must be fp32 or bf16";
    check(cudaErrorInvalidValue, what.c_str());
  }
}

// fp32 view of an element, and an fp32 value stored as T (bf16: round to nearest even).
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <class T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

// Grid-stride loops over int64_t indices: for (i = first_index(); i < n; i += grid_stride()).
__device__ __forceinline__ int64_t first_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// Grid of one block per row (the row kernels loop with a stride of gridDim.x beyond it).
inline unsigned row_grid(int64_t rows) {
  return static_cast<unsigned>(rows < 65535LL * 32 ? rows : 65535LL * 32);
}

// Threads per block for a kernel with one block per row of c elements: about 4 elements per
// thread, a multiple of 32 in [32, 512] (the block reductions below need a multiple of 32).
inline unsigned row_threads(int64_t c) {
  int64_t t = (c + 3) / 4;
  t = (t + 31) / 32 * 32;
  return static_cast<unsigned>(t < 32 ? 32 : (t > 512 ? 512 : t));
}

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum (float or double) of v over the block; every thread gets the result. blockDim.x must
// be a multiple of 32 (at most 1024), blockDim.y == blockDim.z == 1, and every thread of
// the block must call it (it holds __syncthreads). Deterministic: a fixed tree for a given
// blockDim.x.
template <class T>
__device__ T block_sum(T v) {
  __shared__ T partial[32];
  __shared__ T result;
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < (blockDim.x >> 5) ? partial[lane] : T(0);
    w = warp_sum(w);
    if (lane == 0) result = w;
  }
  __syncthreads();
  const T r = result;
  __syncthreads();  // before a following call may overwrite partial and result
  return r;
}

// Maximum of v over the block; same rules as block_sum. -inf for no elements.
__device__ __forceinline__ float block_max(float v) {
  __shared__ float partial[32];
  __shared__ float result;
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  v = warp_max(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float w = lane < (blockDim.x >> 5) ? partial[lane] : -INFINITY;
    w = warp_max(w);
    if (lane == 0) result = w;
  }
  __syncthreads();
  const float r = result;
  __syncthreads();
  return r;
}

// Column sums of a (rows, c) matrix, deterministic (no atomics): acc[j] += sum_r a[r, j], or
// with kScaled, acc[j] += sum_r a[r, j] * b[r, j] * rs[r] (RMSNorm's weight gradient). A
// block of 32 x 32 threads owns 32 columns: thread (x, y) sums rows y, y + 32, ... of column
// x (a warp reads 32 consecutive elements of one row), then row y = 0 adds the 32 partial
// sums in a fixed order and adds the total to acc.
inline constexpr int kColTile = 32;
inline constexpr int kRowLanes = 32;

template <class T, bool kScaled>
__global__ void __launch_bounds__(kColTile * kRowLanes)
    column_sums_kernel(float* acc, const T* a, const T* b, const float* rs, int64_t rows,
                       int64_t c) {
  __shared__ float part[kRowLanes][kColTile + 1];
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  float s = 0.0f;
  if (col < c) {
    for (int64_t r = threadIdx.y; r < rows; r += kRowLanes) {
      const int64_t i = r * c + col;
      if constexpr (kScaled)
        s += to_float(a[i]) * to_float(b[i]) * rs[r];
      else
        s += to_float(a[i]);
    }
  }
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && col < c) {
    float total = 0.0f;
    for (int y = 0; y < kRowLanes; ++y) total += part[y][threadIdx.x];
    acc[col] += total;
  }
}

// Launches column_sums_kernel on the compute stream; rows > 0 and c > 0.
template <class T, bool kScaled>
void launch_column_sums(float* acc, const T* a, const T* b, const float* rs, int64_t rows,
                        int64_t c, const char* name) {
  const dim3 block(kColTile, kRowLanes);
  const dim3 grid(static_cast<unsigned>((c + kColTile - 1) / kColTile));
  column_sums_kernel<T, kScaled><<<grid, block, 0, compute_stream()>>>(acc, a, b, rs, rows, c);
  check_launch(name);
}

}  // namespace tpb::cuda
