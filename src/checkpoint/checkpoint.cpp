#include "checkpoint/checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "base/clock.h"
#include "base/error.h"
#include "comm/strings.h"
#include "device/device.h"
#include "report/atomic_file.h"

namespace tpb::ckpt {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kBlockBytes = uint64_t{1} << 20;  // one CRC-32 per MiB of a shard file
constexpr size_t kStagingBytes = size_t{4} << 20;    // host buffer a rank writes through (a multiple of 4096)
constexpr const char* kStatePrefix[] = {"", "optim.exp_avg.", "optim.exp_avg_sq."};

std::string rank_file_name(int rank) { return fmt::format("rank-{:05d}.bin", rank); }

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("cannot open {} to sync it: {}", path, std::strerror(errno)));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error(fmt::format("cannot fsync {}: {}", path, std::strerror(err)));
}

// The parameter pieces inside flat elements [lo, hi): (param index, local begin, local end).
struct FlatPiece {
  size_t param;
  int64_t begin, end;
};
std::vector<FlatPiece> flat_pieces(const ModelParams& p, int64_t lo, int64_t hi) {
  std::vector<FlatPiece> out;
  const std::vector<Param>& all = p.all();
  for (size_t i = 0; i < all.size(); ++i) {
    const int64_t a = all[i].flat_offset, z = a + all[i].value_numel();
    const int64_t x = std::max(a, lo), y = std::min(z, hi);
    if (x < y) out.push_back({i, x - a, y - a});
  }
  return out;
}

// A rank's shard file, written sequentially through an aligned host buffer with O_DIRECT
// where the file system allows it: the bytes go from the buffer to the disk without
// allocating page cache beside the training's own memory (on this project's VMs a buffered
// write from a process holding GBs runs at a quarter of the speed; bench/checkpoint_io.py).
// The CRC-32 of every block is taken from the buffer as it fills.
class ShardWriter {
 public:
  ShardWriter(const std::string& path, uint64_t block_bytes) : path_(path), crc_(block_bytes) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0644);
    if (fd_ < 0 && errno == EINVAL) {  // no O_DIRECT here (tmpfs): buffered
      ::unlink(path.c_str());
      fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd_ < 0) throw Error(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
    buf_ = static_cast<unsigned char*>(std::aligned_alloc(kAlign, kStagingBytes));
    if (!buf_) {
      ::close(fd_);
      throw Error(fmt::format("cannot allocate {} bytes to write {}", kStagingBytes, path));
    }
  }
  ~ShardWriter() {
    std::free(buf_);
    if (fd_ >= 0) ::close(fd_);
  }
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Appends n bytes from host or device memory.
  void append(const void* data, size_t n) {
    const auto* src = static_cast<const unsigned char*>(data);
    while (n > 0) {
      const size_t len = std::min(kStagingBytes - used_, n);
      device::copy_bytes(buf_ + used_, src, len);
      used_ += len;
      src += len;
      n -= len;
      if (used_ == kStagingBytes) flush(used_);
    }
  }
  // Writes what is left, fsyncs and closes; returns the size and the blocks' CRCs.
  std::pair<uint64_t, std::vector<uint32_t>> finish() {
    const size_t aligned = used_ / kAlign * kAlign, tail = used_ - aligned;
    if (aligned > 0) flush(aligned);
    if (tail > 0) {  // O_DIRECT wants whole sectors: the last partial one goes buffered
      clear_direct();
      flush(tail);
    }
    if (::fsync(fd_) != 0) throw Error(fmt::format("cannot fsync {}: {}", path_, std::strerror(errno)));
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) throw Error(fmt::format("cannot close {}: {}", path_, std::strerror(errno)));
    return {written_, crc_.finish()};
  }

 private:
  static constexpr size_t kAlign = 4096;
  // Clears O_DIRECT; false when it was not set.
  bool clear_direct() {
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags < 0) throw Error(fmt::format("cannot read the flags of {}: {}", path_, std::strerror(errno)));
    if (!(flags & O_DIRECT)) return false;
    if (::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) != 0)
      throw Error(fmt::format("cannot change the flags of {}: {}", path_, std::strerror(errno)));
    return true;
  }
  // Writes the buffer's first n bytes; what follows them moves to the front.
  void flush(size_t n) {
    crc_.update(buf_, n);
    for (size_t done = 0; done < n;) {
      const ssize_t put = ::write(fd_, buf_ + done, n - done);
      if (put < 0 && errno == EINTR) continue;
      if (put < 0 && errno == EINVAL && clear_direct()) continue;  // O_DIRECT taken at open, refused here
      if (put <= 0) throw Error(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
      done += static_cast<size_t>(put);
    }
    written_ += n;
    std::memmove(buf_, buf_ + n, used_ - n);
    used_ -= n;
  }

  std::string path_;
  int fd_ = -1;
  unsigned char* buf_ = nullptr;
  size_t used_ = 0;
  uint64_t written_ = 0;
  BlockCrc crc_;
};

