// Hugging Face's safetensors format (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON ({name: {dtype, shape, data_offsets}},
// optional "__metadata__"), then the tensors' bytes. Written and read here directly: the
// format is those three lines, and the official library is Rust / Python only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "checkpoint/tensor_store.h"

namespace tpb::ckpt {

// One tensor per entry of store.tensors (a single chunk: the whole tensor, row-major),
// keyed by the file's names; 1-D tensors read as 1 x n. F32, BF16 and F16 are read. A file
// that is not safetensors, a tensor of another dtype or more than 2 dimensions, or offsets
// outside the file: UsageError naming the path and the tensor.
TensorStore read_safetensors(const std::string& path);

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;  // 1-D or 2-D, fp32
};
// Writes path atomically (a temporary beside it, fsynced, renamed), tensors in the given
// order; fill(i, out) puts tensor i's row-major values into out (resized by the caller's
// shape). Throws Error naming the path.
void write_safetensors(const std::string& path, const std::vector<TensorSpec>& tensors,
                       const std::function<void(size_t, std::vector<float>&)>& fill,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace tpb::ckpt
