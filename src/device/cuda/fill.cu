// fill_f32 on the device: the one kernel the device runtime needs (cudaMemset sets bytes).
#include "device/cuda/cuda_context.h"
#include "device/device.h"

namespace tpb::device {

namespace {
__global__ void fill_kernel(float* dst, long long n, float value) {
  for (long long i = blockIdx.x * 256LL + threadIdx.x; i < n; i += 256LL * gridDim.x) dst[i] = value;
}
}  // namespace

void fill_f32(float* dst, size_t count, float value) {
  if (count == 0) return;
  const unsigned blocks = cuda::blocks_for(static_cast<long long>(count)) > 65535u
                              ? 65535u
                              : cuda::blocks_for(static_cast<long long>(count));
  fill_kernel<<<blocks, 256, 0, cuda::compute_stream()>>>(dst, static_cast<long long>(count), value);
  cuda::check_launch("fill_f32");
}

}  // namespace tpb::device
