#include "data/token_source.h"

#include <cstdint>

#include "base/error.h"
#include "data/data_file.h"
#include "data/synthetic_source.h"
#include "data/token_file_format.h"
#include "data/token_file_source.h"
#include "tensor/tensor.h"

namespace tpb {
namespace {

constexpr int64_t kTextVocab = 256;  // byte-level: token = byte value

std::unique_ptr<DataFile> open_data_file(const DataSpec& spec) {
  if (spec.path.empty()) usage_error("data kind '{}' needs a path", spec.kind);
  auto file = std::make_unique<DataFile>(spec.path);
  if (file->size() == 0) usage_error("data file '{}' is empty", spec.path);
  return file;
}

}  // namespace

std::unique_ptr<TokenSource> open_token_source(const DataSpec& spec, int64_t model_vocab,
                                               int64_t seq) {
  if (model_vocab < 2 || model_vocab > INT32_MAX)
    usage_error("model vocab {} must be in [2, 2^31) for data '{}'", model_vocab, spec.kind);
  if (seq < 1) usage_error("sequence length {} must be >= 1", seq);
  if (spec.kind == "synthetic") {
    if (!spec.path.empty())
      usage_error("synthetic data takes no path (got '{}'); use kind tokens or text", spec.path);
    return std::make_unique<SyntheticTokenSource>(model_vocab, spec.seed);
  }
  if (spec.kind == "tokens") {
    auto file = open_data_file(spec);
    TokenLayout layout = token_file_layout(*file, spec.token_dtype);
    return std::make_unique<TokenFileSource>(std::move(file), std::move(layout), model_vocab,
                                             seq, spec.seed);
  }
  if (spec.kind == "text") {
    if (model_vocab < kTextVocab)
      usage_error("text data '{}' is byte-level (vocab {}) but the model vocab is {}; use a "
                  "model vocab >= {}",
                  spec.path, kTextVocab, model_vocab, kTextVocab);
    if (spec.token_dtype != "auto")
      usage_error("text data '{}' is byte-level; token dtype '{}' applies to token files only",
                  spec.path, spec.token_dtype);
    auto file = open_data_file(spec);
    TokenLayout layout = text_file_layout(*file);
    return std::make_unique<TokenFileSource>(std::move(file), std::move(layout), model_vocab,
                                             seq, spec.seed, kTextVocab);
  }
  usage_error("unknown data kind '{}' (expected {})", spec.kind, kDataKinds);
}

void get_batch(const TokenSource& source, int64_t step, int64_t row_begin, Tensor& tokens,
               Tensor& targets) {
  TPB_CHECK(tokens.ndim() == 2 && tokens.shape() == targets.shape(),
            "tokens {} and targets {} must be (rows, seq) of the same shape", tokens.shape().str(),
            targets.shape().str());
  if (tokens.device() == Device::cpu && targets.device() == Device::cpu) {
    source.get_batch(step, row_begin, tokens.dim(0), tokens.dim(1), tokens.i32(), targets.i32());
    return;
  }
  // Device tensors: read on the host, then copy over (host buffers of their own allocator:
  // a transient, not the rank's memory).
  TrackingAllocator scratch;
  Tensor host_tokens = Tensor::empty(tokens.shape(), MemCategory::other, DType::i32, scratch);
  Tensor host_targets = Tensor::empty(targets.shape(), MemCategory::other, DType::i32, scratch);
  source.get_batch(step, row_begin, tokens.dim(0), tokens.dim(1), host_tokens.i32(), host_targets.i32());
  tokens.copy_from(host_tokens);
  targets.copy_from(host_targets);
}

}  // namespace tpb
