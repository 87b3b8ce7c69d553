// Validation happens here, once per call, so the raw kernels can trust their sizes.
// Dispatch: every tensor of a call must be on one device; CPU tensors go to the kernels of
// kernels/cpu, GPU tensors to the launchers of kernels/cuda (fp32 or bf16 activations).
#include "kernels/ops.h"

#include <initializer_list>

#include "base/error.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cpu/layout.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cpu/vocab_ce.h"
#include "kernels/cuda/cuda_kernels.h"

namespace tpb::ops {

namespace {

struct Arg {
  const char* name;
  const Tensor& tensor;
};

constexpr Device kCuda = Device::cuda;

// Every tensor defined and on the device of the first; returns that device.
Device device_of(const char* op, std::initializer_list<Arg> args) {
  for (const Arg& a : args)
    TPB_CHECK(a.tensor.defined(), "{}: {} is an undefined tensor", op, a.name);
  const Arg& first = *args.begin();
  const Device d = first.tensor.device();
  for (const Arg& a : args)
    TPB_CHECK(a.tensor.device() == d, "{}: {} {} is on {} but {} {} is on {}", op, a.name,
              a.tensor.shape().str(), device_name(a.tensor.device()), first.name,
              first.tensor.shape().str(), device_name(d));
  return d;
}

// Each tensor of element type `dtype`.
void check_dtype(const char* op, DType dtype, std::initializer_list<Arg> args) {
  for (const Arg& a : args)
    TPB_CHECK(a.tensor.dtype() == dtype, "{}: {} {} is {}, expected {}", op, a.name,
              a.tensor.shape().str(), dtype_name(a.tensor.dtype()), dtype_name(dtype));
}

// Activation tensors: all of one element type, fp32 anywhere or bf16 on the GPU (the CPU
// backend is fp32). Returns the type.
DType act_type(const char* op, Device d, std::initializer_list<Arg> args) {
  const DType t = args.begin()->tensor.dtype();
  TPB_CHECK(t == DType::f32 || (t == DType::bf16 && d == kCuda),
            "{}: {} {} is {} on {}: activations are fp32, or bf16 on cuda", op,
            args.begin()->name, args.begin()->tensor.shape().str(), dtype_name(t), device_name(d));
  check_dtype(op, t, args);
  return t;
}

// Device and element types of a call whose tensors are all fp32 (optimizer, losses).
Device fp32_call(const char* op, std::initializer_list<Arg> args) {
  const Device d = device_of(op, args);
  check_dtype(op, DType::f32, args);
  return d;
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
  const Device d = device_of(op, {{"out", out}, {"a", a}, {"b", b}});
  const DType in_t = act_type(op, d, {{"a", a}, {"b", b}});
  const DType out_t = act_type(op, d, {{"out", out}});
  TPB_CHECK(!(in_t == DType::f32 && out_t == DType::bf16),
            "{}: fp32 operands with a bf16 out {} (cuBLAS has no such GEMM; bf16 out needs bf16 a, b)",
            op, out.shape().str());
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
  const float beta = accumulate ? 1.0f : 0.0f;
  if (d == kCuda)
    return cuda::matmul(out.raw(), out_t, a.raw(), b.raw(), in_t, m, n, k, trans_a, trans_b,
                        alpha, beta);
  cpu::matmul(out.f32(), a.f32(), b.f32(), m, n, k, trans_a, trans_b, alpha, beta);
}

void bias_add_forward(Tensor& out, const Tensor& bias) {
  constexpr const char* op = "bias_add_forward";
  const Device d = device_of(op, {{"out", out}, {"bias", bias}});
  const DType t = act_type(op, d, {{"out", out}, {"bias", bias}});
  check_matrix(op, {"out", out});
  TPB_CHECK(bias.ndim() == 1 && bias.dim(0) == out.shape().last(),
            "{}: bias {} must be (C) for out {}", op, bias.shape().str(), out.shape().str());
  if (d == kCuda)
    return cuda::bias_add_forward(out.raw(), bias.raw(), t, out.shape().rows(), out.shape().last());
  cpu::bias_add_forward(out.f32(), bias.f32(), out.shape().rows(), out.shape().last());
}

void bias_add_backward(Tensor& dbias, const Tensor& dout) {
  constexpr const char* op = "bias_add_backward";
  const Device d = device_of(op, {{"dbias", dbias}, {"dout", dout}});
  const DType t = act_type(op, d, {{"dout", dout}});
  check_dtype(op, DType::f32, {{"dbias", dbias}});
  check_matrix(op, {"dout", dout});
  TPB_CHECK(dbias.ndim() == 1 && dbias.dim(0) == dout.shape().last(),
            "{}: dbias {} must be (C) for dout {}", op, dbias.shape().str(), dout.shape().str());
  if (d == kCuda)
    return cuda::bias_add_backward(dbias.f32(), dout.raw(), t, dout.shape().rows(), dout.shape().last());
  cpu::bias_add_backward(dbias.f32(), dout.f32(), dout.shape().rows(), dout.shape().last());
}

void silu_forward(Tensor& out, const Tensor& inp) {
  constexpr const char* op = "silu_forward";
  const Device d = device_of(op, {{"out", out}, {"inp", inp}});
  const DType t = act_type(op, d, {{"out", out}, {"inp", inp}});
  check_same_shape(op, {{"out", out}, {"inp", inp}});
  if (d == kCuda) return cuda::silu_forward(out.raw(), inp.raw(), t, out.numel());
  cpu::silu_forward(out.f32(), inp.f32(), out.numel());
}

void silu_backward(Tensor& dinp, const Tensor& dout, const Tensor& inp) {
  constexpr const char* op = "silu_backward";
  const Device d = device_of(op, {{"dinp", dinp}, {"dout", dout}, {"inp", inp}});
  const DType t = act_type(op, d, {{"dinp", dinp}, {"dout", dout}, {"inp", inp}});
  check_same_shape(op, {{"dinp", dinp}, {"dout", dout}, {"inp", inp}});
  if (d == kCuda) return cuda::silu_backward(dinp.raw(), dout.raw(), inp.raw(), t, dinp.numel());
  cpu::silu_backward(dinp.f32(), dout.f32(), inp.f32(), dinp.numel());
}

void swiglu_forward(Tensor& out, const Tensor& gate, const Tensor& up) {
  constexpr const char* op = "swiglu_forward";
  const Device d = device_of(op, {{"out", out}, {"gate", gate}, {"up", up}});
  const DType t = act_type(op, d, {{"out", out}, {"gate", gate}, {"up", up}});
  check_same_shape(op, {{"out", out}, {"gate", gate}, {"up", up}});
  if (d == kCuda) return cuda::swiglu_forward(out.raw(), gate.raw(), up.raw(), t, out.numel());
  cpu::swiglu_forward(out.f32(), gate.f32(), up.f32(), out.numel());
}

void swiglu_backward(Tensor& dgate, Tensor& dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up) {
  constexpr const char* op = "swiglu_backward";
  const auto args = {Arg{"dgate", dgate}, Arg{"dup", dup}, Arg{"dout", dout}, Arg{"gate", gate},
                     Arg{"up", up}};
  const Device d = device_of(op, args);
  const DType t = act_type(op, d, args);
  check_same_shape(op, args);
  if (d == kCuda)
    return cuda::swiglu_backward(dgate.raw(), dup.raw(), dout.raw(), gate.raw(), up.raw(), t,
                                 dout.numel());
  cpu::swiglu_backward(dgate.f32(), dup.f32(), dout.f32(), gate.f32(), up.f32(), dout.numel());
}

void add_forward(Tensor& out, const Tensor& a, const Tensor& b) {
  constexpr const char* op = "add_forward";
  const Device d = device_of(op, {{"out", out}, {"a", a}, {"b", b}});
  const DType t = act_type(op, d, {{"out", out}, {"a", a}, {"b", b}});
  check_same_shape(op, {{"out", out}, {"a", a}, {"b", b}});
  if (d == kCuda) return cuda::add_forward(out.raw(), a.raw(), b.raw(), t, out.numel());
  cpu::add_forward(out.f32(), a.f32(), b.f32(), out.numel());
}

void rmsnorm_forward(Tensor& out, Tensor& rstd, const Tensor& inp, const Tensor& weight,
                     float eps) {
  constexpr const char* op = "rmsnorm_forward";
  const Device d = device_of(op, {{"out", out}, {"rstd", rstd}, {"inp", inp}, {"weight", weight}});
  const DType t = act_type(op, d, {{"out", out}, {"inp", inp}, {"weight", weight}});
  check_dtype(op, DType::f32, {{"rstd", rstd}});
  check_matrix(op, {"inp", inp});
  check_same_shape(op, {{"out", out}, {"inp", inp}});
  const int64_t rows = inp.shape().rows(), c = inp.shape().last();
  TPB_CHECK(weight.ndim() == 1 && weight.dim(0) == c, "{}: weight {} must be (C) for inp {}",
            op, weight.shape().str(), inp.shape().str());
  check_numel(op, {"rstd", rstd}, rows, "one per row of inp");
  if (d == kCuda)
    return cuda::rmsnorm_forward(out.raw(), rstd.f32(), inp.raw(), weight.raw(), t, rows, c, eps);
  cpu::rmsnorm_forward(out.f32(), rstd.f32(), inp.f32(), weight.f32(), rows, c, eps);
}

void rmsnorm_backward(Tensor& dinp, Tensor& dweight, const Tensor& dout, const Tensor& inp,
                      const Tensor& weight, const Tensor& rstd) {
  constexpr const char* op = "rmsnorm_backward";
  const Device d = device_of(op, {{"dinp", dinp}, {"dweight", dweight}, {"dout", dout},
                                  {"inp", inp}, {"weight", weight}, {"rstd", rstd}});
  const DType t = act_type(op, d, {{"dinp", dinp}, {"dout", dout}, {"inp", inp}, {"weight", weight}});
  check_dtype(op, DType::f32, {{"dweight", dweight}, {"rstd", rstd}});
  check_matrix(op, {"inp", inp});
  check_same_shape(op, {{"dinp", dinp}, {"dout", dout}, {"inp", inp}});
  check_same_shape(op, {{"dweight", dweight}, {"weight", weight}});
  const int64_t rows = inp.shape().rows(), c = inp.shape().last();
  TPB_CHECK(weight.ndim() == 1 && weight.dim(0) == c, "{}: weight {} must be (C) for inp {}",
            op, weight.shape().str(), inp.shape().str());
  check_numel(op, {"rstd", rstd}, rows, "one per row of inp");
  if (d == kCuda)
    return cuda::rmsnorm_backward(dinp.raw(), dweight.f32(), dout.raw(), inp.raw(), weight.raw(),
                                  rstd.f32(), t, rows, c);
  cpu::rmsnorm_backward(dinp.f32(), dweight.f32(), dout.f32(), inp.f32(), weight.f32(),
                        rstd.f32(), rows, c);
}

void softmax_forward(Tensor& out, const Tensor& inp) {
  constexpr const char* op = "softmax_forward";
  const Device d = device_of(op, {{"out", out}, {"inp", inp}});
  const DType t = act_type(op, d, {{"out", out}, {"inp", inp}});
  check_matrix(op, {"inp", inp});
  check_same_shape(op, {{"out", out}, {"inp", inp}});
  if (d == kCuda)
    return cuda::softmax_forward(out.raw(), inp.raw(), t, inp.shape().rows(), inp.shape().last());
  cpu::softmax_forward(out.f32(), inp.f32(), inp.shape().rows(), inp.shape().last());
}

void softmax_backward(Tensor& dinp, const Tensor& dout, const Tensor& out) {
  constexpr const char* op = "softmax_backward";
  const Device d = device_of(op, {{"dinp", dinp}, {"dout", dout}, {"out", out}});
  const DType t = act_type(op, d, {{"dinp", dinp}, {"dout", dout}, {"out", out}});
  check_matrix(op, {"out", out});
  check_same_shape(op, {{"dinp", dinp}, {"dout", dout}, {"out", out}});
  if (d == kCuda)
    return cuda::softmax_backward(dinp.raw(), dout.raw(), out.raw(), t, out.shape().rows(),
                                  out.shape().last());
  cpu::softmax_backward(dinp.f32(), dout.f32(), out.f32(), out.shape().rows(),
                        out.shape().last());
}

void rope_forward(Tensor& out, const Tensor& inp, float theta, int64_t pos_offset) {
  constexpr const char* op = "rope_forward";
  const Device d = device_of(op, {{"out", out}, {"inp", inp}});
  const DType t = act_type(op, d, {{"out", out}, {"inp", inp}});
  check_same_shape(op, {{"out", out}, {"inp", inp}});
  check_rope(op, inp, pos_offset);
  if (d == kCuda)
    return cuda::rope_forward(out.raw(), inp.raw(), t, inp.dim(0), inp.dim(1), inp.dim(2),
                              inp.dim(3), theta, pos_offset);
  cpu::rope_forward(out.f32(), inp.f32(), inp.dim(0), inp.dim(1), inp.dim(2), inp.dim(3), theta,
                    pos_offset);
}

void rope_backward(Tensor& dinp, const Tensor& dout, float theta, int64_t pos_offset) {
  constexpr const char* op = "rope_backward";
  const Device d = device_of(op, {{"dinp", dinp}, {"dout", dout}});
  const DType t = act_type(op, d, {{"dinp", dinp}, {"dout", dout}});
  check_same_shape(op, {{"dinp", dinp}, {"dout", dout}});
  check_rope(op, dout, pos_offset);
  if (d == kCuda)
    return cuda::rope_backward(dinp.raw(), dout.raw(), t, dout.dim(0), dout.dim(1), dout.dim(2),
                               dout.dim(3), theta, pos_offset);
  cpu::rope_backward(dinp.f32(), dout.f32(), dout.dim(0), dout.dim(1), dout.dim(2), dout.dim(3),
                     theta, pos_offset);
}

void attention_forward(Tensor& out, Tensor& lse, const Tensor& q, const Tensor& k,
                       const Tensor& v) {
  constexpr const char* op = "attention_forward";
  const Device d = device_of(op, {{"out", out}, {"lse", lse}, {"q", q}, {"k", k}, {"v", v}});
  const DType t = act_type(op, d, {{"out", out}, {"q", q}, {"k", k}, {"v", v}});
  check_dtype(op, DType::f32, {{"lse", lse}});
  const AttentionSizes s = attention_sizes(op, q, k, v, lse);
  check_same_shape(op, {{"out", out}, {"q", q}});
  if (d == kCuda)
    return cuda::attention_forward(out.raw(), lse.f32(), q.raw(), k.raw(), v.raw(), t, s.B, s.T,
                                   s.NH, s.NKV, s.D);
  cpu::attention_forward(out.f32(), lse.f32(), q.f32(), k.f32(), v.f32(), s.B, s.T, s.NH, s.NKV,
                         s.D);
}

void attention_backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                        const Tensor& lse) {
  constexpr const char* op = "attention_backward";
  const auto acts = {Arg{"dq", dq}, Arg{"dk", dk}, Arg{"dv", dv}, Arg{"dout", dout},
                     Arg{"q", q},   Arg{"k", k},   Arg{"v", v},   Arg{"out", out}};
  const Device d = device_of(op, acts);
  device_of(op, {{"dq", dq}, {"lse", lse}});
  const DType t = act_type(op, d, acts);
  check_dtype(op, DType::f32, {{"lse", lse}});
  const AttentionSizes s = attention_sizes(op, q, k, v, lse);
  check_same_shape(op, {{"q", q}, {"dq", dq}, {"dout", dout}, {"out", out}});
  check_same_shape(op, {{"k", k}, {"dk", dk}, {"dv", dv}});
  if (d == kCuda)
    return cuda::attention_backward(dq.raw(), dk.raw(), dv.raw(), dout.raw(), q.raw(), k.raw(),
                                    v.raw(), out.raw(), lse.f32(), t, s.B, s.T, s.NH, s.NKV, s.D);
  cpu::attention_backward(dq.f32(), dk.f32(), dv.f32(), dout.f32(), q.f32(), k.f32(), v.f32(),
                          out.f32(), lse.f32(), s.B, s.T, s.NH, s.NKV, s.D);
}

void embedding_forward(Tensor& out, const Tensor& tokens, const Tensor& table,
                       int64_t vocab_start) {
  constexpr const char* op = "embedding_forward";
  const Device d = device_of(op, {{"out", out}, {"tokens", tokens}, {"table", table}});
  const DType t = act_type(op, d, {{"out", out}, {"table", table}});
  check_dtype(op, DType::i32, {{"tokens", tokens}});
  check_embedding(op, out, tokens, table);
  if (d == kCuda)
    return cuda::embedding_forward(out.raw(), tokens.i32(), table.raw(), t, tokens.numel(),
                                   table.dim(0), table.dim(1), vocab_start);
  cpu::embedding_forward(out.f32(), tokens.i32(), table.f32(), tokens.numel(), table.dim(0),
                         table.dim(1), vocab_start);
}

void embedding_backward(Tensor& dtable, const Tensor& dout, const Tensor& tokens,
                        int64_t vocab_start) {
  constexpr const char* op = "embedding_backward";
  const Device d = device_of(op, {{"dtable", dtable}, {"dout", dout}, {"tokens", tokens}});
  const DType t = act_type(op, d, {{"dout", dout}});
  check_dtype(op, DType::f32, {{"dtable", dtable}});
  check_dtype(op, DType::i32, {{"tokens", tokens}});
  check_embedding(op, dout, tokens, dtable);
  if (d == kCuda)
    return cuda::embedding_backward(dtable.f32(), dout.raw(), tokens.i32(), t, tokens.numel(),
                                    dtable.dim(0), dtable.dim(1), vocab_start);
  cpu::embedding_backward(dtable.f32(), dout.f32(), tokens.i32(), tokens.numel(), dtable.dim(0),
                          dtable.dim(1), vocab_start);
}

void cross_entropy_forward(Tensor& losses, const Tensor& logits, const Tensor& targets) {
  constexpr const char* op = "cross_entropy_forward";
  const Device d = fp32_call(op, {{"losses", losses}, {"logits", logits}});
  device_of(op, {{"logits", logits}, {"targets", targets}});
  check_dtype(op, DType::i32, {{"targets", targets}});
  check_cross_entropy(op, losses, logits, targets);
  const int64_t rows = logits.shape().rows(), v = logits.shape().last();
  if (d == kCuda)
    return cuda::cross_entropy_forward(losses.f32(), logits.f32(), targets.i32(), rows, v);
  cpu::cross_entropy_forward(losses.f32(), logits.f32(), targets.i32(), rows, v);
}

void cross_entropy_backward(Tensor& dlogits, const Tensor& dlosses, const Tensor& logits,
                            const Tensor& targets) {
  constexpr const char* op = "cross_entropy_backward";
  const Device d = fp32_call(op, {{"dlogits", dlogits}, {"dlosses", dlosses}, {"logits", logits}});
  device_of(op, {{"logits", logits}, {"targets", targets}});
  check_dtype(op, DType::i32, {{"targets", targets}});
  check_cross_entropy(op, dlosses, logits, targets);
  check_same_shape(op, {{"dlogits", dlogits}, {"logits", logits}});
  const int64_t rows = logits.shape().rows(), v = logits.shape().last();
  if (d == kCuda)
    return cuda::cross_entropy_backward(dlogits.f32(), dlosses.f32(), logits.f32(), targets.i32(),
                                        rows, v);
  cpu::cross_entropy_backward(dlogits.f32(), dlosses.f32(), logits.f32(), targets.i32(), rows, v);
}

void ce_row_max(Tensor& row_max, const Tensor& logits) {
  constexpr const char* op = "ce_row_max";
  const Device d = fp32_call(op, {{"row_max", row_max}, {"logits", logits}});
  check_matrix(op, {"logits", logits});
  const int64_t rows = logits.shape().rows(), v = logits.shape().last();
  check_numel(op, {"row_max", row_max}, rows, "one per row of logits");
  if (d == kCuda) return cuda::ce_row_max(row_max.f32(), logits.f32(), rows, v);
  cpu::ce_row_max(row_max.f32(), logits.f32(), rows, v);
}

namespace {

// The checks of a sum-exp call; returns the device, rows and vocabulary width.
struct SumExpCall {
  Device d;
  int64_t rows, v;
};
SumExpCall check_sum_exp(const char* op, const Tensor& stats, const Tensor& logits, const Tensor& row_max,
                         const Tensor& targets) {
  const Device d = fp32_call(op, {{"stats", stats}, {"logits", logits}, {"row_max", row_max}});
  device_of(op, {{"logits", logits}, {"targets", targets}});
  check_dtype(op, DType::i32, {{"targets", targets}});
  check_matrix(op, {"logits", logits});
  const int64_t rows = logits.shape().rows(), v = logits.shape().last();
  check_numel(op, {"row_max", row_max}, rows, "one per row of logits");
  check_numel(op, {"targets", targets}, rows, "one per row of logits");
  check_numel(op, {"stats", stats}, 2 * rows, "two per row of logits");
  return {d, rows, v};
}

}  // namespace

void ce_sum_exp_target(Tensor& stats, const Tensor& logits, const Tensor& row_max,
                       const Tensor& targets, int64_t vocab_start) {
  const auto [d, rows, v] = check_sum_exp("ce_sum_exp_target", stats, logits, row_max, targets);
  if (d == kCuda)
    return cuda::ce_sum_exp_target(stats.f32(), logits.f32(), row_max.f32(), targets.i32(), rows,
                                   v, vocab_start);
  cpu::ce_sum_exp_target(stats.f32(), logits.f32(), row_max.f32(), targets.i32(), rows, v,
                         vocab_start);
}

void ce_losses(Tensor& losses, const Tensor& stats, const Tensor& row_max) {
  constexpr const char* op = "ce_losses";
  const Device d = fp32_call(op, {{"losses", losses}, {"stats", stats}, {"row_max", row_max}});
  const int64_t rows = losses.numel();
  check_numel(op, {"row_max", row_max}, rows, "one per loss");
  check_numel(op, {"stats", stats}, 2 * rows, "two per loss");
  if (d == kCuda) return cuda::ce_losses(losses.f32(), stats.f32(), row_max.f32(), rows);
  cpu::ce_losses(losses.f32(), stats.f32(), row_max.f32(), rows);
}

void ce_backward(Tensor& dlogits, const Tensor& logits, const Tensor& row_max,
                 const Tensor& stats, const Tensor& targets, int64_t vocab_start, float scale) {
  constexpr const char* op = "ce_backward";
  const Device d = fp32_call(op, {{"logits", logits}, {"row_max", row_max}, {"stats", stats}});
  device_of(op, {{"logits", logits}, {"dlogits", dlogits}, {"targets", targets}});
  const DType t = act_type(op, d, {{"dlogits", dlogits}});
  check_dtype(op, DType::i32, {{"targets", targets}});
  check_matrix(op, {"logits", logits});
  check_same_shape(op, {{"dlogits", dlogits}, {"logits", logits}});
  const int64_t rows = logits.shape().rows(), v = logits.shape().last();
  check_numel(op, {"row_max", row_max}, rows, "one per row of logits");
  check_numel(op, {"targets", targets}, rows, "one per row of logits");
  check_numel(op, {"stats", stats}, 2 * rows, "two per row of logits");
  if (d == kCuda)
    return cuda::ce_backward(dlogits.raw(), t, logits.f32(), row_max.f32(), stats.f32(),
                             targets.i32(), rows, v, vocab_start, scale);
  cpu::ce_backward(dlogits.f32(), logits.f32(), row_max.f32(), stats.f32(), targets.i32(), rows,
                   v, vocab_start, scale);
}

void ce_sum_exp_target_keep_exps(Tensor& stats, Tensor& logits, const Tensor& row_max, const Tensor& targets,
                                 int64_t vocab_start) {
  constexpr const char* op = "ce_sum_exp_target_keep_exps";
  const auto [d, rows, v] = check_sum_exp(op, stats, logits, row_max, targets);
  TPB_CHECK(d == Device::cpu, "{}: CPU only (logits on {})", op, device_name(d));
  cpu::ce_sum_exp_target_keep_exps(stats.f32(), logits.f32(), row_max.f32(), targets.i32(), rows, v, vocab_start);
}

void ce_backward_from_exps(Tensor& dlogits, const Tensor& exps, const Tensor& stats, const Tensor& targets,
                           int64_t vocab_start, float scale) {
  constexpr const char* op = "ce_backward_from_exps";
  const Device d = fp32_call(op, {{"dlogits", dlogits}, {"exps", exps}, {"stats", stats}});
  TPB_CHECK(d == Device::cpu, "{}: CPU only (exps on {})", op, device_name(d));
  check_dtype(op, DType::i32, {{"targets", targets}});
  check_matrix(op, {"exps", exps});
  check_same_shape(op, {{"dlogits", dlogits}, {"exps", exps}});
  const int64_t rows = exps.shape().rows(), v = exps.shape().last();
  check_numel(op, {"targets", targets}, rows, "one per row of exps");
  check_numel(op, {"stats", stats}, 2 * rows, "two per row of exps");
  cpu::ce_backward_from_exps(dlogits.f32(), exps.f32(), stats.f32(), targets.i32(), rows, v, vocab_start, scale);
}

double mse_forward(const Tensor& pred, const Tensor& target) {
  constexpr const char* op = "mse_forward";
  const Device d = fp32_call(op, {{"pred", pred}, {"target", target}});
  check_same_shape(op, {{"pred", pred}, {"target", target}});
  TPB_CHECK(pred.numel() > 0, "{}: the mean of no elements (pred {})", op, pred.shape().str());
  if (d == kCuda) return cuda::mse_forward(pred.f32(), target.f32(), pred.numel());
  return cpu::mse_forward(pred.f32(), target.f32(), pred.numel());
}

void mse_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, float dloss) {
  constexpr const char* op = "mse_backward";
  const Device d = fp32_call(op, {{"dpred", dpred}, {"pred", pred}, {"target", target}});
  check_same_shape(op, {{"dpred", dpred}, {"pred", pred}, {"target", target}});
  if (d == kCuda) return cuda::mse_backward(dpred.f32(), pred.f32(), target.f32(), pred.numel(), dloss);
  cpu::mse_backward(dpred.f32(), pred.f32(), target.f32(), pred.numel(), dloss);
}

