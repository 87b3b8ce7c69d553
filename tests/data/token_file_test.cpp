// Token files round-trip: every row is a window of the file's tokens, in every format.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "data/token_source.h"
#include "data_testing.h"

namespace tpb {
namespace {

using testing::Batch;
using testing::fetch;

// Each row must be tokens[start .. start+seq] of `file_tokens` for some start with
// start + seq < size; with distinct file tokens the first token reveals the start.
void expect_rows_are_windows(const TokenSource& source, const std::vector<uint32_t>& file_tokens,
                             uint32_t first_value, int64_t seq) {
  const int64_t rows = 16;
  const auto n = static_cast<int64_t>(file_tokens.size());
  int64_t lowest = n, highest = -1;
  for (int64_t step = 0; step < 30; ++step) {
    const Batch b = fetch(source, step, 0, rows, seq);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t start = b.tokens[r * seq] - static_cast<int64_t>(first_value);
      ASSERT_TRUE(start >= 0 && start + seq < n) << "start " << start << " of " << n;
      lowest = std::min(lowest, start);
      highest = std::max(highest, start);
      for (int64_t t = 0; t < seq; ++t) {
        ASSERT_EQ(b.tokens[r * seq + t], static_cast<int32_t>(file_tokens[start + t]));
        ASSERT_EQ(b.targets[r * seq + t], static_cast<int32_t>(file_tokens[start + t + 1]));
      }
    }
  }
  // 480 windows drawn over ~n - seq starts: they spread over the whole file.
  EXPECT_LT(lowest, n / 10);
  EXPECT_GT(highest, n - seq - n / 10);
}

std::vector<uint32_t> distinct_tokens(int64_t n, uint32_t first_value) {
  std::vector<uint32_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = first_value + static_cast<uint32_t>(i);
  return v;
}

TEST(TokenFile, LlmcUint16RoundTrip) {
  testing::TempDir dir;
  const auto tokens = distinct_tokens(3000, 60000);  // above int16's range: read unsigned
  DataSpec spec{"tokens", dir.file("train.bin")};
  testing::write_llmc(spec.path, tokens, 1);
  auto source = open_token_source(spec, 65536, 32);
  EXPECT_EQ(source->vocab_size(), 62999 + 1);
  EXPECT_NE(source->describe().find("llm.c uint16"), std::string::npos) << source->describe();
  EXPECT_NE(source->describe().find("3000 tokens"), std::string::npos) << source->describe();
  expect_rows_are_windows(*source, tokens, 60000, 32);
  spec.token_dtype = "llmc";  // requiring the header reads the same file the same way
  EXPECT_EQ(fetch(*open_token_source(spec, 65536, 32), 4, 0, 3, 32).tokens,
            fetch(*source, 4, 0, 3, 32).tokens);
}

TEST(TokenFile, LlmcUint32RoundTrip) {
  testing::TempDir dir;
  const auto tokens = distinct_tokens(2000, 100000);  // needs 32 bits
  DataSpec spec{"tokens", dir.file("train.bin")};
  testing::write_llmc(spec.path, tokens, 2);
  auto source = open_token_source(spec, 128256, 20);
  EXPECT_NE(source->describe().find("llm.c uint32"), std::string::npos) << source->describe();
  expect_rows_are_windows(*source, tokens, 100000, 20);
}

TEST(TokenFile, NanoGptRawUint16IsTheDefault) {
  testing::TempDir dir;
  const auto tokens = distinct_tokens(4000, 1000);
  DataSpec spec{"tokens", dir.file("train.bin")};
  testing::write_raw(spec.path, tokens, 2);
  auto source = open_token_source(spec, 50304, 64);
  EXPECT_NE(source->describe().find("raw uint16"), std::string::npos) << source->describe();
  expect_rows_are_windows(*source, tokens, 1000, 64);
}

TEST(TokenFile, RawUint32WhenAsked) {
  testing::TempDir dir;
  const auto tokens = distinct_tokens(1500, 70000);
  DataSpec spec{"tokens", dir.file("train.bin"), "uint32"};
  testing::write_raw(spec.path, tokens, 4);
  auto source = open_token_source(spec, 1 << 20, 8);
  EXPECT_NE(source->describe().find("raw uint32"), std::string::npos) << source->describe();
  expect_rows_are_windows(*source, tokens, 70000, 8);
}

TEST(TokenFile, SeedChangesTheWindowsNotTheirContent) {
  testing::TempDir dir;
  const auto tokens = distinct_tokens(4000, 0);
  DataSpec spec{"tokens", dir.file("train.bin")};
  testing::write_raw(spec.path, tokens, 2);
  auto a = open_token_source(spec, 4096, 16);
  spec.seed = 1;
  auto b = open_token_source(spec, 4096, 16);
  EXPECT_NE(fetch(*a, 0, 0, 4, 16).tokens, fetch(*b, 0, 0, 4, 16).tokens);
  expect_rows_are_windows(*b, tokens, 0, 16);
}

TEST(TextFile, TokensAreTheFilesBytes) {
  testing::TempDir dir;
  std::string text;
  for (int i = 0; i < 200; ++i) text += "naïve café — ünïcode bytes " + std::to_string(i) + "\n";
  DataSpec spec{"text", dir.file("input.txt")};
  testing::write_bytes(spec.path, text.data(), text.size());
  const int64_t seq = 24;
  auto source = open_token_source(spec, 256, seq);
  EXPECT_EQ(source->vocab_size(), 256);
  EXPECT_NE(source->describe().find("text"), std::string::npos) << source->describe();
  bool saw_high_byte = false;
  for (int64_t step = 0; step < 10; ++step) {
    const Batch b = fetch(*source, step, 0, 8, seq);
    for (int64_t r = 0; r < 8; ++r) {
      std::string window;
      for (int64_t t = 0; t < seq; ++t) window += static_cast<char>(b.tokens[r * seq + t]);
      window += static_cast<char>(b.targets[r * seq + seq - 1]);
      EXPECT_NE(text.find(window), std::string::npos) << window;
      for (int64_t t = 0; t < seq; ++t) saw_high_byte |= b.tokens[r * seq + t] >= 128;
    }
  }
  EXPECT_TRUE(saw_high_byte);  // UTF-8 continuation bytes come through as 128..255
}

}  // namespace
}  // namespace tpb
