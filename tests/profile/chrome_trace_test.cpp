// The Chrome Trace Event Format writer (profile/chrome_trace.h): a few spans and
// collectives of one rank written, serialised, parsed back with nlohmann::json, and checked
// field by field: names, categories, ts / dur in microseconds from t0, pid = rank, tid 0,
// nesting, the collective's args and its nested "wait" span, and the document around it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/arrival.h"
#include "comm/comm_log.h"
#include "profile/chrome_trace.h"
#include "profile/trace.h"

namespace tpb {
namespace {

using nlohmann::json;

constexpr int64_t kT0 = 5'000'000'000;  // ns: the common origin

// The events named `name` (in order).
std::vector<json> named(const json& events, const std::string& name) {
  std::vector<json> out;
  for (const json& e : events)
    if (e.at("name") == name) out.push_back(e);
  return out;
}

// Whether b lies within a on the same process and thread (how trace viewers nest).
bool nested_in(const json& b, const json& a) {
  const double a0 = a.at("ts"), a1 = a0 + a.at("dur").get<double>();
  const double b0 = b.at("ts"), b1 = b0 + b.at("dur").get<double>();
  return a.at("pid") == b.at("pid") && a.at("tid") == b.at("tid") && a0 <= b0 && b1 <= a1;
}

class ChromeTrace : public ::testing::Test {
 protected:
  void SetUp() override {
    world_ = log_.add_group({"world", 4, 1, {0, 1, 2, 3}});
    tp_ = log_.add_group({"tp", 2, 1, {0, 1}});
    // ProfilerStep#7 [1000 us, 1500 us) holds forward [1010, 1200) and backward [1200, 1490);
    // a kernel span with a byte count inside forward.
    spans_ = {
        {"forward", "phase", kT0 + 1'010'000, kT0 + 1'200'000},
        {"matmul", "kernel", kT0 + 1'020'500, kT0 + 1'021'750, 4096},
        {"backward", "phase", kT0 + 1'200'000, kT0 + 1'490'000},
        {"ProfilerStep", "step", kT0 + 1'000'000, kT0 + 1'500'000, 7},
    };
    // An all_reduce on tp inside backward that waited 30 us for the last rank; a barrier on
    // the world that did not wait.
    CommTiming ar;
    ar.record = {CommOp::all_reduce, tp_, 1 << 20, kT0 + 1'300'000, kT0 + 1'400'000};
    ar.last_arrival_ns = kT0 + 1'330'000;
    ar.wait_ns = 30'000;
    ar.transfer_ns = 70'000;
    CommTiming bar;
    bar.record = {CommOp::barrier, world_, 0, kT0 + 1'495'000, kT0 + 1'496'500};
    bar.last_arrival_ns = kT0 + 1'495'000;
    bar.wait_ns = 0;
    bar.transfer_ns = 1'500;
    comms_ = {ar, bar};
  }

  // Written, serialised and parsed back, as a reader of the file sees it.
  json events() const {
    RankTrace t;
    t.rank = 1;
    t.world_size = 4;
    t.spans = &spans_;
    t.comms = &comms_;
    t.log = &log_;
    t.t0_ns = kT0;
    return json::parse(trace_events(t).dump());
  }

