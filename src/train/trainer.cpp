#include "train/trainer.h"

#include <sys/resource.h>

#include <algorithm>

#include "base/clock.h"
#include "base/error.h"
#include "kernels/ops.h"
#include "model/params.h"
#include "model/transformer.h"
#include "report/stats.h"
#include "train/data_parallel.h"
#include "profile/step_clock.h"

namespace tpb {

void validate_train_config(const TrainConfig& c, int world_size) {
  validate_mesh(world_size, c.tp);
  validate_model_config(c.model, c.tp);
  if (c.batch <= 0) usage_error("--batch must be > 0, got {}", c.batch);
  if (c.iters <= 0) usage_error("--iters must be > 0, got {}", c.iters);
  if (c.warmup_iters < 0 || c.warmup_iters >= c.iters)
    usage_error("--warmup-iters must be in [0, --iters), got {} with --iters {}", c.warmup_iters, c.iters);
  if (!(c.opt.lr > 0)) usage_error("--lr must be > 0, got {}", c.opt.lr);
  if (c.opt.weight_decay < 0) usage_error("--weight-decay must be >= 0, got {}", c.opt.weight_decay);
  if (c.bucket_mb <= 0) usage_error("--bucket-mb must be > 0, got {}", c.bucket_mb);
  if (c.log_every <= 0) usage_error("--log-every must be > 0, got {}", c.log_every);
  parse_dp_shard(c.dp_shard);
  const Placement pl = parse_placement(c.device, c.dtype);
  if (pl.mixed() && c.dp_shard == "full")
    usage_error("--dtype {} with --dp-shard full is not supported (mixed precision keeps a bf16 copy of "
                "materialized parameters); use --dp-shard none or optimizer", c.dtype);
}

double measure_gemm_peak(Communicator& world, int64_t n, int reps, const Placement& pl) {
  // Its own allocator: the measurement's buffers are not the training's memory.
  TrackingAllocator scratch(pl.device);
  if (pl.device == Device::cuda) n = std::max<int64_t>(n, 8192);  // big enough to fill a GPU
  Tensor a32 = Tensor::empty({n, n}, MemCategory::other, DType::f32, scratch),
         b32 = Tensor::empty({n, n}, MemCategory::other, DType::f32, scratch);
  a32.fill(0.5f);
  b32.fill(0.25f);
  Tensor a = a32, b = b32;
  if (pl.mixed()) {
    a = Tensor::empty({n, n}, MemCategory::other, pl.compute, scratch);
    b = Tensor::empty({n, n}, MemCategory::other, pl.compute, scratch);
    ops::cast(a, a32);
    ops::cast(b, b32);
  }
  Tensor c = Tensor::empty({n, n}, MemCategory::other, pl.compute, scratch);
  ops::matmul(c, a, b, false, true);  // warm-up
  device::synchronize();
  world.barrier();
  double best = 0;
  StepClock clock(pl.device == Device::cuda, 2);
  for (int r = 0; r < reps; ++r) {
    clock.start();
    ops::matmul(c, a, b, false, true);
    clock.mark(1);
    const std::vector<int64_t> t = clock.resolve();
    best = std::max(best, 2.0 * static_cast<double>(n * n * n) / seconds_between(t[0], t[1]));
  }
  // The measurement's buffers are not the run's memory: give them back to the device.
  a32 = b32 = a = b = c = Tensor{};
  device::cuda_release_cache();
  std::vector<double> all(static_cast<size_t>(world.size()));
  world.all_gather(&best, all.data(), 1, DType::f64);
  return summarize(all).median;
}

namespace {

// StepClock marks of a step.
enum Mark { kStart, kForwardEnd, kBackwardEnd, kEnd, kMarks };

// Sums over a group's collectives of one step.
void add_comms(const std::vector<CommTiming>& t, double& comm, double& wait, double& transfer,
               double& bytes) {
  for (const CommTiming& c : t) {
    comm += seconds_between(c.record.start_ns, c.record.end_ns);
    wait += static_cast<double>(c.wait_ns) * 1e-9;
    transfer += static_cast<double>(c.transfer_ns) * 1e-9;
    bytes += static_cast<double>(c.record.bytes);
  }
}

constexpr int kFields = 17 + 2 * kNumMemCategories + 3;

void pack(const IterRecord& r, double* f) {
  const double v[] = {static_cast<double>(r.iter), r.warmup ? 1.0 : 0.0, r.loss, r.grad_norm, r.lr, r.dt,
                      r.dtf, r.dtb, r.opt, r.tp_comm, r.tp_wait, r.tp_transfer, r.dp_comm, r.dp_wait,
                      r.dp_transfer, r.tp_bytes};
  std::copy(std::begin(v), std::end(v), f);
  f[16] = r.dp_bytes;
  for (int k = 0; k < kNumMemCategories; ++k) {
    f[17 + k] = static_cast<double>(r.mem.current[static_cast<size_t>(k)]);
    f[17 + kNumMemCategories + k] = static_cast<double>(r.mem.peak[static_cast<size_t>(k)]);
  }
  f[17 + 2 * kNumMemCategories] = static_cast<double>(r.mem.total_peak);
  f[18 + 2 * kNumMemCategories] = r.gather_total;
  f[19 + 2 * kNumMemCategories] = r.gather_exposed;
}

IterRecord unpack(const double* f) {
  IterRecord r;
  r.iter = static_cast<int>(f[0]);
  r.warmup = f[1] != 0;
  r.loss = f[2]; r.grad_norm = f[3]; r.lr = f[4]; r.dt = f[5]; r.dtf = f[6]; r.dtb = f[7]; r.opt = f[8];
  r.tp_comm = f[9]; r.tp_wait = f[10]; r.tp_transfer = f[11];
  r.dp_comm = f[12]; r.dp_wait = f[13]; r.dp_transfer = f[14]; r.tp_bytes = f[15]; r.dp_bytes = f[16];
  for (int k = 0; k < kNumMemCategories; ++k) {
    r.mem.current[static_cast<size_t>(k)] = static_cast<int64_t>(f[17 + k]);
    r.mem.peak[static_cast<size_t>(k)] = static_cast<int64_t>(f[17 + kNumMemCategories + k]);
  }
  r.mem.total_peak = static_cast<int64_t>(f[17 + 2 * kNumMemCategories]);
  r.gather_total = f[18 + 2 * kNumMemCategories];
  r.gather_exposed = f[19 + 2 * kNumMemCategories];
  return r;
}

}  // namespace

TrainResult run_training(const TrainConfig& c, DeviceMesh& mesh, const ProgressFn& progress) {
  TrainResult result;
  Communicator& world = mesh.world();
  Communicator& tp = mesh.tp();
  Communicator& dp = mesh.dp();
  const auto source = open_token_source(c.data, c.model.vocab, c.model.seq);
  result.data_description = source->describe();
  const Placement pl = parse_placement(c.device, c.dtype);
  result.device_description = pl.device == Device::cuda ? device::cuda_device_description() : "cpu";
  result.dense_peak_flops = pl.device == Device::cuda ? device::cuda_dense_peak_flops(pl.mixed()) : 0.0;
  result.gemm_peak_flops = measure_gemm_peak(world, 1024, 5, pl);

  const DpShard shard = parse_dp_shard(c.dp_shard);
  ModelParams params(c.model, mesh.tp_rank(), mesh.tp_size(), mesh.dp_size(), shard != DpShard::full, pl);
  TransformerActivations acts = make_transformer_activations(c.model, mesh.tp_size(), c.batch, c.recompute, pl);
  OptimizerConfig opt_config = c.opt;
  opt_config.total_steps = c.iters;
  DataParallel data_parallel(shard, params, dp, tp, static_cast<int64_t>(c.bucket_mb * (1 << 20)),
                             shard == DpShard::full ? c.prefetch : c.dp_overlap);
  data_parallel.init_params(c.seed);
  result.grad_buckets = data_parallel.num_buckets();
  TraceBuffer* trace = c.profile ? &result.trace : nullptr;
  StepClock clock(pl.device == Device::cuda, kMarks);
  if (trace && pl.device == Device::cuda) trace->enable_gpu_timing();

  std::vector<IterRecord> mine;
  for (int it = 0; it < c.iters; ++it) {
    get_batch(*source, it, static_cast<int64_t>(mesh.dp_rank()) * c.batch, acts.tokens, acts.targets);
    device::synchronize();
    world.barrier();
    const size_t first_record = world.log().records().size();
    // ---- timed step ----
    clock.start();
    {
      ScopedSpan span(trace, "forward", "user_annotation");
      transformer_forward_pass(acts, params, tp, trace, &data_parallel);
    }
    clock.mark(kForwardEnd);
    {
      ScopedSpan span(trace, "backward", "user_annotation");
      data_parallel.zero_grads();
      transformer_backward(acts, params, tp, trace, &data_parallel);
      ScopedSpan sync(trace, "gradient", "user_annotation");
      data_parallel.finish_backward();
    }
    clock.mark(kBackwardEnd);
    double norm = 0;
    {
      ScopedSpan span(trace, "optimizer", "user_annotation");
      norm = data_parallel.optimizer_step(opt_config, it + 1, learning_rate(opt_config, it + 1));
    }
    clock.mark(kEnd);
    // ---- end of timed step: bookkeeping ----
    const std::vector<int64_t> s = clock.resolve();
    if (trace && trace->gpu_timing()) trace->resolve_gpu(clock.start_event(), clock.start_host_ns());
    if (trace) trace->add({"ProfilerStep", "user_annotation", s[kStart], s[kEnd], it});
    double loss = mean_loss(acts.ce);
    if (pl.device == Device::cuda) device::sample_cuda_memory();
    IterRecord r;
    r.iter = it;
    r.warmup = it < c.warmup_iters;
    r.dt = seconds_between(s[kStart], s[kEnd]);
    r.dtf = seconds_between(s[kStart], s[kForwardEnd]);
    r.dtb = seconds_between(s[kForwardEnd], s[kBackwardEnd]);
    r.opt = seconds_between(s[kBackwardEnd], s[kEnd]);
    r.grad_norm = norm;
    r.lr = learning_rate(opt_config, it + 1);
    r.gather_exposed = data_parallel.take_exposed_gather_seconds();
    r.mem = default_allocator(pl.device).stats();
    // Every record since first_record belongs to this step: the barrier came before it.
    const std::vector<CommRecord> recs = world.log().since(first_record);
    world.log().clear();
    auto tp_now = split_wait_transfer(tp, records_of_group(recs, tp.group_id()));
    auto dp_now = split_wait_transfer(dp, records_of_group(recs, dp.group_id()));
    add_comms(tp_now, r.tp_comm, r.tp_wait, r.tp_transfer, r.tp_bytes);
    add_comms(dp_now, r.dp_comm, r.dp_wait, r.dp_transfer, r.dp_bytes);
    for (const CommTiming& t : dp_now)
      if (t.record.op == CommOp::all_gather) r.gather_total += seconds_between(t.record.start_ns, t.record.end_ns);
    if (c.profile) {
      result.comms.insert(result.comms.end(), tp_now.begin(), tp_now.end());
      result.comms.insert(result.comms.end(), dp_now.begin(), dp_now.end());
    }
    dp.all_reduce(&loss, &loss, 1, DType::f64, ReduceOp::avg);  // the global batch's mean
    world.log().clear();
    r.loss = loss;
    mine.push_back(r);
    if (progress) progress(r);
  }
  std::sort(result.comms.begin(), result.comms.end(),
            [](const CommTiming& a, const CommTiming& b) { return a.record.start_ns < b.record.start_ns; });

  // The GEMM peak again: the machine's speed drifts, and MFU must not be inflated by a peak
  // taken in a slow moment, so the higher of the two measurements counts.
  result.gemm_peak_flops = std::max(result.gemm_peak_flops, measure_gemm_peak(world, 1024, 5, pl));
  if (pl.device == Device::cuda) {
    double peak = static_cast<double>(device::cuda_used_bytes_peak());
    result.device_peak_bytes.resize(static_cast<size_t>(world.size()));
    world.all_gather(&peak, result.device_peak_bytes.data(), 1, DType::f64);
  }

  // Every rank's peak resident set size (Linux reports KiB).
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double rss = static_cast<double>(usage.ru_maxrss) * 1024.0;
  result.peak_rss_bytes.resize(static_cast<size_t>(world.size()));
  world.all_gather(&rss, result.peak_rss_bytes.data(), 1, DType::f64);

  // Every rank's records, to every rank.
  std::vector<double> packed(mine.size() * kFields);
  for (size_t i = 0; i < mine.size(); ++i) pack(mine[i], packed.data() + i * kFields);
  std::vector<double> all(packed.size() * static_cast<size_t>(world.size()));
  world.all_gather(packed.data(), all.data(), packed.size(), DType::f64);
  result.per_rank.resize(static_cast<size_t>(world.size()));
  for (int rank = 0; rank < world.size(); ++rank)
    for (size_t i = 0; i < mine.size(); ++i)
      result.per_rank[static_cast<size_t>(rank)].push_back(
          unpack(all.data() + (static_cast<size_t>(rank) * mine.size() + i) * kFields));
  return result;
}

}  // namespace tpb
