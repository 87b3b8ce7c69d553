// Summaries, the side-by-side table and the results JSON of the `linear` command.
// FLOPs per step: forward 2*B*in*out, backward 4*B*in*out (dW and dX), bias and loss
// terms ignored: 6*B*in*out in all (docs/metrics.md).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "linear/linear_bench.h"
#include "report/machine.h"
#include "report/stats.h"

namespace tpb {

struct LinearSummary {
  LinearMode mode = LinearMode::row;
  Stats step;  // over iterations, of each iteration's slowest rank
  // Over ranks, of each rank's median over iterations.
  Stats forward, backward, optimizer, comm, wait, transfer;
  Stats compute;  // step - communication: the work itself, so imbalance between ranks shows
  double samples_per_s = 0;
  double gflop_per_s = 0;
  double comm_bytes_per_step = 0;  // per rank, median over iterations
  double floor_seconds = 0;
  double floor_concurrent_seconds = 0;
};

double linear_flops_per_step(const LinearConfig& c);
LinearSummary summarize_linear_run(const LinearRun& run, const LinearConfig& c);

std::string format_linear_header(const LinearConfig& c, int world_size);
std::string format_linear_table(const std::vector<LinearSummary>& s);
std::string format_linear_verify(LinearMode mode, const LinearVerify& v, double tolerance);

nlohmann::json linear_results_json(const LinearConfig& c, int world_size, const MachineInfo& m,
                                   const std::vector<LinearRun>& runs,
                                   const std::vector<LinearSummary>& summaries,
                                   const std::vector<std::optional<LinearVerify>>& verifies);

}  // namespace tpb
