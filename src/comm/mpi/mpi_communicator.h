// The MPI backend of Communicator, and the process-wide MPI runtime.
//
// MpiRuntime initialises MPI (asking for MPI_THREAD_MULTIPLE, so a later communication
// thread can overlap gradient reduction with backward) and finalises it on destruction;
// main() owns exactly one. abort_world() ends every rank of the job: main() calls it when
// a rank fails in a way other ranks cannot know about, so nobody is left hanging.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>

#include "comm/communicator.h"
#include "comm/mpi/shm_collectives.h"

namespace tpb {

class MpiRuntime {
 public:
  MpiRuntime(int* argc, char*** argv);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  int thread_level() const { return thread_level_; }
  // "Open MPI v4.1.4, ..." as the library reports it.
  static std::string library_version();
  [[noreturn]] static void abort_world(int status);

 private:
  int thread_level_ = 0;
};

// Turns an MPI return code into a tpb::Error naming the call (communicators are set to
// MPI_ERRORS_RETURN, so errors come back as codes instead of aborting silently).
void check_mpi(int rc, const char* call);

// Not final: the host-staged and NCCL communicators derive from it, so that buffers in
// host memory take exactly this path (and each call is still logged once, by the base).
class MpiCommunicator : public Communicator {
 public:
  // The communicator of every rank of the job, named "world", with a fresh CommLog.
  static std::unique_ptr<MpiCommunicator> world();

  ~MpiCommunicator() override;
  int rank() const override { return rank_; }
  bool concurrent_calls_ok() const override;
  int size() const override { return size_; }
  MPI_Comm handle() const { return comm_; }
  bool intra_node() const override { return intra_node_; }
  // The shared-memory engine of this group (made on first use, collectively), for
  // measurements beside the collectives; null when the group spans nodes.
  ShmCollectives* shared_memory() { return intra_node_ ? &shm() : nullptr; }

 protected:
  void do_all_reduce(const void* send, void* recv, size_t count, DType dtype, ReduceOp op) override;
  void do_all_gather(const void* send, void* recv, size_t send_count, DType dtype) override;
  void do_all_gather_v(const void* send, void* recv, std::span<const int64_t> counts,
                       DType dtype) override;
  void do_reduce_scatter(const void* send, void* recv, size_t recv_count, DType dtype,
                         ReduceOp op) override;
  void do_reduce_scatter_v(const void* send, void* recv, std::span<const int64_t> counts,
                           DType dtype, ReduceOp op) override;
  void do_broadcast(void* buf, size_t count, DType dtype, int root) override;
  void do_all_to_all(const void* send, void* recv, size_t count_per_peer, DType dtype) override;
  void do_barrier() override;
  std::unique_ptr<Communicator> do_split(int color, int key, const std::string& name) override;
  // The route for this call on host memory (and notes it for the record); the engine of the
  // shared-memory route, made on its first call (collective: every rank of the group makes
  // the same choice for the same call).
  CollRoute host_route(CommOp op, size_t bytes, DType dtype);
  ShmCollectives& shm();

 protected:
  // Takes `comm` (MPI_Comm_free on destruction when owned), learns rank, size and members,
  // and records the group in `log` under `name`. Collective over `comm`.
  MpiCommunicator(MPI_Comm comm, bool owned, std::shared_ptr<CommLog> log, const std::string& name);

 private:
  MPI_Comm comm_;
  bool owned_;  // MPI_Comm_free on destruction (not for MPI_COMM_WORLD)
  int rank_ = 0;
  int size_ = 1;
  bool intra_node_ = false;  // every rank of comm_ on this node
  std::unique_ptr<ShmCollectives> shm_;
  // Per-call scratch for the v-collectives' int counts and displacements.
  std::vector<int> counts_;
  std::vector<int> displs_;
  std::vector<int64_t> counts64_;  // the even ops' counts, for the shared-memory route
};

}  // namespace tpb
