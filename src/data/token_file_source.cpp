#include "data/token_file_source.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/error.h"
#include "data/hash.h"

namespace tpb {
namespace {

template <typename T>
const T* tokens_as(const MappedFile& file, const TokenLayout& layout) {
  // mmap is page-aligned and the llm.c header is 1024 bytes, so the cast is aligned.
  return reinterpret_cast<const T*>(file.data() + layout.offset);
}

// Calls f(typed pointer) for the layout's token width.
template <typename F>
decltype(auto) with_tokens(const MappedFile& file, const TokenLayout& layout, F&& f) {
  switch (layout.width) {
    case 1: return f(tokens_as<uint8_t>(file, layout));
    case 2: return f(tokens_as<uint16_t>(file, layout));
    case 4: return f(tokens_as<uint32_t>(file, layout));
  }
  TPB_CHECK(false, "token width {} is not 1, 2 or 4", layout.width);
}

}  // namespace

TokenFileSource::TokenFileSource(std::unique_ptr<MappedFile> file, TokenLayout layout,
                                 int64_t model_vocab, int64_t seq, uint64_t seed,
                                 int64_t nominal_vocab)
    : file_(std::move(file)), layout_(std::move(layout)), seed_(seed) {
  const std::string& path = file_->path();
  if (layout_.count < seq + 1)
    usage_error("data file '{}' ({}) has {} tokens, fewer than seq + 1 = {}", path,
                layout_.format, layout_.count, seq + 1);
  const int64_t n = layout_.count;
  // One pass for the maximum (vectorises); a second, only on failure, to locate it.
  max_token_ = with_tokens(*file_, layout_, [n](const auto* p) {
    return static_cast<int64_t>(*std::max_element(p, p + n));
  });
  if (max_token_ >= model_vocab) {
    int64_t i = 0;
    while (token_at(i) < model_vocab) ++i;
    usage_error("data file '{}' ({}): token {} at position {} (byte offset {}) is >= the "
                "model vocab {}; the file's largest token is {}",
                path, layout_.format, token_at(i), i, layout_.offset + i * layout_.width,
                model_vocab, max_token_);
  }
  vocab_ = nominal_vocab > 0 ? nominal_vocab : max_token_ + 1;
}

int64_t TokenFileSource::token_at(int64_t i) const {
  return with_tokens(*file_, layout_, [i](const auto* p) { return static_cast<int64_t>(p[i]); });
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
  with_tokens(*file_, layout_, [&](const auto* p) {
    for (int64_t r = 0; r < rows; ++r) {
      const auto start =
          static_cast<int64_t>(data::row_hash(seed_, step, row_begin + r) % windows);
      const auto* w = p + start;
      for (int64_t t = 0; t < seq; ++t) {
        tokens[r * seq + t] = static_cast<int32_t>(w[t]);
        targets[r * seq + t] = static_cast<int32_t>(w[t + 1]);
      }
    }
  });
}

}  // namespace tpb
