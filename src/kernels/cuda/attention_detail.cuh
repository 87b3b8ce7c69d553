// Kernels of src/kernels/cuda/attention.cu (the launchers are there): causal grouped-query
// attention with the formulas of src/kernels/cpu/attention.h, computed in tiles as in flash
// attention 2, so no (T, T) matrix is ever stored. fp32 or bf16 activations (E); every
// product, exponential and sum in fp32; bf16 is rounded once on store.
//
// Each kernel holds a tile of "own" rows in registers (query rows in forward and dq, key
// rows in dk/dv) and loops over 32-row tiles of the other side staged in shared memory. A
// warp owns R own rows; lane l takes row l of the 32-row tile for the dot products (scores
// and dout . v), and dimensions d = l, l + 32, ... (NCH of them, D <= 32 NCH) for the vector
// accumulators (out, dq, dk, dv), receiving p or ds of row j from lane j by __shfl_sync.
//
//   forward:  block (8 R query rows, head, batch); online softmax over the key tiles
//             0 .. the block's last row; writes out and lse = m + log(l).
//   dq:       block (8 R query rows, head, batch), the same loop; p = exp(s - lse),
//             D_t = dout_t . out_t (also written to dsum for the next kernel),
//             dq_t += scale sum_j p_tj (dout_t . v_j - D_t) k_j.
//   dk, dv:   block (8 R key rows, kv head, batch); loops over the group's query heads and
//             the query tiles from the block's first key to T: dv_j += sum_t p_tj dout_t,
//             dk_j += scale sum_t ds_tj q_t; then one read-add-write per element.
// Every output element is owned by one thread: no atomics, deterministic results.
//
// Masking: a score is used only when key <= query < T. Tiles are zero-filled past T, so
// masked products multiply zeros, never stale shared memory.
#pragma once

#include <cuda_bf16.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace tpb::cuda::attention_detail {

constexpr int kWarps = 8;              // warps per block
constexpr int kThreads = kWarps * 32;  // threads per block
constexpr int kTile = 32;              // rows of the looped-over tile (one per lane)
constexpr int kMaxD = 256;
constexpr unsigned kFull = 0xffffffffu;
// Every kernel is __launch_bounds__(kThreads, kMinBlocks): the 2 caps registers at 128 per
// thread, which they fit in; with no minimum, ptxas traded registers for spills.
constexpr int kMinBlocks = 2;

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __nv_bfloat16* p, int64_t i) {
  return __bfloat162float(p[i]);
}
__device__ __forceinline__ void store(float* p, int64_t i, float x) { p[i] = x; }
__device__ __forceinline__ void store(__nv_bfloat16* p, int64_t i, float x) {
  p[i] = __float2bfloat16_rn(x);
}

__device__ __forceinline__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(kFull, x, o));
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(kFull, x, o);
  return x;
}

// Element (b, t, head, d) of a (B, T, H, D) tensor.
__device__ __forceinline__ int64_t index4(int b, int t, int head, int d, int T, int H, int D) {
  return ((static_cast<int64_t>(b) * T + t) * H + head) * static_cast<int64_t>(D) + d;
}

// rows x D of a (B, T, H, D) tensor starting at row t0, into dst with row stride ld
// (D or D + 1); rows past T are zeros. Called by the whole block.
template <typename E>
__device__ void load_tile(float* dst, int ld, const E* src, int b, int t0, int rows, int head,
                          int T, int H, int D) {
  for (int i = threadIdx.x; i < rows * D; i += blockDim.x) {
    const int r = i / D, d = i - r * D, t = t0 + r;
    dst[r * ld + d] = t < T ? load(src, index4(b, t, head, d, T, H, D)) : 0.0f;
  }
}

