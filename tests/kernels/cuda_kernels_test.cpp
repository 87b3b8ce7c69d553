// The CUDA kernels against the CPU ones, through the ops:: entry points: the same random
// inputs on both devices, the GPU result compared with the CPU's norm-wise,
// ||gpu - cpu|| / ||cpu||, within 1e-5 for fp32 tensors and 1e-2 for bf16 ones.
//
// bf16: the CPU backend is fp32 only, so the inputs are rounded to bf16 precision on the
// host first; the CPU computes in fp32 on the rounded values, the GPU gets the same values
// (copied as fp32, cast to bf16 there, exactly) and computes in bf16 storage. The fp32-side
// tensors of a bf16 call (rstd, dweight, dbias, dtable, logits) keep the fp32 tolerance.
//
// Backward calls accumulate: every gradient output starts from the same random values on
// both sides. Without a GPU every test is skipped, saying so.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "base/bf16.h"
#include "device/device.h"
#include "kernels/ops.h"
#include "kernels/cuda_test_util.h"
#include "kernels/test_util.h"
#include "testing/random.h"

namespace tpb::testing {
namespace {


Both random_both(Shape shape, uint64_t seed, DType t, float lo = -1.0f, float hi = 1.0f) {
  return both(shape, uniform(shape.numel(), seed, lo, hi), t);
}

Both ints_both(Shape shape, const std::vector<int32_t>& v) {
  Tensor host = tensor_i32(shape, v);
  Tensor dev = Tensor::empty(shape, MemCategory::other, DType::i32, gpu_alloc());
  dev.copy_from(host);
  return {host, dev};
}

// The GPU copy of a CPU tensor's values (to feed both sides the same intermediate).
Both share(const Tensor& cpu, DType t) { return both(cpu.shape(), to_vector(cpu), t); }



::testing::AssertionResult close_double(double gpu_value, double cpu_value, double rtol) {
  if (std::fabs(gpu_value - cpu_value) <= rtol * std::fabs(cpu_value))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "gpu " << gpu_value << ", cpu " << cpu_value
                                       << ", relative difference above " << rtol;
}

class CudaKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    if (tpb::device::cuda_device_count() == 0)
      GTEST_SKIP() << "no CUDA device: GPU kernel tests did not run";
    device::use_cuda_device(0);
  }
};

TEST_F(CudaKernels, BiasAdd) {
  for (DType t : kActTypes) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    // (rows, c): c below one block, c over several blocks, many rows of few columns.
    for (Shape s : {Shape{2, 19, 300}, Shape{5, 7}, Shape{1000, 45}, Shape{3, 1025}}) {
      SCOPED_TRACE(s.str());
      const int64_t c = s.last();
      Both out = random_both(s, 1, t), bias = random_both({c}, 2, t);
      ops::bias_add_forward(out.cpu, bias.cpu);
      ops::bias_add_forward(out.gpu, bias.gpu);
      EXPECT_TRUE(matches(out));

      Both dout = random_both(s, 3, t), dbias = random_both({c}, 4, DType::f32);
      ops::bias_add_backward(dbias.cpu, dout.cpu);
      ops::bias_add_backward(dbias.gpu, dout.gpu);
      EXPECT_TRUE(matches(dbias));
    }
  }
}

