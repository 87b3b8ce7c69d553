#include "commbench/sizes.h"

#include <fmt/format.h>

#include <cctype>
#include <limits>

#include "base/error.h"

namespace tpb {

size_t parse_size(std::string_view text, std::string_view flag) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  size_t shift = 0;
  const std::string_view suffix = text.substr(digits);
  if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  else if (!suffix.empty()) digits = 0;  // anything else after the digits is malformed
  if (digits == 0)
    usage_error("{} {} is not a size (digits with an optional K, M or G suffix)", flag, text);
  // 18 digits stay below 2^60; the shifted value must fit too.
  size_t value = 0;
  for (size_t i = 0; i < digits; ++i) value = value * 10 + static_cast<size_t>(text[i] - '0');
  if (digits > 18 || value > (std::numeric_limits<size_t>::max() >> shift))
    usage_error("{} {} is too large", flag, text);
  return value << shift;
}

std::vector<size_t> sweep_sizes(size_t min_bytes, size_t max_bytes, size_t factor) {
  TPB_CHECK(min_bytes > 0 && min_bytes <= max_bytes && factor >= 2,
            "sweep_sizes: needs 0 < min {} <= max {} and factor {} >= 2", min_bytes, max_bytes,
            factor);
  std::vector<size_t> sizes;
  for (size_t s = min_bytes;; s *= factor) {
    sizes.push_back(s);
    if (s > max_bytes / factor) break;  // the next size would pass max (or overflow)
  }
  return sizes;
}

std::string format_size(size_t bytes) {
  if (bytes != 0 && bytes % (size_t{1} << 30) == 0) return fmt::format("{}G", bytes >> 30);
  if (bytes != 0 && bytes % (size_t{1} << 20) == 0) return fmt::format("{}M", bytes >> 20);
  if (bytes != 0 && bytes % (size_t{1} << 10) == 0) return fmt::format("{}K", bytes >> 10);
  return fmt::format("{}", bytes);
}

}  // namespace tpb
