// Hugging Face's Llama layout (transformers' LlamaForCausalLM) for this model's weights.
//
// Names: tok_embeddings <-> model.embed_tokens.weight, layers.{i}.attention.{wq,wk,wv,wo}
// <-> model.layers.{i}.self_attn.{q,k,v,o}_proj.weight, feed_forward.{w1,w3,w2} <->
// mlp.{gate,up,down}_proj.weight, attention_norm / ffn_norm <-> input_layernorm /
// post_attention_layernorm, norm.weight <-> model.norm.weight, output <-> lm_head.weight.
//
// RoPE: this model rotates the interleaved pairs (x[2i], x[2i+1]) of each head, as Meta's
// Llama does; HF's rotate_half pairs (x[i], x[i + hd/2]). So wq's and wk's rows are
// permuted within each head: this model's row 2i + j of a head is HF's row j * hd/2 + i
// (the permutation of HF's convert_llama_weights_to_hf.py).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "checkpoint/tensor_store.h"
#include "model/config.h"

namespace tpb::ckpt {

// HF's name of a tpbench parameter (tpb::Error for an unknown name).
std::string hf_name(const std::string& tpbench_name);
// HF's row of each of this model's rows of a (heads * head_dim) x dim projection.
std::vector<int64_t> hf_row_of(int64_t heads, int64_t head_dim);
// Whether the parameter's rows are permuted (wq: n_heads, wk: n_kv_heads; 0 for no).
int64_t permuted_heads(const std::string& tpbench_name, const ModelConfig& c);

// config.json for LlamaForCausalLM.
nlohmann::json hf_config(const ModelConfig& c);
// The model HF's config.json describes (UsageError naming the key when it is not a Llama
// this model can be: biases, tied embeddings, another activation or RoPE scaling).
ModelConfig model_from_hf_config(const nlohmann::json& j, const std::string& path);
// The config.json beside a .safetensors file ("" when there is none).
std::string hf_config_beside(const std::string& weights);
// The model of that config.json (UsageError naming it when unreadable or not a Llama).
ModelConfig model_from_hf_config_file(const std::string& config_path);

// A safetensors file of HF Llama weights, keyed by tpbench's names (with the q / k row
// maps), checked against the model: every parameter present with its shape, nothing else
// but HF's rotary buffers. UsageError naming the file and the tensor otherwise.
TensorStore open_hf_weights(const std::string& path, const ModelConfig& c);

struct ExportResult {
  std::string weights, config;  // OUT/model.safetensors, OUT/config.json
  int tensors = 0;
  uint64_t bytes = 0;
};
// The parameters of a checkpoint of model c (any layout; one full tensor in memory at a
// time, checksums verified) as OUT/model.safetensors in HF's names and row order, and
// OUT/config.json. Refuses (UsageError) when OUT holds either file already.
ExportResult export_hf(const TensorStore& checkpoint, const ModelConfig& c, const std::string& out_dir);

}  // namespace tpb::ckpt
