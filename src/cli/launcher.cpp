#include "cli/launcher.h"

#include "cli/flag_ranges.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "base/error.h"
#include "cli/mpirun_output.h"

extern char** environ;

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

// Whether an executable `name` is in one of PATH's directories.
bool on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  return false;
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

HostSpec parse_host_spec(const std::string& hosts, const std::string& hostfile) {
  HostSpec h{hosts, hostfile, 0, 0};
  if (!hosts.empty() && !hostfile.empty()) usage_error("--hosts and --hostfile exclude each other");
  const auto add = [&](const std::string& name, const std::string& slots_text, const std::string& where) {
    static const std::regex host_name(R"([A-Za-z0-9_.:\-\[\]]+)");
    if (name.empty() || !std::regex_match(name, host_name)) usage_error("{}: bad host name '{}'", where, name);
    int slots = 1;
    if (!slots_text.empty()) {
      char* end = nullptr;
      const long v = std::strtol(slots_text.c_str(), &end, 10);
      if (*end != '\0' || v < 1 || v > kMaxRanks) usage_error("{}: slots '{}' must be in [1, {}]", where, slots_text, kMaxRanks);
      slots = static_cast<int>(v);
    }
    h.slots += slots;
    h.max_slots = std::max(h.max_slots, slots);
  };
  if (!hosts.empty()) {
    for (size_t start = 0;;) {  // every entry, empty ones too ("h1:2," is a mistake)
      const size_t comma = hosts.find(',', start);
      const std::string entry = hosts.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      const size_t colon = entry.rfind(':');
      add(entry.substr(0, colon), colon == std::string::npos ? "" : entry.substr(colon + 1),
          fmt::format("--hosts {}: entry '{}'", hosts, entry));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (!hostfile.empty()) {
    std::ifstream in(hostfile);
    if (!in) usage_error("--hostfile {}: cannot read it", hostfile);
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      line = line.substr(0, line.find('#'));
      std::istringstream words(line);
      std::string name, word, slots;
      if (!(words >> name)) continue;
      while (words >> word)
        if (word.rfind("slots=", 0) == 0) slots = word.substr(6);
      add(name, slots, fmt::format("--hostfile {} line {}", hostfile, line_no));
    }
  }
  if (!h.empty() && h.slots == 0) usage_error("--hosts / --hostfile names no host");
  return h;
}

std::vector<std::string> mpirun_command(int nproc, const std::vector<std::string>& self_args,
                                        const HostSpec& hosts) {
  std::string mpirun = TPB_MPIEXEC;
  if (mpirun.empty() || !std::filesystem::exists(mpirun)) mpirun = "mpirun";
  // Open MPI finds its own helpers through PATH too (without it, even a configured absolute
  // mpirun fails with a cryptic "plm_rsh_agent ... could not be found"): require mpirun there.
  if (!on_path("mpirun"))
    usage_error("mpirun not found on PATH (install openmpi-bin, or add its directory to PATH)");
  // Not -q: that also silences which rank died and how; run_mpirun turns mpirun's banners
  // into one line each (cli/mpirun_output.h).
  // --stdin none: run_mpirun puts mpirun in a process group of its own (so a Ctrl-C reaches
  // only the launcher, which passes it on as a stop request); reading the terminal from a
  // background group would stop it (SIGTTIN). No tpbench command reads stdin.
  std::vector<std::string> cmd = {mpirun, "--stdin", "none", "-np", std::to_string(nproc), "--oversubscribe"};
  if (geteuid() == 0) cmd.push_back("--allow-run-as-root");
  if (!hosts.hosts.empty()) cmd.insert(cmd.end(), {"--host", hosts.hosts});
  if (!hosts.hostfile.empty()) cmd.insert(cmd.end(), {"--hostfile", hosts.hostfile});
  // The ranks that share one machine (all of them without hosts).
  const int local_ranks = hosts.empty() ? nproc : std::min(nproc, std::max(1, hosts.max_slots));
  // One BLAS thread per rank's share of the cores, unless the user chose.
  if (!env_set("OPENBLAS_NUM_THREADS")) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    const unsigned per_rank = std::max(1u, cores / static_cast<unsigned>(local_ranks));
    cmd.insert(cmd.end(), {"-x", "OPENBLAS_NUM_THREADS=" + std::to_string(per_rank)});
  } else {
    cmd.insert(cmd.end(), {"-x", "OPENBLAS_NUM_THREADS"});
  }
  if (const std::string core = blas_coretype_fix(); !core.empty())
    cmd.insert(cmd.end(), {"-x", "OPENBLAS_CORETYPE=" + core});
  // Ranks over-subscribing the cores must not bind to one core each.
  if (static_cast<unsigned>(local_ranks) > std::thread::hardware_concurrency())
    cmd.insert(cmd.end(), {"--bind-to", "none"});
  cmd.insert(cmd.end(), self_args.begin(), self_args.end());
  return cmd;
}

