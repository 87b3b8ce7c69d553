#include "comm/mpi/mpi_communicator.h"

#include <cstring>
#include <exception>

#include "base/error.h"
#include "base/bf16.h"
#include "comm/mpi/host_reduce.h"
#include "comm/mpi/mpi_bf16_ops.h"

namespace tpb {

void check_mpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  TPB_CHECK(rc == MPI_SUCCESS, "{} failed: {}", call, std::string(text, static_cast<size_t>(len)));
}

namespace {

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::f32: return MPI_FLOAT;
    case DType::i32: return MPI_INT32_T;
    case DType::i64: return MPI_INT64_T;
    case DType::f64: return MPI_DOUBLE;
    case DType::u8: return MPI_UINT8_T;
    case DType::bf16: return MPI_UINT16_T;  // moved as bits; reduced by mpi_bf16_op
  }
  return MPI_DATATYPE_NULL;
}

MPI_Op mpi_op(ReduceOp op, DType t, const char* call) {
  TPB_CHECK(t != DType::u8, "{}: the MPI backend has no {} reduction ({})", call, dtype_name(t),
            reduce_op_name(op));
  if (t == DType::bf16) return mpi_bf16_op(op);
  return op == ReduceOp::max ? MPI_MAX : MPI_SUM;
}

}  // namespace

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  TPB_CHECK(!initialized, "MPI is already initialised: construct one MpiRuntime per process");
  check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &thread_level_), "MPI_Init_thread");
  // Errors come back as codes, which check_mpi turns into exceptions with the text.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

MpiRuntime::~MpiRuntime() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

std::string MpiRuntime::library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(text, &len);
  std::string s(text, static_cast<size_t>(len));
  if (auto nl = s.find_first_of(",\n"); nl != std::string::npos) s.resize(nl);
  return s;
}

void MpiRuntime::abort_world(int status) {
  MPI_Abort(MPI_COMM_WORLD, status);
  std::abort();  // MPI_Abort does not return; this keeps [[noreturn]] honest
}

std::unique_ptr<MpiCommunicator> MpiCommunicator::world() {
  return std::unique_ptr<MpiCommunicator>(
      new MpiCommunicator(MPI_COMM_WORLD, false, std::make_shared<CommLog>(), "world"));
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, bool owned, std::shared_ptr<CommLog> log,
                                 const std::string& name)
    : comm_(comm), owned_(owned) {
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  // Members by world rank, for logs and traces.
  CommGroupInfo info{name, size_, rank_, std::vector<int>(static_cast<size_t>(size_))};
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  check_mpi(MPI_Allgather(&world_rank, 1, MPI_INT, info.world_ranks.data(), 1, MPI_INT, comm_),
            "MPI_Allgather(world ranks)");
  attach_log(std::move(log), std::move(info));
  // Intra-node: the ranks that share memory with this one are the whole group.
  MPI_Comm node = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
            "MPI_Comm_split_type (ranks of this node)");
  int node_size = 0;
  const int rc = MPI_Comm_size(node, &node_size);
  MPI_Comm_free(&node);
  check_mpi(rc, "MPI_Comm_size (node)");
  int here = node_size == size_ ? 1 : 0;
  int all = 0;  // the same answer on every rank, so every rank routes alike
  check_mpi(MPI_Allreduce(&here, &all, 1, MPI_INT, MPI_MIN, comm_), "MPI_Allreduce (intra-node)");
  intra_node_ = all == 1;
  counts_.resize(static_cast<size_t>(size_));
  displs_.resize(static_cast<size_t>(size_));
  counts64_.resize(static_cast<size_t>(size_));
}

bool MpiCommunicator::concurrent_calls_ok() const {
  int level = 0;
  MPI_Query_thread(&level);
  return level == MPI_THREAD_MULTIPLE;
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  shm_.reset();  // collective over comm_: before it goes (not while unwinding, see there)
  // MPI_Comm_free is collective too (some components talk in it); while unwinding after an
  // error the communicator is left to MPI_Abort.
  if (owned_ && !finalized && std::uncaught_exceptions() == 0) MPI_Comm_free(&comm_);
}

