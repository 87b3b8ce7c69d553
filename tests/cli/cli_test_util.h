// What the CLI tests share: running the tpbench binary (TPB_EXE, set by CMake) through the
// shell with a time limit, and counting occurrences in its output.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "base/clock.h"

namespace cli_test {

struct Result {
  int status = -1;
  std::string output;  // stdout and stderr together
  double seconds = 0;
};

// Runs `args` through the shell with a 60 s limit (a hang fails instead of blocking ctest).
inline Result run(const std::string& args) {
  const std::string cmd = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout -k 10 60 " + args + " 2>&1";
  Result r;
  const int64_t t0 = tpb::now_ns();
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  r.seconds = tpb::seconds_between(t0, tpb::now_ns());
  return r;
}

inline const std::string kExe = TPB_EXE;

inline int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace cli_test
