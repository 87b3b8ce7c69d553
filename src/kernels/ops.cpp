// Validation happens here, once per call, so the raw kernels can trust their sizes.
// Dispatch: every tensor of a call must be on the same device; the CPU kernels are the only
// backend in this build, so any other device is refused with a clear message.
#include "kernels/ops.h"

#include <initializer_list>

#include "base/error.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/softmax.h"

namespace tpb::ops {

namespace {

struct Arg {
  const char* name;
  const Tensor& tensor;
};

// Each tensor defined, of element type `dtype`, on a device this build has a backend for.
void check_args(const char* op, DType dtype, std::initializer_list<Arg> args) {
  for (const Arg& a : args) {
    const Tensor& t = a.tensor;
    TPB_CHECK(t.defined(), "{}: {} is an undefined tensor", op, a.name);
    TPB_CHECK(t.dtype() == dtype, "{}: {} {} is {}, expected {}", op, a.name, t.shape().str(),
              dtype_name(t.dtype()), dtype_name(dtype));
    TPB_CHECK(t.device() == Device::cpu, "{}: {} {} is on {}, but tpbench was built without CUDA",
              op, a.name, t.shape().str(), device_name(t.device()));
  }
}

// Every tensor has the shape of the first.
void check_same_shape(const char* op, std::initializer_list<Arg> args) {
  const Arg& first = *args.begin();
  for (const Arg& a : args)
    TPB_CHECK(a.tensor.shape() == first.tensor.shape(), "{}: {} {} differs from {} {}", op,
              a.name, a.tensor.shape().str(), first.name, first.tensor.shape().str());
}

// The tensor read as a matrix (rows, last) needs at least one dimension.
void check_matrix(const char* op, const Arg& a) {
  TPB_CHECK(a.tensor.ndim() >= 1, "{}: {} is 0-d, need at least one dimension", op, a.name);
}

void check_numel(const char* op, const Arg& a, int64_t numel, const char* what) {
  TPB_CHECK(a.tensor.numel() == numel, "{}: {} {} has {} elements, expected {} ({})", op, a.name,
            a.tensor.shape().str(), a.tensor.numel(), numel, what);
}

struct AttentionSizes {
  int64_t B, T, NH, NKV, D;
};

AttentionSizes attention_sizes(const char* op, const Tensor& q, const Tensor& k,
                               const Tensor& v, const Tensor& lse) {
  TPB_CHECK(q.ndim() == 4 && k.ndim() == 4, "{}: q {} and k {} must be (B, T, heads, D)", op,
            q.shape().str(), k.shape().str());
  check_same_shape(op, {{"k", k}, {"v", v}});
  const AttentionSizes s{q.dim(0), q.dim(1), q.dim(2), k.dim(2), q.dim(3)};
  TPB_CHECK(k.dim(0) == s.B && k.dim(1) == s.T && k.dim(3) == s.D,
            "{}: k {} does not match q {} in B, T or D", op, k.shape().str(), q.shape().str());
  TPB_CHECK(s.NKV > 0 && s.NH % s.NKV == 0 && s.D > 0,
            "{}: q {} has {} heads, k {} has {}: need a positive multiple, and D > 0", op,
            q.shape().str(), s.NH, k.shape().str(), s.NKV);
  const Shape lse_shape{s.B, s.NH, s.T};
  TPB_CHECK(lse.shape() == lse_shape, "{}: lse {} must be (B, NH, T) = {}", op, lse.shape().str(),
            lse_shape.str());
  return s;
}

void check_rope(const char* op, const Tensor& x, int64_t pos_offset) {
  TPB_CHECK(x.ndim() == 4 && x.dim(3) % 2 == 0, "{}: {} must be (B, T, H, D) with D even", op,
            x.shape().str());
  TPB_CHECK(pos_offset >= 0, "{}: negative pos_offset {}", op, pos_offset);
}

void check_embedding(const char* op, const Tensor& out, const Tensor& tokens,
                     const Tensor& table) {
  TPB_CHECK(table.ndim() == 2, "{}: table {} must be (V_local, C)", op, table.shape().str());
  bool ok = out.ndim() == tokens.ndim() + 1 && out.shape().last() == table.dim(1);
  for (int i = 0; ok && i < tokens.ndim(); ++i) ok = out.dim(i) == tokens.dim(i);
  TPB_CHECK(ok, "{}: out {} must be tokens {} followed by C = {} of table {}", op,
            out.shape().str(), tokens.shape().str(), table.dim(1), table.shape().str());
}

void check_cross_entropy(const char* op, const Tensor& losses, const Tensor& logits,
                         const Tensor& targets) {
  check_matrix(op, {"logits", logits});
  const int64_t rows = logits.shape().rows();
  check_numel(op, {"targets", targets}, rows, "one per row of logits");
  check_numel(op, {"losses", losses}, rows, "one per row of logits");
}

}  // namespace

void matmul(Tensor& out, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b,
            float alpha, bool accumulate) {
  constexpr const char* op = "matmul";
  check_args(op, DType::f32, {{"out", out}, {"a", a}, {"b", b}});
  check_matrix(op, {"a", a});
  check_matrix(op, {"out", out});
  TPB_CHECK(b.ndim() == 2, "{}: b {} must be 2-D", op, b.shape().str());
  const int64_t a_rows = a.shape().rows(), a_cols = a.shape().last();
  const int64_t m = trans_a ? a_cols : a_rows, k = trans_a ? a_rows : a_cols;
  const int64_t kb = trans_b ? b.dim(1) : b.dim(0), n = trans_b ? b.dim(0) : b.dim(1);
  TPB_CHECK(k == kb, "{}: inner sizes differ: op(a) is ({}, {}) from a {}{}, op(b) is ({}, {}) from b {}{}",
            op, m, k, a.shape().str(), trans_a ? "^T" : "", kb, n, b.shape().str(),
            trans_b ? "^T" : "");
  TPB_CHECK(out.shape().rows() == m && out.shape().last() == n,
            "{}: out {} is not ({}, {}) = op(a) {}{} times op(b) {}{}", op, out.shape().str(), m,
            n, a.shape().str(), trans_a ? "^T" : "", b.shape().str(), trans_b ? "^T" : "");
  TPB_CHECK(out.numel() == 0 || (out.raw() != a.raw() && out.raw() != b.raw()),
            "{}: out {} must not alias an operand", op, out.shape().str());
  cpu::matmul(out.f32(), a.f32(), b.f32(), m, n, k, trans_a, trans_b, alpha,
              accumulate ? 1.0f : 0.0f);
}

void bias_add_forward(Tensor& out, const Tensor& bias) {
  constexpr const char* op = "bias_add_forward";
  check_args(op, DType::f32, {{"out", out}, {"bias", bias}});
  check_matrix(op, {"out", out});
  TPB_CHECK(bias.ndim() == 1 && bias.dim(0) == out.shape().last(),
            "{}: bias {} must be (C) for out {}", op, bias.shape().str(), out.shape().str());
  cpu::bias_add_forward(out.f32(), bias.f32(), out.shape().rows(), out.shape().last());
}

void bias_add_backward(Tensor& dbias, const Tensor& dout) {
  constexpr const char* op = "bias_add_backward";
  check_args(op, DType::f32, {{"dbias", dbias}, {"dout", dout}});
  check_matrix(op, {"dout", dout});
  TPB_CHECK(dbias.ndim() == 1 && dbias.dim(0) == dout.shape().last(),
            "{}: dbias {} must be (C) for dout {}", op, dbias.shape().str(), dout.shape().str());
  cpu::bias_add_backward(dbias.f32(), dout.f32(), dout.shape().rows(), dout.shape().last());
}

void silu_forward(Tensor& out, const Tensor& inp) {
  constexpr const char* op = "silu_forward";
  check_args(op, DType::f32, {{"out", out}, {"inp", inp}});
  check_same_shape(op, {{"out", out}, {"inp", inp}});
  cpu::silu_forward(out.f32(), inp.f32(), out.numel());
}

void silu_backward(Tensor& dinp, const Tensor& dout, const Tensor& inp) {
  constexpr const char* op = "silu_backward";
  check_args(op, DType::f32, {{"dinp", dinp}, {"dout", dout}, {"inp", inp}});
  check_same_shape(op, {{"dinp", dinp}, {"dout", dout}, {"inp", inp}});
  cpu::silu_backward(dinp.f32(), dout.f32(), inp.f32(), dinp.numel());
}

void swiglu_forward(Tensor& out, const Tensor& gate, const Tensor& up) {
  constexpr const char* op = "swiglu_forward";
  check_args(op, DType::f32, {{"out", out}, {"gate", gate}, {"up", up}});
  check_same_shape(op, {{"out", out}, {"gate", gate}, {"up", up}});
  cpu::swiglu_forward(out.f32(), gate.f32(), up.f32(), out.numel());
}

void swiglu_backward(Tensor& dgate, Tensor& dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up) {
  constexpr const char* op = "swiglu_backward";
  check_args(op, DType::f32,
             {{"dgate", dgate}, {"dup", dup}, {"dout", dout}, {"gate", gate}, {"up", up}});
  check_same_shape(op,
                   {{"dgate", dgate}, {"dup", dup}, {"dout", dout}, {"gate", gate}, {"up", up}});
  cpu::swiglu_backward(dgate.f32(), dup.f32(), dout.f32(), gate.f32(), up.f32(), dout.numel());
}

void add_forward(Tensor& out, const Tensor& a, const Tensor& b) {
  constexpr const char* op = "add_forward";
  check_args(op, DType::f32, {{"out", out}, {"a", a}, {"b", b}});
  check_same_shape(op, {{"out", out}, {"a", a}, {"b", b}});
  cpu::add_forward(out.f32(), a.f32(), b.f32(), out.numel());
}

void rmsnorm_forward(Tensor& out, Tensor& rstd, const Tensor& inp, const Tensor& weight,
                     float eps) {
  constexpr const char* op = "rmsnorm_forward";
  check_args(op, DType::f32, {{"out", out}, {"rstd", rstd}, {"inp", inp}, {"weight", weight}});
  check_matrix(op, {"inp", inp});
  check_same_shape(op, {{"out", out}, {"inp", inp}});
  const int64_t rows = inp.shape().rows(), c = inp.shape().last();
  TPB_CHECK(weight.ndim() == 1 && weight.dim(0) == c, "{}: weight {} must be (C) for inp {}",
            op, weight.shape().str(), inp.shape().str());
  check_numel(op, {"rstd", rstd}, rows, "one per row of inp");
  cpu::rmsnorm_forward(out.f32(), rstd.f32(), inp.f32(), weight.f32(), rows, c, eps);
}

void rmsnorm_backward(Tensor& dinp, Tensor& dweight, const Tensor& dout, const Tensor& inp,
                      const Tensor& weight, const Tensor& rstd) {
  constexpr const char* op = "rmsnorm_backward";
  check_args(op, DType::f32,
             {{"dinp", dinp}, {"dweight", dweight}, {"dout", dout}, {"inp", inp},
              {"weight", weight}, {"rstd", rstd}});
  check_matrix(op, {"inp", inp});
  check_same_shape(op, {{"dinp", dinp}, {"dout", dout}, {"inp", inp}});
  check_same_shape(op, {{"dweight", dweight}, {"weight", weight}});
  const int64_t rows = inp.shape().rows(), c = inp.shape().last();
  TPB_CHECK(weight.ndim() == 1 && weight.dim(0) == c, "{}: weight {} must be (C) for inp {}",
            op, weight.shape().str(), inp.shape().str());
  check_numel(op, {"rstd", rstd}, rows, "one per row of inp");
  cpu::rmsnorm_backward(dinp.f32(), dweight.f32(), dout.f32(), inp.f32(), weight.f32(),
                        rstd.f32(), rows, c);
}

void softmax_forward(Tensor& out, const Tensor& inp) {
  constexpr const char* op = "softmax_forward";
  check_args(op, DType::f32, {{"out", out}, {"inp", inp}});
  check_matrix(op, {"inp", inp});
  check_same_shape(op, {{"out", out}, {"inp", inp}});
  cpu::softmax_forward(out.f32(), inp.f32(), inp.shape().rows(), inp.shape().last());
}

void softmax_backward(Tensor& dinp, const Tensor& dout, const Tensor& out) {
  constexpr const char* op = "softmax_backward";
  check_args(op, DType::f32, {{"dinp", dinp}, {"dout", dout}, {"out", out}});
  check_matrix(op, {"out", out});
  check_same_shape(op, {{"dinp", dinp}, {"dout", dout}, {"out", out}});
  cpu::softmax_backward(dinp.f32(), dout.f32(), out.f32(), out.shape().rows(),
                        out.shape().last());
}

void rope_forward(Tensor& out, const Tensor& inp, float theta, int64_t pos_offset) {
  constexpr const char* op = "rope_forward";
  check_args(op, DType::f32, {{"out", out}, {"inp", inp}});
  check_same_shape(op, {{"out", out}, {"inp", inp}});
  check_rope(op, inp, pos_offset);
  cpu::rope_forward(out.f32(), inp.f32(), inp.dim(0), inp.dim(1), inp.dim(2), inp.dim(3), theta,
                    pos_offset);
}

void rope_backward(Tensor& dinp, const Tensor& dout, float theta, int64_t pos_offset) {
  constexpr const char* op = "rope_backward";
  check_args(op, DType::f32, {{"dinp", dinp}, {"dout", dout}});
  check_same_shape(op, {{"dinp", dinp}, {"dout", dout}});
  check_rope(op, dout, pos_offset);
  cpu::rope_backward(dinp.f32(), dout.f32(), dout.dim(0), dout.dim(1), dout.dim(2), dout.dim(3),
                     theta, pos_offset);
}

void attention_forward(Tensor& out, Tensor& lse, const Tensor& q, const Tensor& k,
                       const Tensor& v) {
  constexpr const char* op = "attention_forward";
  check_args(op, DType::f32, {{"out", out}, {"lse", lse}, {"q", q}, {"k", k}, {"v", v}});
  const AttentionSizes s = attention_sizes(op, q, k, v, lse);
  check_same_shape(op, {{"out", out}, {"q", q}});
  cpu::attention_forward(out.f32(), lse.f32(), q.f32(), k.f32(), v.f32(), s.B, s.T, s.NH, s.NKV,
                         s.D);
}

void attention_backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                        const Tensor& lse) {
  constexpr const char* op = "attention_backward";
  check_args(op, DType::f32,
             {{"dq", dq}, {"dk", dk}, {"dv", dv}, {"dout", dout}, {"q", q}, {"k", k},
              {"v", v}, {"out", out}, {"lse", lse}});
  const AttentionSizes s = attention_sizes(op, q, k, v, lse);
  check_same_shape(op, {{"q", q}, {"dq", dq}, {"dout", dout}, {"out", out}});
  check_same_shape(op, {{"k", k}, {"dk", dk}, {"dv", dv}});
  cpu::attention_backward(dq.f32(), dk.f32(), dv.f32(), dout.f32(), q.f32(), k.f32(), v.f32(),
                          out.f32(), lse.f32(), s.B, s.T, s.NH, s.NKV, s.D);
}

