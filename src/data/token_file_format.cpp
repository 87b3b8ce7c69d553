#include "data/token_file_format.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "base/error.h"
#include "data/data_file.h"

namespace tpb {
namespace {

static_assert(std::endian::native == std::endian::little,
              "token files are little-endian and read as they lie");

// The size and first bytes of a file: all a layout depends on.
struct Head {
  const std::string& path;
  uint64_t size;
  const uint8_t* bytes;
  size_t count;  // min(size, kLlmcHeaderBytes)

  int32_t word(size_t i) const {
    int32_t v = 0;
    if ((i + 1) * sizeof(int32_t) <= count) std::memcpy(&v, bytes + i * sizeof(int32_t), sizeof v);
    return v;
  }
};

bool starts_with_llmc_magic(const Head& h) {
  return h.count >= sizeof(int32_t) && h.word(0) == kLlmcMagic;
}

TokenLayout llmc_layout(const Head& h) {
  const std::string& path = h.path;
  if (h.count < sizeof(int32_t) || h.word(0) != kLlmcMagic)
    usage_error("data file '{}': bad llm.c magic {} (expected {}); use --data-dtype uint16 or "
                "uint32 for a raw token array",
                path, h.word(0), kLlmcMagic);
  if (h.size < kLlmcHeaderBytes)
    usage_error("data file '{}': truncated llm.c header ({} bytes, expected {})", path, h.size,
                kLlmcHeaderBytes);
  const int32_t version = h.word(1);
  if (version != 1 && version != 2)
    usage_error("data file '{}': unsupported llm.c version {} (expected 1 = uint16 tokens or "
                "2 = uint32 tokens)",
                path, version);
  const int width = version == 1 ? 2 : 4;
  const int32_t declared = h.word(2);
  const uint64_t body = h.size - kLlmcHeaderBytes;
  if (declared < 0 || body != static_cast<uint64_t>(declared) * width)
    usage_error("data file '{}': llm.c header says {} tokens of {} bytes ({} bytes) but the "
                "body has {} bytes (truncated or corrupt)",
                path, declared, width, int64_t{declared} * width, body);
  return {fmt::format("llm.c uint{}", 8 * width), kLlmcHeaderBytes, width, declared};
}

TokenLayout raw_layout(const Head& h, int width) {
  if (h.size % width != 0)
    usage_error("data file '{}': size {} bytes is not a multiple of the token size {} (uint{})",
                h.path, h.size, width, 8 * width);
  return {fmt::format("raw uint{}", 8 * width), 0, width, static_cast<int64_t>(h.size / width)};
}

}  // namespace

TokenLayout token_file_layout(const std::string& path, uint64_t size, const uint8_t* head,
                              size_t head_bytes, const std::string& token_dtype) {
  const Head h{path, size, head, std::min<size_t>(head_bytes, std::min<uint64_t>(size, kLlmcHeaderBytes))};
  if (token_dtype == "auto")
    return starts_with_llmc_magic(h) ? llmc_layout(h) : raw_layout(h, 2);
  if (token_dtype == "llmc") return llmc_layout(h);
  if (token_dtype == "uint16") return raw_layout(h, 2);
  if (token_dtype == "uint32") return raw_layout(h, 4);
  usage_error("unknown token dtype '{}' for data file '{}' (expected auto, llmc, uint16 or "
              "uint32)",
              token_dtype, path);
}

TokenLayout token_file_layout(const DataFile& file, const std::string& token_dtype) {
  uint8_t head[kLlmcHeaderBytes];
  const size_t n = static_cast<size_t>(std::min<uint64_t>(file.size(), kLlmcHeaderBytes));
  file.read_at(0, head, n);
  return token_file_layout(file.path(), file.size(), head, n, token_dtype);
}

TokenLayout text_file_layout(const DataFile& file) {
  return {"text", 0, 1, static_cast<int64_t>(file.size())};
}

}  // namespace tpb
