// Batches sampled from one long array of tokens in a file (llm.c, nanoGPT raw, or text).
//
// Row r of step s is the window of seq+1 tokens starting at
//   start = row_hash(seed, s, r) % (count - seq)
// (so the window always fits); tokens are its first seq, targets its last seq. Windows are
// drawn independently, with replacement, as nanoGPT's get_batch does, but hashed instead of
// drawn from a stateful generator, so any rank can compute any row.
#pragma once

#include <memory>

#include "data/data_file.h"
#include "data/token_file_format.h"
#include "data/token_source.h"

namespace tpb {

class TokenFileSource final : public TokenSource {
 public:
  // Checks the file once: at least seq+1 tokens, every token < model_vocab (else UsageError
  // naming the path, the first offending position and its value). vocab_size() is
  // `nominal_vocab` if > 0 (256 for text), else the largest token + 1. get_batch and
  // token_at read the file each time: one that shrank since is a tpb::Error naming it.
  TokenFileSource(std::unique_ptr<DataFile> file, TokenLayout layout, int64_t model_vocab,
                  int64_t seq, uint64_t seed, int64_t nominal_vocab = 0);

  int64_t vocab_size() const override { return vocab_; }
  std::string describe() const override;
  void get_batch(int64_t step, int64_t row_begin, int64_t rows, int64_t seq, int32_t* tokens,
                 int32_t* targets) const override;

  int64_t num_tokens() const { return layout_.count; }
  // The i-th token of the file (0 <= i < num_tokens()).
  int64_t token_at(int64_t i) const;

 private:
  std::unique_ptr<DataFile> file_;
  TokenLayout layout_;
  uint64_t seed_;
  int64_t max_token_ = 0;
  int64_t vocab_ = 0;
};

}  // namespace tpb
