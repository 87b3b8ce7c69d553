// Causal grouped-query attention on the GPU: launchers of the kernels in
// attention_detail.cuh (the design is described there).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "device/cuda/cuda_context.h"
#include "device/device.h"
#include "kernels/cuda/attention_detail.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace tpb::cuda {
namespace {

using namespace attention_detail;

void fail(const std::string& what) { check(cudaErrorInvalidValue, what.c_str()); }

void check_sizes(int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D) {
  auto str = [](int64_t x) { return std::to_string(x); };
  if (B < 0 || T < 0 || NH <= 0 || NKV <= 0 || D <= 0 || NH % NKV != 0)
    fail("attention: bad sizes B=" + str(B) + " T=" + str(T) + " NH=" + str(NH) +
         " NKV=" + str(NKV) + " D=" + str(D) + " (NH must be a multiple of NKV)");
  if (D > kMaxD)
    fail("attention: head dim D=" + str(D) + " not supported (max " + str(kMaxD) + ")");
  // Grid (row tiles, heads, batch): y and z are at most 65535; T bounded so every row
  // index and tile count fits in an int.
  if (B > 65535 || NH > 65535 || T > (int64_t{1} << 30))
    fail("attention: B=" + str(B) + " NH=" + str(NH) + " T=" + str(T) +
         " beyond the launch grid (B, NH <= 65535, T <= 2^30)");
}

// Calls f.template operator()<E, NCH>() for the element type t and the head dim D <= 256.
template <typename F>
void dispatch(DType t, int64_t D, F&& f) {
  auto by_d = [&]<typename E>() {
    if (D <= 32)
      f.template operator()<E, 1>();
    else if (D <= 64)
      f.template operator()<E, 2>();
    else if (D <= 128)
      f.template operator()<E, 4>();
    else
      f.template operator()<E, 8>();
  };
  if (t == DType::f32)
    by_d.template operator()<float>();
  else if (t == DType::bf16)
    by_d.template operator()<__nv_bfloat16>();
  else
    fail("attention: element type must be fp32 or bf16");
}

// Allows `bytes` of dynamic shared memory (above the default 48 KiB needs the opt-in; the
// call fails, naming the kernel, on a device that has less).
template <typename Kernel>
void set_smem(Kernel kernel, size_t bytes, const char* what) {
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(bytes)),
        what);
}

// fp32 scratch from the device runtime's caching allocator: handed back when the scope
// ends and reused in stream order on the compute stream (every user is queued there), so
// the backward of every layer reuses one block instead of allocating.
class Scratch {
 public:
  explicit Scratch(size_t count)
      : bytes_(count * sizeof(float)), ptr_(static_cast<float*>(device::cuda_malloc(bytes_))) {}
  ~Scratch() { device::cuda_free(ptr_, bytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* get() const { return ptr_; }

 private:
  size_t bytes_;
  float* ptr_;
};

}  // namespace

void attention_forward(void* out, float* lse, const void* q, const void* k, const void* v,
                       DType t, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D) {
  check_sizes(B, T, NH, NKV, D);
  if (B == 0 || T == 0) return;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  dispatch(t, D, [&]<typename E, int NCH>() {
    constexpr int BR = kWarps * rows_per_warp<NCH>();
    auto kernel = attention_forward_kernel<E, NCH, rows_per_warp<NCH>()>;
    const size_t smem = forward_smem(BR, static_cast<int>(D));
    set_smem(kernel, smem, "attention_forward_kernel (shared memory size)");
    const dim3 grid(static_cast<unsigned>((T + BR - 1) / BR), static_cast<unsigned>(NH),
                    static_cast<unsigned>(B));
    kernel<<<grid, kThreads, smem, compute_stream()>>>(
        static_cast<E*>(out), lse, static_cast<const E*>(q), static_cast<const E*>(k),
        static_cast<const E*>(v), static_cast<int>(T), static_cast<int>(NH),
        static_cast<int>(NKV), static_cast<int>(D), scale);
    check_launch("attention_forward_kernel");
  });
}

void attention_backward(void* dq, void* dk, void* dv, const void* dout, const void* q,
                        const void* k, const void* v, const void* out, const float* lse,
                        DType t, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D) {
  check_sizes(B, T, NH, NKV, D);
  if (B == 0 || T == 0) return;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  dispatch(t, D, [&]<typename E, int NCH>() {
    constexpr int BR = kWarps * rows_per_warp<NCH>();
    const int Ti = static_cast<int>(T), NHi = static_cast<int>(NH),
              NKVi = static_cast<int>(NKV), Di = static_cast<int>(D);
    const unsigned tiles = static_cast<unsigned>((T + BR - 1) / BR);
    const Scratch dsum(static_cast<size_t>(B * NH * T));  // D_t = dout_t . out_t (B, NH, T)

    auto dq_kernel = attention_dq_kernel<E, NCH, rows_per_warp<NCH>()>;
    const size_t dq_bytes = dq_smem(BR, Di);
    set_smem(dq_kernel, dq_bytes, "attention_dq_kernel (shared memory size)");
    dq_kernel<<<dim3(tiles, static_cast<unsigned>(NH), static_cast<unsigned>(B)), kThreads,
                dq_bytes, compute_stream()>>>(
        static_cast<E*>(dq), dsum.get(), static_cast<const E*>(dout), static_cast<const E*>(q),
        static_cast<const E*>(k), static_cast<const E*>(v), static_cast<const E*>(out), lse, Ti,
        NHi, NKVi, Di, scale);
    check_launch("attention_dq_kernel");

    // Reads dsum, written by the dq kernel queued before it on the same stream.
    auto dkdv_kernel = attention_dkdv_kernel<E, NCH, rows_per_warp<NCH>()>;
    const size_t dkdv_bytes = dkdv_smem(BR, Di);
    set_smem(dkdv_kernel, dkdv_bytes, "attention_dkdv_kernel (shared memory size)");
    dkdv_kernel<<<dim3(tiles, static_cast<unsigned>(NKV), static_cast<unsigned>(B)), kThreads,
                  dkdv_bytes, compute_stream()>>>(
        static_cast<E*>(dk), static_cast<E*>(dv), static_cast<const E*>(dout),
        static_cast<const E*>(q), static_cast<const E*>(k), static_cast<const E*>(v), lse,
        dsum.get(), Ti, NHi, NKVi, Di, scale);
    check_launch("attention_dkdv_kernel");
  });
}

}  // namespace tpb::cuda
