#include "train/train_report.h"

#include <fmt/format.h>

#include <csignal>

#include "model/loss_head.h"
#include "model/params.h"

namespace tpb {

namespace {

// Over ranks, of each rank's median over the timed (not warm-up) iterations.
template <class Value>
Stats over_ranks(const TrainResult& r, Value value) {
  return tpb::over_ranks(r.per_rank, value, [](const IterRecord& it) { return !it.warmup; });
}

// Rank 0's median over the timed iterations (sizes and counts, the same on every rank of a
// group).
template <class Value>
double rank0_median(const TrainResult& r, Value value) {
  std::vector<double> v;
  if (!r.per_rank.empty())
    for (const IterRecord& it : r.per_rank[0])
      if (!it.warmup) v.push_back(static_cast<double>(value(it)));
  return v.empty() ? 0.0 : summarize(v).median;
}

// One TP collective kind's sums over the run (TrainSummary::tp_by_collective).
template <CommSums IterRecord::*op>
TrainSummary::CollectiveStats collective_stats(const TrainResult& r) {
  TrainSummary::CollectiveStats k;
  k.comm = over_ranks(r, member<op, &CommSums::seconds>);
  k.wait = over_ranks(r, member<op, &CommSums::wait>);
  k.transfer = over_ranks(r, member<op, &CommSums::transfer>);
  k.bytes_per_step = rank0_median(r, member<op, &CommSums::bytes>);
  k.calls_per_step = rank0_median(r, member<op, &CommSums::calls>);
  return k;
}

std::string signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : fmt::format("signal {}", sig);
}

std::string ms(double s) { return fmt::format("{:.1f}", s * 1e3); }
std::string spread_ms(const Stats& s) { return fmt::format("{:>9} {:>9} {:>9}", ms(s.min), ms(s.median), ms(s.max)); }
std::string mib(double b) { return fmt::format("{:.1f}", b / (1 << 20)); }

std::string thousands(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

}  // namespace

TrainSummary summarize_training(const TrainResult& r, const TrainConfig& c, const ParallelDims& dims) {
  TrainSummary s;
  const int world_size = dims.world(), dp_size = dims.dp();
  const size_t iters = r.per_rank.empty() ? 0 : r.per_rank[0].size();
  // Every iteration's slowest rank's step and rank 0's loss (the text plots), and the
  // timed iterations' slowest steps (the summary's dt).
  std::vector<double> slowest;
  for (size_t i = 0; i < iters; ++i) {
    double m = 0;
    for (const auto& rank : r.per_rank) m = std::max(m, rank[i].dt);
    s.loss_series.push_back(r.per_rank[0][i].loss);
    s.dt_series_ms.push_back(m * 1e3);
    if (!r.per_rank[0][i].warmup) slowest.push_back(m);
  }
  s.timed_iters = static_cast<int>(slowest.size());
  s.iters_done = static_cast<int>(iters);
  s.iters_planned = c.iters;
  if (r.end == TrainEnd::interrupted) {
    s.status = "interrupted";
    s.stop_reason = fmt::format("interrupted by {} after iteration {} of {}", signal_name(r.stop_signal),
                                r.last_iter + 1, c.iters);
  } else if (r.end == TrainEnd::diverged) {
    s.status = "diverged";
    s.stop_reason = fmt::format("diverged at iteration {} of {}: {} is {} on rank {}", r.last_iter + 1, c.iters,
                                r.diverged_value, r.diverged_number, r.diverged_rank);
  }
  s.dt = summarize(slowest);
  s.dtf = over_ranks(r, member<&IterRecord::dtf>);
  s.dtb = over_ranks(r, member<&IterRecord::dtb>);
  s.opt = over_ranks(r, member<&IterRecord::dt_opt>);
  s.tp_comm = over_ranks(r, member<&IterRecord::tp, &CommSums::seconds>);
  s.tp_wait = over_ranks(r, member<&IterRecord::tp, &CommSums::wait>);
  s.tp_transfer = over_ranks(r, member<&IterRecord::tp, &CommSums::transfer>);
  s.dp_comm = over_ranks(r, member<&IterRecord::dp, &CommSums::seconds>);
  s.dp_wait = over_ranks(r, member<&IterRecord::dp, &CommSums::wait>);
  s.dp_transfer = over_ranks(r, member<&IterRecord::dp, &CommSums::transfer>);
  s.tp_by_collective = {collective_stats<&IterRecord::tp_all_reduce>(r), collective_stats<&IterRecord::tp_all_gather>(r),
                        collective_stats<&IterRecord::tp_reduce_scatter>(r)};
  s.tokens_per_step = static_cast<double>(c.batch * dp_size * c.model.seq);
  s.tokens_per_s = s.dt.median > 0 ? s.tokens_per_step / s.dt.median : 0;
  s.flops_per_step = model_flops_per_step(c.model, static_cast<int64_t>(s.tokens_per_step));
  s.model_flops_per_s = s.dt.median > 0 ? s.flops_per_step / s.dt.median : 0;
  s.gemm_peak_flops = r.gemm_peak_flops;
  s.mfu = s.gemm_peak_flops > 0 ? s.model_flops_per_s / (world_size * s.gemm_peak_flops) : 0;
  s.device = std::string(device_name(c.placement.device));
  s.dtype = std::string(dtype_name(c.placement.compute));
  s.device_description = r.device_description;
  s.dense_peak_flops = r.dense_peak_flops;
  s.mfu_dense = s.dense_peak_flops > 0 ? s.model_flops_per_s / (world_size * s.dense_peak_flops) : 0;
  if (!r.device_peak_bytes.empty()) s.device_peak = summarize(r.device_peak_bytes);
  if (iters) {
    s.loss_first = r.per_rank[0].front().loss;
    s.loss_last = r.per_rank[0].back().loss;
  }
  for (int k = 0; k < kNumMemCategories; ++k) {
    std::vector<double> peaks;
    for (const auto& rank : r.per_rank) peaks.push_back(rank.empty() ? 0.0 : static_cast<double>(rank.back().mem.peak[static_cast<size_t>(k)]));
    s.mem_peak[static_cast<size_t>(k)] = summarize(peaks);
  }
  for (int k = 0; k < kNumMemCategories; ++k) {
    std::vector<double> held;
    for (const auto& rank : r.per_rank) held.push_back(rank.empty() ? 0.0 : static_cast<double>(rank.back().mem.current[static_cast<size_t>(k)]));
    s.mem_held[static_cast<size_t>(k)] = summarize(held);
  }
  s.peak_rss = summarize(r.peak_rss_bytes);
  for (size_t rank = 0; rank < r.per_rank.size(); ++rank) {
    if (r.per_rank[rank].empty()) continue;
    const MemStats& m = r.per_rank[rank].back().mem;
    s.per_rank_memory.push_back({static_cast<double>(m.current_of(MemCategory::parameters) +
                                                     m.current_of(MemCategory::gradients) +
                                                     m.current_of(MemCategory::optimizer_state)),
                                 static_cast<double>(m.total_peak),
                                 rank < r.peak_rss_bytes.size() ? r.peak_rss_bytes[rank] : 0.0});
  }
  s.dp_shard = dp_shard_name(c.dp_shard);
  s.predicted = predict_memory(c.model, dims, c.dp_shard, c.batch, c.recompute, c.loss_chunk);
  s.gather_total = over_ranks(r, member<&IterRecord::gather_total>);
  s.gather_exposed = over_ranks(r, member<&IterRecord::gather_exposed>);
  std::vector<double> totals;
  for (const auto& rank : r.per_rank) totals.push_back(rank.empty() ? 0.0 : static_cast<double>(rank.back().mem.total_peak));
  s.mem_total_peak = summarize(totals);
  return s;
}

std::string format_train_header(const TrainConfig& c, const ParallelDims& dims, const std::string& data) {
  const ModelConfig& m = c.model;
  const int dp_size = dims.dp();
  return fmt::format(
      "tpbench train: preset {}, {} parameters (dim {}, {} layers, {} heads, {} KV heads, FFN {}, vocab {}, seq {})\n"
      "  mesh dp {} x tp {}{} on {} ranks; batch {} per DP rank ({} tokens a step); AdamW lr {} wd {} clip {}; "
      "{} iterations ({} warm-up, not summarised)\n  data: {}\n",
      c.preset, thousands(parameter_count(m)), m.dim, m.n_layers, m.n_heads, m.n_kv_heads, m.ffn_hidden, m.vocab,
      m.seq, dp_size, dims.tp(), dims.sp() ? " (sequence parallel)" : "", dims.world(), c.batch, c.batch * dp_size * m.seq, c.opt.lr, c.opt.weight_decay,
      c.opt.grad_clip, c.iters, c.warmup_iters, data);
}

std::string format_progress(const IterRecord& r, const TrainConfig& c, const ParallelDims& dims, double eta_s) {
  const double tokens = static_cast<double>(c.batch * dims.dp() * c.model.seq);
  return fmt::format("iter {:>4}/{}  loss {:.4f}  dt {:>7.1f} ms  dtf {:>7.1f}  dtb {:>7.1f}  opt {:>6.1f}  "
                     "tok/s {:>8.0f}  lr {:.2e}  ETA {:.0f} s{}\n",
                     r.iter + 1, c.iters, r.loss, r.dt * 1e3, r.dtf * 1e3, r.dtb * 1e3, r.dt_opt * 1e3,
                     r.dt > 0 ? tokens / r.dt : 0.0, r.lr, eta_s, r.warmup ? "  (warm-up)" : "");
}

std::vector<TbScalar> train_tb_scalars(const TrainResult& r, const TrainSummary& s, int world_size) {
  std::vector<TbScalar> out;
  const size_t iters = r.per_rank.empty() ? 0 : r.per_rank[0].size();
  using Get = double (*)(const IterRecord&);
  const std::pair<const char*, Get> spread[] = {
      {"time_ms/step", [](const IterRecord& x) { return x.dt * 1e3; }},
      {"time_ms/forward", [](const IterRecord& x) { return x.dtf * 1e3; }},
      {"time_ms/backward", [](const IterRecord& x) { return x.dtb * 1e3; }},
      {"time_ms/optimizer", [](const IterRecord& x) { return x.dt_opt * 1e3; }},
      {"tp_comm_ms/total", [](const IterRecord& x) { return x.tp.seconds * 1e3; }},
      {"tp_comm_ms/wait", [](const IterRecord& x) { return x.tp.wait * 1e3; }},
      {"tp_comm_ms/transfer", [](const IterRecord& x) { return x.tp.transfer * 1e3; }},
      {"dp_comm_ms/total", [](const IterRecord& x) { return x.dp.seconds * 1e3; }},
      {"dp_comm_ms/wait", [](const IterRecord& x) { return x.dp.wait * 1e3; }},
      {"dp_comm_ms/transfer", [](const IterRecord& x) { return x.dp.transfer * 1e3; }},
  };
  for (size_t i = 0; i < iters; ++i) {
    const IterRecord& r0 = r.per_rank[0][i];
    const int64_t step = r0.iter;
    const auto add = [&](std::string tag, double v) { out.push_back({std::move(tag), step, static_cast<float>(v)}); };
    add("loss", r0.loss);
    add("grad_norm", r0.grad_norm);
    add("lr", r0.lr);
    const auto add_spread = [&](const std::string& tag, const auto& get) {
      double lo = get(r0), hi = lo;
      for (const auto& rank : r.per_rank) lo = std::min(lo, get(rank[i])), hi = std::max(hi, get(rank[i]));
      add(tag + "/rank0", get(r0));
      add(tag + "/min", lo);
      add(tag + "/max", hi);
    };
    for (const auto& [tag, get] : spread) add_spread(tag, get);
    for (int k = 0; k < kNumMemCategories; ++k)
      add_spread(fmt::format("memory_peak_mib/{}", mem_category_name(static_cast<MemCategory>(k))),
                 [k](const IterRecord& x) { return static_cast<double>(x.mem.peak[static_cast<size_t>(k)]) / (1 << 20); });
    double slowest = 0;
    for (const auto& rank : r.per_rank) slowest = std::max(slowest, rank[i].dt);
    if (slowest > 0) {
      add("throughput/tokens_per_s", s.tokens_per_step / slowest);
      if (s.gemm_peak_flops > 0) add("throughput/mfu", s.flops_per_step / slowest / (world_size * s.gemm_peak_flops));
    }
  }
  return out;
}

std::string text_plot(const std::vector<double>& y, int width, int height, const std::string& title) {
  if (y.empty() || width <= 0 || height <= 1) return "";
  // Average into at most `width` columns.
  const int cols = std::min<int>(width, static_cast<int>(y.size()));
  std::vector<double> col(static_cast<size_t>(cols));
  for (int c = 0; c < cols; ++c) {
    const size_t a = y.size() * static_cast<size_t>(c) / static_cast<size_t>(cols);
    const size_t z = y.size() * static_cast<size_t>(c + 1) / static_cast<size_t>(cols);
    double sum = 0;
    for (size_t i = a; i < z; ++i) sum += y[i];
    col[static_cast<size_t>(c)] = sum / static_cast<double>(z - a);
  }
  const auto [mn, mx] = std::minmax_element(col.begin(), col.end());
  const double lo = *mn, hi = *mx, span = hi > lo ? hi - lo : 1.0;
  std::vector<std::string> grid(static_cast<size_t>(height), std::string(static_cast<size_t>(cols), ' '));
  for (int c = 0; c < cols; ++c) {
    const int row = static_cast<int>(std::lround((col[static_cast<size_t>(c)] - lo) / span * (height - 1)));
    grid[static_cast<size_t>(height - 1 - row)][static_cast<size_t>(c)] = '*';
  }
  std::string out = fmt::format("  {} ({} iterations{})\n", title, y.size(),
                                cols < static_cast<int>(y.size()) ? fmt::format(", {} a column", (y.size() + cols - 1) / cols) : "");
  for (int row = 0; row < height; ++row) {
    const std::string label = row == 0 ? fmt::format("{:.4g}", hi) : row == height - 1 ? fmt::format("{:.4g}", lo) : "";
    out += fmt::format("  {:>10} |{}\n", label, grid[static_cast<size_t>(row)]);
  }
  return out;
}

std::string format_train_summary(const TrainSummary& s) {
  std::string out;
  if (s.status != "completed")
    out += fmt::format("\n{}: {}; the summary covers the {} iteration{} trained\n",
                       s.status == "interrupted" ? "INTERRUPTED" : "DIVERGED", s.stop_reason, s.iters_done,
                       s.iters_done == 1 ? "" : "s");
  out += fmt::format("\nsummary over {} timed iterations (ms; per-rank medians, then min / median / max over ranks):\n", s.timed_iters);
  out += fmt::format("  {:<34} {:>9} {:>9} {:>9}\n", "", "min", "median", "max");
  out += fmt::format("  {:<34} {}   (over iterations: p95 {})\n", "dt (step, slowest rank)", spread_ms(s.dt), ms(s.dt.p95));
  out += fmt::format("  {:<34} {}\n", "dtf (forward)", spread_ms(s.dtf));
  out += fmt::format("  {:<34} {}\n", "dtb (backward + DP grad sync)", spread_ms(s.dtb));
  out += fmt::format("  {:<34} {}\n", "optimizer (clip + AdamW)", spread_ms(s.opt));
  out += fmt::format("  {:<34} {}\n", s.tp_crosses_hosts ? "TP communication (across hosts)" : "TP communication",
                     spread_ms(s.tp_comm));
  out += fmt::format("  {:<34} {}\n", "  wait (for last rank)", spread_ms(s.tp_wait));
  out += fmt::format("  {:<34} {}\n", "  transfer", spread_ms(s.tp_transfer));
  for (size_t k = 0; k < kTpCollectives.size(); ++k) {
    const TrainSummary::CollectiveStats& c = s.tp_by_collective[k];
    if (c.calls_per_step == 0) continue;
    out += fmt::format("  {:<34} {}   wait {} / transfer {} (median); {:.0f} calls, {:.2f} MiB a step\n",
                       fmt::format("  {}", kTpCollectives[k]), spread_ms(c.comm), ms(c.wait.median),
                       ms(c.transfer.median), c.calls_per_step, c.bytes_per_step / (1 << 20));
  }
  out += fmt::format("  {:<34} {}\n", s.dp_crosses_hosts ? "DP communication (across hosts)" : "DP communication",
                     spread_ms(s.dp_comm));
  out += fmt::format("  {:<34} {}\n", "  wait (for last rank)", spread_ms(s.dp_wait));
  out += fmt::format("  {:<34} {}\n", "  transfer", spread_ms(s.dp_transfer));
  out += fmt::format("  tokens/s {:.0f}   model TFLOP/s {:.4f}   MFU {:.1f}% of the measured {} GEMM peak ({:.1f} GFLOP/s per rank)\n",
                     s.tokens_per_s, s.model_flops_per_s * 1e-12, s.mfu * 100, s.dtype, s.gemm_peak_flops * 1e-9);
  if (s.dense_peak_flops > 0)
    out += fmt::format("  MFU {:.1f}% of the {} dense {} peak ({:.0f} TFLOP/s per GPU); device memory peak {:.0f} MiB (max over ranks)\n",
                       s.mfu_dense * 100, s.device_description, s.dtype, s.dense_peak_flops * 1e-12,
                       s.device_peak.max / (1 << 20));
  out += fmt::format("  loss {:.4f} -> {:.4f}\n", s.loss_first, s.loss_last);
  if (s.loss_series.size() >= 3) {
    out += text_plot(s.loss_series, 60, 6, "loss");
    out += text_plot(s.dt_series_ms, 60, 4, "step time, ms (slowest rank)");
  }
  if (s.dp_shard == "full")
    out += fmt::format("  FSDP parameter all-gathers per step: {} ms in all, {} ms exposed (the computation waited), "
                       "median over ranks\n", ms(s.gather_total.median), ms(s.gather_exposed.median));
  out += fmt::format("  memory per rank (MiB; measured: max over ranks; predicted: docs/metrics.md, --dp-shard {}):\n", s.dp_shard);
  out += fmt::format("    {:<20} {:>10} {:>10} {:>10} {:>10}\n", "", "held", "predicted", "peak", "predicted");
  for (int k = 0; k < kNumMemCategories; ++k) {
    const auto cat = static_cast<MemCategory>(k);
    const Stats& peak = s.mem_peak[static_cast<size_t>(k)];
    if (peak.max == 0 && s.predicted.peak(cat) == 0) continue;
    const bool predicted = cat != MemCategory::other;
    out += fmt::format("    {:<20} {:>10} {:>10} {:>10} {:>10}\n", mem_category_name(cat),
                       mib(s.mem_held[static_cast<size_t>(k)].max), predicted ? mib(s.predicted.held(cat)) : "-",
                       mib(peak.max), predicted ? mib(s.predicted.peak(cat)) : "-");
  }
  out += fmt::format("    {:<20} {:>10} {:>10} {:>10} {:>10}\n", "total", "", "", mib(s.mem_total_peak.max),
                     mib(s.predicted.total_peak()));
  const double state_predicted = s.predicted.held(MemCategory::parameters) + s.predicted.held(MemCategory::gradients) +
                                 s.predicted.held(MemCategory::optimizer_state);
  out += "  per rank (MiB): parameters + gradients + optimizer state held (predicted), allocator peak, process peak RSS\n";
  for (size_t rank = 0; rank < s.per_rank_memory.size(); ++rank) {
    const auto& m = s.per_rank_memory[rank];
    out += fmt::format("    rank {:<3} {:>9} ({:>9})   peak {:>9}   RSS {:>9}\n", rank, mib(m.state_held),
                       mib(state_predicted), mib(m.peak), mib(m.rss));
  }
  return out;
}

std::string format_dry_run(const TrainConfig& c, const ParallelDims& dims) {
  const ModelConfig& m = c.model;
  const int dp = dims.dp();
  std::string out = fmt::format("tpbench train --dry-run: preset {}, mesh dp {} x tp {}\n", c.preset, dp, dims.tp());
  out += fmt::format("parameters: {}\n", thousands(parameter_count(m)));
  // Shapes only; every TP rank's are equal. Units unpadded (as one dp rank): the tensors' own sizes.
  const ModelParams p0(m, ParallelDims(dims.tp(), dims.tp(), dims.sp()), 0, /*materialize=*/false);
  out += fmt::format("per-rank shards (tp rank 0 of {}; every TP rank holds the same sizes):\n", dims.tp());
  int64_t local_total = 0;
  for (const Param& p : p0.all()) {
    local_total += p.value_numel();
    if (p.name.starts_with("layers.") && !p.name.starts_with("layers.0.")) continue;
    out += fmt::format("  {:<34} full ({:>6}, {:>6})  local {:<16} {}\n", p.name, p.full_rows, p.full_cols,
                       p.local_shape().str(),
                       p.kind == ShardKind::rows ? "rows split" : p.kind == ShardKind::cols ? "cols split" : "replicated");
  }
  if (m.n_layers > 1) out += fmt::format("  (layers 1..{} as layer 0)\n", m.n_layers - 1);
  out += fmt::format("parameters per rank: {}\n", thousands(local_total));
  const MemoryPrediction mem = predict_memory(m, dims, c.dp_shard, c.batch, c.recompute, c.loss_chunk);
  out += fmt::format("predicted memory per rank (MiB; --dp-shard {}, --recompute {}{}, batch {}):\n",
                     dp_shard_name(c.dp_shard), c.recompute ? "block" : "none", dims.sp() ? ", --sp" : "", c.batch);
  for (int k = 0; k < kNumMemCategories; ++k) {
    const auto cat = static_cast<MemCategory>(k);
    if (mem.peak(cat) == 0) continue;
    out += fmt::format("  {:<20} held {:>10}   peak {:>10}\n", mem_category_name(cat), mib(mem.held(cat)), mib(mem.peak(cat)));
  }
  out += fmt::format("  {:<20} {:>26}\n", "total peak (bound)", mib(mem.total_peak()));
  const int64_t tokens = c.batch * dp * m.seq;
  out += fmt::format("FLOPs per step: {:.4e} ({} tokens: 3 x (2 x {} matmul params + 4 x seq x dim x layers) per token)\n",
                     model_flops_per_step(m, tokens), tokens, thousands(matmul_parameter_count(m)));
  return out;
}

nlohmann::json train_config_json(const TrainConfig& c, const ParallelDims& dims, const MachineInfo& m,
                                 const std::string& data) {
  const ModelConfig& mc = c.model;
  return {{"schema", "tpbench.train.config/1"},
          {"preset", c.preset},
          {"model", {{"dim", mc.dim}, {"n_layers", mc.n_layers}, {"n_heads", mc.n_heads}, {"n_kv_heads", mc.n_kv_heads},
                     {"ffn_hidden", mc.ffn_hidden}, {"vocab", mc.vocab}, {"seq", mc.seq}, {"norm_eps", mc.norm_eps},
                     {"rope_theta", mc.rope_theta}, {"parameters", parameter_count(mc)}}},
          {"mesh", {{"world_size", dims.world()}, {"tp", dims.tp()}, {"dp", dims.dp()}, {"sp", dims.sp()}}},
          {"device", std::string(device_name(c.placement.device))},
          {"dtype", std::string(dtype_name(c.placement.compute))},
          {"training", {{"batch_per_dp_rank", c.batch}, {"iters", c.iters}, {"warmup_iters", c.warmup_iters},
                        {"lr", c.opt.lr}, {"lr_warmup", c.opt.lr_warmup}, {"min_lr_ratio", c.opt.min_lr_ratio},
                        {"weight_decay", c.opt.weight_decay}, {"grad_clip", c.opt.grad_clip}, {"seed", c.seed},
                        {"dp_overlap", c.dp_overlap}, {"bucket_mb", c.bucket_mb}, {"loss_chunk", c.loss_chunk},
                        {"loss_chunk_rows", loss_chunk_rows(c.loss_chunk, c.batch * mc.seq, mc.vocab / dims.tp())}}},
          {"data", {{"kind", c.data.kind}, {"path", c.data.path}, {"seed", c.data.seed}, {"description", data}}},
          {"checkpoint", {{"save_dir", c.save_dir}, {"save_every", c.save_every}, {"resume_from", c.resume_from},
                          {"init_from", c.init_from}}},
          {"machine", to_json(m)}};
}

std::string train_metrics_lines(const std::vector<IterRecord>& ranks_of_one_iter) {
  std::string out;
  for (size_t rank = 0; rank < ranks_of_one_iter.size(); ++rank) {
    nlohmann::json j = record_json(kIterRecordFields, ranks_of_one_iter[rank]);
    j["rank"] = rank;
    out += j.dump() + "\n";  // a NaN or infinite value is written as null (JSON has neither)
  }
  return out;
}

std::string train_metrics_jsonl(const TrainResult& r) {
  std::string out;
  const size_t iters = r.per_rank.empty() ? 0 : r.per_rank[0].size();
  for (size_t i = 0; i < iters; ++i) {
    std::vector<IterRecord> step;
    for (const auto& rank : r.per_rank) step.push_back(rank.at(i));
    out += train_metrics_lines(step);
  }
  return out;
}

nlohmann::json train_summary_json(const TrainSummary& s) {
  auto st = [](const Stats& x, double scale) {
    return nlohmann::json{{"min", x.min * scale}, {"median", x.median * scale}, {"p95", x.p95 * scale},
                          {"max", x.max * scale}, {"mean", x.mean * scale}};
  };
  nlohmann::json mem = nlohmann::json::object();
  for (int k = 0; k < kNumMemCategories; ++k)
    mem[std::string(mem_category_name(static_cast<MemCategory>(k)))] = st(s.mem_peak[static_cast<size_t>(k)], 1.0);
  mem["total"] = st(s.mem_total_peak, 1.0);
  nlohmann::json tp_by_collective = nlohmann::json::object();
  for (size_t k = 0; k < kTpCollectives.size(); ++k) {
    const TrainSummary::CollectiveStats& c = s.tp_by_collective[k];
    tp_by_collective[kTpCollectives[k]] = {{"calls_per_step", c.calls_per_step},
                                           {"bytes_per_step", c.bytes_per_step},
                                           {"comm_ms", st(c.comm, 1e3)},
                                           {"wait_ms", st(c.wait, 1e3)},
                                           {"transfer_ms", st(c.transfer, 1e3)}};
  }
  nlohmann::json held = nlohmann::json::object(), predicted_held = nlohmann::json::object(),
                 predicted_peak = nlohmann::json::object();
  for (int k = 0; k < kNumMemCategories; ++k) {
    const auto cat = static_cast<MemCategory>(k);
    const std::string name(mem_category_name(cat));
    held[name] = st(s.mem_held[static_cast<size_t>(k)], 1.0);
    predicted_held[name] = s.predicted.held(cat);
    predicted_peak[name] = s.predicted.peak(cat);
  }
  return {{"schema", "tpbench.train.summary/1"},
          {"status", s.status},
          {"interrupted", s.status == "interrupted"},
          {"diverged", s.status == "diverged"},
          {"stop_reason", s.stop_reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.stop_reason)},
          {"iters_done", s.iters_done},
          {"iters_planned", s.iters_planned},
          {"timed_iters", s.timed_iters},
          {"device", s.device},
          {"dtype", s.dtype},
          {"device_description", s.device_description},
          {"dense_peak_flops", s.dense_peak_flops},
          {"mfu_dense_peak", s.mfu_dense},
          {"device_peak_bytes", st(s.device_peak, 1.0)},
          {"step_ms", st(s.dt, 1e3)},
          {"forward_ms", st(s.dtf, 1e3)},
          {"backward_ms", st(s.dtb, 1e3)},
          {"optimizer_ms", st(s.opt, 1e3)},
          {"tp_crosses_hosts", s.tp_crosses_hosts},
          {"dp_crosses_hosts", s.dp_crosses_hosts},
          {"tp_comm_ms", st(s.tp_comm, 1e3)},
          {"tp_wait_ms", st(s.tp_wait, 1e3)},
          {"tp_transfer_ms", st(s.tp_transfer, 1e3)},
          {"tp_by_collective", tp_by_collective},
          {"dp_comm_ms", st(s.dp_comm, 1e3)},
          {"dp_wait_ms", st(s.dp_wait, 1e3)},
          {"dp_transfer_ms", st(s.dp_transfer, 1e3)},
          {"tokens_per_step", s.tokens_per_step},
          {"tokens_per_s", s.tokens_per_s},
          {"flops_per_step", s.flops_per_step},
          {"model_flops_per_s", s.model_flops_per_s},
          {"gemm_peak_flops_per_rank", s.gemm_peak_flops},
          {"mfu", s.mfu},
          {"loss_first", s.loss_first},
          {"loss_last", s.loss_last},
          {"peak_memory_bytes", mem},
          {"held_memory_bytes", held},
          {"predicted_memory_bytes", {{"dp_shard", s.dp_shard}, {"held", predicted_held}, {"peak", predicted_peak},
                                      {"total_peak", s.predicted.total_peak()}}},
          {"peak_rss_bytes", st(s.peak_rss, 1.0)},
          {"fsdp_gather_ms", st(s.gather_total, 1e3)},
          {"fsdp_gather_exposed_ms", st(s.gather_exposed, 1e3)}};
}

}  // namespace tpb
