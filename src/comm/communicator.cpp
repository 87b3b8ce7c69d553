#include "comm/communicator.h"

#include <climits>
#include <numeric>

#include "base/clock.h"
#include "base/error.h"
#include "comm/flight_recorder.h"

namespace tpb {

std::string_view reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::avg: return "avg";
    case ReduceOp::max: return "max";
  }
  return "?";
}

namespace {

// Backends take int counts (MPI); larger ones are refused here, with the numbers.
void check_fits_int(size_t count, const char* op) {
  TPB_CHECK(count <= static_cast<size_t>(INT_MAX),
            "{}: count {} exceeds the {} elements one call can move", op, count, INT_MAX);
}

void check_buffer(const void* p, size_t count, const char* op, const char* which) {
  TPB_CHECK(p != nullptr || count == 0, "{}: {} buffer is null for count {}", op, which, count);
}

}  // namespace

void Communicator::attach_log(std::shared_ptr<CommLog> log, CommGroupInfo info) {
  log_ = std::move(log);
  group_id_ = log_->add_group(std::move(info));
  flight_ = log_->flight()->add(group_id_, log_->group(group_id_));
}

void Communicator::record(CommOp op, size_t bytes, int64_t start_ns) {
  const int64_t end_ns = now_ns();
  flight_->leave(end_ns);
  log_->record(CommRecord{op, group_id_, static_cast<int64_t>(bytes), start_ns, end_ns, static_cast<uint8_t>(route_)});
}

void Communicator::check_counts(std::span<const int64_t> counts, const char* op) const {
  TPB_CHECK(counts.size() == static_cast<size_t>(size()),
            "{}: {} counts given for a group of {} ranks", op, counts.size(), size());
  int64_t total = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    TPB_CHECK(counts[r] >= 0, "{}: negative count {} for rank {}", op, counts[r], r);
    total += counts[r];
  }
  check_fits_int(static_cast<size_t>(total), op);
}

void Communicator::all_reduce(const void* send, void* recv, size_t count, DType dtype,
                              ReduceOp op) {
  check_fits_int(count, "all_reduce");
  check_buffer(send, count, "all_reduce", "send");
  check_buffer(recv, count, "all_reduce", "recv");
  const int64_t t0 = call_start(CommOp::all_reduce, count * dtype_size(dtype));
  do_all_reduce(send, recv, count, dtype, op);
  record(CommOp::all_reduce, count * dtype_size(dtype), t0);
}

void Communicator::all_gather(const void* send, void* recv, size_t send_count, DType dtype) {
  check_fits_int(send_count * static_cast<size_t>(size()), "all_gather");
  check_buffer(send, send_count, "all_gather", "send");
  check_buffer(recv, send_count, "all_gather", "recv");
  const int64_t t0 = call_start(CommOp::all_gather, send_count * static_cast<size_t>(size()) * dtype_size(dtype));
  do_all_gather(send, recv, send_count, dtype);
  record(CommOp::all_gather, send_count * static_cast<size_t>(size()) * dtype_size(dtype), t0);
}

