// Every numeric flag of every command has a finite, stated range, given where the flag is
// added: add_ranged() registers the option and its range in one call. The range is checked
// on the text the user typed, before CLI11 converts it, so "-1" for an unsigned seed,
// "nan", "inf" or 2^70 cannot slip through a conversion, and a value outside it ends the
// parse with one UsageError naming the flag, the bound and the value (main prints it and
// exits 2; nothing is launched).
//
// Each registration is also recorded in a registry (flag_ranges()) so the ranges can be
// enumerated: `tpbench --list-flag-ranges` prints them, and tests/cli drives every
// registered flag with values outside its range and checks that no numeric option of any
// command was added without one. A new numeric flag therefore needs add_ranged(), and is
// then covered by those tests automatically.
//
// Whether a flag was given is a std::optional (the add_ranged overload for it), never a
// sentinel value that a user could also type.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tpb {

// The most ranks any flag takes (tpbench --nproc, --tp).
inline constexpr int64_t kMaxRanks = 4096;

enum class FlagKind {
  integer,   // a whole number
  real,      // a finite floating-point number
  size,      // bytes, digits with an optional K, M or G suffix (comm -b/-e)
  int_list,  // comma-separated integers, each in the range (sweep's lists)
};

struct FlagRange {
  std::string command;  // the subcommand ("train"); "" for tpbench's own flags
  std::string flag;     // as messages name it: "--lr", "-f/--step-factor"
  FlagKind kind = FlagKind::integer;
  int64_t ilo = 0, ihi = 0;  // integer, size, int_list (each element): inclusive bounds
  double lo = 0, hi = 0;     // real: inclusive bounds, except lo when lo_open
  bool lo_open = false;      // worded "must be > X": reals (lo, hi]; integers X = ilo - 1
  std::string note;          // why the upper bound is what it is (appended to that message)

  // "[1, 4096]", "(0, 10]", "[1, 4096] each".
  std::string describe() const;
  // The error for the text `value` ("" when it is in range, or when it is not a number of
  // this kind at all: CLI11's conversion then reports it).
  std::string check(const std::string& value) const;
  // Values outside the range, as a user would type them (for tests): below, above, and
  // for reals nan and inf.
  std::vector<std::string> bad_values() const;
};

// Ranges, to give add_ranged.
namespace range {
FlagRange ints(int64_t lo, int64_t hi);                   // [lo, hi], worded ">= lo"
FlagRange positive(int64_t hi);                           // [1, hi], worded "> 0"
FlagRange reals(double lo, double hi);                    // [lo, hi], finite
FlagRange positive_reals(double hi);                      // (0, hi], finite
FlagRange bytes(int64_t lo, int64_t hi);                  // a size in [lo, hi] bytes
FlagRange int_list(int64_t lo, int64_t hi);               // every element in [lo, hi]
}  // namespace range

// Records `r` for `opt` of `sub` (command and flag filled in) and checks every value given.
CLI::Option* attach_range(CLI::App& sub, CLI::Option* opt, FlagRange r);
// Records a range (attach_range does, for each flag it checks).
void record_range(FlagRange r);
// Records the range of tpbench's own `flag`, checked elsewhere (--nproc, by CLI::Range).
inline void record_range(FlagRange r, const std::string& flag) {
  r.command.clear();
  r.flag = flag;
  record_range(std::move(r));
}

template <typename T>
CLI::Option* add_ranged(CLI::App& sub, const std::string& names, T& var, FlagRange r, const std::string& help) {
  return attach_range(sub, sub.add_option(names, var, help), std::move(r));
}

// Sets `var` only when the flag is given.
template <typename T>
CLI::Option* add_ranged(CLI::App& sub, const std::string& names, std::optional<T>& var, FlagRange r,
                        const std::string& help) {
  return attach_range(sub, sub.add_option_function<T>(names, [&var](const T& v) { var = v; }, help), std::move(r));
}

// Path flags (--out, --json, --data-path, ...): the empty string is refused by name (an empty
// --out would put the run under the current directory's root of relative paths, "" + "/x"
// = "/x": the filesystem root).
CLI::Option* path_flag(CLI::Option* opt);
// A name that becomes one directory level under --out (--run-name): no path separator, not
// empty, "." or "..", so it cannot leave the output directory.
CLI::Option* single_name_flag(CLI::Option* opt);

// Every range recorded so far in this process (each command and flag once), in the order
// recorded.
const std::vector<FlagRange>& flag_ranges();
// One line per range: "COMMAND FLAG KIND RANGE" (`tpbench --list-flag-ranges`).
std::string format_flag_ranges();

}  // namespace tpb
