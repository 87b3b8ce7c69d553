// A machine's collective cost profile: one alpha-beta fit per collective, measured by
// `tpbench comm --profile-out FILE`, read back by anything that wants to predict a
// collective's time (a planner choosing a layout, a report comparing measured to expected).
//
// File format (docs/comm.md):
//   {"schema": "tpbench.comm_profile/1", "machine": {...}, "world_size": 4, "group": "tp",
//    "group_size": 2, "dtype": "fp32",
//    "ops": {"all_reduce": {"alpha_s": ..., "beta_s_per_byte": ..., "rms_rel_err": ...,
//                           "max_rel_err": ..., "points": [{"bytes": ..., "time_s": ...}]}}}
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "base/dtype.h"
#include "comm/comm_log.h"
#include "commbench/alpha_beta_fit.h"

namespace tpb {

inline constexpr const char* kCostModelSchema = "tpbench.comm_profile/1";

struct CostModel {
  nlohmann::json machine;  // as read_machine_info wrote it
  int world_size = 0;
  std::string group;       // "world", "tp" or "dp"
  int group_size = 0;      // ranks per group the fits were measured on
  DType dtype = DType::f32;
  std::map<CommOp, AlphaBetaFit> ops;

  // Seconds for one call moving `bytes` (the full buffer, docs/metrics.md). The v-variants
  // use their even op's fit. Throws naming the op when the profile has no fit for it.
  double predict(CommOp op, double bytes) const;
};

nlohmann::json to_json(const CostModel& m);
CostModel cost_model_from_json(const nlohmann::json& j);

// Written atomically; read back with the schema checked. Both throw tpb::Error naming the path.
void save_cost_model(const CostModel& m, const std::string& path);
CostModel load_cost_model(const std::string& path);

}  // namespace tpb
