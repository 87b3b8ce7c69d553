// How a dimension is split over the ranks of a group: torch.tensor_split's rule, so
// uneven sizes go to the first ranks (1000 over 3 ranks: 334, 333, 333).
#pragma once

#include <cstdint>
#include <vector>

namespace tpb {

struct Shard {
  int64_t offset = 0;  // first index of the shard in the full dimension
  int64_t size = 0;    // number of indices (the `_local` size)
};

// Sizes of every part, in rank order.
std::vector<int64_t> split_sizes(int64_t total, int parts);
// Part `index` of `total` split over `parts`.
Shard shard_of(int64_t total, int parts, int index);

}  // namespace tpb
