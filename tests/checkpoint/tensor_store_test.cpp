// The checkpoint reader against the tensors it stored: any sharding written (TP boxes cut
// into flat DP ranges, in any file order) read back at any other, element for element;
// block checksums catch a flipped byte and name the tensor; safetensors round trips; the
// HF q / k row permutation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "base/bf16.h"
#include "base/error.h"
#include "checkpoint/hf_llama.h"
#include "checkpoint/safetensors.h"
#include "checkpoint/tensor_store.h"

namespace {

namespace fs = std::filesystem;
using namespace tpb::ckpt;

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / ("tpb-store-" + std::to_string(::getpid()) + "-" + name);
}

// The full tensor's values: element (r, c) = r * 1000 + c, so every misplacement shows.
std::vector<float> full_values(int64_t rows, int64_t cols) {
  std::vector<float> v(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) v[static_cast<size_t>(r * cols + c)] = static_cast<float>(r * 1000 + c);
  return v;
}

// Boxes of a split of `rows x cols` into `parts` along dim (0 rows, 1 columns), each cut
// into `ranges` element ranges at random points.
std::vector<std::pair<Box, std::pair<int64_t, int64_t>>> layout(int64_t rows, int64_t cols, int dim, int parts,
                                                                 int ranges, std::mt19937& gen) {
  std::vector<std::pair<Box, std::pair<int64_t, int64_t>>> out;
  const int64_t split = dim == 0 ? rows : cols;
  for (int p = 0; p < parts; ++p) {
    const int64_t a = split * p / parts, z = split * (p + 1) / parts;
    const Box b = dim == 0 ? Box{a, z - a, 0, cols} : Box{0, rows, a, z - a};
    std::vector<int64_t> cuts = {0, b.numel()};
    std::uniform_int_distribution<int64_t> at(0, b.numel());
    for (int i = 1; i < ranges; ++i) cuts.push_back(at(gen));
    std::sort(cuts.begin(), cuts.end());
    for (size_t i = 0; i + 1 < cuts.size(); ++i)
      if (cuts[i] < cuts[i + 1]) out.push_back({b, {cuts[i], cuts[i + 1]}});
  }
  return out;
}

float at_box(const std::vector<float>& full, int64_t cols, const Box& b, int64_t k) {
  return full[static_cast<size_t>((b.row0 + k / b.cols) * cols + b.col0 + k % b.cols)];
}

// Writes the chunks of `saved` (shuffled) into one file with block CRCs; returns the store.
TensorStore save(const std::string& key, const std::vector<float>& full, int64_t rows, int64_t cols,
                 std::vector<std::pair<Box, std::pair<int64_t, int64_t>>> saved, const fs::path& path,
                 std::mt19937& gen) {
  std::shuffle(saved.begin(), saved.end(), gen);
  TensorStore store;
  StoredTensor t{rows, cols, StoredType::f32, {}, {}};
  std::ofstream out(path, std::ios::binary);
  BlockCrc crc(64);
  uint64_t offset = 0;
  for (const auto& [b, range] : saved) {
    std::vector<float> data;
    for (int64_t k = range.first; k < range.second; ++k) data.push_back(at_box(full, cols, b, k));
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * 4));
    crc.update(data.data(), data.size() * 4);
    t.chunks.push_back({0, b, range.first, range.second, offset});
    offset += data.size() * 4;
  }
  store.files.push_back({path.string(), offset, 64, crc.finish()});
  store.tensors[key] = t;
  return store;
}

TEST(TensorStore, AnyShardingReadsBackAtAnyOther) {
  std::mt19937 gen(7);
  const int64_t rows = 9, cols = 14;
  const std::vector<float> full = full_values(rows, cols);
  const fs::path path = temp_file("any.bin");
  for (int trial = 0; trial < 20; ++trial) {
    SCOPED_TRACE(trial);
    const TensorStore store =
        save("w", full, rows, cols, layout(rows, cols, trial % 2, 1 + trial % 3, 1 + trial % 4, gen), path, gen);
    for (const auto& [b, range] : layout(rows, cols, (trial / 2) % 2, 1 + trial % 4, 1 + (trial + 1) % 3, gen)) {
      std::vector<float> got(static_cast<size_t>(range.second - range.first), -1.0f);
      const Piece piece{"w", b, range.first, range.second, got.data()};
      const ReadStats s = read_pieces(store, std::span(&piece, 1));
      EXPECT_EQ(s.bytes_used, got.size() * 4);
      for (int64_t k = range.first; k < range.second; ++k)
        ASSERT_EQ(got[static_cast<size_t>(k - range.first)], at_box(full, cols, b, k))
            << "box rows " << b.row0 << "+" << b.rows << " cols " << b.col0 << "+" << b.cols << " element " << k;
    }
  }
  fs::remove(path);
}

