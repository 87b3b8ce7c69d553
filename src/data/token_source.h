// Training data for the language-model trainer: where each step's tokens come from.
//
// Every source is deterministic and stateless: the tokens of (step, row) are a pure function
// of the data, the seed, the step and the *global* row index. Rank d of D with per-rank
// batch b reads rows [d*b, (d+1)*b) of step s's global batch of D*b rows, so DP=2 with
// batch b sees exactly what DP=1 with batch 2b sees, and TP ranks of one group (same
// dp_rank) see identical data by construction. See docs/data.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace tpb {

class Tensor;

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // Every token (and target) this source produces is in [0, vocab_size()), and
  // vocab_size() <= the model vocabulary it was opened for.
  virtual int64_t vocab_size() const = 0;
  // One line for logs and results: "synthetic (vocab 512, seed 0, ...)", "llm.c uint16 file X (N tokens)".
  virtual std::string describe() const = 0;
  // tokens and targets: (rows, seq) int32 each, row-major; targets[t] = the token after tokens[t].
  // Row i of the output is global row row_begin + i of step `step`. Thread-safe (const, no state).
  virtual void get_batch(int64_t step, int64_t row_begin, int64_t rows, int64_t seq,
                         int32_t* tokens, int32_t* targets) const = 0;
};

struct DataSpec {
  std::string kind = "synthetic";    // synthetic | tokens | text
  std::string path;                  // for tokens / text
  // For token files: auto (llm.c header if the file starts with its magic, else raw uint16
  // as nanoGPT writes), llmc (the header is required), uint16 or uint32 (raw, no header).
  std::string token_dtype = "auto";
  uint64_t seed = 0;
};

// The values DataSpec accepts, for --help and validation messages.
inline constexpr const char* kDataKinds = "synthetic, tokens, text";
inline constexpr const char* kTokenDtypes = "auto, llmc, uint16, uint32";

// Opens and checks the data before any rank trains. A bad spec (unknown kind or dtype, a
// path given for synthetic data or missing for a file), a missing, unreadable or malformed
// file (bad header, size not a multiple of the token size, fewer than seq+1 tokens, a token
// >= model_vocab) throws UsageError naming the path and the values. Synthetic data has
// vocab model_vocab; text is byte-level (vocab 256, so model_vocab must be >= 256).
std::unique_ptr<TokenSource> open_token_source(const DataSpec& spec, int64_t model_vocab,
                                               int64_t seq);

// Fills int32 tensors tokens and targets of shape (rows, seq) with rows
// [row_begin, row_begin + rows) of step `step`. Throws tpb::Error on a shape or dtype mismatch.
void get_batch(const TokenSource& source, int64_t step, int64_t row_begin, Tensor& tokens,
               Tensor& targets);

}  // namespace tpb
