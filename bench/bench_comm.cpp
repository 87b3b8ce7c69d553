// Communicator overhead: every collective `tpbench comm` measures, issued exactly as it
// issues them (commbench's CollectiveCall through tpb::Communicator), against the same MPI
// call made directly on the same buffers, side by side in one run.
//
// Method: for each op and size, R rounds; each round times `iters` back-to-back calls of
// the direct MPI function, then `iters` calls through the communicator (the order flips
// every round so neither always runs second), each block started after a barrier and
// long enough (>= 20 ms) that timer and barrier costs vanish. A
// block's time is the slowest rank's (a collective is done when its last rank is). The
// table shows the median over rounds of the per-call time, the ratio tpb/direct, the
// ratio of the fastest rounds (min_ratio: on a shared machine the least-disturbed rounds
// show a constant overhead best, since other jobs only ever add time), and
// nccl-tests' bus bandwidth (docs/metrics.md): all_reduce 2(n-1)/n; all_gather,
// reduce_scatter, all_to_all (n-1)/n; broadcast 1. Out-of-place, fp32, sum.
//
// --route picks the communicator's route (comm/coll_route.h): mpi (default) measures the
// communicator's own overhead over the same MPI call; shm or auto measure tpbench's
// shared-memory route (or the built-in table) against Open MPI's default, interleaved round
// by round in one launch (docs/comm.md, "Routes").
//
//   mpirun -np 2 bench_comm [-b 65536] [-e 67108864] [-f 4] [-n 20] [-w 5] [-r 15] [--op all] [--route mpi] [--buffers auto]
#include <fmt/format.h>
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "comm/mpi/mpi_communicator.h"
#include "commbench/bench_op.h"
#include "commbench/collective_call.h"
#include "commbench/sizes.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// fp32 send and receive buffers of `count` elements, zeroed.
void zero_buffers(tpb::BenchBuffers& b, size_t count) {
  b.resize(count, tpb::DType::f32);
  std::fill(b.send.begin(), b.send.end(), std::byte{0});
  std::fill(b.recv.begin(), b.recv.end(), std::byte{0});
}

// Seconds per call for `iters` calls of f, as the slowest rank saw it.
template <typename F>
double time_block(MPI_Comm comm, int iters, F&& f) {
  MPI_Barrier(comm);
  const int64_t t0 = tpb::now_ns();
  for (int i = 0; i < iters; ++i) f();
  double mine = tpb::seconds_between(t0, tpb::now_ns()) / iters, slowest = 0;
  MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm);
  return slowest;
}

