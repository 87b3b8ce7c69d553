// tpbench's own collectives for a group whose ranks share one node: an MPI-3 shared-memory
// window (MPI_Win_allocate_shared) on the group, through which every rank reads the others'
// data with plain loads. MPI still makes the processes, the groups and the window; this only
// replaces how the bytes of a collective move (docs/comm.md, "Routes").
//
// Each rank owns two staging buffers of `chunk_bytes` in the window and a cache line with an
// arrival counter. A collective runs in rounds; in each, every rank copies its part of the
// round into its staging buffer, all ranks meet (sync: each publishes its counter with a
// release store and waits for the others' with acquire loads), and each reads what it needs
// from the others' buffers. Rounds alternate between the two buffers across calls, so a
// buffer is rewritten only two rounds after it was read, with a sync between: one sync per
// round (all-reduce: two, one after the reduction). Per round:
//   reduce_scatter_v  copy my input's pieces for the others in; reduce piece `me` of every
//                     rank (mine from my input) into recv.
//   all_reduce        as reduce_scatter_v over an even split, the reduced piece published in
//                     my buffer; sync; copy every rank's reduced piece into recv.
//   all_gather_v      copy my piece in; copy every rank's piece into recv.
//   broadcast         the root copies in; the others copy out.
// Reductions go in rank order (host_reduce.h), the same bits on every rank, and each rank
// reduces 1/p of the data, so the memory traffic per rank is about that of 2-3 copies of the
// buffer (the floor `tpbench comm` measures beside it).
//
// Waiting spins briefly and then yields the core (sched_yield), so ranks sharing a core (more
// ranks than cores) make progress. A rank that never arrives is the watchdog's to report
// (comm/watchdog.h), as for MPI's own collectives.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/dtype.h"
#include "comm/communicator.h"

namespace tpb {

class ShmCollectives {
 public:
  // Bytes per staging buffer: TPB_SHM_CHUNK_BYTES if set (4 KiB to 64 MiB), else 1 MiB.
  static size_t default_chunk_bytes();

  // Collective over `comm`, whose ranks must all be on one node (MpiCommunicator checks).
  ShmCollectives(MPI_Comm comm, size_t chunk_bytes);
  ~ShmCollectives();  // collective: frees the window
  ShmCollectives(const ShmCollectives&) = delete;
  ShmCollectives& operator=(const ShmCollectives&) = delete;

  // The communicator's semantics (comm/communicator.h), in and out of place. Reductions take
  // the dtypes of host_reducible(); moves take any.
  void all_reduce(const void* send, void* recv, size_t count, DType t, ReduceOp op);
  void reduce_scatter_v(const void* send, void* recv, std::span<const int64_t> counts, DType t, ReduceOp op);
  void all_gather_v(const void* send, void* recv, std::span<const int64_t> counts, DType t);
  void broadcast(void* buf, size_t count, DType t, int root);
  // The floor `tpbench comm --tune-routes` compares the routes with: every rank copies `bytes`
  // through the shared memory to the next rank (in rounds, as the collectives do) and
  // receives the previous rank's into recv. Plain copies, no reduction.
  void copy_ring(const void* send, void* recv, size_t bytes);

 private:
  void sync();
  char* staging(int rank) const;  // this round's staging buffer of `rank`
  // Elements of a block of `count` that round k moves, with `per_round` a round.
  static size_t in_round(int64_t count, size_t k, size_t per_round);
  void set_counts(std::span<const int64_t> counts);
  // Round k's sources of my piece: every other rank's staging buffer, and my own input.
  void set_sources(const char* in, size_t k, size_t per, size_t e);
  // Round k's copy-in: every other rank's piece of my input into its slot of my staging
  // buffer (my own piece is read from the input itself).
  void stage_pieces(const char* in, size_t k, size_t per, size_t e);

  MPI_Win win_ = MPI_WIN_NULL;
  int rank_ = 0;
  int size_ = 1;
  size_t chunk_bytes_ = 0;
  std::vector<char*> base_;  // per rank: its segment (arrival counter, then two buffers)
  uint64_t epoch_ = 0;       // syncs so far
  uint64_t round_ = 0;       // rounds so far (picks the buffer)
  std::vector<int64_t> counts_, displs_;  // per call
  std::vector<const void*> sources_;
};

}  // namespace tpb
