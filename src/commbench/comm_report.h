// What `tpbench comm` prints and writes: the nccl-tests-style table per op, the per-group
// and per-rank views, the alpha-beta fits, the results JSON and the cost profile.
// Formulas in docs/metrics.md; the JSON schema in docs/comm.md.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commbench/alpha_beta_fit.h"
#include "commbench/comm_config.h"
#include "commbench/cost_model.h"
#include "commbench/harness.h"
#include "report/machine.h"

namespace tpb {

// algbw = bytes / time and busbw = algbw * bus_bandwidth_factor, in GB/s (1e9 B/s); 0
// when the time is 0.
double algbw_gbps(size_t bytes, double time_s);
double busbw_gbps(CommOp op, int n, size_t bytes, double time_s);
// The mean busbw over every row, out-of-place and in-place alike (nccl-tests' footer).
double average_busbw_gbps(const OpResult& r, int n);
// Microseconds with as many decimals as fit seven characters, as nccl-tests prints them.
std::string format_time_us(double seconds);
// A fit as the results JSON and the profile hold it (alpha, beta, bandwidths, error, points).
nlohmann::json fit_json(const AlphaBetaFit& f, CommOp op, int n);
// #wrong over every size, variant and op.
int64_t total_wrong(const std::vector<OpResult>& results);

// "# tpbench comm: ..." lines: what ran, on which groups.
std::string format_comm_header(const CommBenchConfig& c, const GroupLayout& l, int world_size);
// The table of one op, with its footer (out-of-bounds values, average busbw).
std::string format_comm_table(const OpResult& r, const CommBenchConfig& c, const GroupLayout& l);
// Each group's slowest rank per size; empty when there is one group.
std::string format_group_times(const OpResult& r, const GroupLayout& l);
// Each rank's median time, wait and transfer per size; empty without per-rank results.
std::string format_per_rank(const OpResult& r, const CommBenchConfig& c, const GroupLayout& l);
// alpha, 1/beta, the bus bandwidth it implies and the fit's error, one line per op.
std::string format_fits(const std::vector<OpResult>& results,
                        const std::vector<std::optional<AlphaBetaFit>>& fits, const GroupLayout& l);

nlohmann::json comm_results_json(const CommBenchConfig& c, const GroupLayout& l, int world_size,
                                 const MachineInfo& machine, const std::vector<OpResult>& results,
                                 const std::vector<std::optional<AlphaBetaFit>>& fits);

CostModel make_cost_model(const CommBenchConfig& c, const GroupLayout& l, int world_size,
                          const MachineInfo& machine, const std::vector<OpResult>& results,
                          const std::vector<std::optional<AlphaBetaFit>>& fits);

}  // namespace tpb
