#include "profile/chrome_trace.h"

#include <fmt/format.h>

#include <string_view>

#include "comm/coll_route.h"

namespace tpb {

namespace {

double us_since(int64_t t_ns, int64_t t0_ns) { return static_cast<double>(t_ns - t0_ns) * 1e-3; }

nlohmann::json complete_event(std::string name, const char* cat, int64_t start_ns, int64_t end_ns,
                              const RankTrace& t) {
  return {{"ph", "X"},
          {"name", std::move(name)},
          {"cat", cat},
          {"ts", us_since(start_ns, t.t0_ns)},
          {"dur", static_cast<double>(end_ns - start_ns) * 1e-3},
          {"pid", t.rank},
          {"tid", 0}};
}

}  // namespace

nlohmann::json trace_events(const RankTrace& t) {
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", t.rank}, {"tid", 0},
                    {"args", {{"name", fmt::format("rank {}", t.rank)}}}});
  events.push_back({{"ph", "M"}, {"name", "process_sort_index"}, {"pid", t.rank}, {"tid", 0},
                    {"args", {{"sort_index", t.rank}}}});
  events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", t.rank}, {"tid", 0},
                    {"args", {{"name", "main"}}}});
  if (t.spans) {
    for (const TraceSpan& s : *t.spans) {
      const bool step = std::string_view(s.name) == "ProfilerStep";
      auto e = complete_event(step ? fmt::format("ProfilerStep#{}", s.arg) : std::string(s.name),
                              s.cat, s.start_ns, s.end_ns, t);
      if (!step && s.arg >= 0) e["args"] = {{"value", s.arg}};
      events.push_back(std::move(e));
    }
  }
  if (t.comms) {
    for (const CommTiming& c : *t.comms) {
      const CommGroupInfo& g = t.log->group(c.record.group);
      auto e = complete_event(std::string(comm_op_name(c.record.op)), "comm", c.record.start_ns,
                              c.record.end_ns, t);
      e["args"] = {{"bytes", c.record.bytes},
                   {"route", coll_route_name(static_cast<CollRoute>(c.record.route))},
                   {"group", g.name},
                   {"group_size", g.size},
                   {"group_ranks", g.world_ranks},
                   {"wait_us", static_cast<double>(c.wait_ns) * 1e-3},
                   {"transfer_us", static_cast<double>(c.transfer_ns) * 1e-3}};
      events.push_back(std::move(e));
      if (c.wait_ns > 0) {
        auto w = complete_event("wait", "comm_wait", c.record.start_ns, c.record.start_ns + c.wait_ns, t);
        w["args"] = {{"until", "last rank of the group arrived"}};
        events.push_back(std::move(w));
      }
    }
  }
  return events;
}

nlohmann::json trace_document(nlohmann::json events, int rank, int world_size,
                              const std::string& backend) {
  return {{"schemaVersion", 1},
          {"deviceProperties", nlohmann::json::array()},
          {"distributedInfo", {{"backend", backend}, {"rank", rank}, {"world_size", world_size}}},
          {"displayTimeUnit", "ms"},
          {"traceEvents", std::move(events)}};
}

}  // namespace tpb
