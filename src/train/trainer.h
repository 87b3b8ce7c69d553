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
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/arrival.h"
#include "comm/device_mesh.h"
#include "data/token_source.h"
#include "model/config.h"
#include "profile/trace.h"
#include "report/record_fields.h"
#include "tensor/allocator.h"
#include "train/dp_shard.h"
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
  DpShard dp_shard = DpShard::none;  // see data_parallel.h
  bool dp_overlap = false;  // none / optimizer: reduce gradients during backward (communication thread)
  bool prefetch = true;     // full: all-gather the next unit while the current one computes
  bool recompute = false;   // recompute each block's activations in backward
  bool sp = false;          // sequence parallelism over the TP group (model/block.h)
  int64_t loss_chunk = 0;   // token rows per chunk of the fused loss head (0: auto; model/loss_head.h)
  double bucket_mb = 25.0;
  bool profile = false;
  int log_every = 1;
  // Checkpoints (checkpoint/checkpoint.h, docs/checkpoints.md): with save_dir, one every
  // save_every iterations (0: none in between) and one at the end (also when stopped by a
  // signal, not when diverged). The state to start from: a checkpoint's step directory
  // (parameters, AdamW state, the step: training goes on from there), or a Hugging Face
  // safetensors file (parameters only); neither: the seed.
  std::string save_dir;
  int save_every = 0;
  std::string resume_from;
  std::string init_from;
  Placement placement;      // --device cpu|cuda, --dtype fp32|bf16 (mixed precision, cuda only)
};

// Validation from the command line and world size alone (UsageError naming the values);
// returns the layout, validated once.
ParallelDims validate_train_config(const TrainConfig& c, int world_size);

// One rank's numbers for one iteration (seconds, bytes). Every member is listed once in
// kIterRecordFields below (the compiler checks), which packs, unpacks and writes it.
struct IterRecord {
  int iter = 0;
  bool warmup = false;
  double loss = 0, grad_norm = 0, lr = 0;
  double dt = 0, dtf = 0, dtb = 0;  // step, forward, backward (with the DP gradient reduction)
  double dt_opt = 0;                // optimizer: clipping and AdamW (ZeRO-1: and the all-gathers)
  CommSums tp{}, dp{};        // this step's TP and DP collectives
  // The TP collectives by kind: all-reduce (g and f without SP, the vocab-parallel loss),
  // all-gather and reduce-scatter (SP's f' and g'); the rest of tp is other kinds.
  CommSums tp_all_reduce{}, tp_all_gather{}, tp_reduce_scatter{};
  double gather_total = 0;    // FSDP: time inside parameter all-gathers (on whichever thread)
  double gather_exposed = 0;  // FSDP: time the computation waited for them
  MemStats mem;  // at the end of the step
};

namespace iter_record_detail {
inline std::string_view mem_key(int k) { return mem_category_name(static_cast<MemCategory>(k)); }
}  // namespace iter_record_detail

