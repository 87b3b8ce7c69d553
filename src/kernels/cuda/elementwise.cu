// Element-wise kernels on the GPU (formulas of src/kernels/cpu/elementwise.h and layout.h):
// bias add, SiLU, SwiGLU, residual add, type casts, scaling, and the two re-layouts of
// tensor-parallel gathers. fp32 or bf16 activations, computed in fp32, rounded once on
// store. Element-wise kernels are grid-stride loops over int64_t indices, so any n works
// with the grid of blocks_for(n).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "device/cuda/cuda_context.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/dtype_dispatch.cuh"

namespace tpb::cuda {
namespace {

constexpr unsigned kThreads = 256;


// Accurate expf (no fast math), as the CPU's fast_exp is accurate to 3e-7.
__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// out[r, j] += bias[j]: threads along the columns, blocks along the rows (grid-stride).
template <class T>
__global__ void bias_add_forward_kernel(T* out, const T* bias, int64_t rows, int64_t c) {
  const int64_t col = first_index();
  if (col >= c) return;
  const float b = to_float(bias[col]);
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t i = r * c + col;
    out[i] = from_float<T>(to_float(out[i]) + b);
  }
}

template <class T>
__global__ void silu_forward_kernel(T* out, const T* inp, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const float x = to_float(inp[i]);
    out[i] = from_float<T>(x * sigmoid(x));
  }
}

template <class T>
__global__ void silu_backward_kernel(T* dinp, const T* dout, const T* inp, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const float x = to_float(inp[i]);
    const float s = sigmoid(x);
    dinp[i] = from_float<T>(to_float(dinp[i]) + to_float(dout[i]) * s * (1.0f + x * (1.0f - s)));
  }
}

template <class T>
__global__ void swiglu_forward_kernel(T* out, const T* gate, const T* up, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const float g = to_float(gate[i]);
    out[i] = from_float<T>(g * sigmoid(g) * to_float(up[i]));
  }
}

template <class T>
__global__ void swiglu_backward_kernel(T* dgate, T* dup, const T* dout, const T* gate,
                                       const T* up, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const float g = to_float(gate[i]);
    const float s = sigmoid(g);
    const float dy = to_float(dout[i]);
    const float u = to_float(up[i]);
    // Every input of element i is read before either output is written.
    const float dg = to_float(dgate[i]) + dy * u * s * (1.0f + g * (1.0f - s));
    const float du = to_float(dup[i]) + dy * g * s;
    dgate[i] = from_float<T>(dg);
    dup[i] = from_float<T>(du);
  }
}

template <class T>
__global__ void add_forward_kernel(T* out, const T* a, const T* b, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride())
    out[i] = from_float<T>(to_float(a[i]) + to_float(b[i]));
}

template <class Out, class In>
__global__ void cast_kernel(Out* out, const In* in, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride())
    out[i] = from_float<Out>(to_float(in[i]));
}

__global__ void scale_kernel(float* x, int64_t n, float s) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) x[i] *= s;
}

// Strided 2-D device-to-device copy of `height` rows of `width` bytes, on the compute
// stream.
void copy_2d(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
             size_t height, const char* what) {
  check(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, cudaMemcpyDeviceToDevice,
                          compute_stream()),
        what);
}

}  // namespace

void bias_add_forward(void* out, const void* bias, DType t, int64_t rows, int64_t c) {
  if (rows <= 0 || c <= 0) return;
  dispatch_act(t, "bias_add_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const unsigned threads = c < kThreads ? static_cast<unsigned>((c + 31) / 32 * 32) : kThreads;
    const dim3 grid(blocks_for(c, threads), static_cast<unsigned>(rows < 65535 ? rows : 65535));
    bias_add_forward_kernel<T><<<grid, threads, 0, compute_stream()>>>(
        static_cast<T*>(out), static_cast<const T*>(bias), rows, c);
    check_launch("bias_add_forward");
  });
}

void bias_add_backward(float* dbias, const void* dout, DType t, int64_t rows, int64_t c) {
  if (rows <= 0 || c <= 0) return;
  dispatch_act(t, "bias_add_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_column_sums<T, false>(dbias, static_cast<const T*>(dout), nullptr, nullptr, rows, c,
                                 "bias_add_backward");
  });
}

void silu_forward(void* out, const void* inp, DType t, int64_t n) {
  if (n <= 0) return;
  dispatch_act(t, "silu_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    silu_forward_kernel<T><<<blocks_for(n), kThreads, 0, compute_stream()>>>(
        static_cast<T*>(out), static_cast<const T*>(inp), n);
    check_launch("silu_forward");
  });
}

