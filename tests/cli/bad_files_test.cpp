// The tpbench binary on files that are not what they should be: special files and a token
// file truncated under a running 2-rank train (`train --data-path`), and corrupt results or
// an unwritable --out (`report`). Each ends in one message naming the file, a non-zero
// exit, no hang and no Python traceback.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/clock.h"

namespace fs = std::filesystem;

namespace {

const std::string kExe = TPB_EXE;
const std::string kEnv = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ";

struct Result {
  int status = -1;
  std::string output;  // stdout and stderr together
  double seconds = 0;
};

int decode(int raw) { return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw); }

// Runs `args` through the shell with a time limit (a hang fails instead of blocking ctest).
// `on_line` sees each line of output as it comes.
template <typename F>
Result run(const std::string& args, int limit_s, F&& on_line) {
  const std::string cmd = kEnv + "timeout -k 10 " + std::to_string(limit_s) + " " + args + " 2>&1";
  Result r;
  const int64_t t0 = tpb::now_ns();
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), p)) {
    r.output += buf.data();
    on_line(std::string(buf.data()));
  }
  r.status = decode(pclose(p));
  r.seconds = tpb::seconds_between(t0, tpb::now_ns());
  return r;
}
Result run(const std::string& args, int limit_s = 60) {
  return run(args, limit_s, [](const std::string&) {});
}

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}
int lines(const std::string& s) { return count(s, "\n"); }

class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "tpb-bad-files-XXXXXX").string();
    path_ = mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// A raw uint16 token file of n tokens below `vocab`.
void write_tokens(const std::string& path, int64_t n, int vocab) {
  std::vector<uint16_t> t(n);
  for (int64_t i = 0; i < n; ++i) t[i] = static_cast<uint16_t>((i * 7 + i / 13) % vocab);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(t.data()), n * 2);
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

const std::string kTrain = " train --preset tiny --seq 16 --batch 2 --data tokens --data-path ";

TEST(BadDataFiles, FifoIsRefusedAtOnce) {
  TempDir dir;
  const std::string fifo = dir / "pipe.bin";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string nproc : {"", "--nproc 2 "}) {
    const Result r = run(kExe + " " + nproc + kTrain + fifo + " --iters 1 --warmup-iters 0 --out " + (dir / "out"), 30);
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_LT(r.seconds, 10.0) << r.output;
    EXPECT_EQ(count(r.output, fifo + "' is not a regular file (it is a FIFO"), 1) << r.output;
    EXPECT_EQ(lines(r.output), 1) << r.output;
  }
}

TEST(BadDataFiles, ProcFileIsNotCalledEmpty) {
  TempDir dir;
  const Result r = run(kExe + " train --preset tiny --vocab 256 --seq 16 --batch 2 --data text "
                              "--data-path /proc/self/status --iters 1 --warmup-iters 0 --out " + (dir / "out"));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_EQ(count(r.output, "'/proc/self/status' is not a regular file with a known size"), 1)
      << r.output;
  EXPECT_EQ(count(r.output, "empty"), 0) << r.output;
}

// Both ranks read the file; once it is cut to 100 bytes mid-run the run stops with the file's
// name (it used to die of SIGBUS on both ranks).
TEST(BadDataFiles, TokenFileTruncatedDuringA2RankTrain) {
  TempDir dir;
  const std::string path = dir / "train.bin";
  write_tokens(path, 200000, 64);
  bool truncated = false;
  const Result r = run(kExe + " --nproc 2" + kTrain + path +
                           " --iters 100000 --log-every 1 --out " + (dir / "out"),
                       120, [&](const std::string& line) {
                         if (!truncated && line.find("loss") != std::string::npos) {
                           fs::resize_file(path, 100);
                           truncated = true;
                         }
                       });
  ASSERT_TRUE(truncated) << "no progress line seen: " << r.output;
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.status, 124) << "timed out: " << r.output;
  EXPECT_LT(r.status, 128) << "killed by a signal: " << r.output;
  EXPECT_GE(count(r.output, "data file '" + path + "' was truncated while in use"), 1) << r.output;
  EXPECT_EQ(count(r.output, "Bus error"), 0) << r.output;
}

