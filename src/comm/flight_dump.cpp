#include "comm/flight_dump.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "base/clock.h"
#include "base/error.h"
#include "base/json_integer.h"

namespace tpb {

namespace {

constexpr const char* kSchema = "tpbench.flight/1";

std::optional<CommOp> op_from_name(const std::string& name) {
  for (CommOp op : {CommOp::all_reduce, CommOp::all_gather, CommOp::all_gather_v, CommOp::reduce_scatter,
                    CommOp::reduce_scatter_v, CommOp::broadcast, CommOp::all_to_all, CommOp::barrier})
    if (comm_op_name(op) == name) return op;
  return std::nullopt;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "?";
  return buf;
}

std::string rank_list(const std::vector<int>& ranks) { return fmt::format("{}", fmt::join(ranks, ",")); }

std::string ranks_phrase(const std::vector<int>& ranks) {
  return fmt::format("rank{} {}", ranks.size() == 1 ? "" : "s", fmt::join(ranks, ", "));
}

}  // namespace

nlohmann::json flight_dump_json(const FlightRecorder& recorder, const FlightDumpMeta& meta) {
  nlohmann::json groups = nlohmann::json::array();
  for (const FlightGroup& g : recorder.groups()) {
    nlohmann::json entries = nlohmann::json::array();
    for (const FlightEntry& e : g.ring->entries())
      entries.push_back({{"seq", e.seq},
                         {"op", comm_op_name(e.op)},
                         {"bytes", e.bytes},
                         {"start_ns", e.start_ns},
                         {"end_ns", e.end_ns == 0 ? nlohmann::json(nullptr) : nlohmann::json(e.end_ns)}});
    groups.push_back({{"id", g.id},
                      {"name", g.info.name},
                      {"ranks", g.info.world_ranks},
                      {"rank_in_group", g.info.rank_in_group},
                      {"entered", g.ring->entered()},
                      {"completed", g.ring->completed()},
                      {"entries", entries}});
  }
  return {{"schema", kSchema},
          {"rank", meta.rank},
          {"world_size", meta.world_size},
          {"pid", static_cast<int64_t>(getpid())},
          {"host", host_name()},
          {"reason", meta.reason},
          {"timeout_s", meta.timeout_s},
          {"now_ns", meta.now_ns},
          {"groups", groups}};
}

FlightDump parse_flight_dump(const nlohmann::json& doc) {
  try {
    TPB_CHECK(doc.is_object() && doc.value("schema", "") == kSchema, "not a {} document", kSchema);
    FlightDump d;
    d.rank = json_integer_at<int>(doc, "rank");
    d.world_size = json_integer_at<int>(doc, "world_size");
    d.pid = doc.contains("pid") ? json_integer_at<int64_t>(doc, "pid") : 0;
    d.host = doc.value("host", "");
    d.reason = doc.value("reason", "");
    d.timeout_s = doc.value("timeout_s", 0.0);
    d.now_ns = json_integer_at<int64_t>(doc, "now_ns");
    TPB_CHECK(d.world_size >= 1 && d.rank >= 0 && d.rank < d.world_size, "rank {} outside a world of {}", d.rank,
              d.world_size);
    std::map<std::pair<std::string, std::vector<int>>, int> seen;
    for (const auto& g : doc.at("groups")) {
      FlightDumpGroup fg;
      fg.name = g.at("name").get<std::string>();
      for (const auto& r : g.at("ranks")) fg.ranks.push_back(json_integer<int>(r, "ranks"));
      fg.entered = json_integer_at<int64_t>(g, "entered");
      fg.completed = json_integer_at<int64_t>(g, "completed");
      fg.occurrence = seen[{fg.name, fg.ranks}]++;
      for (const auto& e : g.at("entries")) {
        FlightEntry fe;
        fe.seq = json_integer_at<int64_t>(e, "seq");
        const std::string op = e.at("op").get<std::string>();
        const auto parsed = op_from_name(op);
        TPB_CHECK(parsed.has_value(), "unknown op '{}'", op);
        fe.op = *parsed;
        fe.bytes = json_integer_at<int64_t>(e, "bytes");
        fe.start_ns = json_integer_at<int64_t>(e, "start_ns");
        fe.end_ns = e.at("end_ns").is_null() ? 0 : json_integer_at<int64_t>(e, "end_ns");
        fg.entries.push_back(fe);
      }
      d.groups.push_back(std::move(fg));
    }
    return d;
  } catch (const nlohmann::json::exception& e) {
    TPB_CHECK(false, "not a flight dump: {}", e.what());
  }
  return {};
}

std::vector<FlightDump> read_flight_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  TPB_CHECK(fs::is_directory(dir, ec), "{} is not a directory", dir);
  std::vector<FlightDump> dumps;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with("rank") || !name.ends_with(".json")) continue;
    std::ifstream in(e.path());
    nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
    TPB_CHECK(!doc.is_discarded(), "{}: not valid JSON", e.path().string());
    try {
      dumps.push_back(parse_flight_dump(doc));
    } catch (const Error& err) {
      TPB_CHECK(false, "{}: {}", e.path().string(), err.what());
    }
  }
  TPB_CHECK(!dumps.empty(), "{} holds no flight dumps (rank*.json)", dir);
  std::sort(dumps.begin(), dumps.end(), [](const auto& a, const auto& b) { return a.rank < b.rank; });
  return dumps;
}

