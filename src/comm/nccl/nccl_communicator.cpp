#include "comm/nccl/nccl_communicator.h"

#include <exception>
#include <initializer_list>
#include <numeric>
#include <vector>

#include "base/error.h"
#include "comm/nccl/nccl_world.h"
#include "device/cuda/cuda_context.h"
#include "device/device.h"

namespace tpb {

namespace {

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::i32: return ncclInt32;
    case DType::i64: return ncclInt64;
    case DType::u8: return ncclUint8;
    case DType::bf16: return ncclBfloat16;
  }
  throw Error(fmt::format("NCCL: no NCCL type for dtype {}", static_cast<int>(t)));
}

ncclRedOp_t nccl_op(ReduceOp op, DType t, const char* call) {
  switch (op) {
    case ReduceOp::sum: return ncclSum;
    case ReduceOp::max: return ncclMax;
    case ReduceOp::avg:
      // As the MPI backend: an average of integers would truncate, so it is refused.
      TPB_CHECK(t == DType::f32 || t == DType::f64 || t == DType::bf16,
                "{}: avg reduction needs fp32, fp64 or bf16, got {}", call, dtype_name(t));
      return ncclAvg;
  }
  throw Error(fmt::format("{}: unknown reduce op {}", call, static_cast<int>(op)));
}

// Makes `device` current for the scope (a communication thread may start on another).
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    cuda::check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) cuda::check(cudaSetDevice(device), "cudaSetDevice");
    device_ = device;
  }
  ~DeviceScope() {
    if (previous_ != device_) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
  int device_ = -1;
};

// Where the data of one call lives. Buffers of zero bytes do not count (a rank with
// nothing to send may pass null), so `nothing` means the whole call moves no data: the
// sizes that decide it are the same on every rank.
enum class Where { nothing, host, device };

struct Buffer {
  const void* ptr;
  size_t bytes;
};

Where where(const char* op, std::initializer_list<Buffer> buffers) {
  bool on_device = false;
  bool on_host = false;
  for (const Buffer& b : buffers) {
    if (b.bytes == 0) continue;
    (device::is_device_pointer(b.ptr) ? on_device : on_host) = true;
  }
  TPB_CHECK(!(on_device && on_host),
            "{}: buffers mix device and host memory (the NCCL communicator moves device memory "
            "with NCCL and host memory with MPI, one kind per call)",
            op);
  return on_device ? Where::device : on_host ? Where::host : Where::nothing;
}

// ncclGroupStart ... ncclGroupEnd, closed on every path: a failed call inside is reported
// after the group is ended, so this thread is never left inside an open group.
class NcclGroup {
 public:
  NcclGroup() {
    rc_ = ncclGroupStart();
    if (rc_ != ncclSuccess) call_ = "ncclGroupStart";
    open_ = rc_ == ncclSuccess;
  }
  ~NcclGroup() {
    if (open_) ncclGroupEnd();
  }
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;

  // Whether every call so far succeeded (stop issuing calls once one failed).
  bool ok() const { return rc_ == ncclSuccess; }
  void add(ncclResult_t rc, const char* call) {
    if (rc_ == ncclSuccess && rc != ncclSuccess) {
      rc_ = rc;
      call_ = call;
    }
  }
  // Ends the group; returns the first failure (and its call) of the whole group.
  ncclResult_t end(const char** call) {
    if (open_) {
      open_ = false;
      add(ncclGroupEnd(), "ncclGroupEnd");
    }
    *call = call_;
    return rc_;
  }

 private:
  const char* call_ = "";
  ncclResult_t rc_ = ncclSuccess;
  bool open_ = false;
};

}  // namespace

void NcclCommunicator::check(ncclResult_t rc, const char* call) const {
  if (rc == ncclSuccess) return;
  const char* last = nccl_ ? ncclGetLastError(nccl_.get()) : nullptr;
  throw Error(fmt::format("NCCL error in {} (group '{}', rank {} of {}): {}{}{}", call, name(),
                          rank(), size(), ncclGetErrorString(rc),
                          last && *last ? ": " : "", last ? last : ""));
}

std::unique_ptr<NcclCommunicator> NcclCommunicator::world() {
  return std::unique_ptr<NcclCommunicator>(
      new NcclCommunicator(MPI_COMM_WORLD, false, std::make_shared<CommLog>(), "world"));
}

std::unique_ptr<Communicator> make_nccl_world() { return NcclCommunicator::world(); }

