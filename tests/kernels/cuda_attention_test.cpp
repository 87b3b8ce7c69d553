// Causal grouped-query attention on the GPU (src/kernels/cuda/attention.cu) against the CPU
// kernel, both through ops::attention_forward / attention_backward: the same random inputs on
// both devices, compared norm-wise, ||gpu - cpu|| / ||cpu||, within 1e-5 for fp32 tensors
// and 1e-2 for bf16 ones. lse is fp32 whatever the activation type, so it keeps 1e-5.
//
// bf16: the CPU backend is fp32 only, so the inputs are rounded to bf16 precision on the
// host first; the CPU computes in fp32 on the rounded values, the GPU gets the same values
// (copied as fp32 and cast to bf16 there, exactly).
//
// Backward accumulates: dq, dk and dv start from the same random values on both sides, of
// magnitude below the gradients' (0.1), so a kernel that overwrote them, or added twice,
// would be far outside the tolerance while the comparison still measures the gradients.
// Both sides' backward reads the same out and lse (the CPU forward's, rounded to bf16 for
// a bf16 run), so the backward is checked on its own.
//
// Shapes: one token; several 32-row tiles with a last partial one (T = 67, 100, 130);
// multi-query (NKV = 1), grouped (NH / NKV = 2, 3, 4) and multi-head (NKV = NH); head dims
// that are multiples of 32 (32 .. 256, the largest supported) and ones that are not
// (8, 20). Without a GPU every test is skipped, saying so.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "base/bf16.h"
#include "base/error.h"
#include "device/device.h"
#include "kernels/ops.h"
#include "kernels/cuda_test_util.h"
#include "kernels/test_util.h"
#include "testing/random.h"

namespace tpb::testing {
namespace {

struct AttentionCase {
  int64_t B, T, NH, NKV, D;
};

std::ostream& operator<<(std::ostream& os, const AttentionCase& c) {
  return os << "B=" << c.B << " T=" << c.T << " NH=" << c.NH << " NKV=" << c.NKV << " D=" << c.D;
}

constexpr AttentionCase kCases[] = {
    {2, 1, 4, 2, 8},        // a single token: each row attends to itself only
    {1, 67, 4, 1, 32},      // multi-query, three key/query tiles, the last partial
    {1, 70, 6, 2, 20},      // groups of 3, D not a multiple of 32
    {2, 130, 8, 8, 64},     // multi-head, five tiles
    {1, 100, 4, 2, 128},    // D = 128
    {1, 45, 2, 1, 256},     // the largest D (16-row blocks)
};


Both random_both(Shape shape, uint64_t seed, DType t, float lo = -1.0f, float hi = 1.0f) {
  return both(shape, uniform(shape.numel(), seed, lo, hi), t);
}

// Outputs: the GPU side starts as NaN, so an element the kernel never writes shows.
Both output_both(Shape shape, DType t) {
  return both(shape, std::vector<float>(static_cast<size_t>(shape.numel()), NAN), t);
}


class CudaAttention : public ::testing::Test {
 protected:
  void SetUp() override {
    if (tpb::device::cuda_device_count() == 0)
      GTEST_SKIP() << "no CUDA device: GPU attention tests did not run";
    device::use_cuda_device(0);
  }
};

struct Shapes {
  Shape q, kv, lse;
};

Shapes shapes_of(const AttentionCase& c) {
  return {{c.B, c.T, c.NH, c.D}, {c.B, c.T, c.NKV, c.D}, {c.B, c.NH, c.T}};
}

TEST_F(CudaAttention, ForwardMatchesCpu) {
  for (DType t : kActTypes)
    for (const AttentionCase& c : kCases) {
      SCOPED_TRACE(::testing::Message() << dtype_name(t) << " " << c);
      const Shapes s = shapes_of(c);
      // Scores of O(1): q, k in [-1.5, 1.5) make the softmax neither flat nor one-hot.
      const Both q = random_both(s.q, 1, t, -1.5f, 1.5f), k = random_both(s.kv, 2, t, -1.5f, 1.5f),
                 v = random_both(s.kv, 3, t);
      Both out = output_both(s.q, t), lse = output_both(s.lse, DType::f32);
      ops::attention_forward(out.cpu, lse.cpu, q.cpu, k.cpu, v.cpu);
      ops::attention_forward(out.gpu, lse.gpu, q.gpu, k.gpu, v.gpu);
      EXPECT_TRUE(matches(out, tolerance(t))) << "out";
      EXPECT_TRUE(matches(lse, 1e-5)) << "lse";
    }
}

TEST_F(CudaAttention, BackwardAccumulatesAndMatchesCpu) {
  for (DType t : kActTypes)
    for (const AttentionCase& c : kCases) {
      SCOPED_TRACE(::testing::Message() << dtype_name(t) << " " << c);
      const Shapes s = shapes_of(c);
      const Both q = random_both(s.q, 11, t, -1.5f, 1.5f),
                 k = random_both(s.kv, 12, t, -1.5f, 1.5f), v = random_both(s.kv, 13, t),
                 dout = random_both(s.q, 14, t);
      // The CPU forward's out and lse, given to both backward calls.
      Tensor out_cpu = zeros_f32(s.q), lse_cpu = zeros_f32(s.lse);
      ops::attention_forward(out_cpu, lse_cpu, q.cpu, k.cpu, v.cpu);
      const Both out = both(s.q, to_vector(out_cpu), t),
                 lse = both(s.lse, to_vector(lse_cpu), DType::f32);

      Both dq = random_both(s.q, 15, t, -0.1f, 0.1f), dk = random_both(s.kv, 16, t, -0.1f, 0.1f),
           dv = random_both(s.kv, 17, t, -0.1f, 0.1f);
      ops::attention_backward(dq.cpu, dk.cpu, dv.cpu, dout.cpu, q.cpu, k.cpu, v.cpu, out.cpu,
                              lse.cpu);
      ops::attention_backward(dq.gpu, dk.gpu, dv.gpu, dout.gpu, q.gpu, k.gpu, v.gpu, out.gpu,
                              lse.gpu);
      EXPECT_TRUE(matches(dq, tolerance(t))) << "dq";
      EXPECT_TRUE(matches(dk, tolerance(t))) << "dk";
      EXPECT_TRUE(matches(dv, tolerance(t))) << "dv";
    }
}

TEST_F(CudaAttention, HeadDimAbove256Throws) {
  const AttentionCase c{1, 4, 2, 1, 264};
  const Shapes s = shapes_of(c);
  const Both q = random_both(s.q, 1, DType::f32), k = random_both(s.kv, 2, DType::f32),
             v = random_both(s.kv, 3, DType::f32);
  Both out = output_both(s.q, DType::f32), lse = output_both(s.lse, DType::f32);
  EXPECT_THROW(ops::attention_forward(out.gpu, lse.gpu, q.gpu, k.gpu, v.gpu), Error);
  Both dq = random_both(s.q, 4, DType::f32), dk = random_both(s.kv, 5, DType::f32),
       dv = random_both(s.kv, 6, DType::f32);
  EXPECT_THROW(ops::attention_backward(dq.gpu, dk.gpu, dv.gpu, q.gpu, q.gpu, k.gpu, v.gpu,
                                       q.gpu, lse.gpu),
               Error);
}

}  // namespace
}  // namespace tpb::testing