FlightDiagnosis diagnose_flight(const std::vector<FlightDump>& dumps) {
  FlightDiagnosis out;
  int world = 1;
  std::map<int, const FlightDump*> by_rank;
  for (const FlightDump& d : dumps) {
    world = std::max(world, d.world_size);
    by_rank[d.rank] = &d;
  }
  for (int r = 0; r < world; ++r)
    if (!by_rank.count(r)) out.no_dump.push_back(r);

  // Group key -> each dumping member's view of it.
  using Key = std::tuple<std::string, std::vector<int>, int>;
  std::map<Key, std::map<int, const FlightDumpGroup*>> groups;
  for (const FlightDump& d : dumps)
    for (const FlightDumpGroup& g : d.groups) groups[{g.name, g.ranks, g.occurrence}][d.rank] = &g;
  // Ranks waiting for others: inside a collective no member has completed. One inside a
  // collective another member already left is not waiting for anyone (it was stopped or
  // descheduled there, and dumped later), so it can be a culprit.
  std::set<int> waiting;
  for (const auto& [key, views] : groups) {
    int64_t done = 0;
    for (const auto& [r, g] : views) done = std::max(done, g->completed);
    for (const auto& [r, g] : views)
      if (g->entered > g->completed && g->entered > done) waiting.insert(r);
  }

  const auto entry_of = [](const FlightDumpGroup& g, int64_t seq) -> const FlightEntry* {
    for (const FlightEntry& e : g.entries)
      if (e.seq == seq) return &e;
    return nullptr;
  };

  for (const auto& [key, views] : groups) {
    const auto& [name, members, occurrence] = key;
    int64_t n = 0, done = 0;
    for (const auto& [r, g] : views) {
      if (g->entered > g->completed) n = std::max(n, g->entered);
      done = std::max(done, g->completed);
    }
    if (n == 0 || n <= done) continue;  // nobody inside, or it completed on some member
    FlightHang h;
    h.group = name;
    h.group_ranks = members;
    h.occurrence = occurrence;
    h.seq = n;
    const FlightEntry* first = nullptr;
    std::vector<std::pair<int, int64_t>> starts;  // inside members: when each entered
    double limit_s = 0;
    for (int m : members) {
      const auto it = views.find(m);
      if (it == views.end()) {
        h.missing.push_back(m);
        continue;
      }
      const FlightDumpGroup& g = *it->second;
      if (g.entered >= n && g.completed < n) {
        h.inside.push_back(m);
        if (const FlightEntry* e = entry_of(g, n)) {
          if (!first) {
            first = e;
            h.op = e->op;
            h.bytes = e->bytes;
          } else if (e->op != first->op || e->bytes != first->bytes) {
            h.mismatch = true;
          }
          const FlightDump& d = *by_rank.at(m);
          const double inside_s = seconds_between(e->start_ns, d.now_ns);
          h.waited_s = std::max(h.waited_s, inside_s);
          starts.emplace_back(m, e->start_ns);
          // A responsive watchdog dumps within a poll (<= 1 s) of its limit.
          if (d.reason.starts_with("timeout") && d.timeout_s > 0 &&
              inside_s - d.timeout_s > std::max(1.5, 0.5 * d.timeout_s))
            h.late.push_back(m);
          limit_s = std::max(limit_s, d.timeout_s);
        }
      } else if (g.entered < n) {
        h.behind.push_back(m);
      }
    }
    // A member that entered long after the first held the others up.
    int64_t first_start = INT64_MAX;
    for (const auto& [m, t] : starts) first_start = std::min(first_start, t);
    for (const auto& [m, t] : starts)
      if (seconds_between(first_start, t) > std::max(1.5, 0.5 * limit_s) &&
          std::find(h.late.begin(), h.late.end(), m) == h.late.end())
        h.late.push_back(m);
    std::sort(h.late.begin(), h.late.end());
    out.hangs.push_back(std::move(h));
  }

  std::set<int> culprits;
  for (const FlightHang& h : out.hangs) {
    for (int r : h.missing) culprits.insert(r);
    for (int r : h.behind)
      if (!waiting.count(r)) culprits.insert(r);
    for (int r : h.late) culprits.insert(r);
  }
  out.culprits.assign(culprits.begin(), culprits.end());

  // The hang to name first: one held up by a culprit, the longest waited among those.
  const FlightHang* primary = nullptr;
  const auto held_by_culprit = [&](const FlightHang& h) {
    for (int r : h.missing) if (culprits.count(r)) return true;
    for (int r : h.behind) if (culprits.count(r)) return true;
    return false;
  };
  for (const FlightHang& h : out.hangs) {
    if (!primary) { primary = &h; continue; }
    const bool a = held_by_culprit(h), b = held_by_culprit(*primary);
    if (a != b ? a : h.waited_s > primary->waited_s) primary = &h;
  }

  const auto describe = [&](const FlightHang& h) {
    return fmt::format("{} #{} of group {} (ranks {}, {} bytes)", comm_op_name(h.op), h.seq, h.group,
                       rank_list(h.group_ranks), h.bytes);
  };
  if (!primary) {
    out.summary = fmt::format("no rank was inside a collective in the {} dump{}", dumps.size(),
                              dumps.size() == 1 ? "" : "s");
  } else {
    std::vector<std::string> why;
    std::vector<int> not_entered = primary->missing;
    not_entered.insert(not_entered.end(), primary->behind.begin(), primary->behind.end());
    std::sort(not_entered.begin(), not_entered.end());
    if (!primary->missing.empty())
      why.push_back(fmt::format("no flight dump from {}: stopped, hung or dead", ranks_phrase(primary->missing)));
    for (int r : primary->behind) {
      const auto& g = *groups.at({primary->group, primary->group_ranks, primary->occurrence}).at(r);
      why.push_back(fmt::format("rank {} last entered #{} of {} and is {}", r, g.entered, primary->group,
                                waiting.count(r) ? "waiting in another collective" : "not waiting in any collective"));
    }
    if (not_entered.empty() && !primary->late.empty())
      out.summary = fmt::format("{} not complete after {:.1f} s: {} stalled in it (entered it, or answered, long "
                                "after the others: stopped, hung or starved)",
                                describe(*primary), primary->waited_s, ranks_phrase(primary->late));
    else if (not_entered.empty())
      out.summary = fmt::format("{} not complete after {:.1f} s: every member entered it and none left "
                                "(a transport hang, or a timeout shorter than the collective)",
                                describe(*primary), primary->waited_s);
    else
      out.summary = fmt::format("{} not complete after {:.1f} s: {} never entered it ({})", describe(*primary),
                                primary->waited_s, ranks_phrase(not_entered), fmt::join(why, "; "));
    if (primary->mismatch) out.summary += "; the ranks inside disagree on the op or size (a mismatched collective)";
  }

  for (const FlightHang& h : out.hangs) {
    std::string line = fmt::format("hung: {}: inside {} (up to {:.1f} s)", describe(h),
                                   h.inside.empty() ? "none" : rank_list(h.inside), h.waited_s);
    if (!h.missing.empty()) line += fmt::format("; no dump from {}", rank_list(h.missing));
    if (!h.behind.empty()) line += fmt::format("; not yet entered by {}", rank_list(h.behind));
    if (!h.late.empty()) line += fmt::format("; stalled: {}", rank_list(h.late));
    if (h.mismatch) line += "; op or size differ between ranks";
    out.details.push_back(line);
  }
  for (int r = 0; r < world; ++r) {
    const auto it = by_rank.find(r);
    if (it == by_rank.end()) {
      out.details.push_back(fmt::format("rank {}: no dump", r));
      continue;
    }
    const FlightDump& d = *it->second;
    std::vector<std::string> parts;
    for (const FlightDumpGroup& g : d.groups) {
      if (g.entered > g.completed) {
        const FlightEntry* e = entry_of(g, g.entered);
        parts.push_back(fmt::format("inside {} {} #{}{}", g.name, e ? comm_op_name(e->op) : "?", g.entered,
                                    e ? fmt::format(" for {:.1f} s", seconds_between(e->start_ns, d.now_ns)) : ""));
      } else {
        parts.push_back(fmt::format("{} done to #{}", g.name, g.completed));
      }
    }
    out.details.push_back(fmt::format("rank {} (pid {} on {}, {}): {}", r, d.pid, d.host, d.reason, fmt::join(parts, "; ")));
  }
  return out;
}

}  // namespace tpb
