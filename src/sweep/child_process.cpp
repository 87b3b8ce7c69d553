#include "sweep/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/clock.h"
#include "base/error.h"

extern char** environ;

namespace tpb {

namespace {

int decode_status(int raw) {
  if (WIFEXITED(raw)) return WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) return 128 + WTERMSIG(raw);
  return -1;
}

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  return args;
}

// waitpid that retries when a signal interrupts it; returns the raw status.
int wait_child(pid_t pid) {
  int raw = 0;
  while (waitpid(pid, &raw, 0) < 0) {
    TPB_CHECK(errno == EINTR, "waitpid({}) failed: {}", pid, std::strerror(errno));
  }
  return raw;
}

}  // namespace

ChildResult run_logged(const std::vector<std::string>& argv, const std::string& log_path, double timeout_s) {
  TPB_CHECK(!argv.empty(), "run_logged: empty command line");
  const std::filesystem::path parent = std::filesystem::path(log_path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);

  auto args = c_argv(argv);
  pid_t pid = 0;
  const int64_t t0 = now_ns();
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  TPB_CHECK(rc == 0, "cannot start {}: {}", argv[0], std::strerror(rc));

  ChildResult r;
  int raw = 0;
  if (timeout_s <= 0) {
    raw = wait_child(pid);
  } else {
    // Poll: a sweep launches a handful of children, each for seconds to minutes.
    bool done = false;
    bool termed = false;
    int64_t term_ns = 0;
    while (!done) {
      const pid_t got = waitpid(pid, &raw, WNOHANG);
      if (got == pid) break;
      TPB_CHECK(got == 0 || errno == EINTR, "waitpid({}) failed: {}", pid, std::strerror(errno));
      const double elapsed = seconds_between(t0, now_ns());
      if (!termed && elapsed > timeout_s) {
        kill(pid, SIGTERM);
        termed = true;
        term_ns = now_ns();
        r.timed_out = true;
      } else if (termed && seconds_between(term_ns, now_ns()) > 10.0) {
        kill(pid, SIGKILL);
        raw = wait_child(pid);
        done = true;
      }
      if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  r.wall_s = seconds_between(t0, now_ns());
  r.exit_code = decode_status(raw);
  return r;
}

int run_inherited(const std::vector<std::string>& argv) {
  TPB_CHECK(!argv.empty(), "run_inherited: empty command line");
  auto args = c_argv(argv);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
  TPB_CHECK(rc == 0, "cannot start {}: {}", argv[0], std::strerror(rc));
  return decode_status(wait_child(pid));
}

std::string failure_line(const std::string& log_path) {
  std::ifstream in(log_path);
  std::string line, last, last_error, launcher;
  while (std::getline(in, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (line.empty() || line.starts_with("$ ")) continue;  // the command line the sweep wrote first
    last = line;
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (lower.find("error") != std::string::npos) last_error = line;
    // The launcher's verdict on a rank mpirun saw die (cli/mpirun_output.h): the cause,
    // even when other ranks complained after it.
    if (line.starts_with("tpbench: error: rank ")) launcher = line;
  }
  if (!launcher.empty()) return launcher;
  return last_error.empty() ? last : last_error;
}

}  // namespace tpb