void sgd_step(Tensor& param, const Tensor& grad, float lr, float weight_decay) {
  constexpr const char* op = "sgd_step";
  const Device d = fp32_call(op, {{"param", param}, {"grad", grad}});
  check_numel(op, {"grad", grad}, param.numel(), "as many as param");
  if (d == kCuda) return cuda::sgd_step(param.f32(), grad.f32(), param.numel(), lr, weight_decay);
  cpu::sgd_step(param.f32(), grad.f32(), param.numel(), lr, weight_decay);
}

void adamw_step(Tensor& param, Tensor& m, Tensor& v, const Tensor& grad,
                const AdamWConfig& config, int64_t step) {
  constexpr const char* op = "adamw_step";
  const Device d = fp32_call(op, {{"param", param}, {"m", m}, {"v", v}, {"grad", grad}});
  for (const Arg& a : {Arg{"m", m}, Arg{"v", v}, Arg{"grad", grad}})
    check_numel(op, a, param.numel(), "as many as param");
  if (d == kCuda)
    return cuda::adamw_step(param.f32(), m.f32(), v.f32(), grad.f32(), param.numel(), config, step);
  cpu::adamw_step(param.f32(), m.f32(), v.f32(), grad.f32(), param.numel(), config, step);
}

void cast(Tensor& out, const Tensor& in) {
  constexpr const char* op = "cast";
  const Device d = device_of(op, {{"out", out}, {"in", in}});
  check_numel(op, {"in", in}, out.numel(), "as many as out");
  for (const Arg& a : {Arg{"out", out}, Arg{"in", in}})
    TPB_CHECK(a.tensor.dtype() == DType::f32 || a.tensor.dtype() == DType::bf16,
              "{}: {} {} is {}, need fp32 or bf16", op, a.name, a.tensor.shape().str(),
              dtype_name(a.tensor.dtype()));
  if (d == kCuda) return cuda::cast(out.raw(), out.dtype(), in.raw(), in.dtype(), out.numel());
  if (out.dtype() == in.dtype()) return out.copy_from(in);
  if (out.dtype() == DType::bf16)
    return cpu::cast_f32_to_bf16(static_cast<uint16_t*>(out.raw()), in.f32(), out.numel());
  cpu::cast_bf16_to_f32(out.f32(), static_cast<const uint16_t*>(in.raw()), out.numel());
}