namespace {

volatile sig_atomic_t g_mpirun_pid = 0;
volatile sig_atomic_t g_first_signal = 0;  // the first SIGINT / SIGTERM passed on
volatile sig_atomic_t g_signals = 0;       // how many were

// Passes on every signal: mpirun runs in a process group of its own, so a Ctrl-C (or any
// signal to the launcher's group) reaches only the launcher. mpirun answers SIGINT / SIGTERM by killing the
// ranks (SIGTERM after odls_base_sigkill_timeout, 1 s, SIGKILL 1 s later) and cannot
// forward them, but forwards SIGUSR1 / SIGUSR2: so the first SIGINT / SIGTERM goes on as
// SIGUSR1 / SIGUSR2, which the ranks read as a request to stop (train: at the next step
// boundary, summary written; other commands: they end as the signal would, main.cpp), and
// any later one as itself, so that a second Ctrl-C always ends the job.
void forward_signal(int sig, siginfo_t* info, void*) {
  if (g_mpirun_pid <= 0 || !info) return;
  int send = sig;
  if (sig == SIGINT || sig == SIGTERM) {
    if (g_signals == 0) {
      g_first_signal = sig;
      send = sig == SIGINT ? SIGUSR1 : SIGUSR2;
    }
    g_signals = g_signals + 1;
  }
  kill(static_cast<pid_t>(g_mpirun_pid), send);
}

// argv[0] searched in PATH before fork (the child only execs).
std::string resolve_in_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string d; std::getline(dirs, d, ':');) {
    const std::string p = (d.empty() ? "." : d) + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return name;
}

}  // namespace

int run_mpirun(const std::vector<std::string>& argv) {
  TPB_CHECK(!argv.empty(), "run_mpirun: empty command line");
  const std::string exe = resolve_in_path(argv[0]);
  TPB_CHECK(access(exe.c_str(), X_OK) == 0,
            "cannot start {}: not found (is openmpi-bin installed? scripts/setup.sh installs it)", argv[0]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int fds[2];
  TPB_CHECK(pipe(fds) == 0, "pipe: {}", std::strerror(errno));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  TPB_CHECK(pid >= 0, "fork: {}", std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    setpgid(0, 0);  // its own process group: terminal signals go to the launcher only
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    execv(exe.c_str(), args.data());
    _exit(127);
  }
  close(fds[1]);
  g_mpirun_pid = pid;
  struct sigaction sa {};
  sa.sa_sigaction = forward_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);

  MpirunOutputFilter filter;
  std::vector<std::string> mca;  // Open MPI settings from the environment, for a failure's line
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).starts_with("OMPI_MCA_")) mca.emplace_back(*e);
  if (!mca.empty()) filter.set_hint(fmt::format("Open MPI settings in effect: {}", fmt::join(mca, " ")));
  std::vector<std::string> shown;
  const auto flush = [&] {
    for (const std::string& l : shown) std::fprintf(stderr, "%s\n", l.c_str());
    if (!shown.empty()) std::fflush(stderr);
    shown.clear();
  };
  std::string pending;
  char buf[4096];
  while (true) {
    const ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      filter.line(pending.substr(0, nl), shown);
      pending.erase(0, nl + 1);
    }
    flush();
  }
  close(fds[0]);
  if (!pending.empty()) filter.line(pending, shown);
  int raw = 0;
  while (waitpid(pid, &raw, 0) < 0 && errno == EINTR) {
  }
  g_mpirun_pid = 0;
  int status = WIFEXITED(raw) ? WEXITSTATUS(raw) : WIFSIGNALED(raw) ? 128 + WTERMSIG(raw) : 1;
  // Interrupted: 128 + the signal (the ranks' own status when they stopped cleanly; mpirun
  // exits 1 when it killed them), unless the run had finished anyway.
  if (g_first_signal != 0 && status != 0) status = 128 + g_first_signal;
  filter.finish(status, shown);
  flush();
  return status;
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
