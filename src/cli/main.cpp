// tpbench entry point: parse the command line, launch ranks when asked (--nproc), start
// MPI, run one subcommand. The only place that catches errors: a rank that fails aborts the
// whole job, so no other rank is left waiting in a collective.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "base/error.h"
#include "cli/command.h"
#include "cli/flag_ranges.h"
#include "cli/launcher.h"
#include "comm/device_mesh.h"
#include "comm/coll_route.h"
#include "comm/mpi/mpi_communicator.h"
#include "comm/world.h"
#include "device/device.h"

namespace {

constexpr int kUsageExit = 2;

const char* kAbout =
    "tpbench: tensor-parallel x data-parallel training, measured honestly.\n"
    "\n"
    "Run N ranks with `tpbench --nproc N <command> ...` (starts Open MPI's mpirun for you),\n"
    "or under your own launcher: `mpirun -np N tpbench <command> ...`.";

// tpbench's own options that take a value (before the command).
bool takes_value(const std::string& a) {
  return a == "--nproc" || a == "--coll-route" || a == "--coll-table" || a == "--hosts" || a == "--hostfile";
}

// The first word that is neither an option nor an option's value, if it names no command.
std::string unknown_command(int argc, char** argv,
                            const std::vector<std::unique_ptr<tpb::Command>>& commands) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (takes_value(a)) {
      ++i;  // its value
      continue;
    }
    if (a.starts_with("-")) continue;
    for (const auto& c : commands)
      if (c->name() == a) return "";
    return a;
  }
  return "";
}

// The command the command line names ("" when none), for the prefix of a parse error.
std::string command_word(int argc, char** argv, const std::vector<std::unique_ptr<tpb::Command>>& commands) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (takes_value(a)) {
      ++i;
      continue;
    }
    for (const auto& c : commands)
      if (c->name() == a) return a;
  }
  return "";
}

#ifndef TPB_VERSION
#define TPB_VERSION "unknown"
#endif
#ifndef TPB_GIT_HASH
#define TPB_GIT_HASH ""
#endif

std::string version_text() {
  const std::string hash = TPB_GIT_HASH;
  return fmt::format("tpbench {}{}", TPB_VERSION, hash.empty() ? "" : " (git " + hash + ")");
}

// Checks that need only the command line and the world size, before any rank starts
// (UsageError naming the values).
void preflight(const tpb::Command& chosen, const tpb::LaunchEnv& env, int nproc, int world_size,
               bool force_nproc, const tpb::HostSpec& hosts) {
  if (env.under_launcher && nproc > 0 && nproc != env.world_size)
    tpb::usage_error("--nproc {} but the launcher started {} ranks", nproc, env.world_size);
  if (!env.under_launcher && !hosts.empty() && world_size > hosts.slots)
    tpb::usage_error("--nproc {} is more than the {} slots of {}", world_size, hosts.slots,
                     hosts.hosts.empty() ? "--hostfile " + hosts.hostfile : "--hosts " + hosts.hosts);
  chosen.validate(world_size);
  // Ranks this launcher would start: refused, before any starts, if they would overload
  // the machine (1000 ranks on a 2-core 24 GiB machine run it out of memory); with hosts,
  // the most ranks one host gets.
  const int local = hosts.empty() ? world_size : std::min(world_size, hosts.max_slots);
  if (!env.under_launcher && world_size > 1 && chosen.uses_mpi() && !force_nproc)
    if (const std::string why = tpb::launch_refusal(local, tpb::read_machine_capacity()); !why.empty())
      tpb::usage_error("{}", why);
  if (chosen.on_cuda()) {  // before any rank starts: no GPU is one clear error, not N
    std::string why;
    if (tpb::device::cuda_device_count(&why) == 0) tpb::usage_error("--device cuda: no CUDA device ({})", why);
  }
}

constexpr int kRunHere = -1;

