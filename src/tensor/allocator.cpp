#include "tensor/allocator.h"

#include <cstdlib>

#include "base/error.h"
#include "device/device.h"

namespace tpb {

std::string_view device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

std::string_view mem_category_name(MemCategory c) {
  switch (c) {
    case MemCategory::parameters: return "parameters";
    case MemCategory::gradients: return "gradients";
    case MemCategory::optimizer_state: return "optimizer_state";
    case MemCategory::activations: return "activations";
    case MemCategory::comm_buffers: return "comm_buffers";
    case MemCategory::other: return "other";
  }
  return "?";
}

namespace {

void atomic_max(std::atomic<int64_t>& target, int64_t value) {
  int64_t prev = target.load(std::memory_order_relaxed);
  while (prev < value && !target.compare_exchange_weak(prev, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

void TrackingAllocator::add(MemCategory category, int64_t bytes) {
  const int c = static_cast<int>(category);
  const int64_t cur = current_[c].fetch_add(bytes, std::memory_order_relaxed) + bytes;
  const int64_t tot = total_current_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (bytes > 0) {
    atomic_max(peak_[c], cur);
    atomic_max(total_peak_, tot);
  }
}

namespace {

void* host_allocate(size_t bytes, MemCategory category) {
  // aligned_alloc wants a multiple of the alignment; round up (and 0 -> one line).
  const size_t rounded = bytes == 0 ? kAlignment : (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  TPB_CHECK(p != nullptr, "out of memory allocating {} bytes of {}", bytes,
            mem_category_name(category));
  return p;
}

}  // namespace

void* TrackingAllocator::allocate(size_t bytes, MemCategory category) {
  // The device's allocator throws naming the sizes when it cannot.
  void* p = device_ == Device::cuda ? device::cuda_malloc(bytes) : host_allocate(bytes, category);
  add(category, static_cast<int64_t>(bytes));
  num_allocs_.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void TrackingAllocator::deallocate(void* ptr, size_t bytes, MemCategory category) {
  if (ptr == nullptr) return;
  if (device_ == Device::cuda)
    device::cuda_free(ptr, bytes);
  else
    std::free(ptr);
  add(category, -static_cast<int64_t>(bytes));
}

MemStats TrackingAllocator::stats() const {
  MemStats s;
  for (int c = 0; c < kNumMemCategories; ++c) {
    s.current[c] = current_[c].load(std::memory_order_relaxed);
    s.peak[c] = peak_[c].load(std::memory_order_relaxed);
  }
  s.total_current = total_current_.load(std::memory_order_relaxed);
  s.total_peak = total_peak_.load(std::memory_order_relaxed);
  s.num_allocs = num_allocs_.load(std::memory_order_relaxed);
  return s;
}

void TrackingAllocator::reset_peaks() {
  for (int c = 0; c < kNumMemCategories; ++c)
    peak_[c].store(current_[c].load(std::memory_order_relaxed), std::memory_order_relaxed);
  total_peak_.store(total_current_.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

TrackingAllocator& default_allocator(Device device) {
  static TrackingAllocator cpu(Device::cpu);
  static TrackingAllocator cuda(Device::cuda);
  return device == Device::cpu ? cpu : cuda;
}

}  // namespace tpb
