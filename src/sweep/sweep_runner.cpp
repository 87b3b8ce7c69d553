#include "sweep/sweep_runner.h"

#include <fmt/format.h>

#include <ctime>
#include <filesystem>

#include "report/atomic_file.h"
#include "sweep/child_process.h"

namespace fs = std::filesystem;

namespace tpb {

namespace {

std::string local_time_iso() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[40] = {};
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S%z", &tm);
  return buf;
}

// train writes OUT/NAME/<timestamp>/; the newest such directory holding config.json.
std::string find_train_run_dir(const fs::path& cfg_dir) {
  std::string best;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(cfg_dir, ec)) {
    if (!e.is_directory() || !fs::exists(e.path() / "config.json")) continue;
    const std::string name = e.path().filename().string();
    if (name > best) best = name;
  }
  return best;
}

template <class T>
nlohmann::json optional_json(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

std::vector<SweepRun> run_sweep(const std::vector<SweepConfig>& configs, const SweepOptions& o,
                                const SweepProgress& progress) {
  std::vector<SweepRun> runs;
  for (const SweepConfig& c : configs) {
    SweepRun r;
    r.config = c;
    r.argv = {o.exe};
    const auto args = launch_args(c, o.dir + "/runs");
    r.argv.insert(r.argv.end(), args.begin(), args.end());
    r.log = "runs/" + c.name + "/launch.log";
    runs.push_back(r);
  }
  const std::string manifest_path = o.dir + "/sweep.json";
  write_file_atomic(manifest_path, sweep_manifest_json(runs, o).dump(2) + "\n");

  const int total = static_cast<int>(runs.size());
  for (int position = 0; position < total; ++position) {
    SweepRun& r = runs[position];
    const fs::path cfg_dir = fs::path(o.dir) / "runs" / r.config.name;
    // A configuration's directory from an earlier sweep into the same place would be
    // mistaken for this launch's results.
    fs::remove_all(cfg_dir);
    fs::create_directories(cfg_dir);
    if (progress) progress(r, position, total);
    r.started_at = local_time_iso();
    const std::string log_path = o.dir + "/" + r.log;
    write_file_atomic(log_path, "$ " + shell_join(r.argv) + "\n");
    try {
      const ChildResult child = run_logged(r.argv, log_path, o.timeout_s);
      r.exit_code = child.exit_code;
      r.timed_out = child.timed_out;
      r.wall_s = child.wall_s;
    } catch (const std::exception& e) {
      r.exit_code = -1;
      r.error = e.what();
    }
    if (r.config.target == SweepTarget::train) {
      const std::string stamp = find_train_run_dir(cfg_dir);
      if (!stamp.empty()) r.run_dir = "runs/" + r.config.name + "/" + stamp;
    } else if (fs::exists(cfg_dir / "results.json")) {
      r.run_dir = "runs/" + r.config.name;
    }
    if (r.exit_code == 0 && !r.run_dir.empty()) {
      r.status = "ok";
    } else {
      r.status = "failed";
      if (r.timed_out)
        r.error = fmt::format("timed out after {:.0f} s (--timeout)", o.timeout_s);
      else if (r.error.empty())
        r.error = failure_line(log_path);
      if (r.error.empty())
        r.error = r.exit_code == 0 ? "exited 0 but wrote no results" : fmt::format("exit status {}", r.exit_code);
    }
    write_file_atomic(manifest_path, sweep_manifest_json(runs, o).dump(2) + "\n");
    if (progress) progress(r, position, total);
  }
  return runs;
}

nlohmann::json sweep_manifest_json(const std::vector<SweepRun>& runs, const SweepOptions& o) {
  nlohmann::json configs = nlohmann::json::array();
  for (const SweepRun& r : runs) {
    const SweepConfig& c = r.config;
    configs.push_back({{"name", c.name},
                       {"config", c.config},
                       {"repeat", c.repeat},
                       {"index", c.index},
                       {"command", sweep_target_name(c.target)},
                       {"nproc", c.nproc},
                       {"tp", optional_json(c.tp)},
                       {"dp_shard", optional_json(c.dp_shard)},
                       {"sp", c.sp ? nlohmann::json(*c.sp) : nlohmann::json(nullptr)},
                       {"batch", optional_json(c.batch)},
                       {"seq", optional_json(c.seq)},
                       {"mode", c.mode ? nlohmann::json(*c.mode) : nlohmann::json(nullptr)},
                       {"extra_args", c.extra},
                       {"argv", r.argv},
                       {"command_line", shell_join(r.argv)},
                       {"log", r.log},
                       {"run_dir", r.run_dir.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.run_dir)},
                       {"status", r.status},
                       {"exit_code", r.status == "pending" ? nlohmann::json(nullptr) : nlohmann::json(r.exit_code)},
                       {"timed_out", r.timed_out},
                       {"error", r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error)},
                       {"wall_s", r.status == "pending" ? nlohmann::json(nullptr) : nlohmann::json(r.wall_s)},
                       {"started_at", r.started_at.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.started_at)}});
  }
  return {{"schema", "tpbench.sweep/1"},
          {"command_line", shell_join(o.command_line)},
          {"timeout_s", o.timeout_s},
          {"configs", configs}};
}

}  // namespace tpb
