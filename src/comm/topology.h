// Which host every rank runs on, and what that means for a mesh: "TP within a host, FSDP
// across hosts" (the seed study's advice; Megatron and torchtitan lay meshes out the same
// way). With TP innermost (comm/parallel_dims.h) and ranks numbered host by host (mpirun's
// default by-slot mapping), TP groups of up to a host's ranks stay within it.
#pragma once

#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/parallel_dims.h"

namespace tpb {

struct Topology {
  std::vector<std::string> host_of_rank;  // world rank -> its hostname

  int num_hosts() const;
  // Whether the world ranks in `ranks` are on more than one host.
  bool spans_hosts(const std::vector<int>& ranks) const;
  // "2 hosts (h1: ranks 0-1, h2: ranks 2-3)", or "1 host (vm)".
  std::string describe() const;
};

// Collective over world: every rank's gethostname().
Topology gather_topology(Communicator& world);

// What a layout's groups cross, and the refusal of TP across hosts unless allowed: "" when
// the layout is accepted, else the reason (the same on every rank: computed from the
// gathered topology).
struct MeshPlacement {
  bool tp_crosses_hosts = false;  // some TP group spans hosts
  bool dp_crosses_hosts = false;  // some DP group does
  std::string refusal;
};
MeshPlacement place_mesh(const Topology& t, const ParallelDims& dims, bool allow_tp_across_hosts);

}  // namespace tpb