TEST_F(CudaKernels, SiluSwigluAdd) {
  for (DType t : kActTypes) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    const Shape s{3, 33335};
    Both x = random_both(s, 1, t, -8.0f, 8.0f), up = random_both(s, 2, t, -2.0f, 2.0f);
    Both dout = random_both(s, 3, t);

    Both out = random_both(s, 4, t);
    ops::silu_forward(out.cpu, x.cpu);
    ops::silu_forward(out.gpu, x.gpu);
    EXPECT_TRUE(matches(out)) << "silu_forward";

    Both dx = random_both(s, 5, t);
    ops::silu_backward(dx.cpu, dout.cpu, x.cpu);
    ops::silu_backward(dx.gpu, dout.gpu, x.gpu);
    EXPECT_TRUE(matches(dx)) << "silu_backward";

    ops::swiglu_forward(out.cpu, x.cpu, up.cpu);
    ops::swiglu_forward(out.gpu, x.gpu, up.gpu);
    EXPECT_TRUE(matches(out)) << "swiglu_forward";

    Both dgate = random_both(s, 6, t), dup = random_both(s, 7, t);
    ops::swiglu_backward(dgate.cpu, dup.cpu, dout.cpu, x.cpu, up.cpu);
    ops::swiglu_backward(dgate.gpu, dup.gpu, dout.gpu, x.gpu, up.gpu);
    EXPECT_TRUE(matches(dgate)) << "swiglu_backward dgate";
    EXPECT_TRUE(matches(dup)) << "swiglu_backward dup";

    ops::add_forward(out.cpu, x.cpu, up.cpu);
    ops::add_forward(out.gpu, x.gpu, up.gpu);
    EXPECT_TRUE(matches(out)) << "add_forward";
  }
}

TEST_F(CudaKernels, Rmsnorm) {
  for (DType t : kActTypes) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    for (Shape s : {Shape{4, 9, 1000}, Shape{5, 37}, Shape{3, 4096}, Shape{70, 3}}) {
      SCOPED_TRACE(s.str());
      const int64_t rows = s.rows(), c = s.last();
      Both inp = random_both(s, 1, t, -2.0f, 2.0f), weight = random_both({c}, 2, t, 0.5f, 1.5f);
      Both out = random_both(s, 3, t), rstd = random_both({rows}, 4, DType::f32);
      ops::rmsnorm_forward(out.cpu, rstd.cpu, inp.cpu, weight.cpu, 1e-5f);
      ops::rmsnorm_forward(out.gpu, rstd.gpu, inp.gpu, weight.gpu, 1e-5f);
      EXPECT_TRUE(matches(out)) << "rmsnorm_forward out";
      EXPECT_TRUE(matches(rstd)) << "rmsnorm_forward rstd";

      // Backward from the CPU's rstd on both sides.
      Both saved = share(rstd.cpu, DType::f32);
      Both dout = random_both(s, 5, t), dinp = random_both(s, 6, t);
      Both dweight = random_both({c}, 7, DType::f32);
      ops::rmsnorm_backward(dinp.cpu, dweight.cpu, dout.cpu, inp.cpu, weight.cpu, saved.cpu);
      ops::rmsnorm_backward(dinp.gpu, dweight.gpu, dout.gpu, inp.gpu, weight.gpu, saved.gpu);
      EXPECT_TRUE(matches(dinp)) << "rmsnorm_backward dinp";
      EXPECT_TRUE(matches(dweight)) << "rmsnorm_backward dweight";

      // In place: out is inp.
      ops::rmsnorm_forward(inp.cpu, rstd.cpu, inp.cpu, weight.cpu, 1e-6f);
      ops::rmsnorm_forward(inp.gpu, rstd.gpu, inp.gpu, weight.gpu, 1e-6f);
      EXPECT_TRUE(matches(inp)) << "rmsnorm_forward in place";
      EXPECT_TRUE(matches(rstd)) << "rmsnorm_forward in place rstd";
    }
  }
}

