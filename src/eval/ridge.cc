#include "eval/ridge.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>

namespace braintune::eval {
namespace {

// Screening in float32 (RidgeOptions::screen_in_float32): a target whose best two alphas have
// float32 errors closer than kScreenTolerance * sqrt(best * scale) is computed again in float64.
// Rounding in float32 moves an error by about 1e-7 of that (see ArgminScreened), so the float32
// order of two alphas further apart than this is their float64 order.
constexpr double kScreenTolerance = 1e-4;

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

// Columns `cols` of a [rows, tb] batch; an undefined `cols` means all of them.
torch::Tensor Columns(const torch::Tensor& batch, const torch::Tensor& cols) {
  return cols.defined() ? batch.index_select(1, cols) : batch;
}

// Leave-one-out, what every target batch shares. With an unpenalised intercept the hat matrix is
// H = 11'/n + U diag(g) U' with gains g = s^2 / (s^2 + alpha), and the leave-one-out residual of
// row r is e_r / (1 - H_rr), e = Yc - U diag(g) U'Yc the residual of the fit on all rows.
struct LeaveOneOut {
  const Decomposition* d = nullptr;
  torch::Tensor gains;        // [a, k]
  torch::Tensor row_scales;  // [a, n]: 1 / (sqrt(n) (1 - H_rr)), so that sum_r (d_r e_r)^2 is the mean
};

LeaveOneOut PrepareLeaveOneOut(const Decomposition& d, const torch::Tensor& alphas) {
  LeaveOneOut l;
  l.d = &d;
  const torch::Tensor s2 = d.s * d.s;
  l.gains = s2 / (s2 + alphas.unsqueeze(1));
  const int64_t n = d.u.size(0);
  const torch::Tensor hat_diag = (d.u * d.u).mm(l.gains.t()).t() + 1.0 / n;  // [a, n]
  l.row_scales = 1.0 / ((1 - hat_diag) * std::sqrt(static_cast<double>(n)));
  return l;
}

// Mean squared leave-one-out errors [a, tb] (float64) of centred targets yc [n, tb], given
// z = U'yc [k, tb], computed in `dtype`. One product [n, k] x [k, tb] per alpha: the least
// leave-one-out needs, since the row weights change with alpha.
torch::Tensor LeaveOneOutErrors(const LeaveOneOut& l, const torch::Tensor& yc, const torch::Tensor& z,
                                torch::ScalarType dtype) {
  const torch::Tensor u = l.d->u.to(dtype), y = yc.to(dtype), uty = z.to(dtype);
  const torch::Tensor gains = l.gains.to(dtype), scales = l.row_scales.to(dtype);
  const int64_t a = gains.size(0);
  torch::Tensor errors = torch::empty({a, y.size(1)}, yc.options());
  torch::Tensor residual = torch::empty_like(y);  // reused by every alpha: no fresh pages per product
  for (int64_t i = 0; i < a; ++i) {
    torch::addmm_out(residual, y, u, gains[i].unsqueeze(1) * uty, /*beta=*/1, /*alpha=*/-1);
    // sum() over rows sums pairwise, which keeps float32 sums of 1e4 rows to ~1e-7.
    errors[i].copy_(residual.mul_(scales[i].unsqueeze(1)).square_().sum(0));
  }
  return errors;
}

// Contiguous folds, what every target batch shares.
struct Fold {
  int64_t begin = 0, end = 0;  // validation rows
  torch::Tensor train_rows;    // the other rows
  Decomposition d;             // of the training rows
  torch::Tensor x_val;         // validation rows centred as training, in its basis: (Xv - mean) V [nv, k]
};

std::vector<Fold> PrepareFolds(const torch::Tensor& x, int folds) {
  const torch::Tensor xd = x.to(torch::kFloat64);
  const int64_t n = xd.size(0);
  std::vector<Fold> out;
  for (const auto& [vb, ve] : ContiguousFolds(n, folds)) {
    Fold f;
    f.begin = vb;
    f.end = ve;
    f.train_rows = torch::cat({torch::arange(0, vb), torch::arange(ve, n)}).to(xd.device());
    f.d = Decompose(xd.index_select(0, f.train_rows));
    f.x_val = (xd.slice(0, vb, ve) - f.d.x_mean).mm(f.d.v);
    out.push_back(std::move(f));
  }
  return out;
}

// Squared validation errors summed over the folds, [a, tb] (float64), of targets y [n, tb],
// computed in `dtype`. Per fold and alpha one product [nv, k] x [k, tb].
torch::Tensor FoldErrors(const std::vector<Fold>& folds, const torch::Tensor& alphas, const torch::Tensor& y,
                         torch::ScalarType dtype) {
  const torch::Tensor yd = y.to(dtype);
  const int64_t a = alphas.size(0);
  torch::Tensor errors = torch::zeros({a, y.size(1)}, y.options().dtype(torch::kFloat64));
  for (const Fold& f : folds) {
    const torch::Tensor yt = yd.index_select(0, f.train_rows), y_mean = yt.mean(0);
    const torch::Tensor uty = f.d.u.to(dtype).t().mm(yt - y_mean);  // [k, tb]
    const torch::Tensor yv = yd.slice(0, f.begin, f.end) - y_mean, xv = f.x_val.to(dtype);
    const torch::Tensor shrink = (f.d.s / (f.d.s * f.d.s + alphas.unsqueeze(1))).to(dtype);  // [a, k]
    torch::Tensor residual = torch::empty_like(yv);
    for (int64_t i = 0; i < a; ++i) {
      torch::addmm_out(residual, yv, xv, shrink[i].unsqueeze(1) * uty, /*beta=*/1, /*alpha=*/-1);
      errors[i] += residual.square_().sum(0);
    }
  }
  return errors;
}

// Errors [a, |cols|] (float64) of the batch's targets `cols` (undefined: all), computed in dtype.
using ErrorsOf = std::function<torch::Tensor(torch::ScalarType dtype, const torch::Tensor& cols)>;

// Per target of a batch, the index of the alpha with the smallest error; ties go to the first
// (smaller) alpha. With `screen`, errors are computed in float32 first (half the time of float64
// products on CPUs, and more on most GPUs), and only targets whose best two alphas are closer
// than the margin are computed again in float64, so the choice is the float64 one.
//
// The margin: float32 rounding moves each residual e_r by about eps32 (|y_r| + |fit_r|), so an
// error sum_r w_r e_r^2 moves by about eps32 sqrt(error * scale), scale = sum_r w_r y_r^2 with
// the largest weight (the error of predicting 0), times a small constant (the sums over rows
// cancel most of it). kScreenTolerance is ~1e3 times that, and the geometric mean keeps the
// margin honest for targets fitted almost exactly, whose float32 errors are mostly rounding.
torch::Tensor ArgminScreened(const ErrorsOf& errors_of, const torch::Tensor& scale, bool screen) {
  if (!screen) return errors_of(torch::kFloat64, {}).argmin(0);
  torch::Tensor errors = errors_of(torch::kFloat32, {});
  if (errors.size(0) < 2) return errors.argmin(0);
  const torch::Tensor best_two = std::get<0>(errors.topk(2, 0, /*largest=*/false, /*sorted=*/true));
  const torch::Tensor margin = kScreenTolerance * (best_two[0].clamp_min(0) * scale).sqrt();
  const torch::Tensor close = (best_two[1] - best_two[0] <= margin).nonzero().squeeze(1);
  if (std::getenv("RIDGE_SCREEN_DEBUG")) {  // TEMPORARY
    torch::Tensor exact = errors_of(torch::kFloat64, {});
    torch::Tensor dev = (errors - exact).abs() / (best_two[0].clamp_min(0) * scale).sqrt();
    torch::Tensor rel = (errors - exact).abs() / exact;
    std::fprintf(stderr, "screen: max dev/sqrt(best*scale) %.3g, max rel %.3g, flagged %lld of %lld, argmin differs %lld\n",
                 dev.max().item<double>(), rel.max().item<double>(), (long long)close.numel(), (long long)errors.size(1),
                 (long long)errors.argmin(0).ne(exact.argmin(0)).sum().item<int64_t>());
  }
  if (close.numel() > 0) errors.index_copy_(1, close, errors_of(torch::kFloat64, close));
  return errors.argmin(0);
}

// One pass over the targets in batches of options.target_batch: per batch, chooses each target's
// alpha (leave-one-out, or contiguous folds) and, with `model`, fits it on all rows from the
// full-data decomposition and U'Yc that leave-one-out needs anyway. Returns the alpha indices [t].
torch::Tensor ChooseAndFit(const torch::Tensor& x, const torch::Tensor& y, const RidgeOptions& options,
                           bool leave_one_out, RidgeModel* model) {
  torch::NoGradGuard no_grad;
  const torch::Tensor alphas = AlphaTensor(options.alphas, x.device());
  const int64_t t = y.size(1);
  std::optional<Decomposition> full;
  if (leave_one_out || model != nullptr) full = Decompose(x);
  LeaveOneOut loo;
  std::vector<Fold> folds;
  if (leave_one_out) {
    loo = PrepareLeaveOneOut(*full, alphas);
  } else {
    folds = PrepareFolds(x, options.folds);
  }
  const auto f64 = y.options().dtype(torch::kFloat64);
  torch::Tensor chosen = torch::empty({t}, y.options().dtype(torch::kLong)), y_mean = torch::empty({t}, f64);
  if (model != nullptr) model->weights = torch::empty({x.size(1), t}, f64);
  for (int64_t b = 0; b < t; b += options.target_batch) {
    const int64_t e = std::min(t, b + options.target_batch);
    // Batches are converted and centred one at a time: no float64 copy of all of Y.
    const torch::Tensor yb = y.slice(1, b, e).to(torch::kFloat64).contiguous();
    y_mean.slice(0, b, e).copy_(yb.mean(0));
    const torch::Tensor yc = yb - y_mean.slice(0, b, e);
    torch::Tensor z;  // U'Yc [k, tb] of the full-data decomposition
    if (full) z = full->u.t().mm(yc);
    torch::Tensor idx;
    if (leave_one_out) {
      const torch::Tensor scale = yc.square().sum(0) * loo.row_scales.max().square();
      idx = ArgminScreened(
          [&](torch::ScalarType dtype, const torch::Tensor& cols) {
            return LeaveOneOutErrors(loo, Columns(yc, cols), Columns(z, cols), dtype);
          },
          scale, options.screen_in_float32);
    } else {
      const torch::Tensor scale = yc.square().sum(0);
      idx = ArgminScreened(
          [&](torch::ScalarType dtype, const torch::Tensor& cols) {
            return FoldErrors(folds, alphas, Columns(yc, cols), dtype);
          },
          scale, options.screen_in_float32);
    }
    chosen.slice(0, b, e).copy_(idx);
    if (model != nullptr) {
      model->weights.slice(1, b, e).copy_(full->v.mm(Shrink(full->s, alphas.index_select(0, idx)) * z));
    }
  }
  if (model != nullptr) {
    model->alphas = alphas.index_select(0, chosen);
    model->intercept = y_mean - full->x_mean.matmul(model->weights);
  }
  return chosen;
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
  const torch::Tensor alphas = AlphaTensor(options.alphas, x.device());
  return alphas.index_select(0, ChooseAndFit(x, y, options, /*leave_one_out=*/false, nullptr));
}

torch::Tensor ChooseAlphasLeaveOneOut(const torch::Tensor& x, const torch::Tensor& y, const RidgeOptions& options) {
  const torch::Tensor alphas = AlphaTensor(options.alphas, x.device());
  return alphas.index_select(0, ChooseAndFit(x, y, options, /*leave_one_out=*/true, nullptr));
}

RidgeModel FitRidgeCV(const torch::Tensor& x, const torch::Tensor& y, const RidgeOptions& options,
                      bool leave_one_out) {
  RidgeModel m;
  ChooseAndFit(x, y, options, leave_one_out, &m);
  return m;
}

}  // namespace braintune::eval
