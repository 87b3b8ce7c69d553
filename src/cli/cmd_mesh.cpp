// `tpbench mesh --tp T`: builds the dp x tp device mesh and prints what every rank's
// communicators actually hold (gathered from the ranks, not recomputed on rank 0).
#include <fmt/format.h>

#include "cli/command.h"
#include "cli/flag_ranges.h"
#include "comm/device_mesh.h"

namespace tpb {

namespace {

class MeshCommand final : public Command {
 public:
  std::string name() const override { return "mesh"; }
  std::string description() const override {
    return "Build the dp x tp device mesh (TP innermost) and print its groups and each rank's "
           "coordinates";
  }
  void add_flags(CLI::App& sub) override {
    add_ranged(sub, "--tp", tp_, range::ints(1, kMaxRanks), "tensor-parallel size (must divide the number of ranks)")
        ->capture_default_str();
    add_device_flags(sub, device_);
  }
  bool on_cuda() const override { return device_ == "cuda"; }
  void validate(int world_size) const override { ParallelDims(world_size, tp_); }

  int run(RunContext& ctx) override {
    DeviceMesh mesh(ctx.world, ParallelDims(ctx.world.size(), tp_));
    const std::string report = mesh.gather_report();
    if (ctx.is_root()) {
      fmt::print("{}", report);
      if (on_cuda()) fmt::print("collectives: {}\n", ctx.comm_path);
      std::fflush(stdout);
    }
    return 0;
  }

 private:
  int tp_ = 1;
  std::string device_ = "cpu";
};

}  // namespace

std::unique_ptr<Command> make_mesh_command() { return std::make_unique<MeshCommand>(); }

}  // namespace tpb
