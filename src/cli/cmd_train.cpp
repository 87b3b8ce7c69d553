// `tpbench train`: the Llama-style decoder trained with Megatron TP x DP on the 2-D mesh.
#include <fmt/format.h>

#include <array>
#include <chrono>
#include <csignal>
#include <ctime>
#include <filesystem>

#include "base/error.h"
#include "cli/command.h"
#include "cli/flag_ranges.h"
#include "cli/launcher.h"
#include "device/device.h"
#include "comm/mpi/mpi_communicator.h"
#include "comm/strings.h"
#include "comm/watchdog.h"
#include "profile/trace_files.h"
#include "report/atomic_file.h"
#include "report/output_files.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/hf_llama.h"
#include "train/checkpointing.h"
#include "sweep/report_tool.h"
#include "train/progress_ticker.h"
#include "train/train_report.h"

namespace tpb {

namespace {

// Per-preset training defaults (the model shape comes from model_preset()).
struct PresetDefaults {
  int64_t batch;
  float lr;
};

// The largest model sizes the flags take (each tensor is bounded too, by 2^40 elements).
constexpr int64_t kMaxModelDim = int64_t{1} << 20;  // --dim
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxHeads = int64_t{1} << 16;     // --heads, --kv-heads
constexpr int64_t kMaxSize = int64_t{1} << 24;      // --ffn-hidden, --vocab, --seq, --batch
constexpr int64_t kMaxIters = 1'000'000'000;
constexpr const char* kForceMemoryFlag = "--force-memory";

PresetDefaults preset_defaults(const std::string& preset) {
  if (preset == "ezpz-fsdp-tp") return {24, 3e-3f};  // the seed study's
  if (preset == "tiny") return {2, 3e-3f};
  return {8, 3e-3f};
}

// SIGINT and SIGTERM ask training to stop at the next step boundary (the ranks agree on it
// there, TrainHooks::stop_requested), with the summary written and marked interrupted. So
// do SIGUSR1 (for SIGINT) and SIGUSR2 (for SIGTERM): `tpbench --nproc N` sends those
// through mpirun, which forwards them, while it answers SIGINT and SIGTERM by killing the
// ranks (SIGTERM after odls_base_sigkill_timeout = 1 s, SIGKILL 1 s later). Handlers are
// installed while the object lives; a stop is recorded once (later signals change nothing:
// the launcher or mpirun ends a rank that does not stop).
class StopSignals {
 public:
  StopSignals() {
    struct sigaction sa {};
    sa.sa_handler = &StopSignals::on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &sa, &saved_[i]);
  }
  ~StopSignals() {
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &saved_[i], nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  // 0, or the first signal received (SIGUSR1 reads as SIGINT, SIGUSR2 as SIGTERM).
  static int received() { return received_; }

 private:
  static void on_signal(int sig) {
    if (received_ == 0) received_ = sig == SIGUSR1 ? SIGINT : sig == SIGUSR2 ? SIGTERM : sig;
  }
  static constexpr std::array<int, 4> kSignals = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
  static inline volatile std::sig_atomic_t received_ = 0;
  std::array<struct sigaction, 4> saved_{};
};

class TrainCommand final : public Command {
 public:
  std::string name() const override { return "train"; }
  std::string description() const override {
    return "Train the Llama-style decoder with tensor x data parallelism, timed per rank";
  }

