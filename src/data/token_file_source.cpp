#include "data/token_file_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/error.h"
#include "data/hash.h"

namespace tpb {
namespace {

constexpr size_t kScanChunkBytes = size_t{4} << 20;  // the open-time scan reads this at a time

// Token i of `bytes` (little-endian, `width` bytes each).
inline int64_t token_in(const uint8_t* bytes, int width, int64_t i) {
  switch (width) {
    case 1: return bytes[i];
    case 2: {
      uint16_t v;
      std::memcpy(&v, bytes + 2 * i, 2);
      return v;
    }
    default: {
      uint32_t v;
      std::memcpy(&v, bytes + 4 * i, 4);
      return v;
    }
  }
}

// The largest of n tokens of `width` bytes (a typed loop, so it vectorises).
template <typename T>
int64_t max_of(const uint8_t* bytes, size_t n) {
  T m = 0;
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, bytes + i * sizeof(T), sizeof(T));
    m = std::max(m, v);
  }
  return m;
}

// Row r of a batch from its window of seq + 1 tokens.
template <typename T>
void split_window(const uint8_t* bytes, int64_t seq, int32_t* tokens, int32_t* targets) {
  for (int64_t t = 0; t < seq; ++t) {
    T a, b;
    std::memcpy(&a, bytes + t * sizeof(T), sizeof(T));
    std::memcpy(&b, bytes + (t + 1) * sizeof(T), sizeof(T));
    tokens[t] = static_cast<int32_t>(a);
    targets[t] = static_cast<int32_t>(b);
  }
}

int64_t max_token(const uint8_t* bytes, int width, size_t n) {
  switch (width) {
    case 1: return max_of<uint8_t>(bytes, n);
    case 2: return max_of<uint16_t>(bytes, n);
    case 4: return max_of<uint32_t>(bytes, n);
  }
  TPB_CHECK(false, "token width {} is not 1, 2 or 4", width);
}

}  // namespace

TokenFileSource::TokenFileSource(std::unique_ptr<DataFile> file, TokenLayout layout,
                                 int64_t model_vocab, int64_t seq, uint64_t seed,
                                 int64_t nominal_vocab)
    : file_(std::move(file)), layout_(std::move(layout)), seed_(seed) {
  const std::string& path = file_->path();
  TPB_CHECK(layout_.width == 1 || layout_.width == 2 || layout_.width == 4,
            "token width {} is not 1, 2 or 4", layout_.width);
  if (layout_.count < seq + 1)
    usage_error("data file '{}' ({}) has {} tokens, fewer than seq + 1 = {}", path,
                layout_.format, layout_.count, seq + 1);
  // One pass in chunks for the maximum and, on failure, the first token past the vocab.
  const int w = layout_.width;
  const auto chunk_tokens = static_cast<int64_t>(kScanChunkBytes / w);
  std::vector<uint8_t> buf(static_cast<size_t>(std::min(layout_.count, chunk_tokens)) * w);
  int64_t first_bad = -1, first_bad_value = 0;
  for (int64_t begin = 0; begin < layout_.count; begin += chunk_tokens) {
    const int64_t n = std::min(chunk_tokens, layout_.count - begin);
    file_->read_at(layout_.offset + static_cast<uint64_t>(begin) * w, buf.data(),
                   static_cast<size_t>(n) * w);
    const int64_t m = max_token(buf.data(), w, static_cast<size_t>(n));
    max_token_ = std::max(max_token_, m);
    if (first_bad < 0 && m >= model_vocab)
      for (int64_t i = 0; i < n; ++i)
        if (const int64_t v = token_in(buf.data(), w, i); v >= model_vocab) {
          first_bad = begin + i;
          first_bad_value = v;
          break;
        }
  }
  if (first_bad >= 0)
    usage_error("data file '{}' ({}): token {} at position {} (byte offset {}) is >= the "
                "model vocab {}; the file's largest token is {}",
                path, layout_.format, first_bad_value, first_bad,
                layout_.offset + first_bad * layout_.width, model_vocab, max_token_);
  vocab_ = nominal_vocab > 0 ? nominal_vocab : max_token_ + 1;
}

int64_t TokenFileSource::token_at(int64_t i) const {
  TPB_CHECK(i >= 0 && i < layout_.count, "token {} of {} in '{}'", i, layout_.count,
            file_->path());
  uint8_t bytes[4] = {};
  file_->read_at(layout_.offset + static_cast<uint64_t>(i) * layout_.width, bytes,
                 layout_.width);
  return token_in(bytes, layout_.width, 0);
}

std::string TokenFileSource::describe() const {
  return fmt::format("{} file {} ({} tokens, largest {}, sampling seed {})", layout_.format,
                     file_->path(), layout_.count, max_token_, seed_);
}

void TokenFileSource::get_batch(int64_t step, int64_t row_begin, int64_t rows, int64_t seq,
                                int32_t* tokens, int32_t* targets) const {
  TPB_CHECK(step >= 0 && row_begin >= 0 && rows >= 0 && seq >= 1 && seq < layout_.count,
            "bad batch request: step {}, row_begin {}, rows {}, seq {} ({} tokens in '{}')",
            step, row_begin, rows, seq, layout_.count, file_->path());
  const auto windows = static_cast<uint64_t>(layout_.count - seq);
  const int w = layout_.width;
  std::vector<uint8_t> window(static_cast<size_t>(seq + 1) * w);
  for (int64_t r = 0; r < rows; ++r) {
    const auto start = data::row_hash(seed_, step, row_begin + r) % windows;
    file_->read_at(layout_.offset + start * w, window.data(), window.size());
    int32_t* tok = tokens + r * seq;
    int32_t* tgt = targets + r * seq;
    if (w == 1) split_window<uint8_t>(window.data(), seq, tok, tgt);
    else if (w == 2) split_window<uint16_t>(window.data(), seq, tok, tgt);
    else split_window<uint32_t>(window.data(), seq, tok, tgt);
  }
}

}  // namespace tpb
