// The device runtime of a build without the CUDA toolkit: no devices, and every call that
// would need one says so. Host-to-host copies still work (copy_bytes is also used for
// plain memory by callers that do not know where a buffer lives).
#include <cstring>

#include "base/error.h"
#include "device/device.h"

namespace tpb::device {

namespace {
[[noreturn]] void absent(const char* what) {
  throw Error(fmt::format("{}: tpbench was built without CUDA (CMake did not find the CUDA "
                          "toolkit); rebuild on a machine with nvcc to use --device cuda",
                          what));
}
}  // namespace

bool built_with_cuda() { return false; }
int cuda_device_count(std::string* why) {
  if (why) *why = "tpbench was built without CUDA";
  return 0;
}
void use_cuda_device(int) { absent("use_cuda_device"); }
int current_cuda_device() { return -1; }
std::string cuda_device_pci_bus_id() { absent("cuda_device_pci_bus_id"); }
std::string cuda_device_description() { return "none (built without CUDA)"; }
double cuda_dense_peak_flops(bool) { return 0; }
void* cuda_malloc(size_t) { absent("cuda_malloc"); }
void cuda_free(void*, size_t) {}
void cuda_release_cache() {}
int64_t cuda_used_bytes_now() { return 0; }
int64_t cuda_used_bytes_peak() { return 0; }
void sample_cuda_memory() {}
void copy_bytes(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}
bool is_device_pointer(const void*) { return false; }
void zero_bytes(void*, size_t) { absent("zero_bytes on the device"); }
void fill_f32(float*, size_t, float) { absent("fill_f32 on the device"); }
void synchronize() {}

Event::Event() = default;
Event::~Event() = default;
Event::Event(Event&& o) noexcept : handle_(o.handle_) { o.handle_ = nullptr; }
Event& Event::operator=(Event&& o) noexcept {
  std::swap(handle_, o.handle_);
  return *this;
}
void Event::record() { absent("Event::record"); }
int64_t elapsed_ns(const Event&, const Event&) { absent("elapsed_ns"); }

}  // namespace tpb::device
