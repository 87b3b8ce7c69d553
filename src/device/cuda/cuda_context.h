// CUDA-only helpers shared by the CUDA files of every library (kernels, comm): the compute
// stream, the cuBLAS handle and error checks. Include only from files CMake compiles when
// the CUDA toolkit is found (src/*/cuda/). No fmt, no tpbench headers: nvcc compiles this.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

namespace tpb::cuda {

// The one stream every kernel of this process runs on (created on first use).
cudaStream_t compute_stream();
// Whether compute_stream() was ever created (so a CPU run of a CUDA build makes no CUDA call).
bool compute_stream_created();
// cuBLAS handle bound to compute_stream() (cuBLAS's default workspace), TF32 off (fp32 GEMMs are
// true fp32 so they match the CPU backend within 1e-5).
cublasHandle_t cublas_handle();

// Throw tpb::Error "CUDA error <name> (<string>) in <what>" / "cuBLAS status <n> in <what>".
void check(cudaError_t status, const char* what);
void check_cublas(cublasStatus_t status, const char* what);
// After a kernel launch: cudaGetLastError() checked, naming the kernel.
void check_launch(const char* kernel);

// Blocks of 256 threads covering n elements (at least one block).
inline unsigned blocks_for(long long n, unsigned threads = 256) {
  const long long b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b > 0 ? (b < 2147483647LL ? b : 2147483647LL) : 1);
}

}  // namespace tpb::cuda
