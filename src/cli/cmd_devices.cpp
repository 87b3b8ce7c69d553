// `tpbench devices`: what this binary and this machine can compute on: the CPU always, and
// CUDA GPUs when the binary has the CUDA backend and a GPU and driver are present. A plain
// process (no MPI). Exit 0 either way; `--require-gpu` exits 1 when no GPU can be used.
#include <fmt/format.h>

#include "base/error.h"
#include "cli/command.h"
#include "device/device.h"

namespace tpb {

namespace {

class DevicesCommand final : public Command {
 public:
  std::string name() const override { return "devices"; }
  std::string description() const override {
    return "Say whether this binary has the CUDA backend and which GPUs it can use";
  }
  void add_flags(CLI::App& sub) override {
    sub.add_flag("--require-gpu", require_gpu_, "exit 1 when no GPU can be used");
  }
  void validate(int world_size) const override {
    if (world_size > 1) usage_error("devices runs as one process; do not give --nproc {}", world_size);
  }
  bool uses_mpi() const override { return false; }
  int run(RunContext&) override { return run_local(); }

  int run_local() override {
    fmt::print("cpu: yes\n");
    if (!device::built_with_cuda()) {
      fmt::print("cuda: not built in (CMake did not find the CUDA toolkit)\n");
      return require_gpu_ ? 1 : 0;
    }
    std::string why;
    const int n = device::cuda_device_count(&why);
    if (n == 0) {
      fmt::print("cuda: built in, but no usable GPU here ({})\n", why);
      return require_gpu_ ? 1 : 0;
    }
    fmt::print("cuda: {} GPU(s)\n", n);
    for (int i = 0; i < n; ++i) {
      device::use_cuda_device(i);
      fmt::print("  {}: {}\n", i, device::cuda_device_description());
    }
    return 0;
  }

 private:
  bool require_gpu_ = false;
};

}  // namespace

std::unique_ptr<Command> make_devices_command() { return std::make_unique<DevicesCommand>(); }

}  // namespace tpb
