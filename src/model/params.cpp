#include "model/params.h"

#include <cmath>
#include <cstring>
#include <random>

#include "base/error.h"
#include "kernels/ops.h"

namespace tpb {

namespace {

uint64_t hash_name(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ull ^ (seed * 0x9E3779B97F4A7C15ull);
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
  return h;
}

}  // namespace

Shape Param::local_shape() const {
  if (kind == ShardKind::replicated) return Shape{full_cols};
  return kind == ShardKind::rows ? Shape{shard.size, full_cols} : Shape{full_rows, shard.size};
}

int64_t Param::value_numel() const { return local_shape().numel(); }

void ModelParams::add(const std::string& name, int64_t rows, int64_t cols, ShardKind kind, int unit,
                      int64_t local) {
  Param p;
  p.name = name;
  p.full_rows = rows;
  p.full_cols = cols;
  p.kind = kind;
  p.unit = unit;
  if (kind == ShardKind::replicated) {
    p.shard = {0, rows * cols};
  } else {
    // The split dimension holds tp equal parts of `local` (LocalSizes): rank r keeps part r.
    const int64_t split = kind == ShardKind::rows ? rows : cols;
    TPB_CHECK(local * dims_.tp() == split, "{}: {} local of {} over tp {}", name, local, split, dims_.tp());
    p.shard = {tp_rank_ * local, local};
  }
  params_.push_back(std::move(p));
}

ModelParams::ModelParams(const ModelConfig& c, const ParallelDims& dims, int tp_rank, bool materialize,
                         Placement placement)
    : config_(c), dims_(dims), local_(local_sizes(c, dims.tp(), dims.sp())), tp_rank_(tp_rank), placement_(placement) {
  TPB_CHECK(tp_rank >= 0 && tp_rank < dims.tp(), "tp rank {} outside {}", tp_rank, dims.describe());
  const int dp = dims.dp();  // every unit is padded to a multiple of it
  const int64_t hd = c.head_dim();
  const LocalSizes& l = local_;
  add("tok_embeddings", c.vocab, c.dim, ShardKind::rows, 0, l.vocab);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    const int u = static_cast<int>(i) + 1;
    add(p + "attention_norm.weight", 1, c.dim, ShardKind::replicated, u);
    add(p + "attention.wq", c.n_heads * hd, c.dim, ShardKind::rows, u, l.q_features());
    add(p + "attention.wk", c.n_kv_heads * hd, c.dim, ShardKind::rows, u, l.kv_features());
    add(p + "attention.wv", c.n_kv_heads * hd, c.dim, ShardKind::rows, u, l.kv_features());
    add(p + "attention.wo", c.dim, c.n_heads * hd, ShardKind::cols, u, l.q_features());
    add(p + "ffn_norm.weight", 1, c.dim, ShardKind::replicated, u);
    add(p + "feed_forward.w1", c.ffn_hidden, c.dim, ShardKind::rows, u, l.ffn_hidden);
    add(p + "feed_forward.w2", c.dim, c.ffn_hidden, ShardKind::cols, u, l.ffn_hidden);
    add(p + "feed_forward.w3", c.ffn_hidden, c.dim, ShardKind::rows, u, l.ffn_hidden);
  }
  const int head = static_cast<int>(c.n_layers) + 1;
  add("norm.weight", 1, c.dim, ShardKind::replicated, head);
  add("output", c.vocab, c.dim, ShardKind::rows, head, l.vocab);

  // Flat layout: units in order, each padded to a multiple of the dp size.
  units_.assign(static_cast<size_t>(num_units()), UnitRange{});
  int64_t offset = 0;
  int current = -1;
  for (Param& p : params_) {
    if (p.unit != current) {
      if (current >= 0) {
        UnitRange& prev = units_[static_cast<size_t>(current)];
        prev.padded = (prev.size + dp - 1) / dp * dp;
        offset = prev.begin + prev.padded;
      }
      current = p.unit;
      units_[static_cast<size_t>(current)].begin = offset;
    }
    p.flat_offset = offset;
    const int64_t n = p.value_numel();
    offset += n;
    units_[static_cast<size_t>(current)].size += n;
  }
  UnitRange& last = units_.back();
  last.padded = (last.size + dp - 1) / dp * dp;
  flat_size_ = last.begin + last.padded;
  TPB_CHECK(!placement_.mixed() || materialize,
            "mixed precision ({}) needs materialized parameters (not --dp-shard full)",
            dtype_name(placement_.compute));
  if (!materialize) return;
  TrackingAllocator& alloc = default_allocator(placement_.device);
  values_ = Tensor::zeros({flat_size_}, MemCategory::parameters, DType::f32, alloc);
  grads_ = Tensor::zeros({flat_size_}, MemCategory::gradients, DType::f32, alloc);
  if (placement_.mixed())
    compute_ = Tensor::zeros({flat_size_}, MemCategory::parameters, placement_.compute, alloc);
  for (int u = 0; u < num_units(); ++u) {
    const UnitRange& r = units_[static_cast<size_t>(u)];
    bind_unit(u, values_.narrow0(r.begin, r.padded), grads_.narrow0(r.begin, r.padded));
  }
}

