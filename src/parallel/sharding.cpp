#include "parallel/sharding.h"

#include "base/error.h"

namespace tpb {

std::vector<int64_t> split_sizes(int64_t total, int parts) {
  TPB_CHECK(parts >= 1, "cannot split into {} parts", parts);
  TPB_CHECK(total >= 0, "cannot split a negative size {}", total);
  std::vector<int64_t> sizes(static_cast<size_t>(parts), total / parts);
  for (int64_t r = 0; r < total % parts; ++r) ++sizes[static_cast<size_t>(r)];
  return sizes;
}

Shard shard_of(int64_t total, int parts, int index) {
  TPB_CHECK(index >= 0 && index < parts, "shard index {} outside {} parts", index, parts);
  const int64_t base = total / parts, extra = total % parts;
  const int64_t offset = index * base + std::min<int64_t>(index, extra);
  return {offset, base + (index < extra ? 1 : 0)};
}

}  // namespace tpb