CollRoute MpiCommunicator::host_route(CommOp op, size_t bytes, DType dtype) {
  static const RoutePolicy kDefault;  // auto, the built-in table
  const RoutePolicy* policy = route_policy() ? route_policy() : &kDefault;
  const CollRoute r = policy->choose(op, size_, static_cast<int64_t>(bytes), intra_node_, host_reducible(dtype));
  note_route(r);
  return r;
}

ShmCollectives& MpiCommunicator::shm() {
  if (!shm_) shm_ = std::make_unique<ShmCollectives>(comm_, ShmCollectives::default_chunk_bytes());
  return *shm_;
}

void MpiCommunicator::do_all_reduce(const void* send, void* recv, size_t count, DType dtype,
                                    ReduceOp op) {
  if (host_route(CommOp::all_reduce, count * dtype_size(dtype), dtype) == CollRoute::shm)
    return shm().all_reduce(send, recv, count, dtype, op);
  const void* src = send == recv ? MPI_IN_PLACE : send;
  check_mpi(MPI_Allreduce(src, recv, static_cast<int>(count), mpi_type(dtype),
                          mpi_op(op, dtype, "all_reduce"), comm_),
            "MPI_Allreduce");
  finish_avg(recv, count, dtype, op, size_);
}

void MpiCommunicator::do_all_gather(const void* send, void* recv, size_t send_count, DType dtype) {
  const size_t esize = dtype_size(dtype);
  if (host_route(CommOp::all_gather, send_count * esize * static_cast<size_t>(size_), dtype) == CollRoute::shm) {
    for (auto& c : counts64_) c = static_cast<int64_t>(send_count);
    return shm().all_gather_v(send, recv, counts64_, dtype);
  }
  const bool in_place =
      send == static_cast<const char*>(recv) + static_cast<size_t>(rank_) * send_count * esize;
  check_mpi(MPI_Allgather(in_place ? MPI_IN_PLACE : send, static_cast<int>(send_count),
                          mpi_type(dtype), recv, static_cast<int>(send_count), mpi_type(dtype),
                          comm_),
            "MPI_Allgather");
}

void MpiCommunicator::do_all_gather_v(const void* send, void* recv, std::span<const int64_t> counts,
                                      DType dtype) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  if (host_route(CommOp::all_gather_v, static_cast<size_t>(total) * dtype_size(dtype), dtype) == CollRoute::shm)
    return shm().all_gather_v(send, recv, counts, dtype);
  int offset = 0;
  for (int r = 0; r < size_; ++r) {
    counts_[static_cast<size_t>(r)] = static_cast<int>(counts[static_cast<size_t>(r)]);
    displs_[static_cast<size_t>(r)] = offset;
    offset += counts_[static_cast<size_t>(r)];
  }
  const char* mine = static_cast<const char*>(recv) +
                     static_cast<size_t>(displs_[static_cast<size_t>(rank_)]) * dtype_size(dtype);
  check_mpi(MPI_Allgatherv(send == mine ? MPI_IN_PLACE : send, counts_[static_cast<size_t>(rank_)],
                           mpi_type(dtype), recv, counts_.data(), displs_.data(), mpi_type(dtype),
                           comm_),
            "MPI_Allgatherv");
}

