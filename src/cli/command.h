// A tpbench subcommand: its flags, the checks it can make from the command line alone,
// and what it runs on every rank.
//
// validate() runs before any rank starts (in the launching process, with the world size
// that will be launched) and again on every rank before MPI starts, so bad input fails
// fast, once, and never leaves a rank waiting in a collective.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

namespace tpb {

class Communicator;

struct RunContext {
  Communicator& world;
  // How collectives move data ("MPI (host memory)", "NCCL (one GPU per rank, ...)", ...).
  std::string comm_path;
  bool is_root() const;
  // The collective routes' policy in one line (comm/coll_route.h), for run headers.
  std::string routes() const;
};

// --device cpu|cuda (and, when dtype is given, --dtype fp32|bf16) on a subcommand.
void add_device_flags(CLI::App& sub, std::string& device, std::string* dtype = nullptr);

class Command {
 public:
  virtual ~Command() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  virtual void add_flags(CLI::App& sub) = 0;
  // Throws UsageError naming the values.
  virtual void validate(int world_size) const {}
  // Returns the process exit status.
  virtual int run(RunContext& ctx) = 0;
  // Whether this run computes on GPUs (--device cuda): main() then selects each rank's GPU
  // and builds the world communicator for it (NCCL, or MPI with host staging).
  virtual bool on_cuda() const { return false; }
  // Commands that start other programs instead of being ranks (sweep, report) return
  // false: main() then never starts MPI nor launches ranks for them, and calls run_local().
  virtual bool uses_mpi() const { return true; }
  virtual int run_local() { return 1; }
};

// Every subcommand, in --help order.
std::vector<std::unique_ptr<Command>> make_commands();

}  // namespace tpb
