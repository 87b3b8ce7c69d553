// Tracking allocator: every tensor's storage comes from one, which counts the bytes live
// now and the peak, in total and per category, so memory reports can say exactly which
// bytes a layout holds (parameters vs gradients vs optimizer state vs ...).
//
// One process is one rank, so the process-wide default_allocator() holds that rank's
// counts. It is the one deliberate process-wide object of the project; tests that want
// isolated counts construct their own TrackingAllocator and pass it explicitly.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tpb {

enum class Device { cpu, cuda };
std::string_view device_name(Device d);

enum class MemCategory {
  parameters,
  gradients,
  optimizer_state,
  activations,
  comm_buffers,
  other,
};
inline constexpr int kNumMemCategories = 6;
std::string_view mem_category_name(MemCategory c);

// Storage alignment: a cache line, and enough for any SIMD load.
inline constexpr size_t kAlignment = 64;

struct MemStats {
  std::array<int64_t, kNumMemCategories> current{};  // bytes live now, per category
  std::array<int64_t, kNumMemCategories> peak{};     // high-water mark, per category
  int64_t total_current = 0;
  int64_t total_peak = 0;  // high-water mark of the sum (not the sum of the peaks)
  int64_t num_allocs = 0;

  int64_t current_of(MemCategory c) const { return current[static_cast<int>(c)]; }
  int64_t peak_of(MemCategory c) const { return peak[static_cast<int>(c)]; }
};

class TrackingAllocator {
 public:
  explicit TrackingAllocator(Device device = Device::cpu) : device_(device) {}
  TrackingAllocator(const TrackingAllocator&) = delete;
  TrackingAllocator& operator=(const TrackingAllocator&) = delete;

  // Returns kAlignment-aligned memory of at least `bytes` (never null; 0 bytes gives a
  // valid unique pointer). Throws tpb::Error when the memory cannot be had.
  void* allocate(size_t bytes, MemCategory category);
  void deallocate(void* ptr, size_t bytes, MemCategory category);

  Device device() const { return device_; }
  MemStats stats() const;
  // Sets every peak to the current value, so the next phase's high-water mark can be read.
  void reset_peaks();

 private:
  void add(MemCategory category, int64_t bytes);

  Device device_;
  std::array<std::atomic<int64_t>, kNumMemCategories> current_{};
  std::array<std::atomic<int64_t>, kNumMemCategories> peak_{};
  std::atomic<int64_t> total_current_{0};
  std::atomic<int64_t> total_peak_{0};
  std::atomic<int64_t> num_allocs_{0};
};

// The allocator of this process (= this rank) for a device.
TrackingAllocator& default_allocator(Device device = Device::cpu);

}  // namespace tpb
