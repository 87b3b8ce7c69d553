#include "data/synthetic_source.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <utility>

#include "base/error.h"
#include "data/hash.h"

namespace tpb {
namespace {

// The jump decision compares the top 32 bits of a position's hash with this threshold; the
// low 32 bits pick the jump's target, so one hash serves both.
constexpr uint64_t kJumpThreshold =
    static_cast<uint64_t>(SyntheticTokenSource::kJumpProbability * 4294967296.0);

// Keeps the permutation's stream apart from the per-row streams of the same seed.
constexpr uint64_t kPermutationSalt = 0x5eed0fda7a5eed00ull;

}  // namespace

SyntheticTokenSource::SyntheticTokenSource(int64_t vocab, uint64_t seed)
    : vocab_(vocab), seed_(seed) {
  TPB_CHECK(vocab >= 2 && vocab <= INT32_MAX, "synthetic vocab {} must be in [2, 2^31)", vocab);
  successor_.resize(static_cast<size_t>(vocab));
  std::iota(successor_.begin(), successor_.end(), 0);
  // Fisher-Yates from the seed's own stream: the same permutation on every rank and run.
  const uint64_t h = data::splitmix64(seed ^ kPermutationSalt);
  for (int64_t i = vocab - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(data::stream_at(h, i) % static_cast<uint64_t>(i + 1));
    std::swap(successor_[static_cast<size_t>(i)], successor_[static_cast<size_t>(j)]);
  }
}

double SyntheticTokenSource::synthetic_entropy_floor(int64_t vocab, double jump_probability) {
  const double v = static_cast<double>(vocab);
  const double p_other = jump_probability / v;
  const double p_next = 1.0 - jump_probability + p_other;
  double h = -p_next * std::log(p_next);
  if (p_other > 0) h -= (v - 1) * p_other * std::log(p_other);
  return h;
}

std::string SyntheticTokenSource::describe() const {
  return fmt::format(
      "synthetic (vocab {}, seed {}, successor map with {:.0f}% random jumps; entropy floor "
      "{:.3f} nats vs ln V = {:.3f})",
      vocab_, seed_, 100 * kJumpProbability, entropy_floor(), std::log(double(vocab_)));
}

void SyntheticTokenSource::get_batch(int64_t step, int64_t row_begin, int64_t rows, int64_t seq,
                                     int32_t* tokens, int32_t* targets) const {
  TPB_CHECK(step >= 0 && row_begin >= 0 && rows >= 0 && seq >= 1,
            "bad batch request: step {}, row_begin {}, rows {}, seq {}", step, row_begin, rows,
            seq);
  const auto v = static_cast<uint64_t>(vocab_);
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t h = data::row_hash(seed_, step, row_begin + r);
    int32_t* row_tokens = tokens + r * seq;
    int32_t* row_targets = targets + r * seq;
    auto cur = static_cast<int32_t>(data::stream_at(h, 0) % v);
    for (int64_t t = 0; t < seq; ++t) {
      const uint64_t u = data::stream_at(h, t + 1);
      const int32_t next = (u >> 32) < kJumpThreshold ? static_cast<int32_t>((u & 0xffffffffull) % v)
                                                      : successor(cur);
      row_tokens[t] = cur;
      row_targets[t] = next;
      cur = next;
    }
  }
}

}  // namespace tpb
