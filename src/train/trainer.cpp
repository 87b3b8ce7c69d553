#include "train/trainer.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>

#include "base/checked_math.h"
#include "base/clock.h"
#include "base/error.h"
#include "kernels/ops.h"
#include "model/params.h"
#include "model/transformer.h"
#include "report/stats.h"
#include "train/checkpointing.h"
#include "train/data_parallel.h"
#include "profile/step_clock.h"
#include "profile/step_progress.h"

namespace tpb {

ParallelDims validate_train_config(const TrainConfig& c, int world_size) {
  const ParallelDims dims(world_size, c.tp, c.sp);
  local_sizes(c.model, dims.tp(), dims.sp());  // the model's shapes, and --seq against --tp with --sp
  if (c.batch <= 0) usage_error("--batch must be > 0, got {}", c.batch);
  if (c.iters <= 0) usage_error("--iters must be > 0, got {}", c.iters);
  if (c.warmup_iters < 0 || c.warmup_iters >= c.iters)
    usage_error("--warmup-iters must be in [0, --iters), got {} with --iters {}", c.warmup_iters, c.iters);
  if (!(c.opt.lr > 0) || !std::isfinite(c.opt.lr)) usage_error("--lr must be > 0 and finite, got {}", c.opt.lr);
  if (!(c.opt.weight_decay >= 0) || !std::isfinite(c.opt.weight_decay))
    usage_error("--weight-decay must be >= 0 and finite, got {}", c.opt.weight_decay);
  if (!(c.opt.grad_clip >= 0) || !std::isfinite(c.opt.grad_clip))
    usage_error("--grad-clip must be >= 0 (0: off) and finite, got {}", c.opt.grad_clip);
  if (c.opt.lr_warmup < 0) usage_error("--lr-warmup must be >= 0, got {}", c.opt.lr_warmup);
  if (!(c.bucket_mb > 0) || !std::isfinite(c.bucket_mb) || c.bucket_mb > double(1 << 20))
    usage_error("--bucket-mb must be in (0, {}], got {}", 1 << 20, c.bucket_mb);
  if (c.log_every <= 0) usage_error("--log-every must be > 0, got {}", c.log_every);
  if (c.dp_overlap && c.dp_shard == DpShard::full)
    usage_error("--dp-overlap has no effect with --dp-shard full (FSDP's overlap is --prefetch)");
  // The largest activations of a rank: the residual stream (batch x seq x dim) and the
  // local logits (batch x seq x vocab / tp); each is one tensor of at most 2^40 elements.
  const int64_t local_vocab = c.model.vocab / dims.tp();
  if (!fits_tensor({c.batch, c.model.seq, c.model.dim}) || !fits_tensor({c.batch, c.model.seq, local_vocab}))
    usage_error("--batch {} x --seq {} x (--dim {} or --vocab {} / --tp {}) is more than the {} elements one "
                "activation tensor may have", c.batch, c.model.seq, c.model.dim, c.model.vocab, dims.tp(),
                kMaxTensorElements);
  if (c.placement.mixed() && c.dp_shard == DpShard::full)
    usage_error("--dtype {} with --dp-shard full is not supported (mixed precision keeps a bf16 copy of "
                "materialized parameters); use --dp-shard none or optimizer", dtype_name(c.placement.compute));
  return dims;
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

// What one rank trains with: the sharded parameters, the activations, the data-parallel
// strategy (which holds a reference to the parameters, so it is declared after them).
struct TrainState {
  ModelParams params;
  TransformerActivations acts;
  std::unique_ptr<DataParallel> data_parallel;
};

// The timed part of one step (forward, backward with the gradient reduction, optimizer),
// marked on `clock`; returns the gradient norm before clipping.
double timed_step(TrainState& st, Communicator& tp, StepClock& clock, TraceBuffer* trace,
                  const OptimizerConfig& opt, int it, float lr) {
  DataParallel& data_parallel = *st.data_parallel;
  clock.start();
  {
    ScopedSpan span(trace, "forward", "user_annotation");
    transformer_forward_pass(st.acts, st.params, tp, trace, &data_parallel);
  }
  clock.mark(kForwardEnd);
  {
    ScopedSpan span(trace, "backward", "user_annotation");
    data_parallel.zero_grads();
    transformer_backward(st.acts, st.params, tp, trace, &data_parallel);
    ScopedSpan sync(trace, "gradient", "user_annotation");
    data_parallel.finish_backward();
  }
  clock.mark(kBackwardEnd);
  double norm = 0;
  {
    step_progress::enter(step_progress::Phase::optimizer);
    ScopedSpan span(trace, "optimizer", "user_annotation");
    norm = data_parallel.optimizer_step(opt, it + 1, lr);
  }
  clock.mark(kStepEnd);
  step_progress::enter(step_progress::Phase::idle);
  return norm;
}

// The step's phases from its marks, and its collectives (every record since
// `first_record` belongs to this step: the barrier came before it) per group, split into
// wait and transfer; with --profile they are kept for the trace.
IterRecord step_record(const std::vector<int64_t>& s, DeviceMesh& mesh, size_t first_record,
                       std::vector<CommTiming>* keep) {
  IterRecord r;
  r.dt = seconds_between(s[kStepStart], s[kStepEnd]);
  r.dtf = seconds_between(s[kStepStart], s[kForwardEnd]);
  r.dtb = seconds_between(s[kForwardEnd], s[kBackwardEnd]);
  r.dt_opt = seconds_between(s[kBackwardEnd], s[kStepEnd]);
  Communicator &world = mesh.world(), &tp = mesh.tp(), &dp = mesh.dp();
  const std::vector<CommRecord> recs = world.log().since(first_record);
  world.log().clear();
  const auto tp_now = split_wait_transfer(tp, records_of_group(recs, tp.group_id()));
  const auto dp_now = split_wait_transfer(dp, records_of_group(recs, dp.group_id()));
  r.tp = sum_comms(tp_now);
  r.dp = sum_comms(dp_now);
  for (const CommTiming& t : tp_now) {
    if (t.record.op == CommOp::all_reduce) r.tp_all_reduce.add(t);
    else if (t.record.op == CommOp::all_gather || t.record.op == CommOp::all_gather_v) r.tp_all_gather.add(t);
    else if (t.record.op == CommOp::reduce_scatter || t.record.op == CommOp::reduce_scatter_v) r.tp_reduce_scatter.add(t);
  }
  for (const CommTiming& t : dp_now)
    if (t.record.op == CommOp::all_gather) r.gather_total += seconds_between(t.record.start_ns, t.record.end_ns);
  if (keep) {
    keep->insert(keep->end(), tp_now.begin(), tp_now.end());
    keep->insert(keep->end(), dp_now.begin(), dp_now.end());
  }
  return r;
}

// After the loop: the GEMM peak again (not after a run that stopped early: it is ending),
// the device's and the process's memory peaks (every rank's records were gathered step by
// step).
void gather_results(TrainResult& result, Communicator& world, const Placement& pl) {
  std::sort(result.comms.begin(), result.comms.end(),
            [](const CommTiming& a, const CommTiming& b) { return a.record.start_ns < b.record.start_ns; });
  // The machine's speed drifts, and MFU must not be inflated by a peak taken in a slow
  // moment, so the higher of the two measurements counts.
  if (result.end == TrainEnd::completed)
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
}

// Whether this step ends the run, the same on every rank: every rank's records of it are
// in `step` (so all see the same non-finite value first), and the stop requests are
// all-reduced (max) here.
bool end_of_run(TrainResult& result, Communicator& world, const std::vector<IterRecord>& step,
                const TrainHooks& hooks) {
  for (size_t rank = 0; rank < step.size(); ++rank)
    for (const auto& [what, value] : {std::pair<const char*, double>{"loss", step[rank].loss},
                                      std::pair<const char*, double>{"grad_norm", step[rank].grad_norm}})
      if (!std::isfinite(value)) {
        result.end = TrainEnd::diverged;
        result.diverged_rank = static_cast<int>(rank);
        result.diverged_value = what;
        result.diverged_number = value;
        return true;
      }
  int32_t stop = hooks.stop_requested ? hooks.stop_requested() : 0;
  world.all_reduce(&stop, &stop, 1, DType::i32, ReduceOp::max);
  if (stop == 0) return false;
  result.end = TrainEnd::interrupted;
  result.stop_signal = stop;
  return true;
}

}  // namespace

TrainResult run_training(const TrainConfig& c, DeviceMesh& mesh, TokenSource& source, const TrainHooks& hooks) {
  TrainResult result;
  Communicator& world = mesh.world();
  const Placement& pl = c.placement;
  TPB_CHECK(c.sp == mesh.dims().sp() && c.tp == mesh.dims().tp(), "train config tp {}{} on a mesh of {}", c.tp,
            c.sp ? " --sp" : "", mesh.dims().describe());
  result.data_description = source.describe();
  result.device_description = pl.device == Device::cuda ? device::cuda_device_description() : "cpu";
  result.dense_peak_flops = pl.device == Device::cuda ? device::cuda_dense_peak_flops(pl.mixed()) : 0.0;
  const auto phase = [&](const char* name, const std::string& what) {
    if (hooks.phase) hooks.phase(name, what);
  };
  phase("GEMM peak", "measuring the GEMM peak (1024^3 GEMM x 5 on every rank, for MFU)");
  result.gemm_peak_flops = measure_gemm_peak(world, 1024, 5, pl);

  const ParallelDims& dims = mesh.dims();
  phase("model", fmt::format("building the model at tp {}{} x dp {} and its activations (batch {} x seq {}{})",
                             dims.tp(), dims.sp() ? " (sp)" : "", dims.dp(), c.batch, c.model.seq,
                             c.recompute ? ", --recompute block" : ""));
  const bool materialize = c.dp_shard != DpShard::full;
  TrainState st{ModelParams(c.model, mesh.dims(), mesh.tp_rank(), materialize, pl), {}, {}};
  st.acts = make_transformer_activations(c.model, st.params.local(), c.batch, c.recompute, pl, c.loss_chunk);
  st.data_parallel = make_data_parallel(c.dp_shard, st.params, mesh.dp(), mesh.tp(),
                                        static_cast<int64_t>(c.bucket_mb * (1 << 20)),
                                        c.dp_shard == DpShard::full ? c.prefetch : c.dp_overlap);
  phase("initialising", !c.resume_from.empty()  ? "loading the checkpoint " + c.resume_from
                        : !c.init_from.empty() ? "reading the weights " + c.init_from
                                               : fmt::format("initialising the parameters (seed {})", c.seed));
  const InitialState init = load_initial_state(c, mesh.dims(), *st.data_parallel, st.params, world);
  if (!init.error.empty()) {
    result.load_error = init.error;
    return result;
  }
  if (hooks.note && !init.note.empty()) hooks.note(init.note);
  result.first_iter = init.first_iter;
  result.grad_buckets = st.data_parallel->num_buckets();
  OptimizerConfig opt = c.opt;
  opt.total_steps = c.iters;
  TraceBuffer* trace = c.profile ? &result.trace : nullptr;
  StepClock clock(pl.device == Device::cuda, kStepMarks);
  if (trace && pl.device == Device::cuda) trace->enable_gpu_timing();

  for (int it = init.first_iter; it < c.iters; ++it) {
    get_batch(source, it, static_cast<int64_t>(mesh.dp_rank()) * c.batch, st.acts.tokens, st.acts.targets);
    device::synchronize();
    world.barrier();
    if (hooks.step_started) hooks.step_started(it);
    const size_t first_record = world.log().records().size();
    const float lr = learning_rate(opt, it + 1);  // once per step, outside the timed region
    const double norm = timed_step(st, mesh.tp(), clock, trace, opt, it, lr);
    // ---- bookkeeping, untimed ----
    const std::vector<int64_t> s = clock.resolve();
    if (trace && trace->gpu_timing()) trace->resolve_gpu(clock.start_event(), clock.start_host_ns());
    if (trace) trace->add({"ProfilerStep", "user_annotation", s[kStepStart], s[kStepEnd], it});
    if (pl.device == Device::cuda) device::sample_cuda_memory();
    IterRecord r = step_record(s, mesh, first_record, c.profile ? &result.comms : nullptr);
    r.iter = it;
    r.warmup = it < init.first_iter + c.warmup_iters;
    r.grad_norm = norm;
    r.lr = lr;
    r.gather_exposed = st.data_parallel->take_exposed_gather_seconds();
    r.mem = default_allocator(pl.device).stats();
    r.loss = mean_loss(st.acts.head.ce);
    mesh.dp().all_reduce(&r.loss, &r.loss, 1, DType::f64, ReduceOp::avg);  // the global batch's mean
    // Every rank's record of this step, to every rank: metrics.jsonl grows as the run goes.
    const std::vector<std::vector<IterRecord>> step = all_gather_records(world, kIterRecordFields, std::vector{r});
    result.per_rank.resize(step.size());
    std::vector<IterRecord> of_ranks;
    for (size_t rank = 0; rank < step.size(); ++rank) {
      result.per_rank[rank].push_back(step[rank][0]);
      of_ranks.push_back(step[rank][0]);
    }
    result.last_iter = it;
    const bool end = end_of_run(result, world, of_ranks, hooks);
    world.log().clear();
    if (hooks.on_step) hooks.on_step(of_ranks);
    // A diverged state is never saved; a run stopped by a signal saves where it stopped.
    const bool save = end ? result.end == TrainEnd::interrupted && !c.save_dir.empty() : save_due(c, it);
    if (save) {
      try {
        const std::string line = save_training_state(c, mesh.dims(), *st.data_parallel, st.params, world, it + 1,
                                                     hooks.run_config);
        if (hooks.note) hooks.note(line);
      } catch (const Error& e) {
        result.save_error = e.what();
        break;
      }
    }
    if (end) break;
  }
  gather_results(result, world, pl);
  return result;
}

}  // namespace tpb
