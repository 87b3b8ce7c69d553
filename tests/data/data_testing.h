// Helpers for the data tests: a temporary directory, writers for llm.c / raw / text files,
// and a batch fetched into vectors.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/token_source.h"

namespace tpb::testing {

// A fresh directory under the system temp dir, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void write_bytes(const std::string& path, const void* data, size_t bytes);
// llm.c format: 256 int32 header {magic, version, count, 0...} then the tokens (version 1:
// uint16, 2: uint32). magic/version/count can be overridden to write malformed files.
void write_llmc(const std::string& path, const std::vector<uint32_t>& tokens, int32_t version,
                int32_t magic = 20240520, int64_t count = -1);
// Raw little-endian array of width 2 or 4, no header (nanoGPT writes uint16).
void write_raw(const std::string& path, const std::vector<uint32_t>& tokens, int width);

struct Batch {
  std::vector<int32_t> tokens;   // (rows, seq)
  std::vector<int32_t> targets;  // (rows, seq)
};
Batch fetch(const TokenSource& source, int64_t step, int64_t row_begin, int64_t rows,
            int64_t seq);

// 0, 1, 2, ... n-1 modulo `modulo`: a file whose windows reveal their start.
std::vector<uint32_t> ramp(int64_t n, uint32_t modulo);

}  // namespace tpb::testing
