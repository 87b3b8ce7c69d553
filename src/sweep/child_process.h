// Running one configuration's launch as a child process: its stdout and stderr go to a log
// file, its wall time is measured from spawn to exit, and a limit ends it if it hangs.
#pragma once

#include <string>
#include <vector>

namespace tpb {

struct ChildResult {
  int exit_code = -1;     // the child's exit status, or 128 + signal when a signal ended it
  bool timed_out = false;
  double wall_s = 0;      // spawn to exit, on the monotonic clock
};

// Runs argv[0] (a path, not searched in PATH) with argv, stdin from /dev/null, stdout and
// stderr appended together to log_path (created, parent directories too). The child stays
// in our process group, so Ctrl-C reaches it and the ranks mpirun started. With
// timeout_s > 0, a child still running after timeout_s gets SIGTERM (mpirun passes it on
// to its ranks) and, 10 s later, SIGKILL. Throws tpb::Error when it cannot start.
ChildResult run_logged(const std::vector<std::string>& argv, const std::string& log_path, double timeout_s);

// Runs argv[0] (searched in PATH) with our stdin, stdout and stderr; returns its exit status
// (128 + signal when a signal ended it). Throws tpb::Error when it cannot start.
int run_inherited(const std::vector<std::string>& argv);

// The line of the log that best says why a launch failed: the launcher's line naming a
// rank that died ("tpbench: error: rank R was killed by signal S (Name)", "... exited with
// status C"), else the last line mentioning "error" (case-insensitive), else the last
// non-empty line, skipping the "$ command" line the sweep writes first; "" for an empty or
// missing log.
std::string failure_line(const std::string& log_path);

}  // namespace tpb
