// The alpha-beta fit on synthetic timings (exact recovery, noise, constraints) and the
// cost profile's file round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include <unistd.h>

#include "base/error.h"
#include "commbench/alpha_beta_fit.h"
#include "commbench/cost_model.h"

namespace tpb {
namespace {

std::vector<FitPoint> synthetic(double alpha, double beta, double noise, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(-noise, noise);
  std::vector<FitPoint> points;
  for (double bytes = 8; bytes <= 64.0 * (1 << 20); bytes *= 4)
    points.push_back({bytes, (alpha + beta * bytes) * (1.0 + u(gen))});
  return points;
}

TEST(AlphaBetaFit, RecoversExactTimings) {
  for (auto [alpha, beta] : {std::pair{5e-6, 1e-10}, std::pair{30e-6, 2.5e-9}, std::pair{1e-7, 1e-12}}) {
    const AlphaBetaFit f = fit_alpha_beta(synthetic(alpha, beta, 0.0, 1));
    EXPECT_NEAR(f.alpha_s / alpha, 1.0, 1e-9);
    EXPECT_NEAR(f.beta_s_per_byte / beta, 1.0, 1e-9);
    EXPECT_LT(f.rms_rel_err, 1e-9);
    EXPECT_LT(f.max_rel_err, 1e-9);
    EXPECT_EQ(f.points.size(), 12u);
  }
}

TEST(AlphaBetaFit, NoisyTimingsStayClose) {
  const double alpha = 10e-6, beta = 1.0 / 5e9;  // 10 us, 5 GB/s
  const AlphaBetaFit f = fit_alpha_beta(synthetic(alpha, beta, 0.05, 7));
  EXPECT_NEAR(f.alpha_s / alpha, 1.0, 0.1);
  EXPECT_NEAR(f.beta_s_per_byte / beta, 1.0, 0.1);
  EXPECT_GT(f.rms_rel_err, 0.005);
  EXPECT_LE(f.rms_rel_err, 0.05);
  EXPECT_LE(f.max_rel_err, 0.1);
  EXPECT_GE(f.max_rel_err, f.rms_rel_err);
  // The relative fit is not pulled by the largest sizes: the latency end fits as well.
  EXPECT_LT(std::abs(f.predict(8) - (alpha + beta * 8)) / (alpha + beta * 8), 0.06);
}

TEST(AlphaBetaFit, ConstrainedToNonNegative) {
  // Times that fall with size would want a negative beta: the fit keeps beta at 0 and
  // alpha at the relative-error optimum.
  const AlphaBetaFit f = fit_alpha_beta({{0, 4e-6}, {1000, 2e-6}});
  EXPECT_EQ(f.beta_s_per_byte, 0.0);
  // sum (a/t - 1)^2 is minimal at a = sum(1/t) / sum(1/t^2).
  const double want = (1 / 4e-6 + 1 / 2e-6) / (1 / 16e-12 + 1 / 4e-12);
  EXPECT_NEAR(f.alpha_s / want, 1.0, 1e-12);
  // Pure bandwidth (no latency): alpha would go negative with noise; it stays >= 0.
  const AlphaBetaFit g = fit_alpha_beta({{1000, 1.02e-6}, {2000, 1.98e-6}, {4000, 4.1e-6}});
  EXPECT_GE(g.alpha_s, 0.0);
  EXPECT_GT(g.beta_s_per_byte, 0.0);
}

TEST(AlphaBetaFit, BadInputNamesTheValues) {
  EXPECT_THROW(fit_alpha_beta({}), Error);
  EXPECT_THROW(fit_alpha_beta({{8, 1e-6}, {8, 2e-6}}), Error);  // one size only
  try {
    fit_alpha_beta({{8, 1e-6}, {16, 0.0}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("point 1 has bytes 16 and time 0"), std::string::npos) << e.what();
  }
}

TEST(CostModel, SavesLoadsAndPredicts) {
  CostModel m;
  m.machine = {{"hostname", "test"}};
  m.world_size = 4;
  m.group = "tp";
  m.group_size = 2;
  m.dtype = DType::bf16;
  m.ops[CommOp::all_reduce] = fit_alpha_beta(synthetic(5e-6, 1e-10, 0.0, 1));
  m.ops[CommOp::all_gather] = fit_alpha_beta(synthetic(3e-6, 2e-10, 0.0, 1));
  const std::string path =
      (std::filesystem::temp_directory_path() / ("tpb_cost_model_" + std::to_string(::getpid()) + ".json")).string();
  save_cost_model(m, path);
  const CostModel back = load_cost_model(path);
  std::filesystem::remove(path);
  EXPECT_EQ(back.group, "tp");
  EXPECT_EQ(back.group_size, 2);
  EXPECT_EQ(back.world_size, 4);
  EXPECT_EQ(back.dtype, DType::bf16);
  EXPECT_EQ(back.machine["hostname"], "test");
  EXPECT_EQ(back.ops.size(), 2u);
  EXPECT_NEAR(back.predict(CommOp::all_reduce, 1 << 20) / (5e-6 + 1e-10 * (1 << 20)), 1.0, 1e-12);
  // The v-variant uses its even op's fit; an op never measured is an error naming it.
  EXPECT_DOUBLE_EQ(back.predict(CommOp::all_gather_v, 4096), back.predict(CommOp::all_gather, 4096));
  try {
    back.predict(CommOp::broadcast, 8);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no fit for broadcast"), std::string::npos) << e.what();
  }
  EXPECT_EQ(back.ops.at(CommOp::all_reduce).points.size(), 12u);
}

TEST(CostModel, RejectsOtherFiles) {
  EXPECT_THROW(load_cost_model("/nonexistent/profile.json"), Error);
  EXPECT_THROW(cost_model_from_json({{"schema", "something else"}}), Error);
}

}  // namespace
}  // namespace tpb