// ---------------------------------------------------------------------------------------
// Forward. Shared memory: Q (BR x D), K (32 x (D+1)), V (32 x D), fp32.
// NCH = dimensions per lane (D <= 32 * NCH), R = query rows per warp.
template <typename E, int NCH, int R>
__global__ void __launch_bounds__(kThreads, kMinBlocks)
    attention_forward_kernel(E* __restrict__ out, float* __restrict__ lse,
                             const E* __restrict__ q, const E* __restrict__ k,
                             const E* __restrict__ v, int T, int NH, int NKV, int D,
                             float scale) {
  constexpr int BR = kWarps * R;
  extern __shared__ float smem[];
  float* Qs = smem;
  float* Ks = Qs + BR * D;
  float* Vs = Ks + kTile * (D + 1);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int q0 = blockIdx.x * BR, h = blockIdx.y, b = blockIdx.z;
  const int kvh = h / (NH / NKV);

  load_tile(Qs, D, q, b, q0, BR, h, T, NH, D);

  float m[R], l[R], acc[R][NCH];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < NCH; ++c) acc[r][c] = 0.0f;
  }

  const int kend = min(T, q0 + BR);  // keys 0 .. kend - 1 are seen by some row of the block
  for (int k0 = 0; k0 < kend; k0 += kTile) {
    __syncthreads();  // the previous tile is no longer read (and Q is loaded)
    load_tile(Ks, D + 1, k, b, k0, kTile, kvh, T, NKV, D);
    load_tile(Vs, D, v, b, k0, kTile, kvh, T, NKV, D);
    __syncthreads();

    // s[r] = q_row . k_(k0 + lane)
    float s[R];
#pragma unroll
    for (int r = 0; r < R; ++r) s[r] = 0.0f;
    const float* krow = Ks + lane * (D + 1);
    for (int d = 0; d < D; ++d) {
      const float kd = krow[d];
#pragma unroll
      for (int r = 0; r < R; ++r) s[r] += Qs[(warp * R + r) * D + d] * kd;
    }

    const int key = k0 + lane;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int t = q0 + warp * R + r;
      const bool valid = key <= t && key < T;
      const float sv = valid ? s[r] * scale : -INFINITY;
      // Key 0 is in the first tile and valid for every row, so m_new is finite from the
      // first tile on: no (-inf) - (-inf).
      const float m_new = fmaxf(m[r], warp_max(sv));
      const float p = expf(sv - m_new);       // 0 for masked keys
      const float corr = expf(m[r] - m_new);  // 0 on the first tile
      l[r] = l[r] * corr + warp_sum(p);
      m[r] = m_new;
#pragma unroll
      for (int c = 0; c < NCH; ++c) acc[r][c] *= corr;
      s[r] = p;
    }

    // acc[r] += sum_j p_j v_(k0 + j)
    for (int j = 0; j < kTile; ++j) {
      float pj[R];
#pragma unroll
      for (int r = 0; r < R; ++r) pj[r] = __shfl_sync(kFull, s[r], j);
      const float* vrow = Vs + j * D;
#pragma unroll
      for (int c = 0; c < NCH; ++c) {
        const int d = lane + 32 * c;
        if (d < D) {
          const float vd = vrow[d];
#pragma unroll
          for (int r = 0; r < R; ++r) acc[r][c] += pj[r] * vd;
        }
      }
    }
  }

#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int t = q0 + warp * R + r;
    if (t < T) {
      const float inv = 1.0f / l[r];
#pragma unroll
      for (int c = 0; c < NCH; ++c) {
        const int d = lane + 32 * c;
        if (d < D) store(out, index4(b, t, h, d, T, NH, D), acc[r][c] * inv);
      }
      if (lane == 0) lse[(static_cast<int64_t>(b) * NH + h) * T + t] = m[r] + logf(l[r]);
    }
  }
}

