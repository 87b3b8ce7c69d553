// Communicator overhead: tpb::Communicator collectives against the same MPI call made
// directly, side by side in one run.
//
// Method: for each op and size, R rounds; each round times `iters` back-to-back calls of
// the direct MPI function, then `iters` calls through the communicator (the order flips
// every round so neither always runs second), each block started after a barrier and
// long enough (>= 20 ms) that timer and barrier costs vanish. A
// block's time is the slowest rank's (a collective is done when its last rank is). The
// table shows the median over rounds of the per-call time, the ratio tpb/direct, and
// nccl-tests' bus bandwidth (docs/metrics.md): all_reduce 2(n-1)/n, all_gather (n-1)/n.
//
//   mpirun -np 2 bench_comm [-b 65536] [-e 67108864] [-f 4] [-n 20] [-w 5] [-r 15]
#include <fmt/format.h>
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <vector>

#include "base/clock.h"
#include "comm/mpi/mpi_communicator.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tpbench communicator overhead vs direct MPI"};
  size_t min_bytes = 64 << 10, max_bytes = 64 << 20;
  int factor = 4, iters = 20, warmup = 5, rounds = 15;
  app.add_option("-b,--min-bytes", min_bytes);
  app.add_option("-e,--max-bytes", max_bytes);
  app.add_option("-f,--step-factor", factor)->check(CLI::Range(2, 1 << 20));
  app.add_option("-n,--iters", iters)->check(CLI::Range(1, 1 << 20));
  app.add_option("-w,--warmup", warmup)->check(CLI::Range(0, 1 << 20));
  app.add_option("-r,--rounds", rounds)->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);

  tpb::MpiRuntime mpi(&argc, &argv);
  auto world = tpb::MpiCommunicator::world();
  const MPI_Comm comm = world->handle();
  const int n = world->size();
  const bool root = world->rank() == 0;
  if (root)
    fmt::print("# {} ranks, {}\n# {:>10} {:>14} {:>12} {:>12} {:>8} {:>12}\n", n,
               tpb::MpiRuntime::library_version(), "bytes", "op", "direct_us", "tpb_us",
               "ratio", "busbw_GB/s");

  for (const char* op : {"all_reduce", "all_gather"}) {
    const bool is_ar = std::string(op) == "all_reduce";
    for (size_t bytes = min_bytes; bytes <= max_bytes; bytes *= static_cast<size_t>(factor)) {
      // bytes is the full buffer (nccl-tests' convention): all_gather sends bytes / n.
      const size_t count = bytes / sizeof(float);
      const size_t send_count = is_ar ? count : count / static_cast<size_t>(n);
      std::vector<float> in(is_ar ? count : send_count, 1.0f), out(is_ar ? count : send_count * n);
      auto direct = [&] {
        if (is_ar)
          MPI_Allreduce(in.data(), out.data(), static_cast<int>(count), MPI_FLOAT, MPI_SUM, comm);
        else
          MPI_Allgather(in.data(), static_cast<int>(send_count), MPI_FLOAT, out.data(),
                        static_cast<int>(send_count), MPI_FLOAT, comm);
      };
      auto through = [&] {
        if (is_ar)
          world->all_reduce(in.data(), out.data(), count, tpb::DType::f32, tpb::ReduceOp::sum);
        else
          world->all_gather(in.data(), out.data(), send_count, tpb::DType::f32);
      };
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
      const double busbw_factor = is_ar ? 2.0 * (n - 1) / n : static_cast<double>(n - 1) / n;
      if (root)
        fmt::print("  {:>10} {:>14} {:>12.1f} {:>12.1f} {:>8.3f} {:>12.2f}\n", bytes, op, d * 1e6,
                   t * 1e6, t / d, static_cast<double>(bytes) / t * busbw_factor * 1e-9);
    }
  }
  return 0;
}
