// Tensors stored in files, described by where each piece of each tensor lies, and the one
// reader that fills any sharding of them: tpbench's own checkpoints (checkpoint/checkpoint.h)
// and Hugging Face safetensors files (checkpoint/safetensors.h) are both a TensorStore.
//
// Every tensor is 2-D in global coordinates (a norm weight is 1 x dim). A chunk is a run of
// consecutive elements [begin, end) of a rectangle (Box) of the tensor, taken in the
// rectangle's row-major order, stored contiguously from a byte offset of one file. That
// describes every shard tpbench holds: a TP rank's rows or columns (the Box), cut by the
// flat 1/dp split of ZeRO / FSDP (the element range), and a whole safetensors tensor.
//
// Reading: a destination is also a Box and an element range (this rank's new shard, at any
// layout). The reader intersects it with the stored chunks row by row, reads only the file
// blocks holding those bytes (coalesced, in file order) and verifies each block's CRC-32
// before any byte of it is used.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace tpb::ckpt {

struct Box {
  int64_t row0 = 0, rows = 0, col0 = 0, cols = 0;
  int64_t numel() const { return rows * cols; }
};

struct Chunk {
  int file = 0;               // index into TensorStore::files
  Box box;                    // in the tensor's global coordinates
  int64_t begin = 0, end = 0; // elements of the box, row-major
  uint64_t offset = 0;        // byte offset of element `begin` in the file
};

// Stored element types: f32 (tpbench), and bf16 / f16 (safetensors files from elsewhere).
enum class StoredType { f32, bf16, f16 };
size_t stored_size(StoredType t);
std::string stored_type_name(StoredType t);

struct StoredTensor {
  int64_t rows = 0, cols = 0;
  StoredType type = StoredType::f32;
  std::vector<Chunk> chunks;
  // Empty, or: global row r is stored as row row_map[r] of the chunks' boxes (the q / k
  // head permutation between this model's RoPE and Hugging Face's, checkpoint/hf_llama.h).
  std::vector<int64_t> row_map;
};

struct StoredFile {
  std::string path;
  uint64_t bytes = 0;               // the file's expected size
  uint64_t block_bytes = 0;         // 0: no checksums (safetensors)
  std::vector<uint32_t> block_crc;  // CRC-32 (zlib) of each block_bytes block, the last one short
};

struct TensorStore {
  std::vector<StoredFile> files;
  std::map<std::string, StoredTensor> tensors;
};

// One destination: elements [begin, end) of `box` of tensor `key`, written as fp32 to dst
// (host memory, end - begin floats).
struct Piece {
  std::string key;
  Box box;
  int64_t begin = 0, end = 0;
  float* dst = nullptr;
};

struct ReadStats {
  uint64_t bytes_read = 0;  // from the files, whole blocks
  uint64_t bytes_used = 0;  // of which copied into the pieces
};

// Fills every piece. Throws tpb::Error naming the file (missing, shorter than recorded, a
// block whose CRC does not match) or the tensor (unknown key, a piece outside its shape, a
// piece the chunks do not cover).
ReadStats read_pieces(const TensorStore& store, std::span<const Piece> pieces);

// CRC-32 of each `block_bytes` block of data appended in pieces (zlib's crc32).
class BlockCrc {
 public:
  explicit BlockCrc(uint64_t block_bytes) : block_bytes_(block_bytes) {}
  void update(const void* data, size_t bytes);
  // The last (short) block is closed too; call once.
  std::vector<uint32_t> finish();

 private:
  uint64_t block_bytes_;
  uint64_t in_block_ = 0;
  uint32_t crc_ = 0;
  std::vector<uint32_t> blocks_;
};

}  // namespace tpb::ckpt
