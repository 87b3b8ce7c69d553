// Flight dumps (one JSON file per rank, DIR/rank{r}.json) and their analysis: which
// collective the job hangs in and which ranks never entered it.
//
// A dump ("tpbench.flight/1") holds the rank, world size, pid, host, why it was written,
// and per group: name, members (world ranks), this rank's place, the last entered and
// completed seq, and the ring's entries (op, seq, bytes, entered/left timestamps). A stuck
// rank writes none (SIGSTOP, a rank spinning with its watchdog descheduled, a dead one), so
// the analysis works from the others: each group G that some rank is inside (entered >
// completed) is hung at seq N = the highest such seq; the members of G whose dump is
// missing, or whose last entered seq of G is below N, never entered it. Groups are
// matched across dumps by name and members (and their order of creation among equal ones).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "comm/flight_recorder.h"

namespace tpb {

struct FlightDumpMeta {
  int rank = 0;
  int world_size = 1;
  std::string reason;     // "timeout: ..." or "peer dumped"
  double timeout_s = 0;   // the watchdog's limit when it fired
  int64_t now_ns = 0;     // when the dump was taken (tpb::now_ns)
};

nlohmann::json flight_dump_json(const FlightRecorder& recorder, const FlightDumpMeta& meta);

struct FlightDumpGroup {
  std::string name;
  std::vector<int> ranks;     // world ranks, in group-rank order
  int64_t entered = 0, completed = 0;
  std::vector<FlightEntry> entries;  // oldest first
  int occurrence = 0;         // among this dump's groups with the same name and members
};

struct FlightDump {
  int rank = 0;
  int world_size = 1;
  int64_t pid = 0;
  std::string host, reason;
  double timeout_s = 0;
  int64_t now_ns = 0;
  std::vector<FlightDumpGroup> groups;
};

// Throws tpb::Error naming the problem when `doc` is not a flight dump.
FlightDump parse_flight_dump(const nlohmann::json& doc);
// Every rank*.json of `dir` (in rank order); throws naming a file that is not a dump, or
// when there is none.
std::vector<FlightDump> read_flight_dir(const std::string& dir);

struct FlightHang {
  std::string group;             // name
  std::vector<int> group_ranks;  // world ranks
  int occurrence = 0;            // among groups with this name and these members
  int64_t seq = 0;
  CommOp op = CommOp::barrier;
  int64_t bytes = 0;
  double waited_s = 0;           // longest any rank waited in it, up to its dump
  std::vector<int> inside;       // entered it and were still inside
  std::vector<int> missing;      // never entered it: no dump
  std::vector<int> behind;       // never entered it: dumped, last entered seq below
  // Inside it, but stalled: it entered it long after the first rank did, or its watchdog
  // dumped long past its own limit (stopped or starved before or inside the call, it ran
  // again, e.g. on the SIGCONT mpirun sends before killing, and then dumped). "Long" is
  // max(1.5 s, half the limit). Compares timestamps of ranks on one host.
  std::vector<int> late;
  bool mismatch = false;         // ranks inside disagree on op or bytes
};

struct FlightDiagnosis {
  std::vector<FlightHang> hangs;  // the highest-seq hang of each hung group
  std::vector<int> no_dump;       // world ranks without a dump
  // The likely cause: ranks that hold up a hang and are not themselves waiting in a
  // collective (no dump, or dumped outside any collective).
  std::vector<int> culprits;
  std::string summary;            // one line
  std::vector<std::string> details;  // one line per hang and per rank
};

FlightDiagnosis diagnose_flight(const std::vector<FlightDump>& dumps);

}  // namespace tpb
