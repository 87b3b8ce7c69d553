#include "sweep/report_tool.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "base/error.h"
#include "sweep/child_process.h"

#ifndef TPB_SOURCE_DIR
#define TPB_SOURCE_DIR ""
#endif

namespace fs = std::filesystem;

namespace tpb {

namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

ReportTool find_report_tool(const std::string& exe) {
  ReportTool t;
  std::vector<std::string> tried;
  std::vector<std::string> candidates;
  if (const std::string e = env_or_empty("TPB_REPORT_SCRIPT"); !e.empty()) candidates.push_back(e);
  if (std::string(TPB_SOURCE_DIR).size() > 0)
    candidates.push_back(std::string(TPB_SOURCE_DIR) + "/tools/report/make_report.py");
  candidates.push_back((fs::path(exe).parent_path() / "../share/tpbench/make_report.py").lexically_normal().string());
  for (const std::string& c : candidates) {
    tried.push_back(c);
    if (fs::is_regular_file(c)) {
      t.script = c;
      break;
    }
  }
  if (t.script.empty()) {
    std::string where;
    for (const auto& p : tried) where += (where.empty() ? "" : ", ") + p;
    TPB_CHECK(false, "cannot find the report generator make_report.py (looked at {}; set TPB_REPORT_SCRIPT)", where);
  }
  if (const std::string e = env_or_empty("TPB_PYTHON"); !e.empty())
    t.python = e;
  else if (fs::exists("/usr/bin/python3"))
    t.python = "/usr/bin/python3";
  else
    t.python = "python3";
  return t;
}

int run_report_tool(const ReportTool& tool, const std::vector<std::string>& inputs, const std::string& out_dir,
                    const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {tool.python, tool.script};
  argv.insert(argv.end(), inputs.begin(), inputs.end());
  argv.insert(argv.end(), {"--out", out_dir});
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_inherited(argv);
}

std::string write_run_plots(const std::string& exe, const std::string& run, const std::string& out_dir) {
  try {
    const int status = run_report_tool(find_report_tool(exe), {run}, out_dir, {"--run-plots", "--quiet"});
    return status == 0 ? "" : fmt::format("plots in {}: the report tool exited {}", out_dir, status);
  } catch (const Error& e) {
    return fmt::format("plots in {}: {}", out_dir, e.what());
  }
}

}  // namespace tpb