// Writes this rank's file; returns its part of the metadata: {"file": {...}, "chunks": {key: [...]}}.
nlohmann::json write_rank_file(const std::string& path, int rank, const ModelParams& p,
                               std::span<const StateRange> owned) {
  ShardWriter out(path, kBlockBytes);
  uint64_t offset = 0;
  nlohmann::json chunks = nlohmann::json::object();
  for (const StateRange& r : owned) {
    TPB_CHECK(r.data.dtype() == DType::f32, "checkpoint ranges are fp32");
    for (const FlatPiece& fp : flat_pieces(p, r.flat_begin, r.flat_begin + r.data.numel())) {
      const Param& prm = p.all()[fp.param];
      // Replicated parameters are identical on every TP rank: TP rank 0's copy is the one referenced.
      if (prm.kind == ShardKind::replicated && p.tp_rank() != 0) continue;
      const Box b = local_box(prm);
      const uint64_t at = offset + static_cast<uint64_t>(prm.flat_offset + fp.begin - r.flat_begin) * sizeof(float);
      chunks[state_key(r.kind, prm.name)].push_back(
          nlohmann::json::array({rank, b.row0, b.rows, b.col0, b.cols, fp.begin, fp.end, at}));
    }
    out.append(r.data.raw(), r.data.nbytes());
    offset += r.data.nbytes();
  }
  auto [bytes, crcs] = out.finish();
  TPB_CHECK(bytes == offset, "{}: wrote {} bytes of {}", path, bytes, offset);
  return {{"file", {{"name", fs::path(path).filename().string()}, {"rank", rank}, {"tp_rank", p.tp_rank()},
                    {"bytes", bytes}, {"block_crc32", std::move(crcs)}}},
          {"chunks", std::move(chunks)}};
}

void maybe_fault(const char* point) {
  const char* f = std::getenv(kFaultEnv);
  if (f && std::string(f) == point) ::raise(SIGKILL);
}

// Rank 0: metadata.json into the temporary directory, then the commit.
void commit(const std::string& tmp, const std::string& final_dir, const std::string& save_dir,
            const nlohmann::json& meta) {
  maybe_fault("checkpoint-kill-before-metadata");
  write_file_atomic(tmp + "/metadata.json", meta.dump(1) + "\n");
  fsync_path(tmp);
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_NOREPLACE) != 0) {
    // NFS and CephFS take no rename flags: a plain rename, which still fails onto a
    // non-empty directory (and step-N was checked to be absent).
    if ((errno != EINVAL && errno != ENOSYS) || std::rename(tmp.c_str(), final_dir.c_str()) != 0)
      throw Error(fmt::format("cannot rename {} to {}: {}", tmp, final_dir, std::strerror(errno)));
  }
  fsync_path(save_dir);
  write_file_atomic(save_dir + "/latest", fs::path(final_dir).filename().string() + "\n");
  fsync_path(save_dir);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string state_key(StateKind kind, const std::string& param) {
  return kStatePrefix[static_cast<int>(kind)] + param;
}

std::string step_dir_name(int64_t step) { return fmt::format("step-{:08d}", step); }

Box local_box(const Param& p) {
  switch (p.kind) {
    case ShardKind::rows: return {p.shard.offset, p.shard.size, 0, p.full_cols};
    case ShardKind::cols: return {0, p.full_rows, p.shard.offset, p.shard.size};
    case ShardKind::replicated: break;
  }
  return {0, p.full_rows, 0, p.full_cols};
}