void scale(Tensor& x, float s) {
  const Device d = fp32_call("scale", {{"x", x}});
  if (d == kCuda) return cuda::scale(x.f32(), x.numel(), s);
  cpu::scale(x.f32(), x.numel(), s);
}

double sum_squares(const Tensor& x) {
  const Device d = fp32_call("sum_squares", {{"x", x}});
  if (d == kCuda) return cuda::sum_squares(x.f32(), x.numel());
  return cpu::sum_squares(x.f32(), x.numel());
}

void interleave_blocks(Tensor& out, const Tensor& staging, std::span<const int64_t> widths) {
  constexpr const char* op = "interleave_blocks";
  const Device d = device_of(op, {{"out", out}, {"staging", staging}});
  const DType t = act_type(op, d, {{"out", out}, {"staging", staging}});
  check_matrix(op, {"out", out});
  int64_t total = 0;
  for (int64_t w : widths) total += w;
  const int64_t rows = out.shape().rows();
  TPB_CHECK(out.shape().last() == total && staging.numel() == rows * total,
            "{}: out {} and staging of {} elements for widths summing to {}", op,
            out.shape().str(), staging.numel(), total);
  const int n = static_cast<int>(widths.size());
  if (d == kCuda) return cuda::interleave_blocks(out.raw(), staging.raw(), widths.data(), n, rows, t);
  cpu::interleave_blocks(out.raw(), staging.raw(), widths.data(), n, rows,
                         static_cast<int64_t>(dtype_size(t)));
}

void take_columns(Tensor& out, const Tensor& full, int64_t offset) {
  constexpr const char* op = "take_columns";
  const Device d = device_of(op, {{"out", out}, {"full", full}});
  const DType t = act_type(op, d, {{"out", out}, {"full", full}});
  check_matrix(op, {"out", out});
  check_matrix(op, {"full", full});
  const int64_t rows = full.shape().rows(), total = full.shape().last(), width = out.shape().last();
  TPB_CHECK(out.shape().rows() == rows && offset >= 0 && offset + width <= total,
            "{}: {} from columns [{}, {}) of {}", op, out.shape().str(), offset, offset + width,
            full.shape().str());
  if (d == kCuda) return cuda::take_columns(out.raw(), full.raw(), rows, total, offset, width, t);
  cpu::take_columns(out.raw(), full.raw(), rows, total, offset, width,
                    static_cast<int64_t>(dtype_size(t)));
}

}  // namespace tpb::ops
