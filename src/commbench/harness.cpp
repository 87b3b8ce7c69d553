#include "commbench/harness.h"

#include <algorithm>

#include "base/clock.h"
#include "base/error.h"
#include "comm/arrival.h"
#include "commbench/bench_op.h"
#include "commbench/check_values.h"
#include "commbench/collective_call.h"
#include "commbench/sizes.h"
#include "device/device.h"
#include "report/stats.h"

namespace tpb {

namespace {

// What one rank measured for one size, before the ranks exchange it.
struct LocalVariant {
  double block_s = 0;  // per call
  int64_t wrong = 0;
  std::vector<CommRecord> timed;  // the CommLog records of the timed calls
};

// `call` uses the collectives' buffers, `host` the host view of the same offsets (the same
// call without --device cuda).
LocalVariant run_variant(const CollectiveCall& call, const CollectiveCall& host, BenchBuffers& buffers,
                         const CommBenchConfig& c, Communicator& world, Communicator& group) {
  LocalVariant v;
  fill_check_values(host, group.rank(), group.size());
  buffers.upload();
  for (int i = 0; i < c.warmup; ++i) issue(group, call);
  world.barrier();
  const size_t first = world.log().records().size();
  device::synchronize();
  const int64_t t0 = now_ns();
  for (int i = 0; i < c.iters; ++i) issue(group, call);
  device::synchronize();
  const int64_t t1 = now_ns();
  v.block_s = seconds_between(t0, t1) / c.iters;
  v.timed = world.log().since(first);
  TPB_CHECK(v.timed.size() == static_cast<size_t>(c.iters),
            "{}: {} records for {} timed calls", comm_op_name(call.op), v.timed.size(), c.iters);
  if (c.check > 0) {
    fill_check_values(host, group.rank(), group.size());
    buffers.upload();
    issue(group, call);
    buffers.download();
    v.wrong = count_wrong(host, group.rank(), group.size());
  }
  return v;
}

RankSplit median_split(const std::vector<CommTiming>& t, size_t first, size_t last) {
  std::vector<double> time, wait, transfer;
  for (size_t i = first; i < last; ++i) {
    time.push_back(seconds_between(t[i].record.start_ns, t[i].record.end_ns));
    wait.push_back(static_cast<double>(t[i].wait_ns) * 1e-9);
    transfer.push_back(static_cast<double>(t[i].transfer_ns) * 1e-9);
  }
  return {summarize(time).median, summarize(wait).median, summarize(transfer).median};
}

// Per rank, in this order: block time and #wrong of both variants, then (per_rank) the
// median time, wait and transfer of both.
constexpr size_t kBasicFields = 4;

SizeResult run_size(CommOp op, size_t bytes, const CommBenchConfig& c, const GroupLayout& layout,
                    Communicator& world, Communicator& group, BenchBuffers& buffers) {
  SizeResult s;
  s.requested_bytes = bytes;
  s.count = op_element_count(op, bytes, c.dtype, group.size());
  s.bytes = s.count * dtype_size(c.dtype);
  buffers.resize(s.count, c.dtype);
  const LocalVariant oop =
      run_variant(make_call(op, c.dtype, s.count, false, c.root, group, buffers),
                  make_call(op, c.dtype, s.count, false, c.root, group, buffers, true), buffers, c, world, group);
  const LocalVariant ip =
      run_variant(make_call(op, c.dtype, s.count, true, c.root, group, buffers),
                  make_call(op, c.dtype, s.count, true, c.root, group, buffers, true), buffers, c, world, group);

  s.route = static_cast<CollRoute>(oop.timed.front().route);
  std::vector<double> mine = {oop.block_s, ip.block_s, static_cast<double>(oop.wrong),
                              static_cast<double>(ip.wrong)};
  if (c.per_rank) {
    std::vector<CommRecord> both = oop.timed;
    both.insert(both.end(), ip.timed.begin(), ip.timed.end());
    const std::vector<CommTiming> t = split_wait_transfer(group, both);
    const RankSplit a = median_split(t, 0, oop.timed.size());
    const RankSplit b = median_split(t, oop.timed.size(), t.size());
    mine.insert(mine.end(), {a.time_s, a.wait_s, a.transfer_s, b.time_s, b.wait_s, b.transfer_s});
  }
  const size_t fields = mine.size();
  std::vector<double> all(fields * static_cast<size_t>(world.size()));
  world.all_gather(mine.data(), all.data(), fields, DType::f64);
  world.log().clear();  // this size's records are used up; keep the log small

  s.out_of_place.group_time_s.assign(layout.groups.size(), 0.0);
  s.in_place.group_time_s.assign(layout.groups.size(), 0.0);
  for (int r = 0; r < world.size(); ++r) {
    const double* v = all.data() + static_cast<size_t>(r) * fields;
    const size_t g = static_cast<size_t>(layout.group_of(r));
    s.out_of_place.group_time_s[g] = std::max(s.out_of_place.group_time_s[g], v[0]);
    s.in_place.group_time_s[g] = std::max(s.in_place.group_time_s[g], v[1]);
    s.out_of_place.wrong += static_cast<int64_t>(v[2]);
    s.in_place.wrong += static_cast<int64_t>(v[3]);
    if (c.per_rank) {
      const double* p = v + kBasicFields;
      s.ranks.push_back({r, static_cast<int>(g), {p[0], p[1], p[2]}, {p[3], p[4], p[5]}});
    }
  }
  s.out_of_place.time_s = *std::max_element(s.out_of_place.group_time_s.begin(),
                                            s.out_of_place.group_time_s.end());
  s.in_place.time_s =
      *std::max_element(s.in_place.group_time_s.begin(), s.in_place.group_time_s.end());
  return s;
}

}  // namespace

OpResult run_comm_op(CommOp op, const CommBenchConfig& c, const GroupLayout& layout,
                     Communicator& world, Communicator& group) {
  TPB_CHECK(group.size() == layout.size, "run_comm_op: group of {} ranks, layout says {}",
            group.size(), layout.size);
  OpResult r;
  r.op = op;
  BenchBuffers buffers;
  buffers.on_device = c.device == "cuda";
  for (size_t bytes : sweep_sizes(c.min_bytes, c.max_bytes, static_cast<size_t>(c.step_factor)))
    r.sizes.push_back(run_size(op, bytes, c, layout, world, group, buffers));
  return r;
}

std::optional<AlphaBetaFit> fit_op(const OpResult& r) {
  std::vector<FitPoint> points;
  for (const SizeResult& s : r.sizes)
    if (s.out_of_place.time_s > 0)
      points.push_back({static_cast<double>(s.bytes), s.out_of_place.time_s});
  bool distinct = false;
  for (const FitPoint& p : points) distinct = distinct || p.bytes != points.front().bytes;
  if (!distinct) return std::nullopt;
  return fit_alpha_beta(std::move(points));
}

}  // namespace tpb
