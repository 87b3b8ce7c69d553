#include "commbench/check_values.h"

#include "base/error.h"
#include "base/bf16.h"

namespace tpb {

namespace {

constexpr float kPoison = -1.0f;

float reduce_value(int rank, size_t j) { return static_cast<float>((static_cast<size_t>(rank) + j) % 3); }
float gather_value(int rank, size_t k) { return static_cast<float>((37 * static_cast<size_t>(rank) + k) % 251); }
float a2a_value(int from, int to, size_t k) {
  return static_cast<float>((31 * static_cast<size_t>(from) + 7 * static_cast<size_t>(to) + k) % 251);
}

// Element access by dtype (fp32 or bf16; checked once in fill_check_values / count_wrong).
void store(void* buf, size_t i, DType t, float v) {
  if (t == DType::bf16) static_cast<uint16_t*>(buf)[i] = float_to_bf16(v);
  else static_cast<float*>(buf)[i] = v;
}

float load(const void* buf, size_t i, DType t) {
  if (t == DType::bf16) return bf16_to_float(static_cast<const uint16_t*>(buf)[i]);
  return static_cast<const float*>(buf)[i];
}

void check_dtype(DType t) {
  TPB_CHECK(t == DType::f32 || t == DType::bf16, "check values exist for fp32 and bf16, not {}",
            dtype_name(t));
}

void poison(void* buf, size_t first, size_t last, DType t) {
  for (size_t i = first; i < last; ++i) store(buf, i, t, kPoison);
}

}  // namespace

int64_t sum_of_reduce_values(size_t j, int n) {
  // Each full cycle of three consecutive ranks contributes 0 + 1 + 2; then the rest.
  const int64_t full = static_cast<int64_t>(n / 3) * 3;
  int64_t rest = 0;
  for (int k = 0; k < n % 3; ++k) rest += static_cast<int64_t>((j + static_cast<size_t>(k)) % 3);
  return full + rest;
}

void fill_check_values(const CollectiveCall& c, int rank, int n) {
  check_dtype(c.dtype);
  const DType t = c.dtype;
  const size_t block = c.call_count;
  switch (c.op) {
    case CommOp::all_reduce:
    case CommOp::reduce_scatter:
      for (size_t j = 0; j < c.input_count; ++j) store(c.input, j, t, reduce_value(rank, j));
      if (!c.in_place) poison(c.recv, 0, c.op == CommOp::all_reduce ? c.count : block, t);
      return;
    case CommOp::all_gather:
      if (!c.in_place) poison(c.recv, 0, c.count, t);
      else {
        poison(c.recv, 0, static_cast<size_t>(rank) * block, t);
        poison(c.recv, static_cast<size_t>(rank + 1) * block, c.count, t);
      }
      for (size_t k = 0; k < block; ++k) store(c.input, k, t, gather_value(rank, k));
      return;
    case CommOp::broadcast:
      for (size_t i = 0; i < c.count; ++i)
        store(c.input, i, t, rank == c.root ? gather_value(c.root, i) : kPoison);
      return;
    case CommOp::all_to_all:
      if (!c.in_place) poison(c.recv, 0, c.count, t);
      for (size_t p = 0; p < static_cast<size_t>(n); ++p)
        for (size_t k = 0; k < block; ++k)
          store(c.input, p * block + k, t, a2a_value(rank, static_cast<int>(p), k));
      return;
    default:
      TPB_CHECK(false, "fill_check_values: {} is not a benchmarked collective", comm_op_name(c.op));
  }
}

int64_t count_wrong(const CollectiveCall& c, int rank, int n) {
  check_dtype(c.dtype);
  const DType t = c.dtype;
  const size_t block = c.call_count;
  int64_t wrong = 0;
  switch (c.op) {
    case CommOp::all_reduce:
      for (size_t i = 0; i < c.count; ++i)
        wrong += load(c.recv, i, t) != static_cast<float>(sum_of_reduce_values(i, n));
      return wrong;
    case CommOp::reduce_scatter: {
      const size_t first = static_cast<size_t>(rank) * block;
      for (size_t i = 0; i < block; ++i)
        wrong += load(c.recv, i, t) != static_cast<float>(sum_of_reduce_values(first + i, n));
      return wrong;
    }
    case CommOp::all_gather:
      for (size_t j = 0; j < c.count; ++j)
        wrong += load(c.recv, j, t) != gather_value(static_cast<int>(j / block), j % block);
      return wrong;
    case CommOp::broadcast:
      for (size_t i = 0; i < c.count; ++i) wrong += load(c.recv, i, t) != gather_value(c.root, i);
      return wrong;
    case CommOp::all_to_all:
      for (size_t j = 0; j < c.count; ++j)
        wrong += load(c.recv, j, t) != a2a_value(static_cast<int>(j / block), rank, j % block);
      return wrong;
    default:
      TPB_CHECK(false, "count_wrong: {} is not a benchmarked collective", comm_op_name(c.op));
  }
}

}  // namespace tpb
