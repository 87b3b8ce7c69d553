#include "train/checkpointing.h"

#include <fmt/format.h>

#include "base/error.h"
#include "checkpoint/hf_llama.h"
#include "comm/strings.h"

namespace tpb {

namespace {

double mib(double bytes) { return bytes / double(1 << 20); }

}  // namespace

nlohmann::json resume_json(const TrainConfig& c, const ParallelDims& dims) {
  const ModelConfig& m = c.model;
  const OptimizerConfig& o = c.opt;
  return {{"preset", c.preset},
          {"model",
           {{"dim", m.dim}, {"n_layers", m.n_layers}, {"n_heads", m.n_heads}, {"n_kv_heads", m.n_kv_heads},
            {"ffn_hidden", m.ffn_hidden}, {"vocab", m.vocab}, {"seq", m.seq}, {"norm_eps", m.norm_eps},
            {"rope_theta", m.rope_theta}}},
          {"batch", c.batch},
          {"global_batch", c.batch * dims.dp()},
          {"iters", c.iters},
          {"warmup_iters", c.warmup_iters},
          {"seed", c.seed},
          {"opt",
           {{"lr", o.lr}, {"min_lr_ratio", o.min_lr_ratio}, {"lr_warmup", o.lr_warmup}, {"weight_decay", o.weight_decay},
            {"beta1", o.beta1}, {"beta2", o.beta2}, {"eps", o.eps}, {"grad_clip", o.grad_clip}}},
          {"data", {{"kind", c.data.kind}, {"path", c.data.path}, {"token_dtype", c.data.token_dtype},
                    {"seed", c.data.seed}}},
          {"saved_layout",
           {{"tp", dims.tp()}, {"dp", dims.dp()}, {"sp", dims.sp()}, {"dp_shard", dp_shard_name(c.dp_shard)}}}};
}

TrainConfig config_from_resume(const nlohmann::json& r) {
  TrainConfig c;
  try {
    c.preset = r.at("preset").get<std::string>();
    const nlohmann::json& m = r.at("model");
    c.model.dim = m.at("dim").get<int64_t>();
    c.model.n_layers = m.at("n_layers").get<int64_t>();
    c.model.n_heads = m.at("n_heads").get<int64_t>();
    c.model.n_kv_heads = m.at("n_kv_heads").get<int64_t>();
    c.model.ffn_hidden = m.at("ffn_hidden").get<int64_t>();
    c.model.vocab = m.at("vocab").get<int64_t>();
    c.model.seq = m.at("seq").get<int64_t>();
    c.model.norm_eps = m.at("norm_eps").get<float>();
    c.model.rope_theta = m.at("rope_theta").get<float>();
    c.batch = r.at("batch").get<int64_t>();
    c.iters = r.at("iters").get<int>();
    c.warmup_iters = r.at("warmup_iters").get<int>();
    c.seed = r.at("seed").get<uint64_t>();
    const nlohmann::json& o = r.at("opt");
    c.opt.lr = o.at("lr").get<float>();
    c.opt.min_lr_ratio = o.at("min_lr_ratio").get<float>();
    c.opt.lr_warmup = o.at("lr_warmup").get<int64_t>();
    c.opt.weight_decay = o.at("weight_decay").get<float>();
    c.opt.beta1 = o.at("beta1").get<float>();
    c.opt.beta2 = o.at("beta2").get<float>();
    c.opt.eps = o.at("eps").get<float>();
    c.opt.grad_clip = o.at("grad_clip").get<float>();
    const nlohmann::json& d = r.at("data");
    c.data.kind = d.at("kind").get<std::string>();
    c.data.path = d.at("path").get<std::string>();
    c.data.token_dtype = d.at("token_dtype").get<std::string>();
    c.data.seed = d.at("seed").get<uint64_t>();
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("the checkpoint's resume settings are malformed: {}", e.what()));
  }
  return c;
}