// IterRecord's fields: metrics.jsonl's keys (docs/results.md), nullptr where a field is
// gathered but not written there.
inline constexpr auto kIterRecordFields = std::to_array<RecordField<IterRecord>>({
    record_field<&IterRecord::iter>("iter"),
    record_field<&IterRecord::warmup>("warmup"),
    record_field<&IterRecord::loss>("loss"),
    record_field<&IterRecord::grad_norm>("grad_norm"),
    record_field<&IterRecord::lr>("lr"),
    record_field<&IterRecord::dt>("dt_ms", 1e3),
    record_field<&IterRecord::dtf>("dtf_ms", 1e3),
    record_field<&IterRecord::dtb>("dtb_ms", 1e3),
    record_field<&IterRecord::dt_opt>("opt_ms", 1e3),
    record_field<&IterRecord::tp, &CommSums::seconds>("tp_comm_ms", 1e3),
    record_field<&IterRecord::tp, &CommSums::wait>("tp_wait_ms", 1e3),
    record_field<&IterRecord::tp, &CommSums::transfer>("tp_transfer_ms", 1e3),
    record_field<&IterRecord::tp, &CommSums::bytes>("tp_bytes"),
    record_field<&IterRecord::tp, &CommSums::calls>("tp_calls"),
    record_field<&IterRecord::tp, &CommSums::shm_calls>("tp_shm_calls"),
    record_field<&IterRecord::tp_all_reduce, &CommSums::seconds>("tp_all_reduce_ms", 1e3),
    record_field<&IterRecord::tp_all_reduce, &CommSums::wait>("tp_all_reduce_wait_ms", 1e3),
    record_field<&IterRecord::tp_all_reduce, &CommSums::transfer>("tp_all_reduce_transfer_ms", 1e3),
    record_field<&IterRecord::tp_all_reduce, &CommSums::bytes>("tp_all_reduce_bytes"),
    record_field<&IterRecord::tp_all_reduce, &CommSums::calls>("tp_all_reduce_calls"),
    record_field<&IterRecord::tp_all_reduce, &CommSums::shm_calls>(nullptr),
    record_field<&IterRecord::tp_all_gather, &CommSums::seconds>("tp_all_gather_ms", 1e3),
    record_field<&IterRecord::tp_all_gather, &CommSums::wait>("tp_all_gather_wait_ms", 1e3),
    record_field<&IterRecord::tp_all_gather, &CommSums::transfer>("tp_all_gather_transfer_ms", 1e3),
    record_field<&IterRecord::tp_all_gather, &CommSums::bytes>("tp_all_gather_bytes"),
    record_field<&IterRecord::tp_all_gather, &CommSums::calls>("tp_all_gather_calls"),
    record_field<&IterRecord::tp_all_gather, &CommSums::shm_calls>(nullptr),
    record_field<&IterRecord::tp_reduce_scatter, &CommSums::seconds>("tp_reduce_scatter_ms", 1e3),
    record_field<&IterRecord::tp_reduce_scatter, &CommSums::wait>("tp_reduce_scatter_wait_ms", 1e3),
    record_field<&IterRecord::tp_reduce_scatter, &CommSums::transfer>("tp_reduce_scatter_transfer_ms", 1e3),
    record_field<&IterRecord::tp_reduce_scatter, &CommSums::bytes>("tp_reduce_scatter_bytes"),
    record_field<&IterRecord::tp_reduce_scatter, &CommSums::calls>("tp_reduce_scatter_calls"),
    record_field<&IterRecord::tp_reduce_scatter, &CommSums::shm_calls>(nullptr),
    record_field<&IterRecord::dp, &CommSums::seconds>("dp_comm_ms", 1e3),
    record_field<&IterRecord::dp, &CommSums::wait>("dp_wait_ms", 1e3),
    record_field<&IterRecord::dp, &CommSums::transfer>("dp_transfer_ms", 1e3),
    record_field<&IterRecord::dp, &CommSums::bytes>("dp_bytes"),
    record_field<&IterRecord::dp, &CommSums::calls>("dp_calls"),
    record_field<&IterRecord::dp, &CommSums::shm_calls>("dp_shm_calls"),
    record_field<&IterRecord::gather_total>(nullptr),
    record_field<&IterRecord::gather_exposed>(nullptr),
    record_field<&IterRecord::mem, &MemStats::current>("mem_current_bytes", 1.0, iter_record_detail::mem_key),
    record_field<&IterRecord::mem, &MemStats::peak>("mem_peak_bytes", 1.0, iter_record_detail::mem_key),
    record_field<&IterRecord::mem, &MemStats::total_current>(nullptr),
    record_field<&IterRecord::mem, &MemStats::total_peak>("mem_total_peak_bytes"),
    record_field<&IterRecord::mem, &MemStats::num_allocs>(nullptr),
});
static_assert(lists_every_leaf_once(kIterRecordFields), "a member of IterRecord is missing from kIterRecordFields");

// How a run ended: all --iters trained; stopped at a step boundary after a signal
// (SIGINT, SIGTERM; see TrainHooks::stop_requested); or stopped because the loss or the
// gradient norm became NaN or infinite.
enum class TrainEnd { completed, interrupted, diverged };

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
  // Why training ended; every rank holds the same (the ranks agree at each step boundary).
  TrainEnd end = TrainEnd::completed;
  int stop_signal = 0;         // interrupted: SIGINT or SIGTERM (the larger when ranks got both)
  int last_iter = -1;          // the last iteration trained (interrupted, diverged: per_rank's last)
  int diverged_rank = -1;      // diverged: the lowest rank holding a non-finite value
  std::string diverged_value;  // diverged: "loss" or "grad_norm"
  double diverged_number = 0;  // diverged: that value (nan or +-inf)
  int first_iter = 0;          // 0, or the checkpoint's step when resumed
  // The state could not be loaded (nothing was trained), or a checkpoint could not be
  // written (training stopped after the last one that was): the message, the same on every rank.
  std::string load_error, save_error;
};

// What the caller sees between steps (untimed, after the step's bookkeeping).
struct TrainHooks {
  // On every rank after each iteration, with every rank's record of it (index = rank; the
  // loss is the DP-averaged one): rank 0 prints progress and appends to metrics.jsonl.
  std::function<void(const std::vector<IterRecord>&)> on_step;
  // This rank's pending stop request: 0 for none, else the signal (SIGINT, SIGTERM) it
  // received. Read at every step boundary; the ranks all-reduce it (max) so they all stop
  // after the same iteration.
  std::function<int()> stop_requested;
  // On every rank: a line about the run's state (loaded from, checkpoint written), for rank 0 to print.
  std::function<void(const std::string&)> note;
  // The run's config.json, stored in every checkpoint.
  nlohmann::json run_config;
  // On every rank: a start-up phase begins (a short name, and what it does), and
  // iteration `it` begins (after its barrier, before its timed step). Rank 0's progress
  // lines (train/progress_ticker.h).
  std::function<void(const std::string& name, const std::string& what)> phase;
  std::function<void(int it)> step_started;
};

// `source` is the run's token source, opened once by the caller. Ends early, on every rank
// at once, when a stop is requested or a loss / gradient norm is non-finite (result.end).
TrainResult run_training(const TrainConfig& c, DeviceMesh& mesh, TokenSource& source, const TrainHooks& hooks = {});

// Best fp32 GFLOP/s of a square sgemm on this rank (ranks measure at once), in FLOP/s.
double measure_gemm_peak(Communicator& world, int64_t n = 1024, int reps = 5,
                         const Placement& placement = {});

}  // namespace tpb