void ModelParams::refresh_compute() {
  if (placement_.mixed()) ops::cast(compute_, values_);
}

void ModelParams::bind_unit(int u, const Tensor& values, const Tensor& grads) {
  const UnitRange& r = units_.at(static_cast<size_t>(u));
  TPB_CHECK(values.numel() == r.padded && (!grads.defined() || grads.numel() == r.padded),
            "bind_unit {}: buffers of {} and {} elements for a unit of {}", u, values.numel(),
            grads.defined() ? grads.numel() : 0, r.padded);
  for (Param& p : params_) {
    if (p.unit != u) continue;
    const Shape shape = p.local_shape();
    const int64_t at = p.flat_offset - r.begin;
    p.value = values.narrow0(at, shape.numel()).view(shape);
    p.grad = grads.defined() ? grads.narrow0(at, shape.numel()).view(shape) : Tensor{};
    // The bf16 copy shares the flat layout (materialized mode: values is a view of values_).
    p.compute = placement_.mixed() ? compute_.narrow0(p.flat_offset, shape.numel()).view(shape) : p.value;
  }
}

void ModelParams::unbind_unit(int u) {
  for (Param& p : params_)
    if (p.unit == u) {
      p.value = Tensor{};
      p.grad = Tensor{};
      p.compute = Tensor{};
    }
}

ModelParams::Layer ModelParams::layer(int64_t l) {
  TPB_CHECK(l >= 0 && l < config_.n_layers, "layer {} of {}", l, config_.n_layers);
  Param* b = &params_[1 + static_cast<size_t>(l) * 9];
  return {b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8};
}

std::vector<float> ModelParams::full_init(size_t i, uint64_t seed) const {
  const Param& p = params_.at(i);
  std::vector<float> full(static_cast<size_t>(p.full_rows * p.full_cols));
  if (p.kind == ShardKind::replicated) {  // norm weights
    std::fill(full.begin(), full.end(), 1.0f);
    return full;
  }
  std::mt19937_64 gen(hash_name(seed, p.name));
  double std = 0.02;
  bool truncated = false;
  if (p.name == "tok_embeddings") {
    std = 1.0;
  } else if (p.name == "output") {
    std = 1.0 / std::sqrt(static_cast<double>(config_.dim));
    truncated = true;
  } else if (p.name.ends_with(".wo") || p.name.ends_with(".w2") || p.name.ends_with(".w3")) {
    const int64_t l = p.unit - 1;
    std = 0.02 / std::sqrt(2.0 * static_cast<double>(l + 1));
  }
  std::normal_distribution<double> normal(0.0, std);
  for (float& v : full) {
    double x = normal(gen);
    while (truncated && std::abs(x) > 3.0 * std) x = normal(gen);
    v = static_cast<float>(x);
  }
  return full;
}

void ModelParams::set_from_full(const std::vector<std::vector<float>>& full) {
  TPB_CHECK(full.size() == params_.size(), "set_from_full: {} tensors for {} parameters", full.size(),
            params_.size());
  for (size_t i = 0; i < params_.size(); ++i) load_full(i, full[i]);
  if (materialized()) refresh_compute();
}

void ModelParams::load_full(size_t i, const std::vector<float>& f) {
  Param& p = params_.at(i);
  TPB_CHECK(static_cast<int64_t>(f.size()) == p.full_rows * p.full_cols,
            "load_full: {} has {} values, needs {}", p.name, f.size(), p.full_rows * p.full_cols);
  // The slice is assembled on the host, then copied to wherever the parameters live (its
  // own allocator: a transient of initialisation, not the rank's memory).
  TrackingAllocator scratch;
  Tensor host = Tensor::empty(p.local_shape(), MemCategory::other, DType::f32, scratch);
  float* dst = host.f32();
  if (p.kind == ShardKind::rows) {
    std::memcpy(dst, f.data() + p.shard.offset * p.full_cols,
                static_cast<size_t>(p.shard.size * p.full_cols) * sizeof(float));
  } else if (p.kind == ShardKind::cols) {
    for (int64_t r = 0; r < p.full_rows; ++r)
      std::memcpy(dst + r * p.shard.size, f.data() + r * p.full_cols + p.shard.offset,
                  static_cast<size_t>(p.shard.size) * sizeof(float));
  } else {
    std::memcpy(dst, f.data(), f.size() * sizeof(float));
  }
  p.value.copy_from(host);
}

void ModelParams::init_from_seed(uint64_t seed) {
  // One full tensor at a time: the transient memory is the largest tensor, not the model.
  for (size_t i = 0; i < params_.size(); ++i) load_full(i, full_init(i, seed));
  if (materialized()) refresh_compute();
}

}  // namespace tpb