  void add_flags(CLI::App& sub) override {
    sub_ = &sub;
    sub.add_option("--preset", preset_, "model preset: small (default), ezpz-fsdp-tp, tiny")->capture_default_str();
    // Model sizes: given ones replace the preset's. Each tensor is also bounded (2^40
    // elements, validate_model_config), and the run by the machine's memory (validate).
    add_ranged(sub, "--dim", dim_, range::positive(kMaxModelDim), "model width (default: the preset's)");
    add_ranged(sub, "--layers", layers_, range::positive(kMaxLayers), "transformer blocks");
    add_ranged(sub, "--heads", heads_, range::positive(kMaxHeads), "attention heads");
    add_ranged(sub, "--kv-heads", kv_heads_, range::positive(kMaxHeads), "key/value heads (grouped-query attention)");
    add_ranged(sub, "--ffn-hidden", ffn_, range::positive(kMaxSize), "SwiGLU hidden size");
    add_ranged(sub, "--vocab", vocab_, range::positive(kMaxSize), "vocabulary size");
    add_ranged(sub, "--seq", seq_, range::positive(kMaxSize), "sequence length");
    add_ranged(sub, "--batch", batch_, range::positive(kMaxSize), "sequences per data-parallel rank per step");
    add_ranged(sub, "--iters", c_.iters, range::positive(kMaxIters), "training iterations")->capture_default_str();
    add_ranged(sub, "--warmup-iters", c_.warmup_iters, range::ints(0, kMaxIters),
               "first iterations left out of the summary")->capture_default_str();
    add_ranged(sub, "--lr", lr_, range::positive_reals(10), "peak learning rate (default: the preset's)");
    add_ranged(sub, "--lr-warmup", lr_warmup_, range::ints(0, kMaxIters),
               "linear learning-rate warm-up steps (default: iters / 10)");
    add_ranged(sub, "--weight-decay", c_.opt.weight_decay, range::reals(0, 10), "AdamW decoupled weight decay")
        ->capture_default_str();
    add_ranged(sub, "--grad-clip", c_.opt.grad_clip, range::reals(0, 1e9), "max global gradient norm (0: off)")
        ->capture_default_str();
    add_ranged(sub, "--seed", c_.seed, range::ints(0, INT64_MAX), "seed of the weights")->capture_default_str();
    add_ranged(sub, "--tp", c_.tp, range::ints(1, kMaxRanks), "tensor-parallel size; dp = ranks / tp")
        ->capture_default_str();
    sub.add_option("--data", c_.data.kind, std::string("data: ") + kDataKinds)->capture_default_str();
    path_flag(sub.add_option("--data-path", c_.data.path, "token file (llm.c / nanoGPT .bin) or UTF-8 text file"));
    sub.add_option("--data-dtype", c_.data.token_dtype, std::string("token file format: ") + kTokenDtypes)->capture_default_str();
    add_ranged(sub, "--data-seed", c_.data.seed, range::ints(0, INT64_MAX), "seed of the data sampling")
        ->capture_default_str();
    // Parsed into the enum here, once; CLI11's check names the choices on a bad value.
    sub.add_option_function<std::string>(
           "--dp-shard", [this](const std::string& v) { c_.dp_shard = parse_dp_shard(v); },
           "data-parallel layout: none (DDP), optimizer (ZeRO-1), full (FSDP / ZeRO-3)")
        ->check(CLI::IsMember({"none", "optimizer", "full"}))
        ->default_str("none");
    sub.add_flag("--dp-overlap", c_.dp_overlap,
                 "none/optimizer: reduce gradients during backward (a communication thread)");
    prefetch_opt_ = sub.add_option("--prefetch", prefetch_, "full: all-gather the next unit during the current one (on|off)")
        ->check(CLI::IsMember({"on", "off"}))
        ->capture_default_str();
    sub.add_option("--recompute", recompute_, "activation recomputation: none or block")
        ->check(CLI::IsMember({"none", "block"}))
        ->capture_default_str();
    add_ranged(sub, "--loss-chunk", c_.loss_chunk, range::ints(0, INT64_MAX),
               "token rows per chunk of the fused output projection + loss (0: auto, chunk logits "
               "within 64 MiB)")
        ->capture_default_str();
    sub.add_flag("--sp", c_.sp,
                 "sequence parallelism: norms, residual stream and embedding output split along the "
                 "sequence over the TP group (all-gather / reduce-scatter instead of all-reduce)");
    bucket_opt_ = add_ranged(sub, "--bucket-mb", c_.bucket_mb, range::positive_reals(1 << 20),
                             "none: gradient bucket size for the DP all-reduce")->capture_default_str();
    add_ranged(sub, "--log-every", c_.log_every, range::positive(kMaxIters), "print a progress line every k iterations")
        ->capture_default_str();
    add_ranged(sub, "--progress-every", progress_every_, range::reals(0, 86400),
               "seconds between rank 0's progress lines inside a step that runs longer (where in the step, "
               "ETA); 0: none")
        ->capture_default_str();
    sub.add_flag("--profile", c_.profile, "write per-rank and merged Chrome/Perfetto traces into the run directory");
    // Checkpoints (docs/checkpoints.md).
    path_flag(sub.add_option("--save-dir", c_.save_dir,
                             "write sharded checkpoints here (SAVE_DIR/step-N, SAVE_DIR/latest): at the end, "
                             "every --save-every iterations, and when stopped by a signal"));
    add_ranged(sub, "--save-every", c_.save_every, range::ints(0, kMaxIters),
               "with --save-dir: also save every N iterations (0: only at the end)")->capture_default_str();
    path_flag(sub.add_option("--resume", resume_,
                             "continue from a checkpoint: a step directory, or a --save-dir (its latest); at any "
                             "layout (--tp, ranks, --dp-shard, --sp); model, optimizer, data, seed and --iters "
                             "come from it unless given"));
    path_flag(sub.add_option("--init-from", c_.init_from,
                             "start from Hugging Face Llama weights (a .safetensors file; AdamW state at zero)"));
    add_device_flags(sub, device_, &dtype_);
    sub.add_flag("--async-comm", async_comm_,
                 "cuda: let NCCL collectives run behind the host (overlap; their recorded times are "
                 "then enqueue times, not transfers)");
    sub.add_flag("--no-plots", no_plots_, "do not write RUN/plots/ (PNG and SVG per metric, summary.png)");
    sub.add_flag("--dry-run", dry_run_, "print parameter count, per-rank shards and FLOPs per step, and exit");
    sub.add_flag(kForceMemoryFlag, force_memory_,
                 "run even when the predicted memory of the ranks exceeds what this machine has available");
    out_opt_ = path_flag(sub.add_option("--out", out_, "root of run directories: OUT/RUN-NAME/YYYY-MM-DD-HHMMSS/"))
                   ->capture_default_str();
    run_name_opt_ = single_name_flag(sub.add_option("--run-name", run_name_, "run name"))->capture_default_str();
    path_flag(sub.add_option("--json", json_, "also write summary.json's content here"));
    add_ranged(sub, "--timeout", timeout_, range::positive_reals(1e6),
               fmt::format("seconds a collective may take before the watchdog dumps every rank's last "
                           "collectives to RUN_DIR/flight and ends the job (default: {:.0f} until the first "
                           "step ends, then {:.0f} or {:.0f}x the slowest step, whichever is larger)",
                           kFirstStepTimeout, kMinTimeout, kStepFactor));
  }

