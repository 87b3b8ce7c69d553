// Writes a tiny model's weights, one batch, its logits, loss and every parameter gradient
// (TP = 1) in the format tests/model/check_against_torch.py reads, so an independent
// PyTorch implementation can be compared with this one.
//
//   dump_model OUT_DIR
#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "comm/mpi/mpi_communicator.h"
#include "kernels/ops.h"
#include "model/transformer.h"
#include "report/atomic_file.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: dump_model OUT_DIR\n");
    return 2;
  }
  tpb::MpiRuntime mpi(&argc, &argv);
  auto world = tpb::MpiCommunicator::world();
  const std::string dir = argv[1];
  tpb::ModelConfig c;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;  // grouped-query attention
  c.ffn_hidden = 40;
  c.vocab = 48;
  c.seq = 12;
  const int64_t batch = 2;
  tpb::ModelParams p(c);
  p.init_from_seed(11);
  tpb::TransformerActivations a = tpb::make_transformer_activations(c, p.local(), batch);
  for (int64_t i = 0; i < batch * c.seq; ++i) {
    a.tokens.i32()[i] = static_cast<int32_t>((i * 7 + 3) % c.vocab);
    a.targets.i32()[i] = static_cast<int32_t>((i * 5 + 1) % c.vocab);
  }
  const double loss = tpb::transformer_forward(a, p, *world);
  p.zero_grads();
  tpb::transformer_backward(a, p, *world);

  nlohmann::json tensors = nlohmann::json::array();
  int64_t offset = 0;
  for (const tpb::Param& q : p.all()) {
    std::vector<int64_t> shape;
    for (int d = 0; d < q.value.ndim(); ++d) shape.push_back(q.value.dim(d));
    tensors.push_back({{"name", q.name}, {"shape", shape}, {"offset", offset}});
    offset += q.value.numel();
  }
  std::vector<int32_t> tok(a.tokens.i32(), a.tokens.i32() + a.tokens.numel());
  std::vector<int32_t> tgt(a.targets.i32(), a.targets.i32() + a.targets.numel());
  const nlohmann::json model = {
      {"config", {{"dim", c.dim}, {"n_layers", c.n_layers}, {"n_heads", c.n_heads}, {"n_kv_heads", c.n_kv_heads},
                  {"ffn_hidden", c.ffn_hidden}, {"vocab", c.vocab}, {"seq", c.seq}, {"batch", batch},
                  {"norm_eps", c.norm_eps}, {"rope_theta", c.rope_theta}}},
      {"tensors", tensors},
      {"tokens", tok},
      {"targets", tgt},
      {"loss", loss}};
  auto bytes = [](const tpb::Tensor& t) { return std::string(static_cast<const char*>(t.raw()), t.nbytes()); };
  tpb::write_file_atomic(dir + "/model.json", model.dump(1));
  tpb::write_file_atomic(dir + "/weights.bin", bytes(p.values()));
  tpb::write_file_atomic(dir + "/grads.bin", bytes(p.grads()));
  // The loss head never holds the whole batch's logits (model/loss_head.h): the dump's are
  // xf W_out^T, computed here from the final norm's output the forward kept.
  tpb::Tensor logits = tpb::Tensor::empty({a.xf.shape().rows(), c.vocab}, tpb::MemCategory::other);
  tpb::ops::matmul(logits, a.xf.view({a.xf.shape().rows(), c.dim}), p.output().value, false, true);
  tpb::write_file_atomic(dir + "/logits.bin", bytes(logits));
  fmt::print("dump_model: {} tensors, loss {:.6f}, written to {}\n", p.all().size(), loss, dir);
  return 0;
}
