// Token and text files: the layout parser (llm.c header, raw arrays) on any size and first
// bytes, then the whole reader (open, check, batches) on the input as a file's contents.
// Input: byte 0 picks the format (auto, llmc, uint16, uint32, text), byte 1 the sequence
// length, the rest is the file. Any UsageError is a refusal; anything else is a finding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "data/data_file.h"
#include "data/token_file_format.h"
#include "data/token_file_source.h"

namespace {

const char* const kDtypes[] = {"auto", "llmc", "uint16", "uint32", "text", "int8"};

void check(bool ok) {
  if (!ok) std::abort();
}

// The layout alone, for a file of `size` bytes starting with `head`: a layout it accepts
// must describe exactly the file's bytes.
void fuzz_layout(uint64_t size, const uint8_t* head, size_t n, const std::string& dtype) {
  try {
    const tpb::TokenLayout l = tpb::token_file_layout("fuzz.bin", size, head, n, dtype);
    check(l.width == 2 || l.width == 4);
    check(l.count >= 0 && l.offset + static_cast<uint64_t>(l.count) * l.width == size);
  } catch (const tpb::UsageError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::string dtype = kDtypes[data[0] % 6];
  const int64_t seq = 1 + data[1] % 64;
  const uint8_t* body = data + 2;
  const size_t bytes = size - 2;

  // The parser on a claimed size (the body's, and one read from its first 8 bytes).
  const size_t head = std::min<size_t>(bytes, tpb::kLlmcHeaderBytes);
  fuzz_layout(bytes, body, head, dtype);
  if (bytes >= 8) {
    uint64_t claimed = 0;
    std::memcpy(&claimed, body, 8);
    fuzz_layout(claimed, body, head, dtype);
  }

  // The reader, on a memory file holding the body.
  const int fd = memfd_create("fuzz-token-file", MFD_CLOEXEC);
  if (fd < 0) return 0;
  if (bytes > 0 && write(fd, body, bytes) != static_cast<ssize_t>(bytes)) {
    close(fd);
    return 0;
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    auto file = std::make_unique<tpb::DataFile>(path);
    check(file->size() == bytes);
    const bool text = dtype == "text";
    tpb::TokenLayout layout = text ? tpb::text_file_layout(*file) : tpb::token_file_layout(*file, dtype);
    const int64_t vocab = text ? 256 : 1 + data[1] * 257;
    tpb::TokenFileSource source(std::move(file), std::move(layout), vocab, seq, data[0], text ? 256 : 0);
    std::vector<int32_t> tokens(3 * seq), targets(3 * seq);
    for (int64_t step = 0; step < 3; ++step) {
      source.get_batch(step, step, 3, seq, tokens.data(), targets.data());
      for (int64_t i = 0; i < 3 * seq; ++i) check(tokens[i] >= 0 && tokens[i] < vocab && targets[i] < vocab);
    }
    check(source.token_at(source.num_tokens() - 1) < vocab);
  } catch (const tpb::UsageError&) {
  }
  close(fd);
  return 0;
}