NcclCommunicator::NcclCommunicator(MPI_Comm comm, bool owned, std::shared_ptr<CommLog> log,
                                   const std::string& name)
    : MpiCommunicator(comm, owned, std::move(log), name) {
  cuda::check(cudaGetDevice(&device_), "cudaGetDevice (NCCL communicator)");
  (void)cuda::compute_stream();  // exists on this device before any collective orders against it

  cudaStream_t stream = nullptr;
  cuda::check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "creating the NCCL stream");
  stream_.reset(stream);
  for (auto* event : {&inputs_ready_, &results_ready_}) {
    cudaEvent_t e = nullptr;
    cuda::check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "creating an NCCL event");
    event->reset(e);
  }

  // Rank 0 makes the id and broadcasts it with its status, so a failure there is an error
  // on every rank rather than a hang in ncclCommInitRank.
  struct {
    ncclUniqueId id;
    int status;
  } boot{};
  if (rank() == 0) boot.status = static_cast<int>(ncclGetUniqueId(&boot.id));
  check_mpi(MPI_Bcast(&boot, static_cast<int>(sizeof(boot)), MPI_BYTE, 0, handle()),
            "MPI_Bcast (NCCL unique id)");
  check(static_cast<ncclResult_t>(boot.status), "ncclGetUniqueId (on rank 0)");
  ncclComm_t c = nullptr;
  check(ncclCommInitRank(&c, size(), boot.id, rank()), "ncclCommInitRank");
  nccl_.reset(c);
}

NcclCommunicator::~NcclCommunicator() {
  // Best effort, never throws. Resources are released with this communicator's device
  // current, whatever thread destroys it.
  int previous = -1;
  const bool have_previous = cudaGetDevice(&previous) == cudaSuccess;
  if (device_ >= 0 && (!have_previous || previous != device_)) cudaSetDevice(device_);
  if (nccl_) {
    if (std::uncaught_exceptions() > 0) {
      // Unwinding after an error: peers may never reach their side of a queued collective,
      // so waiting for it could hang; abort the communicator's operations instead.
      ncclCommAbort(nccl_.release());
    } else {
      if (stream_) cudaStreamSynchronize(stream_.get());
      ncclCommDestroy(nccl_.release());
    }
  }
  if (stream_ && scratch_) cudaStreamSynchronize(stream_.get());
  scratch_.reset();
  results_ready_.reset();
  inputs_ready_.reset();
  stream_.reset();
  if (have_previous && previous != device_) cudaSetDevice(previous);
}

bool NcclCommunicator::concurrent_calls_ok() const { return MpiCommunicator::concurrent_calls_ok(); }

template <typename F>
void NcclCommunicator::ordered(F&& enqueue) {
  DeviceScope scope(device_);
  cudaStream_t compute = cuda::compute_stream();
  cudaStream_t nccl_stream = stream_.get();
  // The inputs are ready when the work queued so far on the compute stream has run.
  cuda::check(cudaEventRecord(inputs_ready_.get(), compute), "cudaEventRecord (NCCL inputs ready)");
  cuda::check(cudaStreamWaitEvent(nccl_stream, inputs_ready_.get(), 0),
              "cudaStreamWaitEvent (NCCL stream after compute)");
  enqueue(nccl_stream);
  if (deferred() && !synchronous()) {  // join() orders the compute stream after it
    unjoined_ = true;
    return;
  }
  // Later work on the compute stream runs after the collective.
  cuda::check(cudaEventRecord(results_ready_.get(), nccl_stream), "cudaEventRecord (NCCL results ready)");
  cuda::check(cudaStreamWaitEvent(compute, results_ready_.get(), 0),
              "cudaStreamWaitEvent (compute after NCCL stream)");
  // Synchronous mode: return once the collective (and what it waited for) has run, so the
  // CommRecord bounds the transfer.
  if (synchronous()) cuda::check(cudaStreamSynchronize(nccl_stream), "cudaStreamSynchronize (synchronous NCCL)");
}

void NcclCommunicator::join() {
  if (!unjoined_) return;
  DeviceScope scope(device_);
  // The NCCL stream runs its collectives in order: waiting for the last one waits for all.
  cuda::check(cudaEventRecord(results_ready_.get(), stream_.get()), "cudaEventRecord (NCCL join)");
  cuda::check(cudaStreamWaitEvent(cuda::compute_stream(), results_ready_.get(), 0),
              "cudaStreamWaitEvent (compute after deferred NCCL collectives)");
  unjoined_ = false;
}

