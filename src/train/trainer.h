// The training loop: Megatron TP x DP on the 2-D mesh, honestly timed.
//
// Each iteration: load this rank's rows of the step's global batch (untimed), barrier
// (untimed), then the timed step: forward (dtf), backward including the data-parallel
// gradient reduction (dtb), optimizer with gradient clipping (opt). Collectives are
// recorded by the communicators and assigned to the step they started in, per group (TP,
// DP), and split into wait and transfer afterwards. The loss is averaged over DP after the
// step. Warm-up iterations train like the others but are excluded from summaries.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "comm/arrival.h"
#include "comm/device_mesh.h"
#include "data/token_source.h"
#include "model/config.h"
#include "profile/trace.h"
#include "tensor/allocator.h"
#include "train/optimizer.h"

namespace tpb {

struct TrainConfig {
  std::string preset = "small";
  ModelConfig model;
  int64_t batch = 8;        // sequences per data-parallel rank per step
  int iters = 20;           // every iteration trains; the first warmup_iters are not summarised
  int warmup_iters = 2;
  OptimizerConfig opt;
  uint64_t seed = 0;        // weights; the data has its own seed in `data`
  int tp = 1;
  DataSpec data;
  std::string dp_shard = "none";  // none | optimizer | full (see data_parallel.h)
  bool dp_overlap = false;  // none / optimizer: reduce gradients during backward (communication thread)
  bool prefetch = true;     // full: all-gather the next unit while the current one computes
  bool recompute = false;   // recompute each block's activations in backward
  double bucket_mb = 25.0;
  bool profile = false;
  int log_every = 1;
  std::string device = "cpu";  // cpu | cuda
  std::string dtype = "fp32";  // fp32 | bf16 (mixed precision, cuda only)
};

// Validation from the command line and world size alone (UsageError naming the values).
void validate_train_config(const TrainConfig& c, int world_size);

// One rank's numbers for one iteration (seconds, bytes).
struct IterRecord {
  int iter = 0;
  bool warmup = false;
  double loss = 0, grad_norm = 0, lr = 0;
  double dt = 0, dtf = 0, dtb = 0, opt = 0;
  double tp_comm = 0, tp_wait = 0, tp_transfer = 0;
  double dp_comm = 0, dp_wait = 0, dp_transfer = 0;
  double tp_bytes = 0, dp_bytes = 0;
  double gather_total = 0;    // FSDP: time inside parameter all-gathers (on whichever thread)
  double gather_exposed = 0;  // FSDP: time the computation waited for them
  MemStats mem;  // at the end of the step
};

struct TrainResult {
  std::string device_description;  // "cpu", or the GPU's name, SMs and memory
  double dense_peak_flops = 0;     // GPU: the vendor's dense peak for the compute type (0 on the CPU)
  std::vector<double> device_peak_bytes;  // GPU: per rank, the device's own peak of memory in use
  std::vector<std::vector<IterRecord>> per_rank;  // [rank][iter], gathered to every rank
  double gemm_peak_flops = 0;                     // per rank: median over ranks of each one's best,
                                                  // the higher of a measurement before and after training
  int grad_buckets = 0;
  std::string data_description;
  std::vector<double> peak_rss_bytes;             // per rank: the process's peak resident set
  TraceBuffer trace;                              // this rank's spans (with profile)
  std::vector<CommTiming> comms;                  // this rank's collectives inside steps
};

// Called on every rank after each iteration with that rank's record and the DP-averaged
// loss (untimed; rank 0 prints progress).
using ProgressFn = std::function<void(const IterRecord&)>;

TrainResult run_training(const TrainConfig& c, DeviceMesh& mesh, const ProgressFn& progress);

// Best fp32 GFLOP/s of a square sgemm on this rank (ranks measure at once), in FLOP/s.
double measure_gemm_peak(Communicator& world, int64_t n = 1024, int reps = 5,
                         const Placement& placement = {});

}  // namespace tpb
