// The per-iteration field lists: every member of IterRecord and IterPhases is listed once
// (a member added to the struct but not to its list fails, here and at compile time),
// survives pack/unpack, and is written under the documented key with the type and value
// the hand-written writers produced before the lists existed.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <set>
#include <string>

#include "linear/linear_bench.h"
#include "report/record_fields.h"
#include "train/train_report.h"
#include "train/trainer.h"

namespace tpb {
namespace {

// Every member a distinct value, assigned by hand (not through the list under test).
IterRecord distinct_record() {
  IterRecord r;
  r.iter = 7;
  r.warmup = true;
  r.loss = 2.5;
  r.grad_norm = 3.25;
  r.lr = 4.5e-4;
  r.dt = 0.125;
  r.dtf = 0.0625;
  r.dtb = 0.03125;
  r.dt_opt = 0.015625;
  r.tp = {0.011, 0.012, 0.013, 14000, 15, 16};
  r.dp = {0.021, 0.022, 0.023, 24000, 25, 26};
  r.tp_all_reduce = {0.041, 0.042, 0.043, 44000, 45, 46};
  r.tp_all_gather = {0.051, 0.052, 0.053, 54000, 55, 56};
  r.tp_reduce_scatter = {0.061, 0.062, 0.063, 64000, 65, 66};
  r.gather_total = 0.031;
  r.gather_exposed = 0.032;
  for (int k = 0; k < kNumMemCategories; ++k) {
    r.mem.current[static_cast<size_t>(k)] = 1000 + k;
    r.mem.peak[static_cast<size_t>(k)] = 2000 + k;
  }
  r.mem.total_current = 3001;
  r.mem.total_peak = 3002;
  r.mem.num_allocs = 3003;
  return r;
}

void expect_same(const IterRecord& a, const IterRecord& b) {
  EXPECT_EQ(a.iter, b.iter);
  EXPECT_EQ(a.warmup, b.warmup);
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.grad_norm, b.grad_norm);
  EXPECT_EQ(a.lr, b.lr);
  EXPECT_EQ(a.dt, b.dt);
  EXPECT_EQ(a.dtf, b.dtf);
  EXPECT_EQ(a.dtb, b.dtb);
  EXPECT_EQ(a.dt_opt, b.dt_opt);
  for (const auto& [x, y] : {std::pair{a.tp, b.tp}, std::pair{a.dp, b.dp}, std::pair{a.tp_all_reduce, b.tp_all_reduce},
                             std::pair{a.tp_all_gather, b.tp_all_gather},
                             std::pair{a.tp_reduce_scatter, b.tp_reduce_scatter}}) {
    EXPECT_EQ(x.seconds, y.seconds);
    EXPECT_EQ(x.wait, y.wait);
    EXPECT_EQ(x.transfer, y.transfer);
    EXPECT_EQ(x.bytes, y.bytes);
    EXPECT_EQ(x.calls, y.calls);
    EXPECT_EQ(x.shm_calls, y.shm_calls);
  }
  EXPECT_EQ(a.gather_total, b.gather_total);
  EXPECT_EQ(a.gather_exposed, b.gather_exposed);
  EXPECT_EQ(a.mem.current, b.mem.current);
  EXPECT_EQ(a.mem.peak, b.mem.peak);
  EXPECT_EQ(a.mem.total_current, b.mem.total_current);
  EXPECT_EQ(a.mem.total_peak, b.mem.total_peak);
  EXPECT_EQ(a.mem.num_allocs, b.mem.num_allocs);
}

TEST(RecordFields, IterRecordListsEveryMemberOnce) {
  // 9 scalars, 5 x 6 comm sums (tp, dp, tp by collective), 2 gather times, MemStats' 6 + 6 + 3.
  EXPECT_EQ(aggregate_leaf_count<IterRecord>(), 56);
  EXPECT_EQ(record_width(kIterRecordFields), 56);
  EXPECT_TRUE(lists_every_leaf_once(kIterRecordFields));
}

TEST(RecordFields, IterRecordRoundTripsThroughPackUnpack) {
  const IterRecord r = distinct_record();
  std::vector<double> packed(static_cast<size_t>(record_width(kIterRecordFields)));
  pack_record(kIterRecordFields, r, packed.data());
  EXPECT_EQ(std::set<double>(packed.begin(), packed.end()).size(), packed.size()) << "values not distinct";
  expect_same(unpack_record(kIterRecordFields, packed.data()), r);
}

// metrics.jsonl's writer as it was, field by field (docs/results.md lists these keys), with
// the call counts by route and the TP collectives by kind added since.
nlohmann::json legacy_metrics_line(const IterRecord& it, size_t rank) {
  nlohmann::json mem_cur = nlohmann::json::object(), mem_peak = nlohmann::json::object();
  for (int k = 0; k < kNumMemCategories; ++k) {
    const std::string name(mem_category_name(static_cast<MemCategory>(k)));
    mem_cur[name] = it.mem.current[static_cast<size_t>(k)];
    mem_peak[name] = it.mem.peak[static_cast<size_t>(k)];
  }
  return {{"rank", rank}, {"iter", it.iter}, {"warmup", it.warmup}, {"loss", it.loss},
          {"grad_norm", it.grad_norm}, {"lr", it.lr}, {"dt_ms", it.dt * 1e3},
          {"dtf_ms", it.dtf * 1e3}, {"dtb_ms", it.dtb * 1e3}, {"opt_ms", it.dt_opt * 1e3},
          {"tp_comm_ms", it.tp.seconds * 1e3}, {"tp_wait_ms", it.tp.wait * 1e3},
          {"tp_transfer_ms", it.tp.transfer * 1e3}, {"tp_bytes", it.tp.bytes},
          {"tp_calls", it.tp.calls}, {"tp_shm_calls", it.tp.shm_calls},
          {"dp_comm_ms", it.dp.seconds * 1e3}, {"dp_wait_ms", it.dp.wait * 1e3},
          {"dp_transfer_ms", it.dp.transfer * 1e3}, {"dp_bytes", it.dp.bytes},
          {"dp_calls", it.dp.calls}, {"dp_shm_calls", it.dp.shm_calls},
          {"tp_all_reduce_ms", it.tp_all_reduce.seconds * 1e3}, {"tp_all_reduce_wait_ms", it.tp_all_reduce.wait * 1e3},
          {"tp_all_reduce_transfer_ms", it.tp_all_reduce.transfer * 1e3},
          {"tp_all_reduce_bytes", it.tp_all_reduce.bytes}, {"tp_all_reduce_calls", it.tp_all_reduce.calls},
          {"tp_all_gather_ms", it.tp_all_gather.seconds * 1e3}, {"tp_all_gather_wait_ms", it.tp_all_gather.wait * 1e3},
          {"tp_all_gather_transfer_ms", it.tp_all_gather.transfer * 1e3},
          {"tp_all_gather_bytes", it.tp_all_gather.bytes}, {"tp_all_gather_calls", it.tp_all_gather.calls},
          {"tp_reduce_scatter_ms", it.tp_reduce_scatter.seconds * 1e3},
          {"tp_reduce_scatter_wait_ms", it.tp_reduce_scatter.wait * 1e3},
          {"tp_reduce_scatter_transfer_ms", it.tp_reduce_scatter.transfer * 1e3},
          {"tp_reduce_scatter_bytes", it.tp_reduce_scatter.bytes},
          {"tp_reduce_scatter_calls", it.tp_reduce_scatter.calls},
          {"mem_current_bytes", mem_cur}, {"mem_peak_bytes", mem_peak},
          {"mem_total_peak_bytes", it.mem.total_peak}};
}

TEST(RecordFields, MetricsJsonlKeepsTheDocumentedKeysTypesAndValues) {
  const IterRecord r = distinct_record();
  const nlohmann::json j = record_json(kIterRecordFields, r);
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  const std::vector<std::string> documented = {
      "dp_bytes", "dp_calls", "dp_comm_ms", "dp_shm_calls", "dp_transfer_ms", "dp_wait_ms", "dt_ms", "dtb_ms",
      "dtf_ms", "grad_norm", "iter", "loss", "lr", "mem_current_bytes", "mem_peak_bytes", "mem_total_peak_bytes",
      "opt_ms", "tp_all_gather_bytes", "tp_all_gather_calls", "tp_all_gather_ms", "tp_all_gather_transfer_ms",
      "tp_all_gather_wait_ms", "tp_all_reduce_bytes", "tp_all_reduce_calls", "tp_all_reduce_ms",
      "tp_all_reduce_transfer_ms", "tp_all_reduce_wait_ms", "tp_bytes", "tp_calls", "tp_comm_ms",
      "tp_reduce_scatter_bytes", "tp_reduce_scatter_calls", "tp_reduce_scatter_ms", "tp_reduce_scatter_transfer_ms",
      "tp_reduce_scatter_wait_ms", "tp_shm_calls", "tp_transfer_ms", "tp_wait_ms", "warmup"};
  EXPECT_EQ(keys, documented);
  EXPECT_TRUE(j["iter"].is_number_integer());
  EXPECT_TRUE(j["warmup"].is_boolean());
  EXPECT_TRUE(j["tp_bytes"].is_number_float());
  EXPECT_TRUE(j["tp_shm_calls"].is_number_integer());
  EXPECT_TRUE(j["mem_total_peak_bytes"].is_number_integer());
  EXPECT_TRUE(j["mem_peak_bytes"]["activations"].is_number_integer());
  EXPECT_EQ(j["dt_ms"].get<double>(), r.dt * 1e3);

  TrainResult result;
  IterRecord other = distinct_record();
  other.iter = 8;
  other.warmup = false;
  result.per_rank = {{r, other}, {other, r}};
  // Iteration by iteration (as the run appends them), every rank's line of each.
  std::string expected;
  for (size_t i = 0; i < 2; ++i)
    for (size_t rank = 0; rank < result.per_rank.size(); ++rank)
      expected += legacy_metrics_line(result.per_rank[rank][i], rank).dump() + "\n";
  EXPECT_EQ(train_metrics_jsonl(result), expected);
}

TEST(RecordFields, IterPhasesRoundTripsAndKeepsItsJson) {
  EXPECT_EQ(aggregate_leaf_count<IterPhases>(), 10);
  EXPECT_TRUE(lists_every_leaf_once(kIterPhaseFields));
  IterPhases p;
  p.step = 1.5;
  p.forward = 0.25;
  p.backward = 0.75;
  p.optimizer = 0.125;
  p.comm = {0.5, 0.0625, 0.4375, 4096, 6, 5};
  std::vector<double> packed(static_cast<size_t>(record_width(kIterPhaseFields)));
  pack_record(kIterPhaseFields, p, packed.data());
  EXPECT_EQ(packed, (std::vector<double>{1.5, 0.25, 0.75, 0.125, 0.5, 0.0625, 0.4375, 4096, 6, 5}));
  const IterPhases q = unpack_record(kIterPhaseFields, packed.data());
  EXPECT_EQ(q.step, p.step);
  EXPECT_EQ(q.optimizer, p.optimizer);
  EXPECT_EQ(q.comm.wait, p.comm.wait);
  EXPECT_EQ(q.comm.bytes, p.comm.bytes);
  // The linear results JSON's per-iteration object as it was written by hand.
  const nlohmann::json legacy = {{"step_ms", p.step * 1e3}, {"forward_ms", p.forward * 1e3},
                                 {"backward_ms", p.backward * 1e3}, {"optimizer_ms", p.optimizer * 1e3},
                                 {"comm_ms", p.comm.seconds * 1e3}, {"wait_ms", p.comm.wait * 1e3},
                                 {"transfer_ms", p.comm.transfer * 1e3}, {"comm_bytes", p.comm.bytes},
                                 {"comm_calls", p.comm.calls}, {"comm_shm_calls", p.comm.shm_calls}};
  EXPECT_EQ(record_json(kIterPhaseFields, p).dump(), legacy.dump());
}

// The check itself: a list that misses a member, or names one twice, is caught.
struct Pair {
  int a = 0;
  double b = 0;
  std::array<int64_t, 2> c{};
};

TEST(RecordFields, AMissingOrRepeatedMemberIsCaught) {
  EXPECT_EQ(aggregate_leaf_count<Pair>(), 4);
  constexpr auto missing = std::to_array<RecordField<Pair>>({record_field<&Pair::a>("a"), record_field<&Pair::b>("b")});
  constexpr auto twice = std::to_array<RecordField<Pair>>(
      {record_field<&Pair::a>("a"), record_field<&Pair::a>("a2"), record_field<&Pair::b>("b"),
       record_field<&Pair::c>(nullptr)});
  constexpr auto all = std::to_array<RecordField<Pair>>(
      {record_field<&Pair::a>("a"), record_field<&Pair::b>("b", 10.0), record_field<&Pair::c>(nullptr)});
  static_assert(!lists_every_leaf_once(missing));
  static_assert(!lists_every_leaf_once(twice));
  static_assert(lists_every_leaf_once(all));
  const nlohmann::json j = record_json(all, Pair{3, 0.5, {1, 2}});
  EXPECT_EQ(j.dump(), R"({"a":3,"b":5.0})");
}

// Fake group of two ranks that both hold the same records.
struct TwoRanks {
  int size() const { return 2; }
  void all_gather(const double* send, double* recv, size_t count, DType) const {
    std::copy(send, send + count, recv);
    std::copy(send, send + count, recv + count);
  }
};

TEST(RecordFields, AllGatherRecordsGivesEveryRanksRecords) {
  TwoRanks group;
  const std::vector<IterRecord> mine = {distinct_record(), IterRecord{}};
  const auto all = all_gather_records(group, kIterRecordFields, mine);
  ASSERT_EQ(all.size(), 2u);
  for (const auto& rank : all) {
    ASSERT_EQ(rank.size(), 2u);
    expect_same(rank[0], mine[0]);
    expect_same(rank[1], mine[1]);
  }
}

TEST(RecordFields, OverRanksIsTheSpreadOfPerRankMedians) {
  const auto steps = [](std::vector<double> v) {
    std::vector<IterPhases> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i].step = v[i];
    return out;
  };
  const std::vector<std::vector<IterPhases>> ranks = {steps({1.0, 3.0, 100.0}), steps({2.0, 4.0, 6.0})};
  const Stats s = over_ranks(ranks, member<&IterPhases::step>);
  EXPECT_EQ(s.min, 3.0);
  EXPECT_EQ(s.max, 4.0);
  const Stats kept = over_ranks(ranks, member<&IterPhases::step>, [](const IterPhases& p) { return p.step < 50; });
  EXPECT_EQ(kept.min, 2.0);  // rank 0: median of 1, 3
  EXPECT_EQ(kept.max, 4.0);  // rank 1: median of 2, 4, 6
}

TEST(RecordFields, SumCommsAddsTimeWaitTransferAndBytes) {
  std::vector<CommTiming> t(2);
  t[0].record = {CommOp::all_reduce, 0, 100, 1'000'000'000, 1'500'000'000};
  t[0].wait_ns = 100'000'000;
  t[0].transfer_ns = 400'000'000;
  t[1].record = {CommOp::all_gather, 0, 28, 2'000'000'000, 2'250'000'000};
  t[1].wait_ns = 50'000'000;
  t[1].transfer_ns = 200'000'000;
  const CommSums s = sum_comms(t);
  EXPECT_DOUBLE_EQ(s.seconds, 0.75);
  EXPECT_DOUBLE_EQ(s.wait, 0.15);
  EXPECT_DOUBLE_EQ(s.transfer, 0.6);
  EXPECT_EQ(s.bytes, 128.0);
}

}  // namespace
}  // namespace tpb
