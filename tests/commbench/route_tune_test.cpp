// rules_from_trials (commbench/route_tune.h) on hand-made timings: the route with the lower
// mean of the out-of-place and in-place times per size, adjacent sizes with the same route
// merged, a switch at the first size of the new route, ties to mpi; and the rules it makes
// are ones RouteTable::set takes.
#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "base/error.h"
#include "commbench/route_tune.h"

namespace tpb {
namespace {

constexpr int64_t kMax = INT64_MAX;

// One sweep: (bytes, out-of-place seconds, in-place seconds) per size.
OpResult sweep(const std::vector<std::pair<size_t, std::pair<double, double>>>& points) {
  OpResult r;
  for (const auto& [bytes, t] : points) {
    SizeResult z;
    z.requested_bytes = bytes;
    z.bytes = bytes;
    z.count = bytes / 4;
    z.out_of_place.time_s = t.first;
    z.in_place.time_s = t.second;
    r.sizes.push_back(z);
  }
  return r;
}

TEST(RulesFromTrials, SwitchesAtTheFirstSizeOfTheNewRoute) {
  //                     1K          2K          4K          8K          16K
  const OpResult mpi = sweep({{1024, {2, 2}}, {2048, {2, 2}}, {4096, {1, 1}}, {8192, {1, 1}}, {16384, {9, 9}}});
  const OpResult shm = sweep({{1024, {1, 1}}, {2048, {1, 1}}, {4096, {3, 3}}, {8192, {3, 3}}, {16384, {4, 4}}});
  const std::vector<RouteRule> want = {{4096, CollRoute::shm}, {16384, CollRoute::mpi}, {kMax, CollRoute::shm}};
  EXPECT_EQ(rules_from_trials(mpi, shm), want);
  RouteTable t;
  t.set(CommOp::all_reduce, 2, rules_from_trials(mpi, shm));  // a table takes them
  EXPECT_EQ(t.lookup(CommOp::all_reduce, 2, 4095), CollRoute::shm);
  EXPECT_EQ(t.lookup(CommOp::all_reduce, 2, 4096), CollRoute::mpi);
  EXPECT_EQ(t.lookup(CommOp::all_reduce, 2, 16384), CollRoute::shm);
}

TEST(RulesFromTrials, OneRouteEverywhereIsOneUnboundedRule) {
  const OpResult mpi = sweep({{1024, {5, 5}}, {4096, {6, 6}}, {65536, {7, 7}}});
  const OpResult shm = sweep({{1024, {1, 1}}, {4096, {2, 2}}, {65536, {3, 3}}});
  EXPECT_EQ(rules_from_trials(mpi, shm), (std::vector<RouteRule>{{kMax, CollRoute::shm}}));
  EXPECT_EQ(rules_from_trials(shm, mpi), (std::vector<RouteRule>{{kMax, CollRoute::mpi}}));
}

TEST(RulesFromTrials, TiesGoToMpi) {
  const OpResult mpi = sweep({{1024, {1, 1}}, {2048, {2, 2}}, {4096, {3, 3}}});
  const OpResult shm = sweep({{1024, {1, 1}}, {2048, {1, 1}}, {4096, {3, 3}}});
  const std::vector<RouteRule> want = {{2048, CollRoute::mpi}, {4096, CollRoute::shm}, {kMax, CollRoute::mpi}};
  EXPECT_EQ(rules_from_trials(mpi, shm), want);
  EXPECT_EQ(rules_from_trials(mpi, mpi), (std::vector<RouteRule>{{kMax, CollRoute::mpi}}));
}

TEST(RulesFromTrials, ComparesTheMeanOfBothVariants) {
  // shm is faster out of place but slower on the mean (1 + 9 = 10 > 4 + 4 = 8): mpi.
  const OpResult mpi = sweep({{1024, {4, 4}}, {2048, {4, 4}}});
  const OpResult shm = sweep({{1024, {1, 9}}, {2048, {9, 1}}});
  EXPECT_EQ(rules_from_trials(mpi, shm), (std::vector<RouteRule>{{kMax, CollRoute::mpi}}));
  const OpResult shm_faster = sweep({{1024, {1, 6}}, {2048, {6, 1}}});  // 7 < 8
  EXPECT_EQ(rules_from_trials(mpi, shm_faster), (std::vector<RouteRule>{{kMax, CollRoute::shm}}));
}

TEST(RulesFromTrials, RefusesSweepsThatDoNotMatch) {
  const OpResult two = sweep({{1024, {1, 1}}, {2048, {1, 1}}});
  const OpResult one = sweep({{1024, {1, 1}}});
  EXPECT_THROW(rules_from_trials(two, one), Error);
  EXPECT_THROW(rules_from_trials(OpResult{}, OpResult{}), Error);
}

}  // namespace
}  // namespace tpb
