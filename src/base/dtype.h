// Element types. fp32 is implemented everywhere; i32 holds token ids; bf16 is reserved for
// the CUDA backend's mixed precision and for collectives. i64, f64 and u8 exist for the
// communicator's bookkeeping (gathering timestamps, timings and serialised traces).
#pragma once

#include <cstddef>
#include <string_view>

namespace tpb {

enum class DType { f32, bf16, i32, i64, f64, u8 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::bf16: return 2;
    case DType::i64:
    case DType::f64: return 8;
    case DType::u8: return 1;
    default: return 4;
  }
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "fp32";
    case DType::bf16: return "bf16";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::f64: return "fp64";
    case DType::u8: return "uint8";
  }
  return "?";
}

}  // namespace tpb
