#include "comm/coll_route.h"

#include <fmt/format.h>

#include <fstream>
#include <limits>

#include "base/error.h"
#include "base/json_integer.h"

namespace tpb {

std::string_view coll_route_name(CollRoute r) {
  switch (r) {
    case CollRoute::mpi: return "mpi";
    case CollRoute::shm: return "shm";
    case CollRoute::nccl: return "nccl";
  }
  return "?";
}

std::optional<CollRoute> parse_host_route(std::string_view name) {
  if (name == "mpi") return CollRoute::mpi;
  if (name == "shm") return CollRoute::shm;
  return std::nullopt;
}

CommOp route_key(CommOp op) {
  if (op == CommOp::all_gather_v) return CommOp::all_gather;
  if (op == CommOp::reduce_scatter_v) return CommOp::reduce_scatter;
  return op;
}

namespace {

bool routed(CommOp op) {
  for (CommOp o : kRoutedOps)
    if (o == op) return true;
  return false;
}

std::string bytes_text(int64_t b) {
  if (b >= (int64_t{1} << 20) && b % (int64_t{1} << 20) == 0) return fmt::format("{}M", b >> 20);
  if (b >= 1024 && b % 1024 == 0) return fmt::format("{}K", b >> 10);
  return fmt::format("{}", b);
}

std::string rules_text(const std::vector<RouteRule>& rules) {
  if (rules.size() == 1) return std::string(coll_route_name(rules[0].route));
  std::string s;
  for (size_t i = 0; i < rules.size(); ++i) {
    s += coll_route_name(rules[i].route);
    if (rules[i].below_bytes != INT64_MAX) s += "<" + bytes_text(rules[i].below_bytes) + "<=";
  }
  return s;
}

}  // namespace

void RouteTable::set(CommOp op, int group_size, std::vector<RouteRule> rules) {
  TPB_CHECK(routed(op), "route table: {} has no routes (only all_reduce, all_gather, reduce_scatter, broadcast)",
            comm_op_name(op));
  TPB_CHECK(group_size >= 1, "route table: {} for a group of {} ranks", comm_op_name(op), group_size);
  TPB_CHECK(!rules.empty() && rules.back().below_bytes == INT64_MAX,
            "route table: {} on {} ranks: the last rule must cover every larger size", comm_op_name(op), group_size);
  for (size_t i = 0; i < rules.size(); ++i) {
    TPB_CHECK(rules[i].route == CollRoute::mpi || rules[i].route == CollRoute::shm,
              "route table: {} on {} ranks: route {} is not a host route", comm_op_name(op), group_size,
              coll_route_name(rules[i].route));
    TPB_CHECK(rules[i].below_bytes > 0 && (i == 0 || rules[i].below_bytes > rules[i - 1].below_bytes),
              "route table: {} on {} ranks: rule {} (below {} bytes) is not above the rule before it",
              comm_op_name(op), group_size, i, rules[i].below_bytes);
  }
  rules_[{op, group_size}] = std::move(rules);
}

CollRoute RouteTable::lookup(CommOp op, int group_size, int64_t bytes) const {
  const CommOp key = route_key(op);
  const std::vector<RouteRule>* best = nullptr;
  int best_size = 0;
  const std::vector<RouteRule>* smallest = nullptr;
  for (const auto& [k, rules] : rules_) {
    if (k.first != key) continue;
    if (smallest == nullptr) smallest = &rules;  // the map orders group sizes ascending
    if (k.second <= group_size && k.second >= best_size) {
      best = &rules;
      best_size = k.second;
    }
  }
  if (best == nullptr) best = smallest;
  if (best == nullptr) return CollRoute::mpi;
  for (const RouteRule& r : *best)
    if (bytes < r.below_bytes) return r.route;
  return best->back().route;
}

// Measured on this project's machine (AMD EPYC, 2 cores, Open MPI 4.1.4), bench_comm
// --route auto, five launches, 4 KiB to 64 MiB, each route against Open MPI's default in
// the same launch (docs/comm.md, "Routes: measured"). On 2 ranks Open MPI's single-copy
// (CMA) transfers win where the shared-memory route copies twice and has nothing to reduce:
// broadcast from 64 KiB, all-gather of 64-256 KiB and of 64 MiB. On 4 ranks (and more) the
// shared-memory route won every op and size measured.
RouteTable builtin_route_table() {
  constexpr int64_t K = 1024, M = K * K, kAll = INT64_MAX;
  RouteTable t;
  t.set(CommOp::all_reduce, 2, {{kAll, CollRoute::shm}});
  t.set(CommOp::reduce_scatter, 2, {{kAll, CollRoute::shm}});
  t.set(CommOp::all_gather, 2,
        {{64 * K, CollRoute::shm}, {512 * K, CollRoute::mpi}, {64 * M, CollRoute::shm}, {kAll, CollRoute::mpi}});
  t.set(CommOp::broadcast, 2, {{64 * K, CollRoute::shm}, {kAll, CollRoute::mpi}});
  for (CommOp op : kRoutedOps) t.set(op, 4, {{kAll, CollRoute::shm}});
  return t;
}

nlohmann::json to_json(const RouteTable& t) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& [k, rules] : t.rules()) {
    nlohmann::json rs = nlohmann::json::array();
    for (const RouteRule& r : rules)
      rs.push_back({{"below_bytes", r.below_bytes == INT64_MAX ? nlohmann::json(nullptr) : nlohmann::json(r.below_bytes)},
                    {"route", coll_route_name(r.route)}});
    entries.push_back({{"op", comm_op_name(k.first)}, {"group_size", k.second}, {"rules", rs}});
  }
  return {{"schema", kRouteTableSchema}, {"routes", entries}};
}

