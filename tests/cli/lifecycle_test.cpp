// The run lifecycle of `tpbench train`, end to end on 2 ranks (issue 14): a run directory
// is never shared, a diverging run stops with status 3, SIGINT / SIGTERM (to the launcher
// or to one rank) stop every rank at a step boundary with the summary marked interrupted
// and status 130 / 143, and an output that cannot be written is refused before training
// (or, when a write fails later, reported after the summary).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

const std::string kExe = TPB_EXE;
const std::string kTiny = " train --preset tiny --warmup-iters 1 --log-every 1000";

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// A scratch directory, removed (and any mount on it undone) at the end.
struct Scratch {
  fs::path dir;
  std::vector<fs::path> mounts;
  Scratch() {
    char tmpl[] = "/tmp/tpb_lifecycle_XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~Scratch() {
    for (const fs::path& m : mounts) umount2(m.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  // Mounts a tmpfs at dir/name; false (the test skips) when this user may not.
  bool mount_tmpfs(const std::string& name, const std::string& options, unsigned long flags = 0) {
    const fs::path at = dir / name;
    fs::create_directories(at);
    if (mount("tmpfs", at.c_str(), "tmpfs", flags, options.c_str()) != 0) return false;
    mounts.push_back(at);
    return true;
  }
};

// `tpbench ...` started in the background (its stdout and stderr into a file).
struct Launch {
  pid_t pid = -1;
  fs::path log;
  int status = -1;
  std::string output;

  // own_group: the launcher leads a process group of its own, as a shell's foreground job
  // does, so kill(-pid, sig) is what a Ctrl-C at the terminal sends.
  Launch(const std::string& args, const fs::path& log_file, bool own_group = false) : log(log_file) {
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    const std::string cmd = "exec " + kExe + " " + args + " > '" + log.string() + "' 2>&1";
    pid = fork();
    if (pid == 0) {
      if (own_group) setpgid(0, 0);
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  // The exit status (128 + signal when one ended it); killed after `limit_s`.
  int wait(double limit_s = 60) {
    const auto t0 = std::chrono::steady_clock::now();
    int raw = 0;
    while (waitpid(pid, &raw, WNOHANG) == 0) {
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > limit_s) {
        kill(pid, SIGKILL);
        waitpid(pid, &raw, 0);
        output = read_text(log) + "\n[killed by the test after " + std::to_string(limit_s) + " s]";
        return status = 999;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    output = read_text(log);
    return status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  }
};

bool wait_until(const std::function<bool()>& done, double limit_s) {
  const auto t0 = std::chrono::steady_clock::now();
  while (!done()) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > limit_s) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Each line of metrics.jsonl parsed (a line that is not JSON fails the test).
std::vector<nlohmann::json> metrics_lines(const fs::path& file) {
  std::vector<nlohmann::json> out;
  std::ifstream f(file);
  for (std::string line; std::getline(f, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(j.is_discarded()) << file << ": not JSON: " << line;
    out.push_back(j);
  }
  return out;
}

// The one run directory under root (OUT/RUN-NAME/<stamp>), or "" when not exactly one.
fs::path only_run_dir(const fs::path& root) {
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory()) dirs.push_back(e.path());
  return dirs.size() == 1 ? dirs[0] : fs::path();
}

// metrics.jsonl is whole: 2 ranks' lines for each iteration 0..iters-1, in order.
void expect_whole_metrics(const fs::path& run_dir, int iters) {
  const std::vector<nlohmann::json> lines = metrics_lines(run_dir / "metrics.jsonl");
  ASSERT_EQ(static_cast<int>(lines.size()), 2 * iters) << run_dir;
  for (int i = 0; i < 2 * iters; ++i) {
    EXPECT_EQ(lines[static_cast<size_t>(i)].value("iter", -1), i / 2);
    EXPECT_EQ(lines[static_cast<size_t>(i)].value("rank", -1), i % 2);
    EXPECT_TRUE(lines[static_cast<size_t>(i)].contains("dt_ms"));
  }
}

// Processes whose parent is `parent` (from /proc).
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::istringstream stat(read_text(e.path() / "stat"));
    std::string pid, comm, state;
    pid_t ppid = 0;
    // comm may hold spaces; it is in parentheses and ours do not.
    stat >> pid >> comm >> state >> ppid;
    if (ppid == parent) out.push_back(static_cast<pid_t>(std::stoi(pid)));
  }
  return out;
}

// The pid of rank `rank` among the launcher's mpirun's children (OMPI_COMM_WORLD_RANK).
pid_t find_rank(pid_t launcher, int rank) {
  for (pid_t mpirun : children_of(launcher))
    for (pid_t child : children_of(mpirun)) {
      const std::string env = read_text(fs::path("/proc") / std::to_string(child) / "environ");
      if (env.find("OMPI_COMM_WORLD_RANK=" + std::to_string(rank) + '\0') != std::string::npos) return child;
    }
  return -1;
}

// Two runs started at once, into directories whose stamps were all taken already: each
// gets its own new directory (-2, -3), both complete; the existing ones are left alone.
TEST(TrainLifecycle, RunsStartedTogetherNeverShareADirectory) {
  Scratch s;
  const fs::path root = s.dir / "out" / "same";
  fs::create_directories(root);
  std::vector<fs::path> taken;
  const std::time_t now = std::time(nullptr);
  for (int ahead = 0; ahead < 60; ++ahead) {  // every stamp of the next minute
    const std::time_t t = now + ahead;
    std::tm tm{};
    localtime_r(&t, &tm);
    char stamp[32] = {};
    std::strftime(stamp, sizeof(stamp), "%Y-%m-%d-%H%M%S", &tm);
    taken.push_back(root / stamp);
    fs::create_directory(taken.back());
  }
  const std::string args = "--nproc 2" + kTiny + " --iters 6 --out " + (s.dir / "out").string() + " --run-name same";
  Launch a(args, s.dir / "a.log"), b(args, s.dir / "b.log");
  ASSERT_EQ(a.wait(), 0) << a.output;
  ASSERT_EQ(b.wait(), 0) << b.output;
  for (const fs::path& t : taken) EXPECT_TRUE(fs::is_empty(t)) << t << " was reused";
  std::vector<fs::path> made;
  for (const auto& e : fs::directory_iterator(root))
    if (!fs::is_empty(e.path())) made.push_back(e.path());
  ASSERT_EQ(made.size(), 2u) << a.output << b.output;
  for (const fs::path& d : made) {
    EXPECT_TRUE(fs::exists(d / "config.json")) << d;
    EXPECT_TRUE(fs::exists(d / "summary.json")) << d;
    expect_whole_metrics(d, 6);
  }
  const auto named = [](const std::string& out) {
    const size_t at = out.find("run directory: ");
    return at == std::string::npos ? std::string() : out.substr(at + 15, out.find('\n', at) - at - 15);
  };
  EXPECT_NE(named(a.output), named(b.output));
  EXPECT_TRUE(named(a.output) == made[0].string() || named(a.output) == made[1].string()) << a.output;
}

// Weights that blow up (AdamW's decoupled decay at lr x weight decay = 100 flips and scales
// every weight by -99 a step; Adam's update alone is bounded by lr): the run stops at the
// first non-finite loss or gradient norm, says where, keeps what it measured, and exits 3.
TEST(TrainLifecycle, DivergingRunStopsWithStatus3) {
  Scratch s;
  Launch r("--nproc 2" + kTiny + " --iters 200 --lr 10 --weight-decay 10 --lr-warmup 0 --grad-clip 0 --out " + s.dir.string(), s.dir / "log");
  ASSERT_EQ(r.wait(), 3) << r.output;
  EXPECT_EQ(count(r.output, "tpbench train: error"), 1) << r.output;
  EXPECT_NE(r.output.find("training diverged at iteration "), std::string::npos) << r.output;
  EXPECT_TRUE(r.output.find("loss is ") != std::string::npos || r.output.find("grad_norm is ") != std::string::npos)
      << r.output;
  EXPECT_TRUE(r.output.find("nan on rank ") != std::string::npos || r.output.find("inf on rank ") != std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(" on rank "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("DIVERGED"), std::string::npos) << r.output;
  const fs::path dir = only_run_dir(s.dir / "train");
  ASSERT_FALSE(dir.empty()) << r.output;
  const nlohmann::json summary = nlohmann::json::parse(read_text(dir / "summary.json"));
  EXPECT_EQ(summary["status"], "diverged");
  EXPECT_EQ(summary["diverged"], true);
  EXPECT_EQ(summary["interrupted"], false);
  const int done = summary["iters_done"].get<int>();
  EXPECT_GT(done, 0);
  EXPECT_LT(done, 200);
  expect_whole_metrics(dir, done);
}

struct Interrupt {
  int sig;
  bool to_rank;  // to rank 1 alone; else to the `tpbench --nproc 2` launcher
};

class TrainInterrupt : public testing::TestWithParam<Interrupt> {};

// Interrupted after a few iterations of 5000: every rank stops at the next step boundary,
// the summary (printed and summary.json) says interrupted, metrics.jsonl holds whole lines
// of both ranks for every iteration trained, and the exit status is 128 + the signal.
TEST_P(TrainInterrupt, StopsAtAStepBoundaryWithTheSummaryMarked) {
  const Interrupt p = GetParam();
  const std::string name = p.sig == SIGINT ? "SIGINT" : "SIGTERM";
  Scratch s;
  Launch r("--nproc 2" + kTiny + " --iters 5000 --out " + s.dir.string(), s.dir / "log");
  fs::path dir;
  const bool started = wait_until([&] {
    dir = only_run_dir(s.dir / "train");
    return !dir.empty() && count(read_text(dir / "metrics.jsonl"), "\n") >= 10;
  }, 30);
  if (!started) kill(r.pid, SIGKILL);
  ASSERT_TRUE(started) << read_text(r.log);
  const pid_t target = p.to_rank ? find_rank(r.pid, 1) : r.pid;
  ASSERT_GT(target, 0) << "rank 1 not found";
  kill(target, p.sig);
  ASSERT_EQ(r.wait(30), 128 + p.sig) << r.output;
  EXPECT_NE(r.output.find("INTERRUPTED: interrupted by " + name + " after iteration "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("summary over"), std::string::npos) << r.output;
  EXPECT_EQ(count(r.output, "tpbench train: error"), 0) << r.output;
  const nlohmann::json summary = nlohmann::json::parse(read_text(dir / "summary.json"));
  EXPECT_EQ(summary["interrupted"], true);
  EXPECT_EQ(summary["status"], "interrupted");
  const int done = summary["iters_done"].get<int>();
  EXPECT_GE(done, 5);
  EXPECT_LT(done, 5000);
  expect_whole_metrics(dir, done);
}

INSTANTIATE_TEST_SUITE_P(Signals, TrainInterrupt,
                         testing::Values(Interrupt{SIGINT, false}, Interrupt{SIGTERM, false},
                                         Interrupt{SIGINT, true}, Interrupt{SIGTERM, true}),
                         [](const testing::TestParamInfo<Interrupt>& i) {
                           return std::string(i.param.sig == SIGINT ? "Sigint" : "Sigterm") +
                                  (i.param.to_rank ? "ToRank1" : "ToLauncher");
                         });

// Ctrl-C at a terminal signals the whole foreground process group. Open MPI's mpirun,
// signalled itself, kills the ranks within 2 s (SIGTERM after 1 s, SIGKILL after 2), so a
// step slower than that would end without a summary; the launcher keeps mpirun in a group
// of its own and passes the stop on. Steps here take seconds (seq 512, dim 256).
TEST(TrainInterruptGroup, CtrlCToTheProcessGroupStopsSlowStepsCleanly) {
  Scratch s;
  Launch r("--nproc 2 train --preset tiny --dim 256 --ffn-hidden 512 --seq 512 --batch 16 --warmup-iters 0 "
           "--iters 1000 --out " + s.dir.string(),
           s.dir / "log", /*own_group=*/true);
  fs::path dir;
  const bool started = wait_until([&] {
    dir = only_run_dir(s.dir / "train");
    return !dir.empty() && count(read_text(dir / "metrics.jsonl"), "\n") >= 2;
  }, 60);
  if (!started) kill(-r.pid, SIGKILL);
  ASSERT_TRUE(started) << read_text(r.log);
  kill(-r.pid, SIGINT);
  ASSERT_EQ(r.wait(60), 130) << r.output;
  EXPECT_NE(r.output.find("INTERRUPTED: interrupted by SIGINT after iteration "), std::string::npos) << r.output;
  const nlohmann::json summary = nlohmann::json::parse(read_text(dir / "summary.json"));
  EXPECT_EQ(summary["interrupted"], true);
  expect_whole_metrics(dir, summary["iters_done"].get<int>());
}

// A step that takes seconds (seq 512, dim 256, as above) is not silent: the start-up
// phases are named as they begin and summarised with their times, and every
// --progress-every seconds rank 0 says where in the step it is and when the step and the
// run should end: from the work done in the first step ("~"), from the last step's length
// after it. With --progress-every 0 there are no in-step lines.
TEST(TrainProgress, SlowStepsSayWhereTheyAreWithAnEta) {
  Scratch s;
  const std::string slow = "--nproc 2 train --preset tiny --dim 256 --ffn-hidden 512 --seq 512 --batch 16 --tp 2 "
                           "--warmup-iters 0 --iters 2 --no-plots --out " + s.dir.string();
  Launch r(slow + " --progress-every 0.2", s.dir / "log");
  ASSERT_EQ(r.wait(120), 0) << r.output;
  const std::string& out = r.output;
  const size_t gemm = out.find("start-up: measuring the GEMM peak");
  const size_t model = out.find("start-up: building the model at tp 2 x dp 1");
  const size_t init = out.find("start-up: initialising the parameters (seed 0)");
  const size_t done = out.find("start-up done in ");
  const size_t first = out.find("... iter 1/2  ");
  const size_t second = out.find("... iter 2/2  ");
  ASSERT_TRUE(gemm != std::string::npos && model != std::string::npos && init != std::string::npos &&
              done != std::string::npos && first != std::string::npos && second != std::string::npos)
      << out;
  EXPECT_TRUE(gemm < model && model < init && init < done && done < first && first < second) << out;
  EXPECT_NE(out.find("(GEMM peak ", done), std::string::npos) << out;
  // The first step's estimate comes from its work; the second's from the first step.
  const std::string line2 = out.substr(second, out.find('\n', second) - second);
  EXPECT_NE(line2.find("into the step: "), std::string::npos) << line2;
  EXPECT_NE(line2.find("(rank 0); ETA step "), std::string::npos) << line2;
  EXPECT_EQ(line2.find('~'), std::string::npos) << line2;
  EXPECT_NE(out.find("(rank 0), ~"), std::string::npos) << "no estimate from the first step's work: " << out;

  Launch quiet(slow + " --progress-every 0", s.dir / "quiet.log");
  ASSERT_EQ(quiet.wait(120), 0) << quiet.output;
  EXPECT_EQ(quiet.output.find("... iter "), std::string::npos) << quiet.output;
  EXPECT_NE(quiet.output.find("start-up done in "), std::string::npos) << quiet.output;
}

// Refused before training, with one message and a non-zero status, and nothing left behind.
void expect_refused(const std::string& out_args, const fs::path& scratch, const std::string& says) {
  Launch r("--nproc 2" + kTiny + " --iters 50 " + out_args, scratch / "refused.log");
  EXPECT_EQ(r.wait(), 4) << r.output;
  EXPECT_EQ(count(r.output, "tpbench train: error"), 1) << r.output;
  EXPECT_NE(r.output.find(says), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nothing was trained"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("iter "), std::string::npos) << "trained: " << r.output;
}

TEST(TrainLifecycle, OutputUnderARegularFileIsRefusedBeforeTraining) {
  Scratch s;
  std::ofstream(s.dir / "file") << "x";
  expect_refused("--out " + (s.dir / "file" / "out").string(), s.dir, "cannot create directory");
  expect_refused("--out " + (s.dir / "ok").string() + " --json " + (s.dir / "file" / "r.json").string(), s.dir,
                 "cannot create directory");
  EXPECT_TRUE(only_run_dir(s.dir / "ok" / "train").empty()) << "a refused run left its directory";
}

TEST(TrainLifecycle, ReadOnlyAndFullFilesystemsAreRefusedBeforeTraining) {
  Scratch s;
  if (!s.mount_tmpfs("ro", "size=1M", MS_RDONLY) || !s.mount_tmpfs("full", "size=64k"))
    GTEST_SKIP() << "cannot mount tmpfs here (needs root)";
  expect_refused("--out " + (s.dir / "ro").string(), s.dir, "Read-only file system");
  {  // fill it
    std::ofstream fill(s.dir / "full" / "fill", std::ios::binary);
    const std::string block(4096, 'x');
    for (int i = 0; i < 64 && fill; ++i) fill << block << std::flush;
  }
  expect_refused("--out " + (s.dir / "full").string(), s.dir, "No space left on device");
}

// The disk fills after the run started (traces are the largest files): the summary is still
// printed, then the failed writes on one line, and the status is 4.
TEST(TrainLifecycle, AWriteFailingAfterTrainingStillPrintsTheSummary) {
  Scratch s;
  if (!s.mount_tmpfs("small", "size=64k")) GTEST_SKIP() << "cannot mount tmpfs here (needs root)";
  Launch r("--nproc 2" + kTiny + " --iters 4 --profile --out " + (s.dir / "small").string(), s.dir / "log");
  EXPECT_EQ(r.wait(), 4) << r.output;
  EXPECT_NE(r.output.find("summary over 3 timed iterations"), std::string::npos) << r.output;
  EXPECT_EQ(count(r.output, "tpbench train: error"), 1) << r.output;
  const size_t summary = r.output.find("summary over"), error = r.output.find("results not written");
  ASSERT_NE(error, std::string::npos) << r.output;
  EXPECT_LT(summary, error) << r.output;
  EXPECT_NE(r.output.find("No space left on device"), std::string::npos) << r.output;
}

}  // namespace