void Communicator::all_gather_v(const void* send, void* recv, std::span<const int64_t> counts,
                                DType dtype) {
  check_counts(counts, "all_gather_v");
  const size_t total = static_cast<size_t>(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
  check_buffer(send, static_cast<size_t>(counts[static_cast<size_t>(rank())]), "all_gather_v", "send");
  check_buffer(recv, total, "all_gather_v", "recv");
  const int64_t t0 = call_start(CommOp::all_gather_v, total * dtype_size(dtype));
  do_all_gather_v(send, recv, counts, dtype);
  record(CommOp::all_gather_v, total * dtype_size(dtype), t0);
}

void Communicator::reduce_scatter(const void* send, void* recv, size_t recv_count, DType dtype,
                                  ReduceOp op) {
  check_fits_int(recv_count * static_cast<size_t>(size()), "reduce_scatter");
  check_buffer(send, recv_count, "reduce_scatter", "send");
  check_buffer(recv, recv_count, "reduce_scatter", "recv");
  const int64_t t0 = call_start(CommOp::reduce_scatter, recv_count * static_cast<size_t>(size()) * dtype_size(dtype));
  do_reduce_scatter(send, recv, recv_count, dtype, op);
  record(CommOp::reduce_scatter, recv_count * static_cast<size_t>(size()) * dtype_size(dtype), t0);
}

void Communicator::reduce_scatter_v(const void* send, void* recv, std::span<const int64_t> counts,
                                    DType dtype, ReduceOp op) {
  check_counts(counts, "reduce_scatter_v");
  const size_t total = static_cast<size_t>(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
  check_buffer(send, total, "reduce_scatter_v", "send");
  check_buffer(recv, static_cast<size_t>(counts[static_cast<size_t>(rank())]), "reduce_scatter_v", "recv");
  const int64_t t0 = call_start(CommOp::reduce_scatter_v, total * dtype_size(dtype));
  do_reduce_scatter_v(send, recv, counts, dtype, op);
  record(CommOp::reduce_scatter_v, total * dtype_size(dtype), t0);
}

void Communicator::broadcast(void* buf, size_t count, DType dtype, int root) {
  check_fits_int(count, "broadcast");
  check_buffer(buf, count, "broadcast", "data");
  TPB_CHECK(root >= 0 && root < size(), "broadcast: root {} outside a group of {} ranks", root,
            size());
  const int64_t t0 = call_start(CommOp::broadcast, count * dtype_size(dtype));
  do_broadcast(buf, count, dtype, root);
  record(CommOp::broadcast, count * dtype_size(dtype), t0);
}

void Communicator::all_to_all(const void* send, void* recv, size_t count_per_peer, DType dtype) {
  const size_t total = count_per_peer * static_cast<size_t>(size());
  check_fits_int(total, "all_to_all");
  check_buffer(send, total, "all_to_all", "send");
  check_buffer(recv, total, "all_to_all", "recv");
  const int64_t t0 = call_start(CommOp::all_to_all, total * dtype_size(dtype));
  do_all_to_all(send, recv, count_per_peer, dtype);
  record(CommOp::all_to_all, total * dtype_size(dtype), t0);
}

void Communicator::barrier() {
  const int64_t t0 = call_start(CommOp::barrier, 0);
  do_barrier();
  record(CommOp::barrier, 0, t0);
}

void Communicator::all_reduce(std::span<float> data, ReduceOp op) {
  all_reduce(data.data(), data.data(), data.size(), DType::f32, op);
}

void Communicator::all_gather(std::span<const float> in, std::span<float> out) {
  TPB_CHECK(out.size() == in.size() * static_cast<size_t>(size()),
            "all_gather: output of {} elements for {} ranks x {} elements each (needs {})",
            out.size(), size(), in.size(), in.size() * static_cast<size_t>(size()));
  all_gather(in.data(), out.data(), in.size(), DType::f32);
}

void Communicator::reduce_scatter(std::span<const float> in, std::span<float> out, ReduceOp op) {
  TPB_CHECK(in.size() % static_cast<size_t>(size()) == 0,
            "reduce_scatter: {} elements cannot be split evenly over {} ranks", in.size(), size());
  TPB_CHECK(out.size() == in.size() / static_cast<size_t>(size()),
            "reduce_scatter: output of {} elements for {} elements over {} ranks (needs {})",
            out.size(), in.size(), size(), in.size() / static_cast<size_t>(size()));
  reduce_scatter(in.data(), out.data(), out.size(), DType::f32, op);
}

void Communicator::broadcast(std::span<float> data, int root) {
  broadcast(data.data(), data.size(), DType::f32, root);
}

int64_t Communicator::call_start(CommOp op, size_t bytes) {
  if (synchronous_) wait_for_inputs();
  route_ = CollRoute::mpi;  // until the backend notes another
  const int64_t t0 = now_ns();
  flight_->enter(op, static_cast<int64_t>(bytes), t0);
  return t0;
}

std::unique_ptr<Communicator> Communicator::split(int color, int key, const std::string& name) {
  TPB_CHECK(color >= 0, "split: color {} must be >= 0", color);
  std::unique_ptr<Communicator> child = do_split(color, key, name);
  child->synchronous_ = synchronous_;
  child->set_route_policy(policy_);
  return child;
}

}  // namespace tpb
