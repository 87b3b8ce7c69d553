#include "model/config.h"

#include "base/checked_math.h"
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
  // Every weight is one tensor of at most 2^40 elements (so no size product can wrap), and
  // the whole model's count must fit too.
  if (!fits_tensor({c.vocab, c.dim}))
    usage_error("--vocab {} x --dim {} is more than the {} elements one tensor (the embedding) may have", c.vocab,
                c.dim, kMaxTensorElements);
  if (!fits_tensor({c.dim, c.dim}))
    usage_error("--dim {} x --dim {} is more than the {} elements one tensor (wq) may have", c.dim, c.dim,
                kMaxTensorElements);
  if (!fits_tensor({c.ffn_hidden, c.dim}))
    usage_error("--ffn-hidden {} x --dim {} is more than the {} elements one tensor (w1) may have", c.ffn_hidden,
                c.dim, kMaxTensorElements);
  if (!checked_parameter_count(c))
    usage_error("--layers {} with --dim {}, --ffn-hidden {}, --vocab {}: the parameter count overflows 64 bits",
                c.n_layers, c.dim, c.ffn_hidden, c.vocab);
  // Tensor parallelism splits whole heads, whole KV heads, the FFN hidden size and the
  // vocabulary; nothing is padded, so the model is the same at every tp.
  if (c.n_heads % tp != 0) usage_error("--tp {} cannot split --heads {} into whole heads", tp, c.n_heads);
  if (c.n_kv_heads % tp != 0)
    usage_error("--tp {} cannot split --kv-heads {} into whole KV heads", tp, c.n_kv_heads);
  if (c.ffn_hidden % tp != 0) usage_error("--tp {} does not divide --ffn-hidden {}", tp, c.ffn_hidden);
  if (c.vocab % tp != 0) usage_error("--tp {} does not divide --vocab {} (the vocabulary is not padded)", tp, c.vocab);
}

LocalSizes local_sizes(const ModelConfig& c, int tp, bool sp) {
  validate_model_config(c, tp);
  if (sp && c.seq % tp != 0)
    usage_error("--sp: --seq {} is not divisible by --tp {} (each TP rank holds an equal share of the "
                "sequence outside the tensor-parallel regions)", c.seq, tp);
  LocalSizes l;
  l.sp = sp && tp > 1;  // one rank has nothing to split: the same computation without copies
  l.seq = c.seq;
  l.seq_local = sp ? c.seq / tp : c.seq;
  l.tp = tp;
  l.heads = c.n_heads / tp;
  l.kv_heads = c.n_kv_heads / tp;
  l.head_dim = c.head_dim();
  l.ffn_hidden = c.ffn_hidden / tp;
  l.vocab = c.vocab / tp;
  return l;
}

namespace {

// a * b + c, nullopt when any step overflows (or an input already did).
std::optional<int64_t> mul_add(std::optional<int64_t> a, std::optional<int64_t> b, std::optional<int64_t> c) {
  if (!a || !b || !c) return std::nullopt;
  const std::optional<int64_t> ab = checked_mul(*a, *b);
  return ab ? checked_add(*ab, *c) : std::nullopt;
}

std::optional<int64_t> checked_matmul_parameter_count(const ModelConfig& c) {
  const int64_t hd = c.head_dim();
  // wq, wo: dim x heads*hd each; wk, wv: dim x kv_heads*hd each; w1, w2, w3: dim x ffn each.
  const auto q = checked_product({c.dim, c.n_heads, hd, 2});
  const auto kv = checked_product({c.dim, c.n_kv_heads, hd, 2});
  const auto ffn = checked_product({3, c.dim, c.ffn_hidden});
  if (!q || !kv || !ffn) return std::nullopt;
  const auto attn = checked_add(*q, *kv);
  const auto block = attn ? checked_add(*attn, *ffn) : std::nullopt;
  return mul_add(c.n_layers, block, checked_mul(c.vocab, c.dim));  // + output projection
}

}  // namespace

std::optional<int64_t> checked_parameter_count(const ModelConfig& c) {
  const auto matmul = checked_matmul_parameter_count(c);
  const auto norms = mul_add(c.n_layers, checked_mul(2, c.dim), c.dim);  // 2 a block + the final one
  const auto embedding = checked_mul(c.vocab, c.dim);
  if (!matmul || !norms || !embedding) return std::nullopt;
  const auto sum = checked_add(*matmul, *embedding);
  return sum ? checked_add(*sum, *norms) : std::nullopt;
}

int64_t matmul_parameter_count(const ModelConfig& c) {
  const std::optional<int64_t> n = checked_matmul_parameter_count(c);
  TPB_CHECK(n.has_value(), "the matmul parameter count of dim {} layers {} ffn {} vocab {} overflows int64", c.dim,
            c.n_layers, c.ffn_hidden, c.vocab);
  return *n;
}

int64_t parameter_count(const ModelConfig& c) {
  const std::optional<int64_t> n = checked_parameter_count(c);
  TPB_CHECK(n.has_value(), "the parameter count of dim {} layers {} ffn {} vocab {} overflows int64", c.dim,
            c.n_layers, c.ffn_hidden, c.vocab);
  return *n;
}

double model_flops_per_step(const ModelConfig& c, int64_t tokens) {
  const double per_token_fwd = 2.0 * static_cast<double>(matmul_parameter_count(c)) +
                               4.0 * static_cast<double>(c.seq) * static_cast<double>(c.dim) *
                                   static_cast<double>(c.n_layers);
  return 3.0 * per_token_fwd * static_cast<double>(tokens);
}

}  // namespace tpb