void NcclCommunicator::wait_for_inputs() {
  DeviceScope scope(device_);
  cuda::check(cudaStreamSynchronize(cuda::compute_stream()), "cudaStreamSynchronize (synchronous NCCL inputs)");
}

void* NcclCommunicator::scratch(size_t bytes) {
  if (bytes > scratch_bytes_) {
    // The old block may still be in use by a queued collective on the NCCL stream.
    cuda::check(cudaStreamSynchronize(stream_.get()), "cudaStreamSynchronize (NCCL scratch)");
    scratch_.reset();
    scratch_bytes_ = 0;
    void* p = nullptr;
    cuda::check(cudaMalloc(&p, bytes), "cudaMalloc (NCCL all_to_all scratch)");
    scratch_.reset(p);
    scratch_bytes_ = bytes;
  }
  return scratch_.get();
}

void NcclCommunicator::do_all_reduce(const void* send, void* recv, size_t count, DType dtype,
                                     ReduceOp op) {
  const size_t bytes = count * dtype_size(dtype);
  switch (where("all_reduce", {{send, bytes}, {recv, bytes}})) {
    case Where::nothing: return;
    case Where::host: return MpiCommunicator::do_all_reduce(send, recv, count, dtype, op);
    case Where::device: break;
  }
  const ncclDataType_t type = nccl_type(dtype);
  const ncclRedOp_t nop = nccl_op(op, dtype, "all_reduce");
  ordered([&](cudaStream_t s) {  // send == recv is NCCL's in-place form
    check(ncclAllReduce(send, recv, count, type, nop, nccl_.get(), s), "ncclAllReduce (all_reduce)");
  });
}

void NcclCommunicator::do_all_gather(const void* send, void* recv, size_t send_count, DType dtype) {
  const size_t bytes = send_count * dtype_size(dtype);
  switch (where("all_gather", {{send, bytes}, {recv, bytes * static_cast<size_t>(size())}})) {
    case Where::nothing: return;
    case Where::host: return MpiCommunicator::do_all_gather(send, recv, send_count, dtype);
    case Where::device: break;
  }
  const ncclDataType_t type = nccl_type(dtype);
  ordered([&](cudaStream_t s) {  // send == recv + rank * send_count is NCCL's in-place form
    check(ncclAllGather(send, recv, send_count, type, nccl_.get(), s), "ncclAllGather (all_gather)");
  });
}

