#include "checkpoint/hf_llama.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "report/atomic_file.h"

#include "base/error.h"
#include "checkpoint/safetensors.h"
#include "model/params.h"

namespace tpb::ckpt {

namespace {

const std::pair<const char*, const char*> kLayerNames[] = {
    {"attention_norm.weight", "input_layernorm.weight"},
    {"attention.wq", "self_attn.q_proj.weight"},
    {"attention.wk", "self_attn.k_proj.weight"},
    {"attention.wv", "self_attn.v_proj.weight"},
    {"attention.wo", "self_attn.o_proj.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"feed_forward.w1", "mlp.gate_proj.weight"},
    {"feed_forward.w2", "mlp.down_proj.weight"},
    {"feed_forward.w3", "mlp.up_proj.weight"},
};

// A float as the short decimal that reads back as it (1e-05, not 9.99999974737875e-06).
double short_decimal(float v) { return std::stod(fmt::format("{}", v)); }

}  // namespace

std::string hf_name(const std::string& n) {
  if (n == "tok_embeddings") return "model.embed_tokens.weight";
  if (n == "norm.weight") return "model.norm.weight";
  if (n == "output") return "lm_head.weight";
  if (n.starts_with("layers.")) {
    const size_t dot = n.find('.', 7);
    if (dot != std::string::npos) {
      const std::string rest = n.substr(dot + 1);
      for (const auto& [ours, theirs] : kLayerNames)
        if (rest == ours) return "model." + n.substr(0, dot + 1) + theirs;
    }
  }
  throw Error(fmt::format("no Hugging Face name for parameter {}", n));
}

std::vector<int64_t> hf_row_of(int64_t heads, int64_t hd) {
  std::vector<int64_t> map(static_cast<size_t>(heads * hd));
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < hd / 2; ++i)
      for (int64_t j = 0; j < 2; ++j) map[static_cast<size_t>(h * hd + 2 * i + j)] = h * hd + j * (hd / 2) + i;
  return map;
}

int64_t permuted_heads(const std::string& n, const ModelConfig& c) {
  if (n.ends_with(".attention.wq")) return c.n_heads;
  if (n.ends_with(".attention.wk")) return c.n_kv_heads;
  return 0;
}

nlohmann::json hf_config(const ModelConfig& c) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"vocab_size", c.vocab},
          {"hidden_size", c.dim},
          {"intermediate_size", c.ffn_hidden},
          {"num_hidden_layers", c.n_layers},
          {"num_attention_heads", c.n_heads},
          {"num_key_value_heads", c.n_kv_heads},
          {"max_position_embeddings", c.seq},
          {"rms_norm_eps", short_decimal(c.norm_eps)},
          {"rope_theta", short_decimal(c.rope_theta)},
          {"rope_scaling", nullptr},
          {"hidden_act", "silu"},
          {"tie_word_embeddings", false},
          {"attention_bias", false},
          {"mlp_bias", false},
          {"torch_dtype", "float32"}};
}

ModelConfig model_from_hf_config(const nlohmann::json& j, const std::string& path) {
  const auto refuse = [&](const std::string& why) {
    throw UsageError(fmt::format("{}: {} (this model is a Llama without biases, with untied embeddings, SiLU and "
                                 "plain RoPE)", path, why));
  };
  try {
    if (j.value("model_type", "llama") != "llama") refuse("model_type " + j.value("model_type", ""));
    if (j.value("tie_word_embeddings", false)) refuse("tie_word_embeddings is true");
    if (j.value("attention_bias", false) || j.value("mlp_bias", false)) refuse("biases");
    if (j.value("hidden_act", "silu") != "silu") refuse("hidden_act " + j.value("hidden_act", ""));
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) refuse("rope_scaling is set");
    ModelConfig c;
    c.vocab = j.at("vocab_size").get<int64_t>();
    c.dim = j.at("hidden_size").get<int64_t>();
    c.ffn_hidden = j.at("intermediate_size").get<int64_t>();
    c.n_layers = j.at("num_hidden_layers").get<int64_t>();
    c.n_heads = j.at("num_attention_heads").get<int64_t>();
    c.n_kv_heads = j.value("num_key_value_heads", c.n_heads);
    c.seq = j.value("max_position_embeddings", c.seq);
    c.norm_eps = j.value("rms_norm_eps", 1e-6f);
    c.rope_theta = j.value("rope_theta", 10000.0f);
    if (j.contains("head_dim") && !j["head_dim"].is_null() && j["head_dim"].get<int64_t>() != c.dim / c.n_heads)
      refuse(fmt::format("head_dim {} is not hidden_size / num_attention_heads", j["head_dim"].get<int64_t>()));
    return c;
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("{}: not a Llama config.json: {}", path, e.what()));
  }
}

