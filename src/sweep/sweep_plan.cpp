#include "sweep/sweep_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "base/error.h"

namespace tpb {

namespace {

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    // Spaces around items are forgiven ("1, 2, 4" quoted on the command line).
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    items.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

// The option name of an argument: "--run-name=x" -> "--run-name".
std::string flag_name(const std::string& arg) { return arg.substr(0, arg.find('=')); }

}  // namespace

std::string sweep_target_name(SweepTarget t) { return t == SweepTarget::train ? "train" : "linear"; }

std::vector<int64_t> parse_int_list(const std::string& flag, const std::string& text) {
  std::vector<int64_t> values;
  for (const std::string& item : split_commas(text)) {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size())
      usage_error("{} {}: '{}' is not an integer (give a comma-separated list such as 1,2,4)", flag, text, item);
    if (v < 1) usage_error("{} {}: {} is below 1", flag, text, v);
    values.push_back(v);
  }
  return values;
}

std::vector<std::string> parse_word_list(const std::string& flag, const std::string& text,
                                         const std::vector<std::string>& allowed) {
  std::vector<std::string> values = split_commas(text);
  for (const std::string& v : values)
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end())
      usage_error("{} {}: '{}' is not one of {}", flag, text, v, fmt::join(allowed, ", "));
  return values;
}

void validate_sweep_spec(const SweepSpec& s) {
  if (s.nproc.empty()) usage_error("--nproc is required: the number of ranks of each configuration's launch");
  if (s.repeat < 1) usage_error("--repeat {}: give 1 or more launches per configuration", s.repeat);
  if (s.target == SweepTarget::linear) {
    if (!s.tp.empty())
      usage_error("--tp is for train sweeps; linear's TP size is its number of ranks: sweep --nproc 1,2,4 instead");
    if (!s.seq.empty()) usage_error("--seq is for train sweeps (linear has no sequence)");
    if (!s.dp_shard.empty()) usage_error("--dp-shard is for train sweeps");
    if (!s.sp.empty()) usage_error("--sp is for train sweeps (linear has no sequence)");
  } else if (!s.mode.empty()) {
    usage_error("--mode is linear's flag: add --command linear");
  }
  for (const std::string& a : s.extra) {
    const std::string f = flag_name(a);
    if (f == "--out" || f == "--run-name" || f == "--json")
      usage_error("{} cannot be passed to the configurations: the sweep chooses where each run writes "
                  "(give the sweep's own --out)", f);
    if (f == "--nproc") usage_error("--nproc is the sweep's own flag; give it once, as a list if you like");
  }
}

std::vector<SweepConfig> plan_sweep(const SweepSpec& s) {
  // An absent list is one "unset" value, so the product still has one entry per axis.
  auto axis = [](const std::vector<int64_t>& v) {
    std::vector<std::optional<int64_t>> a(v.begin(), v.end());
    if (a.empty()) a.push_back(std::nullopt);
    return a;
  };
  auto word_axis = [](const std::vector<std::string>& v) {
    std::vector<std::optional<std::string>> a(v.begin(), v.end());
    if (a.empty()) a.push_back(std::nullopt);
    return a;
  };
  const auto modes = word_axis(s.mode);
  std::vector<std::optional<bool>> sps;
  for (const std::string& v : s.sp) sps.push_back(v == "on");
  if (sps.empty()) sps.push_back(std::nullopt);

  std::vector<SweepConfig> configs;  // one round
  for (int64_t nproc : s.nproc)
    for (auto seq : axis(s.seq))
      for (auto batch : axis(s.batch))
        for (const auto& dp_shard : word_axis(s.dp_shard))
          for (const auto sp : sps)
          for (auto tp : axis(s.tp))
            for (const auto& mode : modes) {
              SweepConfig c;
              c.index = static_cast<int>(configs.size());
              c.config = fmt::format("cfg{}", c.index);
              c.name = c.config;
              c.target = s.target;
              c.nproc = nproc;
              c.tp = tp;
              c.dp_shard = dp_shard;
              c.sp = sp;
              c.batch = batch;
              c.seq = seq;
              c.mode = mode;
              c.extra = s.extra;
              configs.push_back(std::move(c));
            }
  if (s.repeat <= 1) return configs;
  std::vector<SweepConfig> launches;
  for (int r = 1; r <= s.repeat; ++r)
    for (SweepConfig c : configs) {
      c.repeat = r;
      c.name = fmt::format("{}-r{}", c.config, r);
      launches.push_back(std::move(c));
    }
  return launches;
}

std::vector<std::string> launch_args(const SweepConfig& c, const std::string& run_root) {
  std::vector<std::string> a = {"--nproc", std::to_string(c.nproc), sweep_target_name(c.target)};
  auto add = [&a](const char* flag, const auto& v) {
    if (v) a.insert(a.end(), {flag, fmt::format("{}", *v)});
  };
  add("--tp", c.tp);
  add("--dp-shard", c.dp_shard);
  if (c.sp.value_or(false)) a.push_back("--sp");
  add("--batch", c.batch);
  add("--seq", c.seq);
  add("--mode", c.mode);
  a.insert(a.end(), c.extra.begin(), c.extra.end());
  if (c.target == SweepTarget::train)
    a.insert(a.end(), {"--out", run_root, "--run-name", c.name});
  else
    a.insert(a.end(), {"--out", run_root + "/" + c.name});
  return a;
}

std::string shell_join(const std::vector<std::string>& args) {
  std::string line;
  for (const std::string& a : args) {
    if (!line.empty()) line += ' ';
    const bool plain = !a.empty() && a.find_first_not_of(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+@%") == std::string::npos;
    if (plain) {
      line += a;
    } else {
      line += '\'';
      for (char ch : a) line += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
      line += '\'';
    }
  }
  return line;
}

}  // namespace tpb
