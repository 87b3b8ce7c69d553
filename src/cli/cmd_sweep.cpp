// `tpbench sweep`: the TP = 1, 2, 4 study (or any product of --nproc, --tp, --dp-shard,
// --batch, --seq, linear's --mode) in one command. Each configuration is its own launch of
// `tpbench --nproc N train|linear ...`, run one after another by this single process (no
// MPI here), each with its log; a failed configuration is recorded with its error and the
// sweep goes on. At the end the report generator writes the tables, charts and
// report.html into the sweep directory (docs/reports.md).
#include <fmt/format.h>

#include <filesystem>

#include "base/error.h"
#include "cli/command.h"
#include "cli/flag_ranges.h"
#include "cli/launcher.h"
#include "report/output_files.h"
#include "sweep/report_tool.h"
#include "sweep/sweep_plan.h"
#include "sweep/sweep_runner.h"

namespace tpb {

namespace {

const char* kSweepFooter =
    "Lists are comma-separated; the sweep runs their product, one launch per configuration.\n"
    "Flags the sweep does not know are passed, in order, to every configuration.\n"
    "Examples:\n"
    "  tpbench sweep --nproc 4 --tp 1,2,4 --preset tiny --iters 20\n"
    "  tpbench sweep --nproc 4 --tp 1,2,4 --batch 2,4 --preset small --lr 1e-3\n"
    "  tpbench sweep --command linear --nproc 1,2,4 --mode row,column --in-features 2048\n"
    "Output (--out, default outputs/sweep/YYYY-MM-DD-HHMMSS): sweep.json, runs/cfgK/ (each\n"
    "launch's log and run directory), report.md, report.html, results.csv, results.json,\n"
    "charts/*.png|svg. Exit status 0 when every launch succeeded, 1 when any failed (the\n"
    "report is written either way).";

std::string describe(const SweepConfig& c) {
  std::string s = fmt::format("--nproc {} {}", c.nproc, sweep_target_name(c.target));
  if (c.tp) s += fmt::format(" --tp {}", *c.tp);
  if (c.dp_shard) s += fmt::format(" --dp-shard {}", *c.dp_shard);
  if (c.sp.value_or(false)) s += " --sp";
  if (c.batch) s += fmt::format(" --batch {}", *c.batch);
  if (c.seq) s += fmt::format(" --seq {}", *c.seq);
  if (c.mode) s += fmt::format(" --mode {}", *c.mode);
  return s;
}

class SweepCommand final : public Command {
 public:
  std::string name() const override { return "sweep"; }
  std::string description() const override {
    return "Run train (or linear) once per configuration, e.g. --nproc 4 --tp 1,2,4, and write one "
           "report with tables and charts";
  }

  void add_flags(CLI::App& sub) override {
    sub_ = &sub;
    sub.allow_extras();
    sub.footer(kSweepFooter);
    add_ranged(sub, "--nproc", nproc_, range::int_list(1, kMaxRanks), "ranks of each configuration's launch (a list: 1,2,4)")
        ->required();
    sub.add_option("--command", target_, "what each configuration runs: train or linear")
        ->check(CLI::IsMember({"train", "linear"}))
        ->capture_default_str();
    add_ranged(sub, "--tp", tp_, range::int_list(1, kMaxRanks), "train: tensor-parallel sizes, e.g. 1,2,4");
    sub.add_option("--dp-shard", dp_shard_, "train: --dp-shard values, passed through");
    sub.add_option("--sp", sp_, "train: sequence parallelism off,on (on passes --sp)");
    // Each value is checked again, with the rest of its configuration, by the launch itself.
    add_ranged(sub, "--batch", batch_, range::int_list(1, int64_t{1} << 24), "batch sizes (train: per DP rank; linear: the batch)");
    add_ranged(sub, "--seq", seq_, range::int_list(1, int64_t{1} << 24), "train: sequence lengths");
    sub.add_option("--mode", mode_, "linear: modes, from row, column, both");
    path_flag(sub.add_option("--out", out_, "the sweep directory (default outputs/sweep/YYYY-MM-DD-HHMMSS)"));
    add_ranged(sub, "--timeout", timeout_s_, range::reals(0, 30 * 86400.0),
               "seconds a configuration may run before it is stopped (0: no limit)")
        ->capture_default_str();
    add_ranged(sub, "--repeat", repeat_, range::ints(1, 100),
               "launch every configuration this many times, round-robin; the report keeps each one's best "
               "and shows the spread (for shared or noisy machines)")
        ->capture_default_str();
    sub.add_option("--title", title_, "the report's title");
    sub.add_flag("--dry-run", dry_run_, "print the launches the sweep would make, and exit");
  }

  void validate(int world_size) const override {
    if (world_size > 1)
      usage_error("the sweep runs as one process and launches each configuration itself: give --nproc after "
                  "'sweep' (tpbench sweep --nproc {} ...), not before it or under mpirun", world_size);
    validate_sweep_spec(spec());
  }

  bool uses_mpi() const override { return false; }
  int run(RunContext&) override { return run_local(); }

