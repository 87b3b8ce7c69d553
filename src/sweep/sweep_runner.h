// Running a sweep: each configuration as its own launch of tpbench, one after another,
// going on past failures, with the manifest SWEEP/sweep.json rewritten after each launch
// (so a sweep that is interrupted can still be reported). Layout of the sweep directory:
//
//   SWEEP/sweep.json                      the manifest (schema tpbench.sweep/1, docs/reports.md)
//   SWEEP/runs/cfgK/launch.log            the launch's stdout and stderr (cfgK-rR/ with --repeat)
//   SWEEP/runs/cfgK/<timestamp>/          train's run directory (config.json, metrics.jsonl, ...)
//   SWEEP/runs/cfgK/results.json          linear's results
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sweep/sweep_plan.h"

namespace tpb {

struct SweepRun {
  SweepConfig config;
  std::vector<std::string> argv;  // the whole launch, executable first
  std::string log;                // relative to the sweep directory
  std::string run_dir;            // relative to the sweep directory; "" when none was written
  std::string status = "pending"; // pending, ok, failed
  int exit_code = -1;
  bool timed_out = false;
  std::string error;              // why it failed: the log's error line, or the exit status
  double wall_s = 0;              // spawn to exit
  std::string started_at;         // local time, ISO 8601
};

struct SweepOptions {
  std::string dir;         // the sweep directory
  std::string exe;         // the tpbench executable to launch
  double timeout_s = 0;    // per configuration; 0: none
  std::vector<std::string> command_line;  // how the sweep was asked for, for the manifest
};

// Called before a launch (run.status == "pending") and after it; `position` counts launches
// from 0.
using SweepProgress = std::function<void(const SweepRun& run, int position, int total)>;

std::vector<SweepRun> run_sweep(const std::vector<SweepConfig>& configs, const SweepOptions& o,
                                const SweepProgress& progress);

nlohmann::json sweep_manifest_json(const std::vector<SweepRun>& runs, const SweepOptions& o);

}  // namespace tpb
