#include <gtest/gtest.h>

#include "base/error.h"
#include "parallel/sharding.h"

namespace tpb {
namespace {

TEST(Sharding, MatchesTorchTensorSplit) {
  EXPECT_EQ(split_sizes(1000, 3), (std::vector<int64_t>{334, 333, 333}));
  EXPECT_EQ(split_sizes(1000, 2), (std::vector<int64_t>{500, 500}));
  EXPECT_EQ(split_sizes(10, 4), (std::vector<int64_t>{3, 3, 2, 2}));
  EXPECT_EQ(split_sizes(2, 3), (std::vector<int64_t>{1, 1, 0}));
  EXPECT_EQ(split_sizes(7, 1), (std::vector<int64_t>{7}));
}

TEST(Sharding, OffsetsAreRunningSums) {
  for (int parts : {1, 2, 3, 4, 7})
    for (int64_t total : {0, 1, 5, 1000, 1001}) {
      const auto sizes = split_sizes(total, parts);
      int64_t offset = 0;
      for (int r = 0; r < parts; ++r) {
        const Shard s = shard_of(total, parts, r);
        EXPECT_EQ(s.offset, offset) << total << " over " << parts << ", part " << r;
        EXPECT_EQ(s.size, sizes[static_cast<size_t>(r)]);
        offset += s.size;
      }
      EXPECT_EQ(offset, total);
    }
}

TEST(Sharding, BadArguments) {
  EXPECT_THROW(split_sizes(10, 0), Error);
  EXPECT_THROW(split_sizes(-1, 2), Error);
  EXPECT_THROW(shard_of(10, 2, 2), Error);
}

}  // namespace
}  // namespace tpb