  void validate(int world_size) const override {
    const TrainConfig c = config(planned_world(world_size));
    const ParallelDims dims = validate_train_config(c, planned_world(world_size));
    refuse_flags_without_effect(c);
    validate_checkpoint_flags(c);
    if (!dry_run_ && !force_memory_ && c.placement.device == Device::cpu)
      if (const std::string why = memory_refusal(c, dims, world_size, read_machine_capacity()); !why.empty())
        usage_error("{}", why);
    // Opens and checks the data now: a bad file fails before any rank starts training. On a
    // rank, run() trains on this same source (the file is opened once per process).
    source_ = open_token_source(c.data, c.model.vocab, c.model.seq);
  }

  bool on_cuda() const override { return device_ == "cuda"; }

  int run(RunContext& ctx) override {
    const TrainConfig c = config(planned_world(ctx.world.size()));
    Communicator& world = ctx.world;
    const ParallelDims dims = validate_train_config(c, planned_world(world.size()));
    if (dry_run_) {
      if (ctx.is_root()) fmt::print("{}{}", format_dry_run(c, dims), memory_fit_line(c, dims, dims.world()));
      return 0;
    }
    const StopSignals stop_signals;  // SIGINT / SIGTERM from here on: stop at the next step boundary
    world.set_synchronous(!async_comm_);  // before the split: the mesh's groups inherit it
    DeviceMesh mesh(world, dims);
    const std::string mesh_report = mesh.gather_report();
    if (!source_) source_ = open_token_source(c.data, c.model.vocab, c.model.seq);
    TokenSource& source = *source_;
    // The run directory, config.json and an empty metrics.jsonl exist before the first step;
    // when they cannot be made, every rank stops here with rank 0's one message.
    RunFiles files;
    const std::string dir = prepare_run_files(world, c, dims, source.describe(), files, mesh);
    if (dir.empty()) {
      if (ctx.is_root()) {
        fmt::print(stderr, "tpbench train: error: {} (nothing was trained)\n", files.error);
        std::fflush(stderr);
      }
      return ctx.is_root() ? kExitNotWritten : 0;
    }
    // A collective not done within the limit dumps the flight recorder and ends the job
    // (comm/watchdog.h). Made after the mesh, so it stops before the communicators go.
    Watchdog watchdog(world, {timeout_.value_or(0.0), dir + "/flight", "tpbench train", {}});
    if (ctx.is_root()) {
      fmt::print("{}{}", mesh_report, format_train_header(c, dims, source.describe()));
      if (on_cuda())
        fmt::print("device: {}, {} compute; collectives: {}{}\n", device::cuda_device_description(),
                   dtype_name(c.placement.compute), ctx.comm_path,
                   async_comm_ ? " (async: comm times are enqueue times)" : "");
      fmt::print("collective routes: {}\n\n", ctx.routes());
      std::fflush(stdout);
    }
    const auto t_start = std::chrono::steady_clock::now();
    ProgressTicker ticker(ctx.is_root() ? progress_every_ : 0, step_work_of(c.model, c.recompute), c.iters);
    TrainHooks hooks;
    if (ctx.is_root()) {
      hooks.phase = [&](const std::string& name, const std::string& what) { ticker.startup_phase(name, what); };
      hooks.step_started = [&](int it) { ticker.step_started(it); };
    }
    hooks.stop_requested = [] { return StopSignals::received(); };
    hooks.run_config = files.config;
    hooks.note = [&](const std::string& line) {
      if (!ctx.is_root()) return;
      fmt::print("{}\n", line);
      std::fflush(stdout);
    };
    hooks.on_step = [&](const std::vector<IterRecord>& step) {
      const IterRecord& r = step[static_cast<size_t>(world.rank())];
      watchdog.step_done(r.dt);
      if (!ctx.is_root()) return;
      ticker.step_finished();
      files.metrics->append(train_metrics_lines(step));  // a failure is reported after the summary
      if ((r.iter + 1) % c.log_every != 0) return;
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
      const int first = resumed_ ? static_cast<int>(resumed_->step) : 0;
      const double eta = elapsed / (r.iter + 1 - first) * (c.iters - r.iter - 1);
      fmt::print("{}", format_progress(r, c, dims, eta));
      std::fflush(stdout);
    };
    TrainResult result = run_training(c, mesh, source, hooks);
    if (!result.load_error.empty()) {  // nothing was trained: the run directory goes
      if (ctx.is_root()) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        fmt::print(stderr, "tpbench train: error: {} (nothing was trained)\n", result.load_error);
        std::fflush(stderr);
      }
      return ctx.is_root() ? 2 : 0;
    }
    // Every file is attempted and the summary printed whatever fails; the failures are
    // reported after it, on one line, with a non-zero exit.
    std::vector<std::string> not_written;
    if (c.profile) {
      try {
        write_traces(result.trace, result.comms, world, dir, "train");  // throws on rank 0 only
      } catch (const Error& e) {
        not_written.push_back(e.what());
      }
    }
    // The exit status is rank 0's alone (the other ranks exit 0): mpirun ends the job as soon
    // as one rank exits non-zero, which could cut rank 0's summary short.
    if (!ctx.is_root()) return 0;

