// The parsers of flag values typed by users: sizes ("64K", comm -b/-e), integer lists
// (sweep --tp 1,2,4), word lists, bench ops and dtypes, and the range checks every numeric
// flag goes through (cli/flag_ranges). Input: byte 0 picks the parser, the rest is the text.
// A UsageError is a refusal; anything else (a crash, a sanitizer report) is a finding.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/error.h"
#include "cli/flag_ranges.h"
#include "commbench/bench_op.h"
#include "commbench/sizes.h"
#include "sweep/sweep_plan.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 8) {
      case 0: {
        const size_t v = tpb::parse_size(text, "-b/--min-bytes");
        if (v != 0) check(tpb::parse_size(tpb::format_size(v), "x") == v);  // round trip
        break;
      }
      case 1:
        for (int64_t v : tpb::parse_int_list("--tp", text)) check(v >= 1);
        break;
      case 2: (void)tpb::parse_word_list("--dp-shard", text, {"none", "optimizer", "full"}); break;
      case 3: (void)tpb::parse_bench_ops(text); break;
      case 4: (void)tpb::parse_bench_dtype(text); break;
      default: {
        static const std::vector<tpb::FlagRange> ranges = {
            tpb::range::ints(0, 1000), tpb::range::positive(tpb::kMaxRanks),
            tpb::range::reals(-1.0, 1e9), tpb::range::positive_reals(10.0),
            tpb::range::bytes(1, int64_t{1} << 40), tpb::range::int_list(1, 4096)};
        for (const auto& r : ranges) (void)r.check(text);
        break;
      }
    }
  } catch (const tpb::UsageError&) {
  }
  return 0;
}
