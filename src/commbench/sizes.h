// Sizes on the command line and the sweep over them, as nccl-tests takes them:
// `-b 8 -e 64M -f 4` is 8, 32, 128, ... up to 64 MiB.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tpb {

// "8" -> 8, "64K" -> 65536, "64M" -> 67108864, "1G" -> 1073741824 (binary multiples, either
// case, as nccl-tests reads them). Throws UsageError naming `flag` and the text otherwise.
size_t parse_size(std::string_view text, std::string_view flag);

// min, min*factor, min*factor^2, ... while <= max. Needs 0 < min <= max and factor >= 2.
std::vector<size_t> sweep_sizes(size_t min_bytes, size_t max_bytes, size_t factor);

// 65536 -> "64K", 100 -> "100": the shortest exact form, for messages.
std::string format_size(size_t bytes);

}  // namespace tpb
