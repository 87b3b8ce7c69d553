// The Llama-2-style decoder's shape, its presets, and the checks that a tensor-parallel
// size can split it. Weights are stored (out, in) as in PyTorch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "tensor/allocator.h"

namespace tpb {

// Where the model runs, and the element type of its activations and of the compute copy
// of its weights: fp32, or bf16 on the GPU (mixed precision: master weights, gradients and
// optimizer state stay fp32).
struct Placement {
  Device device = Device::cpu;
  DType compute = DType::f32;
  bool mixed() const { return compute != DType::f32; }
};

// From --device cpu|cuda and --dtype fp32|bf16; UsageError naming the value otherwise (and
// for bf16 on the CPU, whose backend is fp32).
Placement parse_placement(const std::string& device, const std::string& dtype);

struct ModelConfig {
  int64_t dim = 256;
  int64_t n_layers = 4;
  int64_t n_heads = 8;
  int64_t n_kv_heads = 4;
  int64_t ffn_hidden = 688;
  int64_t vocab = 4096;
  int64_t seq = 256;
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;

  int64_t head_dim() const { return dim / n_heads; }
};

// "small" (the default: a step of about a second on 2 CPU cores), "ezpz-fsdp-tp" (the seed
// study's model), "tiny" (tests). Throws UsageError for an unknown name, listing the known.
ModelConfig model_preset(const std::string& name);
std::vector<std::string> model_preset_names();

// Shape errors (non-positive sizes, dim not divisible by heads, heads not divisible by kv
// heads, odd head_dim for RoPE) and tensor-parallel errors (heads, kv heads, FFN hidden or
// vocab that tp cannot split): one UsageError naming the values.
void validate_model_config(const ModelConfig& c, int tp);

// This rank's share of the model's dimensions under tensor parallelism: whole heads, whole
// KV heads, and even splits of the FFN hidden size and of the vocabulary (nothing is
// padded, so the model is the same at every tp). Every allocation, kernel call and memory
// formula reads these; nothing else divides by tp.
struct LocalSizes {
  int tp = 1;
  int64_t heads = 0;       // query heads on this rank
  int64_t kv_heads = 0;    // key/value heads on this rank
  int64_t head_dim = 0;    // not split
  int64_t ffn_hidden = 0;  // SwiGLU hidden features on this rank
  int64_t vocab = 0;       // vocabulary rows of the embedding and the output on this rank
  // Sequence parallelism: outside the TP regions (norms, residual stream, embedding output)
  // each rank holds seq_local = seq / tp positions of every sequence; without it (or with
  // tp 1, where --sp changes nothing) seq_local = seq.
  bool sp = false;
  int64_t seq = 0;        // the whole sequence (inside the TP regions)
  int64_t seq_local = 0;  // the residual stream's share

  int64_t q_features() const { return heads * head_dim; }
  int64_t kv_features() const { return kv_heads * head_dim; }
};
// validate_model_config(c, tp), then the split. With `sp` a --seq that tp does not divide
// is a UsageError naming both.
LocalSizes local_sizes(const ModelConfig& c, int tp, bool sp = false);

// Every parameter of the full (unsharded) model (tpb::Error if it overflows int64, which a
// config that passed validate_model_config cannot).
int64_t parameter_count(const ModelConfig& c);
// The same, or nullopt when it overflows int64.
std::optional<int64_t> checked_parameter_count(const ModelConfig& c);
// Parameters that take part in matmuls (all but the embedding table and the norm weights).
int64_t matmul_parameter_count(const ModelConfig& c);

// Model FLOPs per step for `tokens` tokens (docs/metrics.md): forward = 2 * matmul params
// per token + attention 2 * 2 * seq * dim per layer per token (the full square, causal
// savings not counted); backward = 2 x forward; step = 3 x forward.
double model_flops_per_step(const ModelConfig& c, int64_t tokens);

}  // namespace tpb