  int run_local() override {
    const std::vector<SweepConfig> configs = plan_sweep(spec());
    SweepOptions o;
    // The default is a new directory (-2, -3, ... when two sweeps start in one second),
    // made once the sweep really runs.
    o.dir = out_.empty() ? "outputs/sweep/" + local_timestamp() : out_;
    o.exe = self_executable();
    o.timeout_s = timeout_s_;
    o.command_line = command_line();

    if (dry_run_) {
      for (const SweepConfig& c : configs) {
        std::vector<std::string> argv = {o.exe};
        const auto args = launch_args(c, o.dir + "/runs");
        argv.insert(argv.end(), args.begin(), args.end());
        fmt::print("{}: {}\n", c.name, shell_join(argv));
      }
      return 0;
    }

    if (out_.empty()) o.dir = create_unique_directory("outputs/sweep", local_timestamp());
    const size_t n_configs = configs.size() / static_cast<size_t>(repeat_);
    fmt::print("tpbench sweep: {} configuration{}{}, each its own launch; sweep directory {}\n", n_configs,
               n_configs == 1 ? "" : "s", repeat_ > 1 ? fmt::format(" x {} rounds", repeat_) : "", o.dir);
    std::fflush(stdout);
    const auto progress = [](const SweepRun& r, int position, int total) {
      const std::string head = fmt::format("[{}/{}] {}", position + 1, total, r.config.name);
      if (r.status == "pending")
        fmt::print("{}: {} ...\n", head, describe(r.config));
      else if (r.status == "ok")
        fmt::print("{}: ok, {:.1f} s (log {})\n", head, r.wall_s, r.log);
      else
        fmt::print("{}: FAILED after {:.1f} s: {} (log {})\n", head, r.wall_s, r.error, r.log);
      std::fflush(stdout);
    };
    const std::vector<SweepRun> runs = run_sweep(configs, o, progress);
    int failed = 0;
    for (const SweepRun& r : runs) failed += r.status != "ok";

    fmt::print("\n");
    std::fflush(stdout);
    std::vector<std::string> extra;
    if (!title_.empty()) extra = {"--title", title_};
    const int report_status = run_report_tool(find_report_tool(o.exe), {o.dir}, o.dir, extra);
    if (report_status != 0) {
      fmt::print(stderr, "tpbench sweep: error: the report generator exited with status {}; the runs are in {}\n",
                 report_status, o.dir);
      return 1;
    }
    if (failed > 0) {
      fmt::print("{} of {} launches failed (shown in the report with their errors).\n", failed, runs.size());
      return 1;
    }
    return 0;
  }

 private:
  SweepSpec spec() const {
    SweepSpec s;
    s.target = target_ == "linear" ? SweepTarget::linear : SweepTarget::train;
    s.nproc = parse_int_list("--nproc", nproc_);
    if (!tp_.empty()) s.tp = parse_int_list("--tp", tp_);
    if (!dp_shard_.empty()) s.dp_shard = parse_word_list("--dp-shard", dp_shard_, {"none", "optimizer", "full"});
    if (!sp_.empty()) s.sp = parse_word_list("--sp", sp_, {"off", "on"});
    if (!batch_.empty()) s.batch = parse_int_list("--batch", batch_);
    if (!seq_.empty()) s.seq = parse_int_list("--seq", seq_);
    if (!mode_.empty()) s.mode = parse_word_list("--mode", mode_, {"row", "column", "both"});
    s.repeat = repeat_;
    if (sub_) s.extra = sub_->remaining();
    return s;
  }

  // The sweep as typed, for the manifest (argv is not kept by the Command interface, so
  // rebuild it from the parsed flags).
  std::vector<std::string> command_line() const {
    std::vector<std::string> a = {"tpbench", "sweep", "--nproc", nproc_};
    if (target_ != "train") a.insert(a.end(), {"--command", target_});
    auto add = [&a](const char* flag, const std::string& v) {
      if (!v.empty()) a.insert(a.end(), {flag, v});
    };
    add("--tp", tp_);
    add("--dp-shard", dp_shard_);
    add("--sp", sp_);
    add("--batch", batch_);
    add("--seq", seq_);
    add("--mode", mode_);
    add("--out", out_);
    if (timeout_s_ > 0) a.insert(a.end(), {"--timeout", fmt::format("{}", timeout_s_)});
    if (repeat_ > 1) a.insert(a.end(), {"--repeat", std::to_string(repeat_)});
    add("--title", title_);
    if (sub_) {
      const auto extra = sub_->remaining();
      a.insert(a.end(), extra.begin(), extra.end());
    }
    return a;
  }

  CLI::App* sub_ = nullptr;
  std::string nproc_, target_ = "train", tp_, dp_shard_, sp_, batch_, seq_, mode_, out_, title_;
  double timeout_s_ = 0;
  int repeat_ = 1;
  bool dry_run_ = false;
};

}  // namespace

std::unique_ptr<Command> make_sweep_command() { return std::make_unique<SweepCommand>(); }

}  // namespace tpb
