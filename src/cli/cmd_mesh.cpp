// `tpbench mesh --tp T`: builds the dp x tp device mesh and prints what every rank's
// communicators actually hold (gathered from the ranks, not recomputed on rank 0).
#include <fmt/format.h>

#include <map>

#include "cli/command.h"
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
    sub.add_option("--tp", tp_, "tensor-parallel size (must divide the number of ranks)")
        ->capture_default_str();
  }
  void validate(int world_size) const override { validate_mesh(world_size, tp_); }

  int run(RunContext& ctx) override {
    DeviceMesh mesh(ctx.world, tp_);
    // Each rank reports its coordinates and the world ranks of its TP group.
    std::vector<int32_t> mine = {mesh.tp_rank(), mesh.tp_size(), mesh.dp_rank(), mesh.dp_size()};
    const auto& members = mesh.tp().world_ranks();
    mine.insert(mine.end(), members.begin(), members.end());
    const size_t per_rank = mine.size();
    std::vector<int32_t> all(per_rank * static_cast<size_t>(mesh.world_size()));
    ctx.world.all_gather(mine.data(), all.data(), per_rank, DType::i32);
    if (!ctx.is_root()) return 0;

    std::map<int, std::vector<int>> tp_groups;  // by dp index
    std::string lines;
    for (int r = 0; r < mesh.world_size(); ++r) {
      const int32_t* v = all.data() + static_cast<size_t>(r) * per_rank;
      tp_groups[v[2]] = std::vector<int>(v + 4, v + per_rank);
      lines += fmt::format("[rank {}/{}] [tp:{}/{}][dp:{}/{}]\n", r, mesh.world_size(), v[0], v[1],
                           v[2], v[3]);
    }
    std::vector<std::vector<int>> groups;
    for (auto& [dp, g] : tp_groups) groups.push_back(g);
    fmt::print("{}\n{}", format_groups(groups), lines);
    std::fflush(stdout);
    return 0;
  }

 private:
  int tp_ = 1;
};

}  // namespace

std::unique_ptr<Command> make_mesh_command() { return std::make_unique<MeshCommand>(); }

}  // namespace tpb
