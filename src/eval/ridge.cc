#include "eval/ridge.h"

#include <cmath>
#include <limits>

namespace braintune::eval {
namespace {

// The centred design's singular structure: Xc = U diag(s) V', components with s > 0 only.
struct Decomposition {
  torch::Tensor u;       // [n, k]
  torch::Tensor s;       // [k]
  torch::Tensor v;       // [p, k]
  torch::Tensor x_mean;  // [p]
};

Decomposition Decompose(const torch::Tensor& x) {
  Decomposition d;
  torch::Tensor xd = x.to(torch::kFloat64);
  d.x_mean = xd.mean(0);
  torch::Tensor xc = xd - d.x_mean;
  const int64_t n = xc.size(0), p = xc.size(1);
  torch::Tensor evals, evecs;
  if (n > p) {  // primal: X'X = V S^2 V'
    std::tie(evals, evecs) = torch::linalg_eigh(xc.t().mm(xc));
  } else {      // kernel: XX' = U S^2 U'
    std::tie(evals, evecs) = torch::linalg_eigh(xc.mm(xc.t()));
  }
  // Drop the null space (centring alone removes one dimension).
  const double tol = evals.max().item<double>() * std::max(n, p) * std::numeric_limits<double>::epsilon();
  torch::Tensor keep = evals > tol;
  evals = evals.index({keep});
  evecs = evecs.index({torch::indexing::Slice(), keep});
  d.s = evals.sqrt();
  if (n > p) {
    d.v = evecs;
    d.u = xc.mm(d.v) / d.s;
  } else {
    d.u = evecs;
    d.v = xc.t().mm(d.u) / d.s;
  }
  return d;
}

// Per-target shrinkage s / (s^2 + alpha) for alphas [t] -> [k, t].
torch::Tensor Shrink(const torch::Tensor& s, const torch::Tensor& alphas) {
  torch::Tensor s2 = (s * s).unsqueeze(1);
  return s.unsqueeze(1) / (s2 + alphas.unsqueeze(0));
}

std::vector<std::pair<int64_t, int64_t>> ContiguousFolds(int64_t n, int folds) {
  std::vector<std::pair<int64_t, int64_t>> out;  // [begin, end), numpy.array_split's sizes
  int64_t begin = 0;
  for (int f = 0; f < folds; ++f) {
    const int64_t size = n / folds + (f < n % folds ? 1 : 0);
    out.emplace_back(begin, begin + size);
    begin += size;
  }
  return out;
}

torch::Tensor AlphaTensor(const std::vector<double>& alphas, const torch::Device& device) {
  return torch::tensor(alphas, torch::dtype(torch::kFloat64)).to(device);
}

}  // namespace

RidgeOptions::RidgeOptions() {
  for (int i = 0; i < 15; ++i) alphas.push_back(std::pow(10.0, 1.0 + 3.0 * i / 14.0));
}

torch::Tensor RidgeModel::Predict(const torch::Tensor& x) const {
  return x.to(torch::kFloat64).mm(weights) + intercept;
}

RidgeModel FitRidge(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& alphas,
                    int64_t target_batch) {
  torch::NoGradGuard no_grad;
  const Decomposition d = Decompose(x);
  torch::Tensor yd = y.to(torch::kFloat64);
  torch::Tensor y_mean = yd.mean(0);
  const int64_t t = yd.size(1);
  RidgeModel m;
  m.weights = torch::empty({x.size(1), t}, yd.options());
  m.alphas = alphas.to(yd.options());
  for (int64_t b = 0; b < t; b += target_batch) {
    const int64_t e = std::min(t, b + target_batch);
    torch::Tensor uty = d.u.t().mm(yd.slice(1, b, e) - y_mean.slice(0, b, e));  // [k, tb]
    m.weights.slice(1, b, e).copy_(d.v.mm(Shrink(d.s, m.alphas.slice(0, b, e)) * uty));
  }
  m.intercept = y_mean - d.x_mean.matmul(m.weights);
  return m;
}

torch::Tensor ChooseAlphasByFolds(const torch::Tensor& x, const torch::Tensor& y, const RidgeOptions& options) {
  torch::NoGradGuard no_grad;
  torch::Tensor xd = x.to(torch::kFloat64), yd = y.to(torch::kFloat64);
  const int64_t n = xd.size(0), t = yd.size(1);
  const torch::Tensor alphas = AlphaTensor(options.alphas, xd.device());
  const int64_t a = alphas.size(0);
  torch::Tensor error = torch::zeros({a, t}, yd.options());  // summed squared error
  for (const auto& [vb, ve] : ContiguousFolds(n, options.folds)) {
    torch::Tensor train_rows = torch::cat({torch::arange(0, vb), torch::arange(ve, n)}).to(xd.device());
    torch::Tensor xt = xd.index_select(0, train_rows), yt = yd.index_select(0, train_rows);
    const Decomposition d = Decompose(xt);
    torch::Tensor y_mean = yt.mean(0);
    torch::Tensor xv = xd.slice(0, vb, ve) - d.x_mean;  // validation rows, centred as training
    torch::Tensor xvv = xv.mm(d.v);                     // [nv, k]
    for (int64_t b = 0; b < t; b += options.target_batch) {
      const int64_t e = std::min(t, b + options.target_batch);
      torch::Tensor uty = d.u.t().mm(yt.slice(1, b, e) - y_mean.slice(0, b, e));  // [k, tb]
      torch::Tensor yv = yd.slice(0, vb, ve).slice(1, b, e) - y_mean.slice(0, b, e);
      for (int64_t i = 0; i < a; ++i) {
        torch::Tensor shrink = (d.s / (d.s * d.s + alphas[i])).unsqueeze(1);  // [k, 1]
        torch::Tensor pred = xvv.mm(shrink * uty);
        error[i].slice(0, b, e) += (pred - yv).pow(2).sum(0);
      }
    }
  }
  return alphas.index_select(0, error.argmin(0));  // argmin returns the first minimum: smaller alpha
}

torch::Tensor ChooseAlphasLeaveOneOut(const torch::Tensor& x, const torch::Tensor& y, const RidgeOptions& options) {
  torch::NoGradGuard no_grad;
  const Decomposition d = Decompose(x);
  torch::Tensor yd = y.to(torch::kFloat64);
  const int64_t n = yd.size(0), t = yd.size(1);
  torch::Tensor yc = yd - yd.mean(0);
  const torch::Tensor alphas = AlphaTensor(options.alphas, yd.device());
  const int64_t a = alphas.size(0);
  torch::Tensor error = torch::zeros({a, t}, yd.options());
  torch::Tensor u2 = d.u * d.u;  // [n, k]
  for (int64_t i = 0; i < a; ++i) {
    // Hat matrix of the model with an unpenalised intercept: 11'/n + U diag(s^2/(s^2+alpha)) U'.
    torch::Tensor gain = d.s * d.s / (d.s * d.s + alphas[i]);  // [k]
    torch::Tensor h = u2.mv(gain) + 1.0 / n;                   // diag, [n]
    for (int64_t b = 0; b < t; b += options.target_batch) {
      const int64_t e = std::min(t, b + options.target_batch);
      torch::Tensor yb = yc.slice(1, b, e);
      torch::Tensor fitted = d.u.mm(gain.unsqueeze(1) * d.u.t().mm(yb));  // centred fit
      torch::Tensor loo = (yb - fitted) / (1 - h).unsqueeze(1);
      error[i].slice(0, b, e) += loo.pow(2).mean(0);
    }
  }
  return alphas.index_select(0, error.argmin(0));
}

RidgeModel FitRidgeCV(const torch::Tensor& x, const torch::Tensor& y, const RidgeOptions& options,
                      bool leave_one_out) {
  torch::Tensor alphas = leave_one_out ? ChooseAlphasLeaveOneOut(x, y, options) : ChooseAlphasByFolds(x, y, options);
  return FitRidge(x, y, alphas, options.target_batch);
}

}  // namespace braintune::eval
