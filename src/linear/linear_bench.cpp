#include "linear/linear_bench.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "base/checked_math.h"
#include "base/clock.h"
#include "base/error.h"
#include "kernels/ops.h"
#include "parallel/conjugate.h"
#include "parallel/linear.h"
#include "profile/step_clock.h"
#include "report/stats.h"

namespace tpb {

std::string linear_mode_name(LinearMode m) { return m == LinearMode::row ? "row" : "column"; }

std::string linear_mode_field_name(LinearMode m) {
  return m == LinearMode::row
             ? "column-parallel (Megatron ColumnParallelLinear, PyTorch ColwiseParallel)"
             : "row-parallel (Megatron RowParallelLinear, PyTorch RowwiseParallel)";
}

void validate_linear_config(const LinearConfig& c, int world_size) {
  if (c.in_features <= 0) usage_error("--in-features must be > 0, got {}", c.in_features);
  if (c.out_features <= 0) usage_error("--out-features must be > 0, got {}", c.out_features);
  if (c.batch <= 0) usage_error("--batch must be > 0, got {}", c.batch);
  if (c.iters <= 0) usage_error("--iters must be > 0, got {}", c.iters);
  if (c.warmup < 0) usage_error("--warmup must be >= 0, got {}", c.warmup);
  if (!(c.lr > 0) || !std::isfinite(c.lr)) usage_error("--lr must be a positive number, got {}", c.lr);
  if (c.device != "cpu" && c.device != "cuda") usage_error("--device {} is not one of cpu|cuda", c.device);
  // W (out x in), x (batch x in) and the targets (batch x out): each one tensor of at most
  // 2^40 elements, so no size computed from them can wrap.
  const std::pair<const char*, std::pair<int64_t, int64_t>> tensors[] = {
      {"--out-features {} x --in-features {}", {c.out_features, c.in_features}},
      {"--batch {} x --in-features {}", {c.batch, c.in_features}},
      {"--batch {} x --out-features {}", {c.batch, c.out_features}}};
  for (const auto& [what, dims] : tensors)
    if (!fits_tensor({dims.first, dims.second}))
      usage_error("{} is more than the {} elements one tensor may have",
                  fmt::format(fmt::runtime(what), dims.first, dims.second), kMaxTensorElements);
  for (LinearMode m : c.modes) {
    // Every rank needs at least one feature of the split dimension.
    const int64_t split = m == LinearMode::row ? c.out_features : c.in_features;
    if (split < world_size)
      usage_error("--mode {} splits {} over {} ranks: {} features cannot give every rank one",
                  linear_mode_name(m), m == LinearMode::row ? "--out-features" : "--in-features",
                  world_size, split);
  }
}

namespace {

// The full problem, identical on every rank: W, b like torch.nn.Linear's default
// (uniform in +-1/sqrt(in)), x and targets standard normal, all from one seeded stream.
struct FullProblem {
  Tensor weight, bias, x, target;
};

FullProblem make_full_problem(const LinearConfig& c) {
  FullProblem p;
  p.weight = Tensor::empty({c.out_features, c.in_features}, MemCategory::other);
  p.bias = Tensor::empty({c.out_features}, MemCategory::other);
  p.x = Tensor::empty({c.batch, c.in_features}, MemCategory::activations);
  p.target = Tensor::empty({c.batch, c.out_features}, MemCategory::activations);
  std::mt19937_64 gen(c.seed);
  const float bound = 1.0f / std::sqrt(static_cast<float>(c.in_features));
  std::uniform_real_distribution<float> uni(-bound, bound);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : p.weight.span_f32()) v = uni(gen);
  for (float& v : p.bias.span_f32()) v = uni(gen);
  for (float& v : p.x.span_f32()) v = normal(gen);
  for (float& v : p.target.span_f32()) v = normal(gen);
  return p;
}

Device device_of(const LinearConfig& c) { return c.device == "cuda" ? Device::cuda : Device::cpu; }

// The same problem on the run's device (drawn on the host, so every device sees the same).
FullProblem on_device(const FullProblem& p, Device d) {
  if (d == Device::cpu) return p;
  return {p.weight.to(d, MemCategory::other), p.bias.to(d, MemCategory::other),
          p.x.to(d, MemCategory::activations), p.target.to(d, MemCategory::activations)};
}

// A host copy to read element by element (the tensor itself when already there).
Tensor on_host(const Tensor& t) { return t.device() == Device::cpu ? t : t.to(Device::cpu, MemCategory::other); }

// One rank's layer, buffers and step, for either mode. Buffers are allocated once, so the
// timed loop allocates nothing.
class ShardedLinearStep {
 public:
  ShardedLinearStep(LinearMode mode, const LinearConfig& c, const FullProblem& p, Communicator& tp)
      : mode_(mode), c_(c), tp_(tp), x_(p.x), target_(p.target) {
    const auto act = MemCategory::activations;
    TrackingAllocator& alloc = default_allocator(p.x.device());
    const auto empty = [&](Shape s, MemCategory cat) { return Tensor::empty(s, cat, DType::f32, alloc); };
    y_ = empty({c.batch, c.out_features}, act);
    dy_ = empty({c.batch, c.out_features}, act);
    if (mode == LinearMode::row) {
      col_ = column_parallel_linear_init(p.weight, p.bias, tp.rank(), tp.size());
      out_sizes_ = split_sizes(c.out_features, tp.size());
      y_local_ = empty({c.batch, col_.out_shard.size}, act);
      dy_local_ = empty({c.batch, col_.out_shard.size}, act);
      staging_ = empty({c.batch * c.out_features}, MemCategory::comm_buffers);
      dx_ = empty({c.batch, c.in_features}, act);
    } else {
      row_ = row_parallel_linear_init(p.weight, p.bias, tp.rank(), tp.size());
      x_local_ = empty({c.batch, row_.in_shard.size}, act);
      dx_ = empty({c.batch, row_.in_shard.size}, act);
    }
  }