void MpiCommunicator::do_reduce_scatter(const void* send, void* recv, size_t recv_count,
                                        DType dtype, ReduceOp op) {
  const size_t bytes = recv_count * dtype_size(dtype);
  if (host_route(CommOp::reduce_scatter, bytes * static_cast<size_t>(size_), dtype) == CollRoute::shm) {
    for (auto& c : counts64_) c = static_cast<int64_t>(recv_count);
    return shm().reduce_scatter_v(send, recv, counts64_, dtype, op);
  }
  const bool in_place = recv == static_cast<const char*>(send) + static_cast<size_t>(rank_) * bytes;
  if (in_place) {
    // MPI's in-place form leaves the result at the start of the buffer; NCCL's (ours) at
    // this rank's offset. The input is consumed either way, so reduce then move.
    void* buf = const_cast<void*>(send);
    check_mpi(MPI_Reduce_scatter_block(MPI_IN_PLACE, buf, static_cast<int>(recv_count),
                                       mpi_type(dtype), mpi_op(op, dtype, "reduce_scatter"), comm_),
              "MPI_Reduce_scatter_block");
    if (rank_ != 0 && bytes > 0) std::memmove(recv, buf, bytes);  // (no memmove of null, 0: UB)
  } else {
    check_mpi(MPI_Reduce_scatter_block(send, recv, static_cast<int>(recv_count), mpi_type(dtype),
                                       mpi_op(op, dtype, "reduce_scatter"), comm_),
              "MPI_Reduce_scatter_block");
  }
  finish_avg(recv, recv_count, dtype, op, size_);
}

void MpiCommunicator::do_reduce_scatter_v(const void* send, void* recv,
                                          std::span<const int64_t> counts, DType dtype,
                                          ReduceOp op) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  if (host_route(CommOp::reduce_scatter_v, static_cast<size_t>(total) * dtype_size(dtype), dtype) == CollRoute::shm)
    return shm().reduce_scatter_v(send, recv, counts, dtype, op);
  size_t offset = 0;  // elements before this rank's block
  for (int r = 0; r < size_; ++r) {
    counts_[static_cast<size_t>(r)] = static_cast<int>(counts[static_cast<size_t>(r)]);
    if (r < rank_) offset += static_cast<size_t>(counts[static_cast<size_t>(r)]);
  }
  const size_t elem = dtype_size(dtype);
  const bool in_place = send != nullptr && recv == static_cast<const char*>(send) + offset * elem;
  if (in_place) {
    // As reduce_scatter: MPI leaves the result at the start of the buffer, ours is at this
    // rank's offset (NCCL's convention). Every rank takes the same branch: the in-place
    // form is decided by where recv points, which is each rank's own block.
    void* buf = const_cast<void*>(send);
    check_mpi(MPI_Reduce_scatter(MPI_IN_PLACE, buf, counts_.data(), mpi_type(dtype),
                                 mpi_op(op, dtype, "reduce_scatter_v"), comm_),
              "MPI_Reduce_scatter");
    const size_t mine = static_cast<size_t>(counts[static_cast<size_t>(rank_)]) * elem;
    if (offset != 0 && mine > 0) std::memmove(recv, buf, mine);
  } else {
    check_mpi(MPI_Reduce_scatter(send, recv, counts_.data(), mpi_type(dtype),
                                 mpi_op(op, dtype, "reduce_scatter_v"), comm_),
              "MPI_Reduce_scatter");
  }
  finish_avg(recv, static_cast<size_t>(counts[static_cast<size_t>(rank_)]), dtype, op, size_);
}

void MpiCommunicator::do_broadcast(void* buf, size_t count, DType dtype, int root) {
  if (host_route(CommOp::broadcast, count * dtype_size(dtype), dtype) == CollRoute::shm)
    return shm().broadcast(buf, count, dtype, root);
  check_mpi(MPI_Bcast(buf, static_cast<int>(count), mpi_type(dtype), root, comm_), "MPI_Bcast");
}

void MpiCommunicator::do_all_to_all(const void* send, void* recv, size_t count_per_peer,
                                    DType dtype) {
  const int c = static_cast<int>(count_per_peer);
  check_mpi(MPI_Alltoall(send == recv ? MPI_IN_PLACE : send, c, mpi_type(dtype), recv, c,
                         mpi_type(dtype), comm_),
            "MPI_Alltoall");
}

void MpiCommunicator::do_barrier() { check_mpi(MPI_Barrier(comm_), "MPI_Barrier"); }

std::unique_ptr<Communicator> MpiCommunicator::do_split(int color, int key, const std::string& name) {
  MPI_Comm child = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split(comm_, color, key, &child), "MPI_Comm_split");
  return std::unique_ptr<Communicator>(new MpiCommunicator(child, true, shared_log(), name));  // policy: split()
}

}  // namespace tpb
