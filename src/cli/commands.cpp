#include "cli/command.h"

#include "comm/communicator.h"

namespace tpb {

bool RunContext::is_root() const { return world.rank() == 0; }

std::unique_ptr<Command> make_mesh_command();
std::unique_ptr<Command> make_linear_command();
std::unique_ptr<Command> make_comm_command();
std::unique_ptr<Command> make_train_command();
std::unique_ptr<Command> make_sweep_command();
std::unique_ptr<Command> make_report_command();

std::vector<std::unique_ptr<Command>> make_commands() {
  std::vector<std::unique_ptr<Command>> cmds;
  cmds.push_back(make_mesh_command());
  cmds.push_back(make_linear_command());
  cmds.push_back(make_comm_command());
  cmds.push_back(make_train_command());
  cmds.push_back(make_sweep_command());
  cmds.push_back(make_report_command());
  return cmds;
}

}  // namespace tpb
