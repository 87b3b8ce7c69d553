#include "cli/flag_ranges.h"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "base/error.h"
#include "commbench/sizes.h"

namespace tpb {

namespace {

std::vector<FlagRange>& registry() {
  static std::vector<FlagRange> ranges;
  return ranges;
}

enum class Parsed { ok, too_large, not_a_number };

// As CLI11 reads an integer (strtoll, base 0: 0x10 and 010 too), but saying when it does
// not fit instead of saturating.
Parsed parse_integer(const std::string& s, int64_t& v) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s.front()))) return Parsed::not_a_number;
  char* end = nullptr;
  errno = 0;
  v = std::strtoll(s.c_str(), &end, 0);
  if (end != s.c_str() + s.size()) return Parsed::not_a_number;
  return errno == ERANGE ? Parsed::too_large : Parsed::ok;
}

// Digits with an optional K, M or G suffix (as parse_size reads them), or not_a_number.
Parsed parse_bytes(const std::string& s, int64_t& v) {
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  const std::string suffix = s.substr(digits);
  int shift = 0;
  if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  else if (!suffix.empty()) return Parsed::not_a_number;
  if (digits == 0) return Parsed::not_a_number;
  v = 0;
  for (size_t i = 0; i < digits; ++i)
    if (__builtin_mul_overflow(v, int64_t{10}, &v) || __builtin_add_overflow(v, int64_t{s[i] - '0'}, &v))
      return Parsed::too_large;
  if (v > (std::numeric_limits<int64_t>::max() >> shift)) return Parsed::too_large;
  v <<= shift;
  return Parsed::ok;
}

std::string display_name(const std::string& names) {
  std::string out, word;
  auto flush = [&] {
    if (!word.empty()) out += (out.empty() ? "" : "/") + word;
    word.clear();
  };
  for (char ch : names) {
    if (ch == ',' || std::isspace(static_cast<unsigned char>(ch))) flush();
    else word += ch;
  }
  flush();
  return out;
}

std::string int_text(int64_t v) { return fmt::format("{}", v); }

std::string bound_text(const FlagRange& r, int64_t v) {
  return r.kind == FlagKind::size ? format_size(static_cast<size_t>(v)) : int_text(v);
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> items(1);
  for (char ch : s) {
    if (ch == ',') items.emplace_back();
    else items.back() += ch;
  }
  return items;
}

}  // namespace

namespace range {
FlagRange ints(int64_t lo, int64_t hi) {
  FlagRange r;
  r.kind = FlagKind::integer;
  r.ilo = lo;
  r.ihi = hi;
  return r;
}
FlagRange positive(int64_t hi) {
  FlagRange r = ints(1, hi);
  r.lo_open = true;
  return r;
}
FlagRange reals(double lo, double hi) {
  FlagRange r;
  r.kind = FlagKind::real;
  r.lo = lo;
  r.hi = hi;
  return r;
}
FlagRange positive_reals(double hi) {
  FlagRange r = reals(0, hi);
  r.lo_open = true;
  return r;
}
FlagRange bytes(int64_t lo, int64_t hi) {
  FlagRange r = ints(lo, hi);
  r.kind = FlagKind::size;
  return r;
}
FlagRange int_list(int64_t lo, int64_t hi) {
  FlagRange r = ints(lo, hi);
  r.kind = FlagKind::int_list;
  return r;
}
}  // namespace range

std::string FlagRange::describe() const {
  switch (kind) {
    case FlagKind::real: return fmt::format("{}{}, {}]", lo_open ? "(" : "[", lo, hi);
    case FlagKind::int_list: return fmt::format("[{}, {}] each", ilo, ihi);
    case FlagKind::size: return fmt::format("[{}, {}] bytes", bound_text(*this, ilo), bound_text(*this, ihi));
    case FlagKind::integer: break;
  }
  return fmt::format("[{}, {}]", ilo, ihi);
}