    TrainSummary s = summarize_training(result, c, dims);
    s.tp_crosses_hosts = mesh.placement().tp_crosses_hosts;
    s.dp_crosses_hosts = mesh.placement().dp_crosses_hosts;
    fmt::print("{}", format_train_summary(s));
    std::fflush(stdout);
    if (!files.metrics->error().empty()) not_written.push_back(files.metrics->error());
    if (!result.save_error.empty())
      not_written.push_back(fmt::format("checkpoint after iteration {}: {} (training stopped there)",
                                        result.last_iter + 1, result.save_error));
    const nlohmann::json summary = train_summary_json(s);
    const auto attempt = [&](const std::string& path, const std::string& text) {
      try {
        write_file_atomic(path, text);
      } catch (const Error& e) {
        not_written.push_back(e.what());
      }
    };
    attempt(dir + "/summary.json", summary.dump(2) + "\n");
    try {
      write_tb_events(dir + "/tb", train_tb_scalars(result, s, dims.world()));
    } catch (const Error& e) {
      not_written.push_back(e.what());
    }
    if (!json_.empty()) {
      // One file with everything a comparison needs: config, summary, losses.
      nlohmann::json losses = nlohmann::json::array();
      for (const IterRecord& it : result.per_rank[0]) losses.push_back(it.loss);
      const nlohmann::json doc = {{"schema", "tpbench.train/1"},
                                  {"config", files.config},
                                  {"summary", summary},
                                  {"losses", losses},
                                  {"run_directory", dir}};
      attempt(json_, doc.dump(2) + "\n");
    }
    if (!no_plots_) {
      if (const std::string why = write_run_plots(self_executable(), dir, dir + "/plots"); !why.empty())
        not_written.push_back(why);
    }
    fmt::print("\nrun directory: {}\n", dir);
    if (!no_plots_) fmt::print("plots: {0}/plots/summary.png; TensorBoard: tensorboard --logdir {0}/tb\n", dir);
    std::fflush(stdout);
    int status = 0;
    if (result.end == TrainEnd::diverged) {
      fmt::print(stderr, "tpbench train: error: training {} ({} iterations written to {}/metrics.jsonl)\n",
                 s.stop_reason, s.iters_done, dir);
      status = kExitDiverged;
    } else if (result.end == TrainEnd::interrupted) {
      fmt::print(stderr, "tpbench train: {}; summary marked interrupted\n", s.stop_reason);
      status = 128 + result.stop_signal;
    }
    if (!not_written.empty()) {
      std::string all;
      for (const std::string& e : not_written) all += (all.empty() ? "" : "; ") + e;
      fmt::print(stderr, "tpbench train: error: results not written: {}\n", all);
      status = kExitNotWritten;
    }
    std::fflush(stderr);
    return status;
  }