void embedding_forward(Tensor& out, const Tensor& tokens, const Tensor& table,
                       int64_t vocab_start) {
  constexpr const char* op = "embedding_forward";
  check_args(op, DType::f32, {{"out", out}, {"table", table}});
  check_args(op, DType::i32, {{"tokens", tokens}});
  check_embedding(op, out, tokens, table);
  cpu::embedding_forward(out.f32(), tokens.i32(), table.f32(), tokens.numel(), table.dim(0),
                         table.dim(1), vocab_start);
}

void embedding_backward(Tensor& dtable, const Tensor& dout, const Tensor& tokens,
                        int64_t vocab_start) {
  constexpr const char* op = "embedding_backward";
  check_args(op, DType::f32, {{"dtable", dtable}, {"dout", dout}});
  check_args(op, DType::i32, {{"tokens", tokens}});
  check_embedding(op, dout, tokens, dtable);
  cpu::embedding_backward(dtable.f32(), dout.f32(), tokens.i32(), tokens.numel(), dtable.dim(0),
                          dtable.dim(1), vocab_start);
}

void cross_entropy_forward(Tensor& losses, const Tensor& logits, const Tensor& targets) {
  constexpr const char* op = "cross_entropy_forward";
  check_args(op, DType::f32, {{"losses", losses}, {"logits", logits}});
  check_args(op, DType::i32, {{"targets", targets}});
  check_cross_entropy(op, losses, logits, targets);
  cpu::cross_entropy_forward(losses.f32(), logits.f32(), targets.i32(), logits.shape().rows(),
                             logits.shape().last());
}

