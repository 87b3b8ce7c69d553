#include <gtest/gtest.h>

#include "base/error.h"
#include "comm/parallel_dims.h"

namespace tpb {
namespace {

TEST(MeshLayout, TpGroupsAreContiguous) {
  EXPECT_EQ(format_groups(ParallelDims(4, 1).tp_groups()), "[[0], [1], [2], [3]]");
  EXPECT_EQ(format_groups(ParallelDims(4, 2).tp_groups()), "[[0, 1], [2, 3]]");
  EXPECT_EQ(format_groups(ParallelDims(4, 4).tp_groups()), "[[0, 1, 2, 3]]");
  EXPECT_EQ(format_groups(ParallelDims(2, 2).tp_groups()), "[[0, 1]]");
  EXPECT_EQ(format_groups(ParallelDims(2, 1).tp_groups()), "[[0], [1]]");
}

TEST(MeshLayout, DpGroupsAreStrided) {
  EXPECT_EQ(format_groups(ParallelDims(4, 1).dp_groups()), "[[0, 1, 2, 3]]");
  EXPECT_EQ(format_groups(ParallelDims(4, 2).dp_groups()), "[[0, 2], [1, 3]]");
  EXPECT_EQ(format_groups(ParallelDims(4, 4).dp_groups()), "[[0], [1], [2], [3]]");
  EXPECT_EQ(format_groups(ParallelDims(2, 2).dp_groups()), "[[0], [1]]");
}

TEST(MeshLayout, BadSizesNameTheValues) {
  auto message = [](int world, int tp) {
    try {
      ParallelDims(world, tp);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(4, 3), "--tp 3 does not divide the world size 4 (world = dp x tp)");
  EXPECT_EQ(message(2, 4), "--tp 4 is larger than the world size 2");
  EXPECT_EQ(message(4, 0), "--tp must be >= 1, got 0");
  EXPECT_EQ(message(4, -2), "--tp must be >= 1, got -2");
  EXPECT_EQ(message(4, 2), "no error");
  EXPECT_EQ(message(0, 1), "world size must be >= 1, got 0");
}

TEST(MeshLayout, DimsDeriveDpOnce) {
  const ParallelDims d(8, 2);
  EXPECT_EQ(d.world(), 8);
  EXPECT_EQ(d.tp(), 2);
  EXPECT_EQ(d.dp(), 4);
  EXPECT_EQ(d.tp_rank(5), 1);
  EXPECT_EQ(d.dp_rank(5), 2);
  EXPECT_EQ(d.describe(), "tp 2 x dp 4 (8 ranks)");
  EXPECT_EQ(ParallelDims(), ParallelDims(1, 1));
}

}  // namespace
}  // namespace tpb
