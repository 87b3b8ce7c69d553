#include "comm/topology.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include <fmt/format.h>

namespace tpb {

namespace {
constexpr size_t kHostBytes = 256;
}

Topology gather_topology(Communicator& world) {
  std::vector<char> mine(kHostBytes, '\0');
  if (gethostname(mine.data(), kHostBytes - 1) != 0) std::strcpy(mine.data(), "?");
  std::vector<char> all(kHostBytes * static_cast<size_t>(world.size()));
  world.all_gather(mine.data(), all.data(), kHostBytes, DType::u8);
  Topology t;
  for (int r = 0; r < world.size(); ++r) t.host_of_rank.emplace_back(all.data() + static_cast<size_t>(r) * kHostBytes);
  return t;
}

int Topology::num_hosts() const {
  std::vector<std::string> h = host_of_rank;
  std::sort(h.begin(), h.end());
  return static_cast<int>(std::unique(h.begin(), h.end()) - h.begin());
}

bool Topology::spans_hosts(const std::vector<int>& ranks) const {
  for (int r : ranks)
    if (host_of_rank.at(static_cast<size_t>(r)) != host_of_rank.at(static_cast<size_t>(ranks.front()))) return true;
  return false;
}

std::string Topology::describe() const {
  // Hosts in order of their first rank, with their ranks as ranges.
  std::vector<std::pair<std::string, std::vector<int>>> hosts;
  for (int r = 0; r < static_cast<int>(host_of_rank.size()); ++r) {
    auto it = std::find_if(hosts.begin(), hosts.end(), [&](const auto& h) { return h.first == host_of_rank[r]; });
    if (it == hosts.end()) hosts.push_back({host_of_rank[r], {r}});
    else it->second.push_back(r);
  }
  std::string parts;
  for (const auto& [name, ranks] : hosts) {
    std::string list;
    for (size_t i = 0; i < ranks.size();) {
      size_t j = i;
      while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
      list += (list.empty() ? "" : ",") + (i == j ? std::to_string(ranks[i]) : fmt::format("{}-{}", ranks[i], ranks[j]));
      i = j + 1;
    }
    parts += fmt::format("{}{}: rank{} {}", parts.empty() ? "" : ", ", name, ranks.size() == 1 ? "" : "s", list);
  }
  return fmt::format("{} host{} ({})", hosts.size(), hosts.size() == 1 ? "" : "s", parts);
}

MeshPlacement place_mesh(const Topology& t, const ParallelDims& dims, bool allow) {
  MeshPlacement m;
  for (const std::vector<int>& g : dims.tp_groups())
    if (t.spans_hosts(g)) {
      m.tp_crosses_hosts = true;
      if (!allow && m.refusal.empty()) {
        std::string where;
        for (int r : g) where += fmt::format("{}{} on {}", where.empty() ? "" : ", ", r, t.host_of_rank[static_cast<size_t>(r)]);
        m.refusal = fmt::format("--tp {}: the TP group of ranks {} spans hosts ({}); TP's per-layer collectives "
                                "would cross the network. Use a --tp that divides the ranks of a host, or add "
                                "--allow-tp-across-hosts", dims.tp(), format_groups({g}), where);
      }
    }
  for (const std::vector<int>& g : dims.dp_groups())
    if (t.spans_hosts(g)) m.dp_crosses_hosts = true;
  return m;
}

}  // namespace tpb