  void forward(TraceBuffer* trace) {
    if (mode_ == LinearMode::row) {
      column_parallel_linear_forward(y_local_, col_, x_, trace);
      gather_from_tp_forward(y_, staging_, y_local_, out_sizes_, tp_);
    } else {
      scatter_to_tp_forward(x_local_, x_, row_.in_shard.offset);
      row_parallel_linear_forward(y_, row_, x_local_, trace);
      reduce_from_tp_forward(y_, tp_);                         // g forward
      ops::bias_add_forward(y_, row_.bias);                  // once, after the sum
    }
    loss_ = ops::mse_forward(y_, target_);
  }

  void backward(TraceBuffer* trace) {
    dy_.zero();
    ops::mse_backward(dy_, y_, target_, 1.0f);
    dx_.zero();
    if (mode_ == LinearMode::row) {
      col_.dbias.zero();
      gather_from_tp_backward(dy_local_, dy_, col_.out_shard.offset);
      column_parallel_linear_backward(dx_, col_, dy_local_, x_, /*overwrite_dweight=*/true, trace);
      copy_to_tp_backward(dx_, tp_);                              // f backward
    } else {
      row_.dbias.zero();
      row_parallel_linear_backward(dx_, row_, dy_, x_local_, /*overwrite_dweight=*/true, trace);
    }
  }

  void optimizer() {
    if (mode_ == LinearMode::row) {
      ops::sgd_step(col_.weight, col_.dweight, c_.lr);
      ops::sgd_step(col_.bias, col_.dbias, c_.lr);
    } else {
      ops::sgd_step(row_.weight, row_.dweight, c_.lr);
      ops::sgd_step(row_.bias, row_.dbias, c_.lr);
    }
  }

  // The step's own GEMMs and SGD update, without communication or anything else.
  void compute_only() {
    if (mode_ == LinearMode::row) {
      ops::matmul(y_local_, x_, col_.weight, false, true);
      ops::matmul(col_.dweight, dy_local_, x_, true, false);
      ops::matmul(dx_, dy_local_, col_.weight);
      ops::sgd_step(col_.weight, col_.dweight, 0.0f);
      ops::sgd_step(col_.bias, col_.dbias, 0.0f);
    } else {
      ops::matmul(y_, x_local_, row_.weight, false, true);
      ops::matmul(row_.dweight, dy_, x_local_, true, false);
      ops::matmul(dx_, dy_, row_.weight);
      ops::sgd_step(row_.weight, row_.dweight, 0.0f);
      ops::sgd_step(row_.bias, row_.dbias, 0.0f);
    }
  }

