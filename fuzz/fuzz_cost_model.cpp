// The results files C++ reads back: a `comm --fit` cost profile (commbench/cost_model) and a
// flight-recorder dump (comm/flight_dump, what `tpbench flight` diagnoses). Input: byte 0
// picks the reader, the rest is the file's text. A tpb::Error naming the problem is a
// refusal; a crash, a sanitizer report or any other exception is a finding.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"
#include "comm/flight_dump.h"
#include "commbench/cost_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const nlohmann::json doc = nlohmann::json::parse(data + 1, data + size, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  try {
    if (data[0] % 2 == 0) {
      const tpb::CostModel m = tpb::cost_model_from_json(doc);
      for (const auto& [op, fit] : m.ops) (void)m.predict(op, 1024.0);
      (void)tpb::to_json(m).dump();
    } else {
      const tpb::FlightDump d = tpb::parse_flight_dump(doc);
      (void)tpb::diagnose_flight({d});
    }
  } catch (const tpb::Error&) {
  } catch (const nlohmann::json::exception&) {
    // cost_model_from_json leaves these to its caller (load_cost_model names the file).
  }
  return 0;
}