// ---------------------------------------------------------------------------------------
// dq (and D_t = dout_t . out_t into dsum, (B, NH, T)). Shared memory: Q, dO (BR x D),
// K, V (32 x (D+1)).
template <typename E, int NCH, int R>
__global__ void __launch_bounds__(kThreads, kMinBlocks)
    attention_dq_kernel(E* __restrict__ dq, float* __restrict__ dsum, const E* __restrict__ dout,
                        const E* __restrict__ q, const E* __restrict__ k,
                        const E* __restrict__ v, const E* __restrict__ out,
                        const float* __restrict__ lse, int T, int NH, int NKV, int D,
                        float scale) {
  constexpr int BR = kWarps * R;
  extern __shared__ float smem[];
  float* Qs = smem;
  float* dOs = Qs + BR * D;
  float* Ks = dOs + BR * D;
  float* Vs = Ks + kTile * (D + 1);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int q0 = blockIdx.x * BR, h = blockIdx.y, b = blockIdx.z;
  const int kvh = h / (NH / NKV);

  load_tile(Qs, D, q, b, q0, BR, h, T, NH, D);
  load_tile(dOs, D, dout, b, q0, BR, h, T, NH, D);
  __syncthreads();

  // Per row: lse_t and D_t = dout_t . out_t (0 for rows past T, which are masked anyway).
  float row_lse[R], row_D[R], acc[R][NCH];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int t = q0 + warp * R + r;
    float part = 0.0f;
    if (t < T)
      for (int d = lane; d < D; d += 32)
        part += dOs[(warp * R + r) * D + d] * load(out, index4(b, t, h, d, T, NH, D));
    row_D[r] = warp_sum(part);
    row_lse[r] = 0.0f;
    if (t < T) {
      const int64_t i = (static_cast<int64_t>(b) * NH + h) * T + t;
      row_lse[r] = lse[i];
      if (lane == 0) dsum[i] = row_D[r];
    }
#pragma unroll
    for (int c = 0; c < NCH; ++c) acc[r][c] = 0.0f;
  }

  const int kend = min(T, q0 + BR);
  for (int k0 = 0; k0 < kend; k0 += kTile) {
    __syncthreads();
    load_tile(Ks, D + 1, k, b, k0, kTile, kvh, T, NKV, D);
    load_tile(Vs, D + 1, v, b, k0, kTile, kvh, T, NKV, D);
    __syncthreads();

    // s[r] = q_row . k_(k0 + lane), dp[r] = dout_row . v_(k0 + lane)
    float s[R], dp[R];
#pragma unroll
    for (int r = 0; r < R; ++r) s[r] = dp[r] = 0.0f;
    const float* krow = Ks + lane * (D + 1);
    const float* vrow = Vs + lane * (D + 1);
    for (int d = 0; d < D; ++d) {
      const float kd = krow[d], vd = vrow[d];
#pragma unroll
      for (int r = 0; r < R; ++r) {
        s[r] += Qs[(warp * R + r) * D + d] * kd;
        dp[r] += dOs[(warp * R + r) * D + d] * vd;
      }
    }

    const int key = k0 + lane;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int t = q0 + warp * R + r;
      const bool valid = key <= t && t < T;
      const float p = valid ? expf(s[r] * scale - row_lse[r]) : 0.0f;
      s[r] = p * (dp[r] - row_D[r]);  // ds
    }

    // acc[r] += sum_j ds_j k_(k0 + j)
    for (int j = 0; j < kTile; ++j) {
      float dsj[R];
#pragma unroll
      for (int r = 0; r < R; ++r) dsj[r] = __shfl_sync(kFull, s[r], j);
      const float* kj = Ks + j * (D + 1);
#pragma unroll
      for (int c = 0; c < NCH; ++c) {
        const int d = lane + 32 * c;
        if (d < D) {
          const float kd = kj[d];
#pragma unroll
          for (int r = 0; r < R; ++r) acc[r][c] += dsj[r] * kd;
        }
      }
    }
  }

