#include "commbench/route_tune.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "base/clock.h"
#include "base/error.h"
#include "comm/mpi/mpi_communicator.h"
#include "commbench/comm_report.h"

namespace tpb {

namespace {

double mean_time(const SizeResult& s) { return 0.5 * (s.out_of_place.time_s + s.in_place.time_s); }

void use_policy(Communicator& group, std::optional<CollRoute> forced, const RouteTable& table) {
  auto p = std::make_shared<RoutePolicy>();
  p->forced = forced;
  p->table = table;
  group.set_route_policy(std::move(p));
}

// Per size: twice the slowest rank's time to copy the full buffer's bytes through shared
// memory to the next rank (the same rounds and syncs as the shared-memory collectives).
std::vector<double> measure_floor(const OpResult& sizes, const CommBenchConfig& c, Communicator& world,
                                  Communicator& group) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&group);
  TPB_CHECK(mpi != nullptr && mpi->shared_memory() != nullptr,
            "--tune-routes: the {} group is not within one node (the shared-memory floor needs it)", group.name());
  ShmCollectives& shm = *mpi->shared_memory();
  std::vector<double> floor;
  std::vector<char> in, out;
  for (const SizeResult& s : sizes.sizes) {
    in.assign(s.bytes, 1);
    out.assign(s.bytes, 0);
    for (int i = 0; i < c.warmup; ++i) shm.copy_ring(in.data(), out.data(), s.bytes);
    world.barrier();
    const int64_t t0 = now_ns();
    for (int i = 0; i < c.iters; ++i) shm.copy_ring(in.data(), out.data(), s.bytes);
    double mine = seconds_between(t0, now_ns()) / c.iters;
    double slowest = 0;
    world.all_reduce(&mine, &slowest, 1, DType::f64, ReduceOp::max);
    floor.push_back(2.0 * slowest);
  }
  world.log().clear();
  return floor;
}

}  // namespace

std::vector<RouteRule> rules_from_trials(const OpResult& mpi, const OpResult& shm) {
  TPB_CHECK(mpi.sizes.size() == shm.sizes.size() && !mpi.sizes.empty(),
            "rules_from_trials: {} sizes with mpi, {} with shm", mpi.sizes.size(), shm.sizes.size());
  std::vector<RouteRule> rules;
  for (size_t i = 0; i < mpi.sizes.size(); ++i) {
    const CollRoute best = mean_time(shm.sizes[i]) < mean_time(mpi.sizes[i]) ? CollRoute::shm : CollRoute::mpi;
    if (rules.empty()) {
      rules.push_back({INT64_MAX, best});
    } else if (rules.back().route != best) {
      rules.back().below_bytes = static_cast<int64_t>(mpi.sizes[i].bytes);
      rules.push_back({INT64_MAX, best});
    }
  }
  return rules;
}

std::vector<OpTuning> tune_routes(const CommBenchConfig& c, const GroupLayout& layout, Communicator& world,
                                  Communicator& group, RouteTable& table) {
  std::vector<OpTuning> out;
  for (CommOp op : c.ops) {
    if (route_key(op) != op || op == CommOp::all_to_all || op == CommOp::barrier) continue;
    OpTuning t;
    t.op = op;
    for (CollRoute r : {CollRoute::mpi, CollRoute::shm}) {
      use_policy(group, r, table);
      RouteTrial trial{std::string(coll_route_name(r)), run_comm_op(op, c, layout, world, group), std::nullopt};
      trial.fit = fit_op(trial.result);
      t.trials.push_back(std::move(trial));
    }
    t.floor_s = measure_floor(t.trials[0].result, c, world, group);
    t.rules = rules_from_trials(t.trials[0].result, t.trials[1].result);
    table.set(op, group.size(), t.rules);
    out.push_back(std::move(t));
  }
  table.source = "tuned";
  use_policy(group, std::nullopt, table);
  for (OpTuning& t : out) {
    RouteTrial trial{"auto", run_comm_op(t.op, c, layout, world, group), std::nullopt};
    trial.fit = fit_op(trial.result);
    t.trials.push_back(std::move(trial));
  }
  return out;
}

std::string format_tuning(const std::vector<OpTuning>& tunings, const CommBenchConfig& c, const GroupLayout& l) {
  std::string s = fmt::format(
      "#\n# route tuning on groups of {} ({}): time per call (us), the mean of out-of-place and in-place,\n"
      "# slowest rank; floor = 2 x a plain copy of the same bytes through shared memory to the next rank\n",
      l.size, dtype_name(c.dtype));
  for (const OpTuning& t : tunings) {
    s += fmt::format("#\n# {}\n#{:>11} {:>9} {:>9} {:>9} {:>6} {:>9} {:>8} {:>8}\n", comm_op_name(t.op), "size", "mpi",
                     "shm", "auto", "route", "floor", "mpi/auto", "auto/flr");
    for (size_t i = 0; i < t.floor_s.size(); ++i) {
      const SizeResult& m = t.trials[0].result.sizes[i];
      const SizeResult& h = t.trials[1].result.sizes[i];
      const SizeResult& a = t.trials[2].result.sizes[i];
      s += fmt::format("{:>12} {:>9} {:>9} {:>9} {:>6} {:>9} {:>8.2f} {:>8.2f}\n", m.bytes,
                       format_time_us(mean_time(m)), format_time_us(mean_time(h)), format_time_us(mean_time(a)),
                       coll_route_name(a.route), format_time_us(t.floor_s[i]), mean_time(m) / mean_time(a),
                       mean_time(a) / t.floor_s[i]);
    }
    for (const RouteTrial& r : t.trials)
      if (r.fit)
        s += fmt::format("#   fit {:>4}: alpha {:.2f} us, 1/beta {:.3f} GB/s (rms err {:.1f}%)\n", r.route,
                         r.fit->alpha_s * 1e6, r.fit->beta_s_per_byte > 0 ? 1e-9 / r.fit->beta_s_per_byte : 0.0,
                         r.fit->rms_rel_err * 100);
  }
  return s;
}

nlohmann::json tuning_json(const std::vector<OpTuning>& tunings, const GroupLayout& l) {
  nlohmann::json j = nlohmann::json::object();
  for (const OpTuning& t : tunings) {
    nlohmann::json trials = nlohmann::json::object();
    for (const RouteTrial& r : t.trials) {
      nlohmann::json times = nlohmann::json::array();
      for (const SizeResult& z : r.result.sizes)
        times.push_back({{"bytes", z.bytes}, {"route", coll_route_name(z.route)},
                         {"out_of_place_us", z.out_of_place.time_s * 1e6}, {"in_place_us", z.in_place.time_s * 1e6}});
      trials[r.route] = {{"fit", r.fit ? fit_json(*r.fit, t.op, l.size) : nlohmann::json(nullptr)}, {"sizes", times}};
    }
    nlohmann::json floor = nlohmann::json::array();
    for (double f : t.floor_s) floor.push_back(f * 1e6);
    j[std::string(comm_op_name(t.op))] = {{"floor_us", floor}, {"trials", trials}};
  }
  return j;
}

}  // namespace tpb
