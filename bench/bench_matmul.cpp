// GFLOP/s of tpb::ops::matmul against cblas_sgemm called directly, on transformer shapes.
//
// Method: for each shape (M rows of activations, N outputs, K inputs) both variants compute
// C(M,N) = A(M,K) B(N,K)^T (the linear-layer forward, x W^T) on the same buffers. They are
// interleaved call by call (direct, entry, entry, direct, ...: the order flips every round)
// so slow drifts of a shared machine's speed hit both alike; each round yields the ratio
// entry/direct of two adjacent calls. The table shows each variant's median GFLOP/s
// (2 M N K / time) and the median of the per-round ratios. A round is repeated until it
// has run `--rounds` times and at least `--min-seconds` in all.
//
//   bench_matmul [--rounds 7] [--min-seconds 1] [--m 2048,8192] [--nk 256,512,1024,4096]
#include <cblas.h>
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <random>
#include <vector>

#include "base/clock.h"
#include "kernels/ops.h"
#include "report/stats.h"
#include "tensor/tensor.h"

namespace {

struct Operands {
  tpb::Tensor a, b, c;
  Operands(int64_t m, int64_t n, int64_t k)
      : a(tpb::Tensor::empty({m, k}, tpb::MemCategory::activations)),
        b(tpb::Tensor::empty({n, k}, tpb::MemCategory::parameters)),
        c(tpb::Tensor::empty({m, n}, tpb::MemCategory::activations)) {
    std::mt19937 gen(1);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (float& x : a.span_f32()) x = dist(gen);
    for (float& x : b.span_f32()) x = dist(gen);
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tpb::ops::matmul vs cblas_sgemm, interleaved"};
  int rounds = 7;
  double min_seconds = 1.0;
  std::vector<int64_t> ms = {2048, 8192}, nks = {256, 512, 1024, 4096};
  app.add_option("--rounds", rounds)->check(CLI::Range(1, 100000));
  app.add_option("--min-seconds", min_seconds);
  app.add_option("--m", ms)->delimiter(',');
  app.add_option("--nk", nks)->delimiter(',');
  CLI11_PARSE(app, argc, argv);

  fmt::print("# C(M,N) = A(M,K) B(N,K)^T, fp32; direct = cblas_sgemm, entry = tpb::ops::matmul\n");
  fmt::print("{:>6} {:>6} {:>6} {:>14} {:>14} {:>14}\n", "M", "N", "K", "direct GFLOP/s",
             "entry GFLOP/s", "entry/direct");
  std::vector<double> all_ratios;
  for (int64_t m : ms)
    for (int64_t n : nks)
      for (int64_t k : nks) {
        Operands o(m, n, k);
        const double flop = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
        auto direct = [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
                      static_cast<int>(k), 1.0f, o.a.f32(), static_cast<int>(k), o.b.f32(),
                      static_cast<int>(k), 0.0f, o.c.f32(), static_cast<int>(n));
        };
        auto entry = [&] { tpb::ops::matmul(o.c, o.a, o.b, false, true); };
        auto timed = [](auto&& f) {
          const int64_t t0 = tpb::now_ns();
          f();
          return tpb::seconds_between(t0, tpb::now_ns());
        };
        direct();  // warm-up: first-touch of C, BLAS buffers
        entry();
        std::vector<double> td, te, ratio;
        double spent = 0;
        for (int r = 0; r < rounds || spent < min_seconds; ++r) {
          double d, e;
          if (r % 2 == 0) {
            d = timed(direct);
            e = timed(entry);
          } else {
            e = timed(entry);
            d = timed(direct);
          }
          td.push_back(d);
          te.push_back(e);
          ratio.push_back(e / d);
          spent += d + e;
        }
        const double r = tpb::summarize(ratio).median;
        all_ratios.push_back(r);
        fmt::print("{:>6} {:>6} {:>6} {:>14.2f} {:>14.2f} {:>14.3f}\n", m, n, k,
                   flop / tpb::summarize(td).median * 1e-9, flop / tpb::summarize(te).median * 1e-9, r);
        std::fflush(stdout);
      }
  const tpb::Stats s = tpb::summarize(all_ratios);
  fmt::print("# entry/direct time over {} shapes: median {:.3f}, min {:.3f}, max {:.3f}\n", s.count,
             s.median, s.min, s.max);
  return 0;
}
