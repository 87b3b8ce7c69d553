// `tpbench comm`: the collective benchmark in nccl-tests' shape (flags, table, busbw),
// plus what nccl-tests does not show: each rank's wait vs transfer (--per-rank), the
// groups of a TP x DP mesh all at once (--tp, --group), and a fitted alpha-beta cost
// model (--profile-out). Exits 1 when any checked value is wrong. docs/comm.md.
#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "base/error.h"
#include "cli/command.h"
#include "cli/flag_ranges.h"
#include "device/device.h"
#include "comm/device_mesh.h"
#include "comm/mpi/mpi_communicator.h"
#include "commbench/bench_op.h"
#include "commbench/comm_report.h"
#include "commbench/route_tune.h"
#include "commbench/sizes.h"
#include "report/atomic_file.h"
#include "cli/launcher.h"
#include "sweep/report_tool.h"

namespace tpb {

namespace {

constexpr int64_t kMaxCommBytes = int64_t{8} << 30;

const char* kFooter =
    "Sizes are bytes of the full buffer (all_gather: the output; reduce_scatter: the input;\n"
    "all_to_all: the whole send buffer), with an optional K, M or G (binary) suffix. Counts are\n"
    "rounded down to a multiple of the group size where the op splits the buffer.\n"
    "busbw factors: all_reduce 2(n-1)/n; all_gather, reduce_scatter, all_to_all (n-1)/n;\n"
    "broadcast 1. See docs/comm.md and docs/metrics.md.";

class CommCommand final : public Command {
 public:
  std::string name() const override { return "comm"; }
  std::string description() const override {
    return "Collective benchmark in nccl-tests' shape, with per-rank wait vs transfer and an "
           "alpha-beta cost model";
  }

  void add_flags(CLI::App& sub) override {
    sub.footer(kFooter);
    sub.add_option("--op", op_, "all_reduce, all_gather, reduce_scatter, broadcast, all_to_all or all")
        ->capture_default_str();
    // Sizes: one call moves at most INT_MAX elements (validate_comm_config), so 8 GiB of
    // fp32 at most.
    add_ranged(sub, "-b,--min-bytes", min_bytes_, range::bytes(1, kMaxCommBytes),
               "smallest size (bytes, K/M/G suffix allowed)")
        ->capture_default_str();
    add_ranged(sub, "-e,--max-bytes", max_bytes_, range::bytes(1, kMaxCommBytes), "largest size")
        ->capture_default_str();
    add_ranged(sub, "-f,--step-factor", c_.step_factor, range::ints(2, 1024), "multiply the size by this between rows")
        ->capture_default_str();
    add_ranged(sub, "-n,--iters", c_.iters, range::ints(1, 1'000'000), "timed calls per size and variant")
        ->capture_default_str();
    add_ranged(sub, "-w,--warmup", c_.warmup, range::ints(0, 1'000'000), "untimed calls before them")
        ->capture_default_str();
    // As nccl-tests' -c: 0 or 1.
    add_ranged(sub, "-c,--check", c_.check, range::ints(0, 1),
               "1: check one more call per size and variant to the bit (exit 1 if wrong); 0: off")
        ->capture_default_str();
    sub.add_option("--dtype", dtype_, "fp32 or bf16")->capture_default_str();
    root_opt_ = add_ranged(sub, "-r,--root", c_.root, range::ints(0, kMaxRanks - 1),
                           "broadcast's root (a rank of the group)")
                    ->capture_default_str();
    tp_opt_ = add_ranged(sub, "--tp", tp_, range::ints(1, kMaxRanks),
                         "run on the dp x tp mesh's groups (TP innermost), all groups at once");
    sub.add_option("--group", c_.group, "with --tp: benchmark the tp or the dp groups")
        ->capture_default_str();
    sub.add_flag("--per-rank", c_.per_rank,
                 "also print each rank's median time split into wait (for the last rank of its "
                 "group) and transfer");
    add_device_flags(sub, c_.device);
    path_flag(sub.add_option("--json", json_, "write results (config, machine, every row, fits) here, and plots "
                                              "beside it (FILE without .json, then -plots/)"));
    sub.add_flag("--no-plots", no_plots_, "with --json: no plots (busbw against size with the alpha-beta fit)");
    path_flag(sub.add_option("--profile-out", profile_out_,
                             "write the machine's cost profile (alpha-beta per op) here, for predictions"));
    op_opt_ = sub.get_option("--op");
    sub.add_flag("--tune-routes", tune_,
                 "measure every route of all_reduce, all_gather, reduce_scatter and broadcast (or --op) side "
                 "by side, pick the fastest per size, and save that route table in the --profile-out file "
                 "(use it with `tpbench --coll-table FILE`)");
  }

