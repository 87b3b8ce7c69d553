// Where the tokens of a data file lie: the llm.c header, nanoGPT's raw arrays, byte-level text.
//
// llm.c (karpathy/llm.c, dev/data/data_common.py): a header of 256 little-endian int32,
//   header[0] = 20240520 (magic), header[1] = version (1: uint16 tokens, 2: uint32 tokens),
//   header[2] = number of tokens, the rest 0; then the tokens, little-endian.
// nanoGPT (prepare.py): the tokens as a raw little-endian uint16 array, no header.
// text: the file's bytes are the tokens (vocab 256).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tpb {

class DataFile;

inline constexpr int32_t kLlmcMagic = 20240520;
inline constexpr size_t kLlmcHeaderBytes = 256 * sizeof(int32_t);

struct TokenLayout {
  std::string format;  // "llm.c uint16", "raw uint32", "text", ... for describe()
  size_t offset = 0;   // bytes before the first token
  int width = 0;       // bytes per token: 1, 2 or 4
  int64_t count = 0;   // number of tokens
};

// Reads the layout of a token file for token_dtype auto | llmc | uint16 | uint32. Throws
// UsageError naming the path and the values on a bad magic (llmc), a bad version, a body
// whose size disagrees with the header, or a raw size that is not a multiple of the width.
TokenLayout token_file_layout(const DataFile& file, const std::string& token_dtype);

// The same from what it depends on: the file's size and its first min(size,
// kLlmcHeaderBytes) bytes, `head` (head_bytes of them). `path` only names it in messages.
TokenLayout token_file_layout(const std::string& path, uint64_t size, const uint8_t* head,
                              size_t head_bytes, const std::string& token_dtype);

// Every byte of the file is a token.
TokenLayout text_file_layout(const DataFile& file);

}  // namespace tpb