  const Tensor& y() const { return y_; }
  const Tensor& dx() const { return dx_; }
  const Tensor& weight() const { return mode_ == LinearMode::row ? col_.weight : row_.weight; }
  const Tensor& bias() const { return mode_ == LinearMode::row ? col_.bias : row_.bias; }
  const Tensor& dweight() const { return mode_ == LinearMode::row ? col_.dweight : row_.dweight; }
  const Tensor& dbias() const { return mode_ == LinearMode::row ? col_.dbias : row_.dbias; }
  Shard out_shard() const { return mode_ == LinearMode::row ? col_.out_shard : Shard{0, c_.out_features}; }
  Shard in_shard() const { return mode_ == LinearMode::row ? Shard{0, c_.in_features} : row_.in_shard; }

 private:
  LinearMode mode_;
  const LinearConfig& c_;
  Communicator& tp_;
  Tensor x_, target_;          // (B, in), (B, out): identical on every rank
  Tensor y_, dy_;              // (B, out)
  Tensor dx_;                  // row: (B, in) reduced; column: (B, in_local)
  ColumnParallelLinear col_;   // row mode
  std::vector<int64_t> out_sizes_;
  Tensor y_local_, dy_local_;  // (B, out_local)
  Tensor staging_;             // all_gather_v landing buffer
  RowParallelLinear row_;      // column mode
  Tensor x_local_;             // (B, in_local)
  double loss_ = 0;
};

struct IterStamps {
  int64_t start, forward_end, backward_end, end;
};

}  // namespace

LinearRun run_linear_mode(LinearMode mode, const LinearConfig& c, Communicator& world, bool profile) {
  const Device device = device_of(c);
  const FullProblem problem = on_device(make_full_problem(c), device);
  ShardedLinearStep step(mode, c, problem, world);
  StepClock clock(device == Device::cuda, kStepMarks), floor_clock(device == Device::cuda, 2);
  // Seconds of step.compute_only() on this rank (queued work drained first on a GPU).
  const auto time_floor = [&] {
    floor_clock.start();
    step.compute_only();
    floor_clock.mark(1);
    const std::vector<int64_t> t = floor_clock.resolve();
    return seconds_between(t[0], t[1]);
  };
  LinearRun run;
  run.mode = mode;
  TraceBuffer* trace = profile ? &run.trace : nullptr;
  if (trace && device == Device::cuda) trace->enable_gpu_timing();

  for (int i = 0; i < c.warmup; ++i) {
    step.forward(nullptr);
    step.backward(nullptr);
    step.optimizer();
  }
  std::vector<IterStamps> stamps(static_cast<size_t>(c.iters));
  std::vector<double> floor_alone, floor_concurrent;
  const size_t first_record = world.log().records().size();
  for (int i = 0; i < c.iters; ++i) {
    device::synchronize();  // a GPU's queue drained: outside the step's time
    world.barrier();  // every step starts together; the barrier is outside the step's time
    // ---- timed step: no I/O, no allocation, no synchronisation beyond the layer's own ----
    clock.start();
    {
      ScopedSpan span(trace, "forward", "user_annotation");
      step.forward(trace);
    }
    clock.mark(kForwardEnd);
    {
      ScopedSpan span(trace, "backward", "user_annotation");
      step.backward(trace);
    }
    clock.mark(kBackwardEnd);
    {
      ScopedSpan span(trace, "optimizer", "user_annotation");
      step.optimizer();
    }
    clock.mark(kStepEnd);
    const std::vector<int64_t> t = clock.resolve();
    if (trace && trace->gpu_timing()) trace->resolve_gpu(clock.start_event(), clock.start_host_ns());
    IterStamps& s = stamps[static_cast<size_t>(i)];
    s = {t[kStepStart], t[kForwardEnd], t[kBackwardEnd], t[kStepEnd]};
    if (trace) trace->add({"ProfilerStep", "user_annotation", s.start, s.end, i});
    // ---- end of timed step; the floors, interleaved so they see the same machine ----
    world.barrier();
    double mine = time_floor(), slowest = 0;
    world.barrier();
    if (world.rank() == 0) floor_alone.push_back(time_floor());
    world.all_reduce(&mine, &slowest, 1, DType::f64, ReduceOp::max);
    floor_concurrent.push_back(slowest);
  }
  // The layer's own collectives: those that started inside a timed step (not the
  // harness's barriers and floor bookkeeping between steps).
  std::vector<CommRecord> records;
  size_t it = 0;
  for (const CommRecord& r : records_of_group(world.log().since(first_record), world.group_id())) {
    while (it < stamps.size() && r.start_ns >= stamps[it].end) ++it;
    if (it < stamps.size() && r.start_ns >= stamps[it].start) records.push_back(r);
  }
  run.comms = split_wait_transfer(world, records);
  run.floor_seconds = summarize(floor_alone).median;
  run.floor_concurrent_seconds = summarize(floor_concurrent).median;
  world.broadcast(&run.floor_seconds, 1, DType::f64, 0);

  // This rank's phases per iteration, with its collectives assigned by start time.
  std::vector<IterPhases> mine(static_cast<size_t>(c.iters));
  size_t k = 0;
  for (int i = 0; i < c.iters; ++i) {
    const IterStamps& s = stamps[static_cast<size_t>(i)];
    IterPhases& p = mine[static_cast<size_t>(i)];
    p.step = seconds_between(s.start, s.end);
    p.forward = seconds_between(s.start, s.forward_end);
    p.backward = seconds_between(s.forward_end, s.backward_end);
    p.optimizer = seconds_between(s.backward_end, s.end);
    for (; k < run.comms.size() && run.comms[k].record.start_ns < s.end; ++k) p.comm.add(run.comms[k]);
  }
  run.per_rank = all_gather_records(world, kIterPhaseFields, mine);

  return run;
}