RouteTable route_table_from_json(const nlohmann::json& j, const std::string& source) {
  try {
    const nlohmann::json* table = &j;
    if (j.is_object() && j.value("schema", "") != kRouteTableSchema) {
      TPB_CHECK(j.contains("routes") && j["routes"].is_object(),
                "neither a route table (schema {}) nor a machine profile with one under \"routes\"",
                kRouteTableSchema);
      table = &j["routes"];
    }
    TPB_CHECK(table->is_object() && table->value("schema", "") == kRouteTableSchema,
              "schema is not {}", kRouteTableSchema);
    RouteTable t;
    for (const auto& e : table->at("routes")) {
      const std::string op_name = e.at("op").get<std::string>();
      std::optional<CommOp> op;
      for (CommOp o : kRoutedOps)
        if (comm_op_name(o) == op_name) op = o;
      TPB_CHECK(op.has_value(), "op '{}' has no routes (all_reduce, all_gather, reduce_scatter, broadcast)",
                op_name);
      std::vector<RouteRule> rules;
      for (const auto& r : e.at("rules")) {
        const std::string name = r.at("route").get<std::string>();
        const auto route = parse_host_route(name);
        TPB_CHECK(route.has_value(), "{}: route '{}' is not mpi or shm", op_name, name);
        const auto& below = r.at("below_bytes");
        rules.push_back({below.is_null() ? INT64_MAX : json_integer<int64_t>(below, "below_bytes"), *route});
      }
      t.set(*op, json_integer_at<int>(e, "group_size"), std::move(rules));
    }
    t.source = source;
    return t;
  } catch (const nlohmann::json::exception& e) {
    TPB_CHECK(false, "route table {}: {}", source, e.what());
  } catch (const Error& e) {
    TPB_CHECK(false, "route table {}: {}", source, e.what());
  }
  return {};
}

RouteTable load_route_table(const std::string& path) {
  std::ifstream in(path);
  TPB_CHECK(in.good(), "route table {}: cannot be read", path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    TPB_CHECK(false, "route table {}: not JSON ({})", path, e.what());
  }
  return route_table_from_json(j, path);
}

CollRoute RoutePolicy::choose(CommOp op, int group_size, int64_t bytes, bool intra_node, bool reducible) const {
  const CommOp key = route_key(op);
  if (!routed(key) || group_size < 2 || !intra_node) return CollRoute::mpi;
  const bool reduces = key == CommOp::all_reduce || key == CommOp::reduce_scatter;
  if (reduces && !reducible) return CollRoute::mpi;
  return forced ? *forced : table.lookup(key, group_size, bytes);
}

std::string RoutePolicy::describe() const {
  if (forced) return fmt::format("{} (forced by --coll-route)", coll_route_name(*forced));
  std::string s = fmt::format("auto ({} table):", table.source);
  std::map<int, std::string> by_size;  // group size -> "op rules; ..."
  for (const auto& [k, rules] : table.rules())
    by_size[k.second] += fmt::format(" {} {};", comm_op_name(k.first), rules_text(rules));
  for (auto& [size, text] : by_size) {
    text.pop_back();
    s += fmt::format(" [{} ranks]{}", size, text);
  }
  return s;
}

}  // namespace tpb