TEST_F(CudaKernels, Softmax) {
  for (DType t : kActTypes) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    for (Shape s : {Shape{6, 1000}, Shape{3, 4, 37}, Shape{2, 5000}, Shape{9, 1}}) {
      SCOPED_TRACE(s.str());
      Both inp = random_both(s, 1, t, -5.0f, 5.0f), out = random_both(s, 2, t);
      ops::softmax_forward(out.cpu, inp.cpu);
      ops::softmax_forward(out.gpu, inp.gpu);
      EXPECT_TRUE(matches(out)) << "softmax_forward";

      Both y = share(out.cpu, t);  // the CPU's probabilities (rounded for bf16) on both sides
      Both dout = random_both(s, 3, t), dinp = random_both(s, 4, t);
      ops::softmax_backward(dinp.cpu, dout.cpu, y.cpu);
      ops::softmax_backward(dinp.gpu, dout.gpu, y.gpu);
      EXPECT_TRUE(matches(dinp)) << "softmax_backward";

      ops::softmax_forward(inp.cpu, inp.cpu);
      ops::softmax_forward(inp.gpu, inp.gpu);
      EXPECT_TRUE(matches(inp)) << "softmax_forward in place";
    }
  }
}

TEST_F(CudaKernels, Rope) {
  struct Case {
    Shape shape;
    float theta;
    int64_t pos_offset;
  };
  // Several heads per thread chunk (B * H = 21 > 8), tiny D, large positions, and more than
  // 65535 * 8 heads (chunks larger than the minimum).
  const Case cases[] = {{{2, 17, 3, 64}, 10000.0f, 5},
                        {{3, 5, 7, 6}, 10000.0f, 0},
                        {{1, 9, 2, 128}, 500000.0f, 100000},
                        {{1, 1, 600000, 2}, 10000.0f, 3}};
  for (DType t : kActTypes) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    for (const Case& k : cases) {
      SCOPED_TRACE(k.shape.str());
      Both inp = random_both(k.shape, 1, t), out = random_both(k.shape, 2, t);
      ops::rope_forward(out.cpu, inp.cpu, k.theta, k.pos_offset);
      ops::rope_forward(out.gpu, inp.gpu, k.theta, k.pos_offset);
      EXPECT_TRUE(matches(out)) << "rope_forward";

      Both dout = random_both(k.shape, 3, t), dinp = random_both(k.shape, 4, t);
      ops::rope_backward(dinp.cpu, dout.cpu, k.theta, k.pos_offset);
      ops::rope_backward(dinp.gpu, dout.gpu, k.theta, k.pos_offset);
      EXPECT_TRUE(matches(dinp)) << "rope_backward";

      ops::rope_forward(inp.cpu, inp.cpu, k.theta, k.pos_offset);
      ops::rope_forward(inp.gpu, inp.gpu, k.theta, k.pos_offset);
      EXPECT_TRUE(matches(inp)) << "rope_forward in place";
    }
  }
}

TEST_F(CudaKernels, Embedding) {
  for (DType t : kActTypes) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    for (int64_t vocab_start : {int64_t{0}, int64_t{30}}) {
      SCOPED_TRACE("vocab_start " + std::to_string(vocab_start));
      const int64_t v_local = 50, c = 70;
      // Ids in [0, 120): some held here, some not, many repeated.
      Both tokens = ints_both({4, 25}, uniform_ints(100, 1, 120));
      Both table = random_both({v_local, c}, 2, t), out = random_both({4, 25, c}, 3, t);
      ops::embedding_forward(out.cpu, tokens.cpu, table.cpu, vocab_start);
      ops::embedding_forward(out.gpu, tokens.gpu, table.gpu, vocab_start);
      EXPECT_TRUE(matches(out)) << "embedding_forward";

      Both dout = random_both({4, 25, c}, 4, t), dtable = random_both({v_local, c}, 5, DType::f32);
      ops::embedding_backward(dtable.cpu, dout.cpu, tokens.cpu, vocab_start);
      ops::embedding_backward(dtable.gpu, dout.gpu, tokens.gpu, vocab_start);
      EXPECT_TRUE(matches(dtable)) << "embedding_backward";
    }
  }
}

