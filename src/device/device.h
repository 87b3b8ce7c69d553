// The accelerator runtime as the rest of tpbench sees it: which devices exist, device
// memory, copies, one compute stream, and events for timing. Two implementations, chosen by
// CMake: device/cuda/ (CUDA runtime) when the toolkit is found, device/none/ otherwise,
// whose functions say plainly that this build has no CUDA. Nothing here includes a CUDA
// header, so every library can call it.
//
// Stream model: every kernel, cuBLAS call and copy of this process goes on ONE compute
// stream (compute_stream() in device/cuda/cuda_context.h), so the order of the host calls
// is the order on the GPU and no call here synchronises unless its name says so. The NCCL
// communicator runs collectives on a stream of its own and orders it against this one with
// events.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tpb::device {

// Whether this binary has the CUDA backend compiled in.
bool built_with_cuda();

// Number of CUDA devices this process can use; 0 when built without CUDA, when there is
// no driver or no GPU. `why`, when given, receives the reason for a 0.
int cuda_device_count(std::string* why = nullptr);

// Selects the device of this process (cudaSetDevice) and creates its compute stream and
// cuBLAS handle lazily. Throws naming the index and the count when out of range.
void use_cuda_device(int index);
int current_cuda_device();

// The current device's PCI bus id ("0000:3b:00.0"): the same GPU gives the same id in every
// process, whatever CUDA_VISIBLE_DEVICES numbers it as.
std::string cuda_device_pci_bus_id();
// "NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB" of the current device.
std::string cuda_device_description();
// Dense bf16 / fp32 tensor-core peak in FLOP/s of the current device from its model name
// (the vendor's dense numbers, no sparsity); 0 when the model is not in the table.
double cuda_dense_peak_flops(bool bf16);

// Device memory straight from the CUDA allocator, cached: freed blocks are kept per size
// and handed out again (stream-ordered reuse on the one compute stream), so tensors made
// and dropped inside a training step cost no cudaMalloc/cudaFree (which would synchronise).
void* cuda_malloc(size_t bytes);
void cuda_free(void* ptr, size_t bytes);
// Waits for the compute stream, then gives every cached free block back to the driver.
void cuda_release_cache();
// Bytes the device reports in use (total - free) at its highest sampled point, and now.
int64_t cuda_used_bytes_now();
int64_t cuda_used_bytes_peak();
// Samples cuda_used_bytes_now() into the peak (called after every step).
void sample_cuda_memory();

// Copies of `bytes` between any two pointers (host or device; direction from the pointers),
// ordered on the compute stream. The host side may be pageable: a copy to the host returns
// once the data is there.
void copy_bytes(void* dst, const void* src, size_t bytes);
// Whether ptr is device memory (false for host memory, and always without CUDA).
bool is_device_pointer(const void* ptr);
void zero_bytes(void* dst, size_t bytes);
void fill_f32(float* dst, size_t count, float value);

// Waits for all work queued on the compute stream (nothing to do, and no CUDA call, when no
// GPU work was ever queued: CPU runs of a CUDA build call this freely).
void synchronize();

// A point on the compute stream. elapsed_ns(a, b) waits for b and returns the time between
// them on the GPU's clock.
class Event {
 public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  Event(Event&&) noexcept;
  Event& operator=(Event&&) noexcept;
  void record();  // on the compute stream
  void* handle() const { return handle_; }

 private:
  void* handle_ = nullptr;
};
int64_t elapsed_ns(const Event& a, const Event& b);

}  // namespace tpb::device