int64_t resume_global_batch(const nlohmann::json& r) {
  try {
    return r.at("global_batch").get<int64_t>();
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("the checkpoint's resume settings are malformed: {}", e.what()));
  }
}

InitialState load_initial_state(const TrainConfig& c, const ParallelDims& dims, DataParallel& dp, ModelParams& p,
                                Communicator& world) {
  InitialState s;
  if (c.resume_from.empty() && c.init_from.empty()) {
    dp.init_params(c.seed);
    return s;
  }
  ckpt::TensorStore store;
  std::vector<ckpt::StateRange> held = dp.state_ranges(/*owned=*/false);
  std::string what;
  // Rank 0's step directory for every rank: each resolved `latest` on its own, and a save
  // committed in between would split them. Opening was checked before any rank started
  // (cli validate); a file changed since fails here, and the ranks agree on it.
  const std::string resume_dir = broadcast_string(world, c.resume_from);
  try {
    if (!resume_dir.empty()) {
      ckpt::Checkpoint ck = ckpt::open_checkpoint(resume_dir);
      ckpt::check_model_matches(ck, p);
      store = std::move(ck.store);
      s.first_iter = static_cast<int>(ck.step);
      what = fmt::format("resumed from {} (step {}, saved at {}){}", ck.dir, ck.step,
                         ck.meta.value("/resume/saved_layout"_json_pointer, nlohmann::json{}).dump(),
                         c.save_dir.empty() ? "; no --save-dir: this run writes no checkpoint" : "");
    } else {
      store = ckpt::open_hf_weights(c.init_from, c.model);
      what = fmt::format("weights from {} (Hugging Face Llama; AdamW state starts at zero)", c.init_from);
      std::erase_if(held, [](const ckpt::StateRange& r) { return r.kind != ckpt::StateKind::param; });
    }
  } catch (const Error& e) {
    s.error = fmt::format("rank {}: {}", world.rank(), e.what());
  }
  s.error = agree_on_error(world, s.error);
  if (!s.error.empty()) return s;
  const ckpt::LoadResult r = ckpt::load_state(world, store, p, held);
  if (!r.error.empty()) {
    s.error = r.error;
    return s;
  }
  dp.state_loaded();
  double used = static_cast<double>(r.stats.bytes_used), read = static_cast<double>(r.stats.bytes_read);
  world.all_reduce(&used, &used, 1, DType::f64, ReduceOp::max);
  world.all_reduce(&read, &read, 1, DType::f64, ReduceOp::max);
  s.note = fmt::format("{}: at {} a rank needed {:.1f} MiB and read {:.1f} MiB in {:.3f} s ({:.0f} MiB/s)", what,
                       dims.describe(), mib(used), mib(read), r.seconds, mib(read) / std::max(r.seconds, 1e-9));
  return s;
}

bool save_due(const TrainConfig& c, int it) {
  if (c.save_dir.empty()) return false;
  return it + 1 == c.iters || (c.save_every > 0 && (it + 1) % c.save_every == 0);
}

std::string save_training_state(const TrainConfig& c, const ParallelDims& dims, DataParallel& dp, ModelParams& p,
                                Communicator& world, int64_t steps, const nlohmann::json& run_config) {
  const std::vector<ckpt::StateRange> owned = dp.state_ranges(/*owned=*/true);
  const ckpt::SaveResult r = ckpt::save_checkpoint(world, p, owned, {c.save_dir, steps, resume_json(c, dims), run_config});
  return fmt::format("checkpoint {}: {} files, {:.1f} MiB ({:.1f} MiB a rank) in {:.3f} s ({:.0f} MiB/s a rank)", r.dir,
                     world.size(), mib(static_cast<double>(r.total_bytes)), mib(static_cast<double>(r.rank_bytes)),
                     r.seconds, mib(static_cast<double>(r.rank_bytes)) / std::max(r.seconds, 1e-9));
}

}  // namespace tpb
