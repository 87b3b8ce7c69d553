// What `tpbench train` prints and writes: progress lines, the summary table (per-rank
// min / median / max), and the run directory's config.json, metrics.jsonl and summary.json
// (schema: docs/results.md). Formulas: docs/metrics.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "report/machine.h"
#include "report/stats.h"
#include "train/memory_model.h"
#include "report/tb_events.h"
#include "train/trainer.h"

namespace tpb {

struct TrainSummary {
  // How the run ended (TrainEnd): "completed", "interrupted" or "diverged", and why, in words
  // ("" when completed); iters_done of iters_planned were trained.
  std::string status = "completed";
  std::string stop_reason;
  int iters_done = 0, iters_planned = 0;
  int timed_iters = 0;
  Stats dt;                                   // over timed iterations, slowest rank each
  Stats dtf, dtb, opt;                        // over ranks, of per-rank medians
  Stats tp_comm, tp_wait, tp_transfer, dp_comm, dp_wait, dp_transfer;
  // TP communication by collective (all_reduce, all_gather, reduce_scatter: kTpCollectives).
  struct CollectiveStats {
    Stats comm, wait, transfer;   // seconds a step, over ranks of medians
    double bytes_per_step = 0;    // rank 0's median
    double calls_per_step = 0;
  };
  std::array<CollectiveStats, 3> tp_by_collective{};
  double tokens_per_step = 0, tokens_per_s = 0;
  double flops_per_step = 0, model_flops_per_s = 0, mfu = 0;
  double gemm_peak_flops = 0;                 // per rank
  std::string device = "cpu", dtype = "fp32";
  std::string device_description = "cpu";
  double dense_peak_flops = 0, mfu_dense = 0;  // GPU: vs the vendor's dense peak of the compute type
  Stats device_peak;                           // GPU: the device's own peak of memory in use
  double loss_first = 0, loss_last = 0;
  std::vector<double> loss_series, dt_series_ms;
  bool tp_crosses_hosts = false, dp_crosses_hosts = false;  // some group of the kind spans hosts (cli sets them)  // every iteration: rank 0's loss, the slowest rank's step
  std::array<Stats, kNumMemCategories> mem_peak;  // over ranks, of each rank's peak bytes
  std::array<Stats, kNumMemCategories> mem_held;  // over ranks, bytes held after the last step
  Stats mem_total_peak;
  Stats peak_rss;
  struct RankMemory {
    double state_held = 0;  // parameters + gradients + optimizer state after the last step
    double peak = 0;        // the allocator's peak of the sum
    double rss = 0;         // the process's peak resident set
  };
  std::vector<RankMemory> per_rank_memory;
  MemoryPrediction predicted;
  std::string dp_shard;
  Stats gather_total, gather_exposed;  // FSDP all-gathers per step, over ranks of medians
};

// The TP collectives TrainSummary::tp_by_collective splits by, in its order (metrics.jsonl's
// tp_<name>_* keys, summary.json's tp_by_collective).
inline constexpr std::array<const char*, 3> kTpCollectives = {"all_reduce", "all_gather", "reduce_scatter"};

TrainSummary summarize_training(const TrainResult& r, const TrainConfig& c, const ParallelDims& dims);

std::string format_train_header(const TrainConfig& c, const ParallelDims& dims, const std::string& data);
std::string format_progress(const IterRecord& r, const TrainConfig& c, const ParallelDims& dims, double eta_s);
std::string format_train_summary(const TrainSummary& s);

// TensorBoard scalars of every iteration (step = metrics.jsonl's iter): loss, grad_norm, lr
// (rank 0's; the loss is the DP average), then per phase, communication and memory
// category rank 0's value and the min and max over ranks ("time_ms/step/rank0", ".../min",
// ".../max"), and throughput/{tokens_per_s, mfu} from the slowest rank's step.
std::vector<TbScalar> train_tb_scalars(const TrainResult& r, const TrainSummary& s, int world_size);
// A text plot of y (one value per column after averaging into `width` columns), `height`
// rows, with the range on the left: what the terminal summary shows of the loss and the step time.
std::string text_plot(const std::vector<double>& y, int width, int height, const std::string& title);
// The --dry-run text: parameters, per-rank shard sizes, FLOPs per step.
std::string format_dry_run(const TrainConfig& c, const ParallelDims& dims);

nlohmann::json train_config_json(const TrainConfig& c, const ParallelDims& dims, const MachineInfo& m,
                                 const std::string& data);
// metrics.jsonl: one line per rank per iteration, iteration by iteration (each iteration's
// lines are appended as the run goes: train_metrics_lines of every rank's record of it).
std::string train_metrics_lines(const std::vector<IterRecord>& ranks_of_one_iter);
std::string train_metrics_jsonl(const TrainResult& r);
nlohmann::json train_summary_json(const TrainSummary& s);

}  // namespace tpb
