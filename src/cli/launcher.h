// Launching ranks: `tpbench --nproc N <command>` re-executes itself under Open MPI's
// mpirun (as torchrun does for PyTorch); under mpirun already, or with N = 1, it runs
// in place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tpb {

struct LaunchEnv {
  bool under_launcher = false;  // started by mpirun/srun (PMIx or Open MPI variables set)
  int rank = 0;                 // from the launcher's variables, before MPI starts
  int world_size = 1;
};

LaunchEnv read_launch_env();

// What this machine can hold: the kernel's estimate of the memory available to new
// processes without swapping (MemAvailable in /proc/meminfo; -1 when unreadable) and the
// cores this process may run on.
struct MachineCapacity {
  int64_t mem_available_bytes = -1;
  int cores = 1;
};
MachineCapacity read_machine_capacity();

// Resident memory of one rank doing nothing yet (MPI initialised, communicators built),
// measured on the 2-core CI machine (Open MPI 4.1, Release build): `/usr/bin/time -v
// tpbench mesh` peaks at 17.7 MB; summed over the job's processes (/proc/PID/smaps_rollup,
// mpirun and orted included) 16-64 ranks of a small `linear` hold 24-29 MiB RSS a rank
// (7-13 MiB PSS: RSS counts the shared libraries once per rank). 32 MiB a rank is the
// stated baseline; commands that allocate (train, linear) need more on top.
inline constexpr int64_t kRankBaselineBytes = int64_t{32} << 20;
// Ranks per core the launcher starts without --force-nproc: beyond that, time-sharing is
// no benchmark and the ranks' busy-polling can stall the machine.
inline constexpr int kMaxRanksPerCore = 8;
inline constexpr const char* kForceNprocFlag = "--force-nproc";

// Why the launcher should refuse to start `nproc` ranks on `m` (one sentence naming the
// numbers and the override flag), or "" when they fit: nproc x kRankBaselineBytes must fit
// in the memory available (unknown memory is not refused), and nproc must not exceed
// cores x kMaxRanksPerCore.
std::string launch_refusal(int nproc, const MachineCapacity& m);

// The mpirun command line that runs `self_args` on n ranks: oversubscription allowed (more
// ranks than cores), run-as-root allowed when we are root, and OPENBLAS_NUM_THREADS set so
// the ranks share the cores instead of each spawning a thread per core.
// Where `tpbench --nproc N` starts its ranks: this machine (empty), Open MPI's host list
// (--hosts h1:2,h2:2: HOST[:SLOTS], one slot when none is given) or a hostfile
// (--hostfile FILE: "HOST [slots=N]" a line, # comments). Ranks are numbered host by host.
struct HostSpec {
  std::string hosts;     // as given to --hosts
  std::string hostfile;  // as given to --hostfile
  int slots = 0;         // every host's slots added up (the default --nproc)
  int max_slots = 0;     // the most slots of one host (ranks that share one machine)
  bool empty() const { return hosts.empty() && hostfile.empty(); }
};
// Parses and checks --hosts / --hostfile (not both): UsageError naming the entry or line.
HostSpec parse_host_spec(const std::string& hosts, const std::string& hostfile);

std::vector<std::string> mpirun_command(int nproc, const std::vector<std::string>& self_args,
                                        const HostSpec& hosts = {});

// OpenBLAS picks its kernels from the CPU's model name; a VM that masks the model (as this
// project's CI machines do) makes it fall back to generic SSE3 "Prescott" kernels even on
// an AVX-512 CPU, 5-8x slower. Returns the OPENBLAS_CORETYPE matching the CPU's flags
// (SkylakeX for AVX-512, Haswell for AVX2+FMA) when OpenBLAS chose a generic core and the
// user has not set one, else "".
std::string blas_coretype_fix();

// Runs the mpirun command line `argv` as a child and returns its exit status (128 + signal
// when a signal ended it). Its stdout is ours; its stderr passes through
// MpirunOutputFilter (cli/mpirun_output.h), so a rank killed by a signal, or failing
// without a word, is named in one line. SIGTERM, SIGINT and SIGHUP sent to this process
// with kill() are passed on to mpirun (one from the terminal reaches mpirun itself, in our
// process group), the first SIGINT / SIGTERM as SIGUSR1 / SIGUSR2 so that the ranks stop
// cleanly (then the status is 128 + that signal unless the run finished); mpirun gets
// SIGTERM if this process dies. Throws when it cannot start.
int run_mpirun(const std::vector<std::string>& argv);

// Replaces this process with argv; returns only by throwing when exec fails.
[[noreturn]] void exec_command(const std::vector<std::string>& argv);

// Absolute path of the running executable.
std::string self_executable();

}  // namespace tpb