// One train run directory shared by the report tests: SetUpTestSuite makes it.
class ReportBadFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    const Result r = run(kExe + " train --preset tiny --seq 16 --batch 2 --iters 4 --warmup-iters 1 --out " +
                         (*dir_ / "runs"), 120);
    ASSERT_EQ(r.status, 0) << r.output;
    for (const auto& e : fs::recursive_directory_iterator(*dir_ / "runs"))
      if (e.path().filename() == "summary.json") run_dir_ = e.path().parent_path().string();
    ASSERT_FALSE(run_dir_.empty()) << "no summary.json under " << (*dir_ / "runs");
  }
  static void TearDownTestSuite() { delete dir_; }

  // A copy of the run directory to damage.
  std::string copy_run(const std::string& name) {
    const std::string to = *dir_ / name;
    fs::copy(run_dir_, to, fs::copy_options::recursive);
    return to;
  }
  static Result report(const std::string& args) { return run(kExe + " report " + args, 120); }

  static TempDir* dir_;
  static std::string run_dir_;
};
TempDir* ReportBadFiles::dir_ = nullptr;
std::string ReportBadFiles::run_dir_;

void expect_one_line(const Result& r, int status, const std::string& message) {
  EXPECT_EQ(r.status, status) << r.output;
  EXPECT_EQ(count(r.output, message), 1) << r.output;
  EXPECT_EQ(count(r.output, "Traceback"), 0) << r.output;
  EXPECT_EQ(lines(r.output), 1) << r.output;
}

TEST_F(ReportBadFiles, TheGoodRunReports) {
  const Result r = report(run_dir_ + " --out " + (*dir_ / "good"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(*dir_ / "good/report.html")) << r.output;
}

TEST_F(ReportBadFiles, CorruptSummaryJson) {
  const std::string run_dir = copy_run("bad-summary");
  write_text(run_dir + "/summary.json", "{\"schema\": \"tpbench.train.summary/1\", \"iters\": 4,\n  oops\n");
  expect_one_line(report(run_dir + " --out " + (*dir_ / "r1")), 2,
                  run_dir + "/summary.json: not JSON (line 2, column 3");
}

TEST_F(ReportBadFiles, CorruptMetricsLine) {
  const std::string run_dir = copy_run("bad-metrics");
  std::vector<std::string> kept;
  {
    std::ifstream in(run_dir + "/metrics.jsonl");
    for (std::string l; std::getline(in, l);) kept.push_back(l);
  }
  ASSERT_GE(kept.size(), 3u);
  kept[2] = kept[2].substr(0, kept[2].size() / 2);  // line 3 cut in the middle
  {
    std::ofstream out(run_dir + "/metrics.jsonl");
    for (const auto& l : kept) out << l << "\n";
  }
  expect_one_line(report(run_dir + " --out " + (*dir_ / "r2")), 2,
                  run_dir + "/metrics.jsonl: line 3: not JSON");
  {
    std::ofstream out(run_dir + "/metrics.jsonl");
    out << kept[0] << "\n[1, 2]\n";
  }
  expect_one_line(report(run_dir + " --out " + (*dir_ / "r3")), 2,
                  run_dir + "/metrics.jsonl: line 2: not a JSON object");
}

TEST_F(ReportBadFiles, OutUnderAFile) {
  write_text(*dir_ / "plain", "x");
  expect_one_line(report(run_dir_ + " --out " + (*dir_ / "plain/report")), 1,
                  "cannot write the report in " + (*dir_ / "plain/report") + ": Not a directory");
}

// A filesystem of its own (tmpfs, so root) filled to the last block, then read-only.
TEST_F(ReportBadFiles, OutOnAFullOrReadOnlyFilesystem) {
  const std::string mnt = *dir_ / "small";
  fs::create_directory(mnt);
  if (::mount("tpb-test", mnt.c_str(), "tmpfs", 0, "size=64k") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  {
    std::ofstream fill(mnt + "/fill", std::ios::binary);
    const std::string block(4096, 'x');
    for (int i = 0; i < 64 && fill.write(block.data(), block.size()); ++i) fill.flush();
  }
  expect_one_line(report(run_dir_ + " --out " + mnt + "/report"), 1,
                  "cannot write the report in " + mnt + "/report: No space left on device");
  ASSERT_EQ(::mount(nullptr, mnt.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0)
      << std::strerror(errno);
  expect_one_line(report(run_dir_ + " --out " + mnt + "/report2"), 1,
                  "cannot write the report in " + mnt + "/report2: Read-only file system");
  ::umount(mnt.c_str());
}

}  // namespace
