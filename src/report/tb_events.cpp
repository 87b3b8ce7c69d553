#include "report/tb_events.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#endif

#include "base/error.h"
#include "report/atomic_file.h"

namespace tpb {

namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // CRC-32C, reflected

std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (c & 1 ? kPoly : 0);
    t[i] = c;
  }
  return t;
}

uint32_t crc32c_table(const unsigned char* p, size_t n, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_table();
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(const unsigned char* p, size_t n, uint32_t crc) {
  uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  auto c32 = static_cast<uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = _mm_crc32_u8(c32, *p);
  return c32;
}
bool has_sse42() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2);
}
#endif

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

template <typename T>
void put_fixed(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian (x86-64, aarch64)
  out.append(b, sizeof(T));
}

void put_bytes(std::string& out, uint32_t field, std::string_view bytes) {
  put_varint(out, (field << 3) | 2);
  put_varint(out, bytes.size());
  out.append(bytes);
}

// One TFRecord around `data`.
void put_record(std::string& out, const std::string& data) {
  const uint64_t len = data.size();
  char lb[8];
  std::memcpy(lb, &len, 8);
  out.append(lb, 8);
  put_fixed(out, masked_crc32c(lb, 8));
  out.append(data);
  put_fixed(out, masked_crc32c(data.data(), data.size()));
}

std::string event_header(double wall_time, int64_t step) {
  std::string e;
  put_varint(e, (1 << 3) | 1);  // wall_time, fixed64
  put_fixed(e, wall_time);
  put_varint(e, (2 << 3) | 0);  // step, varint
  put_varint(e, static_cast<uint64_t>(step));
  return e;
}

}  // namespace

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
#if defined(__x86_64__)
  static const bool sse42 = has_sse42();
  crc = sse42 ? crc32c_sse42(p, n, crc) : crc32c_table(p, n, crc);
#else
  crc = crc32c_table(p, n, crc);
#endif
  return ~crc;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string tb_event_file(const std::vector<TbScalar>& scalars, double wall_time) {
  std::string out;
  std::string first = event_header(wall_time, 0);
  put_bytes(first, 3, "brain.Event:2");
  put_record(out, first);
  for (const TbScalar& s : scalars) {
    std::string value;
    put_bytes(value, 1, s.tag);
    put_varint(value, (2 << 3) | 5);  // simple_value, fixed32
    put_fixed(value, s.value);
    std::string summary;
    put_bytes(summary, 1, value);
    std::string event = event_header(wall_time, s.step);
    put_bytes(event, 5, summary);
    put_record(out, event);
  }
  return out;
}

std::string write_tb_events(const std::string& dir, const std::vector<TbScalar>& scalars) {
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  const std::string path =
      fmt::format("{}/events.out.tfevents.{}.{}.{}.0", dir, static_cast<int64_t>(now), host, ::getpid());
  write_file_atomic(path, tb_event_file(scalars, now));
  return path;
}

}  // namespace tpb
