#include "testing/queuing_communicator.h"

#include <memory>

#include "base/error.h"

namespace tpb {

QueuingCommunicator::QueuingCommunicator(Communicator& inner) : inner_(inner) {
  attach_log(std::make_shared<CommLog>(),
             CommGroupInfo{inner.name() + "-queued", inner.size(), inner.rank(), inner.world_ranks()});
}

void QueuingCommunicator::run_or_keep(std::function<void()> call) {
  if (!deferred()) {
    call();
    return;
  }
  pending_.push_back(std::move(call));
  ++deferred_calls_;
}

void QueuingCommunicator::join() {
  std::vector<std::function<void()>> calls;
  calls.swap(pending_);
  for (auto& call : calls) call();
}

void QueuingCommunicator::do_all_reduce(const void* send, void* recv, size_t count, DType dtype, ReduceOp op) {
  run_or_keep([=, this] { inner_.all_reduce(send, recv, count, dtype, op); });
}

void QueuingCommunicator::do_all_gather(const void* send, void* recv, size_t send_count, DType dtype) {
  run_or_keep([=, this] { inner_.all_gather(send, recv, send_count, dtype); });
}

void QueuingCommunicator::do_all_gather_v(const void* send, void* recv, std::span<const int64_t> counts,
                                          DType dtype) {
  std::vector<int64_t> c(counts.begin(), counts.end());
  run_or_keep([=, this] { inner_.all_gather_v(send, recv, c, dtype); });
}

void QueuingCommunicator::do_reduce_scatter(const void* send, void* recv, size_t recv_count, DType dtype,
                                            ReduceOp op) {
  run_or_keep([=, this] { inner_.reduce_scatter(send, recv, recv_count, dtype, op); });
}

void QueuingCommunicator::do_reduce_scatter_v(const void* send, void* recv, std::span<const int64_t> counts,
                                              DType dtype, ReduceOp op) {
  std::vector<int64_t> c(counts.begin(), counts.end());
  run_or_keep([=, this] { inner_.reduce_scatter_v(send, recv, c, dtype, op); });
}

void QueuingCommunicator::do_broadcast(void* buf, size_t count, DType dtype, int root) {
  run_or_keep([=, this] { inner_.broadcast(buf, count, dtype, root); });
}

void QueuingCommunicator::do_all_to_all(const void* send, void* recv, size_t count_per_peer, DType dtype) {
  run_or_keep([=, this] { inner_.all_to_all(send, recv, count_per_peer, dtype); });
}

void QueuingCommunicator::do_barrier() {
  // A barrier orders the host, as on a GPU backend: it cannot be deferred.
  join();
  inner_.barrier();
}

std::unique_ptr<Communicator> QueuingCommunicator::do_split(int, int, const std::string& name) {
  TPB_CHECK(false, "QueuingCommunicator ({}) does not split (asked for '{}')", inner_.name(), name);
}

}  // namespace tpb
