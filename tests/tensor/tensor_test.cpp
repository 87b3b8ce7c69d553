#include <gtest/gtest.h>

#include <cstdint>

#include "base/error.h"
#include "tensor/tensor.h"

namespace tpb {
namespace {

TEST(Shape, SizesNumelRowsAndNegativeIndex) {
  Shape s{2, 3, 4};
  EXPECT_EQ(s.ndim(), 3);
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s.rows(), 6);
  EXPECT_EQ(s.last(), 4);
  EXPECT_EQ(s[-2], 3);
  EXPECT_EQ(s.str(), "(2, 3, 4)");
  EXPECT_EQ(Shape({0, 5}).numel(), 0);
  EXPECT_EQ(Shape({3, 0}).rows(), 3);
  EXPECT_EQ(s.with_dim(1, 7), Shape({2, 7, 4}));
  EXPECT_THROW(s[3], Error);
  EXPECT_THROW(Shape({2, -1}), Error);
}

TEST(Tensor, StorageIs64ByteAligned) {
  TrackingAllocator alloc;
  for (int64_t n : {1, 3, 17, 1000}) {
    Tensor t = Tensor::empty({n}, MemCategory::activations, DType::f32, alloc);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u) << "numel " << n;
  }
}

TEST(Tensor, ZerosFillAndCopy) {
  TrackingAllocator alloc;
  Tensor a = Tensor::zeros({2, 3}, MemCategory::parameters, DType::f32, alloc);
  for (float x : a.span_f32()) EXPECT_EQ(x, 0.0f);
  a.fill(2.5f);
  Tensor b = Tensor::empty({6}, MemCategory::gradients, DType::f32, alloc);
  b.copy_from(a);
  for (float x : b.span_f32()) EXPECT_EQ(x, 2.5f);
  Tensor c = Tensor::empty({5}, MemCategory::gradients, DType::f32, alloc);
  EXPECT_THROW(c.copy_from(a), Error);
}

TEST(Tensor, ViewAndNarrowShareStorage) {
  TrackingAllocator alloc;
  Tensor flat = Tensor::zeros({12}, MemCategory::parameters, DType::f32, alloc);
  Tensor m = flat.view({4, 3});
  Tensor rows = m.narrow0(1, 2);  // rows 1 and 2: elements 3..8
  EXPECT_EQ(rows.shape(), Shape({2, 3}));
  rows.fill(1.0f);
  const float* p = flat.f32();
  for (int i = 0; i < 12; ++i) EXPECT_EQ(p[i], (i >= 3 && i < 9) ? 1.0f : 0.0f) << i;
  EXPECT_THROW(m.view({5, 3}), Error);
  EXPECT_THROW(m.narrow0(3, 2), Error);
  // Only one storage was allocated for all three tensors.
  EXPECT_EQ(alloc.stats().num_allocs, 1);
}

TEST(Tensor, TypedAccessChecksDtype) {
  TrackingAllocator alloc;
  Tensor tokens = Tensor::empty({4}, MemCategory::activations, DType::i32, alloc);
  EXPECT_NO_THROW(tokens.i32());
  EXPECT_THROW(tokens.f32(), Error);
  Tensor undefined;
  EXPECT_FALSE(undefined.defined());
  EXPECT_THROW(undefined.f32(), Error);
}

TEST(Tensor, CloneIsDeep) {
  Tensor a = Tensor::zeros({3}, MemCategory::parameters);
  Tensor b = a.clone(MemCategory::optimizer_state);
  b.fill(1.0f);
  EXPECT_EQ(a.f32()[0], 0.0f);
  EXPECT_EQ(b.category(), MemCategory::optimizer_state);
}

}  // namespace
}  // namespace tpb