void cross_entropy_backward(Tensor& dlogits, const Tensor& dlosses, const Tensor& logits,
                            const Tensor& targets) {
  constexpr const char* op = "cross_entropy_backward";
  check_args(op, DType::f32, {{"dlogits", dlogits}, {"dlosses", dlosses}, {"logits", logits}});
  check_args(op, DType::i32, {{"targets", targets}});
  check_cross_entropy(op, dlosses, logits, targets);
  check_same_shape(op, {{"dlogits", dlogits}, {"logits", logits}});
  cpu::cross_entropy_backward(dlogits.f32(), dlosses.f32(), logits.f32(), targets.i32(),
                              logits.shape().rows(), logits.shape().last());
}

double mse_forward(const Tensor& pred, const Tensor& target) {
  constexpr const char* op = "mse_forward";
  check_args(op, DType::f32, {{"pred", pred}, {"target", target}});
  check_same_shape(op, {{"pred", pred}, {"target", target}});
  return cpu::mse_forward(pred.f32(), target.f32(), pred.numel());
}

void mse_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, float dloss) {
  constexpr const char* op = "mse_backward";
  check_args(op, DType::f32, {{"dpred", dpred}, {"pred", pred}, {"target", target}});
  check_same_shape(op, {{"dpred", dpred}, {"pred", pred}, {"target", target}});
  cpu::mse_backward(dpred.f32(), pred.f32(), target.f32(), pred.numel(), dloss);
}

void sgd_step(Tensor& param, const Tensor& grad, float lr, float weight_decay) {
  constexpr const char* op = "sgd_step";
  check_args(op, DType::f32, {{"param", param}, {"grad", grad}});
  check_numel(op, {"grad", grad}, param.numel(), "as many as param");
  cpu::sgd_step(param.f32(), grad.f32(), param.numel(), lr, weight_decay);
}

void adamw_step(Tensor& param, Tensor& m, Tensor& v, const Tensor& grad,
                const AdamWConfig& config, int64_t step) {
  constexpr const char* op = "adamw_step";
  check_args(op, DType::f32, {{"param", param}, {"m", m}, {"v", v}, {"grad", grad}});
  for (const Arg& a : {Arg{"m", m}, Arg{"v", v}, Arg{"grad", grad}})
    check_numel(op, a, param.numel(), "as many as param");
  cpu::adamw_step(param.f32(), m.f32(), v.f32(), grad.f32(), param.numel(), config, step);
}

}  // namespace tpb::ops
