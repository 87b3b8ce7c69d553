// DeviceMesh: the communicators of a ParallelDims layout (comm/parallel_dims.h). The mesh
// owns one sub-communicator per dimension, split from the world communicator.
#pragma once

#include <memory>
#include <string>

#include "comm/communicator.h"
#include "comm/parallel_dims.h"
#include "comm/topology.h"

namespace tpb {

class DeviceMesh {
 public:
  // Collective over `world`: every rank must call it with the same dims, whose world size
  // must be the communicator's. Gathers every rank's host first; a TP group spanning hosts
  // is a UsageError on every rank (before any group is split) unless allowed
  // (set_allow_tp_across_hosts, the launcher's --allow-tp-across-hosts).
  DeviceMesh(Communicator& world, const ParallelDims& dims);

  // Process-wide, set once by main() from --allow-tp-across-hosts.
  static void set_allow_tp_across_hosts(bool allow) { allow_tp_across_hosts_ = allow; }
  static bool allow_tp_across_hosts() { return allow_tp_across_hosts_; }

  const Topology& topology() const { return topology_; }
  const MeshPlacement& placement() const { return placement_; }
  // "" on one host; else "2 hosts (h1: ranks 0-1, h2: ranks 2-3); TP groups within hosts;
  // DP groups across hosts (their collectives cross the network)".
  std::string topology_line() const;

  const ParallelDims& dims() const { return dims_; }
  Communicator& world() const { return world_; }
  Communicator& tp() const { return *tp_; }
  Communicator& dp() const { return *dp_; }
  int rank() const { return world_.rank(); }
  int world_size() const { return world_.size(); }
  int tp_rank() const { return tp_->rank(); }
  int tp_size() const { return tp_->size(); }
  int dp_rank() const { return dp_->rank(); }
  int dp_size() const { return dp_->size(); }
  // "[rank 1/4] [tp:1/2][dp:0/2]", with the host first when there are several: "[h1][rank 1/4] ..."
  std::string coordinates() const;
  // Collective. On rank 0: the TP groups as every rank's communicator holds them (gathered,
  // not recomputed), "[[0, 1], [2, 3]]", then one coordinates line per rank; "" elsewhere.
  std::string gather_report();

 private:
  ParallelDims dims_;
  Communicator& world_;
  Topology topology_;
  MeshPlacement placement_;
  static inline bool allow_tp_across_hosts_ = false;
  std::unique_ptr<Communicator> tp_;
  std::unique_ptr<Communicator> dp_;
};

}  // namespace tpb
