#include <gtest/gtest.h>

#include "base/error.h"
#include "tensor/tensor.h"

namespace tpb {
namespace {

TEST(TrackingAllocator, CountsCurrentAndPeakPerCategory) {
  TrackingAllocator alloc;
  {
    Tensor p = Tensor::empty({100}, MemCategory::parameters, DType::f32, alloc);     // 400 B
    Tensor g = Tensor::empty({100}, MemCategory::gradients, DType::f32, alloc);      // 400 B
    {
      Tensor a = Tensor::empty({250}, MemCategory::activations, DType::f32, alloc);  // 1000 B
      const MemStats s = alloc.stats();
      EXPECT_EQ(s.current_of(MemCategory::parameters), 400);
      EXPECT_EQ(s.current_of(MemCategory::gradients), 400);
      EXPECT_EQ(s.current_of(MemCategory::activations), 1000);
      EXPECT_EQ(s.total_current, 1800);
    }
    const MemStats s = alloc.stats();
    EXPECT_EQ(s.current_of(MemCategory::activations), 0);
    EXPECT_EQ(s.peak_of(MemCategory::activations), 1000);
    EXPECT_EQ(s.total_current, 800);
    EXPECT_EQ(s.total_peak, 1800);
    // A bf16 tensor counts 2 bytes an element.
    Tensor h = Tensor::empty({100}, MemCategory::comm_buffers, DType::bf16, alloc);
    EXPECT_EQ(alloc.stats().current_of(MemCategory::comm_buffers), 200);
  }
  const MemStats s = alloc.stats();
  EXPECT_EQ(s.total_current, 0);
  EXPECT_EQ(s.total_peak, 1800);
  EXPECT_EQ(s.num_allocs, 4);
}

TEST(TrackingAllocator, TotalPeakIsPeakOfSumNotSumOfPeaks) {
  TrackingAllocator alloc;
  { Tensor a = Tensor::empty({100}, MemCategory::activations, DType::f32, alloc); }
  { Tensor b = Tensor::empty({100}, MemCategory::gradients, DType::f32, alloc); }
  const MemStats s = alloc.stats();
  EXPECT_EQ(s.total_peak, 400);
  EXPECT_EQ(s.peak_of(MemCategory::activations) + s.peak_of(MemCategory::gradients), 800);
}

TEST(TrackingAllocator, ResetPeaks) {
  TrackingAllocator alloc;
  Tensor keep = Tensor::empty({10}, MemCategory::parameters, DType::f32, alloc);
  { Tensor tmp = Tensor::empty({1000}, MemCategory::activations, DType::f32, alloc); }
  alloc.reset_peaks();
  const MemStats s = alloc.stats();
  EXPECT_EQ(s.total_peak, 40);
  EXPECT_EQ(s.peak_of(MemCategory::activations), 0);
}

TEST(TrackingAllocator, CudaNotBuiltIsAClearError) {
  TrackingAllocator alloc(Device::cuda);
  EXPECT_THROW(alloc.allocate(16, MemCategory::parameters), Error);
}

}  // namespace
}  // namespace tpb