  void validate(int world_size) const override {
    const CommBenchConfig c = config();
    validate_comm_config(c, world_size);
    if (tune_ && profile_out_.empty())
      usage_error("--tune-routes saves the route table in the machine profile: give --profile-out FILE");
    if (tune_ && c.device != "cpu") usage_error("--tune-routes chooses routes for host memory: --device {} has none", c.device);
    if (root_opt_->count() > 0 && std::find(c.ops.begin(), c.ops.end(), CommOp::broadcast) == c.ops.end())
      usage_error("-r/--root {} has no effect: only broadcast has a root (add --op broadcast or --op all)", c.root);
  }

  bool on_cuda() const override { return c_.device == "cuda"; }

  int run(RunContext& ctx) override {
    const CommBenchConfig c = config();
    Communicator& world = ctx.world;
    world.set_synchronous(true);  // GPU: a call returns once its data moved (before the split)
    const GroupLayout layout = comm_group_layout(c, world.size());
    std::optional<DeviceMesh> mesh;
    Communicator* group = &world;
    if (c.tp) {
      mesh.emplace(world, ParallelDims(world.size(), *c.tp));
      group = c.group == "tp" ? &mesh->tp() : &mesh->dp();
    }
    // Which link the benchmarked groups use: within one host, or across hosts (the network).
    const Topology topo = mesh ? mesh->topology() : gather_topology(world);
    bool crosses = false;
    for (const std::vector<int>& g : layout.groups) crosses = crosses || topo.spans_hosts(g);
    link_ = crosses ? "inter-host" : "intra-host";
    topology_ = topo.describe();
    if (ctx.is_root()) {
      fmt::print("{}", format_comm_header(c, layout, world.size()));
      fmt::print("# link: {} ({} groups; {})\n", link_, layout.name, topology_);
      if (on_cuda()) fmt::print("# device buffers on {}; collectives: {}\n", device::cuda_device_description(), ctx.comm_path);
      fmt::print("# collective routes: {}\n", ctx.routes());
      std::fflush(stdout);
    }
    if (tune_) return run_tune(ctx, c, layout, *group);
    std::vector<OpResult> results;
    std::vector<std::optional<AlphaBetaFit>> fits;
    for (CommOp op : c.ops) {
      results.push_back(run_comm_op(op, c, layout, world, *group));
      fits.push_back(fit_op(results.back()));
      if (ctx.is_root()) {  // between ops, outside every timed region
        fmt::print("{}{}{}", format_comm_table(results.back(), c, layout),
                   format_group_times(results.back(), layout),
                   format_per_rank(results.back(), c, layout));
        std::fflush(stdout);
      }
    }
    const int64_t wrong = total_wrong(results);  // the same on every rank
    if (!ctx.is_root()) return wrong == 0 ? 0 : 1;

    fmt::print("{}", format_fits(results, fits, layout));
    if (c.check > 0)
      fmt::print("# {} wrong values in all ({})\n", wrong, wrong == 0 ? "OK" : "FAILED");
    const MachineInfo machine = read_machine_info(MpiRuntime::library_version());
    if (!json_.empty()) {
      write_file_atomic(json_, with_link(comm_results_json(c, layout, world.size(), machine, results, fits)).dump(2) + "\n");
      if (!write_plots()) return 4;
    }
    if (!profile_out_.empty()) {
      save_cost_model(make_cost_model(c, layout, world.size(), machine, results, fits), profile_out_);
      fmt::print("# cost profile written to {}\n", profile_out_);
    }
    std::fflush(stdout);
    return wrong == 0 ? 0 : 1;
  }

