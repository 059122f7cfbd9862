#include "eval/ridge.h"

#include <dlfcn.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace braintune::eval {
namespace {

// Screening in float32 (RidgeOptions::screen_in_float32): a target whose best two alphas have
// float32 errors closer than kScreenTolerance * sqrt(best * scale) is computed again in float64.
// Rounding in float32 moves an error by at most 2e-7 of that on the benchmark's problems (see
// ArgminScreened), so the float32 order of two alphas further apart is their float64 order.
constexpr double kScreenTolerance = 2e-5;

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

torch::Tensor AlphaTensor(const std::vector<double>& alphas, const torch::Device& device) {
  return torch::tensor(alphas, torch::dtype(torch::kFloat64)).to(device);
}

// oneDNN's sgemm (row-major C = alpha op(A) op(B) + beta C; 0 on success), looked up at run time.
using Sgemm = int (*)(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                      int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// out = alpha a b + beta out, for float32 [m, k] x [k, n] -> [m, n]; `a` contiguous or the
// transpose of a contiguous tensor. The screening products are most of the time of choosing
// alphas, and on CPUs with AVX-512 oneDNN's sgemm is about twice as fast as the BLAS LibTorch
// calls: on the 2-core benchmark machine (AMD Zen 5) OpenBLAS 0.3.21 runs its AVX2 kernels,
// 165-195 GFLOP/s against oneDNN's 320. Debian's LibTorch links oneDNN as a shared library, so
// the symbol is there without braintune linking it; where it is not (other LibTorch builds, CUDA
// tensors), LibTorch's own product.
void MultiplyInto(torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b, float alpha, float beta) {
  static const Sgemm sgemm = reinterpret_cast<Sgemm>(dlsym(RTLD_DEFAULT, "dnnl_sgemm"));
  const bool transposed = !a.is_contiguous() && a.t().is_contiguous();
  if (sgemm != nullptr && out.is_cpu() && out.scalar_type() == torch::kFloat32 && a.scalar_type() == torch::kFloat32 &&
      b.scalar_type() == torch::kFloat32 && (a.is_contiguous() || transposed) && b.is_contiguous() &&
      out.is_contiguous() &&
      sgemm(transposed ? 'T' : 'N', 'N', a.size(0), b.size(1), a.size(1), alpha, a.data_ptr<float>(),
            transposed ? a.size(0) : a.size(1), b.data_ptr<float>(), b.size(1), beta, out.data_ptr<float>(),
            out.size(1)) == 0) {
    return;
  }
  torch::addmm_out(out, out, a, b, beta, alpha);
}

// Memory reused from one target batch (and one alpha) to the next, one buffer per name and
// dtype. Fresh pages are expensive on a VM: on the 2-core benchmark machine, faulting in the
// 80 MB output of a [5000, 2000] x [2000, 4000] float32 product took half as long as the product.
// Thread model: one thread.
class Scratch {
 public:
  // A contiguous tensor of `sizes` whose contents are undefined; invalidates the previous tensor
  // of the same name and dtype.
  torch::Tensor Get(const std::string& name, torch::IntArrayRef sizes, const torch::TensorOptions& options) {
    torch::Tensor& buffer = buffers_[{name, options.dtype().toScalarType()}];
    const int64_t numel = c10::multiply_integers(sizes);
    if (!buffer.defined() || buffer.numel() < numel) {
      buffer = torch::Tensor();  // free first: the old and the new buffer need not coexist
      buffer = torch::empty({numel}, options);
    }
    return buffer.narrow(0, 0, numel).view(sizes);
  }

 private:
  std::map<std::pair<std::string, torch::ScalarType>, torch::Tensor> buffers_;
};

// Leave-one-out, what every target batch shares. With an unpenalised intercept the hat matrix is
// H = 11'/n + U diag(g) U' with gains g = s^2 / (s^2 + alpha), and the leave-one-out residual of
// row r is e_r / (1 - H_rr), e = Yc - U diag(g) U'Yc the residual of the fit on all rows.
struct LeaveOneOut {
  const Decomposition* d = nullptr;
  torch::Tensor u32;         // d->u in float32, for screening
  torch::Tensor gains;       // [a, k]
  torch::Tensor row_scales;  // [a, n]: 1 / (sqrt(n) (1 - H_rr)), so that sum_r (d_r e_r)^2 is the mean
};

LeaveOneOut PrepareLeaveOneOut(const Decomposition& d, const torch::Tensor& alphas, bool screen) {
  LeaveOneOut l;
  l.d = &d;
  if (screen) l.u32 = d.u.to(torch::kFloat32);
  const torch::Tensor s2 = d.s * d.s;
  l.gains = s2 / (s2 + alphas.unsqueeze(1));
  const int64_t n = d.u.size(0);
  const torch::Tensor hat_diag = (d.u * d.u).mm(l.gains.t()).t() + 1.0 / n;  // [a, n]
  l.row_scales = 1.0 / ((1 - hat_diag) * std::sqrt(static_cast<double>(n)));
  return l;
}

// Mean squared leave-one-out errors [a, tb] (float64) of centred targets yc [n, tb] (float64),
// given z = U'yc [k, tb], computed in `dtype`. One product [n, k] x [k, tb] per alpha: the least
// leave-one-out needs, since the row weights change with alpha.
torch::Tensor LeaveOneOutErrors(const LeaveOneOut& l, const torch::Tensor& yc, const torch::Tensor& z,
                                torch::ScalarType dtype, Scratch& scratch) {
  const auto options = yc.options().dtype(dtype);
  torch::Tensor u = l.d->u, y = yc, uty = z;
  if (dtype == torch::kFloat32) {
    u = l.u32;
    y = scratch.Get("loo_y", yc.sizes(), options).copy_(yc);
    uty = scratch.Get("loo_uty", z.sizes(), options).copy_(z);
  }
  const torch::Tensor gains = l.gains.to(dtype), scales = l.row_scales.to(dtype);
  torch::Tensor shrunk = scratch.Get("loo_shrunk", uty.sizes(), options);
  torch::Tensor residual = scratch.Get("loo_residual", y.sizes(), options);
  torch::Tensor errors = torch::empty({gains.size(0), y.size(1)}, yc.options());
  for (int64_t i = 0; i < gains.size(0); ++i) {
    torch::mul_out(shrunk, uty, gains[i].unsqueeze(1));
    MultiplyInto(residual.copy_(y), u, shrunk, /*alpha=*/-1, /*beta=*/1);  // yc - U diag(g) U'yc
    // sum() over rows (a cascade sum) keeps float32 sums of 5,000 rows within ~3e-7; a float32
    // matrix-vector product with the weights moved errors by 1.5e-6.
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
  torch::Tensor u32, x_val32;  // d.u and x_val in float32, for screening
};

std::vector<Fold> PrepareFolds(const torch::Tensor& x, int folds, bool screen) {
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
    if (screen) {
      f.u32 = f.d.u.to(torch::kFloat32);
      f.x_val32 = f.x_val.to(torch::kFloat32);
    }
    out.push_back(std::move(f));
  }
  return out;
}

// Squared validation errors summed over the folds, [a, tb] (float64), of targets y [n, tb]
// (float64), computed in `dtype`. Per fold and alpha one product [nv, k] x [k, tb].
torch::Tensor FoldErrors(const std::vector<Fold>& folds, const torch::Tensor& alphas, const torch::Tensor& y,
                         torch::ScalarType dtype, Scratch& scratch) {
  const auto options = y.options().dtype(dtype);
  const bool f32 = dtype == torch::kFloat32;
  const torch::Tensor yd = f32 ? scratch.Get("folds_y", y.sizes(), options).copy_(y) : y;
  const int64_t tb = y.size(1);
  torch::Tensor errors = torch::zeros({alphas.size(0), tb}, y.options());
  for (const Fold& f : folds) {
    const torch::Tensor& u = f32 ? f.u32 : f.d.u;
    const torch::Tensor& xv = f32 ? f.x_val32 : f.x_val;
    torch::Tensor yt = scratch.Get("folds_yt", {f.train_rows.size(0), tb}, options);
    torch::index_select_out(yt, yd, 0, f.train_rows);
    const torch::Tensor y_mean = yt.mean(0);
    torch::Tensor uty = scratch.Get("folds_uty", {u.size(1), tb}, options);
    MultiplyInto(uty, u.t(), yt.sub_(y_mean), /*alpha=*/1, /*beta=*/0);  // [k, tb]
    torch::Tensor yv = scratch.Get("folds_yv", {f.end - f.begin, tb}, options);
    torch::sub_out(yv, yd.slice(0, f.begin, f.end), y_mean);
    const torch::Tensor shrink = (f.d.s / (f.d.s * f.d.s + alphas.unsqueeze(1))).to(dtype);  // [a, k]
    torch::Tensor shrunk = scratch.Get("folds_shrunk", uty.sizes(), options);
    torch::Tensor residual = scratch.Get("folds_residual", yv.sizes(), options);
    for (int64_t i = 0; i < alphas.size(0); ++i) {
      torch::mul_out(shrunk, uty, shrink[i].unsqueeze(1));
      MultiplyInto(residual.copy_(yv), xv, shrunk, /*alpha=*/-1, /*beta=*/1);  // yv - prediction
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
// cancel most of it). kScreenTolerance is 100 times the largest move measured (2e-7 sqrt(error *
// scale), bench/ridge_bench.cc at 4,000 and 20,000 targets; 0.1% to 1% of targets get
// recomputed), and the geometric mean keeps the margin honest for targets fitted almost exactly,
// whose float32 errors are mostly rounding.
//
// Returns the indices [tb] and the chosen alphas' errors [tb].
std::pair<torch::Tensor, torch::Tensor> ArgminScreened(const ErrorsOf& errors_of, const torch::Tensor& scale,
                                                       bool screen) {
  torch::Tensor errors = errors_of(screen ? torch::kFloat32 : torch::kFloat64, {});
  if (screen && errors.size(0) >= 2) {
    const torch::Tensor best_two = std::get<0>(errors.topk(2, 0, /*largest=*/false, /*sorted=*/true));
    const torch::Tensor margin = kScreenTolerance * (best_two[0].clamp_min(0) * scale).sqrt();
    const torch::Tensor close = (best_two[1] - best_two[0] <= margin).nonzero().squeeze(1);
    if (close.numel() > 0) errors.index_copy_(1, close, errors_of(torch::kFloat64, close));
  }
  torch::Tensor idx = errors.argmin(0);
  return {idx, errors.gather(0, idx.unsqueeze(0)).squeeze(0)};
}

// One pass over the targets in batches of options.target_batch: per batch, chooses each target's
// alpha (leave-one-out, or contiguous folds) and, with `model`, fits it on all rows from the
// full-data decomposition and U'Yc that leave-one-out needs anyway. Returns the alpha indices [t].
torch::Tensor ChooseAndFit(const torch::Tensor& x, const torch::Tensor& y, const RidgeOptions& options,
                           bool leave_one_out, RidgeModel* model) {
  torch::NoGradGuard no_grad;
  const bool screen = options.screen_in_float32;
  const torch::Tensor alphas = AlphaTensor(options.alphas, x.device());
  const int64_t n = y.size(0), t = y.size(1);
  std::optional<Decomposition> full;
  if (leave_one_out || model != nullptr) full = Decompose(x);
  LeaveOneOut loo;
  std::vector<Fold> folds;
  if (leave_one_out) {
    loo = PrepareLeaveOneOut(*full, alphas, screen);
  } else {
    folds = PrepareFolds(x, options.folds, screen);
  }
  const auto f64 = y.options().dtype(torch::kFloat64);
  torch::Tensor chosen = torch::empty({t}, y.options().dtype(torch::kLong)), y_mean = torch::empty({t}, f64);
  if (model != nullptr) {
    model->weights = torch::empty({x.size(1), t}, f64);
    model->cv_r2 = torch::empty({t}, f64);
  }
  Scratch scratch, small;  // `small` for the float64 recomputation of a few targets
  for (int64_t b = 0; b < t; b += options.target_batch) {
    const int64_t e = std::min(t, b + options.target_batch), tb = e - b;
    // Batches are converted and centred one at a time: no float64 copy of all of Y.
    torch::Tensor yc = scratch.Get("yc", {n, tb}, f64).copy_(y.slice(1, b, e));
    y_mean.slice(0, b, e).copy_(yc.mean(0));
    yc.sub_(y_mean.slice(0, b, e));
    torch::Tensor z;  // U'Yc [k, tb] of the full-data decomposition
    if (full) {
      z = scratch.Get("z", {full->u.size(1), tb}, f64);
      torch::mm_out(z, full->u.t(), yc);
    }
    std::pair<torch::Tensor, torch::Tensor> best;  // alpha indices, their errors
    const torch::Tensor sum_squares = yc.norm(2, 0).square();
    if (leave_one_out) {
      const torch::Tensor scale = sum_squares * loo.row_scales.max().square();
      best = ArgminScreened(
          [&](torch::ScalarType dtype, const torch::Tensor& cols) {
            if (!cols.defined()) return LeaveOneOutErrors(loo, yc, z, dtype, scratch);
            return LeaveOneOutErrors(loo, yc.index_select(1, cols), z.index_select(1, cols), dtype, small);
          },
          scale, screen);
    } else {
      const torch::Tensor& scale = sum_squares;
      best = ArgminScreened(
          [&](torch::ScalarType dtype, const torch::Tensor& cols) {
            if (!cols.defined()) return FoldErrors(folds, alphas, yc, dtype, scratch);
            return FoldErrors(folds, alphas, yc.index_select(1, cols), dtype, small);
          },
          scale, screen);
    }
    const torch::Tensor& idx = best.first;
    chosen.slice(0, b, e).copy_(idx);
    if (model != nullptr) {
      model->cv_r2.slice(0, b, e).copy_(
          torch::where(sum_squares > 0, 1 - best.second / sum_squares, torch::zeros_like(sum_squares)));
      // weights = V diag(s / (s^2 + alpha)) U'Yc, as FitRidge
      const torch::Tensor s = full->s.unsqueeze(1);
      torch::Tensor shrunk = scratch.Get("fit_shrunk", z.sizes(), f64);
      torch::add_out(shrunk, s * s, alphas.index_select(0, idx).unsqueeze(0));
      torch::div_out(shrunk, s, shrunk).mul_(z);
      torch::Tensor weights = model->weights.slice(1, b, e);  // written in place (BLAS ldc = t)
      torch::mm_out(weights, full->v, shrunk);
    }
  }
  if (model != nullptr) {
    model->alphas = alphas.index_select(0, chosen);
    model->intercept = y_mean - full->x_mean.matmul(model->weights);
  }
  return chosen;
}

}  // namespace

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

RidgeOptions::RidgeOptions() {
  for (int i = 0; i < 15; ++i) alphas.push_back(std::pow(10.0, 1.0 + 3.0 * i / 14.0));
}

torch::Tensor RidgeModel::Predict(const torch::Tensor& x) const {
  return x.to(torch::kFloat64).mm(weights).add_(intercept);
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

torch::Tensor FoldErrorsByAlpha(const torch::Tensor& x, const torch::Tensor& y, const RidgeOptions& options) {
  torch::NoGradGuard no_grad;
  const torch::Tensor alphas = AlphaTensor(options.alphas, x.device());
  const std::vector<Fold> folds = PrepareFolds(x, options.folds, /*screen=*/false);
  const int64_t t = y.size(1);
  torch::Tensor errors = torch::empty({alphas.size(0), t}, y.options().dtype(torch::kFloat64));
  Scratch scratch;
  for (int64_t b = 0; b < t; b += options.target_batch) {
    const int64_t e = std::min(t, b + options.target_batch);
    const torch::Tensor yb = y.slice(1, b, e).to(torch::kFloat64).contiguous();
    errors.slice(1, b, e).copy_(FoldErrors(folds, alphas, yb, torch::kFloat64, scratch));
  }
  return errors;
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