TEST_F(CudaKernels, CrossEntropy) {
  // fp32 logits only; a large vocabulary too (many elements per thread).
  for (Shape s : {Shape{13, 1000}, Shape{3, 50257}, Shape{2, 3, 7}}) {
    SCOPED_TRACE(s.str());
    const int64_t rows = s.rows(), v = s.last();
    Both logits = random_both(s, 1, DType::f32, -8.0f, 8.0f);
    Both targets = ints_both({rows}, uniform_ints(rows, 2, static_cast<int32_t>(v)));
    Both losses = random_both({rows}, 3, DType::f32);
    ops::cross_entropy_forward(losses.cpu, logits.cpu, targets.cpu);
    ops::cross_entropy_forward(losses.gpu, logits.gpu, targets.gpu);
    EXPECT_TRUE(matches(losses)) << "cross_entropy_forward";

    Both dlosses = random_both({rows}, 4, DType::f32, 0.5f, 2.0f);
    Both dlogits = random_both(s, 5, DType::f32);
    ops::cross_entropy_backward(dlogits.cpu, dlosses.cpu, logits.cpu, targets.cpu);
    ops::cross_entropy_backward(dlogits.gpu, dlosses.gpu, logits.gpu, targets.gpu);
    EXPECT_TRUE(matches(dlogits)) << "cross_entropy_backward";
  }
}

TEST_F(CudaKernels, VocabParallelCrossEntropy) {
  const int64_t rows = 11, v = 777, vocab_start = 500;
  // Targets in [0, 2000): about 40% held by this shard [500, 1277).
  std::vector<int32_t> ids = uniform_ints(rows, 1, 2000);
  ids[0] = static_cast<int32_t>(vocab_start);           // first held id
  ids[1] = static_cast<int32_t>(vocab_start + v - 1);   // last held id
  ids[2] = static_cast<int32_t>(vocab_start - 1);       // just below
  ids[3] = static_cast<int32_t>(vocab_start + v);       // just above
  Both targets = ints_both({rows}, ids);
  Both logits = random_both({rows, v}, 2, DType::f32, -8.0f, 8.0f);

  Both row_max = random_both({rows}, 3, DType::f32);
  ops::ce_row_max(row_max.cpu, logits.cpu);
  ops::ce_row_max(row_max.gpu, logits.gpu);
  EXPECT_TRUE(matches(row_max, 0.0)) << "ce_row_max (exact)";

  // Each later step from the CPU's results of the step before, on both sides.
  Both m = share(row_max.cpu, DType::f32);
  Both stats = random_both({2 * rows}, 4, DType::f32);
  ops::ce_sum_exp_target(stats.cpu, logits.cpu, m.cpu, targets.cpu, vocab_start);
  ops::ce_sum_exp_target(stats.gpu, logits.gpu, m.gpu, targets.gpu, vocab_start);
  EXPECT_TRUE(matches(stats)) << "ce_sum_exp_target";

  Both s = share(stats.cpu, DType::f32);
  Both losses = random_both({rows}, 5, DType::f32);
  ops::ce_losses(losses.cpu, s.cpu, m.cpu);
  ops::ce_losses(losses.gpu, s.gpu, m.gpu);
  EXPECT_TRUE(matches(losses)) << "ce_losses";

  for (DType t : kActTypes) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    // Written, not accumulated: the garbage already there must not matter.
    Both dlogits = random_both({rows, v}, 6, t, 100.0f, 200.0f);
    Tensor cpu_dlogits = tensor_f32({rows, v}, uniform(rows * v, 7));
    const float scale = 0.37f;
    ops::ce_backward(cpu_dlogits, logits.cpu, m.cpu, s.cpu, targets.cpu, vocab_start, scale);
    ops::ce_backward(dlogits.gpu, logits.gpu, m.gpu, s.gpu, targets.gpu, vocab_start, scale);
    EXPECT_TRUE(matches({cpu_dlogits, dlogits.gpu})) << "ce_backward";
  }
}

