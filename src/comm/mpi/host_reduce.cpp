#include "comm/mpi/host_reduce.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "base/bf16.h"
#include "base/error.h"

namespace tpb {

void finish_avg(void* data, size_t count, DType t, ReduceOp op, int n) {
  if (op != ReduceOp::avg || n == 1) return;
  TPB_CHECK(t == DType::f32 || t == DType::f64 || t == DType::bf16,
            "avg reduction needs fp32, fp64 or bf16, got {}", dtype_name(t));
  if (t == DType::bf16) {  // scaled in fp32, rounded once back to bf16
    uint16_t* p = static_cast<uint16_t*>(data);
    const float inv = 1.0f / static_cast<float>(n);
    for (size_t i = 0; i < count; ++i) p[i] = float_to_bf16(bf16_to_float(p[i]) * inv);
    return;
  }
  if (t == DType::f64) {
    double* p = static_cast<double*>(data);
    for (size_t i = 0; i < count; ++i) p[i] /= n;
    return;
  }
  float* p = static_cast<float*>(data);
  const float inv = 1.0f / static_cast<float>(n);
  for (size_t i = 0; i < count; ++i) p[i] *= inv;
}

bool host_reducible(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::bf16 || t == DType::i32 || t == DType::i64;
}

namespace {

// Elements reduced per block: the block's accumulator stays in L1 (4 KiB of fp32), and the
// inner loops over it vectorize.
constexpr size_t kBlock = 1024;

// Acc: the accumulator type (fp32 for bf16); load/store convert to and from T.
template <class T, class Acc, class Load, class Store>
void reduce_blocks(T* out, const T* const* src, int nsrc, size_t count, bool is_max, Load load, Store store) {
  Acc acc[kBlock];
  for (size_t b = 0; b < count; b += kBlock) {
    const size_t n = std::min(kBlock, count - b);
    const T* s0 = src[0] + b;
    for (size_t i = 0; i < n; ++i) acc[i] = load(s0[i]);
    for (int q = 1; q < nsrc; ++q) {
      const T* s = src[q] + b;
      if (is_max)
        for (size_t i = 0; i < n; ++i) acc[i] = std::max(acc[i], load(s[i]));
      else
        for (size_t i = 0; i < n; ++i) acc[i] += load(s[i]);
    }
    T* o = out + b;
    for (size_t i = 0; i < n; ++i) o[i] = store(acc[i]);
  }
}

template <class T>
void reduce_native(void* out, const void* const* src, int nsrc, size_t count, bool is_max) {
  reduce_blocks<T, T>(static_cast<T*>(out), reinterpret_cast<const T* const*>(src), nsrc, count, is_max,
                      [](T x) { return x; }, [](T x) { return x; });
}

}  // namespace

void reduce_sources(void* out, const void* const* src, int nsrc, size_t count, DType t, ReduceOp op) {
  TPB_CHECK(nsrc >= 1, "reduce_sources: {} sources", nsrc);
  const bool is_max = op == ReduceOp::max;
  switch (t) {
    case DType::f32: return reduce_native<float>(out, src, nsrc, count, is_max);
    case DType::f64: return reduce_native<double>(out, src, nsrc, count, is_max);
    case DType::i32: return reduce_native<int32_t>(out, src, nsrc, count, is_max);
    case DType::i64: return reduce_native<int64_t>(out, src, nsrc, count, is_max);
    case DType::bf16:
      // max compares in fp32 and keeps the larger element; it is exact either way, since
      // the fp32 value of a bf16 rounds back to the same bits.
      return reduce_blocks<uint16_t, float>(
          static_cast<uint16_t*>(out), reinterpret_cast<const uint16_t* const*>(src), nsrc, count, is_max,
          [](uint16_t x) { return bf16_to_float(x); }, [](float x) { return float_to_bf16(x); });
    case DType::u8: break;
  }
  TPB_CHECK(false, "reduce_sources: no {} reduction ({})", dtype_name(t), reduce_op_name(op));
}

}  // namespace tpb
