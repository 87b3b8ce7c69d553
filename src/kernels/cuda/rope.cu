// Rotary position embedding on the GPU (formulas of src/kernels/cpu/rope.h): interleaved
// pairs (x[2i], x[2i+1]) of each head rotated by angle = (pos_offset + t) * theta^(-2i/D),
// the angle and its cos/sin computed in double and rounded once to float, exactly as the
// CPU's table.
//
// A thread owns one (t, i) of the (T, D/2) angle table: it computes the cos/sin once and
// applies them to a chunk of (b, h) heads (blockIdx.y picks the chunk), so the double
// precision work is amortised over the chunk. Consecutive threads take consecutive pairs
// of a head: the loads and stores are coalesced. Each element is read and written by one
// thread, both of a pair read before either is written: out may alias inp.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "device/cuda/cuda_context.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/dtype_dispatch.cuh"

namespace tpb::cuda {
namespace {

constexpr unsigned kThreads = 256;
constexpr int64_t kMinHeadsPerThread = 8;
constexpr int64_t kMaxGridY = 65535;

// Forward: out = R(angle) inp (overwrite). Backward: out += R(-angle) inp.
template <class E, bool kBackward>
__global__ void rope_kernel(E* out, const E* inp, int64_t seq, int64_t H, int64_t D,
                            int64_t heads, int64_t heads_per_block, double theta,
                            int64_t pos_offset) {
  const int64_t half = D / 2;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       idx < seq * half; idx += stride) {
    const int64_t t = idx / half;
    const int64_t i = idx - t * half;
    // The CPU's rope_table, term for term.
    const double freq = pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(D));
    const double angle = static_cast<double>(pos_offset + t) * freq;
    const float c = static_cast<float>(cos(angle));
    const float s = kBackward ? -static_cast<float>(sin(angle)) : static_cast<float>(sin(angle));

    int64_t bh = static_cast<int64_t>(blockIdx.y) * heads_per_block;
    const int64_t bh_end = bh + heads_per_block < heads ? bh + heads_per_block : heads;
    int64_t b = bh / H;
    int64_t h = bh - b * H;
    for (; bh < bh_end; ++bh) {
      const int64_t base = ((b * seq + t) * H + h) * D + 2 * i;
      const float x0 = to_float(inp[base]);
      const float x1 = to_float(inp[base + 1]);
      const float y0 = x0 * c - x1 * s;
      const float y1 = x0 * s + x1 * c;
      if constexpr (kBackward) {
        out[base] = from_float<E>(to_float(out[base]) + y0);
        out[base + 1] = from_float<E>(to_float(out[base + 1]) + y1);
      } else {
        out[base] = from_float<E>(y0);
        out[base + 1] = from_float<E>(y1);
      }
      if (++h == H) {
        h = 0;
        ++b;
      }
    }
  }
}

template <bool kBackward>
void launch_rope(void* out, const void* inp, DType t, int64_t B, int64_t T, int64_t H,
                 int64_t D, float theta, int64_t pos_offset, const char* name) {
  const int64_t half = D / 2;
  const int64_t heads = B * H;
  if (T <= 0 || half <= 0 || heads <= 0) return;
  // Chunks of at least kMinHeadsPerThread heads, few enough for gridDim.y.
  int64_t per_block = (heads + kMaxGridY - 1) / kMaxGridY;
  if (per_block < kMinHeadsPerThread) per_block = kMinHeadsPerThread;
  const dim3 grid(blocks_for(T * half, kThreads),
                  static_cast<unsigned>((heads + per_block - 1) / per_block));
  dispatch_act(t, name, [&](auto tag) {
    using E = typename decltype(tag)::type;
    rope_kernel<E, kBackward><<<grid, kThreads, 0, compute_stream()>>>(
        static_cast<E*>(out), static_cast<const E*>(inp), T, H, D, heads, per_block,
        static_cast<double>(theta), pos_offset);
    check_launch(name);
  });
}

}  // namespace

void rope_forward(void* out, const void* inp, DType t, int64_t B, int64_t T, int64_t H,
                  int64_t D, float theta, int64_t pos_offset) {
  launch_rope<false>(out, inp, t, B, T, H, D, theta, pos_offset, "rope_forward");
}

void rope_backward(void* dinp, const void* dout, DType t, int64_t B, int64_t T, int64_t H,
                   int64_t D, float theta, int64_t pos_offset) {
  launch_rope<true>(dinp, dout, t, B, T, H, D, theta, pos_offset, "rope_backward");
}

}  // namespace tpb::cuda
