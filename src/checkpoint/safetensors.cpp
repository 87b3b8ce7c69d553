#include "checkpoint/safetensors.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"

namespace tpb::ckpt {

namespace {
constexpr uint64_t kMaxHeader = uint64_t{100} << 20;  // the format's own limit
}

TensorStore read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  unsigned char len_bytes[8] = {};
  if (ec || size < 8 || !in.read(reinterpret_cast<char*>(len_bytes), 8))
    throw UsageError(fmt::format("{} is not a safetensors file: shorter than its 8-byte header length", path));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n == 0 || n > kMaxHeader || 8 + n > size)
    throw UsageError(fmt::format("{} is not a safetensors file: header length {} for a file of {} bytes", path, n, size));
  std::string header(static_cast<size_t>(n), '\0');
  in.read(header.data(), static_cast<std::streamsize>(n));
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(header);
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("{}: the safetensors header is not JSON: {}", path, e.what()));
  }
  TensorStore store;
  store.files.push_back({path, size, 0, {}});
  const uint64_t data_start = 8 + n;
  for (const auto& [name, t] : h.items()) {
    if (name == "__metadata__") continue;
    try {
      const std::string dtype = t.at("dtype").get<std::string>();
      StoredTensor st;
      if (dtype == "F32") st.type = StoredType::f32;
      else if (dtype == "BF16") st.type = StoredType::bf16;
      else if (dtype == "F16") st.type = StoredType::f16;
      else throw UsageError(fmt::format("dtype {} (F32, BF16 and F16 are read)", dtype));
      const std::vector<int64_t> shape = t.at("shape").get<std::vector<int64_t>>();
      if (shape.empty() || shape.size() > 2 || shape[0] < 0 || shape.back() < 0)
        throw UsageError(fmt::format("shape of {} dimensions (1 or 2 are read)", shape.size()));
      st.rows = shape.size() == 1 ? 1 : shape[0];
      st.cols = shape.back();
      const std::vector<uint64_t> off = t.at("data_offsets").get<std::vector<uint64_t>>();
      const uint64_t bytes = static_cast<uint64_t>(st.rows * st.cols) * stored_size(st.type);
      if (off.size() != 2 || off[1] < off[0] || off[1] - off[0] != bytes || data_start + off[1] > size)
        throw UsageError(fmt::format("data_offsets [{}, {}) for {} bytes, in a data section of {}",
                                     off.empty() ? 0 : off[0], off.size() < 2 ? 0 : off[1], bytes, size - data_start));
      st.chunks.push_back({0, {0, st.rows, 0, st.cols}, 0, st.rows * st.cols, data_start + off[0]});
      store.tensors.emplace(name, std::move(st));
    } catch (const UsageError& e) {
      throw UsageError(fmt::format("{}: tensor {}: {}", path, name, e.what()));
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("{}: tensor {}: malformed entry: {}", path, name, e.what()));
    }
  }
  return store;
}

void write_safetensors(const std::string& path, const std::vector<TensorSpec>& tensors,
                       const std::function<void(size_t, std::vector<float>&)>& fill,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json h;
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t at = 0;
  std::vector<int64_t> numel;
  for (const TensorSpec& t : tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    numel.push_back(n);
    const uint64_t bytes = static_cast<uint64_t>(n) * sizeof(float);
    h[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {at, at + bytes}}};
    at += bytes;
  }
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  const std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    unsigned char len[8];
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i, n >>= 8) len[i] = static_cast<unsigned char>(n & 0xff);
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    std::vector<float> values;
    for (size_t i = 0; i < tensors.size(); ++i) {
      values.assign(static_cast<size_t>(numel[i]), 0.0f);
      fill(i, values);
      out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * 4));
    }
    out.flush();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw Error(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
    }
  }
  FILE* f = std::fopen(tmp.c_str(), "rb");
  const bool synced = f && ::fsync(fileno(f)) == 0;
  if (f) std::fclose(f);
  if (!synced || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw Error(fmt::format("cannot write {}: {}", path, std::strerror(err)));
  }
}

}  // namespace tpb::ckpt
