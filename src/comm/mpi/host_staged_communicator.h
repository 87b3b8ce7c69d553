// The MPI backend for buffers in device memory, through host memory: for ranks that share
// one GPU, where NCCL (one rank per GPU) cannot run.
//
// Each collective whose buffers are device memory first synchronises the compute stream,
// copies the device buffers it reads into a host staging buffer, runs the MPI collective
// (MpiCommunicator's, on the host stand-ins), and copies the results back into the device
// buffers it writes (queued on the compute stream, so later kernels see them). Buffers in
// host memory pass straight through, so host scalars (the loss, timing records) cost
// nothing extra. Each call is logged once, by the Communicator base.
//
// The staging buffer belongs to the communicator: grown to the largest call, never shrunk
// and never reallocated by a call that fits. Device buffers get separate staging regions,
// so an in-place call on device memory becomes an out-of-place MPI call on the host (same
// result; the in-place forms of communicator.h still hold for the device buffers).
//
// Only device/device.h is used (no CUDA header): this builds with or without CUDA.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "comm/mpi/mpi_communicator.h"

namespace tpb {

// Memory as the host-staged communicator sees it. device_runtime() is device/device.h
// (is_device_pointer, copy_bytes, synchronize); tests substitute a fake device (host
// memory the predicate claims) to run the staging path on a machine without a GPU.
struct StagingMemory {
  std::function<bool(const void*)> is_device;
  std::function<void(void* dst, const void* src, size_t bytes)> copy;
  std::function<void()> synchronize;

  static StagingMemory device_runtime();
};

class HostStagedCommunicator final : public MpiCommunicator {
 public:
  // Every rank of the job, named "world", with a fresh CommLog. Collective.
  static std::unique_ptr<HostStagedCommunicator> world(
      StagingMemory memory = StagingMemory::device_runtime());

  // Bytes of host staging memory held now (0 until a call stages device memory).
  size_t staging_bytes() const { return capacity_; }

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
  // do_barrier: MpiCommunicator's (no buffers).
  // A host-staged child, sharing the CommLog and the StagingMemory.
  std::unique_ptr<Communicator> do_split(int color, int key, const std::string& name) override;

 private:
  class Call;  // the staging of one collective (in the .cpp)

  HostStagedCommunicator(MPI_Comm comm, bool owned, std::shared_ptr<CommLog> log,
                         const std::string& name, StagingMemory memory);
  // The staging buffer, at least `bytes` long (contents not kept when it grows).
  std::byte* staging(size_t bytes);

  StagingMemory memory_;
  std::unique_ptr<std::byte[]> staging_;
  size_t capacity_ = 0;
};

}  // namespace tpb
