#include "train/dp_shard.h"

#include "base/error.h"

namespace tpb {

DpShard parse_dp_shard(const std::string& name) {
  if (name == "none") return DpShard::none;
  if (name == "optimizer") return DpShard::optimizer;
  if (name == "full") return DpShard::full;
  usage_error("unknown --dp-shard '{}' (none, optimizer, full)", name);
}

std::string dp_shard_name(DpShard s) {
  switch (s) {
    case DpShard::none: return "none";
    case DpShard::optimizer: return "optimizer";
    case DpShard::full: return "full";
  }
  return "?";
}

}  // namespace tpb
