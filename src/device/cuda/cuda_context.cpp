// The compute stream, the cuBLAS handle and the error checks of the CUDA backend.
#include "device/cuda/cuda_context.h"

#include <atomic>

#include "base/error.h"

namespace tpb::cuda {

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  throw Error(fmt::format("CUDA error {} ({}) in {}", cudaGetErrorName(status),
                          cudaGetErrorString(status), what));
}

void check_cublas(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error(fmt::format("cuBLAS status {} ({}) in {}", static_cast<int>(status),
                          cublasGetStatusString(status), what));
}

void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

namespace {
std::atomic<bool> g_stream_created{false};
}  // namespace

cudaStream_t compute_stream() {
  // One per process (one process drives one device); created after use_cuda_device chose it.
  static cudaStream_t stream = [] {
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "creating the compute stream");
    g_stream_created = true;
    return s;
  }();
  return stream;
}

bool compute_stream_created() { return g_stream_created; }

cublasHandle_t cublas_handle() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    check_cublas(cublasCreate(&h), "cublasCreate");
    check_cublas(cublasSetStream(h, compute_stream()), "cublasSetStream");
    // fp32 GEMMs stay true fp32 (no TF32): the CUDA backend must match the CPU one.
    check_cublas(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    return h;
  }();
  return handle;
}

}  // namespace tpb::cuda
