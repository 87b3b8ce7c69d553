// Helpers shared by the collective tests of every backend (tests/comm/collective_cases.*,
// collectives_test.cpp, host_staged_test.cpp, nccl_test.cpp): value makers and closed-form
// comparisons, the memories a test buffer can live in (host memory, a fake device, a real
// GPU), and the fake device that runs the host-staged communicator's staging path without
// a GPU.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/bf16.h"
#include "comm/communicator.h"
#include "comm/mpi/host_staged_communicator.h"
#include "device/device.h"

namespace tpb::testing {

// First index where got[i] != want(i), or -1: one line of failure output on 16 Mi values.
template <typename T, typename F>
int64_t first_mismatch(const std::vector<T>& got, F want) {
  for (size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want(i))) return static_cast<int64_t>(i);
  return -1;
}

// First index where |got[i] - want(i)| > tol, or -1. Collective tests check with EXPECT on
// this rather than ASSERT in a loop: a rank that returned early from a failing test would
// leave the others waiting in the next collective instead of failing.
template <typename T, typename F>
int64_t first_far(const std::vector<T>& got, F want, double tol, size_t stride = 1) {
  for (size_t i = 0; i < got.size(); i += stride) {
    const double d = static_cast<double>(got[i]) - static_cast<double>(want(i));
    if (!(d <= tol && -d <= tol)) return static_cast<int64_t>(i);
  }
  return -1;
}

template <typename T, typename F>
std::vector<T> make(size_t n, F value) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = value(i);
  return v;
}

inline std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = float_to_bf16(v[i]);
  return out;
}

inline std::vector<float> from_bf16(const std::vector<uint16_t>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = bf16_to_float(v[i]);
  return out;
}

// Counts with zeros in them: rank r contributes r + 2 elements when r is even, none when odd.
inline std::vector<int64_t> uneven_counts(int n) {
  std::vector<int64_t> counts(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) counts[static_cast<size_t>(r)] = r % 2 == 0 ? r + 2 : 0;
  return counts;
}

// torch.tensor_split sizes: `total` over n ranks, the first (total % n) get one more.
inline std::vector<int64_t> tensor_split_counts(int64_t total, int n) {
  std::vector<int64_t> counts(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) counts[static_cast<size_t>(r)] = total / n + (r < total % n ? 1 : 0);
  return counts;
}

inline int64_t sum_of(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }
inline int64_t sum_before(const std::vector<int64_t>& v, int r) {
  return std::accumulate(v.begin(), v.begin() + r, int64_t{0});
}

// Host memory standing in for device memory: ranges claimed here are "device" buffers to
// the StagingMemory it makes. Counts the calls the communicator makes through it, and
// checks that every staging copy goes between host and device.
class FakeDevice {
 public:
  void claim(const void* p, size_t bytes) {
    if (bytes > 0) ranges_.push_back({static_cast<const char*>(p), bytes});
  }
  template <typename T>
  void claim(std::vector<T>& v) {
    claim(v.data(), v.size() * sizeof(T));
  }
  void unclaim(const void* p) {
    for (size_t i = 0; i < ranges_.size(); ++i)
      if (ranges_[i].first == p) {
        ranges_.erase(ranges_.begin() + static_cast<std::ptrdiff_t>(i));
        return;
      }
  }
  bool contains(const void* p) const {
    const char* c = static_cast<const char*>(p);
    for (const auto& [begin, bytes] : ranges_)
      if (c >= begin && c < begin + bytes) return true;
    return false;
  }
  StagingMemory memory() {
    return StagingMemory{
        [this](const void* p) { return contains(p); },
        [this](void* dst, const void* src, size_t bytes) {
          EXPECT_NE(contains(dst), contains(src)) << "a staging copy is host <-> device";
          ++(contains(dst) ? to_device : to_host);
          std::memcpy(dst, src, bytes);
        },
        [this] { ++syncs; },
    };
  }
  void forget() { ranges_.clear(); }

  int to_host = 0;
  int to_device = 0;
  int syncs = 0;

 private:
  std::vector<std::pair<const char*, size_t>> ranges_;
};

// Where a test's buffers live: allocation, and copies to and from host vectors made by
// the test itself (not by the communicator under test).
class TestMemory {
 public:
  virtual ~TestMemory() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* p, size_t bytes) = 0;
  virtual void upload(void* dst, const void* src, size_t bytes) = 0;    // host -> buffer
  virtual void download(void* dst, const void* src, size_t bytes) = 0;  // buffer -> host
};

// Plain host memory (what the MPI communicator moves).
class HostMemory : public TestMemory {
 public:
  void* allocate(size_t bytes) override { return ::operator new(bytes); }
  void release(void* p, size_t) override { ::operator delete(p); }
  void upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
};

// Host memory that `fake` claims as device memory for as long as it is allocated.
class FakeDeviceMemory : public HostMemory {
 public:
  explicit FakeDeviceMemory(FakeDevice* fake) : fake_(fake) {}
  void* allocate(size_t bytes) override {
    void* p = HostMemory::allocate(bytes);
    fake_->claim(p, bytes);
    return p;
  }
  void release(void* p, size_t bytes) override {
    fake_->unclaim(p);
    HostMemory::release(p, bytes);
  }

 private:
  FakeDevice* fake_;
};

// Memory of the current CUDA device, through device/device.h (copies on the compute
// stream, so a read-back also checks that results are ordered before later work there).
class GpuMemory : public TestMemory {
 public:
  void* allocate(size_t bytes) override { return device::cuda_malloc(bytes); }
  void release(void* p, size_t bytes) override { device::cuda_free(p, bytes); }
  void upload(void* dst, const void* src, size_t bytes) override { device::copy_bytes(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { device::copy_bytes(dst, src, bytes); }
};

// A buffer of n T's in a TestMemory, freed with the scope; host() copies it back.
// Zero elements: data() is null (a rank with nothing to send may pass null).
template <typename T>
class Buffer {
 public:
  Buffer(TestMemory& mem, const std::vector<T>& init) : mem_(&mem), n_(init.size()) {
    if (n_ == 0) return;
    ptr_ = static_cast<T*>(mem_->allocate(bytes()));
    mem_->upload(ptr_, init.data(), bytes());
  }
  Buffer(TestMemory& mem, size_t n, T value) : Buffer(mem, std::vector<T>(n, value)) {}
  ~Buffer() {
    if (ptr_) mem_->release(ptr_, bytes());
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  T* data() const { return ptr_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }
  std::span<T> span() const { return {ptr_, n_}; }
  std::vector<T> host() const {
    std::vector<T> v(n_);
    if (n_ > 0) mem_->download(v.data(), ptr_, bytes());
    return v;
  }
  // Elements [begin, begin + count) copied back.
  std::vector<T> host(size_t begin, size_t count) const {
    std::vector<T> v(count);
    if (count > 0) mem_->download(v.data(), ptr_ + begin, count * sizeof(T));
    return v;
  }

 private:
  TestMemory* mem_;
  size_t n_ = 0;
  T* ptr_ = nullptr;
};

}  // namespace tpb::testing