std::string hf_config_beside(const std::string& weights) {
  const std::string p = (std::filesystem::path(weights).parent_path() / "config.json").string();
  return std::filesystem::exists(p) ? p : "";
}

ModelConfig model_from_hf_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError(fmt::format("cannot read {}", path));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("{} is not JSON: {}", path, e.what()));
  }
  return model_from_hf_config(j, path);
}

TensorStore open_hf_weights(const std::string& path, const ModelConfig& c) {
  TensorStore file = read_safetensors(path);
  TensorStore store;
  store.files = file.files;
  const ModelParams shapes(c, ParallelDims(1, 1), 0, /*materialize=*/false);
  std::set<std::string> used;
  for (const Param& p : shapes.all()) {
    const std::string theirs = hf_name(p.name);
    auto it = file.tensors.find(theirs);
    if (it == file.tensors.end())
      throw UsageError(fmt::format("{} has no tensor {} (this model's {})", path, theirs, p.name));
    StoredTensor t = it->second;
    const int64_t rows = p.kind == ShardKind::replicated ? 1 : p.full_rows;
    if (t.rows != rows || t.cols != p.full_cols)
      throw UsageError(fmt::format("{}: tensor {} is {} x {}, this model's {} is {} x {}", path, theirs, t.rows, t.cols,
                                   p.name, rows, p.full_cols));
    if (const int64_t heads = permuted_heads(p.name, c); heads > 0) t.row_map = hf_row_of(heads, c.head_dim());
    used.insert(theirs);
    store.tensors.emplace(p.name, std::move(t));
  }
  for (const auto& [name, t] : file.tensors)
    if (!used.count(name) && !name.ends_with("rotary_emb.inv_freq"))
      throw UsageError(fmt::format("{} holds tensor {}, which this model does not have", path, name));
  return store;
}

ExportResult export_hf(const TensorStore& checkpoint, const ModelConfig& c, const std::string& out_dir) {
  ExportResult r{out_dir + "/model.safetensors", out_dir + "/config.json", 0, 0};
  for (const std::string& f : {r.weights, r.config})
    if (std::filesystem::exists(f)) throw UsageError(fmt::format("{} exists already (an export never overwrites)", f));
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) throw UsageError(fmt::format("cannot create {}: {}", out_dir, ec.message()));
  const ModelParams shapes(c, ParallelDims(1, 1), 0, /*materialize=*/false);
  std::vector<TensorSpec> specs;
  for (const Param& p : shapes.all())
    specs.push_back({hf_name(p.name), p.kind == ShardKind::replicated ? std::vector<int64_t>{p.full_cols}
                                                                        : std::vector<int64_t>{p.full_rows, p.full_cols}});
  std::vector<float> ours;
  write_safetensors(r.weights, specs, [&](size_t i, std::vector<float>& out) {
    const Param& p = shapes.all()[i];
    const Box whole{0, p.kind == ShardKind::replicated ? 1 : p.full_rows, 0, p.full_cols};
    ours.assign(out.size(), 0.0f);
    const Piece piece{p.name, whole, 0, whole.numel(), ours.data()};
    read_pieces(checkpoint, std::span(&piece, 1));
    const int64_t heads = permuted_heads(p.name, c);
    if (heads == 0) {
      out = ours;
      return;
    }
    const std::vector<int64_t> row = hf_row_of(heads, c.head_dim());
    for (int64_t ro = 0; ro < p.full_rows; ++ro)
      std::copy_n(ours.begin() + ro * p.full_cols, p.full_cols, out.begin() + row[static_cast<size_t>(ro)] * p.full_cols);
  });
  write_file_atomic(r.config, hf_config(c).dump(2) + "\n");
  r.tensors = static_cast<int>(specs.size());
  r.bytes = std::filesystem::file_size(r.weights);
  return r;
}

}  // namespace tpb::ckpt
