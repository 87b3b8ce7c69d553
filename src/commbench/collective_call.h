// One collective call as the benchmark makes it: the op, where its input and output live
// for the out-of-place or in-place variant, and the Communicator call itself. The harness,
// the checker and bench/bench_comm.cpp all issue calls through here, so what is timed is
// exactly what is checked.
//
// Buffers (count = elements of the full buffer, n ranks, this rank r, block = count / n):
//   op              out-of-place              in-place (NCCL's convention)
//   all_reduce      send[count] -> recv[count] recv -> recv
//   all_gather      send[block] -> recv[count] recv + r*block -> recv
//   reduce_scatter  send[count] -> recv[block] recv -> recv + r*block
//   broadcast       recv[count] (one buffer: MPI_Bcast has no out-of-place form; both
//                   variants are the same call)
//   all_to_all      send[count] -> recv[count] recv -> recv
#pragma once

#include <cstddef>
#include <vector>

#include "comm/communicator.h"

namespace tpb {

// Two byte buffers of `count` elements each, reused across sizes: in host memory, and with
// on_device also in GPU memory (what the collectives then use; the host pair is where check
// values are written and read, moved by upload() and download()).
struct BenchBuffers {
  bool on_device = false;
  std::vector<std::byte> send;
  std::vector<std::byte> recv;
  void resize(size_t count, DType dtype);
  // The pair the collectives use: device memory with on_device, else the host vectors.
  std::byte* call_send();
  std::byte* call_recv();
  void upload();    // host pair -> device pair (nothing without on_device)
  void download();  // device pair -> host pair (nothing without on_device)
  BenchBuffers() = default;
  BenchBuffers(const BenchBuffers&) = delete;
  BenchBuffers& operator=(const BenchBuffers&) = delete;
  ~BenchBuffers();

 private:
  void release_device();
  std::byte* dsend_ = nullptr;
  std::byte* drecv_ = nullptr;
  size_t device_bytes_ = 0;
};

struct CollectiveCall {
  CommOp op = CommOp::all_reduce;
  DType dtype = DType::f32;
  bool in_place = false;
  size_t count = 0;        // elements of the full buffer
  size_t call_count = 0;   // the count argument of the Communicator call
  int root = 0;            // broadcast only
  const void* send = nullptr;  // the input the op reads (for broadcast: the buffer)
  void* recv = nullptr;        // the output it writes
  void* input = nullptr;       // where this rank's input values are written before a call
  size_t input_count = 0;      // elements at `input`
};

// The call for `op` on `count` elements of `group`, using `buffers` (already sized): the
// pair the collectives use, or with `host_view` the host pair at the same offsets (where
// fill_check_values and count_wrong work).
CollectiveCall make_call(CommOp op, DType dtype, size_t count, bool in_place, int root,
                         const Communicator& group, BenchBuffers& buffers, bool host_view = false);

// Makes the call on `group` (records it in the CommLog like every Communicator call).
void issue(Communicator& group, const CollectiveCall& call);

}  // namespace tpb
