#include "data/token_file_format.h"

#include <bit>
#include <cstring>

#include "base/error.h"
#include "data/mapped_file.h"

namespace tpb {
namespace {

static_assert(std::endian::native == std::endian::little,
              "token files are little-endian and read in place");

int32_t header_word(const MappedFile& file, int i) {
  int32_t v = 0;
  std::memcpy(&v, file.data() + i * sizeof(int32_t), sizeof v);
  return v;
}

bool starts_with_llmc_magic(const MappedFile& file) {
  return file.size() >= sizeof(int32_t) && header_word(file, 0) == kLlmcMagic;
}

TokenLayout llmc_layout(const MappedFile& file) {
  const std::string& path = file.path();
  if (file.size() < sizeof(int32_t) || header_word(file, 0) != kLlmcMagic)
    usage_error("data file '{}': bad llm.c magic {} (expected {}); use --token-dtype uint16 or "
                "uint32 for a raw token array",
                path, file.size() < sizeof(int32_t) ? 0 : header_word(file, 0), kLlmcMagic);
  if (file.size() < kLlmcHeaderBytes)
    usage_error("data file '{}': truncated llm.c header ({} bytes, expected {})", path,
                file.size(), kLlmcHeaderBytes);
  const int32_t version = header_word(file, 1);
  if (version != 1 && version != 2)
    usage_error("data file '{}': unsupported llm.c version {} (expected 1 = uint16 tokens or "
                "2 = uint32 tokens)",
                path, version);
  const int width = version == 1 ? 2 : 4;
  const int32_t declared = header_word(file, 2);
  const size_t body = file.size() - kLlmcHeaderBytes;
  if (declared < 0 || body != static_cast<size_t>(declared) * width)
    usage_error("data file '{}': llm.c header says {} tokens of {} bytes ({} bytes) but the "
                "body has {} bytes (truncated or corrupt)",
                path, declared, width, int64_t{declared} * width, body);
  return {fmt::format("llm.c uint{}", 8 * width), kLlmcHeaderBytes, width, declared};
}

TokenLayout raw_layout(const MappedFile& file, int width) {
  if (file.size() % width != 0)
    usage_error("data file '{}': size {} bytes is not a multiple of the token size {} (uint{})",
                file.path(), file.size(), width, 8 * width);
  return {fmt::format("raw uint{}", 8 * width), 0, width,
          static_cast<int64_t>(file.size() / width)};
}

}  // namespace

TokenLayout token_file_layout(const MappedFile& file, const std::string& token_dtype) {
  if (token_dtype == "auto")
    return starts_with_llmc_magic(file) ? llmc_layout(file) : raw_layout(file, 2);
  if (token_dtype == "llmc") return llmc_layout(file);
  if (token_dtype == "uint16") return raw_layout(file, 2);
  if (token_dtype == "uint32") return raw_layout(file, 4);
  usage_error("unknown token dtype '{}' for data file '{}' (expected auto, llmc, uint16 or "
              "uint32)",
              token_dtype, file.path());
}

TokenLayout text_file_layout(const MappedFile& file) {
  return {"text", 0, 1, static_cast<int64_t>(file.size())};
}

}  // namespace tpb
