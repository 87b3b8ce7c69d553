// Element types. fp32 is implemented everywhere; i32 holds token ids; bf16 is reserved for
// the CUDA backend's mixed precision and for collectives (the communicator takes a DType
// with every buffer).
#pragma once

#include <cstddef>
#include <string_view>

namespace tpb {

enum class DType { f32, bf16, i32 };

constexpr size_t dtype_size(DType t) { return t == DType::bf16 ? 2 : 4; }
constexpr std::string_view dtype_name(DType t) {
  return t == DType::f32 ? "fp32" : t == DType::bf16 ? "bf16" : "int32";
}

}  // namespace tpb
