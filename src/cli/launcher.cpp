#include "cli/launcher.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "base/error.h"

namespace tpb {

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v && *v;
}

}  // namespace

LaunchEnv read_launch_env() {
  LaunchEnv e;
  // Open MPI's mpirun, then PMI-style launchers (MPICH's hydra, Slurm's srun).
  if (env_set("OMPI_COMM_WORLD_SIZE")) {
    e.under_launcher = true;
    e.rank = env_int("OMPI_COMM_WORLD_RANK", 0);
    e.world_size = env_int("OMPI_COMM_WORLD_SIZE", 1);
  } else if (env_set("PMI_SIZE")) {
    e.under_launcher = true;
    e.rank = env_int("PMI_RANK", 0);
    e.world_size = env_int("PMI_SIZE", 1);
  } else if (env_set("PMIX_RANK")) {
    e.under_launcher = true;
    e.rank = env_int("PMIX_RANK", 0);
    e.world_size = env_int("SLURM_NTASKS", 1);
  }
  return e;
}

std::string self_executable() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  TPB_CHECK(!ec, "cannot resolve /proc/self/exe: {}", ec.message());
  return p.string();
}

std::string blas_coretype_fix() {
  if (env_set("OPENBLAS_CORETYPE")) return "";
  using NameFn = char* (*)();
  auto corename = reinterpret_cast<NameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (!corename) return "";  // not OpenBLAS
  const std::string core = corename();
  if (core != "Prescott" && core != "Core2" && core != "Nehalem" && core != "Katmai" && core != "Unknown")
    return "";
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  std::set<std::string> flags;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) flags.insert(w);
    break;
  }
  if (flags.count("avx512f") && flags.count("avx512bw") && flags.count("avx512vl")) return "SkylakeX";
  if (flags.count("avx2") && flags.count("fma")) return "Haswell";
  return "";
}

MachineCapacity read_machine_capacity() {
  MachineCapacity m;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);)
    if (line.rfind("MemAvailable:", 0) == 0) {
      std::istringstream words(line.substr(13));
      int64_t kib = -1;
      if (words >> kib && kib >= 0) m.mem_available_bytes = kib * 1024;
      break;
    }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    m.cores = std::max(1, CPU_COUNT(&set));
  else
    m.cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return m;
}

std::string launch_refusal(int nproc, const MachineCapacity& m) {
  const auto gib = [](double b) { return b / (1 << 30); };
  std::vector<std::string> why;
  const double need = static_cast<double>(nproc) * static_cast<double>(kRankBaselineBytes);
  if (m.mem_available_bytes >= 0 && need > static_cast<double>(m.mem_available_bytes))
    why.push_back(fmt::format("{:.1f} GiB at {} MiB a rank before any work, of {:.1f} GiB available", gib(need),
                              kRankBaselineBytes >> 20, gib(static_cast<double>(m.mem_available_bytes))));
  const int64_t max_ranks = static_cast<int64_t>(m.cores) * kMaxRanksPerCore;
  if (nproc > max_ranks)
    why.push_back(fmt::format("{} ranks on {} core{} (at most {}: {} a core)", nproc, m.cores,
                              m.cores == 1 ? "" : "s", max_ranks, kMaxRanksPerCore));
  if (why.empty()) return "";
  return fmt::format("--nproc {} would overload this machine: {}; use fewer ranks, or add {} to launch them anyway",
                     nproc, fmt::join(why, "; "), kForceNprocFlag);
}

std::vector<std::string> mpirun_command(int nproc, const std::vector<std::string>& self_args) {
  std::string mpirun = TPB_MPIEXEC;
  if (mpirun.empty() || !std::filesystem::exists(mpirun)) mpirun = "mpirun";
  // -q: the ranks print their own errors; mpirun's banner about a non-zero exit adds nothing.
  std::vector<std::string> cmd = {mpirun, "-q", "-np", std::to_string(nproc), "--oversubscribe"};
  if (geteuid() == 0) cmd.push_back("--allow-run-as-root");
  // One BLAS thread per rank's share of the cores, unless the user chose.
  if (!env_set("OPENBLAS_NUM_THREADS")) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    const unsigned per_rank = std::max(1u, cores / static_cast<unsigned>(nproc));
    cmd.insert(cmd.end(), {"-x", "OPENBLAS_NUM_THREADS=" + std::to_string(per_rank)});
  } else {
    cmd.insert(cmd.end(), {"-x", "OPENBLAS_NUM_THREADS"});
  }
  if (const std::string core = blas_coretype_fix(); !core.empty())
    cmd.insert(cmd.end(), {"-x", "OPENBLAS_CORETYPE=" + core});
  // Ranks over-subscribing the cores must not bind to one core each.
  if (static_cast<unsigned>(nproc) > std::thread::hardware_concurrency())
    cmd.insert(cmd.end(), {"--bind-to", "none"});
  cmd.insert(cmd.end(), self_args.begin(), self_args.end());
  return cmd;
}

void exec_command(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  TPB_CHECK(false, "cannot start {}: {} (is openmpi-bin installed? scripts/setup.sh installs it)",
            argv[0], std::strerror(errno));
}

}  // namespace tpb
