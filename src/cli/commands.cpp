#include "cli/command.h"

#include "comm/communicator.h"

namespace tpb {

bool RunContext::is_root() const { return world.rank() == 0; }

std::string RunContext::routes() const {
  const RoutePolicy* p = world.route_policy();
  return p ? p->describe() : RoutePolicy{}.describe();
}

void add_device_flags(CLI::App& sub, std::string& device, std::string* dtype) {
  sub.add_option("--device", device, "where to compute: cpu, or cuda (one GPU per rank; ranks sharing a GPU use MPI with host staging)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  if (dtype)
    sub.add_option("--dtype", *dtype, "fp32, or bf16 (cuda: bf16 compute, fp32 master weights and reductions)")
        ->check(CLI::IsMember({"fp32", "bf16"}))
        ->capture_default_str();
}

std::unique_ptr<Command> make_mesh_command();
std::unique_ptr<Command> make_linear_command();
std::unique_ptr<Command> make_comm_command();
std::unique_ptr<Command> make_train_command();
std::unique_ptr<Command> make_sweep_command();
std::unique_ptr<Command> make_report_command();
std::unique_ptr<Command> make_devices_command();
std::unique_ptr<Command> make_flight_command();
std::unique_ptr<Command> make_eval_command();
std::unique_ptr<Command> make_export_command();

std::vector<std::unique_ptr<Command>> make_commands() {
  std::vector<std::unique_ptr<Command>> cmds;
  cmds.push_back(make_mesh_command());
  cmds.push_back(make_linear_command());
  cmds.push_back(make_comm_command());
  cmds.push_back(make_train_command());
  cmds.push_back(make_eval_command());
  cmds.push_back(make_export_command());
  cmds.push_back(make_sweep_command());
  cmds.push_back(make_report_command());
  cmds.push_back(make_devices_command());
  cmds.push_back(make_flight_command());
  return cmds;
}

}  // namespace tpb