TEST(TensorStore, AFlippedByteIsCaughtByItsBlockChecksumNamingTheTensor) {
  std::mt19937 gen(3);
  const std::vector<float> full = full_values(8, 8);
  const fs::path path = temp_file("flip.bin");
  const TensorStore store = save("layers.0.attention.wq", full, 8, 8, layout(8, 8, 0, 2, 2, gen), path, gen);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(130);  // block 2 of 64-byte blocks
    f.put('\x55');
  }
  std::vector<float> got(64);
  const Piece piece{"layers.0.attention.wq", {0, 8, 0, 8}, 0, 64, got.data()};
  try {
    read_pieces(store, std::span(&piece, 1));
    FAIL() << "no error";
  } catch (const tpb::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(path.string() + ": block 2 (bytes [128, 192), holding layers.0.attention.wq)"), std::string::npos)
        << m;
  }
  // Only the blocks a piece needs are read: one wholly inside other blocks reads without error.
  std::vector<float> got2(8);
  const auto& chunks = store.tensors.at("layers.0.attention.wq").chunks;
  const auto first = std::min_element(chunks.begin(), chunks.end(), [](const Chunk& a, const Chunk& b) {
    return a.offset < b.offset;
  });  // the chunk at offset 0: its first 8 elements are bytes [0, 32), block 0
  const Piece early{"layers.0.attention.wq", first->box, first->begin, first->begin + 8, got2.data()};
  const ReadStats s = read_pieces(store, std::span(&early, 1));
  EXPECT_EQ(s.bytes_read, 64u);  // block 0 alone
  EXPECT_EQ(s.bytes_used, 32u);
  for (int64_t k = 0; k < 8; ++k) EXPECT_EQ(got2[static_cast<size_t>(k)], at_box(full, 8, first->box, first->begin + k));
  fs::remove(path);
}

TEST(TensorStore, ChunksThatDoNotCoverAPieceAreAnError) {
  std::mt19937 gen(5);
  const std::vector<float> full = full_values(4, 6);
  const fs::path path = temp_file("cover.bin");
  TensorStore store = save("w", full, 4, 6, layout(4, 6, 1, 2, 1, gen), path, gen);
  store.tensors["w"].chunks.pop_back();
  std::vector<float> got(24);
  const Piece piece{"w", {0, 4, 0, 6}, 0, 24, got.data()};
  EXPECT_THROW(read_pieces(store, std::span(&piece, 1)), tpb::Error);
  const Piece unknown{"v", {0, 4, 0, 6}, 0, 24, got.data()};
  EXPECT_THROW(read_pieces(store, std::span(&unknown, 1)), tpb::Error);
  fs::remove(path);
}

TEST(Safetensors, WrittenTensorsReadBackWithTheirNamesShapesAndValues) {
  const fs::path path = temp_file("rt.safetensors");
  const std::vector<TensorSpec> specs = {{"a.weight", {3, 5}}, {"norm", {7}}};
  write_safetensors(path.string(), specs, [](size_t i, std::vector<float>& out) {
    for (size_t k = 0; k < out.size(); ++k) out[k] = static_cast<float>(i * 100 + k) * 0.5f;
  });
  const TensorStore s = read_safetensors(path.string());
  ASSERT_EQ(s.tensors.size(), 2u);
  EXPECT_EQ(s.tensors.at("a.weight").rows, 3);
  EXPECT_EQ(s.tensors.at("a.weight").cols, 5);
  EXPECT_EQ(s.tensors.at("norm").rows, 1);
  EXPECT_EQ(s.tensors.at("norm").cols, 7);
  std::vector<float> got(15);
  const Piece p{"a.weight", {0, 3, 0, 5}, 0, 15, got.data()};
  read_pieces(s, std::span(&p, 1));
  for (size_t k = 0; k < 15; ++k) EXPECT_EQ(got[k], static_cast<float>(k) * 0.5f);
  // The data section starts 8-byte aligned (the format's recommendation).
  std::ifstream in(path, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
  fs::remove(path);
}

TEST(Safetensors, Bf16TensorsAreWidenedAndBadFilesRefusedByName) {
  const fs::path path = temp_file("bf16.safetensors");
  const std::string header = R"({"x":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}})";
  {
    std::ofstream out(path, std::ios::binary);
    const uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header;
    for (const float v : {1.5f, -2.0f, 0.25f, 3.0f}) {
      const uint16_t b = tpb::float_to_bf16(v);
      out.write(reinterpret_cast<const char*>(&b), 2);
    }
  }
  const TensorStore s = read_safetensors(path.string());
  std::vector<float> got(4);
  const Piece p{"x", {0, 2, 0, 2}, 0, 4, got.data()};
  read_pieces(s, std::span(&p, 1));
  EXPECT_EQ(got, (std::vector<float>{1.5f, -2.0f, 0.25f, 3.0f}));
  fs::resize_file(path, 8 + header.size() + 4);  // data cut short
  try {
    read_safetensors(path.string());
    FAIL() << "no error";
  } catch (const tpb::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor x"), std::string::npos) << e.what();
  }
  fs::remove(path);
}

TEST(HfLlama, QAndKRowsArePermutedFromInterleavedPairsToHalves) {
  // Head dim 4: this model's rows (pair 0: 0, 1; pair 1: 2, 3) are HF's (0, 2; 1, 3).
  EXPECT_EQ(hf_row_of(2, 4), (std::vector<int64_t>{0, 2, 1, 3, 4, 6, 5, 7}));
  std::vector<int64_t> m = hf_row_of(3, 8);
  std::sort(m.begin(), m.end());
  std::vector<int64_t> iota(24);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(m, iota);
  EXPECT_EQ(hf_name("layers.3.feed_forward.w3"), "model.layers.3.mlp.up_proj.weight");
  EXPECT_EQ(hf_name("layers.0.attention_norm.weight"), "model.layers.0.input_layernorm.weight");
  EXPECT_THROW(hf_name("layers.0.nothing"), tpb::Error);
}

}  // namespace
