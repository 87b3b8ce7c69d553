#include "linear/linear_report.h"

#include <fmt/format.h>

#include <algorithm>

namespace tpb {

double linear_flops_per_step(const LinearConfig& c) {
  return 6.0 * static_cast<double>(c.batch) * static_cast<double>(c.in_features) *
         static_cast<double>(c.out_features);
}

LinearSummary summarize_linear_run(const LinearRun& run, const LinearConfig& c) {
  LinearSummary s;
  s.mode = run.mode;
  const size_t iters = run.per_rank.empty() ? 0 : run.per_rank[0].size();
  std::vector<double> step_slowest(iters, 0.0), bytes;
  for (const auto& rank : run.per_rank)
    for (size_t i = 0; i < iters; ++i) step_slowest[i] = std::max(step_slowest[i], rank[i].step);
  s.step = summarize(step_slowest);
  const auto& ranks = run.per_rank;
  s.forward = over_ranks(ranks, member<&IterPhases::forward>);
  s.backward = over_ranks(ranks, member<&IterPhases::backward>);
  s.optimizer = over_ranks(ranks, member<&IterPhases::optimizer>);
  s.comm = over_ranks(ranks, member<&IterPhases::comm, &CommSums::seconds>);
  s.wait = over_ranks(ranks, member<&IterPhases::comm, &CommSums::wait>);
  s.transfer = over_ranks(ranks, member<&IterPhases::comm, &CommSums::transfer>);
  s.comm_bytes_per_step = over_ranks(ranks, member<&IterPhases::comm, &CommSums::bytes>).median;
  s.compute = over_ranks(ranks, [](const IterPhases& p) { return p.step - p.comm.seconds; });
  s.samples_per_s = s.step.median > 0 ? static_cast<double>(c.batch) / s.step.median : 0;
  s.gflop_per_s = s.step.median > 0 ? linear_flops_per_step(c) / s.step.median * 1e-9 : 0;
  s.floor_seconds = run.floor_seconds;
  s.floor_concurrent_seconds = run.floor_concurrent_seconds;
  return s;
}

std::string format_linear_header(const LinearConfig& c, int world_size) {
  std::string h = fmt::format(
      "tpbench linear: in {} x out {}, batch {}, {} rank{}, fp32, SGD lr {}, seed {}, {} warm-up + {} "
      "timed iterations\n",
      c.in_features, c.out_features, c.batch, world_size, world_size == 1 ? "" : "s", c.lr, c.seed,
      c.warmup, c.iters);
  h += "  row    = W[out, in] split by output features = column-parallel (Megatron "
       "ColumnParallelLinear, PyTorch ColwiseParallel)\n";
  h += "  column = W[out, in] split by input features  = row-parallel (Megatron "
       "RowParallelLinear, PyTorch RowwiseParallel)\n";
  return h;
}

namespace {

std::string ms(double s) { return fmt::format("{:.3f}", s * 1e3); }
std::string spread(const Stats& st) {  // min / median / max over ranks, in ms
  return fmt::format("{} / {} / {}", ms(st.min), ms(st.median), ms(st.max));
}
std::string human_bytes(double b) {
  if (b >= 1 << 20) return fmt::format("{:.2f} MiB", b / (1 << 20));
  if (b >= 1 << 10) return fmt::format("{:.1f} KiB", b / (1 << 10));
  return fmt::format("{:.0f} B", b);
}

// What the measured numbers say about column vs row, in one line.
std::string reading(const LinearSummary& row, const LinearSummary& col) {
  const double ratio = col.step.median / row.step.median;
  const double dstep = col.step.median - row.step.median;
  const double dcomm = col.comm.median - row.comm.median;
  const double dcompute = dstep - dcomm;
  const char* faster = dstep > 0 ? "row" : "column";
  return fmt::format(
      "column/row step-time ratio {:.2f}: {} is faster by {:.3f} ms a step, of which "
      "communication accounts for {:+.3f} ms (column moves {} a step, row {}; column waits {:.3f} "
      "ms, row {:.3f} ms) and everything else for {:+.3f} ms.",
      ratio, faster, std::abs(dstep) * 1e3, (dstep > 0 ? dcomm : -dcomm) * 1e3,
      human_bytes(col.comm_bytes_per_step), human_bytes(row.comm_bytes_per_step),
      col.wait.median * 1e3, row.wait.median * 1e3, (dstep > 0 ? dcompute : -dcompute) * 1e3);
}

}  // namespace

std::string format_linear_table(const std::vector<LinearSummary>& s) {
  std::string out;
  auto line = [&](const std::string& label, auto cell) {
    out += fmt::format("  {:<36}", label);
    for (const auto& x : s) out += fmt::format("{:>34}", cell(x));
    out += "\n";
  };
  line("", [](const LinearSummary& x) { return linear_mode_name(x.mode); });
  line("", [](const LinearSummary& x) {
    return x.mode == LinearMode::row ? std::string("(column-parallel)") : std::string("(row-parallel)");
  });
  line("step ms, median", [](const LinearSummary& x) { return ms(x.step.median); });
  line("step ms, p95 / min / max", [](const LinearSummary& x) {
    return fmt::format("{} / {} / {}", ms(x.step.p95), ms(x.step.min), ms(x.step.max));
  });
  out += "  per-rank medians, min / median / max over ranks:\n";
  line("  forward ms", [](const LinearSummary& x) { return spread(x.forward); });
  line("  backward ms", [](const LinearSummary& x) { return spread(x.backward); });
  line("  optimizer ms", [](const LinearSummary& x) { return spread(x.optimizer); });
  line("  compute (step - communication) ms", [](const LinearSummary& x) { return spread(x.compute); });
  line("  communication ms", [](const LinearSummary& x) { return spread(x.comm); });
  line("    wait (for last rank) ms", [](const LinearSummary& x) { return spread(x.wait); });
  line("    transfer ms", [](const LinearSummary& x) { return spread(x.transfer); });
  line("bytes communicated / step / rank", [](const LinearSummary& x) { return human_bytes(x.comm_bytes_per_step); });
  line("samples/s", [](const LinearSummary& x) { return fmt::format("{:.0f}", x.samples_per_s); });
  line("GFLOP/s (6*B*in*out / step)", [](const LinearSummary& x) { return fmt::format("{:.2f}", x.gflop_per_s); });
  out += "  floor: the step's own GEMMs + SGD, no communication, between the timed steps:\n";
  line("  rank 0 alone, ms", [](const LinearSummary& x) { return ms(x.floor_seconds); });
  line("  all ranks at once (slowest), ms", [](const LinearSummary& x) { return ms(x.floor_concurrent_seconds); });
  line("step / floor (alone, at once)", [](const LinearSummary& x) {
    auto r = [&](double f) { return f > 0 ? x.step.median / f : 0.0; };
    return fmt::format("{:.2f}, {:.2f}", r(x.floor_seconds), r(x.floor_concurrent_seconds));
  });
  const auto row = std::find_if(s.begin(), s.end(), [](const auto& x) { return x.mode == LinearMode::row; });
  const auto col = std::find_if(s.begin(), s.end(), [](const auto& x) { return x.mode == LinearMode::column; });
  if (row != s.end() && col != s.end()) out += "\n" + reading(*row, *col) + "\n";
  return out;
}

std::string format_linear_verify(LinearMode mode, const LinearVerify& v, double tolerance) {
  std::string out = fmt::format("verify {}: {} against the serial layer (tolerance {:.0e} relative)\n",
                                linear_mode_name(mode), v.passed(tolerance) ? "PASSED" : "FAILED", tolerance);
  for (const auto& e : v.errors)
    out += fmt::format("  {:<14} max abs error {:.3e}   max rel error {:.3e}{}\n", e.what, e.max_abs,
                       e.max_rel, e.max_rel <= tolerance ? "" : "   <-- beyond tolerance");
  out += fmt::format("  inputs and targets identical on every rank: {}\n", v.inputs_identical ? "yes" : "NO");
  out += fmt::format("  parameters moved by the step: {} of {}; {} did not move although the serial step "
                     "moves them{}; {} too small an update to change in fp32 (same in the serial layer)\n",
                     v.weights_total - v.weights_stuck - v.weights_below_resolution, v.weights_total,
                     v.weights_stuck, v.weights_stuck ? " <-- GRADIENTS DID NOT FLOW" : "",
                     v.weights_below_resolution);
  return out;
}

namespace {

nlohmann::json stats_json(const Stats& s, double scale) {
  return {{"min", s.min * scale}, {"median", s.median * scale}, {"p95", s.p95 * scale},
          {"max", s.max * scale}, {"mean", s.mean * scale}};
}

}  // namespace

nlohmann::json linear_results_json(const LinearConfig& c, int world_size, const MachineInfo& m,
                                   const std::vector<LinearRun>& runs,
                                   const std::vector<LinearSummary>& summaries,
                                   const std::vector<std::optional<LinearVerify>>& verifies) {
  nlohmann::json j;
  j["schema"] = "tpbench.linear/1";
  std::vector<std::string> modes;
  for (auto md : c.modes) modes.push_back(linear_mode_name(md));
  j["config"] = {{"in_features", c.in_features}, {"out_features", c.out_features}, {"batch", c.batch},
                 {"iters", c.iters},            {"warmup", c.warmup},             {"lr", c.lr},
                 {"seed", c.seed},              {"modes", modes},                 {"world_size", world_size},
                 {"dtype", "fp32"},             {"flops_per_step", linear_flops_per_step(c)},
                 {"device", c.device}};
  j["machine"] = to_json(m);
  j["modes"] = nlohmann::json::object();
  for (size_t k = 0; k < runs.size(); ++k) {
    const LinearSummary& s = summaries[k];
    nlohmann::json mode;
    mode["field_name"] = linear_mode_field_name(s.mode);
    mode["summary"] = {{"step_ms", stats_json(s.step, 1e3)},
                       {"forward_ms", stats_json(s.forward, 1e3)},
                       {"backward_ms", stats_json(s.backward, 1e3)},
                       {"optimizer_ms", stats_json(s.optimizer, 1e3)},
                       {"comm_ms", stats_json(s.comm, 1e3)},
                       {"compute_ms", stats_json(s.compute, 1e3)},
                       {"wait_ms", stats_json(s.wait, 1e3)},
                       {"transfer_ms", stats_json(s.transfer, 1e3)},
                       {"comm_bytes_per_step", s.comm_bytes_per_step},
                       {"samples_per_s", s.samples_per_s},
                       {"gflop_per_s", s.gflop_per_s},
                       {"floor_ms", s.floor_seconds * 1e3},
                       {"floor_concurrent_ms", s.floor_concurrent_seconds * 1e3}};
    nlohmann::json ranks = nlohmann::json::array();
    for (size_t r = 0; r < runs[k].per_rank.size(); ++r) {
      nlohmann::json iters = nlohmann::json::array();
      for (const IterPhases& p : runs[k].per_rank[r]) iters.push_back(record_json(kIterPhaseFields, p));
      ranks.push_back({{"rank", r}, {"iterations", iters}});
    }
    mode["ranks"] = ranks;
    if (verifies[k]) {
      const LinearVerify& v = *verifies[k];
      nlohmann::json errs = nlohmann::json::object();
      for (const auto& e : v.errors) errs[e.what] = {{"max_abs", e.max_abs}, {"max_rel", e.max_rel}};
      mode["verify"] = {{"errors", errs},
                        {"inputs_identical", v.inputs_identical},
                        {"weights_stuck", v.weights_stuck},
                        {"weights_below_resolution", v.weights_below_resolution},
                        {"weights_total", v.weights_total}};
    }
    j["modes"][linear_mode_name(s.mode)] = mode;
  }
  return j;
}

}  // namespace tpb
