#include "eval/leace.h"

#include <algorithm>

#include "eval/ridge.h"

namespace braintune::eval {

using torch::Tensor;

Tensor ConceptEraser::Apply(const Tensor& x) const {
  Tensor xd = x.to(torch::kFloat64);
  return (xd - torch::matmul(xd - mean, edit)).to(x.scalar_type());
}

ConceptEraser FitLeace(const Tensor& x_in, const Tensor& z_in) {
  const Tensor x = x_in.to(torch::kFloat64), z = z_in.to(torch::kFloat64).reshape({x_in.size(0), -1});
  const int64_t n = x.size(0), d = x.size(1);
  ConceptEraser e;
  e.mean = x.mean(0);
  const Tensor xc = x - e.mean, zc = z - z.mean(0);
  const Tensor sigma_xx = torch::matmul(xc.t(), xc) / (n - 1);
  const Tensor sigma_xz = torch::matmul(xc.t(), zc) / (n - 1);  // [d, k]
  // Whitening from the eigendecomposition; directions of (numerically) zero variance are left out.
  auto [values, vectors] = torch::linalg::eigh(sigma_xx, "L");
  const double tol = values.max().item<double>() * static_cast<double>(d) * 1e-12;
  const Tensor keep = values > tol;
  const Tensor safe = torch::where(keep, values, torch::ones_like(values));
  const Tensor inv_sqrt = torch::where(keep, safe.rsqrt(), torch::zeros_like(values));
  const Tensor sqrt = torch::where(keep, safe.sqrt(), torch::zeros_like(values));
  const Tensor w = torch::matmul(vectors * inv_sqrt, vectors.t());
  const Tensor w_pinv = torch::matmul(vectors * sqrt, vectors.t());
  // An orthonormal basis of the column space of W Sigma_xz.
  auto [u, s, vh] = torch::linalg::svd(torch::matmul(w, sigma_xz), /*full_matrices=*/false, c10::nullopt);
  const double s_tol = (s.numel() > 0 ? s.max().item<double>() : 0.0) * static_cast<double>(std::max(d, z.size(1))) * 1e-12;
  e.rank = (s > s_tol).sum().item<int64_t>();
  if (e.rank == 0) {
    e.edit = torch::zeros({d, d}, torch::kFloat64);
    return e;
  }
  const Tensor q = u.narrow(1, 0, e.rank);
  const Tensor p = torch::matmul(q, q.t());
  // Row form of W+ P W (all three symmetric): x - (x - mean) (W P W+).
  e.edit = torch::matmul(torch::matmul(w, p), w_pinv);
  return e;
}

double ProbeR2(const Tensor& x_train, const Tensor& z_train, const Tensor& x_test, const Tensor& z_test, double alpha) {
  const Tensor xt = x_train.to(torch::kFloat64), xs = x_test.to(torch::kFloat64);
  const Tensor zt = z_train.to(torch::kFloat64).reshape({x_train.size(0), -1});
  const Tensor zs = z_test.to(torch::kFloat64).reshape({x_test.size(0), -1});
  const Tensor mu = xt.mean(0), sd = xt.std(0, /*unbiased=*/false).clamp_min(1e-12);
  const Tensor a = (xt - mu) / sd, b = (xs - mu) / sd;
  const RidgeModel probe = FitRidge(a, zt, torch::full({zt.size(1)}, alpha, torch::kFloat64));
  const Tensor pred = probe.Predict(b);
  const double ss_res = (zs - pred).pow(2).sum().item<double>();
  const double ss_tot = (zs - zs.mean(0)).pow(2).sum().item<double>();
  return ss_tot > 0 ? 1.0 - ss_res / ss_tot : 0.0;
}

}  // namespace braintune::eval
