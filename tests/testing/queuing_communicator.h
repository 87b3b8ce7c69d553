// QueuingCommunicator: a test communicator with another communicator (MPI) underneath that
// reports it queues device work, as NCCL does in asynchronous mode, so the CPU suite runs
// every deferred code path of the data-parallel strategies (train/dp/comm_queue.h).
//
// In deferred mode it does not run a collective when it is called: it keeps it, and runs
// every kept call, in call order, at join() - the latest a real GPU stream could complete
// them. Code that read a deferred collective's output before join() reads stale data, and
// a comparison against a synchronous run catches it. Outside deferred mode every call runs
// at once.
#pragma once

#include <functional>
#include <vector>

#include "comm/communicator.h"

namespace tpb {

class QueuingCommunicator final : public Communicator {
 public:
  // `inner` must outlive this communicator.
  explicit QueuingCommunicator(Communicator& inner);

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  bool concurrent_calls_ok() const override { return inner_.concurrent_calls_ok(); }
  bool queues_device_work() const override { return true; }
  void join() override;

  // Calls kept in deferred mode (and run at a join) since construction.
  int64_t deferred_calls() const { return deferred_calls_; }
  // Calls kept and not yet run.
  size_t pending() const { return pending_.size(); }

 protected:
  void do_all_reduce(const void* send, void* recv, size_t count, DType dtype, ReduceOp op) override;
  void do_all_gather(const void* send, void* recv, size_t send_count, DType dtype) override;
  void do_all_gather_v(const void* send, void* recv, std::span<const int64_t> counts, DType dtype) override;
  void do_reduce_scatter(const void* send, void* recv, size_t recv_count, DType dtype, ReduceOp op) override;
  void do_reduce_scatter_v(const void* send, void* recv, std::span<const int64_t> counts, DType dtype,
                           ReduceOp op) override;
  void do_broadcast(void* buf, size_t count, DType dtype, int root) override;
  void do_all_to_all(const void* send, void* recv, size_t count_per_peer, DType dtype) override;
  void do_barrier() override;
  std::unique_ptr<Communicator> do_split(int color, int key, const std::string& name) override;

 private:
  void run_or_keep(std::function<void()> call);

  Communicator& inner_;
  std::vector<std::function<void()>> pending_;
  int64_t deferred_calls_ = 0;
};

}  // namespace tpb
