// `tpbench train`: the Llama-style decoder trained with Megatron TP x DP on the 2-D mesh.
#include <fmt/format.h>

#include <chrono>
#include <ctime>

#include "cli/command.h"
#include "device/device.h"
#include "comm/mpi/mpi_communicator.h"
#include "profile/trace_files.h"
#include "report/atomic_file.h"
#include "train/train_report.h"

namespace tpb {

namespace {

// Per-preset training defaults (the model shape comes from model_preset()).
struct PresetDefaults {
  int64_t batch;
  float lr;
};

PresetDefaults preset_defaults(const std::string& preset) {
  if (preset == "ezpz-fsdp-tp") return {24, 3e-3f};  // the seed study's
  if (preset == "tiny") return {2, 3e-3f};
  return {8, 3e-3f};
}

class TrainCommand final : public Command {
 public:
  std::string name() const override { return "train"; }
  std::string description() const override {
    return "Train the Llama-style decoder with tensor x data parallelism, timed per rank";
  }

  void add_flags(CLI::App& sub) override {
    sub.add_option("--preset", preset_, "model preset: small (default), ezpz-fsdp-tp, tiny")->capture_default_str();
    sub.add_option("--dim", dim_, "model width (default: the preset's)");
    sub.add_option("--layers", layers_, "transformer blocks");
    sub.add_option("--heads", heads_, "attention heads");
    sub.add_option("--kv-heads", kv_heads_, "key/value heads (grouped-query attention)");
    sub.add_option("--ffn-hidden", ffn_, "SwiGLU hidden size");
    sub.add_option("--vocab", vocab_, "vocabulary size");
    sub.add_option("--seq", seq_, "sequence length");
    sub.add_option("--batch", batch_, "sequences per data-parallel rank per step");
    sub.add_option("--iters", c_.iters, "training iterations")->capture_default_str();
    sub.add_option("--warmup-iters", c_.warmup_iters, "first iterations left out of the summary")->capture_default_str();
    sub.add_option("--lr", lr_, "peak learning rate (default: the preset's)");
    sub.add_option("--lr-warmup", lr_warmup_, "linear learning-rate warm-up steps (default: iters / 10)");
    sub.add_option("--weight-decay", c_.opt.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
    sub.add_option("--grad-clip", c_.opt.grad_clip, "max global gradient norm (0: off)")->capture_default_str();
    sub.add_option("--seed", c_.seed, "seed of the weights")->capture_default_str();
    sub.add_option("--tp", c_.tp, "tensor-parallel size; dp = ranks / tp")->capture_default_str();
    sub.add_option("--data", c_.data.kind, std::string("data: ") + kDataKinds)->capture_default_str();
    sub.add_option("--data-path", c_.data.path, "token file (llm.c / nanoGPT .bin) or UTF-8 text file");
    sub.add_option("--data-dtype", c_.data.token_dtype, std::string("token file format: ") + kTokenDtypes)->capture_default_str();
    sub.add_option("--data-seed", c_.data.seed, "seed of the data sampling")->capture_default_str();
    // Parsed into the enum here, once; CLI11's check names the choices on a bad value.
    sub.add_option_function<std::string>(
           "--dp-shard", [this](const std::string& v) { c_.dp_shard = parse_dp_shard(v); },
           "data-parallel layout: none (DDP), optimizer (ZeRO-1), full (FSDP / ZeRO-3)")
        ->check(CLI::IsMember({"none", "optimizer", "full"}))
        ->default_str("none");
    sub.add_flag("--dp-overlap", c_.dp_overlap,
                 "none/optimizer: reduce gradients during backward (a communication thread)");
    sub.add_option("--prefetch", prefetch_, "full: all-gather the next unit during the current one (on|off)")
        ->check(CLI::IsMember({"on", "off"}))
        ->capture_default_str();
    sub.add_option("--recompute", recompute_, "activation recomputation: none or block")
        ->check(CLI::IsMember({"none", "block"}))
        ->capture_default_str();
    sub.add_option("--bucket-mb", c_.bucket_mb, "gradient bucket size for the DP all-reduce")->capture_default_str();
    sub.add_option("--log-every", c_.log_every, "print a progress line every k iterations")->capture_default_str();
    sub.add_flag("--profile", c_.profile, "write per-rank and merged Chrome/Perfetto traces into the run directory");
    add_device_flags(sub, device_, &dtype_);
    sub.add_flag("--async-comm", async_comm_,
                 "cuda: let NCCL collectives run behind the host (overlap; their recorded times are "
                 "then enqueue times, not transfers)");
    sub.add_flag("--dry-run", dry_run_, "print parameter count, per-rank shards and FLOPs per step, and exit");
    sub.add_option("--out", out_, "root of run directories: OUT/RUN-NAME/YYYY-MM-DD-HHMMSS/")->capture_default_str();
    sub.add_option("--run-name", run_name_, "run name")->capture_default_str();
    sub.add_option("--json", json_, "also write summary.json's content here");
  }

  void validate(int world_size) const override {
    const TrainConfig c = config();
    validate_train_config(c, planned_world(world_size));
    // Opens and checks the data now: a bad file fails before any rank starts training. On a
    // rank, run() trains on this same source (the file is opened once per process).
    source_ = open_token_source(c.data, c.model.vocab, c.model.seq);
  }

  bool on_cuda() const override { return device_ == "cuda"; }

  int run(RunContext& ctx) override {
    const TrainConfig c = config();
    Communicator& world = ctx.world;
    const ParallelDims dims = validate_train_config(c, planned_world(world.size()));
    if (dry_run_) {
      if (ctx.is_root()) fmt::print("{}", format_dry_run(c, dims));
      return 0;
    }
    world.set_synchronous(!async_comm_);  // before the split: the mesh's groups inherit it
    DeviceMesh mesh(world, dims);
    const std::string mesh_report = mesh.gather_report();
    const std::string dir = run_directory(world);
    if (!source_) source_ = open_token_source(c.data, c.model.vocab, c.model.seq);
    TokenSource& source = *source_;
    if (ctx.is_root()) {
      fmt::print("{}{}", mesh_report, format_train_header(c, dims, source.describe()));
      if (on_cuda())
        fmt::print("device: {}, {} compute; collectives: {}{}\n", device::cuda_device_description(),
                   dtype_name(c.placement.compute), ctx.comm_path,
                   async_comm_ ? " (async: comm times are enqueue times)" : "");
      fmt::print("\n");
      std::fflush(stdout);
    }
    const auto t_start = std::chrono::steady_clock::now();
    auto progress = [&](const IterRecord& r) {
      if (!ctx.is_root() || (r.iter + 1) % c.log_every != 0) return;
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
      const double eta = elapsed / (r.iter + 1) * (c.iters - r.iter - 1);
      fmt::print("{}", format_progress(r, c, dims, eta));
      std::fflush(stdout);
    };
    TrainResult result = run_training(c, mesh, source, progress);
    if (c.profile) write_traces(result.trace, result.comms, world, dir, "train");
    if (!ctx.is_root()) return 0;

    const TrainSummary s = summarize_training(result, c, dims);
    fmt::print("{}", format_train_summary(s));
    const MachineInfo machine = read_machine_info(MpiRuntime::library_version());
    const nlohmann::json config_doc = train_config_json(c, dims, machine, result.data_description);
    write_file_atomic(dir + "/config.json", config_doc.dump(2) + "\n");
    write_file_atomic(dir + "/metrics.jsonl", train_metrics_jsonl(result));
    const nlohmann::json summary = train_summary_json(s);
    write_file_atomic(dir + "/summary.json", summary.dump(2) + "\n");
    if (!json_.empty()) {
      // One file with everything a comparison needs: config, summary, losses.
      nlohmann::json losses = nlohmann::json::array();
      for (const IterRecord& it : result.per_rank[0]) losses.push_back(it.loss);
      const nlohmann::json doc = {{"schema", "tpbench.train/1"},
                                  {"config", config_doc},
                                  {"summary", summary},
                                  {"losses", losses},
                                  {"run_directory", dir}};
      write_file_atomic(json_, doc.dump(2) + "\n");
    }
    fmt::print("\nrun directory: {}\n", dir);
    std::fflush(stdout);
    return 0;
  }

 private:
  TrainConfig config() const {
    TrainConfig c = c_;
    c.preset = preset_;
    c.model = model_preset(preset_);
    const PresetDefaults d = preset_defaults(preset_);
    c.batch = d.batch;
    c.opt.lr = lr_ != 0 ? lr_ : d.lr;  // a bad value given is kept, so validation names it
    auto set = [](int64_t& field, int64_t flag) {
      if (flag != kUnset) field = flag;
    };
    set(c.model.dim, dim_);
    set(c.model.n_layers, layers_);
    set(c.model.n_heads, heads_);
    set(c.model.n_kv_heads, kv_heads_);
    set(c.model.ffn_hidden, ffn_);
    set(c.model.vocab, vocab_);
    set(c.model.seq, seq_);
    if (batch_ != kUnset) c.batch = batch_;
    c.opt.lr_warmup = lr_warmup_ >= 0 ? lr_warmup_ : c.iters / 10;
    c.prefetch = prefetch_ == "on";
    c.recompute = recompute_ == "block";
    c.placement = parse_placement(device_, dtype_);
    return c;
  }

  // A dry run plans without launching: `--dry-run --tp 4` on one process plans tp 4, dp 1.
  int planned_world(int world_size) const {
    return dry_run_ && world_size < c_.tp ? c_.tp : world_size;
  }

  // OUT/RUN-NAME/YYYY-MM-DD-HHMMSS, named by rank 0 and broadcast so every rank agrees.
  std::string run_directory(Communicator& world) const {
    char stamp[32] = {};
    if (world.rank() == 0) {
      const std::time_t now = std::time(nullptr);
      std::tm tm{};
      localtime_r(&now, &tm);
      std::strftime(stamp, sizeof(stamp), "%Y-%m-%d-%H%M%S", &tm);
    }
    world.broadcast(stamp, sizeof(stamp), DType::u8, 0);
    return fmt::format("{}/{}/{}", out_, run_name_, stamp);
  }

  static constexpr int64_t kUnset = -1;
  TrainConfig c_;
  std::string preset_ = "small";
  int64_t dim_ = kUnset, layers_ = kUnset, heads_ = kUnset, kv_heads_ = kUnset, ffn_ = kUnset, vocab_ = kUnset,
          seq_ = kUnset, batch_ = kUnset, lr_warmup_ = -1;
  float lr_ = 0;
  bool dry_run_ = false;
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
