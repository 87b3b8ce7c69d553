// Every malformed input is refused at open with a UsageError naming the path and the values.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "base/error.h"
#include "data/token_file_source.h"
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

// A FIFO is refused at once (opening one for reading would wait for a writer forever), and
// so are devices; a /proc file (0 bytes by stat, data when read) is not called "empty".
TEST_F(DataErrors, SpecialFilesAreRefusedWithoutWaiting) {
  const std::string fifo = dir_.file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto t0 = std::chrono::steady_clock::now();
  expect_refused(tokens_at(fifo), 1024, 8, {fifo, "not a regular file", "FIFO"});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  expect_refused(tokens_at("/dev/zero"), 1024, 8, {"/dev/zero", "not a regular file", "character device"});
  DataSpec proc = tokens_at("/proc/self/status");
  proc.kind = "text";
  expect_refused(proc, 1024, 8, {"/proc/self/status", "not a regular file with a known size"});
}

// A file that shrinks after it was opened and checked (another process truncated it) is an
// error naming the file and what is missing, not a SIGBUS.
TEST_F(DataErrors, TruncatedWhileInUseIsAnErrorNamingTheFile) {
  const std::string path = dir_.file("shrinking.bin");
  testing::write_raw(path, testing::ramp(100000, 500), 2);
  auto source = open_token_source(tokens_at(path), 1024, 64);
  EXPECT_NO_THROW(testing::fetch(*source, 0, 0, 8, 64));
  std::filesystem::resize_file(path, 1000);
  try {
    for (int64_t step = 1; step < 100; ++step) testing::fetch(*source, step, 0, 8, 64);
    ADD_FAILURE() << "no error reading a truncated file";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("truncated while in use"), std::string::npos) << what;
    EXPECT_NE(what.find("200000 bytes when opened and has 1000 now"), std::string::npos) << what;
  }
  auto* file_source = dynamic_cast<const TokenFileSource*>(source.get());
  ASSERT_NE(file_source, nullptr);
  EXPECT_EQ(file_source->token_at(10), 10);  // what remains still reads
  EXPECT_THROW(file_source->token_at(99999), Error);
}

// The error message for a raw array names the flag that exists (--data-dtype).
TEST_F(DataErrors, BadMagicNamesTheDataDtypeFlag) {
  const std::string path = dir_.file("raw.bin");
  testing::write_raw(path, tokens_, 2);
  expect_refused(tokens_at(path, "llmc"), 1024, 8, {path, "--data-dtype uint16"});
}

}  // namespace
}  // namespace tpb