bool LinearVerify::passed(double tolerance) const {
  if (!inputs_identical || weights_stuck != 0) return false;
  for (const auto& e : errors)
    if (!(e.max_rel <= tolerance)) return false;
  return true;
}

namespace {

// Largest |a - b| and largest |b| over matching elements of a (rows, cols) block of `ref`
// starting at column col0 (a is contiguous (rows, a_cols)).
std::pair<double, double> compare_block(const Tensor& a, const Tensor& ref, int64_t col0) {
  const int64_t rows = a.ndim() == 1 ? 1 : a.dim(0);
  const int64_t a_cols = a.shape().last();
  const int64_t r_cols = ref.shape().last();
  double max_abs = 0, max_ref = 0;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < a_cols; ++j) {
      const double x = a.f32()[i * a_cols + j], y = ref.f32()[i * r_cols + col0 + j];
      max_abs = std::max(max_abs, std::abs(x - y));
      max_ref = std::max(max_ref, std::abs(y));
    }
  return {max_abs, max_ref};
}

// Over a block as in compare_block: {elements unchanged by the step although the reference
// step changes them, elements the reference step leaves unchanged too}.
std::pair<int64_t, int64_t> count_unmoved(const Tensor& before, const Tensor& after,
                                          const Tensor& ref_before, const Tensor& ref_after, int64_t col0) {
  const int64_t rows = before.ndim() == 1 ? 1 : before.dim(0);
  const int64_t cols = before.shape().last(), r_cols = ref_before.shape().last();
  int64_t stuck = 0, frozen = 0;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      const bool moved = before.f32()[i * cols + j] != after.f32()[i * cols + j];
      const int64_t k = i * r_cols + col0 + j;
      const bool ref_moved = ref_before.f32()[k] != ref_after.f32()[k];
      stuck += !moved && ref_moved;
      frozen += !moved && !ref_moved;
    }
  return {stuck, frozen};
}

