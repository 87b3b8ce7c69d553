// Causal grouped-query attention, computed in blocks of query rows so the (T, T)
// probability matrix is never stored (as in flash attention): scratch is 64 x T scores per
// call, whatever T is; the products are GEMMs.
//
// Query head h reads key/value head h / (NH / NKV); NH % NKV == 0 (NKV == NH is ordinary
// multi-head attention, NKV == 1 multi-query). Scores s_tj = scale * q_t . k_j for j <= t,
// scale = 1 / sqrt(D); p_t = softmax_j(s_t); out_t = sum_j p_tj v_j.
//
// Conventions of every kernel in src/kernels/cpu: raw pointers and int64_t sizes, dense
// row-major fp32, no threads of their own. Backward kernels ACCUMULATE (+=) into every
// gradient output: the caller zeros gradients first. Each call allocates its scratch once:
// one block of scores (and, in backward, of their gradients), 64 x T floats each.
#pragma once

#include <cstdint>

namespace tpb::cpu {

//   out: (B, T, NH, D)
//   lse: (B, NH, T)  log sum_j exp(s_tj) of each query row, saved for the backward
//   q:   (B, T, NH, D)
//   k, v: (B, T, NKV, D)
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D);

// Recomputes p_tj = exp(s_tj - lse_t) from q, k and lse, then with D_t = dout_t . out_t:
//   ds_tj = p_tj (dout_t . v_j - D_t)
//   dq_t += scale sum_j ds_tj k_j;  dk_j += scale sum_t ds_tj q_t;  dv_j += sum_t p_tj dout_t
//   dq, dout, q, out: (B, T, NH, D)   dk, dv, k, v: (B, T, NKV, D)   lse: (B, NH, T)
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse,
                        int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D);

}  // namespace tpb::cpu
