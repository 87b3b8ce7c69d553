// The alpha-beta (latency-bandwidth) cost model of one collective, fitted to a sweep:
//
//   time(bytes) = alpha + beta * bytes
//
// alpha is the fixed cost of a call (latency, in seconds) and 1/beta the bandwidth the
// call achieves on large buffers (bytes/s of the full buffer: algbw's asymptote).
//
// The fit minimises the *relative* squared error, sum_k ((alpha + beta b_k - t_k) / t_k)^2,
// not the absolute one: a sweep spans decades of sizes, and an absolute fit would spend
// all its freedom on the largest buffers and miss the latency entirely. alpha and beta are
// constrained to be >= 0 (a negative latency or bandwidth means nothing); for two
// unknowns the constrained optimum is the unconstrained one when that is feasible, and
// otherwise the better of the alpha-only and beta-only fits.
#pragma once

#include <vector>

namespace tpb {

struct FitPoint {
  double bytes = 0;
  double time_s = 0;
};

struct AlphaBetaFit {
  double alpha_s = 0;
  double beta_s_per_byte = 0;
  double rms_rel_err = 0;  // sqrt(mean(((model - t) / t)^2)) over the points
  double max_rel_err = 0;  // max |model - t| / t
  std::vector<FitPoint> points;

  double predict(double bytes) const { return alpha_s + beta_s_per_byte * bytes; }
};

// Needs every time > 0, every bytes >= 0, and at least two distinct sizes (throws with the
// values otherwise).
AlphaBetaFit fit_alpha_beta(std::vector<FitPoint> points);

}  // namespace tpb