  CommLog log_;
  int32_t world_ = -1, tp_ = -1;
  std::vector<TraceSpan> spans_;
  std::vector<CommTiming> comms_;
};

TEST_F(ChromeTrace, ProcessAndThreadMetadataNameTheRank) {
  const json ev = events();
  ASSERT_TRUE(ev.is_array());
  const auto process = named(ev, "process_name");
  ASSERT_EQ(process.size(), 1u);
  EXPECT_EQ(process[0].at("ph"), "M");
  EXPECT_EQ(process[0].at("pid"), 1);
  EXPECT_EQ(process[0].at("args").at("name"), "rank 1");
  const auto sort = named(ev, "process_sort_index");
  ASSERT_EQ(sort.size(), 1u);
  EXPECT_EQ(sort[0].at("args").at("sort_index"), 1);
  const auto thread = named(ev, "thread_name");
  ASSERT_EQ(thread.size(), 1u);
  EXPECT_EQ(thread[0].at("tid"), 0);
  EXPECT_EQ(thread[0].at("args").at("name"), "main");
}

TEST_F(ChromeTrace, SpansAreCompleteEventsInMicrosecondsFromT0) {
  const json ev = events();
  // 3 metadata + 4 spans + 2 collectives + 1 wait.
  EXPECT_EQ(ev.size(), 10u);
  const auto step = named(ev, "ProfilerStep#7");
  ASSERT_EQ(step.size(), 1u) << "the step span is named with its number";
  EXPECT_EQ(step[0].at("ph"), "X");
  EXPECT_EQ(step[0].at("cat"), "step");
  EXPECT_DOUBLE_EQ(step[0].at("ts").get<double>(), 1000.0);
  EXPECT_DOUBLE_EQ(step[0].at("dur").get<double>(), 500.0);
  EXPECT_EQ(step[0].at("pid"), 1);
  EXPECT_EQ(step[0].at("tid"), 0);
  EXPECT_FALSE(step[0].contains("args")) << "the step number is in the name, not repeated";
  EXPECT_TRUE(named(ev, "ProfilerStep").empty());

  const auto kernel = named(ev, "matmul");
  ASSERT_EQ(kernel.size(), 1u);
  EXPECT_EQ(kernel[0].at("cat"), "kernel");
  EXPECT_DOUBLE_EQ(kernel[0].at("ts").get<double>(), 1020.5);  // sub-microsecond kept
  EXPECT_DOUBLE_EQ(kernel[0].at("dur").get<double>(), 1.25);
  EXPECT_EQ(kernel[0].at("args").at("value"), 4096);
  const auto forward = named(ev, "forward");
  ASSERT_EQ(forward.size(), 1u);
  EXPECT_EQ(forward[0].at("cat"), "phase");
  EXPECT_FALSE(forward[0].contains("args")) << "arg -1 means none";
}

TEST_F(ChromeTrace, PhasesNestInTheStepAndTheKernelInItsPhase) {
  const json ev = events();
  const json step = named(ev, "ProfilerStep#7").at(0);
  const json forward = named(ev, "forward").at(0);
  const json backward = named(ev, "backward").at(0);
  const json kernel = named(ev, "matmul").at(0);
  EXPECT_TRUE(nested_in(forward, step));
  EXPECT_TRUE(nested_in(backward, step));
  EXPECT_TRUE(nested_in(kernel, forward));
  EXPECT_FALSE(nested_in(kernel, backward));
  EXPECT_FALSE(nested_in(step, forward));
  // forward ends where backward starts: adjacent, not overlapping.
  EXPECT_DOUBLE_EQ(forward.at("ts").get<double>() + forward.at("dur").get<double>(), backward.at("ts").get<double>());
}

TEST_F(ChromeTrace, CollectivesCarryBytesGroupAndTheWaitTransferSplit) {
  const json ev = events();
  const auto ar = named(ev, "all_reduce");
  ASSERT_EQ(ar.size(), 1u);
  EXPECT_EQ(ar[0].at("ph"), "X");
  EXPECT_EQ(ar[0].at("cat"), "comm");
  EXPECT_DOUBLE_EQ(ar[0].at("ts").get<double>(), 1300.0);
  EXPECT_DOUBLE_EQ(ar[0].at("dur").get<double>(), 100.0);
  const json& args = ar[0].at("args");
  EXPECT_EQ(args.at("bytes"), 1 << 20);
  EXPECT_EQ(args.at("group"), "tp");
  EXPECT_EQ(args.at("group_size"), 2);
  EXPECT_EQ(args.at("group_ranks"), json::array({0, 1}));
  EXPECT_DOUBLE_EQ(args.at("wait_us").get<double>(), 30.0);
  EXPECT_DOUBLE_EQ(args.at("transfer_us").get<double>(), 70.0);
  EXPECT_TRUE(nested_in(ar[0], named(ev, "backward").at(0)));
  // The wait: a span of its own category at the start of the collective, inside it.
  const auto wait = named(ev, "wait");
  ASSERT_EQ(wait.size(), 1u) << "only the collective that waited has a wait span";
  EXPECT_EQ(wait[0].at("cat"), "comm_wait");
  EXPECT_DOUBLE_EQ(wait[0].at("ts").get<double>(), 1300.0);
  EXPECT_DOUBLE_EQ(wait[0].at("dur").get<double>(), 30.0);
  EXPECT_TRUE(nested_in(wait[0], ar[0]));
  const auto bar = named(ev, "barrier");
  ASSERT_EQ(bar.size(), 1u);
  EXPECT_EQ(bar[0].at("args").at("group"), "world");
  EXPECT_EQ(bar[0].at("args").at("group_ranks"), json::array({0, 1, 2, 3}));
  EXPECT_EQ(bar[0].at("args").at("bytes"), 0);
  EXPECT_DOUBLE_EQ(bar[0].at("dur").get<double>(), 1.5);
}

TEST_F(ChromeTrace, NoSpansOrCommsGivesOnlyMetadata) {
  RankTrace t;
  t.rank = 3;
  const json ev = json::parse(trace_events(t).dump());
  ASSERT_EQ(ev.size(), 3u);
  for (const json& e : ev) {
    EXPECT_EQ(e.at("ph"), "M");
    EXPECT_EQ(e.at("pid"), 3);
  }
}

TEST_F(ChromeTrace, DocumentHasPyTorchProfilerShape) {
  const json doc = json::parse(trace_document(events(), 1, 4, "nccl").dump());
  EXPECT_EQ(doc.at("schemaVersion"), 1);
  EXPECT_EQ(doc.at("displayTimeUnit"), "ms");
  EXPECT_TRUE(doc.at("deviceProperties").is_array());
  EXPECT_EQ(doc.at("distributedInfo").at("backend"), "nccl");
  EXPECT_EQ(doc.at("distributedInfo").at("rank"), 1);
  EXPECT_EQ(doc.at("distributedInfo").at("world_size"), 4);
  EXPECT_EQ(doc.at("traceEvents"), events());
}

}  // namespace
}  // namespace tpb
