#include "commbench/cost_model.h"

#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/json_integer.h"
#include "commbench/bench_op.h"
#include "report/atomic_file.h"

namespace tpb {

namespace {

CommOp op_from_name(const std::string& name) {
  for (CommOp op : bench_ops())
    if (comm_op_name(op) == name) return op;
  TPB_CHECK(false, "cost model: unknown collective '{}'", name);
}

DType dtype_from_name(const std::string& name) {
  for (DType t : {DType::f32, DType::bf16})
    if (dtype_name(t) == name) return t;
  TPB_CHECK(false, "cost model: unknown dtype '{}'", name);
}

}  // namespace

double CostModel::predict(CommOp op, double bytes) const {
  if (op == CommOp::all_gather_v) op = CommOp::all_gather;
  if (op == CommOp::reduce_scatter_v) op = CommOp::reduce_scatter;
  const auto it = ops.find(op);
  TPB_CHECK(it != ops.end(), "cost model: no fit for {} (measured on group '{}' of {} ranks)",
            comm_op_name(op), group, group_size);
  return it->second.predict(bytes);
}

nlohmann::json to_json(const CostModel& m) {
  nlohmann::json ops = nlohmann::json::object();
  for (const auto& [op, f] : m.ops) {
    nlohmann::json points = nlohmann::json::array();
    for (const FitPoint& p : f.points) points.push_back({{"bytes", p.bytes}, {"time_s", p.time_s}});
    ops[std::string(comm_op_name(op))] = {{"alpha_s", f.alpha_s},
                                          {"beta_s_per_byte", f.beta_s_per_byte},
                                          {"rms_rel_err", f.rms_rel_err},
                                          {"max_rel_err", f.max_rel_err},
                                          {"points", points}};
  }
  return {{"schema", kCostModelSchema}, {"machine", m.machine},       {"world_size", m.world_size},
          {"group", m.group},           {"group_size", m.group_size}, {"dtype", dtype_name(m.dtype)},
          {"ops", ops}};
}

CostModel cost_model_from_json(const nlohmann::json& j) {
  TPB_CHECK(j.value("schema", "") == kCostModelSchema, "cost model: schema '{}', expected '{}'",
            j.value("schema", ""), kCostModelSchema);
  CostModel m;
  m.machine = j.at("machine");
  m.world_size = json_integer_at<int>(j, "world_size");
  m.group = j.at("group").get<std::string>();
  m.group_size = json_integer_at<int>(j, "group_size");
  m.dtype = dtype_from_name(j.at("dtype").get<std::string>());
  for (const auto& [name, o] : j.at("ops").items()) {
    AlphaBetaFit f;
    f.alpha_s = o.at("alpha_s").get<double>();
    f.beta_s_per_byte = o.at("beta_s_per_byte").get<double>();
    f.rms_rel_err = o.at("rms_rel_err").get<double>();
    f.max_rel_err = o.at("max_rel_err").get<double>();
    for (const auto& p : o.at("points"))
      f.points.push_back({p.at("bytes").get<double>(), p.at("time_s").get<double>()});
    m.ops[op_from_name(name)] = std::move(f);
  }
  return m;
}

void save_cost_model(const CostModel& m, const std::string& path) {
  write_file_atomic(path, to_json(m).dump(2) + "\n");
}

CostModel load_cost_model(const std::string& path) {
  std::ifstream in(path);
  TPB_CHECK(in.good(), "cost model: cannot open '{}'", path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return cost_model_from_json(nlohmann::json::parse(text.str()));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("cost model '{}': {}", path, e.what()));
  } catch (const Error& e) {
    throw Error(fmt::format("cost model '{}': {}", path, e.what()));
  }
}

}  // namespace tpb
