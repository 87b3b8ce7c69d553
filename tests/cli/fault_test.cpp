// Faults injected into a real 2-rank `tpbench --nproc 2 train`: a rank stopped (SIGSTOP)
// must be noticed by the watchdog, which names it and the collective, leaves valid flight
// dumps and ends the job within --timeout + 10 s; a rank killed (SIGKILL) must be named by
// the launcher. Every process the test started is killed at the end, whatever happened.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;

const std::string kExe = TPB_EXE;
constexpr double kTimeout = 3.0;  // --timeout

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parent pid and name of /proc/PID.
bool proc_stat(pid_t pid, pid_t* ppid, std::string* comm) {
  const std::string s = slurp("/proc/" + std::to_string(pid) + "/stat");
  const size_t open = s.find('('), close = s.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return false;
  *comm = s.substr(open + 1, close - open - 1);
  std::istringstream rest(s.substr(close + 2));
  char state = 0;
  rest >> state >> *ppid;
  return true;
}

// Every descendant of `root`.
std::vector<pid_t> descendants(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> all;  // pid, ppid
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string n = e.path().filename().string();
    if (n.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t ppid = 0;
    std::string comm;
    if (proc_stat(std::stoi(n), &ppid, &comm)) all.push_back({std::stoi(n), ppid});
  }
  std::vector<pid_t> out;
  std::set<pid_t> frontier = {root};
  while (!frontier.empty()) {
    std::set<pid_t> next;
    for (const auto& [pid, ppid] : all)
      if (frontier.count(ppid)) {
        out.push_back(pid);
        next.insert(pid);
      }
    frontier = next;
  }
  return out;
}

// The tpbench rank processes under `launcher` (children of mpirun named tpbench), by rank.
std::vector<pid_t> rank_pids(pid_t launcher, int nranks) {
  std::vector<pid_t> ranks(static_cast<size_t>(nranks), 0);
  for (pid_t pid : descendants(launcher)) {
    pid_t ppid = 0;
    std::string comm;
    if (!proc_stat(pid, &ppid, &comm) || comm != "tpbench") continue;
    std::string env = slurp("/proc/" + std::to_string(pid) + "/environ");
    const std::string key = std::string("OMPI_COMM_WORLD_RANK=");
    for (size_t at = 0; at < env.size(); at = env.find('\0', at) + 1) {
      if (env.compare(at, key.size(), key) == 0) {
        const int r = std::atoi(env.c_str() + at + key.size());
        if (r >= 0 && r < nranks) ranks[static_cast<size_t>(r)] = pid;
        break;
      }
      if (env.find('\0', at) == std::string::npos) break;
    }
  }
  return ranks;
}

struct Job {
  pid_t pid = 0;
  std::string dir, log;
  std::vector<pid_t> all;  // everything it started, for the cleanup
  int status = -1;
  bool done = false;

  ~Job() { kill_everything(); }

