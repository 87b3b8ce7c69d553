// The NCCL backend of Communicator: one GPU per rank. Compiled only when CMake found the
// CUDA toolkit (TPB_CUDA); other code reaches it through make_nccl_world() (nccl_world.h).
//
// Bootstrap: the communicator derives from MpiCommunicator over the same group. Rank 0
// makes the NCCL unique id and broadcasts it over MPI, then every rank joins with
// ncclCommInitRank; split() splits the MPI communicator and bootstraps a child the same way.
//
// Streams: collectives run on a stream of this communicator (non-blocking), ordered
// against the one compute stream with events, never with a host wait: before each call
// the NCCL stream waits for an event recorded on the compute stream (the inputs are
// ready), after it the compute stream waits for an event recorded on the NCCL stream
// (later kernels see the results). A copy to the host through device::copy_bytes is on the
// compute stream too, so it sees the results as well.
//
// Buffers: device memory goes to NCCL. Host memory (the trainer's host scalars: the loss,
// timing records) goes to MpiCommunicator's implementation on the same group, so each call
// is still logged exactly once. One call must not mix the two, and every rank of a group
// must pass the same kind of memory (they must agree on the path, or they would wait for
// each other on different transports). A call that moves no bytes does nothing.
//
// Timing: by default the CommRecord the Communicator base writes around do_* times the host
// enqueue only (the call returns before the collective ran). With set_synchronous(true)
// each call waits for its collective, so the record bounds the transfer (and the wait for
// the compute stream's earlier work: that is the "wait" part of the wait/transfer split).
//
// Numerics: avg is NCCL's ncclAvg (floating types: inputs scaled by 1/size, then summed),
// so bf16 avg may round differently from the MPI backend (sum, then one scaling); sum and
// max agree wherever the result is exact.
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <memory>
#include <string>
#include <type_traits>

#include "comm/mpi/mpi_communicator.h"

namespace tpb {

class NcclCommunicator final : public MpiCommunicator {
 public:
  // Every rank of the job, named "world", with a fresh CommLog. Collective; each rank must
  // have selected its own GPU (device::use_cuda_device) first.
  static std::unique_ptr<NcclCommunicator> world();

  ~NcclCommunicator() override;
  // NCCL calls on different communicators may come from different threads (each has its
  // own stream); the host-memory path needs MPI_THREAD_MULTIPLE, as for MpiCommunicator.
  bool concurrent_calls_ok() const override;
  bool queues_device_work() const override { return !synchronous(); }
  // Orders the compute stream after every collective queued in deferred mode.
  void join() override;

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
  // Waits for the compute stream (and so for every collective queued before), then an MPI
  // barrier: when it returns, all earlier work of every rank of the group has finished.
  void do_barrier() override;
  std::unique_ptr<Communicator> do_split(int color, int key, const std::string& name) override;
  // Synchronous mode: the compute stream's queued work finishes before the call is stamped.
  void wait_for_inputs() override;

 private:
  NcclCommunicator(MPI_Comm comm, bool owned, std::shared_ptr<CommLog> log,
                   const std::string& name);
  // Queues enqueue(nccl_stream) between the two event waits (see Streams above), with this
  // communicator's device current.
  template <typename F>
  void ordered(F&& enqueue);
  // Device memory of at least `bytes` for an in-place all_to_all's copy of the input; only
  // ever used on the NCCL stream.
  void* scratch(size_t bytes);
  // The NCCL error text of a failed call, naming it and this group.
  void check(ncclResult_t rc, const char* call) const;

  struct StreamDeleter { void operator()(cudaStream_t s) const { cudaStreamDestroy(s); } };
  struct EventDeleter { void operator()(cudaEvent_t e) const { cudaEventDestroy(e); } };
  struct MemoryDeleter { void operator()(void* p) const { cudaFree(p); } };
  struct CommDeleter { void operator()(ncclComm_t c) const { ncclCommDestroy(c); } };

  int device_ = -1;  // the GPU this communicator's resources live on
  std::unique_ptr<std::remove_pointer_t<cudaStream_t>, StreamDeleter> stream_;
  std::unique_ptr<std::remove_pointer_t<cudaEvent_t>, EventDeleter> inputs_ready_;  // compute
  std::unique_ptr<std::remove_pointer_t<cudaEvent_t>, EventDeleter> results_ready_;  // NCCL
  std::unique_ptr<void, MemoryDeleter> scratch_;
  size_t scratch_bytes_ = 0;
  bool unjoined_ = false;  // a deferred collective is queued that the compute stream has not waited for
  std::unique_ptr<std::remove_pointer_t<ncclComm_t>, CommDeleter> nccl_;  // destroyed first
};

}  // namespace tpb
