// The device runtime on CUDA: device choice, a caching allocator, copies and events, all on
// the compute stream of cuda_context.h.
#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "base/error.h"
#include "device/cuda/cuda_context.h"
#include "device/device.h"

namespace tpb::device {

using cuda::check;
using cuda::compute_stream;

bool built_with_cuda() { return true; }

int cuda_device_count(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" state for later queries
    if (why) *why = fmt::format("cudaGetDeviceCount: {} ({})", cudaGetErrorName(e), cudaGetErrorString(e));
    return 0;
  }
  if (n == 0 && why) *why = "cudaGetDeviceCount found no GPU";
  return n;
}

void use_cuda_device(int index) {
  std::string why;
  const int n = cuda_device_count(&why);
  if (n == 0) throw UsageError(fmt::format("--device cuda: no CUDA device ({})", why));
  TPB_CHECK(index >= 0 && index < n, "CUDA device {} requested, {} present", index, n);
  check(cudaSetDevice(index), "cudaSetDevice");
  (void)compute_stream();
}

int current_cuda_device() {
  int d = -1;
  return cudaGetDevice(&d) == cudaSuccess ? d : -1;
}

std::string cuda_device_pci_bus_id() {
  char id[32] = {};
  check(cudaDeviceGetPCIBusId(id, static_cast<int>(sizeof(id)), current_cuda_device()), "cudaDeviceGetPCIBusId");
  return id;
}

std::string cuda_device_description() {
  const int d = current_cuda_device();
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, d), "cudaGetDeviceProperties");
  return fmt::format("{}, sm_{}{}, {} SMs, {:.1f} GiB", p.name, p.major, p.minor,
                     p.multiProcessorCount, static_cast<double>(p.totalGlobalMem) / (1 << 30));
}

double cuda_dense_peak_flops(bool bf16) {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, current_cuda_device()) != cudaSuccess) return 0;
  const std::string name = p.name;
  const bool pcie = name.find("PCIe") != std::string::npos;
  // Vendor datasheet dense numbers (no sparsity). fp32 = the non-tensor-core fp32 rate.
  struct Row { const char* model; double bf16_sxm, bf16_pcie, fp32_sxm, fp32_pcie; };
  static const Row rows[] = {
      {"H200", 989.4e12, 835.5e12, 66.9e12, 60.0e12},
      {"H100", 989.4e12, 756.0e12, 66.9e12, 51.2e12},
      {"A100", 312.0e12, 312.0e12, 19.5e12, 19.5e12},
  };
  for (const Row& r : rows)
    if (name.find(r.model) != std::string::npos)
      return bf16 ? (pcie ? r.bf16_pcie : r.bf16_sxm) : (pcie ? r.fp32_pcie : r.fp32_sxm);
  return 0;
}

// ---- caching allocator ----
namespace {

struct Cache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free;  // rounded size -> blocks
  int64_t peak_used = 0;
};
Cache& cache() {
  static Cache c;
  return c;
}

// 512-byte granules below 1 MiB, 2 MiB above: few distinct sizes, little waste.
size_t round_size(size_t bytes) {
  const size_t g = bytes < (1u << 20) ? 512 : (2u << 20);
  return std::max<size_t>(g, (bytes + g - 1) / g * g);
}

}  // namespace

void* cuda_malloc(size_t bytes) {
  const size_t size = round_size(bytes);
  Cache& c = cache();
  {
    std::lock_guard lock(c.mu);
    auto it = c.free.find(size);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      return p;
    }
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, size);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    cuda_release_cache();
    e = cudaMalloc(&p, size);
  }
  if (e != cudaSuccess) {
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw Error(fmt::format("out of device memory allocating {} bytes ({:.2f} GiB free of {:.2f}): {}",
                            bytes, static_cast<double>(free_b) / (1 << 30),
                            static_cast<double>(total_b) / (1 << 30), cudaGetErrorString(e)));
  }
  return p;
}

void cuda_release_cache() {
  synchronize();  // blocks in the cache may still be in use by queued kernels
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  for (auto& [s, blocks] : c.free)
    for (void* b : blocks) cudaFree(b);
  c.free.clear();
}

void cuda_free(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  // Stream-ordered reuse: every user of the block is on the compute stream (or ordered
  // against it by events), so a later kernel that gets this block runs after them.
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  c.free[round_size(bytes)].push_back(ptr);
}

int64_t cuda_used_bytes_now() {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return 0;
  return static_cast<int64_t>(total_b - free_b);
}

void sample_cuda_memory() {
  const int64_t now = cuda_used_bytes_now();
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  c.peak_used = std::max(c.peak_used, now);
}

int64_t cuda_used_bytes_peak() {
  sample_cuda_memory();
  std::lock_guard lock(cache().mu);
  return cache().peak_used;
}

// ---- copies ----
bool is_device_pointer(const void* ptr) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, ptr) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

void copy_bytes(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  const bool dst_dev = is_device_pointer(dst), src_dev = is_device_pointer(src);
  if (!dst_dev && !src_dev) {  // host to host: no CUDA call (works without a driver)
    std::memcpy(dst, src, bytes);
    return;
  }
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, compute_stream()), "cudaMemcpyAsync");
  // A copy into host memory must have landed when this returns.
  if (!dst_dev) check(cudaStreamSynchronize(compute_stream()), "copy to host");
}

void zero_bytes(void* dst, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemsetAsync(dst, 0, bytes, compute_stream()), "cudaMemsetAsync");
}

void synchronize() {
  if (!cuda::compute_stream_created()) return;  // nothing was ever queued (a CPU run)
  check(cudaStreamSynchronize(compute_stream()), "cudaStreamSynchronize");
}

// ---- events ----
Event::Event() {
  cudaEvent_t e = nullptr;
  check(cudaEventCreate(&e), "cudaEventCreate");
  handle_ = e;
}
Event::~Event() {
  if (handle_) cudaEventDestroy(static_cast<cudaEvent_t>(handle_));
}
Event::Event(Event&& o) noexcept : handle_(o.handle_) { o.handle_ = nullptr; }
Event& Event::operator=(Event&& o) noexcept {
  std::swap(handle_, o.handle_);
  return *this;
}
void Event::record() {
  check(cudaEventRecord(static_cast<cudaEvent_t>(handle_), compute_stream()), "cudaEventRecord");
}
int64_t elapsed_ns(const Event& a, const Event& b) {
  check(cudaEventSynchronize(static_cast<cudaEvent_t>(b.handle())), "cudaEventSynchronize");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(a.handle()), static_cast<cudaEvent_t>(b.handle())),
        "cudaEventElapsedTime");
  return static_cast<int64_t>(static_cast<double>(ms) * 1e6);
}

}  // namespace tpb::device
