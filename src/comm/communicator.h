// Communicator: the one runtime interface for collectives. Every layer above (parallel
// linear layers, data parallelism, the benchmarks) talks to this, never to MPI or NCCL.
//
// Public calls validate their arguments (counts that fit, counts a collective can split,
// roots in range), time themselves and append a CommRecord to the shared CommLog, then
// hand over to the backend's do_* implementation. Backends (MPI on host memory, MPI with
// host staging of device buffers, NCCL) only move bytes. Buffers are raw pointers +
// element count + DType, so comm depends on base and the device runtime interface
// (device/device.h: where a buffer lives), not on tensors; the fp32 span overloads are
// conveniences over the same calls.
//
// Semantics (NCCL's, so both backends agree):
//   all_reduce       recv[i] = op over ranks of send[i]; send == recv is in place.
//   all_gather       recv = concat over ranks of send (send_count each); in place when
//                    send == recv + rank * send_count.
//   all_gather_v     as all_gather with counts[r] elements from rank r.
//   reduce_scatter   recv (recv_count) = op over ranks of send[rank*recv_count, ...);
//                    in place when recv == send + rank * recv_count.
//   reduce_scatter_v as reduce_scatter with counts[r] elements to rank r; in place when
//                    recv == send + (counts[0] + ... + counts[rank - 1]).
//   broadcast        buf on every rank = buf on root.
//   all_to_all       send holds size() blocks of count_per_peer; block p goes to rank p,
//                    and recv block p comes from rank p (recv[p] = send of rank p, block
//                    rank). In place when send == recv.
// ReduceOp::avg is the sum divided by the group size. bf16 reductions convert each element
// to fp32, combine, and round back to bf16 (nearest even) at every step.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "comm/coll_route.h"
#include "comm/comm_log.h"

namespace tpb {

enum class ReduceOp { sum, avg, max };
std::string_view reduce_op_name(ReduceOp op);

class FlightRing;  // comm/flight_recorder.h

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Whether two threads may call collectives at once (on different communicators), as an
  // overlapped gradient reduction does.
  virtual bool concurrent_calls_ok() const { return false; }
  // Whether every call returns only once its data has moved, so the CommRecord's start and
  // end bound the transfer. MPI calls always do. A GPU backend (NCCL) queues its collective
  // on a stream and returns at once unless this is on; benchmarks that time each call turn
  // it on (children of split() inherit it).
  void set_synchronous(bool on) { synchronous_ = on; }
  bool synchronous() const { return synchronous_; }
  // Whether calls on device memory return before their data moved (a GPU backend in
  // asynchronous mode): then a caller can overlap them with computation without a thread.
  virtual bool queues_device_work() const { return false; }
  // Deferred completion (GPU backends that queue): later GPU work is NOT ordered after the
  // collectives queued from now on until join(), which orders the compute stream after all
  // of them. For gradient reduction overlapping backward: queue each bucket as it is ready,
  // join before the optimizer reads the gradients. A no-op for backends that do not queue.
  void set_deferred(bool on) { deferred_ = on; }
  bool deferred() const { return deferred_; }
  virtual void join() {}
  // Short name of the group ("world", "tp", "dp") and its id in the log.
  const std::string& name() const { return log_->group(group_id_).name; }
  int32_t group_id() const { return group_id_; }
  CommLog& log() { return *log_; }
  const CommLog& log() const { return *log_; }
  // World ranks of this group's members, in group-rank order.
  const std::vector<int>& world_ranks() const { return log_->group(group_id_).world_ranks; }
  // How this backend picks the route of a collective on host memory (comm/coll_route.h).
  // Children of split() inherit it. Backends with one route ignore it.
  virtual void set_route_policy(std::shared_ptr<const RoutePolicy> policy) { policy_ = std::move(policy); }
  const RoutePolicy* route_policy() const { return policy_.get(); }
  // Whether every rank of this group runs on this node (the shared-memory route needs it).
  virtual bool intra_node() const { return false; }