 private:
  bool given(const char* flag) const { return sub_->get_option(flag)->count() > 0; }

  // With --resume, what the checkpoint trained with is the default of every setting not
  // given (the layout is always the command line's), and the per-rank batch keeps its
  // global batch at this world's dp.
  TrainConfig config(int world_size) const {
    if (!resume_.empty()) return resumed_config(world_size);
    TrainConfig c = c_;
    c.preset = preset_;
    c.model = model_preset(preset_);
    const PresetDefaults d = preset_defaults(preset_);
    c.batch = d.batch;
    c.opt.lr = lr_.value_or(d.lr);
    // A size given replaces the preset's; a size not given is the preset's.
    auto set = [](int64_t& field, const std::optional<int64_t>& flag) {
      if (flag) field = *flag;
    };
    set(c.model.dim, dim_);
    set(c.model.n_layers, layers_);
    set(c.model.n_heads, heads_);
    set(c.model.n_kv_heads, kv_heads_);
    set(c.model.ffn_hidden, ffn_);
    set(c.model.vocab, vocab_);
    set(c.model.seq, seq_);
    set(c.batch, batch_);
    c.opt.lr_warmup = lr_warmup_.value_or(c.iters / 10);
    // --init-from HF weights with no model given: the model their config.json describes.
    const bool model_given = given("--preset") || dim_ || layers_ || heads_ || kv_heads_ || ffn_ || vocab_;
    if (const std::string hf = c.init_from.empty() ? "" : ckpt::hf_config_beside(c.init_from);
        !hf.empty() && !model_given) {
      const int64_t seq = c.model.seq;
      c.model = ckpt::model_from_hf_config_file(hf);
      c.model.seq = seq_.value_or(std::min(seq, c.model.seq));  // the preset's, at most the model's positions
      c.preset = "hf";
    }
    c.prefetch = prefetch_ == "on";
    c.recompute = recompute_ == "block";
    c.placement = parse_placement(device_, dtype_);
    return c;
  }

