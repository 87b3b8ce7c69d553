// `tpbench eval --checkpoint DIR --batches K`: the model's loss and perplexity on held-out
// batches, at any layout (--tp, --sp, ranks), from a checkpoint or from Hugging Face
// safetensors weights.
//
// Held out: training reads the batches of steps 0 .. iters-1; eval reads those of steps
// 2^40 + k (k < K), which no run reaches, from the same data (or --data-path, a
// validation file). Forward only, DDP-style: every rank holds its TP shard of the
// parameters; the DP ranks split each batch's rows.
#include <fmt/format.h>

#include <cmath>

#include "base/error.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/hf_llama.h"
#include "comm/strings.h"
#include "cli/command.h"
#include "cli/flag_ranges.h"
#include "comm/device_mesh.h"
#include "model/transformer.h"
#include "model/vocab_parallel.h"
#include "report/atomic_file.h"
#include "train/checkpointing.h"

namespace tpb {

namespace {

constexpr int64_t kEvalFirstStep = int64_t{1} << 40;

class EvalCommand final : public Command {
 public:
  std::string name() const override { return "eval"; }
  std::string description() const override {
    return "Loss and perplexity of a checkpoint (or HF safetensors weights) on held-out batches, at any layout";
  }
  void add_flags(CLI::App& sub) override {
    sub_ = &sub;
    path_flag(sub.add_option("--checkpoint", checkpoint_, "a checkpoint: a step directory, or a --save-dir (its latest)"));
    path_flag(sub.add_option("--weights", weights_,
                             "or Hugging Face Llama weights: a .safetensors file with its config.json beside it"));
    add_ranged(sub, "--batches", batches_, range::positive(1 << 20), "held-out batches")->capture_default_str();
    add_ranged(sub, "--batch", batch_, range::positive(1 << 24),
               "sequences per data-parallel rank (default: the checkpoint's global batch / dp; 1 with --weights)");
    add_ranged(sub, "--tp", tp_, range::ints(1, kMaxRanks), "tensor-parallel size; dp = ranks / tp")->capture_default_str();
    sub.add_flag("--sp", sp_, "sequence parallelism over the TP group");
    sub.add_option("--data", data_.kind, std::string("data (default: the checkpoint's): ") + kDataKinds);
    path_flag(sub.add_option("--data-path", data_.path, "token file or text file"));
    sub.add_option("--data-dtype", data_.token_dtype, std::string("token file format: ") + kTokenDtypes);
    add_ranged(sub, "--data-seed", data_.seed, range::ints(0, INT64_MAX), "seed of the data sampling");
    add_ranged(sub, "--loss-chunk", loss_chunk_, range::ints(0, INT64_MAX), "token rows per loss-head chunk (0: auto)")
        ->capture_default_str();
    path_flag(sub.add_option("--json", json_, "also write the result here (JSON)"));
  }

  void validate(int world_size) const override {
    const Plan p = plan(world_size);
    open_token_source(p.data, p.model.vocab, p.model.seq);
  }

