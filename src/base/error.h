// Errors that are loud, located and testable.
//
// TPB_CHECK(cond, fmt, args...) throws tpb::Error naming the failed condition, the place
// and a message formatted with fmt (so the values that broke it are in the text).
// TPB_DCHECK is the same in debug builds and nothing in release builds: use it only on
// hot paths whose inputs an always-on check has already validated.
//
// UsageError marks errors caused by what the user asked for (a flag value, a config). They
// are deterministic: every rank raises the same one, so main prints it once, from rank 0.
#pragma once

#include <fmt/format.h>

#include <source_location>
#include <stdexcept>
#include <string>

namespace tpb {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what) {}
};

// Bad input that every rank finds at the same point, from the same gathered values (the
// mesh's refusal of TP across hosts): main() then lets rank 0 print it once and every rank
// exit 2 normally, instead of aborting the job.
class AgreedUsageError : public UsageError {
 public:
  explicit AgreedUsageError(const std::string& what) : UsageError(what) {}
};

// Builds "file:line: check `cond` failed: message" for TPB_CHECK.
std::string format_check_failure(const char* cond, const std::string& message,
                                 const std::source_location& where);

template <typename... Args>
[[noreturn]] void throw_check_failure(const char* cond, const std::source_location& where,
                                      fmt::format_string<Args...> f, Args&&... args) {
  throw Error(format_check_failure(cond, fmt::format(f, std::forward<Args>(args)...), where));
}

// Throws a UsageError with a formatted message.
template <typename... Args>
[[noreturn]] void usage_error(fmt::format_string<Args...> f, Args&&... args) {
  throw UsageError(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace tpb

#define TPB_CHECK(cond, ...)                                                              \
  do {                                                                                     \
    if (!(cond)) [[unlikely]]                                                              \
      ::tpb::throw_check_failure(#cond, std::source_location::current(), __VA_ARGS__);     \
  } while (0)

#ifdef NDEBUG
#define TPB_DCHECK(cond, ...) \
  do {                        \
  } while (0)
#else
#define TPB_DCHECK(cond, ...) TPB_CHECK(cond, __VA_ARGS__)
#endif
