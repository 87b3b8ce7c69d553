// `tpbench export DIR --format safetensors --out DIR2`: a checkpoint's weights in Hugging
// Face's Llama layout (checkpoint/hf_llama.h), loadable by transformers' LlamaForCausalLM.
#include <fmt/format.h>

#include "base/error.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/hf_llama.h"
#include "cli/command.h"
#include "cli/flag_ranges.h"
#include "train/checkpointing.h"

namespace tpb {

namespace {

class ExportCommand final : public Command {
 public:
  std::string name() const override { return "export"; }
  std::string description() const override {
    return "Write a checkpoint's weights as Hugging Face Llama safetensors (model.safetensors + config.json)";
  }
  void add_flags(CLI::App& sub) override {
    path_flag(sub.add_option("checkpoint", dir_, "a checkpoint: a step directory, or a --save-dir (its latest)")
                  ->required());
    sub.add_option("--format", format_, "output format: safetensors (Hugging Face)")
        ->check(CLI::IsMember({"safetensors"}))
        ->capture_default_str();
    path_flag(sub.add_option("--out", out_, "output directory (created; must not hold model.safetensors or config.json)")
                  ->required());
  }
  bool uses_mpi() const override { return false; }
  void validate(int /*world_size*/) const override { ckpt::open_checkpoint(dir_); }

  int run(RunContext&) override { return run_local(); }
  int run_local() override {
    try {
      const ckpt::Checkpoint ck = ckpt::open_checkpoint(dir_);
      const ModelConfig model = config_from_resume(ck.meta.at("resume")).model;
      const ModelParams shapes(model, ParallelDims(1, 1), 0, /*materialize=*/false);
      ckpt::check_model_matches(ck, shapes);
      const ckpt::ExportResult r = ckpt::export_hf(ck.store, model, out_);
      fmt::print("exported {} (step {}): {} tensors, {:.1f} MiB fp32 -> {}, {}\n", ck.dir, ck.step, r.tensors,
                 static_cast<double>(r.bytes) / double(1 << 20), r.weights, r.config);
      return 0;
    } catch (const Error& e) {  // a corrupted or inconsistent checkpoint is bad input
      fmt::print(stderr, "tpbench export: error: {}\n", e.what());
      return 2;
    }
  }

 private:
  std::string dir_, out_;
  std::string format_ = "safetensors";
};

}  // namespace

std::unique_ptr<Command> make_export_command() { return std::make_unique<ExportCommand>(); }

}  // namespace tpb
