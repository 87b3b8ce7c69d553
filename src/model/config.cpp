#include "model/config.h"

#include "base/error.h"

namespace tpb {

Placement parse_placement(const std::string& device, const std::string& dtype) {
  Placement p;
  if (device == "cuda") p.device = Device::cuda;
  else if (device != "cpu") usage_error("--device {} is not one of cpu|cuda", device);
  if (dtype == "bf16") p.compute = DType::bf16;
  else if (dtype != "fp32") usage_error("--dtype {} is not one of fp32|bf16", dtype);
  if (p.mixed() && p.device == Device::cpu)
    usage_error("--dtype bf16 needs --device cuda (the CPU backend computes in fp32)");
  return p;
}

std::vector<std::string> model_preset_names() { return {"small", "ezpz-fsdp-tp", "tiny"}; }

ModelConfig model_preset(const std::string& name) {
  ModelConfig c;
  if (name == "small") return c;  // the defaults above
  if (name == "ezpz-fsdp-tp") {
    // The seed study's model (ezpz FSDP+TP example): 21,991,680 parameters.
    c.dim = 256;
    c.n_layers = 8;
    c.n_heads = 32;
    c.n_kv_heads = 4;
    c.ffn_hidden = 720;
    c.vocab = 32000;
    c.seq = 2048;
    return c;
  }
  if (name == "tiny") {
    c.dim = 32;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 4;
    c.ffn_hidden = 48;
    c.vocab = 64;
    c.seq = 16;
    return c;
  }
  std::string known;
  for (const auto& n : model_preset_names()) known += (known.empty() ? "" : ", ") + n;
  usage_error("unknown --preset '{}' (known: {})", name, known);
}

void validate_model_config(const ModelConfig& c, int tp) {
  const std::pair<const char*, int64_t> sizes[] = {
      {"--dim", c.dim},   {"--layers", c.n_layers}, {"--heads", c.n_heads}, {"--kv-heads", c.n_kv_heads},
      {"--ffn-hidden", c.ffn_hidden}, {"--vocab", c.vocab}, {"--seq", c.seq}};
  for (const auto& [flag, v] : sizes)
    if (v <= 0) usage_error("{} must be > 0, got {}", flag, v);
  if (c.dim % c.n_heads != 0)
    usage_error("--dim {} is not divisible by --heads {}", c.dim, c.n_heads);
  if (c.n_heads % c.n_kv_heads != 0)
    usage_error("--heads {} is not a multiple of --kv-heads {} (grouped-query attention)", c.n_heads,
                c.n_kv_heads);
  if (c.head_dim() % 2 != 0)
    usage_error("head dim {} (--dim {} / --heads {}) must be even for RoPE", c.head_dim(), c.dim, c.n_heads);
  if (!(c.norm_eps > 0)) usage_error("norm eps must be > 0, got {}", c.norm_eps);
  // Tensor parallelism splits whole heads, whole KV heads, the FFN hidden size and the
  // vocabulary; nothing is padded, so the model is the same at every tp.
  if (c.n_heads % tp != 0) usage_error("--tp {} cannot split --heads {} into whole heads", tp, c.n_heads);
  if (c.n_kv_heads % tp != 0)
    usage_error("--tp {} cannot split --kv-heads {} into whole KV heads", tp, c.n_kv_heads);
  if (c.ffn_hidden % tp != 0) usage_error("--tp {} does not divide --ffn-hidden {}", tp, c.ffn_hidden);
  if (c.vocab % tp != 0) usage_error("--tp {} does not divide --vocab {} (the vocabulary is not padded)", tp, c.vocab);
}

LocalSizes local_sizes(const ModelConfig& c, int tp) {
  validate_model_config(c, tp);
  LocalSizes l;
  l.tp = tp;
  l.heads = c.n_heads / tp;
  l.kv_heads = c.n_kv_heads / tp;
  l.head_dim = c.head_dim();
  l.ffn_hidden = c.ffn_hidden / tp;
  l.vocab = c.vocab / tp;
  return l;
}

int64_t matmul_parameter_count(const ModelConfig& c) {
  const int64_t hd = c.head_dim();
  const int64_t attn = c.dim * (c.n_heads * hd) * 2 + c.dim * (c.n_kv_heads * hd) * 2;  // wq, wo, wk, wv
  const int64_t ffn = 3 * c.dim * c.ffn_hidden;
  return c.n_layers * (attn + ffn) + c.vocab * c.dim;  // + output projection
}

int64_t parameter_count(const ModelConfig& c) {
  return matmul_parameter_count(c) + c.vocab * c.dim /* embedding */ +
         c.n_layers * 2 * c.dim /* norms */ + c.dim /* final norm */;
}

double model_flops_per_step(const ModelConfig& c, int64_t tokens) {
  const double per_token_fwd = 2.0 * static_cast<double>(matmul_parameter_count(c)) +
                               4.0 * static_cast<double>(c.seq) * static_cast<double>(c.dim) *
                                   static_cast<double>(c.n_layers);
  return 3.0 * per_token_fwd * static_cast<double>(tokens);
}

}  // namespace tpb
