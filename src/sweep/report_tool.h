// The report generator, tools/report/make_report.py, run by `tpbench sweep` and `tpbench
// report`. It is Python because its charts are matplotlib's; tpbench finds it and a
// Python 3 with matplotlib, and relays what it prints.
#pragma once

#include <string>
#include <vector>

namespace tpb {

struct ReportTool {
  std::string python;  // interpreter
  std::string script;  // make_report.py
};

// Where the script is, in this order: $TPB_REPORT_SCRIPT; the source tree this binary was
// built from (tools/report/make_report.py); EXE_DIR/../share/tpbench/make_report.py. The
// interpreter: $TPB_PYTHON, else /usr/bin/python3 (Debian's, with python3-matplotlib),
// else python3 from PATH. Throws tpb::Error naming the places it looked.
ReportTool find_report_tool(const std::string& exe);

// Runs `python make_report.py INPUT... --out OUT_DIR [extra...]` with our stdout and
// stderr; returns its exit status.
int run_report_tool(const ReportTool& tool, const std::vector<std::string>& inputs, const std::string& out_dir,
                    const std::vector<std::string>& extra);

// One run's plots (PNG and SVG) into out_dir: `make_report.py RUN --run-plots --out
// OUT_DIR --quiet` (a train run directory, a linear results.json, a comm --json file).
// Returns "" or why they are missing (the tool not found, or its exit status).
std::string write_run_plots(const std::string& exe, const std::string& run, const std::string& out_dir);

}  // namespace tpb
