// Result files are written whole or not at all (report/atomic_file.h): the text arrives
// complete, missing directories are made, no temporary file is left beside the result,
// and a write that fails throws naming the path and leaves the previous file as it was.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>

#include "base/error.h"
#include "report/atomic_file.h"

namespace tpb {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

class AtomicFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tpb_atomic_file_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TEST_F(AtomicFile, WritesTheWholeTextAndLeavesNoTemporary) {
  std::string text(3 << 20, '\0');  // 3 MiB, bytes of every value (binary-safe)
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 131 % 256);
  const fs::path dest = dir_ / "results.json";
  write_file_atomic(dest.string(), text);
  EXPECT_EQ(fs::file_size(dest), text.size());
  EXPECT_TRUE(slurp(dest) == text);
  EXPECT_EQ(names_in(dir_), std::set<std::string>{"results.json"});
}

TEST_F(AtomicFile, ReplacesAnExistingFileWhole) {
  const fs::path dest = dir_ / "results.json";
  write_file_atomic(dest.string(), std::string(10000, 'a'));
  write_file_atomic(dest.string(), "short");
  EXPECT_EQ(slurp(dest), "short") << "no tail of the longer old file";
  write_file_atomic(dest.string(), "");
  EXPECT_EQ(fs::file_size(dest), 0u);
  EXPECT_EQ(names_in(dir_), std::set<std::string>{"results.json"});
}

TEST_F(AtomicFile, CreatesMissingParentDirectories) {
  const fs::path dest = dir_ / "run" / "deep" / "er" / "out.txt";
  write_file_atomic(dest.string(), "hello\n");
  EXPECT_EQ(slurp(dest), "hello\n");
  EXPECT_EQ(names_in(dest.parent_path()), std::set<std::string>{"out.txt"});
}

TEST_F(AtomicFile, AFailedWriteLeavesTheOldFileAndNoTemporary) {
  const fs::path dest = dir_ / "results.json";
  write_file_atomic(dest.string(), "old results");
  // Files of this process may not grow past 4 KiB: the write of 1 MiB fails part way (with
  // EFBIG, SIGXFSZ ignored), as on a full disk.
  struct rlimit old_limit {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;
  auto* old_handler = signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    write_file_atomic(dest.string(), std::string(1 << 20, 'n'));
  } catch (const Error& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  signal(SIGXFSZ, old_handler);
  EXPECT_NE(message.find(dest.string()), std::string::npos) << "no error naming the path: '" << message << "'";
  EXPECT_EQ(slurp(dest), "old results");
  EXPECT_EQ(names_in(dir_), std::set<std::string>{"results.json"}) << "a temporary file was left";
}

TEST_F(AtomicFile, AFailedRenameLeavesTheDestinationAndNoTemporary) {
  // The destination is a directory with something in it: rename(2) cannot replace it.
  const fs::path dest = dir_ / "results.json";
  fs::create_directories(dest);
  std::ofstream(dest / "keep") << "kept";
  try {
    write_file_atomic(dest.string(), "new");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dest.string()), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_directory(dest));
  EXPECT_EQ(slurp(dest / "keep"), "kept");
  EXPECT_EQ(names_in(dir_), std::set<std::string>{"results.json"}) << "a temporary file was left";
}

TEST_F(AtomicFile, AParentThatIsAFileIsAClearError) {
  std::ofstream(dir_ / "plain") << "x";
  const fs::path dest = dir_ / "plain" / "out.txt";
  try {
    write_file_atomic(dest.string(), "new");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir_ / "plain").string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(dir_ / "plain"), "x");
  EXPECT_EQ(names_in(dir_), std::set<std::string>{"plain"});
}

}  // namespace
}  // namespace tpb
