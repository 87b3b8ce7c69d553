#include "commbench/comm_report.h"

#include <fmt/format.h>

#include <cmath>

#include "comm/parallel_dims.h"
#include "commbench/bench_op.h"
#include "commbench/sizes.h"

namespace tpb {

namespace {

// nccl-tests' row: size count type redop root | time algbw busbw #wrong | (in-place), and
// the route that moved the calls (comm/coll_route.h).
constexpr const char* kRow =
    "{:>12} {:>12} {:>8} {:>6} {:>6}  {:>7} {:>6} {:>6} {:>6}  {:>7} {:>6} {:>6} {:>6}  {:>5}\n";
constexpr const char* kHeadRow =
    "#{:>11} {:>12} {:>8} {:>6} {:>6}  {:>7} {:>6} {:>6} {:>6}  {:>7} {:>6} {:>6} {:>6}  {:>5}\n";

std::string format_wrong(int64_t wrong, const CommBenchConfig& c) {
  return c.check > 0 ? fmt::format("{}", wrong) : "N/A";
}

std::string redop_name(CommOp op) { return op_reduces(op) ? "sum" : "none"; }

int root_shown(CommOp op, const CommBenchConfig& c) { return op_has_root(op) ? c.root : -1; }

std::string factor_formula(CommOp op) {
  switch (op) {
    case CommOp::all_reduce: return "2(n-1)/n";
    case CommOp::broadcast: return "1";
    default: return "(n-1)/n";
  }
}

nlohmann::json variant_json(const VariantResult& v, CommOp op, int n, size_t bytes, const CommBenchConfig& c) {
  nlohmann::json groups = nlohmann::json::array();
  for (double t : v.group_time_s) groups.push_back(t * 1e6);
  nlohmann::json j = {{"time_us", v.time_s * 1e6},
                      {"algbw_gbps", algbw_gbps(bytes, v.time_s)},
                      {"busbw_gbps", busbw_gbps(op, n, bytes, v.time_s)},
                      {"group_time_us", groups}};
  j["wrong"] = c.check > 0 ? nlohmann::json(v.wrong) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json split_json(const RankSplit& s) {
  return {{"time_us", s.time_s * 1e6}, {"wait_us", s.wait_s * 1e6}, {"transfer_us", s.transfer_s * 1e6}};
}

}  // namespace

// Microseconds with as many decimals as fit seven characters, as nccl-tests prints them.
std::string format_time_us(double seconds) {
  const double us = seconds * 1e6;
  if (us >= 10000.0) return fmt::format("{:.0f}", us);
  if (us >= 100.0) return fmt::format("{:.1f}", us);
  return fmt::format("{:.2f}", us);
}

nlohmann::json fit_json(const AlphaBetaFit& f, CommOp op, int n) {
  nlohmann::json points = nlohmann::json::array();
  for (const FitPoint& p : f.points) points.push_back({{"bytes", p.bytes}, {"time_s", p.time_s}});
  const double bw = f.beta_s_per_byte > 0 ? 1.0 / f.beta_s_per_byte : INFINITY;
  return {{"alpha_s", f.alpha_s},
          {"beta_s_per_byte", f.beta_s_per_byte},
          {"bandwidth_gbps", std::isfinite(bw) ? nlohmann::json(bw * 1e-9) : nlohmann::json(nullptr)},
          {"busbw_gbps", std::isfinite(bw) ? nlohmann::json(bw * bus_bandwidth_factor(op, n) * 1e-9)
                                           : nlohmann::json(nullptr)},
          {"rms_rel_err", f.rms_rel_err},
          {"max_rel_err", f.max_rel_err},
          {"points", points}};
}


double algbw_gbps(size_t bytes, double time_s) {
  return time_s > 0 ? static_cast<double>(bytes) / time_s * 1e-9 : 0.0;
}

double busbw_gbps(CommOp op, int n, size_t bytes, double time_s) {
  return algbw_gbps(bytes, time_s) * bus_bandwidth_factor(op, n);
}

double average_busbw_gbps(const OpResult& r, int n) {
  double sum = 0;
  size_t rows = 0;
  for (const SizeResult& s : r.sizes) {
    sum += busbw_gbps(r.op, n, s.bytes, s.out_of_place.time_s);
    sum += busbw_gbps(r.op, n, s.bytes, s.in_place.time_s);
    rows += 2;
  }
  return rows > 0 ? sum / static_cast<double>(rows) : 0.0;
}

int64_t total_wrong(const std::vector<OpResult>& results) {
  int64_t wrong = 0;
  for (const OpResult& r : results)
    for (const SizeResult& s : r.sizes) wrong += s.out_of_place.wrong + s.in_place.wrong;
  return wrong;
}

std::string format_comm_header(const CommBenchConfig& c, const GroupLayout& l, int world_size) {
  std::vector<std::string> ops;
  for (CommOp op : c.ops) ops.emplace_back(comm_op_name(op));
  std::string s = fmt::format(
      "# tpbench comm: nccl-tests-style table. size = bytes of the full buffer, time = per call, "
      "slowest rank (us),\n# algbw = size / time, busbw = algbw x factor (GB/s = 1e9 B/s; "
      "docs/metrics.md)\n");
  s += fmt::format(
      "# ops {}, {} ranks, dtype {}, sizes {} to {} step x{}, warmup {}, iters {}, check {}\n",
      fmt::join(ops, ", "), world_size, dtype_name(c.dtype), format_size(c.min_bytes),
      format_size(c.max_bytes), c.step_factor, c.warmup, c.iters, c.check);
  s += fmt::format("# groups: {} of size {}: {}{}\n", l.name, l.size, format_groups(l.groups),
                   l.groups.size() > 1 ? " (all at once; each row reports the slowest group)" : "");
  return s;
}

std::string format_comm_table(const OpResult& r, const CommBenchConfig& c, const GroupLayout& l) {
  std::string s = fmt::format("#\n# {} (busbw factor {} = {:.3f})\n", comm_op_name(r.op),
                              factor_formula(r.op), bus_bandwidth_factor(r.op, l.size));
  s += fmt::format("#{:>47}  {:^28}  {:^28}\n", "", "out-of-place", "in-place");
  s += fmt::format(kHeadRow, "size", "count", "type", "redop", "root", "time", "algbw", "busbw",
                   "#wrong", "time", "algbw", "busbw", "#wrong", "route");
  s += fmt::format(kHeadRow, "(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "",
                   "(us)", "(GB/s)", "(GB/s)", "", "");
  int64_t wrong = 0;
  for (const SizeResult& z : r.sizes) {
    const VariantResult& a = z.out_of_place;
    const VariantResult& b = z.in_place;
    s += fmt::format(kRow, z.bytes, z.count, dtype_name(c.dtype), redop_name(r.op),
                     root_shown(r.op, c), format_time_us(a.time_s),
                     fmt::format("{:.2f}", algbw_gbps(z.bytes, a.time_s)),
                     fmt::format("{:.2f}", busbw_gbps(r.op, l.size, z.bytes, a.time_s)),
                     format_wrong(a.wrong, c), format_time_us(b.time_s),
                     fmt::format("{:.2f}", algbw_gbps(z.bytes, b.time_s)),
                     fmt::format("{:.2f}", busbw_gbps(r.op, l.size, z.bytes, b.time_s)),
                     format_wrong(b.wrong, c), coll_route_name(z.route));
    wrong += a.wrong + b.wrong;
  }
  s += fmt::format("# Out of bounds values : {} {}\n", wrong, wrong == 0 ? "OK" : "FAILED");
  s += fmt::format("# Avg bus bandwidth    : {:.4f}\n", average_busbw_gbps(r, l.size));
  return s;
}

std::string format_group_times(const OpResult& r, const GroupLayout& l) {
  if (l.groups.size() < 2) return "";
  std::string names;
  for (const auto& g : l.groups) names += fmt::format(" {:>12}", fmt::format("[{}]", fmt::join(g, ",")));
  std::string s = fmt::format("# {}: each {} group's slowest rank, time (us), out-of-place | in-place\n",
                              comm_op_name(r.op), l.name);
  s += fmt::format("#{:>11}{} |{}\n", "size", names, names);
  for (const SizeResult& z : r.sizes) {
    std::string a, b;
    for (double t : z.out_of_place.group_time_s) a += fmt::format(" {:>12}", format_time_us(t));
    for (double t : z.in_place.group_time_s) b += fmt::format(" {:>12}", format_time_us(t));
    s += fmt::format("{:>12}{} |{}\n", z.bytes, a, b);
  }
  return s;
}

std::string format_per_rank(const OpResult& r, const CommBenchConfig& c, const GroupLayout& l) {
  if (r.sizes.empty() || r.sizes.front().ranks.empty()) return "";
  std::string s = fmt::format(
      "# {} per rank: median over the {} timed calls (us). wait = until the last rank of the {} "
      "group entered\n# (common clock), transfer = the rest: a rank that arrives last waits least.\n",
      comm_op_name(r.op), c.iters, l.name);
  s += fmt::format("#{:>11} {:>5} {:>5}  {:^26}  {:^26}\n", "", "", "", "out-of-place", "in-place");
  s += fmt::format("#{:>11} {:>5} {:>5}  {:>8} {:>8} {:>8}  {:>8} {:>8} {:>8}\n", "size", "rank",
                   "group", "time", "wait", "transfer", "time", "wait", "transfer");
  for (const SizeResult& z : r.sizes)
    for (const RankView& v : z.ranks)
      s += fmt::format("{:>12} {:>5} {:>5}  {:>8} {:>8} {:>8}  {:>8} {:>8} {:>8}\n", z.bytes, v.rank,
                       v.group, format_time_us(v.out_of_place.time_s),
                       format_time_us(v.out_of_place.wait_s),
                       format_time_us(v.out_of_place.transfer_s), format_time_us(v.in_place.time_s),
                       format_time_us(v.in_place.wait_s), format_time_us(v.in_place.transfer_s));
  return s;
}

std::string format_fits(const std::vector<OpResult>& results,
                        const std::vector<std::optional<AlphaBetaFit>>& fits, const GroupLayout& l) {
  std::string s =
      "#\n# alpha-beta fit of the out-of-place times: time = alpha + beta * size, least squares on "
      "the relative error\n";
  s += fmt::format("#{:>15} {:>10} {:>13} {:>12} {:>8} {:>8} {:>7}\n", "op", "alpha(us)",
                   "1/beta(GB/s)", "busbw(GB/s)", "rms err", "max err", "points");
  for (size_t k = 0; k < results.size(); ++k) {
    const CommOp op = results[k].op;
    if (!fits[k]) {
      s += fmt::format("{:>16} needs at least two sizes\n", comm_op_name(op));
      continue;
    }
    const AlphaBetaFit& f = *fits[k];
    const double bw = f.beta_s_per_byte > 0 ? 1e-9 / f.beta_s_per_byte : INFINITY;
    s += fmt::format("{:>16} {:>10.2f} {:>13.3f} {:>12.3f} {:>7.1f}% {:>7.1f}% {:>7}\n",
                     comm_op_name(op), f.alpha_s * 1e6, bw, bw * bus_bandwidth_factor(op, l.size),
                     f.rms_rel_err * 100, f.max_rel_err * 100, f.points.size());
  }
  return s;
}

nlohmann::json comm_results_json(const CommBenchConfig& c, const GroupLayout& l, int world_size,
                                 const MachineInfo& machine, const std::vector<OpResult>& results,
                                 const std::vector<std::optional<AlphaBetaFit>>& fits) {
  nlohmann::json ops = nlohmann::json::array();
  for (size_t k = 0; k < results.size(); ++k) {
    const OpResult& r = results[k];
    nlohmann::json sizes = nlohmann::json::array();
    for (const SizeResult& z : r.sizes) {
      nlohmann::json row = {{"requested_bytes", z.requested_bytes},
                            {"bytes", z.bytes},
                            {"count", z.count},
                            {"route", coll_route_name(z.route)},
                            {"out_of_place", variant_json(z.out_of_place, r.op, l.size, z.bytes, c)},
                            {"in_place", variant_json(z.in_place, r.op, l.size, z.bytes, c)}};
      if (!z.ranks.empty()) {
        nlohmann::json ranks = nlohmann::json::array();
        for (const RankView& v : z.ranks)
          ranks.push_back({{"rank", v.rank}, {"group", v.group},
                           {"out_of_place", split_json(v.out_of_place)},
                           {"in_place", split_json(v.in_place)}});
        row["per_rank"] = ranks;
      }
      sizes.push_back(row);
    }
    ops.push_back({{"op", comm_op_name(r.op)},
                   {"redop", redop_name(r.op)},
                   {"root", root_shown(r.op, c)},
                   {"busbw_factor", bus_bandwidth_factor(r.op, l.size)},
                   {"avg_busbw_gbps", average_busbw_gbps(r, l.size)},
                   {"sizes", sizes},
                   {"fit", fits[k] ? fit_json(*fits[k], r.op, l.size) : nlohmann::json(nullptr)}});
  }
  std::vector<std::string> names;
  for (CommOp op : c.ops) names.emplace_back(comm_op_name(op));
  nlohmann::json config = {{"ops", names},
                           {"min_bytes", c.min_bytes},
                           {"max_bytes", c.max_bytes},
                           {"step_factor", c.step_factor},
                           {"iters", c.iters},
                           {"warmup", c.warmup},
                           {"check", c.check},
                           {"dtype", dtype_name(c.dtype)},
                           {"device", c.device},
                           {"root", c.root},
                           {"per_rank", c.per_rank},
                           {"world_size", world_size},
                           {"tp", c.tp ? nlohmann::json(*c.tp) : nlohmann::json(nullptr)},
                           {"group", l.name},
                           {"group_size", l.size},
                           {"groups", l.groups}};
  return {{"schema", "tpbench.comm/1"},
          {"config", config},
          {"machine", to_json(machine)},
          {"ops", ops},
          {"wrong_total", total_wrong(results)}};
}

CostModel make_cost_model(const CommBenchConfig& c, const GroupLayout& l, int world_size,
                          const MachineInfo& machine, const std::vector<OpResult>& results,
                          const std::vector<std::optional<AlphaBetaFit>>& fits) {
  CostModel m;
  m.machine = to_json(machine);
  m.world_size = world_size;
  m.group = l.name;
  m.group_size = l.size;
  m.dtype = c.dtype;
  for (size_t k = 0; k < results.size(); ++k)
    if (fits[k]) m.ops[results[k].op] = *fits[k];
  return m;
}

}  // namespace tpb
