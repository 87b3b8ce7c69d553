// Launching ranks: `tpbench --nproc N <command>` re-executes itself under Open MPI's
// mpirun (as torchrun does for PyTorch); under mpirun already, or with N = 1, it runs
// in place.
#pragma once

#include <string>
#include <vector>

namespace tpb {

struct LaunchEnv {
  bool under_launcher = false;  // started by mpirun/srun (PMIx or Open MPI variables set)
  int rank = 0;                 // from the launcher's variables, before MPI starts
  int world_size = 1;
};

LaunchEnv read_launch_env();

// The mpirun command line that runs `self_args` on n ranks: oversubscription allowed (more
// ranks than cores), run-as-root allowed when we are root, and OPENBLAS_NUM_THREADS set so
// the ranks share the cores instead of each spawning a thread per core.
std::vector<std::string> mpirun_command(int nproc, const std::vector<std::string>& self_args);

// OpenBLAS picks its kernels from the CPU's model name; a VM that masks the model (as this
// project's CI machines do) makes it fall back to generic SSE3 "Prescott" kernels even on
// an AVX-512 CPU, 5-8x slower. Returns the OPENBLAS_CORETYPE matching the CPU's flags
// (SkylakeX for AVX-512, Haswell for AVX2+FMA) when OpenBLAS chose a generic core and the
// user has not set one, else "".
std::string blas_coretype_fix();

// Replaces this process with mpirun; returns only by throwing when exec fails.
[[noreturn]] void exec_command(const std::vector<std::string>& argv);

// Absolute path of the running executable.
std::string self_executable();

}  // namespace tpb
