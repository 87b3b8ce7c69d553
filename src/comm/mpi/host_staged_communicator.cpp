#include "comm/mpi/host_staged_communicator.h"

#include <array>
#include <numeric>

#include "base/error.h"
#include "device/device.h"

namespace tpb {

StagingMemory StagingMemory::device_runtime() {
  return StagingMemory{
      [](const void* p) { return device::is_device_pointer(p); },
      [](void* dst, const void* src, size_t bytes) { device::copy_bytes(dst, src, bytes); },
      [] { device::synchronize(); },
  };
}

// The buffers of one collective (at most two) and their host stand-ins. Usage:
//   Call c(*this);  int s = c.add(send, bytes, true, false);  ...
//   c.stage_in();   collective on c.host(s), ...;   c.stage_out();
// A buffer in host memory, or of zero bytes, is its own stand-in and is never copied.
class HostStagedCommunicator::Call {
 public:
  explicit Call(HostStagedCommunicator& comm) : comm_(comm) {}

  // `read`: the collective reads it (copied to the host first); `written`: it writes it
  // (copied back after). Returns the index for host().
  int add(const void* ptr, size_t bytes, bool read, bool written) {
    TPB_CHECK(n_ < slots_.size(), "host staging: more than {} buffers in one call", slots_.size());
    Slot& s = slots_[n_];
    s.device = ptr;
    s.bytes = bytes;
    s.read = read;
    s.written = written;
    s.staged = bytes > 0 && comm_.memory_.is_device(ptr);
    if (s.staged) {
      s.offset = total_;
      total_ += (bytes + kAlign - 1) / kAlign * kAlign;  // regions stay aligned for any dtype
    }
    return static_cast<int>(n_++);
  }

  // Synchronises the compute stream (once, if any buffer is on the device), then copies
  // the device buffers that are read into their staging regions.
  void stage_in() {
    if (total_ == 0) return;
    comm_.memory_.synchronize();
    base_ = comm_.staging(total_);
    for (size_t i = 0; i < n_; ++i) {
      const Slot& s = slots_[i];
      if (s.staged && s.read) comm_.memory_.copy(base_ + s.offset, s.device, s.bytes);
    }
  }

  void* host(int index) const {
    const Slot& s = slots_.at(static_cast<size_t>(index));
    return s.staged ? static_cast<void*>(base_ + s.offset) : const_cast<void*>(s.device);
  }

  // Copies the staged results back into the device buffers that are written (queued on
  // the compute stream: later kernels see them; a copy from pageable host memory has
  // consumed its source when it returns, so the staging buffer is free for the next call).
  void stage_out() {
    for (size_t i = 0; i < n_; ++i) {
      const Slot& s = slots_[i];
      if (s.staged && s.written)
        comm_.memory_.copy(const_cast<void*>(s.device), base_ + s.offset, s.bytes);
    }
  }

 private:
  static constexpr size_t kAlign = 64;
  struct Slot {
    const void* device = nullptr;
    size_t bytes = 0;
    size_t offset = 0;
    bool read = false;
    bool written = false;
    bool staged = false;
  };

