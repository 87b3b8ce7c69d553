// `tpbench comm --tune-routes`: measure every host route of every routed op side by side in one
// launch, pick the fastest per size, and check the table so made (docs/comm.md, "Routes").
//
// For each op: the sweep once per forced route (mpi, then shm), and the floor per size: twice
// the time of a plain copy of the same bytes through shared memory to the next rank
// (ShmCollectives::copy_ring). The table's rule per size is the route with the lower mean of
// the out-of-place and in-place times; adjacent sizes with the same route merge, and the
// boundary between two routes is the first size of the next one. Then the sweep once more
// with the table itself (auto), which is what runs get.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "comm/coll_route.h"
#include "commbench/alpha_beta_fit.h"
#include "commbench/comm_config.h"
#include "commbench/harness.h"

namespace tpb {

struct RouteTrial {
  std::string route;  // "mpi", "shm", or "auto" (the tuned table)
  OpResult result;
  std::optional<AlphaBetaFit> fit;
};

struct OpTuning {
  CommOp op = CommOp::all_reduce;
  std::vector<RouteTrial> trials;  // mpi, shm, auto
  std::vector<double> floor_s;     // per size of the sweep
  std::vector<RouteRule> rules;
};

// The route with the lower mean time per size, as rules (pure; ties go to mpi).
std::vector<RouteRule> rules_from_trials(const OpResult& mpi, const OpResult& shm);

// Collective over `world`; `group` is this rank's group of `layout`, which must be within
// one node (MPI host memory). Leaves the group on the tuned table.
std::vector<OpTuning> tune_routes(const CommBenchConfig& c, const GroupLayout& layout, Communicator& world,
                                  Communicator& group, RouteTable& table);

std::string format_tuning(const std::vector<OpTuning>& t, const CommBenchConfig& c, const GroupLayout& l);
// {"op": {"floor_us": [...], "trials": {"mpi": {"fit": ..., "points": ...}, ...}}}
nlohmann::json tuning_json(const std::vector<OpTuning>& t, const GroupLayout& l);

}  // namespace tpb
