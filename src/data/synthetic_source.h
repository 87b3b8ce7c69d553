// Synthetic tokens with structure a small transformer learns in tens of steps.
//
// A fixed random permutation `successor` of [0, vocab) is drawn from the seed. Each row
// starts at a random token; each next token is successor[current] with probability
// 1 - jump_probability, and otherwise a uniformly random token (a "jump", which may land
// on the successor too). Everything is hashed from (seed, step, row, position), so a row
// costs seq+1 hashes and no generator state.
//
// A model that sees the previous token can at best predict
//   P(next = successor[cur]) = 1 - p + p/V,  P(any other given token) = p/V,
// so the best achievable mean cross-entropy over targets (the entropy floor) is
//   H = -(1 - p + p/V) ln(1 - p + p/V) - (V - 1) (p/V) ln(p/V)
// e.g. 0.947 nats at V = 512, p = 0.1, against ln V = 6.238 for a uniform guess.
// Every target is such a transition (the first token of a row is never a target).
#pragma once

#include <vector>

#include "data/token_source.h"

namespace tpb {

class SyntheticTokenSource final : public TokenSource {
 public:
  static constexpr double kJumpProbability = 0.1;

  SyntheticTokenSource(int64_t vocab, uint64_t seed);

  int64_t vocab_size() const override { return vocab_; }
  std::string describe() const override;
  void get_batch(int64_t step, int64_t row_begin, int64_t rows, int64_t seq, int32_t* tokens,
                 int32_t* targets) const override;

  // The token that follows `token` unless the sequence jumps.
  int32_t successor(int32_t token) const { return successor_[static_cast<size_t>(token)]; }
  // The best achievable mean cross-entropy (nats) per target; see the formula above.
  double entropy_floor() const { return synthetic_entropy_floor(vocab_, kJumpProbability); }

  static double synthetic_entropy_floor(int64_t vocab, double jump_probability);

 private:
  int64_t vocab_;
  uint64_t seed_;
  std::vector<int32_t> successor_;  // (vocab) a permutation of [0, vocab)
};

}  // namespace tpb
