// The seed's experiment, done right: one linear layer y = x W^T + b (W stored (out, in)),
// trained with MSE loss and SGD, split over all ranks in one of two ways:
//
//   seed "row"    = W split by output features = Megatron ColumnParallelLinear /
//                   PyTorch ColwiseParallel: all_gather of the output forward, all_reduce
//                   of the input gradient backward.
//   seed "column" = W split by input features  = Megatron RowParallelLinear /
//                   PyTorch RowwiseParallel: all_reduce of the partial outputs forward,
//                   bias added once after it; no communication backward.
//
// Every rank builds the same full W, b, x and targets from the seed and keeps its shard,
// so the sharded layer can be checked against the unsharded one (verify_linear_mode).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "comm/arrival.h"
#include "comm/communicator.h"
#include "profile/trace.h"
#include "report/record_fields.h"

namespace tpb {

enum class LinearMode { row, column };
std::string linear_mode_name(LinearMode m);
// "column-parallel (Megatron ColumnParallelLinear, PyTorch ColwiseParallel)" and so on.
std::string linear_mode_field_name(LinearMode m);

struct LinearConfig {
  int64_t in_features = 1000;
  int64_t out_features = 1000;
  int64_t batch = 20;
  int iters = 10;
  int warmup = 2;
  float lr = 1e-2f;
  uint64_t seed = 0;
  std::vector<LinearMode> modes = {LinearMode::row, LinearMode::column};
  std::string device = "cpu";  // cpu | cuda (fp32 either way, as in the seed)
};

// Throws UsageError naming the values (sizes <= 0, fewer features than ranks to split
// them over, no timed iterations, ...). Needs only the world size: runs before launch.
void validate_linear_config(const LinearConfig& c, int world_size);

// One rank's phases of one timed iteration, in seconds (comm.bytes in bytes). Every member
// is listed once in kIterPhaseFields (the compiler checks), which packs, unpacks and writes it.
struct IterPhases {
  double step = 0, forward = 0, backward = 0, optimizer = 0;
  CommSums comm{};  // inside this step, all collectives
};

// IterPhases' fields under the keys of the results JSON's per-iteration objects (docs/results.md).
inline constexpr auto kIterPhaseFields = std::to_array<RecordField<IterPhases>>({
    record_field<&IterPhases::step>("step_ms", 1e3),
    record_field<&IterPhases::forward>("forward_ms", 1e3),
    record_field<&IterPhases::backward>("backward_ms", 1e3),
    record_field<&IterPhases::optimizer>("optimizer_ms", 1e3),
    record_field<&IterPhases::comm, &CommSums::seconds>("comm_ms", 1e3),
    record_field<&IterPhases::comm, &CommSums::wait>("wait_ms", 1e3),
    record_field<&IterPhases::comm, &CommSums::transfer>("transfer_ms", 1e3),
    record_field<&IterPhases::comm, &CommSums::bytes>("comm_bytes"),
    record_field<&IterPhases::comm, &CommSums::calls>("comm_calls"),
    record_field<&IterPhases::comm, &CommSums::shm_calls>("comm_shm_calls"),
});
static_assert(lists_every_leaf_once(kIterPhaseFields), "a member of IterPhases is missing from kIterPhaseFields");

struct LinearRun {
  LinearMode mode = LinearMode::row;
  // [rank][iteration], every rank's, gathered to every rank after timing.
  std::vector<std::vector<IterPhases>> per_rank;
  // This rank's spans and collectives of the timed iterations (for traces).
  TraceBuffer trace;
  std::vector<CommTiming> comms;
  // The physical floor of the step: median seconds of this step's own GEMMs + SGD update,
  // without communication, measured between the timed steps (so under the same machine
  // conditions): by rank 0 alone while the others wait, and by every rank at once (the
  // slowest), which shows what ranks computing side by side cost each other on this host.
  double floor_seconds = 0;
  double floor_concurrent_seconds = 0;
};

// Runs warm-up and timed iterations of one mode on `world` (TP over all ranks). Collective.
// The trace spans are recorded only when `profile` is set.
LinearRun run_linear_mode(LinearMode mode, const LinearConfig& c, Communicator& world, bool profile);

struct VerifyError {
  std::string what;     // "output", "dW", "db", "dX", "W after step", "b after step"
  double max_abs = 0;   // largest |sharded - serial|, over every rank
  double max_rel = 0;   // max_abs / largest |serial| (norm-wise relative error)
};

struct LinearVerify {
  std::vector<VerifyError> errors;
  // Parameters (weights and biases) summed over ranks: those the step left unchanged
  // although the serial step changes them (a gradient that never flowed), and those the
  // serial step leaves unchanged too (an update below fp32 resolution; not a fault).
  int64_t weights_stuck = 0;
  int64_t weights_below_resolution = 0;
  int64_t weights_total = 0;
  bool inputs_identical = true;   // x and targets bit-identical on every rank
  bool passed(double tolerance) const;
};

// One step on fresh parameters, compared with the serial layer. Collective.
LinearVerify verify_linear_mode(LinearMode mode, const LinearConfig& c, Communicator& world);

}  // namespace tpb