SaveResult save_checkpoint(Communicator& world, const ModelParams& p, std::span<const StateRange> owned,
                           const SaveRequest& req) {
  const std::string final_dir = req.save_dir + "/" + step_dir_name(req.step);
  // Rank 0 makes the temporary directory; every rank learns its name (or why there is none).
  std::string tmp, error;
  if (world.rank() == 0) {
    try {
      std::error_code ec;
      fs::create_directories(req.save_dir, ec);
      if (ec) throw Error(fmt::format("cannot create {}: {}", req.save_dir, ec.message()));
      if (fs::exists(final_dir)) throw Error(fmt::format("{} exists already (a run never overwrites another's)", final_dir));
      tmp = fmt::format("{}/.tmp-{}-{}-{}", req.save_dir, step_dir_name(req.step), ::getpid(), now_ns());
      if (!fs::create_directory(tmp, ec)) throw Error(fmt::format("cannot create {}: {}", tmp, ec.message()));
    } catch (const Error& e) {
      error = e.what();
    }
  }
  error = broadcast_string(world, error);
  if (!error.empty()) throw Error(error);
  tmp = broadcast_string(world, tmp);

  SaveResult result;
  const int64_t t0 = now_ns();
  nlohmann::json mine;
  try {
    mine = write_rank_file(tmp + "/" + rank_file_name(world.rank()), world.rank(), p, owned);
    result.rank_bytes = mine["file"]["bytes"].get<uint64_t>();
  } catch (const Error& e) {
    mine = {{"error", fmt::format("rank {}: {}", world.rank(), e.what())}};
  }
  double seconds = seconds_between(t0, now_ns());
  world.all_reduce(&seconds, &seconds, 1, DType::f64, ReduceOp::max);
  result.seconds = seconds;
  const std::vector<std::string> parts = all_gather_strings(world, mine.dump());

  if (world.rank() == 0) {
    try {
      nlohmann::json files = nlohmann::json::array(), tensors = nlohmann::json::object();
      for (const std::string& s : parts) {
        const nlohmann::json part = nlohmann::json::parse(s);
        if (part.contains("error")) throw Error(part["error"].get<std::string>());
        files.push_back(part["file"]);
        result.total_bytes += part["file"]["bytes"].get<uint64_t>();
        for (const auto& [key, list] : part["chunks"].items())
          for (const auto& c : list) tensors[key]["chunks"].push_back(c);
      }
      for (const Param& prm : p.all())
        for (const StateKind k : {StateKind::param, StateKind::exp_avg, StateKind::exp_avg_sq}) {
          nlohmann::json& t = tensors[state_key(k, prm.name)];
          t["shape"] = prm.kind == ShardKind::replicated ? nlohmann::json::array({prm.full_cols})
                                                          : nlohmann::json::array({prm.full_rows, prm.full_cols});
          t["dtype"] = "F32";
        }
      const nlohmann::json meta = {
          {"format", kFormat},
          {"step", req.step},
          {"layout", {{"world", p.dims().world()}, {"tp", p.dims().tp()}, {"dp", p.dims().dp()}, {"sp", p.dims().sp()}}},
          {"resume", req.resume},
          {"config", req.config},
          {"rng", "none carried: weights and data are counter-based functions of (seed, name) and (data seed, "
                  "step, row), and the model has no dropout"},
          {"block_bytes", kBlockBytes},
          {"chunk_fields", {"file", "row0", "rows", "col0", "cols", "begin", "end", "offset"}},
          {"files", files},
          {"tensors", tensors}};
      commit(tmp, final_dir, req.save_dir, meta);
    } catch (const Error& e) {
      error = e.what();
      std::error_code ec;
      fs::remove_all(tmp, ec);  // only this checkpoint's files
    }
  }
  error = broadcast_string(world, error);
  if (!error.empty()) throw Error(error);
  result.dir = final_dir;
  return result;
}