std::string FlagRange::check(const std::string& value) const {
  const std::string why = note.empty() ? "" : fmt::format(" ({})", note);
  const auto below = [&](const std::string& bound) {
    return lo_open ? fmt::format("{} must be > {}, got {}", flag, bound, value)
                   : fmt::format("{} must be >= {}, got {}", flag, bound, value);
  };
  const auto above = [&](const std::string& bound) {
    return fmt::format("{} must be <= {}, got {}{}", flag, bound, value, why);
  };
  switch (kind) {
    case FlagKind::real: {
      if (value.empty() || std::isspace(static_cast<unsigned char>(value.front()))) return "";
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (end != value.c_str() + value.size()) return "";
      if (!std::isfinite(v)) return fmt::format("{} must be a finite number, got {}", flag, value);
      if (lo_open ? !(v > lo) : !(v >= lo)) return below(fmt::format("{}", lo));
      if (!(v <= hi)) return above(fmt::format("{}", hi));
      return "";
    }
    case FlagKind::int_list: {
      for (const std::string& item : split_commas(value)) {
        int64_t v = 0;
        const Parsed p = parse_integer(item, v);
        if (p == Parsed::not_a_number) return "";  // the list's own parser names it
        if (p == Parsed::ok && v < ilo) return fmt::format("{} {}: {} is below {}", flag, value, item, ilo);
        if (p == Parsed::too_large || v > ihi)
          return fmt::format("{} {}: {} is above {}{}", flag, value, item, ihi, why);
      }
      return "";
    }
    case FlagKind::integer:
    case FlagKind::size: {
      int64_t v = 0;
      const Parsed p = kind == FlagKind::size ? parse_bytes(value, v) : parse_integer(value, v);
      if (p == Parsed::not_a_number) return "";  // CLI11's conversion (or the size parser) names it
      if (p == Parsed::too_large) return value.front() == '-' ? below(bound_text(*this, lo_open ? ilo - 1 : ilo))
                                                              : above(bound_text(*this, ihi));
      if (v < ilo) return below(bound_text(*this, lo_open ? ilo - 1 : ilo));
      if (v > ihi) return above(bound_text(*this, ihi));
      return "";
    }
  }
  return "";
}

std::vector<std::string> FlagRange::bad_values() const {
  std::vector<std::string> v;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  switch (kind) {
    case FlagKind::real:
      v.push_back(lo_open ? fmt::format("{}", lo) : fmt::format("{}", lo - std::max(1.0, std::abs(lo))));
      v.push_back(fmt::format("{}", hi > 0 ? hi * 2 : hi + 1));
      v.push_back("nan");
      v.push_back("inf");
      break;
    case FlagKind::int_list:
      v.push_back(fmt::format("{},{}", ihi, ilo - 1));
      v.push_back(fmt::format("{},{}", ilo, ihi < kMax ? int_text(ihi + 1) : "9223372036854775808"));
      break;
    case FlagKind::integer:
    case FlagKind::size:
      if (ilo > 0 || kind == FlagKind::integer) v.push_back(int_text(ilo - 1));
      v.push_back(ihi < kMax ? int_text(ihi + 1) : "9223372036854775808");
      break;
  }
  return v;
}

CLI::Option* attach_range(CLI::App& sub, CLI::Option* opt, FlagRange r) {
  r.command = sub.get_parent() ? sub.get_name() : "";
  r.flag = display_name(opt->get_name(false, true));
  record_range(r);
  opt->check(CLI::Validator(
      [r](std::string& value) {
        // Thrown through CLI11 (which catches only its ValidationError), so main prints
        // this one message with the command's name, as it prints validate()'s.
        if (std::string why = r.check(value); !why.empty()) throw UsageError(why);
        return std::string();
      },
      r.describe(), "range"));
  return opt;
}

CLI::Option* path_flag(CLI::Option* opt) {
  const std::string flag = display_name(opt->get_name(false, true));
  opt->check(CLI::Validator(
      [flag](std::string& value) {
        if (value.empty()) throw UsageError(flag + " is empty: give a path (an empty one would resolve to / or .)");
        return std::string();
      },
      "PATH", "path"));
  return opt;
}

CLI::Option* single_name_flag(CLI::Option* opt) {
  const std::string flag = display_name(opt->get_name(false, true));
  opt->check(CLI::Validator(
      [flag](std::string& value) {
        if (value.empty() || value == "." || value == ".." || value.find('/') != std::string::npos)
          throw UsageError(flag + " '" + value + "' must be one directory name (no '/', not '', '.' or '..'): " +
                           "runs stay inside --out");
        return std::string();
      },
      "NAME", "name"));
  return opt;
}

void record_range(FlagRange r) {
  for (FlagRange& known : registry())
    if (known.command == r.command && known.flag == r.flag) {
      known = std::move(r);
      return;
    }
  registry().push_back(std::move(r));
}

const std::vector<FlagRange>& flag_ranges() { return registry(); }

std::string format_flag_ranges() {
  std::string out;
  for (const FlagRange& r : registry()) {
    const char* kind = r.kind == FlagKind::integer ? "integer"
                       : r.kind == FlagKind::real  ? "real"
                       : r.kind == FlagKind::size  ? "size"
                                                   : "int_list";
    out += fmt::format("{} {} {} {}\n", r.command.empty() ? "tpbench" : r.command, r.flag, kind, r.describe());
  }
  return out;
}

}  // namespace tpb