uint64_t fnv1a(const Tensor& t, uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace

LinearVerify verify_linear_mode(LinearMode mode, const LinearConfig& c, Communicator& world) {
  const FullProblem p = make_full_problem(c);  // host: the serial reference runs on the CPU
  ShardedLinearStep step(mode, c, on_device(p, device_of(c)), world);
  const Tensor w_before = on_host(step.weight().clone(MemCategory::other));
  const Tensor b_before = on_host(step.bias().clone(MemCategory::other));
  step.forward(nullptr);
  step.backward(nullptr);
  const Tensor dw = on_host(step.dweight().clone(MemCategory::other));
  const Tensor db = on_host(step.dbias().clone(MemCategory::other));
  step.optimizer();
  const Tensor y_step = on_host(step.y()), dx_step = on_host(step.dx());
  const Tensor w_step = on_host(step.weight()), b_step = on_host(step.bias());

  // The serial layer, whole, on this rank.
  const auto o = MemCategory::other;
  Tensor y = Tensor::empty({c.batch, c.out_features}, o);
  ops::matmul(y, p.x, p.weight, false, true);
  ops::bias_add_forward(y, p.bias);
  Tensor dy = Tensor::zeros({c.batch, c.out_features}, o);
  ops::mse_backward(dy, y, p.target, 1.0f);
  Tensor dw_ref = Tensor::empty({c.out_features, c.in_features}, o);
  ops::matmul(dw_ref, dy, p.x, true, false);
  Tensor db_ref = Tensor::zeros({c.out_features}, o);
  ops::bias_add_backward(db_ref, dy);
  Tensor dx_ref = Tensor::empty({c.batch, c.in_features}, o);
  ops::matmul(dx_ref, dy, p.weight);
  Tensor w_after = p.weight.clone(o), b_after = p.bias.clone(o);
  ops::sgd_step(w_after, dw_ref, c.lr);
  ops::sgd_step(b_after, db_ref, c.lr);

  // This rank's pieces against the matching slices of the serial results.
  const Shard out = step.out_shard(), in = step.in_shard();
  Tensor dw_ref_rows = dw_ref.narrow0(out.offset, out.size);
  Tensor w_after_rows = w_after.narrow0(out.offset, out.size);
  Tensor db_ref_part = db_ref.narrow0(out.offset, out.size);
  Tensor b_after_part = b_after.narrow0(out.offset, out.size);
  const std::pair<double, double> cmp[] = {
      compare_block(y_step, y, 0),
      compare_block(dw, dw_ref_rows, in.offset),
      compare_block(db.view({1, db.numel()}), db_ref_part.view({1, out.size}), 0),
      compare_block(dx_step, dx_ref, in.offset),
      compare_block(w_step, w_after_rows, in.offset),
      compare_block(b_step.view({1, out.size}), b_after_part.view({1, out.size}), 0),
  };
  const char* names[] = {"output", "dW", "db", "dX", "W after step", "b after step"};
  constexpr int kN = 6;
  // Max over ranks of (abs error, reference magnitude), plus identity of inputs and the
  // count of weights the step left unchanged.
  Tensor w_ref_rows = p.weight.narrow0(out.offset, out.size);
  Tensor b_ref_part = p.bias.narrow0(out.offset, out.size);
  const auto w_unmoved = count_unmoved(w_before, w_step, w_ref_rows, w_after_rows, in.offset);
  const auto b_unmoved = count_unmoved(b_before.view({1, out.size}), b_step.view({1, out.size}),
                                       b_ref_part.view({1, out.size}), b_after_part.view({1, out.size}), 0);
  const uint64_t h = fnv1a(p.target, fnv1a(p.x, 1469598103934665603ull));
  double maxes[2 * kN];
  for (int i = 0; i < kN; ++i) {
    maxes[2 * i] = cmp[i].first;
    maxes[2 * i + 1] = cmp[i].second;
  }
  world.all_reduce(maxes, maxes, 2 * kN, DType::f64, ReduceOp::max);
  // Hash: max and -min agree only if every rank has the same one (compared as int64).
  int64_t hashes[2] = {static_cast<int64_t>(h >> 1), -static_cast<int64_t>(h >> 1)};
  world.all_reduce(hashes, hashes, 2, DType::i64, ReduceOp::max);
  int64_t counts[3] = {w_unmoved.first + b_unmoved.first, w_unmoved.second + b_unmoved.second,
                       w_before.numel() + b_before.numel()};
  world.all_reduce(counts, counts, 3, DType::i64, ReduceOp::sum);

  LinearVerify v;
  for (int i = 0; i < kN; ++i)
    v.errors.push_back({names[i], maxes[2 * i], maxes[2 * i + 1] > 0 ? maxes[2 * i] / maxes[2 * i + 1] : maxes[2 * i]});
  v.inputs_identical = hashes[0] == -hashes[1];
  v.weights_stuck = counts[0];
  v.weights_below_resolution = counts[1];
  // Row mode's bias is sharded; column mode's is replicated and counted once per rank.
  v.weights_total = counts[2];
  return v;
}

}  // namespace tpb