// This process started directly: with several ranks, runs mpirun and returns its exit
// status (mpirun's failure banners made one line each, see cli/mpirun_output.h); with one,
// re-executes itself once when OpenBLAS needs OPENBLAS_CORETYPE (it reads it when the
// library loads; see blas_coretype_fix). Returns kRunHere when this process is to run the
// rank itself.
int launch_or_restart(int world_size, int argc, char** argv, const tpb::HostSpec& hosts) {
  std::vector<std::string> self = {tpb::self_executable()};
  self.insert(self.end(), argv + 1, argv + argc);
  if (world_size > 1 || !hosts.empty()) {
    try {
      return tpb::run_mpirun(tpb::mpirun_command(world_size, self, hosts));
    } catch (const tpb::Error& e) {
      fmt::print(stderr, "tpbench: error: {}\n", e.what());
      return dynamic_cast<const tpb::UsageError*>(&e) ? kUsageExit : 1;  // no mpirun on PATH: 2
    }
  }
  if (const std::string core = tpb::blas_coretype_fix(); !core.empty()) {
    setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
    try {
      tpb::exec_command(self);
    } catch (const tpb::Error&) {
      // Could not restart: run on with the generic kernels.
    }
  }
  return kRunHere;
}

// One rank: MPI, the world communicator, the command. A failure is this rank's alone to
// know: it says which rank and why, then ends every rank of the job.
int run_rank(tpb::Command& chosen, int argc, char** argv, std::shared_ptr<const tpb::RoutePolicy> routes) {
  // `tpbench --nproc N` passes a SIGINT / SIGTERM on as SIGUSR1 / SIGUSR2, which mpirun
  // forwards (cli/launcher.cpp). train stops on them at a step boundary (its own handlers);
  // for every other command they end the rank as the original signal would.
  for (const int sig : {SIGUSR1, SIGUSR2})
    std::signal(sig, [](int got) {
      const int original = got == SIGUSR1 ? SIGINT : SIGTERM;
      std::signal(original, SIG_DFL);
      std::raise(original);
    });
  tpb::MpiRuntime mpi(&argc, &argv);
  int rank = 0;
  try {
    tpb::World world = tpb::make_world(chosen.on_cuda());
    world.comm->set_route_policy(std::move(routes));  // every group split from it inherits it
    rank = world.comm->rank();
    tpb::RunContext ctx{*world.comm, world.path};
    const int status = chosen.run(ctx);
    std::fflush(stdout);
    return status;
  } catch (const tpb::AgreedUsageError& e) {  // every rank is here, with the same message
    if (rank == 0) fmt::print(stderr, "tpbench {}: error: {}\n", chosen.name(), e.what());
    std::fflush(stderr);
    return kUsageExit;
  } catch (const std::exception& e) {
    fmt::print(stderr, "[rank {}] tpbench {}: error: {}\n", rank, chosen.name(), e.what());
    std::fflush(stderr);
    tpb::MpiRuntime::abort_world(1);
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const tpb::LaunchEnv env = tpb::read_launch_env();
  const bool print_errors = env.rank == 0;
  // The exit of a rank that found bad input without printing it. Under a launcher, mpirun
  // ends the whole job as soon as any rank exits non-zero, which can kill rank 0 before its
  // message is out; so the silent ranks wait (rank 0's exit ends them) and rank 0 reports.
  const auto silent_exit = [&](int status) {
    if (!print_errors && env.under_launcher) std::this_thread::sleep_for(std::chrono::seconds(5));
    return status;
  };

  CLI::App app{kAbout, "tpbench"};
  app.require_subcommand(1);
  int nproc = 0;
  app.add_option("--nproc", nproc,
                 "number of ranks to launch (through mpirun); default: the launcher's, or 1")
      ->check(CLI::Range(1, static_cast<int>(tpb::kMaxRanks)));
  tpb::record_range(tpb::range::ints(1, tpb::kMaxRanks), "--nproc");  // checked by CLI::Range above
  app.set_version_flag("--version", version_text(), "print tpbench's version and exit");
  // Hidden: every numeric flag's range, one a line (tests/cli drives each with bad values).
  bool list_ranges = false;
  app.add_flag("--list-flag-ranges", list_ranges)->group("");
  std::string hosts, hostfile;
  app.add_option("--hosts", hosts,
                 "start the ranks on these hosts (Open MPI's syntax: h1:2,h2:2 = 2 ranks on each; ranks are "
                 "numbered host by host); --nproc defaults to the slots");
  app.add_option("--hostfile", hostfile, "start the ranks on the hosts of this Open MPI hostfile (HOST slots=N)")
      ->check(CLI::ExistingFile);
  bool allow_tp_across_hosts = false;
  app.add_flag("--allow-tp-across-hosts", allow_tp_across_hosts,
               "let a TP group span hosts (refused by default: TP's per-layer collectives would cross the network)");
  bool force_nproc = false;
  app.add_flag(tpb::kForceNprocFlag, force_nproc,
               fmt::format("launch --nproc ranks even beyond what the machine holds ({} MiB a rank of the "
                           "available memory, {} ranks a core)",
                           tpb::kRankBaselineBytes >> 20, tpb::kMaxRanksPerCore));
  // Collective routes (comm/coll_route.h, docs/comm.md "Routes").
  std::string coll_route = "auto";
  app.add_option("--coll-route", coll_route,
                 "how host-memory collectives move: auto (the route table), mpi (Open MPI's own) or shm "
                 "(tpbench's shared-memory collectives, groups within one node)")
      ->check(CLI::IsMember({"auto", "mpi", "shm"}))
      ->capture_default_str();
  std::string coll_table;
  app.add_option("--coll-table", coll_table,
                 "with --coll-route auto: the route table to use, a machine profile written by `tpbench comm "
                 "--tune-routes --profile-out FILE` (default: the built-in table)")
      ->check(CLI::ExistingFile);
  auto commands = tpb::make_commands();
  tpb::Command* chosen = nullptr;
  for (auto& cmd : commands) {
    CLI::App* sub = app.add_subcommand(cmd->name(), cmd->description());
    cmd->add_flags(*sub);
    sub->callback([&chosen, c = cmd.get()] { chosen = c; });
  }

  // CLI11 says only "A subcommand is required" for a misspelt command; name it instead.
  if (const std::string unknown = unknown_command(argc, argv, commands); !unknown.empty()) {
    if (print_errors) {
      std::string known;
      for (const auto& c : commands) known += (known.empty() ? "" : ", ") + c->name();
      fmt::print(stderr, "tpbench: error: unknown command '{}' (commands: {})\n", unknown, known);
    }
    return print_errors ? kUsageExit : silent_exit(kUsageExit);
  }

  // --list-flag-ranges needs no command (the ranges were recorded by add_flags above).
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--list-flag-ranges") {
      fmt::print("{}", tpb::format_flag_ranges());
      return 0;
    }

  // Bad usage is one line and exit 2 (CLI11's own codes, 100+, never leak out); --help and
  // --version print and exit 0. Deterministic on every rank: one rank prints it.
  const auto usage_failure = [&](const std::string& what) {
    if (!print_errors) return silent_exit(kUsageExit);
    const std::string cmd = command_word(argc, argv, commands);
    fmt::print(stderr, "tpbench{}{}: error: {}\n", cmd.empty() ? "" : " ", cmd, what);
    return kUsageExit;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    return usage_failure(e.what());
  } catch (const tpb::UsageError& e) {  // a flag's range (cli/flag_ranges.h)
    return usage_failure(e.what());
  }

  tpb::HostSpec host_spec;
  try {
    host_spec = tpb::parse_host_spec(hosts, hostfile);
  } catch (const tpb::Error& e) {
    return usage_failure(e.what());
  }
  tpb::DeviceMesh::set_allow_tp_across_hosts(allow_tp_across_hosts);
  const int world_size =
      env.under_launcher ? env.world_size : (nproc > 0 ? nproc : (host_spec.slots > 0 ? host_spec.slots : 1));
  auto routes = std::make_shared<tpb::RoutePolicy>();
  try {
    if (coll_route != "auto") {
      if (!coll_table.empty()) tpb::usage_error("--coll-table {} has no effect with --coll-route {}", coll_table, coll_route);
      routes->forced = tpb::parse_host_route(coll_route);
    } else if (!coll_table.empty()) {
      routes->table = tpb::load_route_table(coll_table);
    }
    preflight(*chosen, env, nproc, world_size, force_nproc, host_spec);
  } catch (const tpb::Error& e) {
    if (!print_errors) return silent_exit(kUsageExit);
    fmt::print(stderr, "tpbench {}: error: {}\n", chosen->name(), e.what());
    return kUsageExit;
  }

  // sweep and report run as one plain process (they launch tpbench themselves): no MPI.
  if (!chosen->uses_mpi()) {
    try {
      return chosen->run_local();
    } catch (const std::exception& e) {
      fmt::print(stderr, "tpbench {}: error: {}\n", chosen->name(), e.what());
      return 1;
    }
  }
  if (!env.under_launcher)
    if (const int status = launch_or_restart(world_size, argc, argv, host_spec); status != kRunHere) return status;
  return run_rank(*chosen, argc, argv, std::move(routes));
}
