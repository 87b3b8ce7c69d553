// Token embedding lookup, vocab-parallel ready: a rank holds the rows of a contiguous range
// of token ids [vocab_start, vocab_start + V_local) and produces zeros for every other
// token, so summing (all-reducing) the shards' outputs gives the full lookup.
//
// Conventions of every kernel in src/kernels/cpu: raw pointers and int64_t sizes, dense
// row-major fp32, int32 token ids, no threads of their own. Backward kernels ACCUMULATE
// (+=) into every gradient output: the caller zeros gradients first.
#pragma once

#include <cstdint>

namespace tpb::cpu {

// out[n, :] = table[tokens[n] - vocab_start, :] if that row is held here, else zeros.
//   out: (N, C)   tokens: (N) int32   table: (V_local, C)
// Throws on a negative token id.
void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t n_tokens,
                       int64_t v_local, int64_t c, int64_t vocab_start);

// dtable[tokens[n] - vocab_start, :] += dout[n, :] for the tokens held here; others skipped.
//   dtable: (V_local, C)   dout: (N, C)   tokens: (N) int32
// Throws on a negative token id.
void embedding_backward(float* dtable, const float* dout, const int32_t* tokens,
                        int64_t n_tokens, int64_t v_local, int64_t c, int64_t vocab_start);

}  // namespace tpb::cpu
