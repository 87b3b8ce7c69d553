#include "commbench/collective_call.h"

#include "base/error.h"
#include "commbench/bench_op.h"
#include "device/device.h"

namespace tpb {

void BenchBuffers::resize(size_t count, DType dtype) {
  const size_t bytes = count * dtype_size(dtype);
  send.resize(bytes);
  recv.resize(bytes);
  if (on_device && bytes > device_bytes_) {
    release_device();
    dsend_ = static_cast<std::byte*>(device::cuda_malloc(bytes));
    drecv_ = static_cast<std::byte*>(device::cuda_malloc(bytes));
    device_bytes_ = bytes;
  }
}

std::byte* BenchBuffers::call_send() { return on_device ? dsend_ : send.data(); }
std::byte* BenchBuffers::call_recv() { return on_device ? drecv_ : recv.data(); }

void BenchBuffers::upload() {
  if (!on_device) return;
  device::copy_bytes(dsend_, send.data(), send.size());
  device::copy_bytes(drecv_, recv.data(), recv.size());
  device::synchronize();
}

void BenchBuffers::download() {
  if (!on_device) return;
  device::copy_bytes(send.data(), dsend_, send.size());
  device::copy_bytes(recv.data(), drecv_, recv.size());
}

void BenchBuffers::release_device() {
  if (device_bytes_ == 0) return;
  device::synchronize();
  device::cuda_free(dsend_, device_bytes_);
  device::cuda_free(drecv_, device_bytes_);
  dsend_ = drecv_ = nullptr;
  device_bytes_ = 0;
}

BenchBuffers::~BenchBuffers() { release_device(); }

CollectiveCall make_call(CommOp op, DType dtype, size_t count, bool in_place, int root,
                         const Communicator& group, BenchBuffers& buffers, bool host_view) {
  const size_t esize = dtype_size(dtype);
  TPB_CHECK(buffers.send.size() >= count * esize && buffers.recv.size() >= count * esize,
            "make_call: buffers of {} and {} bytes for {} elements of {}", buffers.send.size(),
            buffers.recv.size(), count, dtype_name(dtype));
  const int n = group.size();
  CollectiveCall c;
  c.op = op;
  c.dtype = dtype;
  c.in_place = in_place;
  c.count = count;
  c.call_count = op_call_count(op, count, n);
  c.root = root;
  std::byte* send = host_view ? buffers.send.data() : buffers.call_send();
  std::byte* recv = host_view ? buffers.recv.data() : buffers.call_recv();
  const size_t my_block = static_cast<size_t>(group.rank()) * c.call_count * esize;
  switch (op) {
    case CommOp::all_reduce:
    case CommOp::all_to_all:
      c.send = in_place ? recv : send;
      c.recv = recv;
      c.input = in_place ? recv : send;
      c.input_count = count;
      break;
    case CommOp::all_gather:
      c.send = in_place ? recv + my_block : send;
      c.recv = recv;
      c.input = in_place ? recv + my_block : send;
      c.input_count = c.call_count;
      break;
    case CommOp::reduce_scatter:
      c.send = in_place ? recv : send;
      c.recv = in_place ? recv + my_block : recv;
      c.input = in_place ? recv : send;
      c.input_count = count;
      break;
    case CommOp::broadcast:
      c.send = recv;
      c.recv = recv;
      c.input = recv;
      c.input_count = count;
      break;
    default:
      TPB_CHECK(false, "make_call: {} is not a benchmarked collective", comm_op_name(op));
  }
  return c;
}

void issue(Communicator& group, const CollectiveCall& c) {
  switch (c.op) {
    case CommOp::all_reduce:
      group.all_reduce(c.send, c.recv, c.call_count, c.dtype, ReduceOp::sum);
      return;
    case CommOp::all_gather:
      group.all_gather(c.send, c.recv, c.call_count, c.dtype);
      return;
    case CommOp::reduce_scatter:
      group.reduce_scatter(c.send, c.recv, c.call_count, c.dtype, ReduceOp::sum);
      return;
    case CommOp::broadcast:
      group.broadcast(c.recv, c.call_count, c.dtype, c.root);
      return;
    case CommOp::all_to_all:
      group.all_to_all(c.send, c.recv, c.call_count, c.dtype);
      return;
    default:
      TPB_CHECK(false, "issue: {} is not a benchmarked collective", comm_op_name(c.op));
  }
}

}  // namespace tpb