 private:
  // --tune-routes: the routes side by side, the table, and the profile with it.
  int run_tune(RunContext& ctx, const CommBenchConfig& c, const GroupLayout& layout, Communicator& group) {
    Communicator& world = ctx.world;
    RouteTable table = group.route_policy() ? group.route_policy()->table : builtin_route_table();
    const std::vector<OpTuning> tunings = tune_routes(c, layout, world, group, table);
    std::vector<OpResult> results;
    std::vector<std::optional<AlphaBetaFit>> fits;
    for (const OpTuning& t : tunings) {
      results.push_back(t.trials.back().result);  // auto: what runs with the table get
      fits.push_back(t.trials.back().fit);
    }
    const int64_t wrong = [&] {
      int64_t w = 0;
      for (const OpTuning& t : tunings) w += total_wrong({t.trials[0].result, t.trials[1].result, t.trials[2].result});
      return w;
    }();
    if (!ctx.is_root()) return wrong == 0 ? 0 : 1;
    fmt::print("{}", format_tuning(tunings, c, layout));
    RoutePolicy tuned;
    tuned.table = table;
    fmt::print("#\n# route table: {}\n", tuned.describe());
    if (c.check > 0) fmt::print("# {} wrong values in all routes ({})\n", wrong, wrong == 0 ? "OK" : "FAILED");
    const MachineInfo machine = read_machine_info(MpiRuntime::library_version());
    nlohmann::json profile = to_json(make_cost_model(c, layout, world.size(), machine, results, fits));
    profile["routes"] = to_json(table);
    profile["route_tuning"] = tuning_json(tunings, layout);
    write_file_atomic(profile_out_, profile.dump(2) + "\n");
    fmt::print("# cost profile and route table written to {} (use: tpbench --coll-table {} ...)\n", profile_out_,
               profile_out_);
    if (!json_.empty()) {
      write_file_atomic(json_, with_link(comm_results_json(c, layout, world.size(), machine, results, fits)).dump(2) + "\n");
      if (!write_plots()) return 4;
    }
    std::fflush(stdout);
    return wrong == 0 ? 0 : 1;
  }

  CommBenchConfig config() const {
    CommBenchConfig c = c_;
    c.ops = parse_bench_ops(op_);
    if (tune_ && op_opt_->count() == 0) c.ops.assign(std::begin(kRoutedOps), std::end(kRoutedOps));
    c.dtype = parse_bench_dtype(dtype_);
    c.min_bytes = parse_size(min_bytes_, "-b/--min-bytes");
    c.max_bytes = parse_size(max_bytes_, "-e/--max-bytes");
    if (tp_opt_->count() > 0) c.tp = tp_;
    return c;
  }

  CommBenchConfig c_;
  std::string op_ = "all_reduce";
  std::string dtype_ = "fp32";
  std::string min_bytes_ = "8";
  std::string max_bytes_ = "64M";
  int tp_ = 1;
  CLI::Option* tp_opt_ = nullptr;
  CLI::Option* root_opt_ = nullptr;
  // The --json file's plots, beside it: FILE (less .json) + "-plots/". False when they could not be made.
  bool write_plots() const {
    if (no_plots_) return true;
    std::string stem = json_;
    if (stem.ends_with(".json")) stem.resize(stem.size() - 5);
    const std::string dir = stem + "-plots";
    std::fflush(stdout);
    if (const std::string why = write_run_plots(self_executable(), json_, dir); !why.empty()) {
      fmt::print(stderr, "tpbench comm: error: results not written: {}\n", why);
      return false;
    }
    fmt::print("# plots: {}/ (comm_busbw.png, .svg)\n", dir);
    return true;
  }

  // The results with the link kind and the hosts (config.link, config.topology).
  nlohmann::json with_link(nlohmann::json j) const {
    j["config"]["link"] = link_;
    j["config"]["topology"] = topology_;
    return j;
  }

  std::string link_ = "intra-host", topology_;
  std::string json_;
  bool no_plots_ = false;
  std::string profile_out_;
  bool tune_ = false;
  CLI::Option* op_opt_ = nullptr;
};

}  // namespace

std::unique_ptr<Command> make_comm_command() { return std::make_unique<CommCommand>(); }

}  // namespace tpb
