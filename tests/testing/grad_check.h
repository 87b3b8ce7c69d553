// Numerical helpers for tests: element-wise closeness with a located report, and central
// finite differences for checking backward kernels.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace tpb::testing {

// Passes when |actual - expected| <= atol + rtol * |expected| for every element; the
// failure message names the worst element, both values and the largest errors.
::testing::AssertionResult all_close(std::span<const float> actual,
                                     std::span<const double> expected, double rtol, double atol);
::testing::AssertionResult all_close(std::span<const float> actual,
                                     std::span<const float> expected, double rtol, double atol);

// d loss / d x[i] by central differences, for every i, where loss() reads x. x is perturbed
// in place by +-eps and restored. loss() should return a double built from the outputs,
// e.g. sum(out * random_projection), so that every output element contributes.
std::vector<double> numeric_grad(const std::function<double()>& loss, std::span<float> x,
                                 double eps = 1e-2);

// sum_i a[i] * w[i] in double: the scalar "loss" whose gradient w.r.t. a is w.
double dot(std::span<const float> a, std::span<const float> w);

}  // namespace tpb::testing