Checkpoint open_checkpoint(const std::string& path) {
  Checkpoint c;
  c.dir = path;
  if (!fs::exists(path + "/metadata.json")) {
    if (!fs::exists(path + "/latest"))
      throw UsageError(fmt::format("{} is not a checkpoint: it has neither metadata.json nor latest", path));
    std::string name = read_text(path + "/latest");
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
    c.dir = path + "/" + name;
    if (name.empty() || name.find('/') != std::string::npos || !fs::exists(c.dir + "/metadata.json"))
      throw UsageError(fmt::format("{}/latest names '{}', which is not a checkpoint directory with metadata.json",
                                   path, name));
  }
  const std::string meta_path = c.dir + "/metadata.json";
  try {
    c.meta = nlohmann::json::parse(read_text(meta_path));
    if (c.meta.value("format", "") != kFormat)
      throw UsageError(fmt::format("format '{}', expected '{}'", c.meta.value("format", ""), kFormat));
    c.step = c.meta.at("step").get<int64_t>();
    const uint64_t block = c.meta.at("block_bytes").get<uint64_t>();
    for (const nlohmann::json& f : c.meta.at("files")) {
      StoredFile sf;
      sf.path = c.dir + "/" + f.at("name").get<std::string>();
      sf.bytes = f.at("bytes").get<uint64_t>();
      sf.block_bytes = block;
      sf.block_crc = f.at("block_crc32").get<std::vector<uint32_t>>();
      TPB_CHECK(f.at("rank").get<size_t>() == c.store.files.size(), "files out of rank order");
      c.store.files.push_back(std::move(sf));
    }
    for (const auto& [key, t] : c.meta.at("tensors").items()) {
      StoredTensor st;
      const std::vector<int64_t> shape = t.at("shape").get<std::vector<int64_t>>();
      TPB_CHECK(shape.size() == 1 || shape.size() == 2, "{}: shape of {} dims", key, shape.size());
      st.rows = shape.size() == 1 ? 1 : shape[0];
      st.cols = shape.back();
      for (const nlohmann::json& a : t.value("chunks", nlohmann::json::array())) {
        const std::vector<int64_t> v = a.get<std::vector<int64_t>>();
        TPB_CHECK(v.size() == 8 && v[0] >= 0 && v[0] < static_cast<int64_t>(c.store.files.size()),
                  "{}: a chunk of {} fields naming file {}", key, v.size(), v.empty() ? -1 : v[0]);
        st.chunks.push_back({static_cast<int>(v[0]), {v[1], v[2], v[3], v[4]}, v[5], v[6], static_cast<uint64_t>(v[7])});
      }
      c.store.tensors.emplace(key, std::move(st));
    }
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("checkpoint {}: {}", meta_path, e.what()));
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("checkpoint {} is malformed: {}", meta_path, e.what()));
  }
  for (const StoredFile& f : c.store.files) {
    std::error_code ec;
    const uintmax_t size = fs::file_size(f.path, ec);
    if (ec) throw UsageError(fmt::format("checkpoint {}: shard file {} is missing: {}", c.dir, f.path, ec.message()));
    if (size != f.bytes)
      throw UsageError(fmt::format("checkpoint {}: shard file {} has {} bytes, the metadata records {} (truncated?)",
                                   c.dir, f.path, size, f.bytes));
  }
  return c;
}

void check_model_matches(const Checkpoint& c, const ModelParams& p) {
  std::set<std::string> names;
  for (const Param& prm : p.all()) {
    names.insert(prm.name);
    const auto it = c.store.tensors.find(prm.name);
    if (it == c.store.tensors.end())
      throw UsageError(fmt::format("checkpoint {} has no tensor {}: it is of another model", c.dir, prm.name));
    const StoredTensor& t = it->second;
    const int64_t rows = prm.kind == ShardKind::replicated ? 1 : prm.full_rows;
    if (t.rows != rows || t.cols != prm.full_cols)
      throw UsageError(fmt::format("checkpoint {}: tensor {} is {} x {}, this model's is {} x {} (another model shape)",
                                   c.dir, prm.name, t.rows, t.cols, rows, prm.full_cols));
  }
  for (const auto& [key, t] : c.store.tensors)
    if (!key.starts_with("optim.") && !names.count(key))
      throw UsageError(fmt::format("checkpoint {} holds tensor {}, which this model does not have (another model "
                                   "shape)", c.dir, key));
}

LoadResult load_state(Communicator& world, const TensorStore& store, const ModelParams& p,
                      std::span<const StateRange> held) {
  LoadResult result;
  const int64_t t0 = now_ns();
  std::string error;
  try {
    std::vector<Tensor> hosts;
    std::vector<Piece> pieces;
    for (const StateRange& r : held) {
      TPB_CHECK(r.data.dtype() == DType::f32, "checkpoint ranges are fp32");
      hosts.push_back(r.data.device() == Device::cpu ? r.data : Tensor::zeros(r.data.shape(), MemCategory::other));
      float* base = hosts.back().f32();
      for (const FlatPiece& fp : flat_pieces(p, r.flat_begin, r.flat_begin + r.data.numel())) {
        const Param& prm = p.all()[fp.param];
        pieces.push_back({state_key(r.kind, prm.name), local_box(prm), fp.begin, fp.end,
                          base + (prm.flat_offset + fp.begin - r.flat_begin)});
      }
    }
    result.stats = read_pieces(store, pieces);
    for (size_t i = 0; i < held.size(); ++i)
      if (held[i].data.device() != Device::cpu) Tensor(held[i].data).copy_from(hosts[i]);
  } catch (const std::exception& e) {
    error = fmt::format("rank {}: {}", world.rank(), e.what());
  }
  result.error = agree_on_error(world, error);
  double seconds = seconds_between(t0, now_ns());
  world.all_reduce(&seconds, &seconds, 1, DType::f64, ReduceOp::max);
  result.seconds = seconds;
  return result;
}

}  // namespace tpb::ckpt
