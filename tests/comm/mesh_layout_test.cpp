#include <gtest/gtest.h>

#include "base/error.h"
#include "comm/device_mesh.h"

namespace tpb {
namespace {

TEST(MeshLayout, TpGroupsAreContiguous) {
  EXPECT_EQ(format_groups(mesh_tp_groups(4, 1)), "[[0], [1], [2], [3]]");
  EXPECT_EQ(format_groups(mesh_tp_groups(4, 2)), "[[0, 1], [2, 3]]");
  EXPECT_EQ(format_groups(mesh_tp_groups(4, 4)), "[[0, 1, 2, 3]]");
  EXPECT_EQ(format_groups(mesh_tp_groups(2, 2)), "[[0, 1]]");
  EXPECT_EQ(format_groups(mesh_tp_groups(2, 1)), "[[0], [1]]");
}

TEST(MeshLayout, DpGroupsAreStrided) {
  EXPECT_EQ(format_groups(mesh_dp_groups(4, 1)), "[[0, 1, 2, 3]]");
  EXPECT_EQ(format_groups(mesh_dp_groups(4, 2)), "[[0, 2], [1, 3]]");
  EXPECT_EQ(format_groups(mesh_dp_groups(4, 4)), "[[0], [1], [2], [3]]");
  EXPECT_EQ(format_groups(mesh_dp_groups(2, 2)), "[[0], [1]]");
}

TEST(MeshLayout, BadSizesNameTheValues) {
  auto message = [](int world, int tp) {
    try {
      validate_mesh(world, tp);
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
}

}  // namespace
}  // namespace tpb
