#include "commbench/alpha_beta_fit.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace tpb {

namespace {

// Relative residuals of (alpha, beta) on the points: (model - t) / t.
void set_errors(AlphaBetaFit& f) {
  double sum_sq = 0, worst = 0;
  for (const FitPoint& p : f.points) {
    const double r = (f.predict(p.bytes) - p.time_s) / p.time_s;
    sum_sq += r * r;
    worst = std::max(worst, std::abs(r));
  }
  f.rms_rel_err = std::sqrt(sum_sq / static_cast<double>(f.points.size()));
  f.max_rel_err = worst;
}

double objective(const std::vector<FitPoint>& points, double alpha, double beta) {
  double s = 0;
  for (const FitPoint& p : points) {
    const double r = (alpha + beta * p.bytes - p.time_s) / p.time_s;
    s += r * r;
  }
  return s;
}

}  // namespace

AlphaBetaFit fit_alpha_beta(std::vector<FitPoint> points) {
  double max_bytes = 0, min_bytes = 0;
  for (size_t k = 0; k < points.size(); ++k) {
    const FitPoint& p = points[k];
    TPB_CHECK(p.time_s > 0 && std::isfinite(p.time_s) && p.bytes >= 0,
              "fit_alpha_beta: point {} has bytes {} and time {} s (needs bytes >= 0, time > 0)",
              k, p.bytes, p.time_s);
    max_bytes = k == 0 ? p.bytes : std::max(max_bytes, p.bytes);
    min_bytes = k == 0 ? p.bytes : std::min(min_bytes, p.bytes);
  }
  TPB_CHECK(!points.empty() && max_bytes > min_bytes,
            "fit_alpha_beta: needs at least two distinct sizes, got {} points from {} to {} bytes",
            points.size(), min_bytes, max_bytes);

  // Least squares of A x = 1 with rows a_k = (1 / t_k, (b_k / s) / t_k), x = (alpha, beta s):
  // each row is one relative residual. s = the largest size keeps both columns O(1 / t).
  // Solved by modified Gram-Schmidt on the two columns (better conditioned than the
  // normal equations).
  const size_t m = points.size();
  std::vector<double> a1(m), a2(m);
  for (size_t k = 0; k < m; ++k) {
    a1[k] = 1.0 / points[k].time_s;
    a2[k] = points[k].bytes / max_bytes / points[k].time_s;
  }
  double r11 = 0, r12 = 0, r22 = 0, q1y = 0, q2y = 0;
  for (double v : a1) r11 += v * v;
  r11 = std::sqrt(r11);
  for (size_t k = 0; k < m; ++k) r12 += a1[k] / r11 * a2[k];
  std::vector<double> v(m);
  for (size_t k = 0; k < m; ++k) v[k] = a2[k] - r12 * a1[k] / r11;
  for (double x : v) r22 += x * x;
  r22 = std::sqrt(r22);
  for (size_t k = 0; k < m; ++k) {
    q1y += a1[k] / r11;  // y_k = 1
    q2y += v[k] / r22;
  }
  double beta = q2y / r22 / max_bytes;
  double alpha = (q1y - r12 * q2y / r22) / r11;

  if (alpha < 0 || beta < 0) {
    // On the boundary: alpha only (minimise sum (alpha/t - 1)^2) or beta only.
    double s1 = 0, s11 = 0, sb = 0, sbb = 0;
    for (const FitPoint& p : points) {
      s1 += 1.0 / p.time_s;
      s11 += 1.0 / (p.time_s * p.time_s);
      sb += p.bytes / p.time_s;
      sbb += (p.bytes / p.time_s) * (p.bytes / p.time_s);
    }
    const double alpha_only = s1 / s11, beta_only = sb / sbb;
    if (objective(points, alpha_only, 0) <= objective(points, 0, beta_only)) {
      alpha = alpha_only;
      beta = 0;
    } else {
      alpha = 0;
      beta = beta_only;
    }
  }
  AlphaBetaFit f;
  f.alpha_s = alpha;
  f.beta_s_per_byte = beta;
  f.points = std::move(points);
  set_errors(f);
  return f;
}

}  // namespace tpb
