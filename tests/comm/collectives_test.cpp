// The collective test body (collective_cases.cpp) on the MPI communicator with host
// buffers, on however many ranks mpirun started (1..4); and bf16 rounding itself.
#include <gtest/gtest.h>

#include <cmath>

#include "base/bf16.h"
#include "collective_cases.h"
#include "comm/mpi/mpi_communicator.h"

namespace tpb::testing {
namespace {

Backend mpi_on_host_memory() {
  Backend b;
  b.name = "Mpi";
  b.make = [] {
    BackendSetup s;
    s.memory = std::make_shared<HostMemory>();
    s.comm = MpiCommunicator::world();
    return s;
  };
  return b;
}

INSTANTIATE_TEST_SUITE_P(Mpi, Collectives, ::testing::Values(mpi_on_host_memory()), backend_name);

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
