// GFLOP/s of tpb::ops::matmul against cblas_sgemm called directly, on transformer shapes.
//
// Method: for each shape (M rows of activations, N outputs, K inputs) both variants run
// C(M,N) = A(M,K) B(N,K)^T (the linear-layer forward, x W^T) on the same buffers, one after
// the other in this process (Google Benchmark, real time, several repetitions; the
// median is what to compare). Counters report GFLOP/s = 2 M N K / time. The entry point
// must add nothing measurable: no copies, no transposes, only shape checks.
//
//   bench_matmul --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <random>

#include "kernels/ops.h"
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

void set_counters(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(m * n * k) * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
}

void BM_EntryPoint(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  Operands o(m, n, k);
  for (auto _ : state) {
    tpb::ops::matmul(o.c, o.a, o.b, false, true);
    benchmark::DoNotOptimize(o.c.raw());
  }
  set_counters(state, m, n, k);
}

void BM_CblasDirect(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  Operands o(m, n, k);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), 1.0f, o.a.f32(), static_cast<int>(k), o.b.f32(),
                static_cast<int>(k), 0.0f, o.c.f32(), static_cast<int>(n));
    benchmark::DoNotOptimize(o.c.raw());
  }
  set_counters(state, m, n, k);
}

// Entry point and direct call interleave per shape (registration order), so both see the
// same machine state.
void register_all() {
  std::vector<std::vector<int64_t>> shapes;
  for (int64_t m : {2048, 8192})
    for (int64_t n : {256, 512, 1024, 4096})
      for (int64_t k : {256, 512, 1024, 4096}) shapes.push_back({m, n, k});
  for (const auto& s : shapes) {
    benchmark::RegisterBenchmark("matmul/cblas_direct", BM_CblasDirect)
        ->Args(s)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("matmul/tpb_entry", BM_EntryPoint)
        ->Args(s)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