TEST_F(CudaKernels, Mse) {
  const Shape s{7, 14287};
  Both pred = random_both(s, 1, DType::f32), target = random_both(s, 2, DType::f32);
  const double cpu_loss = ops::mse_forward(pred.cpu, target.cpu);
  const double gpu_loss = ops::mse_forward(pred.gpu, target.gpu);
  EXPECT_TRUE(close_double(gpu_loss, cpu_loss, 1e-9)) << "mse_forward";

  Both dpred = random_both(s, 3, DType::f32);
  ops::mse_backward(dpred.cpu, pred.cpu, target.cpu, 1.7f);
  ops::mse_backward(dpred.gpu, pred.gpu, target.gpu, 1.7f);
  EXPECT_TRUE(matches(dpred)) << "mse_backward";
}

TEST_F(CudaKernels, Optimizers) {
  const Shape s{100003};
  Both param = random_both(s, 1, DType::f32), grad = random_both(s, 2, DType::f32);
  ops::sgd_step(param.cpu, grad.cpu, 0.1f, 0.01f);
  ops::sgd_step(param.gpu, grad.gpu, 0.1f, 0.01f);
  EXPECT_TRUE(matches(param)) << "sgd_step";

  Both m = random_both(s, 3, DType::f32, -0.1f, 0.1f);
  Both v = random_both(s, 4, DType::f32, 0.0f, 0.01f);
  ops::AdamWConfig config;
  config.lr = 3e-3f;
  config.weight_decay = 0.1f;
  for (int64_t step : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{1000}}) {
    SCOPED_TRACE("step " + std::to_string(step));
    Both g = random_both(s, 10 + static_cast<uint64_t>(step), DType::f32);
    ops::adamw_step(param.cpu, m.cpu, v.cpu, g.cpu, config, step);
    ops::adamw_step(param.gpu, m.gpu, v.gpu, g.gpu, config, step);
    EXPECT_TRUE(matches(param)) << "adamw_step param";
    EXPECT_TRUE(matches(m)) << "adamw_step m";
    EXPECT_TRUE(matches(v)) << "adamw_step v";
  }
}

TEST_F(CudaKernels, CastRoundsToNearestEven) {
  std::vector<float> x = uniform(10001, 1, -1000.0f, 1000.0f);
  const float specials[] = {0.0f,
                            -0.0f,
                            1.0f + 1.0f / 256.0f,         // a tie: rounds down to even
                            1.0f + 3.0f / 256.0f,         // a tie: rounds up to even
                            std::numeric_limits<float>::max(),  // rounds to infinity
                            std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN()};
  x.insert(x.end(), std::begin(specials), std::end(specials));
  const Shape s{static_cast<int64_t>(x.size())};
  Tensor f = gpu_tensor(s, x, DType::f32);
  Tensor b = Tensor::empty(s, MemCategory::other, DType::bf16, gpu_alloc());
  ops::cast(b, f);                              // fp32 -> bf16 on the GPU
  const std::vector<float> back = host_values(b);  // bf16 -> fp32 on the GPU
  ASSERT_EQ(back.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float want = round_bf16(x[i]);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(back[i])) << "element " << i;
    } else {
      EXPECT_EQ(std::bit_cast<uint32_t>(back[i]), std::bit_cast<uint32_t>(want))
          << "element " << i << ": " << x[i] << " -> " << back[i] << ", want " << want;
    }
  }
  // Same-type casts are copies.
  Tensor b2 = Tensor::empty(s, MemCategory::other, DType::bf16, gpu_alloc());
  ops::cast(b2, b);
  Tensor f2 = Tensor::empty(s, MemCategory::other, DType::f32, gpu_alloc());
  ops::cast(f2, f);
  const std::vector<float> back2 = host_values(b2), f2_values = host_values(f2);
  for (size_t i = 0; i + 1 < x.size(); ++i) {  // all but the NaN
    EXPECT_EQ(std::bit_cast<uint32_t>(back2[i]), std::bit_cast<uint32_t>(back[i])) << i;
    EXPECT_EQ(std::bit_cast<uint32_t>(f2_values[i]), std::bit_cast<uint32_t>(x[i])) << i;
  }
}