// The MPI call `call` stands for, made directly (out-of-place, fp32, sum).
void direct_call(const tpb::CollectiveCall& c, MPI_Comm comm) {
  const int count = static_cast<int>(c.call_count);
  switch (c.op) {
    case tpb::CommOp::all_reduce:
      MPI_Allreduce(c.send, c.recv, count, MPI_FLOAT, MPI_SUM, comm);
      return;
    case tpb::CommOp::all_gather:
      MPI_Allgather(c.send, count, MPI_FLOAT, c.recv, count, MPI_FLOAT, comm);
      return;
    case tpb::CommOp::reduce_scatter:
      MPI_Reduce_scatter_block(c.send, c.recv, count, MPI_FLOAT, MPI_SUM, comm);
      return;
    case tpb::CommOp::broadcast:
      MPI_Bcast(c.recv, count, MPI_FLOAT, c.root, comm);
      return;
    case tpb::CommOp::all_to_all:
      MPI_Alltoall(c.send, count, MPI_FLOAT, c.recv, count, MPI_FLOAT, comm);
      return;
    default:
      return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tpbench communicator overhead vs direct MPI"};
  std::string min_text = "64K", max_text = "64M";
  int factor = 4, iters = 20, warmup = 5, rounds = 15;
  app.add_option("-b,--min-bytes", min_text, "bytes, K/M/G suffix allowed");
  app.add_option("-e,--max-bytes", max_text);
  app.add_option("-f,--step-factor", factor)->check(CLI::Range(2, 1 << 20));
  app.add_option("-n,--iters", iters)->check(CLI::Range(1, 1 << 20));
  app.add_option("-w,--warmup", warmup)->check(CLI::Range(0, 1 << 20));
  app.add_option("-r,--rounds", rounds)->check(CLI::Range(1, 1000));
  std::string op_name = "all";
  app.add_option("--op", op_name, "one collective or all");
  std::string route = "mpi";
  // Default: separate buffers when comparing routes (sharing them, the shm route ran 1.5-2.4x
  // slower on pages Open MPI's CMA had just read: an artifact, docs/comm.md), shared when
  // measuring the communicator's own overhead over the same MPI call (--route mpi).
  std::string buffers_mode = "auto";
  app.add_option("--buffers", buffers_mode, "shared | separate | auto (separate unless --route mpi)")
      ->check(CLI::IsMember({"shared", "separate", "auto"}));
  app.add_option("--route", route, "the communicator's route: mpi, shm or auto (the built-in table)")
      ->check(CLI::IsMember({"mpi", "shm", "auto"}));
  CLI11_PARSE(app, argc, argv);
  const size_t min_bytes = tpb::parse_size(min_text, "-b/--min-bytes");
  const size_t max_bytes = tpb::parse_size(max_text, "-e/--max-bytes");

  tpb::MpiRuntime mpi(&argc, &argv);
  auto world = tpb::MpiCommunicator::world();
  auto policy = std::make_shared<tpb::RoutePolicy>();
  if (route != "auto") policy->forced = tpb::parse_host_route(route);
  world->set_route_policy(policy);
  const bool separate = buffers_mode == "separate" || (buffers_mode == "auto" && route != "mpi");
  const MPI_Comm comm = world->handle();
  const int n = world->size();
  const bool root = world->rank() == 0;
  if (root)
    fmt::print("# {} ranks, {}, tpb route: {}, {} buffers\n# {:>10} {:>14} {:>12} {:>12} {:>8} {:>9} {:>12}\n", n,
               tpb::MpiRuntime::library_version(), policy->describe(), separate ? "separate" : "shared", "bytes", "op", "direct_us", "tpb_us",
               "ratio", "min_ratio", "busbw_GB/s");

  for (tpb::CommOp op : tpb::parse_bench_ops(op_name)) {
    for (size_t bytes = min_bytes; bytes <= max_bytes; bytes *= static_cast<size_t>(factor)) {
      // bytes is the full buffer (nccl-tests' convention), rounded as `tpbench comm` does.
      const size_t count = tpb::op_element_count(op, bytes, tpb::DType::f32, n);
      tpb::BenchBuffers buffers;
      zero_buffers(buffers, count);
      const tpb::CollectiveCall call =
          tpb::make_call(op, tpb::DType::f32, count, /*in_place=*/false, /*root=*/0, *world, buffers);
      // Separate buffers: the direct calls on buffers of their own, so that neither route runs
      // on memory the other just touched (Open MPI's CMA reads the peer's pages).
      tpb::BenchBuffers own;
      if (separate) zero_buffers(own, count);
      const tpb::CollectiveCall direct_on =
          separate ? tpb::make_call(op, tpb::DType::f32, count, false, 0, *world, own) : call;
      auto direct = [&] { direct_call(direct_on, comm); };
      auto through = [&] { tpb::issue(*world, call); };
      // Warm up both, and size the blocks to last >= 20 ms so small sizes are not all noise.
      const double est = std::max(time_block(comm, std::max(warmup, 1), direct),
                                  time_block(comm, std::max(warmup, 1), through));
      const int block = std::max(iters, static_cast<int>(0.02 / std::max(est, 1e-7)));
      std::vector<double> t_direct, t_tpb;
      for (int r = 0; r < rounds; ++r) {
        if (r % 2 == 0) {
          t_direct.push_back(time_block(comm, block, direct));
          t_tpb.push_back(time_block(comm, block, through));
        } else {
          t_tpb.push_back(time_block(comm, block, through));
          t_direct.push_back(time_block(comm, block, direct));
        }
        world->log().clear();  // the log would otherwise grow without bound here
      }
      const double d = median(t_direct), t = median(t_tpb);
      const double min_ratio = *std::min_element(t_tpb.begin(), t_tpb.end()) /
                               *std::min_element(t_direct.begin(), t_direct.end());
      const size_t moved = count * sizeof(float);
      if (root)
        fmt::print("  {:>10} {:>14} {:>12.1f} {:>12.1f} {:>8.3f} {:>9.3f} {:>12.2f}\n", moved,
                   tpb::comm_op_name(op), d * 1e6, t * 1e6, t / d, min_ratio,
                   static_cast<double>(moved) / t * tpb::bus_bandwidth_factor(op, n) * 1e-9);
    }
  }
  return 0;
}