#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int t = q0 + warp * R + r;
    if (t < T) {
#pragma unroll
      for (int c = 0; c < NCH; ++c) {
        const int d = lane + 32 * c;
        if (d < D) {
          const int64_t i = index4(b, t, h, d, T, NH, D);
          store(dq, i, load(dq, i) + scale * acc[r][c]);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// dk, dv. Shared memory: K, V (BK x D), Q, dO (32 x (D+1)), lse and D_t of the query tile.
template <typename E, int NCH, int R>
__global__ void __launch_bounds__(kThreads, kMinBlocks)
    attention_dkdv_kernel(E* __restrict__ dk, E* __restrict__ dv, const E* __restrict__ dout,
                          const E* __restrict__ q, const E* __restrict__ k,
                          const E* __restrict__ v, const float* __restrict__ lse,
                          const float* __restrict__ dsum, int T, int NH, int NKV, int D,
                          float scale) {
  constexpr int BK = kWarps * R;
  extern __shared__ float smem[];
  float* Ks = smem;
  float* Vs = Ks + BK * D;
  float* Qs = Vs + BK * D;
  float* dOs = Qs + kTile * (D + 1);
  float* lse_s = dOs + kTile * (D + 1);
  float* D_s = lse_s + kTile;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int k0 = blockIdx.x * BK, kvh = blockIdx.y, b = blockIdx.z;
  const int group = NH / NKV;

  load_tile(Ks, D, k, b, k0, BK, kvh, T, NKV, D);
  load_tile(Vs, D, v, b, k0, BK, kvh, T, NKV, D);

  float dk_acc[R][NCH], dv_acc[R][NCH];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < NCH; ++c) dk_acc[r][c] = dv_acc[r][c] = 0.0f;

  for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
    // Queries before k0 see none of this block's keys (causal).
    for (int q0 = k0; q0 < T; q0 += kTile) {
      __syncthreads();  // the previous tile is no longer read (and K, V are loaded)
      load_tile(Qs, D + 1, q, b, q0, kTile, h, T, NH, D);
      load_tile(dOs, D + 1, dout, b, q0, kTile, h, T, NH, D);
      if (threadIdx.x < kTile) {
        const int t = q0 + threadIdx.x;
        const int64_t i = (static_cast<int64_t>(b) * NH + h) * T + t;
        lse_s[threadIdx.x] = t < T ? lse[i] : 0.0f;
        D_s[threadIdx.x] = t < T ? dsum[i] : 0.0f;
      }
      __syncthreads();

      // s[r] = q_(q0 + lane) . k_row, dp[r] = dout_(q0 + lane) . v_row
      float s[R], dp[R];
#pragma unroll
      for (int r = 0; r < R; ++r) s[r] = dp[r] = 0.0f;
      const float* qrow = Qs + lane * (D + 1);
      const float* orow = dOs + lane * (D + 1);
      for (int d = 0; d < D; ++d) {
        const float qd = qrow[d], od = orow[d];
#pragma unroll
        for (int r = 0; r < R; ++r) {
          s[r] += qd * Ks[(warp * R + r) * D + d];
          dp[r] += od * Vs[(warp * R + r) * D + d];
        }
      }

      const int t = q0 + lane;
      float p[R];
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int key = k0 + warp * R + r;
        const bool valid = key <= t && t < T;
        p[r] = valid ? expf(s[r] * scale - lse_s[lane]) : 0.0f;
        s[r] = p[r] * (dp[r] - D_s[lane]);  // ds
      }

      // dv[r] += sum_i p_i dout_(q0 + i);  dk[r] += sum_i ds_i q_(q0 + i)
      for (int i = 0; i < kTile; ++i) {
        float pi[R], dsi[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
          pi[r] = __shfl_sync(kFull, p[r], i);
          dsi[r] = __shfl_sync(kFull, s[r], i);
        }
        const float* qi = Qs + i * (D + 1);
        const float* oi = dOs + i * (D + 1);
#pragma unroll
        for (int c = 0; c < NCH; ++c) {
          const int d = lane + 32 * c;
          if (d < D) {
            const float qd = qi[d], od = oi[d];
#pragma unroll
            for (int r = 0; r < R; ++r) {
              dv_acc[r][c] += pi[r] * od;
              dk_acc[r][c] += dsi[r] * qd;
            }
          }
        }
      }
    }
  }

#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int key = k0 + warp * R + r;
    if (key < T) {
#pragma unroll
      for (int c = 0; c < NCH; ++c) {
        const int d = lane + 32 * c;
        if (d < D) {
          const int64_t i = index4(b, key, kvh, d, T, NKV, D);
          store(dk, i, load(dk, i) + scale * dk_acc[r][c]);
          store(dv, i, load(dv, i) + dv_acc[r][c]);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Launch configuration (host).

// Own rows per warp: 4 (blocks of 32 rows), 2 for D > 128, bounding registers and shared
// memory (at most 99 KiB per block, D = 256).
template <int NCH>
constexpr int rows_per_warp() {
  return NCH > 4 ? 2 : 4;
}

// Dynamic shared memory of each kernel, in bytes, for blocks of `rows` own rows (the
// layouts are at the top of each kernel).
inline size_t forward_smem(int rows, int D) {
  return sizeof(float) * (static_cast<size_t>(rows) * D + kTile * (D + 1) + kTile * D);
}
inline size_t dq_smem(int rows, int D) {
  return sizeof(float) * (2 * static_cast<size_t>(rows) * D + 2 * kTile * (D + 1));
}
inline size_t dkdv_smem(int rows, int D) {
  return sizeof(float) *
         (2 * static_cast<size_t>(rows) * D + 2 * kTile * (D + 1) + 2 * kTile);
}

}  // namespace tpb::cuda::attention_detail
