#include "checkpoint/tensor_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "base/bf16.h"
#include "base/error.h"

namespace tpb::ckpt {

size_t stored_size(StoredType t) { return t == StoredType::f32 ? 4 : 2; }

std::string stored_type_name(StoredType t) {
  switch (t) {
    case StoredType::f32: return "F32";
    case StoredType::bf16: return "BF16";
    case StoredType::f16: return "F16";
  }
  return "?";
}

void BlockCrc::update(const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (bytes > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(bytes, block_bytes_ - in_block_));
    crc_ = static_cast<uint32_t>(crc32_z(crc_, p, n));
    p += n;
    bytes -= n;
    in_block_ += n;
    if (in_block_ == block_bytes_) {
      blocks_.push_back(crc_);
      crc_ = 0;
      in_block_ = 0;
    }
  }
}

std::vector<uint32_t> BlockCrc::finish() {
  if (in_block_ > 0) blocks_.push_back(crc_);
  in_block_ = 0;
  crc_ = 0;
  return std::move(blocks_);
}

namespace {

// n consecutive stored elements at byte `off` of file `file`, to dst.
struct Segment {
  int file;
  uint64_t off;
  int64_t n;
  StoredType type;
  float* dst;
  const std::string* key;  // the tensor, for messages
  uint64_t end(size_t es) const { return off + static_cast<uint64_t>(n) * es; }
};

float f16_to_float(uint16_t h) {
  const int sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31) v = mant ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(mant | 0x400), exp - 25);
  return sign ? -v : v;
}

void convert(float* dst, const unsigned char* src, int64_t n, StoredType type) {
  if (type == StoredType::f32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    uint16_t bits;
    std::memcpy(&bits, src + 2 * i, 2);
    dst[i] = type == StoredType::bf16 ? bf16_to_float(bits) : f16_to_float(bits);
  }
}

// The segments of one piece, merged where consecutive rows are contiguous in the file and
// in the destination.
void plan_piece(const TensorStore& store, const Piece& p, std::vector<Segment>& out) {
  const auto it = store.tensors.find(p.key);
  if (it == store.tensors.end()) throw Error(fmt::format("tensor {} is not in the checkpoint", p.key));
  const StoredTensor& t = it->second;
  const Box& b = p.box;
  TPB_CHECK(b.row0 >= 0 && b.col0 >= 0 && b.row0 + b.rows <= t.rows && b.col0 + b.cols <= t.cols && 0 <= p.begin &&
                p.begin <= p.end && p.end <= b.numel(),
            "tensor {}: piece rows [{}, +{}) cols [{}, +{}) elements [{}, {}) outside its shape {} x {}", p.key,
            b.row0, b.rows, b.col0, b.cols, p.begin, p.end, t.rows, t.cols);
  if (p.begin == p.end) return;
  const size_t es = stored_size(t.type);
  int64_t covered = 0;
  for (int64_t lr = p.begin / b.cols; lr <= (p.end - 1) / b.cols; ++lr) {
    const int64_t c0 = std::max<int64_t>(p.begin - lr * b.cols, 0), c1 = std::min(p.end - lr * b.cols, b.cols);
    const int64_t g0 = b.col0 + c0, g1 = b.col0 + c1;  // global columns wanted in this row
    float* dst_row = p.dst + (lr * b.cols + c0 - p.begin);
    const int64_t row = b.row0 + lr;
    const int64_t stored_row = t.row_map.empty() ? row : t.row_map[static_cast<size_t>(row)];
    for (const Chunk& c : t.chunks) {
      const Box& cb = c.box;
      if (stored_row < cb.row0 || stored_row >= cb.row0 + cb.rows) continue;
      const int64_t orow = stored_row - cb.row0;
      const int64_t k0 = std::max<int64_t>(c.begin - orow * cb.cols, 0), k1 = std::min(c.end - orow * cb.cols, cb.cols);
      const int64_t x0 = std::max(g0, cb.col0 + k0), x1 = std::min(g1, cb.col0 + k1);
      if (x0 >= x1) continue;
      Segment s{c.file, c.offset + static_cast<uint64_t>(orow * cb.cols + (x0 - cb.col0) - c.begin) * es, x1 - x0,
                t.type, dst_row + (x0 - g0), &p.key};
      if (!out.empty()) {
        Segment& last = out.back();
        if (last.file == s.file && last.type == s.type && last.end(es) == s.off && last.dst + last.n == s.dst) {
          last.n += s.n;
          covered += s.n;
          continue;
        }
      }
      out.push_back(s);
      covered += s.n;
    }
  }
  if (covered != p.end - p.begin)
    throw Error(fmt::format("tensor {}: the checkpoint's chunks cover {} of the {} elements wanted (rows [{}, +{}), "
                            "cols [{}, +{}), elements [{}, {})): its metadata is inconsistent",
                            p.key, covered, p.end - p.begin, b.row0, b.rows, b.col0, b.cols, p.begin, p.end));
}

