// The flight recorder (per-group rings with sequence numbers), the dump format, the
// analysis of synthetic dumps, and the watchdog firing on a collective that never returns.
// One process, no MPI: a fake communicator stands in for the backend.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/clock.h"
#include "base/error.h"
#include "comm/communicator.h"
#include "comm/flight_dump.h"
#include "comm/flight_recorder.h"
#include "comm/watchdog.h"

namespace tpb {
namespace {

// A one-rank communicator whose calls move nothing; a barrier blocks while `hold` is set.
class FakeComm final : public Communicator {
 public:
  explicit FakeComm(std::string name = "fake", std::shared_ptr<CommLog> log = std::make_shared<CommLog>()) {
    attach_log(std::move(log), CommGroupInfo{std::move(name), 1, 0, {0}});
  }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::atomic<bool> hold{false};

 protected:
  void do_all_reduce(const void*, void*, size_t, DType, ReduceOp) override {}
  void do_all_gather(const void*, void*, size_t, DType) override {}
  void do_all_gather_v(const void*, void*, std::span<const int64_t>, DType) override {}
  void do_reduce_scatter(const void*, void*, size_t, DType, ReduceOp) override {}
  void do_reduce_scatter_v(const void*, void*, std::span<const int64_t>, DType, ReduceOp) override {}
  void do_broadcast(void*, size_t, DType, int) override {}
  void do_all_to_all(const void*, void*, size_t, DType) override {}
  void do_barrier() override {  // held at most 5 s, so a watchdog that never fires fails the test
    const int64_t t0 = now_ns();
    while (hold.load() && seconds_between(t0, now_ns()) < 5.0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::unique_ptr<Communicator> do_split(int, int, const std::string& name) override {
    return std::make_unique<FakeComm>(name, shared_log());
  }
};

const FlightGroup& group_named(const std::vector<FlightGroup>& groups, const std::string& name) {
  for (const FlightGroup& g : groups)
    if (g.info.name == name) return g;
  throw std::runtime_error("no group " + name);
}

TEST(FlightRing, NumbersCallsAndKeepsTheLastOnes) {
  FlightRing ring;
  EXPECT_EQ(ring.entered(), 0);
  EXPECT_EQ(ring.enter(CommOp::all_reduce, 64, 100), 1);
  EXPECT_EQ(ring.entered(), 1);
  EXPECT_EQ(ring.completed(), 0);  // inside
  ring.leave(150);
  EXPECT_EQ(ring.completed(), 1);
  const auto e = ring.entry(1);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->op, CommOp::all_reduce);
  EXPECT_EQ(e->bytes, 64);
  EXPECT_EQ(e->start_ns, 100);
  EXPECT_EQ(e->end_ns, 150);

  const int64_t n = FlightRing::kCapacity + 44;
  for (int64_t i = 2; i <= n; ++i) {
    ring.enter(CommOp::barrier, i, 1000 + i);
    ring.leave(2000 + i);
  }
  ring.enter(CommOp::all_gather, 8, 5000);  // n + 1, still inside
  const auto entries = ring.entries();
  ASSERT_EQ(static_cast<int64_t>(entries.size()), FlightRing::kCapacity);
  EXPECT_EQ(entries.front().seq, n + 2 - FlightRing::kCapacity);
  EXPECT_EQ(entries.back().seq, n + 1);
  EXPECT_EQ(entries.back().end_ns, 0);
  EXPECT_FALSE(ring.entry(1).has_value()) << "overwritten";
  EXPECT_FALSE(ring.entry(n + 2).has_value()) << "not yet entered";
}

TEST(FlightRecorder, EveryGroupCountsItsOwnCollectives) {
  FakeComm world;
  std::unique_ptr<Communicator> tp = world.split(0, 0, "tp");
  float x = 0;
  world.all_reduce(&x, &x, 1, DType::f32, ReduceOp::sum);
  tp->all_reduce(&x, &x, 1, DType::f32, ReduceOp::sum);
  tp->all_gather(&x, &x, 1, DType::f32);
  world.barrier();
  const auto groups = world.log().flight()->groups();
  ASSERT_EQ(groups.size(), 2u);
  const FlightGroup& w = group_named(groups, "fake");
  const FlightGroup& t = group_named(groups, "tp");
  EXPECT_EQ(w.ring->entered(), 2);
  EXPECT_EQ(w.ring->completed(), 2);
  EXPECT_EQ(t.ring->entered(), 2);
  const auto te = t.ring->entries();
  ASSERT_EQ(te.size(), 2u);
  EXPECT_EQ(te[0].op, CommOp::all_reduce);
  EXPECT_EQ(te[1].op, CommOp::all_gather);
  EXPECT_EQ(te[1].bytes, 4);
  EXPECT_LE(te[1].start_ns, te[1].end_ns);
  EXPECT_EQ(w.ring->entry(2)->op, CommOp::barrier);
}

TEST(FlightDump, RoundTripsThroughJson) {
  FakeComm world;
  float x = 0;
  world.broadcast(&x, 1, DType::f32, 0);
  const nlohmann::json doc = flight_dump_json(*world.log().flight(), {0, 1, "test", 3.0, now_ns()});
  const FlightDump d = parse_flight_dump(nlohmann::json::parse(doc.dump()));
  EXPECT_EQ(d.rank, 0);
  EXPECT_EQ(d.world_size, 1);
  EXPECT_EQ(d.reason, "test");
  ASSERT_EQ(d.groups.size(), 1u);
  EXPECT_EQ(d.groups[0].name, "fake");
  EXPECT_EQ(d.groups[0].ranks, std::vector<int>{0});
  ASSERT_EQ(d.groups[0].entries.size(), 1u);
  EXPECT_EQ(d.groups[0].entries[0].op, CommOp::broadcast);
  EXPECT_EQ(d.groups[0].entries[0].seq, 1);
  EXPECT_THROW(parse_flight_dump(nlohmann::json{{"schema", "other"}}), Error);
}

// Integers that are not integers or do not fit are refused by name (nlohmann's get<int64_t>
// would cast 8.9e23 with undefined behaviour: a fuzz_cost_model finding).
TEST(FlightDump, RefusesNumbersThatAreNotIntegersOfTheirType) {
  FakeComm world;
  float x = 0;
  world.broadcast(&x, 1, DType::f32, 0);
  const nlohmann::json good = flight_dump_json(*world.log().flight(), {0, 1, "test", 3.0, now_ns()});
  const auto refused = [&](const char* key, const nlohmann::json& value, const std::string& what) {
    nlohmann::json bad = good;
    bad[key] = value;
    try {
      parse_flight_dump(bad);
      ADD_FAILURE() << key << " = " << value.dump() << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  refused("now_ns", 8.88889e+23, "'now_ns' must be an integer, not 8.88889e+23");
  refused("now_ns", 1.5, "'now_ns' must be an integer");
  refused("now_ns", nlohmann::json(uint64_t{1} << 63), "'now_ns' = 9223372036854775808 is above");
  refused("rank", int64_t{1} << 40, "'rank' = 1099511627776 is outside");
  refused("world_size", "2", "'world_size' must be an integer, not \"2\"");
  nlohmann::json bad_ranks = good;
  bad_ranks["groups"][0]["ranks"] = {0, 0.5};
  EXPECT_THROW(parse_flight_dump(bad_ranks), Error);
  nlohmann::json bad_bytes = good;
  bad_bytes["groups"][0]["entries"][0]["bytes"] = 1e300;
  EXPECT_THROW(parse_flight_dump(bad_bytes), Error);
}

// Synthetic dumps: group name, members, entered, completed, and the op of the last entry.
FlightDumpGroup group(std::string name, std::vector<int> ranks, int64_t entered, int64_t completed,
                      CommOp op = CommOp::all_reduce, int64_t bytes = 4096) {
  FlightDumpGroup g;
  g.name = std::move(name);
  g.ranks = std::move(ranks);
  g.entered = entered;
  g.completed = completed;
  if (entered > 0) g.entries.push_back(FlightEntry{entered, op, bytes, 1'000'000'000, entered > completed ? 0 : 2'000'000'000});
  return g;
}

FlightDump dump(int rank, int world, std::vector<FlightDumpGroup> groups) {
  FlightDump d;
  d.rank = rank;
  d.world_size = world;
  d.reason = "timeout";
  d.now_ns = 4'000'000'000;  // 3 s after the entries started
  d.groups = std::move(groups);
  return d;
}

TEST(FlightDiagnosis, NamesTheRankWithoutADump) {
  const FlightDiagnosis d = diagnose_flight({dump(0, 2, {group("world", {0, 1}, 12, 12), group("tp", {0, 1}, 57, 56)})});
  ASSERT_EQ(d.hangs.size(), 1u);
  EXPECT_EQ(d.hangs[0].group, "tp");
  EXPECT_EQ(d.hangs[0].seq, 57);
  EXPECT_EQ(d.hangs[0].op, CommOp::all_reduce);
  EXPECT_EQ(d.hangs[0].inside, std::vector<int>{0});
  EXPECT_EQ(d.hangs[0].missing, std::vector<int>{1});
  EXPECT_NEAR(d.hangs[0].waited_s, 3.0, 1e-9);
  EXPECT_EQ(d.culprits, std::vector<int>{1});
  EXPECT_EQ(d.no_dump, std::vector<int>{1});
  EXPECT_NE(d.summary.find("all_reduce #57 of group tp (ranks 0,1, 4096 bytes) not complete after 3.0 s: rank 1 "
                           "never entered it (no flight dump from rank 1: stopped, hung or dead)"),
            std::string::npos)
      << d.summary;
}

TEST(FlightDiagnosis, ClockReadingsAtTheEndsOfInt64DoNotWrap) {
  // A dump file may hold any int64: now - start would overflow int64 (undefined, and a
  // negative wait); it is taken in double.
  FlightDumpGroup g = group("tp", {0, 1}, 57, 56);
  g.entries[0].start_ns = INT64_MIN;
  FlightDump d0 = dump(0, 2, {g});
  d0.now_ns = INT64_MAX;
  const FlightDiagnosis d = diagnose_flight({d0});
  ASSERT_EQ(d.hangs.size(), 1u);
  EXPECT_NEAR(d.hangs[0].waited_s, 2.0 * 9.223372036854775807e9, 1.0);
}

TEST(FlightDiagnosis, FourRanksTheVictimsWaitingElsewhereAreNotBlamed) {
  // tp {0,1} {2,3}, dp {0,2} {1,3}; rank 1 is stopped in its backward: rank 0 waits in tp,
  // rank 3 waits for rank 1 in dp, rank 2 waits for rank 0 in dp.
  const FlightDiagnosis d = diagnose_flight({
      dump(0, 4, {group("tp", {0, 1}, 10, 9), group("dp", {0, 2}, 4, 4)}),
      dump(2, 4, {group("tp", {2, 3}, 10, 10), group("dp", {0, 2}, 5, 4)}),
      dump(3, 4, {group("tp", {2, 3}, 10, 10), group("dp", {1, 3}, 5, 4)}),
  });
  EXPECT_EQ(d.hangs.size(), 3u);
  EXPECT_EQ(d.culprits, std::vector<int>{1});
  EXPECT_NE(d.summary.find("rank 1 never entered it"), std::string::npos) << d.summary;
}

TEST(FlightDiagnosis, ARankThatDumpedOutsideAnyCollective) {
  const FlightDiagnosis d =
      diagnose_flight({dump(0, 2, {group("tp", {0, 1}, 57, 56)}), dump(1, 2, {group("tp", {0, 1}, 56, 56)})});
  EXPECT_EQ(d.culprits, std::vector<int>{1});
  ASSERT_EQ(d.hangs.size(), 1u);
  EXPECT_EQ(d.hangs[0].behind, std::vector<int>{1});
  EXPECT_NE(d.summary.find("rank 1 last entered #56 of tp and is not waiting in any collective"), std::string::npos) << d.summary;
}

// Rank 1 was stopped inside a barrier that rank 0 had already left, and dumped later (its
// watchdog woke when mpirun sent SIGCONT to kill it): it is the culprit, not a victim.
TEST(FlightDiagnosis, ARankStoppedInsideACollectiveTheOthersLeft) {
  const FlightDiagnosis d = diagnose_flight({dump(0, 2, {group("world", {0, 1}, 264, 264, CommOp::barrier),
                                                          group("dp", {0, 1}, 345, 344)}),
                                             dump(1, 2, {group("world", {0, 1}, 264, 263, CommOp::barrier),
                                                          group("dp", {0, 1}, 344, 344)})});
  ASSERT_EQ(d.hangs.size(), 1u);
  EXPECT_EQ(d.hangs[0].group, "dp");
  EXPECT_EQ(d.culprits, std::vector<int>{1});
  EXPECT_NE(d.summary.find("rank 1 never entered it (rank 1 last entered #344 of dp and is not waiting in any collective"),
            std::string::npos)
      << d.summary;
}

TEST(FlightDiagnosis, EveryoneInsideAndAMismatch) {
  const FlightDiagnosis d = diagnose_flight({dump(0, 2, {group("tp", {0, 1}, 7, 6, CommOp::all_reduce, 64)}),
                                             dump(1, 2, {group("tp", {0, 1}, 7, 6, CommOp::all_gather, 64)})});
  EXPECT_TRUE(d.culprits.empty());
  ASSERT_EQ(d.hangs.size(), 1u);
  EXPECT_TRUE(d.hangs[0].mismatch);
  EXPECT_NE(d.summary.find("every member entered it"), std::string::npos) << d.summary;
  EXPECT_NE(d.summary.find("mismatched collective"), std::string::npos) << d.summary;
}

// Everyone is inside, but rank 1 stalled: it entered 3 s after rank 0 (SIGSTOP between
// collectives, SIGCONT from mpirun, then it entered and dumped), or its watchdog dumped
// 3 s past its limit (SIGSTOP inside the call). Either way rank 1 is named.
TEST(FlightDiagnosis, EveryoneInsideButOneRankStalled) {
  FlightDump r0 = dump(0, 2, {group("dp", {0, 1}, 37, 36)});
  r0.timeout_s = 3.0;
  FlightDump late_entry = dump(1, 2, {group("dp", {0, 1}, 37, 36)});
  late_entry.reason = "peer dumped";
  late_entry.groups[0].entries[0].start_ns = 4'000'000'000;  // 3 s after rank 0's
  late_entry.now_ns = 4'010'000'000;
  FlightDiagnosis d = diagnose_flight({r0, late_entry});
  ASSERT_EQ(d.hangs.size(), 1u);
  EXPECT_EQ(d.hangs[0].late, std::vector<int>{1});
  EXPECT_EQ(d.culprits, std::vector<int>{1});
  EXPECT_NE(d.summary.find("rank 1 stalled in it"), std::string::npos) << d.summary;

  FlightDump late_dump = dump(1, 2, {group("dp", {0, 1}, 37, 36)});
  late_dump.timeout_s = 3.0;
  late_dump.now_ns = 7'000'000'000;  // inside 6 s with a 3 s limit
  d = diagnose_flight({r0, late_dump});
  EXPECT_EQ(d.hangs.at(0).late, std::vector<int>{1});
  EXPECT_NE(d.summary.find("rank 1 stalled in it"), std::string::npos) << d.summary;

  // Both on time: nobody stalled.
  FlightDump on_time = dump(1, 2, {group("dp", {0, 1}, 37, 36)});
  on_time.timeout_s = 3.0;
  d = diagnose_flight({r0, on_time});
  EXPECT_TRUE(d.hangs.at(0).late.empty());
  EXPECT_NE(d.summary.find("every member entered it"), std::string::npos) << d.summary;
}

TEST(FlightDiagnosis, NothingHung) {
  const FlightDiagnosis d = diagnose_flight({dump(0, 1, {group("world", {0}, 3, 3)})});
  EXPECT_TRUE(d.hangs.empty());
  EXPECT_NE(d.summary.find("no rank was inside a collective"), std::string::npos) << d.summary;
}

TEST(Watchdog, Limits) {
  EXPECT_EQ(watchdog_limit(3.0, 0, 0), 3.0);
  EXPECT_EQ(watchdog_limit(3.0, 10, 100), 3.0);
  EXPECT_EQ(watchdog_limit(0, 0, 0), kFirstStepTimeout);
  EXPECT_EQ(watchdog_limit(0, 1, 2.0), kMinTimeout);
  EXPECT_EQ(watchdog_limit(0, 5, 60.0), 600.0);
}

TEST(Watchdog, FiresOnACollectiveThatNeverReturnsAndDumps) {
  const std::string dir = testing::TempDir() + "/flight_watchdog_test";
  std::filesystem::remove_all(dir);
  FakeComm world;
  std::atomic<bool> hung{false};
  std::string message;
  {
    Watchdog dog(world, {0.3, dir, "tpbench test", [&](const std::string& m) {
                           message = m;
                           hung = true;
                           world.hold = false;  // lets the "stuck" barrier return
                         }});
    world.barrier();  // returns at once: nothing fires
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_FALSE(dog.fired());
    world.hold = true;
    const int64_t t0 = now_ns();
    world.barrier();  // held until the watchdog fires
    EXPECT_TRUE(hung.load());
    EXPECT_GT(seconds_between(t0, now_ns()), 0.3);
    EXPECT_LT(seconds_between(t0, now_ns()), 5.0);
  }
  EXPECT_NE(message.find("[rank 0] tpbench test: error: watchdog: barrier #2 of group fake"), std::string::npos)
      << message;
  std::ifstream in(dir + "/rank0.json");
  const nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  const FlightDump d = parse_flight_dump(doc);
  EXPECT_TRUE(d.reason.starts_with("timeout: inside fake barrier #2")) << d.reason;
  EXPECT_EQ(d.groups.at(0).entered, 2);
  EXPECT_EQ(d.groups.at(0).completed, 1);
}

}  // namespace
}  // namespace tpb
