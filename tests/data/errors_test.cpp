// Every malformed input is refused at open with a UsageError naming the path and the values.
#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "base/error.h"
#include "data/token_source.h"
#include "data_testing.h"

namespace tpb {
namespace {

// Expects open_token_source(spec, vocab, seq) to throw UsageError whose message holds every
// one of `parts`.
void expect_refused(const DataSpec& spec, int64_t vocab, int64_t seq,
                    std::initializer_list<std::string> parts) {
  try {
    open_token_source(spec, vocab, seq);
    ADD_FAILURE() << "no error for kind " << spec.kind << " path " << spec.path;
  } catch (const UsageError& e) {
    const std::string what = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
  }
}

DataSpec tokens_at(const std::string& path, const std::string& dtype = "auto") {
  DataSpec spec;
  spec.kind = "tokens";
  spec.path = path;
  spec.token_dtype = dtype;
  return spec;
}

class DataErrors : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  const std::vector<uint32_t> tokens_ = testing::ramp(1000, 500);
};

TEST_F(DataErrors, MissingFile) {
  const std::string path = dir_.file("nope.bin");
  expect_refused(tokens_at(path), 1024, 8, {path, "No such file"});
  DataSpec text = tokens_at(path);
  text.kind = "text";
  expect_refused(text, 1024, 8, {path});
  expect_refused(tokens_at(dir_.file("")), 1024, 8, {"not a regular file"});  // a directory
}

TEST_F(DataErrors, BadMagicWhenTheHeaderIsRequired) {
  const std::string path = dir_.file("bad_magic.bin");
  testing::write_llmc(path, tokens_, 1, /*magic=*/20240519);
  expect_refused(tokens_at(path, "llmc"), 1024, 8, {path, "20240519", "20240520"});
}

TEST_F(DataErrors, VersionMismatch) {
  const std::string path = dir_.file("version.bin");
  testing::write_llmc(path, tokens_, /*version=*/3);
  expect_refused(tokens_at(path), 1024, 8, {path, "version 3"});
}

TEST_F(DataErrors, TruncatedBody) {
  const std::string path = dir_.file("truncated.bin");
  testing::write_llmc(path, tokens_, 1, 20240520, /*count=*/1001);  // body holds 1000
  expect_refused(tokens_at(path), 1024, 8, {path, "1001 tokens", "2000 bytes"});
  const std::string header_only = dir_.file("header.bin");
  const int32_t head[3] = {20240520, 1, 0};
  testing::write_bytes(header_only, head, sizeof head);
  expect_refused(tokens_at(header_only), 1024, 8, {header_only, "12 bytes", "1024"});
}

TEST_F(DataErrors, RawSizeNotAMultipleOfTheTokenSize) {
  const std::string path = dir_.file("odd.bin");
  testing::write_bytes(path, "abcdefg", 7);
  expect_refused(tokens_at(path), 1 << 16, 2, {path, "size 7", "token size 2"});
  testing::write_bytes(path, "abcdef", 6);
  expect_refused(tokens_at(path, "uint32"), 1 << 16, 1, {path, "size 6", "token size 4"});
}

TEST_F(DataErrors, TokenNotBelowTheModelVocab) {
  std::vector<uint32_t> tokens = tokens_;
  tokens[37] = 5000;
  tokens[600] = 7000;
  const std::string path = dir_.file("vocab.bin");
  testing::write_llmc(path, tokens, 1);
  expect_refused(tokens_at(path), 4096, 8,
                 {path, "token 5000 at position 37", "model vocab 4096", "largest token is 7000"});
  testing::write_raw(path, tokens, 2);
  expect_refused(tokens_at(path), 4096, 8, {path, "token 5000 at position 37", "byte offset 74"});
  // The boundary: a token equal to the vocab is out; vocab = largest + 1 is enough.
  expect_refused(tokens_at(path), 7000, 8, {path, "token 7000 at position 600"});
  EXPECT_EQ(open_token_source(tokens_at(path), 7001, 8)->vocab_size(), 7001);
}

TEST_F(DataErrors, TooShortForTheSequence) {
  const std::string path = dir_.file("short.bin");
  testing::write_raw(path, testing::ramp(10, 10), 2);
  expect_refused(tokens_at(path), 1024, 10, {path, "has 10 tokens", "seq + 1 = 11"});
  EXPECT_NO_THROW(open_token_source(tokens_at(path), 1024, 9));  // exactly seq + 1 is enough
  const std::string text = dir_.file("short.txt");
  testing::write_bytes(text, "hello", 5);
  DataSpec spec = tokens_at(text);
  spec.kind = "text";
  expect_refused(spec, 256, 8, {text, "has 5 tokens", "seq + 1 = 9"});
}

TEST_F(DataErrors, EmptyFile) {
  const std::string path = dir_.file("empty.txt");
  testing::write_bytes(path, "", 0);
  DataSpec spec = tokens_at(path);
  expect_refused(spec, 1024, 8, {path, "empty"});
  spec.kind = "text";
  expect_refused(spec, 1024, 8, {path, "empty"});
}

TEST_F(DataErrors, TextNeedsAByteSizedVocab) {
  const std::string path = dir_.file("input.txt");
  testing::write_bytes(path, "hello world, hello data", 23);
  DataSpec spec = tokens_at(path);
  spec.kind = "text";
  expect_refused(spec, 100, 4, {path, "vocab 256", "model vocab is 100"});
}

TEST_F(DataErrors, BadSpec) {
  DataSpec spec;
  spec.kind = "parquet";
  expect_refused(spec, 1024, 8, {"parquet", "synthetic, tokens, text"});
  spec.kind = "tokens";
  expect_refused(spec, 1024, 8, {"needs a path"});
  const std::string path = dir_.file("ok.bin");
  testing::write_raw(path, tokens_, 2);
  expect_refused(tokens_at(path, "int8"), 1024, 8, {path, "int8"});
  spec = DataSpec{};
  spec.path = path;
  expect_refused(spec, 1024, 8, {"synthetic data takes no path", path});
  expect_refused(DataSpec{}, 1, 8, {"model vocab 1"});
  expect_refused(DataSpec{}, 1024, 0, {"sequence length 0"});
}

}  // namespace
}  // namespace tpb