  void all_reduce(const void* send, void* recv, size_t count, DType dtype, ReduceOp op);
  void all_gather(const void* send, void* recv, size_t send_count, DType dtype);
  void all_gather_v(const void* send, void* recv, std::span<const int64_t> counts, DType dtype);
  void reduce_scatter(const void* send, void* recv, size_t recv_count, DType dtype, ReduceOp op);
  void reduce_scatter_v(const void* send, void* recv, std::span<const int64_t> counts,
                        DType dtype, ReduceOp op);
  void broadcast(void* buf, size_t count, DType dtype, int root);
  void all_to_all(const void* send, void* recv, size_t count_per_peer, DType dtype);
  void barrier();

  // fp32 conveniences. The span sizes must agree with the group size: all_gather's out is
  // size() * in; reduce_scatter's in is size() * out (a count that does not split evenly is
  // an error naming both sizes).
  void all_reduce(std::span<float> data, ReduceOp op);
  void all_gather(std::span<const float> in, std::span<float> out);
  void reduce_scatter(std::span<const float> in, std::span<float> out, ReduceOp op);
  void broadcast(std::span<float> data, int root);

  // Ranks with the same color form a new group, ordered by key (then by rank). The child
  // shares this communicator's CommLog and is recorded there under `name`.
  std::unique_ptr<Communicator> split(int color, int key, const std::string& name);

 protected:
  Communicator() = default;
  // Backends call this once they know their rank, size and members.
  void attach_log(std::shared_ptr<CommLog> log, CommGroupInfo info);
  std::shared_ptr<CommLog> shared_log() const { return log_; }

  virtual void do_all_reduce(const void* send, void* recv, size_t count, DType dtype,
                             ReduceOp op) = 0;
  virtual void do_all_gather(const void* send, void* recv, size_t send_count, DType dtype) = 0;
  virtual void do_all_gather_v(const void* send, void* recv, std::span<const int64_t> counts,
                               DType dtype) = 0;
  virtual void do_reduce_scatter(const void* send, void* recv, size_t recv_count, DType dtype,
                                 ReduceOp op) = 0;
  virtual void do_reduce_scatter_v(const void* send, void* recv, std::span<const int64_t> counts,
                                   DType dtype, ReduceOp op) = 0;
  virtual void do_broadcast(void* buf, size_t count, DType dtype, int root) = 0;
  virtual void do_all_to_all(const void* send, void* recv, size_t count_per_peer,
                             DType dtype) = 0;
  virtual void do_barrier() = 0;
  virtual std::unique_ptr<Communicator> do_split(int color, int key, const std::string& name) = 0;
  // A backend's do_* says which route moved the call (default: mpi); the record keeps it.
  void note_route(CollRoute r) { route_ = r; }
  std::shared_ptr<const RoutePolicy> shared_policy() const { return policy_; }
  // Synchronous mode, before a call's start is stamped: wait until its inputs exist (a GPU
  // backend waits for the work queued before it), so the record starts at the data.
  virtual void wait_for_inputs() {}

 private:
  void check_counts(std::span<const int64_t> counts, const char* op) const;
  // Around every backend call: call_start stamps the start and enters the flight ring;
  // record stamps the end, appends the CommRecord and leaves the ring.
  void record(CommOp op, size_t bytes, int64_t start_ns);
  int64_t call_start(CommOp op, size_t bytes);

  std::shared_ptr<CommLog> log_;
  int32_t group_id_ = -1;
  FlightRing* flight_ = nullptr;  // this group's ring, owned by the log's FlightRecorder
  bool synchronous_ = false;
  bool deferred_ = false;
  std::shared_ptr<const RoutePolicy> policy_;
  CollRoute route_ = CollRoute::mpi;  // of the call in progress (one thread per communicator)
};

}  // namespace tpb