  int run(RunContext& ctx) override {
    Communicator& world = ctx.world;
    const Plan p = plan(world.size());
    DeviceMesh mesh(world, p.dims);
    const auto source = open_token_source(p.data, p.model.vocab, p.model.seq);
    ModelParams params(p.model, p.dims, mesh.tp_rank(), /*materialize=*/true);
    ckpt::TensorStore store;
    std::string what, error;
    // Rank 0's step directory for every rank (each resolved `latest` in plan()).
    const std::string dir = broadcast_string(world, p.checkpoint_dir);
    try {
      if (!dir.empty()) {
        ckpt::Checkpoint ck = ckpt::open_checkpoint(dir);
        what = fmt::format("checkpoint {} (step {})", ck.dir, ck.step);
        store = std::move(ck.store);
      } else {
        store = ckpt::open_hf_weights(weights_, p.model);
        what = fmt::format("Hugging Face weights {}", weights_);
      }
    } catch (const Error& e) {
      error = fmt::format("rank {}: {}", world.rank(), e.what());
    }
    error = agree_on_error(world, error);
    const ckpt::StateRange all{ckpt::StateKind::param, 0, params.values()};
    if (error.empty()) error = ckpt::load_state(world, store, params, std::span(&all, 1)).error;
    if (!error.empty()) {
      if (ctx.is_root()) fmt::print(stderr, "tpbench eval: error: {}\n", error);
      return ctx.is_root() ? 2 : 0;
    }
    params.refresh_compute();
    TransformerActivations acts =
        make_transformer_activations(p.model, params.local(), p.batch, false, {}, loss_chunk_);
    if (ctx.is_root()) {
      fmt::print("eval: {}, at {}; {} batches of {} sequences x {} tokens (held-out steps 2^40 + k)\n  data: {}\n",
                 what, p.dims.describe(), batches_, p.batch * p.dims.dp(), p.model.seq, source->describe());
      std::fflush(stdout);
    }
    nlohmann::json losses = nlohmann::json::array();
    double sum = 0;
    for (int k = 0; k < batches_; ++k) {
      get_batch(*source, kEvalFirstStep + k, static_cast<int64_t>(mesh.dp_rank()) * p.batch, acts.tokens, acts.targets);
      transformer_forward_pass(acts, params, mesh.tp());
      double loss = mean_loss(acts.head.ce);
      mesh.dp().all_reduce(&loss, &loss, 1, DType::f64, ReduceOp::avg);
      losses.push_back(loss);
      sum += loss;
      if (ctx.is_root()) fmt::print("batch {:>4}/{}  loss {:.6f}\n", k + 1, batches_, loss);
    }
    if (!ctx.is_root()) return 0;
    const double mean = sum / batches_;
    const int64_t tokens = int64_t{batches_} * p.batch * p.dims.dp() * p.model.seq;
    fmt::print("loss {:.6f}  perplexity {:.4f}  over {} tokens\n", mean, std::exp(mean), tokens);
    std::fflush(stdout);
    if (!json_.empty()) {
      try {
        const nlohmann::json doc = {{"schema", "tpbench.eval/1"}, {"source", what}, {"layout", p.dims.describe()},
                                    {"loss", mean}, {"perplexity", std::exp(mean)}, {"tokens", tokens},
                                    {"losses", losses}};
        write_file_atomic(json_, doc.dump(2) + "\n");
      } catch (const Error& e) {
        fmt::print(stderr, "tpbench eval: error: results not written: {}\n", e.what());
        return 4;
      }
    }
    return 0;
  }

 private:
  struct Plan {
    ModelConfig model;
    ParallelDims dims;
    int64_t batch = 1;
    DataSpec data;
    std::string checkpoint_dir;  // the step directory (latest resolved), "" with --weights
  };

  bool given(const char* flag) const { return sub_->get_option(flag)->count() > 0; }

  // The model, layout, batch and data, from the flags and the checkpoint (UsageError naming the values).
  Plan plan(int world_size) const {
    if (checkpoint_.empty() == weights_.empty()) usage_error("give one of --checkpoint DIR and --weights FILE");
    Plan p;
    p.dims = ParallelDims(world_size, tp_, sp_);
    if (!checkpoint_.empty()) {
      const ckpt::Checkpoint ck = ckpt::open_checkpoint(checkpoint_);
      p.checkpoint_dir = ck.dir;
      const nlohmann::json& r = ck.meta.at("resume");
      const TrainConfig saved = config_from_resume(r);
      p.model = saved.model;
      p.data = saved.data;
      const int64_t global = resume_global_batch(r);
      if (!batch_ && global % p.dims.dp() != 0)
        usage_error("the checkpoint's global batch {} does not split over dp {}; give --batch", global, p.dims.dp());
      p.batch = batch_.value_or(global / p.dims.dp());
      const ModelParams shapes(p.model, ParallelDims(1, 1), 0, /*materialize=*/false);
      ckpt::check_model_matches(ck, shapes);
    } else {
      const std::string config = ckpt::hf_config_beside(weights_);
      if (config.empty()) usage_error("--weights {}: no config.json beside it to say the model", weights_);
      p.model = ckpt::model_from_hf_config_file(config);
      ckpt::open_hf_weights(weights_, p.model);
      p.batch = batch_.value_or(1);
      if (!given("--data")) usage_error("--weights needs --data (and --data-path): HF weights carry no data");
    }
    if (given("--data")) p.data.kind = data_.kind;
    if (given("--data-path")) p.data.path = data_.path;
    if (given("--data-dtype")) p.data.token_dtype = data_.token_dtype;
    if (given("--data-seed")) p.data.seed = data_.seed;
    local_sizes(p.model, p.dims.tp(), p.dims.sp());
    return p;
  }

  CLI::App* sub_ = nullptr;
  std::string checkpoint_, weights_, json_;
  int batches_ = 8;
  std::optional<int64_t> batch_;
  int tp_ = 1;
  bool sp_ = false;
  int64_t loss_chunk_ = 0;
  DataSpec data_;
};

}  // namespace

std::unique_ptr<Command> make_eval_command() { return std::make_unique<EvalCommand>(); }

}  // namespace tpb
