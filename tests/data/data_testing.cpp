#include "data_testing.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace tpb::testing {

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          ("tpb_data_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void write_bytes(const std::string& path, const void* data, size_t bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  const size_t written = bytes == 0 ? 0 : std::fwrite(data, 1, bytes, f);
  std::fclose(f);
  if (written != bytes) throw std::runtime_error("short write to " + path);
}

namespace {

std::vector<uint8_t> pack(const std::vector<uint32_t>& tokens, int width) {
  std::vector<uint8_t> out(tokens.size() * width);
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (width == 2) {
      const auto v = static_cast<uint16_t>(tokens[i]);
      std::memcpy(&out[i * 2], &v, 2);
    } else {
      std::memcpy(&out[i * 4], &tokens[i], 4);
    }
  }
  return out;
}

}  // namespace

void write_llmc(const std::string& path, const std::vector<uint32_t>& tokens, int32_t version,
                int32_t magic, int64_t count) {
  std::vector<int32_t> header(256, 0);
  header[0] = magic;
  header[1] = version;
  header[2] = static_cast<int32_t>(count >= 0 ? count : static_cast<int64_t>(tokens.size()));
  std::vector<uint8_t> bytes(header.size() * 4);
  std::memcpy(bytes.data(), header.data(), bytes.size());
  const std::vector<uint8_t> body = pack(tokens, version == 2 ? 4 : 2);
  bytes.insert(bytes.end(), body.begin(), body.end());
  write_bytes(path, bytes.data(), bytes.size());
}

void write_raw(const std::string& path, const std::vector<uint32_t>& tokens, int width) {
  const std::vector<uint8_t> body = pack(tokens, width);
  write_bytes(path, body.data(), body.size());
}

Batch fetch(const TokenSource& source, int64_t step, int64_t row_begin, int64_t rows,
            int64_t seq) {
  Batch b{std::vector<int32_t>(rows * seq), std::vector<int32_t>(rows * seq)};
  source.get_batch(step, row_begin, rows, seq, b.tokens.data(), b.targets.data());
  return b;
}

std::vector<uint32_t> ramp(int64_t n, uint32_t modulo) {
  std::vector<uint32_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<uint32_t>(i % modulo);
  return v;
}

}  // namespace tpb::testing
