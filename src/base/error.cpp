#include "base/error.h"

#include <cstring>

namespace tpb {

std::string format_check_failure(const char* cond, const std::string& message,
                                 const std::source_location& where) {
  // Keep the path short: from "src/" on, so messages read the same on every machine.
  const char* file = where.file_name();
  if (const char* src = std::strstr(file, "src/")) file = src;
  return fmt::format("{}:{}: check `{}` failed: {}", file, where.line(), cond, message);
}

}  // namespace tpb