  TrainConfig resumed_config(int world_size) const {
    if (!resumed_ || resumed_->dir.empty()) resumed_ = ckpt::open_checkpoint(resume_);
    const nlohmann::json& r = resumed_->meta.at("resume");
    const TrainConfig saved = config_from_resume(r);
    TrainConfig c = c_;
    c.resume_from = resumed_->dir;
    c.preset = given("--preset") ? preset_ : saved.preset;
    c.model = saved.model;
    // The model is the checkpoint's: a size given must be its.
    const std::pair<const char*, std::pair<const std::optional<int64_t>*, int64_t>> sizes[] = {
        {"--dim", {&dim_, saved.model.dim}},         {"--layers", {&layers_, saved.model.n_layers}},
        {"--heads", {&heads_, saved.model.n_heads}}, {"--kv-heads", {&kv_heads_, saved.model.n_kv_heads}},
        {"--ffn-hidden", {&ffn_, saved.model.ffn_hidden}}, {"--vocab", {&vocab_, saved.model.vocab}},
        {"--seq", {&seq_, saved.model.seq}}};
    for (const auto& [flag, v] : sizes)
      if (*v.first && **v.first != v.second)
        usage_error("{} {} differs from the checkpoint's {} ({}): a resumed run keeps the checkpoint's model", flag,
                    **v.first, v.second, resumed_->dir);
    if (given("--preset") && model_preset(preset_).dim != saved.model.dim && !dim_)
      usage_error("--preset {} is not the checkpoint's model ({}: preset {}); a resumed run keeps it", preset_,
                  resumed_->dir, saved.preset);
    const int dp = std::max(1, world_size / std::max(1, c_.tp));
    const int64_t global = resume_global_batch(r);
    if (batch_) {
      c.batch = *batch_;
    } else if (global % dp != 0) {
      usage_error("the checkpoint's global batch {} ({}) does not split over dp {}; give --batch", global,
                  resumed_->dir, dp);
    } else {
      c.batch = global / dp;
    }
    c.iters = given("--iters") ? c_.iters : saved.iters;
    c.opt = saved.opt;
    if (lr_) c.opt.lr = *lr_;
    if (lr_warmup_) c.opt.lr_warmup = *lr_warmup_;
    if (given("--weight-decay")) c.opt.weight_decay = c_.opt.weight_decay;
    if (given("--grad-clip")) c.opt.grad_clip = c_.opt.grad_clip;
    c.seed = given("--seed") ? c_.seed : saved.seed;
    c.data = saved.data;
    if (given("--data")) c.data.kind = c_.data.kind;
    if (given("--data-path")) c.data.path = c_.data.path;
    if (given("--data-dtype")) c.data.token_dtype = c_.data.token_dtype;
    if (given("--data-seed")) c.data.seed = c_.data.seed;
    // The summary's warm-up counts from the resumed step; never all of what is left.
    const int left = c.iters - static_cast<int>(resumed_->step);
    if (!given("--warmup-iters")) c.warmup_iters = std::max(0, std::min(c_.warmup_iters, left - 1));
    else if (left > 0 && c.warmup_iters >= left)
      usage_error("--warmup-iters {} leaves no timed iteration of the {} left after the checkpoint's step {}",
                  c.warmup_iters, left, resumed_->step);
    c.prefetch = prefetch_ == "on";
    c.recompute = recompute_ == "block";
    c.placement = parse_placement(device_, dtype_);
    return c;
  }

  // --resume, --init-from and --save-dir against each other, the model and the iterations.
  void validate_checkpoint_flags(const TrainConfig& c) const {
    if (!resume_.empty() && !c.init_from.empty())
      usage_error("--resume and --init-from exclude each other (a checkpoint holds the weights already)");
    if (c.save_every > 0 && c.save_dir.empty()) usage_error("--save-every {} needs --save-dir", c.save_every);
    if (dry_run_ && (!c.save_dir.empty() || !resume_.empty() || !c.init_from.empty()))
      usage_error("--save-dir, --resume and --init-from have no effect with --dry-run");
    int first = 0;
    if (!resume_.empty()) {
      const ModelParams shapes(c.model, ParallelDims(1, 1), 0, /*materialize=*/false);
      ckpt::check_model_matches(*resumed_, shapes);
      first = static_cast<int>(resumed_->step);
      if (first >= c.iters)
        usage_error("the checkpoint {} is at step {} and --iters is {}: nothing is left to train (give a larger "
                    "--iters)", resumed_->dir, first, c.iters);
    }
    if (!c.init_from.empty()) ckpt::open_hf_weights(c.init_from, c.model);
    // Every checkpoint this run would write must be new: a run never overwrites another's.
    if (!c.save_dir.empty())
      for (int it = first; it < c.iters; ++it)
        if (save_due(c, it))
          if (const std::string d = c.save_dir + "/" + ckpt::step_dir_name(it + 1); std::filesystem::exists(d))
            usage_error("--save-dir {}: {} exists already and this run would write it (a run never overwrites "
                        "another's checkpoint; use a new --save-dir)", c.save_dir, d);
  }

