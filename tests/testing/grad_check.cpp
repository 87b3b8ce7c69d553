#include "testing/grad_check.h"

#include <cmath>

namespace tpb::testing {

namespace {

template <typename T>
::testing::AssertionResult close_impl(std::span<const float> actual, std::span<const T> expected,
                                      double rtol, double atol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure()
           << "sizes differ: actual " << actual.size() << ", expected " << expected.size();
  double max_abs = 0, max_rel = 0;
  size_t worst = 0, bad = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double e = static_cast<double>(expected[i]);
    const double d = std::abs(static_cast<double>(actual[i]) - e);
    const double tol = atol + rtol * std::abs(e);
    max_abs = std::max(max_abs, d);
    if (std::abs(e) > 0) max_rel = std::max(max_rel, d / std::abs(e));
    if (!(d <= tol)) {  // also catches NaN
      ++bad;
      if (std::isnan(d) || d - tol > worst_excess) {
        worst_excess = std::isnan(d) ? INFINITY : d - tol;
        worst = i;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << actual.size() << " elements differ (rtol " << rtol << ", atol "
         << atol << "); worst at [" << worst << "]: actual " << actual[worst] << ", expected "
         << static_cast<double>(expected[worst]) << "; max abs error " << max_abs
         << ", max rel error " << max_rel;
}

}  // namespace

::testing::AssertionResult all_close(std::span<const float> actual,
                                     std::span<const double> expected, double rtol, double atol) {
  return close_impl(actual, expected, rtol, atol);
}

::testing::AssertionResult all_close(std::span<const float> actual,
                                     std::span<const float> expected, double rtol, double atol) {
  return close_impl(actual, expected, rtol, atol);
}

std::vector<double> numeric_grad(const std::function<double()>& loss, std::span<float> x,
                                 double eps) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float saved = x[i];
    x[i] = static_cast<float>(saved + eps);
    const double plus = loss();
    x[i] = static_cast<float>(saved - eps);
    const double minus = loss();
    x[i] = saved;
    // Divide by the step actually taken (fp32 rounding of saved +- eps).
    const double step = static_cast<double>(static_cast<float>(saved + eps)) -
                        static_cast<double>(static_cast<float>(saved - eps));
    g[i] = (plus - minus) / step;
  }
  return g;
}

double dot(std::span<const float> a, std::span<const float> w) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * w[i];
  return s;
}

}  // namespace tpb::testing
