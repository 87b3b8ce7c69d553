// The collective test body (collective_cases.cpp) on the MPI communicator with host
// buffers, on however many ranks mpirun started (1..4); and bf16 rounding itself.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "base/bf16.h"
#include "collective_cases.h"
#include "comm/mpi/mpi_communicator.h"

namespace tpb::testing {
namespace {

// The MPI communicator with every routed collective forced onto one route (Open MPI's own,
// or tpbench's shared-memory collectives), and with the built-in route table. after_test
// checks from the CommLog that the calls took the route forced (the shared-memory route
// takes only groups of 2+ ranks and the dtypes it can reduce; everything else is mpi's).
Backend mpi_on_host_memory(std::string name, std::optional<CollRoute> forced) {
  Backend b;
  b.name = std::move(name);
  b.make = [forced] {
    BackendSetup s;
    s.memory = std::make_shared<HostMemory>();
    s.comm = MpiCommunicator::world();
    auto policy = std::make_shared<RoutePolicy>();
    policy->forced = forced;
    s.comm->set_route_policy(policy);
    s.after_test = [forced](Communicator& c) {
      if (!forced) return;
      for (const CommRecord& r : c.log().records()) {
        const CollRoute took = static_cast<CollRoute>(r.route);
        const bool routed = route_key(r.op) != CommOp::all_to_all && route_key(r.op) != CommOp::barrier;
        if (*forced == CollRoute::shm && routed && c.log().group(r.group).size > 1 && took != CollRoute::shm) {
          // Only a reduction of a dtype the route cannot reduce may fall back.
          EXPECT_TRUE(route_key(r.op) == CommOp::all_reduce || route_key(r.op) == CommOp::reduce_scatter)
              << comm_op_name(r.op) << " of " << r.bytes << " bytes took " << coll_route_name(took);
        }
        if (*forced == CollRoute::mpi) EXPECT_EQ(took, CollRoute::mpi) << comm_op_name(r.op);
      }
    };
    return s;
  };
  return b;
}

INSTANTIATE_TEST_SUITE_P(Mpi, Collectives,
                         ::testing::Values(mpi_on_host_memory("Mpi", CollRoute::mpi),
                                           mpi_on_host_memory("Shm", CollRoute::shm),
                                           mpi_on_host_memory("Auto", std::nullopt)),
                         backend_name);

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_float(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(256.0f)), 256.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(257.0f)), 256.0f);  // tie: to even
  EXPECT_EQ(bf16_to_float(float_to_bf16(259.0f)), 260.0f);  // tie: to even
  EXPECT_EQ(bf16_to_float(float_to_bf16(258.0f)), 258.0f);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
  EXPECT_TRUE(std::isinf(bf16_to_float(float_to_bf16(INFINITY))));
}

}  // namespace
}  // namespace tpb::testing
