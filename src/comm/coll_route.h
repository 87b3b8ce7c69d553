// Collective routes: which implementation moves the bytes of a collective.
//
//   mpi   Open MPI's own collective (its coll framework's choice: tuned, han, ...).
//   shm   tpbench's collectives over an MPI-3 shared-memory window (comm/mpi/shm_collectives.h),
//         for a group whose ranks all share one node, on host memory.
//   nccl  NCCL, for device buffers (the NCCL communicator; not chosen by this table).
//
// A RoutePolicy picks the route per call from the op, the bytes (the CommRecord's: the full
// buffer), the group size and whether the group is intra-node: either forced (--coll-route)
// or from a RouteTable, measured by `tpbench comm --tune-routes` and saved in the machine profile,
// with a built-in default. A call the chosen route cannot take (a group across nodes, a
// dtype the route cannot reduce, all_to_all, barrier) takes mpi; each CommRecord says which
// route its call took.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "comm/comm_log.h"

namespace tpb {

enum class CollRoute : uint8_t { mpi, shm, nccl };
std::string_view coll_route_name(CollRoute r);
// "mpi" or "shm" (the routes a table or --coll-route may name); nothing for anything else.
std::optional<CollRoute> parse_host_route(std::string_view name);
// The ops a table has rules for; the _v variants follow their even op.
CommOp route_key(CommOp op);
inline constexpr CommOp kRoutedOps[] = {CommOp::all_reduce, CommOp::all_gather, CommOp::reduce_scatter,
                                        CommOp::broadcast};

struct RouteRule {
  int64_t below_bytes = INT64_MAX;  // the rule covers calls of fewer bytes (than the next rule's)
  CollRoute route = CollRoute::mpi;
  bool operator==(const RouteRule&) const = default;
};

class RouteTable {
 public:
  // Rules for an op on groups of `group_size` ranks, ordered by below_bytes, the last one
  // unbounded (INT64_MAX). Throws naming the op when they are not.
  void set(CommOp op, int group_size, std::vector<RouteRule> rules);
  // The route of `op` (or its even op) moving `bytes` on a group of `group_size`: the rules of
  // the largest group size measured that is <= group_size (else the smallest measured); mpi
  // for an op without rules.
  CollRoute lookup(CommOp op, int group_size, int64_t bytes) const;
  const std::map<std::pair<CommOp, int>, std::vector<RouteRule>>& rules() const { return rules_; }
  bool operator==(const RouteTable& o) const { return rules_ == o.rules_; }

  std::string source = "built-in";  // "built-in", or the file it was read from

 private:
  std::map<std::pair<CommOp, int>, std::vector<RouteRule>> rules_;
};

// What this project measured on its machines (docs/comm.md): tpbench's shared-memory route
// for every routed op at every size on 2-8 ranks.
RouteTable builtin_route_table();

inline constexpr const char* kRouteTableSchema = "tpbench.coll_routes/1";
nlohmann::json to_json(const RouteTable& t);
// From a table object, or from a machine profile (`tpbench comm --profile-out`) holding one
// under "routes". Throws tpb::Error naming `source` and what is wrong.
RouteTable route_table_from_json(const nlohmann::json& j, const std::string& source);
RouteTable load_route_table(const std::string& path);

struct RoutePolicy {
  std::optional<CollRoute> forced;  // --coll-route mpi|shm; unset: the table (--coll-route auto)
  RouteTable table = builtin_route_table();

  // The route of one call. intra_node: every rank of the group is on this node; reducible:
  // the shared-memory route can reduce the dtype (moves need no reduction).
  CollRoute choose(CommOp op, int group_size, int64_t bytes, bool intra_node, bool reducible) const;
  // One line for run headers: "auto (built-in table): all_reduce shm; ..." or "shm (forced)".
  std::string describe() const;
};

}  // namespace tpb