  // A dry run plans without launching: `--dry-run --tp 4` on one process plans tp 4, dp 1.
  int planned_world(int world_size) const {
    return dry_run_ && world_size < c_.tp ? c_.tp : world_size;
  }

  // What rank 0 holds of the run directory while training.
  struct RunFiles {
    nlohmann::json config;                 // config.json's content
    std::unique_ptr<AppendFile> metrics;   // metrics.jsonl, appended after every step
    std::string error;                     // why the directory could not be prepared
  };

  // Rank 0 makes a new OUT/RUN-NAME/YYYY-MM-DD-HHMMSS (-2, -3, ... when that exists: never
  // an existing one), writes config.json, starts metrics.jsonl and checks that --json can be
  // written; the directory (or "" and, on rank 0, files.error) is broadcast to every rank.
  std::string prepare_run_files(Communicator& world, const TrainConfig& c, const ParallelDims& dims,
                                const std::string& data, RunFiles& files, const DeviceMesh& mesh) const {
    std::string dir;
    if (world.rank() == 0) {
      try {
        dir = create_unique_directory(out_ + "/" + run_name_, local_timestamp());
        files.config = train_config_json(c, dims, read_machine_info(MpiRuntime::library_version()), data);
        files.config["mesh"]["hosts"] = mesh.topology().num_hosts();
        files.config["mesh"]["host_of_rank"] = mesh.topology().host_of_rank;
        files.config["mesh"]["tp_crosses_hosts"] = mesh.placement().tp_crosses_hosts;
        files.config["mesh"]["dp_crosses_hosts"] = mesh.placement().dp_crosses_hosts;
        write_file_atomic(dir + "/config.json", files.config.dump(2) + "\n");
        files.metrics = std::make_unique<AppendFile>(dir + "/metrics.jsonl");
        if (!json_.empty()) check_writable_file(json_);
      } catch (const Error& e) {
        files.error = e.what();
        files.metrics.reset();
        std::error_code ec;
        if (!dir.empty()) std::filesystem::remove_all(dir, ec);  // only what this run made
        dir.clear();
      }
    }
    return broadcast_string(world, dir);
  }

  // Exit statuses beyond 0 (done), 1 (an error) and 2 (bad input); docs/results.md.
  static constexpr int kExitDiverged = 3;    // a loss or gradient norm became NaN or infinite
  static constexpr int kExitNotWritten = 4;  // a results file could not be written

  // Options that change nothing in this configuration are refused, so a run never
  // silently differs from what its command line says.
  void refuse_flags_without_effect(const TrainConfig& c) const {
    if (c.dp_overlap && c.dp_shard == DpShard::full)
      usage_error("--dp-overlap has no effect with --dp-shard full (FSDP's overlap is --prefetch)");
    if (prefetch_opt_->count() > 0 && c.dp_shard != DpShard::full)
      usage_error("--prefetch {} has no effect with --dp-shard {} (it applies to --dp-shard full only)", prefetch_,
                  dp_shard_name(c.dp_shard));
    if (bucket_opt_->count() > 0 && c.dp_shard != DpShard::none)
      usage_error("--bucket-mb {} has no effect with --dp-shard {} (buckets are DDP's, --dp-shard none)",
                  c.bucket_mb, dp_shard_name(c.dp_shard));
    if (async_comm_ && c.placement.device != Device::cuda)
      usage_error("--async-comm needs --device cuda (CPU collectives are blocking: it would change nothing)");
    if (dry_run_) {
      const std::pair<bool, const char*> writes[] = {{c.profile, "--profile"},
                                                     {!json_.empty(), "--json"},
                                                     {out_opt_->count() > 0, "--out"},
                                                     {no_plots_, "--no-plots"},
                                                     {run_name_opt_->count() > 0, "--run-name"}};
      for (const auto& [given, flag] : writes)
        if (given) usage_error("{} has no effect with --dry-run (a dry run writes nothing)", flag);
    }
  }