class InputFile {
 public:
  explicit InputFile(const StoredFile& f) : f_(f) {
    fd_ = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw Error(fmt::format("cannot open {}: {}", f.path, std::strerror(errno)));
    struct stat st {};
    if (fstat(fd_, &st) != 0 || static_cast<uint64_t>(st.st_size) != f.bytes) {
      const long long size = static_cast<long long>(st.st_size);
      ::close(fd_);
      throw Error(fmt::format("{} has {} bytes, the checkpoint records {}: truncated or replaced", f.path, size,
                              f.bytes));
    }
  }
  ~InputFile() { ::close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  void read(uint64_t off, unsigned char* buf, uint64_t n) const {
    while (n > 0) {
      const ssize_t got = ::pread(fd_, buf, static_cast<size_t>(std::min<uint64_t>(n, 1u << 30)),
                                  static_cast<off_t>(off));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        throw Error(fmt::format("cannot read {} bytes at {} of {}: {}", n, off, f_.path,
                                got == 0 ? "end of file" : std::strerror(errno)));
      buf += got;
      off += static_cast<uint64_t>(got);
      n -= static_cast<uint64_t>(got);
    }
  }

 private:
  const StoredFile& f_;
  int fd_ = -1;
};

constexpr uint64_t kMaxRead = uint64_t{64} << 20;  // bytes of one read (the staging buffer)

}  // namespace

ReadStats read_pieces(const TensorStore& store, std::span<const Piece> pieces) {
  std::vector<Segment> segments;
  for (const Piece& p : pieces) plan_piece(store, p, segments);
  ReadStats stats;
  std::vector<unsigned char> buf;
  for (int fi = 0; fi < static_cast<int>(store.files.size()); ++fi) {
    std::vector<Segment> segs;
    for (const Segment& s : segments)
      if (s.file == fi) segs.push_back(s);
    if (segs.empty()) continue;
    std::sort(segs.begin(), segs.end(), [](const Segment& a, const Segment& b) { return a.off < b.off; });
    const StoredFile& f = store.files[static_cast<size_t>(fi)];
    const uint64_t block = f.block_bytes;
    const size_t nblocks = block ? static_cast<size_t>((f.bytes + block - 1) / block) : 0;
    TPB_CHECK(!block || f.block_crc.size() == nblocks, "{}: {} block checksums for {} blocks", f.path,
              f.block_crc.size(), nblocks);
    // The reads: the segments' byte ranges widened to whole blocks, merged, at most kMaxRead each.
    std::vector<std::pair<uint64_t, uint64_t>> reads;
    for (const Segment& s : segs) {
      const size_t es = stored_size(s.type);
      uint64_t lo = s.off, hi = s.end(es);
      TPB_CHECK(hi <= f.bytes, "{}: a chunk ends at byte {}, past the file's {}", f.path, hi, f.bytes);
      if (block) lo = lo / block * block, hi = std::min(f.bytes, (hi + block - 1) / block * block);
      if (!reads.empty() && lo <= reads.back().second) reads.back().second = std::max(reads.back().second, hi);
      else reads.emplace_back(lo, hi);
    }
    // Cut at whole blocks, or (no blocks) at a whole element of the segment the cut falls in:
    // a file may mix 2- and 4-byte tensors, so a cut kMaxRead from the start need not be one.
    std::vector<std::pair<uint64_t, uint64_t>> capped;
    const uint64_t step = block ? std::max<uint64_t>(block, kMaxRead / block * block) : kMaxRead;
    size_t seg = 0;
    for (const auto& [lo, hi] : reads)
      for (uint64_t a = lo; a < hi;) {
        uint64_t z = std::min(hi, a + step);
        if (!block && z < hi) {
          while (seg < segs.size() && segs[seg].end(stored_size(segs[seg].type)) <= z) ++seg;
          if (seg < segs.size() && segs[seg].off < z) {
            const size_t es = stored_size(segs[seg].type);
            z = std::max(a + es, segs[seg].off + (z - segs[seg].off) / es * es);
          }
        }
        capped.emplace_back(a, z);
        a = z;
      }
    const InputFile in(f);
    size_t first = 0;
    for (const auto& [lo, hi] : capped) {
      buf.resize(static_cast<size_t>(hi - lo));
      in.read(lo, buf.data(), hi - lo);
      stats.bytes_read += hi - lo;
      while (first < segs.size() && segs[first].end(stored_size(segs[first].type)) <= lo) ++first;
      if (block)
        for (uint64_t a = lo; a < hi; a += block) {
          const uint64_t n = std::min(block, hi - a);
          const uint32_t crc = static_cast<uint32_t>(crc32_z(0, buf.data() + (a - lo), static_cast<size_t>(n)));
          const uint32_t want = f.block_crc[static_cast<size_t>(a / block)];
          if (crc == want) continue;
          std::vector<std::string> wanted;  // the tensors this rank wanted from the block
          for (size_t i = first; i < segs.size() && segs[i].off < a + n; ++i)
            if (segs[i].end(stored_size(segs[i].type)) > a &&
                std::find(wanted.begin(), wanted.end(), *segs[i].key) == wanted.end())
              wanted.push_back(*segs[i].key);
          std::string tensors;
          for (size_t i = 0; i < std::min<size_t>(wanted.size(), 3); ++i) tensors += (i ? ", " : "") + wanted[i];
          if (wanted.size() > 3) tensors += fmt::format(" and {} more", wanted.size() - 3);
          throw Error(fmt::format("{}: block {} (bytes [{}, {}), holding {}) has CRC-32 {:08x}, the checkpoint "
                                  "records {:08x}: the file is corrupted",
                                  f.path, a / block, a, a + n, tensors, crc, want));
        }
      for (size_t i = first; i < segs.size() && segs[i].off < hi; ++i) {
        const Segment& s = segs[i];
        const size_t es = stored_size(s.type);
        const uint64_t a = std::max(lo, s.off), z = std::min(hi, s.end(es));
        if (a >= z) continue;
        const int64_t skip = static_cast<int64_t>((a - s.off) / es), n = static_cast<int64_t>((z - a) / es);
        convert(s.dst + skip, buf.data() + (a - lo), n, s.type);
        stats.bytes_used += z - a;
      }
    }
  }
  return stats;
}

}  // namespace tpb::ckpt