void NcclCommunicator::do_all_gather_v(const void* send, void* recv,
                                       std::span<const int64_t> counts, DType dtype) {
  const size_t esize = dtype_size(dtype);
  const size_t total = static_cast<size_t>(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
  const size_t mine = static_cast<size_t>(counts[static_cast<size_t>(rank())]);
  switch (where("all_gather_v", {{send, mine * esize}, {recv, total * esize}})) {
    case Where::nothing: return;
    case Where::host: return MpiCommunicator::do_all_gather_v(send, recv, counts, dtype);
    case Where::device: break;
  }
  const ncclDataType_t type = nccl_type(dtype);
  ordered([&](cudaStream_t s) {
    // One broadcast per root into its offset of recv; on the root, send at that offset is
    // the in-place form. sendbuff is read on the root only.
    NcclGroup group;
    size_t offset = 0;
    for (int r = 0; r < size() && group.ok(); ++r) {
      const size_t n = static_cast<size_t>(counts[static_cast<size_t>(r)]);
      if (n > 0)
        group.add(ncclBroadcast(send, static_cast<char*>(recv) + offset * esize, n, type, r,
                                nccl_.get(), s),
                  "ncclBroadcast (all_gather_v)");
      offset += n;
    }
    const char* call = nullptr;
    const ncclResult_t rc = group.end(&call);
    check(rc, call);
  });
}

void NcclCommunicator::do_reduce_scatter(const void* send, void* recv, size_t recv_count,
                                         DType dtype, ReduceOp op) {
  const size_t bytes = recv_count * dtype_size(dtype);
  switch (where("reduce_scatter", {{send, bytes * static_cast<size_t>(size())}, {recv, bytes}})) {
    case Where::nothing: return;
    case Where::host: return MpiCommunicator::do_reduce_scatter(send, recv, recv_count, dtype, op);
    case Where::device: break;
  }
  const ncclDataType_t type = nccl_type(dtype);
  const ncclRedOp_t nop = nccl_op(op, dtype, "reduce_scatter");
  ordered([&](cudaStream_t s) {  // recv == send + rank * recv_count is NCCL's in-place form
    check(ncclReduceScatter(send, recv, recv_count, type, nop, nccl_.get(), s),
          "ncclReduceScatter (reduce_scatter)");
  });
}

void NcclCommunicator::do_reduce_scatter_v(const void* send, void* recv,
                                           std::span<const int64_t> counts, DType dtype,
                                           ReduceOp op) {
  const size_t esize = dtype_size(dtype);
  const size_t total = static_cast<size_t>(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
  const size_t mine = static_cast<size_t>(counts[static_cast<size_t>(rank())]);
  switch (where("reduce_scatter_v", {{send, total * esize}, {recv, mine * esize}})) {
    case Where::nothing: return;
    case Where::host: return MpiCommunicator::do_reduce_scatter_v(send, recv, counts, dtype, op);
    case Where::device: break;
  }
  const ncclDataType_t type = nccl_type(dtype);
  const ncclRedOp_t nop = nccl_op(op, dtype, "reduce_scatter_v");  // ncclAvg works with ncclReduce
  ordered([&](cudaStream_t s) {
    // One reduce per root of its block of send; recvbuff is written on the root only, and
    // recv == send + offset on the root is the in-place form.
    NcclGroup group;
    size_t offset = 0;
    for (int r = 0; r < size() && group.ok(); ++r) {
      const size_t n = static_cast<size_t>(counts[static_cast<size_t>(r)]);
      if (n > 0)
        group.add(ncclReduce(static_cast<const char*>(send) + offset * esize, recv, n, type, nop,
                             r, nccl_.get(), s),
                  "ncclReduce (reduce_scatter_v)");
      offset += n;
    }
    const char* call = nullptr;
    const ncclResult_t rc = group.end(&call);
    check(rc, call);
  });
}

void NcclCommunicator::do_broadcast(void* buf, size_t count, DType dtype, int root) {
  switch (where("broadcast", {{buf, count * dtype_size(dtype)}})) {
    case Where::nothing: return;
    case Where::host: return MpiCommunicator::do_broadcast(buf, count, dtype, root);
    case Where::device: break;
  }
  const ncclDataType_t type = nccl_type(dtype);
  ordered([&](cudaStream_t s) {
    check(ncclBroadcast(buf, buf, count, type, root, nccl_.get(), s), "ncclBroadcast (broadcast)");
  });
}

void NcclCommunicator::do_all_to_all(const void* send, void* recv, size_t count_per_peer,
                                     DType dtype) {
  const size_t block = count_per_peer * dtype_size(dtype);
  const size_t bytes = block * static_cast<size_t>(size());
  switch (where("all_to_all", {{send, bytes}, {recv, bytes}})) {
    case Where::nothing: return;
    case Where::host: return MpiCommunicator::do_all_to_all(send, recv, count_per_peer, dtype);
    case Where::device: break;
  }
  const ncclDataType_t type = nccl_type(dtype);
  // In place, the sends would read blocks the receives overwrite: send from a copy.
  const void* from = send;
  if (send == recv) {
    DeviceScope scope(device_);
    from = scratch(bytes);
  }
  ordered([&](cudaStream_t s) {
    if (from != send)
      cuda::check(cudaMemcpyAsync(const_cast<void*>(from), send, bytes, cudaMemcpyDeviceToDevice, s),
                  "cudaMemcpyAsync (in-place all_to_all input)");
    NcclGroup group;
    for (int p = 0; p < size() && group.ok(); ++p) {
      const size_t at = static_cast<size_t>(p) * block;
      group.add(ncclSend(static_cast<const char*>(from) + at, count_per_peer, type, p, nccl_.get(), s),
                "ncclSend (all_to_all)");
      if (group.ok())
        group.add(ncclRecv(static_cast<char*>(recv) + at, count_per_peer, type, p, nccl_.get(), s),
                  "ncclRecv (all_to_all)");
    }
    const char* call = nullptr;
    const ncclResult_t rc = group.end(&call);
    check(rc, call);
  });
}

void NcclCommunicator::do_barrier() {
  // The compute stream waits for every collective queued so far, so this covers them too.
  device::synchronize();
  MpiCommunicator::do_barrier();
}

std::unique_ptr<Communicator> NcclCommunicator::do_split(int color, int key, const std::string& name) {
  MPI_Comm child = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split(handle(), color, key, &child), "MPI_Comm_split");
  DeviceScope scope(device_);  // the child lives on this communicator's GPU
  return std::unique_ptr<Communicator>(new NcclCommunicator(child, true, shared_log(), name));
}

}  // namespace tpb