void silu_backward(void* dinp, const void* dout, const void* inp, DType t, int64_t n) {
  if (n <= 0) return;
  dispatch_act(t, "silu_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    silu_backward_kernel<T><<<blocks_for(n), kThreads, 0, compute_stream()>>>(
        static_cast<T*>(dinp), static_cast<const T*>(dout), static_cast<const T*>(inp), n);
    check_launch("silu_backward");
  });
}

void swiglu_forward(void* out, const void* gate, const void* up, DType t, int64_t n) {
  if (n <= 0) return;
  dispatch_act(t, "swiglu_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    swiglu_forward_kernel<T><<<blocks_for(n), kThreads, 0, compute_stream()>>>(
        static_cast<T*>(out), static_cast<const T*>(gate), static_cast<const T*>(up), n);
    check_launch("swiglu_forward");
  });
}

void swiglu_backward(void* dgate, void* dup, const void* dout, const void* gate,
                     const void* up, DType t, int64_t n) {
  if (n <= 0) return;
  dispatch_act(t, "swiglu_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    swiglu_backward_kernel<T><<<blocks_for(n), kThreads, 0, compute_stream()>>>(
        static_cast<T*>(dgate), static_cast<T*>(dup), static_cast<const T*>(dout),
        static_cast<const T*>(gate), static_cast<const T*>(up), n);
    check_launch("swiglu_backward");
  });
}

void add_forward(void* out, const void* a, const void* b, DType t, int64_t n) {
  if (n <= 0) return;
  dispatch_act(t, "add_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    add_forward_kernel<T><<<blocks_for(n), kThreads, 0, compute_stream()>>>(
        static_cast<T*>(out), static_cast<const T*>(a), static_cast<const T*>(b), n);
    check_launch("add_forward");
  });
}

void cast(void* out, DType out_t, const void* in, DType in_t, int64_t n) {
  if (n <= 0) return;
  if (out_t == in_t) {
    // A plain copy (any element type); nothing to do in place.
    if (out != in)
      check(cudaMemcpyAsync(out, in, static_cast<size_t>(n) * dtype_size(in_t),
                            cudaMemcpyDeviceToDevice, compute_stream()),
            "cast (copy)");
    return;
  }
  dispatch_act(out_t, "cast", [&](auto out_tag) {
    using Out = typename decltype(out_tag)::type;
    dispatch_act(in_t, "cast", [&](auto in_tag) {
      using In = typename decltype(in_tag)::type;
      cast_kernel<Out, In><<<blocks_for(n), kThreads, 0, compute_stream()>>>(
          static_cast<Out*>(out), static_cast<const In*>(in), n);
      check_launch("cast");
    });
  });
}

void scale(float* x, int64_t n, float s) {
  if (n <= 0) return;
  scale_kernel<<<blocks_for(n), kThreads, 0, compute_stream()>>>(x, n, s);
  check_launch("scale");
}

void interleave_blocks(void* out, const void* staging, const int64_t* widths, int n_ranks,
                       int64_t rows, DType t) {
  if (rows <= 0 || n_ranks <= 0) return;
  const size_t es = dtype_size(t);
  int64_t total = 0;
  for (int r = 0; r < n_ranks; ++r) total += widths[r];
  // Rank r's block is (rows, widths[r]) at element rows * (widths[0] + ... + widths[r-1]) of
  // staging; it goes to columns [col, col + widths[r]) of out (rows, total).
  int64_t col = 0;
  for (int r = 0; r < n_ranks; ++r) {
    const int64_t w = widths[r];
    if (w > 0)
      copy_2d(static_cast<char*>(out) + static_cast<size_t>(col) * es,
              static_cast<size_t>(total) * es,
              static_cast<const char*>(staging) + static_cast<size_t>(rows * col) * es,
              static_cast<size_t>(w) * es, static_cast<size_t>(w) * es,
              static_cast<size_t>(rows), "interleave_blocks");
    col += w;
  }
}

void take_columns(void* out, const void* full, int64_t rows, int64_t total, int64_t offset,
                  int64_t width, DType t) {
  if (rows <= 0 || width <= 0) return;
  const size_t es = dtype_size(t);
  copy_2d(out, static_cast<size_t>(width) * es,
          static_cast<const char*>(full) + static_cast<size_t>(offset) * es,
          static_cast<size_t>(total) * es, static_cast<size_t>(width) * es,
          static_cast<size_t>(rows), "take_columns");
}

}  // namespace tpb::cuda
