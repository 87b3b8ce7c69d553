// Integers read back from JSON files (flight dumps, cost profiles, route tables): the value
// must be a JSON integer that fits the C++ type. nlohmann's get<int64_t>() converts a
// floating value (1e30) or a wider integer with a cast, which is undefined behaviour or a
// silent wrap; json_integer refuses both with a tpb::Error naming the field and the value.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>
#include <type_traits>

#include "base/error.h"

namespace tpb {

template <typename T>
T json_integer(const nlohmann::json& v, std::string_view field) {
  static_assert(std::is_integral_v<T> && std::is_signed_v<T>, "json_integer reads signed integers");
  TPB_CHECK(v.is_number_integer(), "'{}' must be an integer, not {}", field, v.dump());
  constexpr auto lo = std::numeric_limits<T>::min();
  constexpr auto hi = std::numeric_limits<T>::max();
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    TPB_CHECK(u <= static_cast<uint64_t>(hi), "'{}' = {} is above {}", field, u, hi);
    return static_cast<T>(u);
  }
  const int64_t i = v.get<int64_t>();
  TPB_CHECK(i >= lo && i <= hi, "'{}' = {} is outside [{}, {}]", field, i, lo, hi);
  return static_cast<T>(i);
}

// The integer at key `key` of object `obj` (it must be there).
template <typename T>
T json_integer_at(const nlohmann::json& obj, const char* key) {
  return json_integer<T>(obj.at(key), key);
}

}  // namespace tpb
