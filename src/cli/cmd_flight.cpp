// `tpbench flight DIR`: the watchdog's diagnosis, again, from the flight dumps a hung run
// left (DIR/rank{r}.json; a run directory holding flight/ works too): which collective the
// job hung in, who was inside it, and who never entered it. A plain process (no MPI).
// Exit 0 when it could read the dumps; `--json` prints the diagnosis as JSON instead.
#include <fmt/format.h>

#include <fstream>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli/command.h"
#include "comm/flight_dump.h"

namespace tpb {

namespace {

class FlightCommand final : public Command {
 public:
  std::string name() const override { return "flight"; }
  std::string description() const override {
    return "Diagnose a hung run from its flight dumps: the collective and the ranks that never entered it";
  }
  void add_flags(CLI::App& sub) override {
    sub.add_option("dir", dir_, "the flight dump directory (RUN_DIR/flight), or the run directory")->required();
    sub.add_flag("--json", json_, "print the diagnosis as JSON");
  }
  void validate(int world_size) const override {
    if (world_size > 1) usage_error("flight runs as one process; do not give --nproc {}", world_size);
  }
  bool uses_mpi() const override { return false; }
  int run(RunContext&) override { return run_local(); }

  int run_local() override {
    std::string dir = dir_;
    if (std::filesystem::is_directory(dir + "/flight")) dir += "/flight";
    const std::vector<FlightDump> dumps = read_flight_dir(dir);
    const FlightDiagnosis d = diagnose_flight(dumps);
    // The watchdog's verdict when it ended the job, if it wrote one: dumps written later
    // (a stopped rank that ran again) can show collectives that moved on since.
    std::string verdict;
    if (std::ifstream in(dir + "/verdict.json"); in) {
      const nlohmann::json v = nlohmann::json::parse(in, nullptr, false);
      if (!v.is_discarded() && v.is_object())
        verdict = fmt::format("rank {} at the time: {}", v.value("rank", -1), v.value("message", std::string()));
    }
    if (json_) {
      nlohmann::json hangs = nlohmann::json::array();
      for (const FlightHang& h : d.hangs)
        hangs.push_back({{"group", h.group},
                         {"group_ranks", h.group_ranks},
                         {"seq", h.seq},
                         {"op", comm_op_name(h.op)},
                         {"bytes", h.bytes},
                         {"waited_s", h.waited_s},
                         {"inside", h.inside},
                         {"missing", h.missing},
                         {"behind", h.behind},
                         {"mismatch", h.mismatch}});
      const nlohmann::json doc = {{"schema", "tpbench.flight_diagnosis/1"},
                                  {"dir", dir},
                                  {"verdict", verdict},
                                  {"summary", d.summary},
                                  {"culprits", d.culprits},
                                  {"no_dump", d.no_dump},
                                  {"hangs", hangs},
                                  {"details", d.details}};
      fmt::print("{}\n", doc.dump(2));
      return 0;
    }
    if (!verdict.empty()) fmt::print("{}\nfrom the dumps: ", verdict);
    fmt::print("{}\n", d.summary);
    for (const std::string& line : d.details) fmt::print("  {}\n", line);
    return 0;
  }

 private:
  std::string dir_;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_flight_command() { return std::make_unique<FlightCommand>(); }

}  // namespace tpb