  HostStagedCommunicator& comm_;
  std::array<Slot, 2> slots_{};
  size_t n_ = 0;
  size_t total_ = 0;  // staging bytes this call needs
  std::byte* base_ = nullptr;
};

std::unique_ptr<HostStagedCommunicator> HostStagedCommunicator::world(StagingMemory memory) {
  return std::unique_ptr<HostStagedCommunicator>(new HostStagedCommunicator(
      MPI_COMM_WORLD, false, std::make_shared<CommLog>(), "world", std::move(memory)));
}

HostStagedCommunicator::HostStagedCommunicator(MPI_Comm comm, bool owned,
                                               std::shared_ptr<CommLog> log,
                                               const std::string& name, StagingMemory memory)
    : MpiCommunicator(comm, owned, std::move(log), name), memory_(std::move(memory)) {
  TPB_CHECK(memory_.is_device && memory_.copy && memory_.synchronize,
            "host-staged communicator '{}': incomplete StagingMemory", name);
}

std::byte* HostStagedCommunicator::staging(size_t bytes) {
  if (bytes > capacity_) {
    // Called after the compute stream was synchronised, so no copy still reads the old one.
    staging_.reset();
    capacity_ = 0;
    staging_ = std::make_unique_for_overwrite<std::byte[]>(bytes);
    capacity_ = bytes;
  }
  return staging_.get();
}

void HostStagedCommunicator::do_all_reduce(const void* send, void* recv, size_t count,
                                           DType dtype, ReduceOp op) {
  const size_t bytes = count * dtype_size(dtype);
  Call c(*this);
  if (send == recv) {
    const int b = c.add(recv, bytes, true, true);
    c.stage_in();
    MpiCommunicator::do_all_reduce(c.host(b), c.host(b), count, dtype, op);
  } else {
    const int s = c.add(send, bytes, true, false);
    const int r = c.add(recv, bytes, false, true);
    c.stage_in();
    MpiCommunicator::do_all_reduce(c.host(s), c.host(r), count, dtype, op);
  }
  c.stage_out();
}

void HostStagedCommunicator::do_all_gather(const void* send, void* recv, size_t send_count,
                                           DType dtype) {
  const size_t bytes = send_count * dtype_size(dtype);
  Call c(*this);
  // In place on the device (send inside recv): separate regions, an out-of-place MPI call.
  const int s = c.add(send, bytes, true, false);
  const int r = c.add(recv, bytes * static_cast<size_t>(size()), false, true);
  c.stage_in();
  MpiCommunicator::do_all_gather(c.host(s), c.host(r), send_count, dtype);
  c.stage_out();
}

void HostStagedCommunicator::do_all_gather_v(const void* send, void* recv,
                                             std::span<const int64_t> counts, DType dtype) {
  const size_t esize = dtype_size(dtype);
  const size_t total = static_cast<size_t>(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
  const size_t mine = static_cast<size_t>(counts[static_cast<size_t>(rank())]);
  Call c(*this);
  const int s = c.add(send, mine * esize, true, false);
  const int r = c.add(recv, total * esize, false, true);
  c.stage_in();
  MpiCommunicator::do_all_gather_v(c.host(s), c.host(r), counts, dtype);
  c.stage_out();
}

void HostStagedCommunicator::do_reduce_scatter(const void* send, void* recv, size_t recv_count,
                                               DType dtype, ReduceOp op) {
  const size_t bytes = recv_count * dtype_size(dtype);
  Call c(*this);
  // In place on the device (recv inside send): separate regions, an out-of-place MPI call;
  // only recv's block of the device buffer is written back.
  const int s = c.add(send, bytes * static_cast<size_t>(size()), true, false);
  const int r = c.add(recv, bytes, false, true);
  c.stage_in();
  MpiCommunicator::do_reduce_scatter(c.host(s), c.host(r), recv_count, dtype, op);
  c.stage_out();
}

void HostStagedCommunicator::do_reduce_scatter_v(const void* send, void* recv,
                                                 std::span<const int64_t> counts, DType dtype,
                                                 ReduceOp op) {
  const size_t esize = dtype_size(dtype);
  const size_t total = static_cast<size_t>(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
  const size_t mine = static_cast<size_t>(counts[static_cast<size_t>(rank())]);
  Call c(*this);
  const int s = c.add(send, total * esize, true, false);
  const int r = c.add(recv, mine * esize, false, true);
  c.stage_in();
  MpiCommunicator::do_reduce_scatter_v(c.host(s), c.host(r), counts, dtype, op);
  c.stage_out();
}

void HostStagedCommunicator::do_broadcast(void* buf, size_t count, DType dtype, int root) {
  const bool is_root = rank() == root;
  Call c(*this);
  // The root's buffer is only read; every other rank's only written.
  const int b = c.add(buf, count * dtype_size(dtype), is_root, !is_root);
  c.stage_in();
  MpiCommunicator::do_broadcast(c.host(b), count, dtype, root);
  c.stage_out();
}

void HostStagedCommunicator::do_all_to_all(const void* send, void* recv, size_t count_per_peer,
                                           DType dtype) {
  const size_t bytes = count_per_peer * static_cast<size_t>(size()) * dtype_size(dtype);
  Call c(*this);
  if (send == recv) {
    const int b = c.add(recv, bytes, true, true);
    c.stage_in();
    MpiCommunicator::do_all_to_all(c.host(b), c.host(b), count_per_peer, dtype);
  } else {
    const int s = c.add(send, bytes, true, false);
    const int r = c.add(recv, bytes, false, true);
    c.stage_in();
    MpiCommunicator::do_all_to_all(c.host(s), c.host(r), count_per_peer, dtype);
  }
  c.stage_out();
}

std::unique_ptr<Communicator> HostStagedCommunicator::do_split(int color, int key,
                                                              const std::string& name) {
  MPI_Comm child = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split(handle(), color, key, &child), "MPI_Comm_split");
  return std::unique_ptr<Communicator>(
      new HostStagedCommunicator(child, true, shared_log(), name, memory_));
}

}  // namespace tpb