  void start(const std::string& name, const std::string& args) {
    dir = testing::TempDir() + "/tpb_fault_" + name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    log = dir + "/log";
    const std::string cmd = "exec " + kExe + " --nproc 2 " + args + " --out " + dir + "/out >" + log + " 2>&1";
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
    ASSERT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  }
  // Waits until the log has `lines` progress lines and both ranks are found.
  std::vector<pid_t> wait_training(int lines, double limit_s) {
    const int64_t t0 = tpb::now_ns();
    while (tpb::seconds_between(t0, tpb::now_ns()) < limit_s) {
      std::string text = slurp(log);
      int n = 0;
      for (size_t at = text.find("\niter "); at != std::string::npos; at = text.find("\niter ", at + 1)) ++n;
      const std::vector<pid_t> ranks = rank_pids(pid, 2);
      remember();
      if (n >= lines && ranks[0] > 0 && ranks[1] > 0) return ranks;
      if (poll()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return {};
  }
  void remember() {
    for (pid_t p : descendants(pid)) all.push_back(p);
  }
  bool poll() {
    if (done) return true;
    int raw = 0;
    if (waitpid(pid, &raw, WNOHANG) == pid) {
      done = true;
      status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    }
    return done;
  }
  // Seconds until the launcher exits, or -1 after limit_s.
  double wait_exit(double limit_s) {
    const int64_t t0 = tpb::now_ns();
    while (tpb::seconds_between(t0, tpb::now_ns()) < limit_s) {
      remember();
      if (poll()) return tpb::seconds_between(t0, tpb::now_ns());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }
  void kill_everything() {
    if (pid <= 0) return;
    remember();
    for (pid_t p : all) {
      kill(p, SIGCONT);
      kill(p, SIGKILL);
    }
    if (!done) {
      kill(pid, SIGKILL);
      int raw = 0;
      waitpid(pid, &raw, 0);
      done = true;
    }
    pid = 0;
  }
};

const std::string kTrain = "train --preset tiny --iters 100000 --warmup-iters 0 --log-every 1";

TEST(Fault, StoppedRankIsNamedByTheWatchdog) {
  Job job;
  job.start("stop", kTrain + " --timeout " + std::to_string(kTimeout));
  const std::vector<pid_t> ranks = job.wait_training(3, 30);
  ASSERT_EQ(ranks.size(), 2u) << "training did not start:\n" << slurp(job.log);
  ASSERT_EQ(kill(ranks[1], SIGSTOP), 0);
  const double took = job.wait_exit(kTimeout + 10);
  const std::string out = slurp(job.log);
  ASSERT_GE(took, 0) << "the job did not end within --timeout + 10 s:\n" << out;
  EXPECT_NE(job.status, 0) << out;
  // Named: the rank, and the collective by group, op and sequence number.
  EXPECT_NE(out.find("error: watchdog: "), std::string::npos) << out;
  // SIGSTOP lands between collectives (rank 1 never entered the one rank 0 waits in) or
  // inside one (rank 1 entered it, then stopped); the diagnosis names rank 1 either way.
  const auto names_rank_1 = [](const std::string& s) {
    return s.find("rank 1 never entered it") != std::string::npos ||
           s.find("rank 1 stalled in it") != std::string::npos;
  };
  EXPECT_TRUE(names_rank_1(out)) << out;
  EXPECT_NE(out.find(" of group "), std::string::npos) << out;
  EXPECT_NE(out.find(" #"), std::string::npos) << out;

  // The dumps: rank 0's is valid JSON and `tpbench flight` gives the same diagnosis.
  std::string flight;
  for (const auto& e : fs::recursive_directory_iterator(job.dir + "/out"))
    if (e.is_directory() && e.path().filename() == "flight") flight = e.path().string();
  ASSERT_FALSE(flight.empty()) << out;
  const nlohmann::json doc = nlohmann::json::parse(slurp(flight + "/rank0.json"), nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << slurp(flight + "/rank0.json");
  EXPECT_EQ(doc.value("schema", ""), "tpbench.flight/1");
  // Rank 1 may dump after all, late: mpirun sends SIGCONT before it kills the ranks. The
  // diagnosis must name it either way.
  FILE* p = popen((kExe + " flight " + flight + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string report;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) report.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << report;
  EXPECT_TRUE(names_rank_1(report)) << report;
}

TEST(Fault, KilledRankIsNamedByTheLauncher) {
  Job job;
  job.start("kill", kTrain);
  const std::vector<pid_t> ranks = job.wait_training(3, 30);
  ASSERT_EQ(ranks.size(), 2u) << "training did not start:\n" << slurp(job.log);
  ASSERT_EQ(kill(ranks[1], SIGKILL), 0);
  const double took = job.wait_exit(20);
  const std::string out = slurp(job.log);
  ASSERT_GE(took, 0) << "the job did not end:\n" << out;
  EXPECT_NE(job.status, 0) << out;
  EXPECT_NE(out.find("tpbench: error: rank 1 was killed by signal 9 (Killed)"), std::string::npos) << out;
  EXPECT_EQ(out.find("-----"), std::string::npos) << "mpirun's banners leak through:\n" << out;
}

}  // namespace