TEST_F(CudaKernels, ScaleAndSumSquares) {
  const Shape s{100003};
  Both x = random_both(s, 1, DType::f32, -3.0f, 3.0f);
  ops::scale(x.cpu, 0.3f);
  ops::scale(x.gpu, 0.3f);
  EXPECT_TRUE(matches(x)) << "scale";
  for (Shape shape : {Shape{100003}, Shape{1}, Shape{5000000}}) {
    SCOPED_TRACE(shape.str());
    Both y = random_both(shape, 2, DType::f32, -3.0f, 3.0f);
    EXPECT_TRUE(close_double(ops::sum_squares(y.gpu), ops::sum_squares(y.cpu), 1e-9))
        << "sum_squares";
  }
}

TEST_F(CudaKernels, InterleaveBlocksAndTakeColumns) {
  const std::vector<int64_t> widths = {3, 5, 0, 7};
  const int64_t rows = 9, total = 15;
  for (DType t : kActTypes) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    const std::vector<float> staging_values = rounded(uniform(rows * total, 1), t);
    // Expected on the host: rank r's (rows, widths[r]) block into its columns.
    std::vector<float> expected(static_cast<size_t>(rows * total));
    int64_t col = 0, offset = 0;
    for (int64_t w : widths) {
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < w; ++j)
          expected[i * total + col + j] = staging_values[offset + i * w + j];
      offset += rows * w;
      col += w;
    }
    Tensor staging = gpu_tensor({rows * total}, staging_values, t);
    Tensor out = gpu_tensor({rows, total}, uniform(rows * total, 2), t);
    ops::interleave_blocks(out, staging, widths);
    EXPECT_TRUE(matches({tensor_f32({rows, total}, expected), out}, 0.0)) << "interleave_blocks";

    // Columns [4, 10) of the interleaved matrix.
    const int64_t first = 4, width = 6;
    std::vector<float> cols(static_cast<size_t>(rows * width));
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < width; ++j) cols[i * width + j] = expected[i * total + first + j];
    Tensor part = gpu_tensor({rows, width}, uniform(rows * width, 3), t);
    ops::take_columns(part, out, first);
    EXPECT_TRUE(matches({tensor_f32({rows, width}, cols), part}, 0.0)) << "take_columns";

    if (t == DType::f32) {  // and the CPU backend agrees
      Tensor cpu_staging = tensor_f32({rows * total}, staging_values);
      Tensor cpu_out = zeros_f32({rows, total});
      ops::interleave_blocks(cpu_out, cpu_staging, widths);
      EXPECT_TRUE(matches({cpu_out, out}, 0.0)) << "interleave_blocks vs cpu";
    }
  }
}

TEST_F(CudaKernels, EmptyTensorsLaunchNothing) {
  for (DType t : kActTypes) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    Tensor a = Tensor::empty({0, 8}, MemCategory::other, t, gpu_alloc());
    Tensor b = Tensor::empty({0, 8}, MemCategory::other, t, gpu_alloc());
    Tensor w = gpu_tensor({8}, uniform(8, 1), t);
    Tensor rstd = Tensor::empty({0}, MemCategory::other, DType::f32, gpu_alloc());
    EXPECT_NO_THROW(ops::silu_forward(a, b));
    EXPECT_NO_THROW(ops::add_forward(a, a, b));
    EXPECT_NO_THROW(ops::softmax_forward(a, b));
    EXPECT_NO_THROW(ops::rmsnorm_forward(a, rstd, b, w, 1e-5f));
  }
  Tensor x = Tensor::empty({0}, MemCategory::other, DType::f32, gpu_alloc());
  EXPECT_EQ(ops::sum_squares(x), 0.0);
}

}  // namespace
}  // namespace tpb::testing
