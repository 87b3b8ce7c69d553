// `tpbench linear`: the seed's row-wise vs column-wise linear-layer benchmark, with correct
// gradients, honest timing (every rank, wait split from transfer), --verify against the
// serial layer and --profile traces.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

#include "base/checked_math.h"
#include "cli/command.h"
#include "cli/flag_ranges.h"
#include "device/device.h"
#include "comm/mpi/mpi_communicator.h"
#include "linear/linear_report.h"
#include "profile/trace_files.h"
#include "report/atomic_file.h"
#include "cli/launcher.h"
#include "sweep/report_tool.h"

namespace tpb {

namespace {

constexpr double kVerifyTolerance = 1e-5;

const char* kNaming =
    "Naming (the seed's words vs the field's), for W stored [out, in] as in PyTorch:\n"
    "  --mode row    splits W's rows = output features: Megatron ColumnParallelLinear,\n"
    "                PyTorch ColwiseParallel. all_gather of outputs forward, all_reduce of\n"
    "                the input gradient backward.\n"
    "  --mode column splits W's columns = input features: Megatron RowParallelLinear,\n"
    "                PyTorch RowwiseParallel. all_reduce of partial outputs forward.\n";

class LinearCommand final : public Command {
 public:
  std::string name() const override { return "linear"; }
  std::string description() const override {
    return "The seed's row-wise vs column-wise linear layer benchmark, correct and honestly timed";
  }

  void add_flags(CLI::App& sub) override {
    sub.footer(kNaming);
    sub.add_option("--mode", mode_, "row, column or both (row then column, side by side)")
        ->check(CLI::IsMember({"row", "column", "both"}))
        ->capture_default_str();
    // Each size alone is at most 2^40; their products (W, x, targets) are bounded the same
    // way by validate_linear_config.
    add_ranged(sub, "--in-features", c_.in_features, range::positive(kMaxTensorElements), "input features")
        ->capture_default_str();
    add_ranged(sub, "--out-features", c_.out_features, range::positive(kMaxTensorElements), "output features")
        ->capture_default_str();
    add_ranged(sub, "--batch", c_.batch, range::positive(kMaxTensorElements), "batch size (identical on every rank)")
        ->capture_default_str();
    add_ranged(sub, "--iters", c_.iters, range::positive(1'000'000'000), "timed iterations")->capture_default_str();
    add_ranged(sub, "--warmup", c_.warmup, range::ints(0, 1'000'000'000), "warm-up iterations (not timed)")
        ->capture_default_str();
    add_ranged(sub, "--lr", c_.lr, range::positive_reals(10), "SGD learning rate")->capture_default_str();
    add_ranged(sub, "--seed", c_.seed, range::ints(0, INT64_MAX), "seed of weights, inputs and targets")
        ->capture_default_str();
    add_device_flags(sub, c_.device);
    sub.add_flag("--verify", verify_,
                 "check one step against the serial layer (exit 1 beyond 1e-5 relative)");
    sub.add_flag("--profile", profile_,
                 "write Chrome/Perfetto traces: profiler_logs_rank_{rank}_{mode}/ per rank and "
                 "profiler_logs_all_ranks_{mode}/ merged");
    path_flag(sub.add_option("--json", json_, "write results (config, machine, per-rank phases, summary) here"));
    path_flag(sub.add_option("--out", out_, "directory for traces, results.json and plots/"))->capture_default_str();
    sub.add_flag("--no-plots", no_plots_, "with --out: do not write OUT/plots/ (per-rank phases, PNG and SVG)");
  }

  void validate(int world_size) const override {
    LinearConfig c = config();
    validate_linear_config(c, world_size);
  }

  bool on_cuda() const override { return c_.device == "cuda"; }

  int run(RunContext& ctx) override {
    const LinearConfig c = config();
    Communicator& world = ctx.world;
    world.set_synchronous(true);  // GPU: each collective's record bounds its transfer
    std::vector<LinearRun> runs;
    std::vector<LinearSummary> summaries;
    std::vector<std::optional<LinearVerify>> verifies;
    bool ok = true;
    for (LinearMode m : c.modes) {
      std::optional<LinearVerify> v;
      if (verify_) {
        v = verify_linear_mode(m, c, world);
        ok = ok && v->passed(kVerifyTolerance);
      }
      world.log().clear();
      runs.push_back(run_linear_mode(m, c, world, profile_));
      if (profile_) write_traces(runs.back().trace, runs.back().comms, world, out_, linear_mode_name(m));
      summaries.push_back(summarize_linear_run(runs.back(), c));
      verifies.push_back(std::move(v));
    }
    if (!ctx.is_root()) return ok ? 0 : 1;

    fmt::print("{}\n", format_linear_header(c, world.size()));
    if (on_cuda()) fmt::print("device: {}; collectives: {}\n", device::cuda_device_description(), ctx.comm_path);
    fmt::print("collective routes: {}\n\n", ctx.routes());
    for (size_t k = 0; k < runs.size(); ++k)
      if (verifies[k]) fmt::print("{}", format_linear_verify(runs[k].mode, *verifies[k], kVerifyTolerance));
    if (verify_) fmt::print("\n");
    fmt::print("{}", format_linear_table(summaries));
    const MachineInfo machine = read_machine_info(MpiRuntime::library_version());
    const std::string text =
        linear_results_json(c, world.size(), machine, runs, summaries, verifies).dump(2) + "\n";
    if (!json_.empty()) write_file_atomic(json_, text);
    if (out_ != ".") {
      write_file_atomic(out_ + "/results.json", text);
      if (!no_plots_) {
        if (const std::string why = write_run_plots(self_executable(), out_ + "/results.json", out_ + "/plots");
            !why.empty()) {
          fmt::print(stderr, "tpbench linear: error: results not written: {}\n", why);
          ok = false;
        } else {
          fmt::print("plots: {}/plots/ (phases.png, .svg)\n", out_);
        }
      }
    }
    if (profile_)
      fmt::print("\ntraces: {0}/profiler_logs_rank_*_{{row,column}}/ (per rank), "
                 "{0}/profiler_logs_all_ranks_*/ (merged; open in https://ui.perfetto.dev)\n", out_);
    std::fflush(stdout);
    return ok ? 0 : 1;
  }

 private:
  LinearConfig config() const {
    LinearConfig c = c_;
    if (mode_ == "row") c.modes = {LinearMode::row};
    else if (mode_ == "column") c.modes = {LinearMode::column};
    else c.modes = {LinearMode::row, LinearMode::column};
    return c;
  }

  LinearConfig c_;
  std::string mode_ = "both";
  bool verify_ = false;
  bool profile_ = false;
  std::string json_;
  std::string out_ = ".";
  bool no_plots_ = false;
};

}  // namespace

std::unique_ptr<Command> make_linear_command() { return std::make_unique<LinearCommand>(); }

}  // namespace tpb
