// The device mesh on the ranks mpirun started, for every tp that divides the world size:
// (world, tp) in (1,1), (2,1), (2,2), (3,1), (3,3), (4,1), (4,2), (4,4) across the runs.
#include <gtest/gtest.h>

#include "base/error.h"
#include "comm/device_mesh.h"
#include "comm/mpi/mpi_communicator.h"

namespace tpb {
namespace {

TEST(DeviceMesh, GroupsAndCoordinatesForEveryTp) {
  auto world = MpiCommunicator::world();
  const int n = world->size(), rank = world->rank();
  for (int tp = 1; tp <= n; ++tp) {
    if (n % tp != 0) continue;
    SCOPED_TRACE("world " + std::to_string(n) + ", tp " + std::to_string(tp));
    const ParallelDims dims(n, tp);
    DeviceMesh mesh(*world, dims);
    EXPECT_EQ(mesh.tp_size(), tp);
    EXPECT_EQ(mesh.dp_size(), n / tp);
    EXPECT_EQ(mesh.tp_rank(), rank % tp);
    EXPECT_EQ(mesh.dp_rank(), rank / tp);
    // The real communicators hold the ranks the layout says.
    EXPECT_EQ(mesh.tp().world_ranks(), dims.tp_groups()[static_cast<size_t>(rank / tp)]);
    EXPECT_EQ(mesh.dp().world_ranks(), dims.dp_groups()[static_cast<size_t>(rank % tp)]);
    // Sum of world ranks over my TP group: tp * first + tp(tp-1)/2.
    std::vector<float> x = {static_cast<float>(rank)};
    mesh.tp().all_reduce(x, ReduceOp::sum);
    const int first = rank / tp * tp;
    EXPECT_EQ(x[0], static_cast<float>(tp * first + tp * (tp - 1) / 2));
    // Over my DP group: ranks rank%tp, rank%tp + tp, ...
    std::vector<float> y = {static_cast<float>(rank)};
    mesh.dp().all_reduce(y, ReduceOp::sum);
    const int dp = n / tp;
    EXPECT_EQ(y[0], static_cast<float>(dp * (rank % tp) + tp * dp * (dp - 1) / 2));
    EXPECT_EQ(mesh.coordinates(), "[rank " + std::to_string(rank) + "/" + std::to_string(n) +
                                      "] [tp:" + std::to_string(rank % tp) + "/" +
                                      std::to_string(tp) + "][dp:" + std::to_string(rank / tp) +
                                      "/" + std::to_string(n / tp) + "]");
  }
}

TEST(DeviceMesh, BadTpThrowsBeforeAnyCommunication) {
  auto world = MpiCommunicator::world();
  const size_t before = world->log().records().size();
  EXPECT_THROW(DeviceMesh(*world, ParallelDims(world->size(), 0)), UsageError);
  EXPECT_THROW(DeviceMesh(*world, ParallelDims(world->size(), world->size() + 1)), UsageError);
  // Dims of another world size: refused before any split.
  EXPECT_THROW(DeviceMesh(*world, ParallelDims(world->size() + 1, 1)), Error);
  EXPECT_EQ(world->log().records().size(), before);
}

}  // namespace
}  // namespace tpb
