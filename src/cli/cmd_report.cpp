// `tpbench report DIR...`: the sweep's report (tables, charts, report.html) rebuilt from
// any existing results: sweep directories, train run directories, linear results, comm
// --json files, from any day or machine (each run's machine is shown). A plain process:
// no MPI, no ranks. The work is done by tools/report/make_report.py (docs/reports.md).
#include <fmt/format.h>

#include <filesystem>

#include "base/error.h"
#include "cli/command.h"
#include "cli/flag_ranges.h"
#include "cli/launcher.h"
#include "report/output_files.h"
#include "sweep/report_tool.h"

namespace tpb {

namespace {

class ReportCommand final : public Command {
 public:
  std::string name() const override { return "report"; }
  std::string description() const override {
    return "Build the sweep report (tables, charts, report.html) from existing run directories or "
           "results files";
  }

  void add_flags(CLI::App& sub) override {
    sub.footer(
        "Each input may be: a sweep directory (sweep.json), a train run directory (config.json,\n"
        "metrics.jsonl, summary.json), a linear results.json or its directory, a comm --json file,\n"
        "or a directory holding any of these (searched recursively). Rows keep the order given.");
    sub.add_option("inputs", inputs_, "run directories or results files")->required()->expected(1, -1);
    path_flag(sub.add_option("--out", out_, "where to write the report (default outputs/report/YYYY-MM-DD-HHMMSS)"));
    sub.add_option("--title", title_, "the report's title");
  }

  void validate(int world_size) const override {
    if (world_size > 1) usage_error("report runs as one process; do not give --nproc {} or start it under mpirun", world_size);
    for (const std::string& in : inputs_)
      if (!std::filesystem::exists(in)) usage_error("{}: no such file or directory", in);
  }

  bool uses_mpi() const override { return false; }
  int run(RunContext&) override { return run_local(); }

  int run_local() override {
    // The default is a new directory (-2, -3, ... when two reports start in one second).
    const std::string out = out_.empty() ? create_unique_directory("outputs/report", local_timestamp()) : out_;
    std::vector<std::string> extra;
    if (!title_.empty()) extra = {"--title", title_};
    const int status = run_report_tool(find_report_tool(self_executable()), inputs_, out, extra);
    // 1 and 2 are the generator's own failures, each already said in one line (2: an
    // unreadable results file, passed on as bad input); anything else is its crash.
    if (status == 0 || status == 1 || status == 2) return status;
    fmt::print(stderr, "tpbench report: error: the report generator exited with status {}\n", status);
    return 1;
  }

 private:
  std::vector<std::string> inputs_;
  std::string out_, title_;
};

}  // namespace

std::unique_ptr<Command> make_report_command() { return std::make_unique<ReportCommand>(); }

}  // namespace tpb