  // One rank's predicted peak: the memory model's bound plus MPI's and the runtime's own.
  static double predicted_rank_bytes(const TrainConfig& c, const ParallelDims& dims) {
    return predict_memory(c.model, dims, c.dp_shard, c.batch, c.recompute, c.loss_chunk).total_peak() +
           kRankBaselineBytes;
  }

  // The dry run's verdict: whether `ranks` ranks of this layout fit this machine's memory.
  static std::string memory_fit_line(const TrainConfig& c, const ParallelDims& dims, int ranks) {
    const MachineCapacity m = read_machine_capacity();
    const double per_rank = predicted_rank_bytes(c, dims);
    const auto gib = [](double b) { return b / double(int64_t{1} << 30); };
    if (m.mem_available_bytes < 0)
      return fmt::format("fits this machine: unknown (no MemAvailable); {} rank{} x {:.2f} GiB = {:.2f} GiB\n", ranks,
                         ranks == 1 ? "" : "s", gib(per_rank), gib(per_rank * ranks));
    const bool fits = memory_refusal(c, dims, ranks, m).empty();
    return fmt::format("fits this machine: {} ({} rank{} x {:.2f} GiB = {:.2f} GiB predicted, with {:.0f} MiB a rank "
                       "for MPI and the runtime; {:.2f} GiB available){}\n",
                       fits ? "yes" : "NO", ranks, ranks == 1 ? "" : "s", gib(per_rank), gib(per_rank * ranks),
                       kRankBaselineBytes / double(1 << 20), gib(static_cast<double>(m.mem_available_bytes)),
                       fits ? "" : "; train would refuse it");
  }

  // Why the ranks of this run would not fit in this machine's memory ("" when they do, or
  // when the available memory is unknown): every rank is on this one host.
  static std::string memory_refusal(const TrainConfig& c, const ParallelDims& dims, int ranks,
                                    const MachineCapacity& m) {
    if (m.mem_available_bytes < 0) return "";
    const double per_rank = predicted_rank_bytes(c, dims);
    const double need = per_rank * ranks;
    if (need <= static_cast<double>(m.mem_available_bytes)) return "";
    const auto gib = [](double b) { return b / double(int64_t{1} << 30); };
    return fmt::format("predicted memory {:.1f} GiB ({} rank{} x {:.1f} GiB) exceeds the {:.1f} GiB available on "
                       "this machine (MemAvailable); use a smaller model, --batch or --seq, more --tp, or add {} "
                       "to run anyway",
                       gib(need), ranks, ranks == 1 ? "" : "s", gib(per_rank),
                       gib(static_cast<double>(m.mem_available_bytes)), kForceMemoryFlag);
  }

  TrainConfig c_;
  CLI::App* sub_ = nullptr;
  std::string resume_;
  mutable std::optional<ckpt::Checkpoint> resumed_;  // --resume's checkpoint, opened once
  std::string preset_ = "small";
  // Given or not: unset means the preset's value (or iters / 10 for the LR warm-up).
  std::optional<int64_t> dim_, layers_, heads_, kv_heads_, ffn_, vocab_, seq_, batch_, lr_warmup_;
  std::optional<float> lr_;
  double progress_every_ = 30;     // --progress-every
  std::optional<double> timeout_;  // --timeout; unset: the watchdog's adaptive limit
  CLI::Option* prefetch_opt_ = nullptr;
  CLI::Option* bucket_opt_ = nullptr;
  CLI::Option* out_opt_ = nullptr;
  CLI::Option* run_name_opt_ = nullptr;
  bool force_memory_ = false;
  bool dry_run_ = false;
  bool no_plots_ = false;
  bool async_comm_ = false;
  std::string prefetch_ = "on";
  std::string recompute_ = "none";
  std::string out_ = "outputs";
  std::string run_name_ = "train";
  std::string json_;
  std::string device_ = "cpu", dtype_ = "fp32";
  mutable std::unique_ptr<TokenSource> source_;  // opened by validate() (every rank runs it first)
};

}  // namespace

std::unique_ptr<Command> make_train_command() { return std::make_unique<TrainCommand>(); }

}  // namespace tpb
