// Ridge with a cross-validated alpha per target (src/eval/ridge.h) against scikit-learn's
// RidgeCV(alpha_per_target=True) (bench/ridge_reference.py) on the same data, same alphas and
// same threads: time, peak memory and held-out accuracy (issue 6). bench/ridge_bench.sh builds
// and runs it.
//
//   ridge_bench [--n 5000] [--p 2000] [--t 20000] [--test 1000] [--threads 2] [--folds 5]
//               [--seed 0] [--dir /tmp/braintune-ridge-bench] [--quick]
//
// 1. Writes a seeded synthetic problem to DIR/problem.h5: correlated, temporally smooth features
//    (a decaying spectrum in a random basis, AR(1) over TRs), responses from low-rank true
//    weights with per-target noise levels spread over two decades (so the best alphas differ),
//    and a held-out block of --test TRs after the training TRs.
// 2. Runs each method in its own process, so that each peak RSS is its own: scikit-learn
//    (leave-one-out, the only per-target mode it has), then this binary re-invoked with
//    --mode loo and --mode folds (FitRidgeCV in leave-one-out mode and with contiguous folds).
//    Each reads the problem, times fit + predict on the held-out block and writes its chosen
//    alphas and predictions to DIR/<method>.h5.
// 3. Checks equal accuracy of our leave-one-out against scikit-learn's (same alpha on >= 99% of
//    targets, held-out predictions within 1e-4 relative, held-out r within 1e-3) and prints a
//    table with times, peak RSS and the ratios scikit-learn / ours. Exits 1 if accuracy differs.
//
// --quick is a smoke size (1000 x 400 x 2000, 250 held out).
//
// --banded P1 benchmarks banded ridge instead (src/eval/banded_ridge.h, issue 19): the first P1
// features are band 1, the rest band 2, alphas per band and target chosen over every pair of the
// grid by the same contiguous folds; against bench/banded_ridge_reference.py, the same estimator
// written straightforwardly in NumPy (per fold and pair, a solve of the penalised normal
// equations). Same checks of equal accuracy (the same pair on >= 99% of targets, predictions
// within 1e-4 relative). Default size there 2,000 x 400 (P1 384) x 2,000, 500 held out.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "data/hdf5_util.h"
#include "data/hdf5_writer.h"
#include "eval/banded_ridge.h"
#include "eval/ridge.h"

namespace {

namespace h5 = braintune::data::internal;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "ridge_bench: %s\n", what.c_str());
  std::exit(2);
}

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // Linux: KiB
}

// HDF5 files of named float32 / float64 arrays (the only layout this benchmark uses).
void WriteArrays(const std::string& path, const std::map<std::string, torch::Tensor>& arrays) {
  h5::SilenceHdf5Errors();
  h5::Handle file = h5::OwnFile(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  if (!file.ok()) Die(path + ": cannot create");
  h5::Writer writer(path, file.get());
  for (const auto& [name, tensor] : arrays) {
    const torch::Tensor c = tensor.contiguous();
    const bool f64 = c.scalar_type() == torch::kFloat64;
    if (!f64 && c.scalar_type() != torch::kFloat32) Die(name + ": only float32/float64 are written");
    std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
    absl::Status s = writer.Array("/" + name, f64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT,
                                  f64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE, dims, c.data_ptr());
    if (!s.ok()) Die(s.ToString());
  }
  if (file.Close() < 0) Die(path + ": cannot close (disk full?)");
}

// Reads a whole float dataset in its stored precision (float32 or float64).
torch::Tensor ReadArray(const std::string& path, const std::string& name) {
  h5::SilenceHdf5Errors();
  h5::Handle file = h5::OwnFile(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!file.ok()) Die(path + ": cannot open");
  h5::Handle ds = h5::OwnObject(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT));
  if (!ds.ok()) Die(path + ": no dataset " + name);
  h5::Handle space = h5::OwnSpace(H5Dget_space(ds.get()));
  hsize_t dims[2] = {0, 0};
  const int rank = H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  if (rank < 1 || rank > 2) Die(path + ": " + name + ": expected 1 or 2 dimensions");
  h5::Handle type = h5::OwnType(H5Dget_type(ds.get()));
  const bool f64 = H5Tget_class(type.get()) == H5T_FLOAT && H5Tget_size(type.get()) == 8;
  std::vector<int64_t> sizes(dims, dims + rank);
  torch::Tensor out = torch::empty(sizes, f64 ? torch::kFloat64 : torch::kFloat32);
  if (H5Dread(ds.get(), f64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
              out.data_ptr()) < 0) {
    Die(path + ": " + name + ": cannot read");
  }
  return out;
}

// x_{r} = rho x_{r-1} + sqrt(1 - rho^2) e_r over rows: unit variance, lag-1 correlation rho.
torch::Tensor Ar1Rows(torch::Tensor e, double rho) {
  for (int64_t r = 1; r < e.size(0); ++r) e[r].mul_(std::sqrt(1 - rho * rho)).add_(e[r - 1], rho);
  return e;
}

struct Sizes {
  int64_t n = 5000, p = 2000, t = 20000, test = 1000;
};

// The synthetic encoding problem (see the file comment), float32 as fMRI data are stored.
std::map<std::string, torch::Tensor> MakeProblem(const Sizes& s, const std::vector<double>& alphas, int seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  const int64_t rows = s.n + s.test, rank = 20;
  // Features: spectrum 1/(1 + j/10) in a random orthonormal basis, smooth over TRs, z-scored.
  torch::Tensor basis = std::get<0>(torch::linalg_qr(torch::randn({s.p, s.p}, torch::kFloat64)));
  torch::Tensor scale = (1.0 / (1.0 + torch::arange(s.p, torch::kFloat64) / 10.0)).sqrt();
  torch::Tensor x = Ar1Rows(torch::randn({rows, s.p}, torch::kFloat64), 0.5).mul_(scale).mm(basis.t());
  x = (x - x.mean(0)) / x.std(0);
  // Responses: low-rank true weights (targets share a few latent dimensions, as neighbouring
  // voxels do), signal of unit variance, noise sd log-uniform in [0.5, 10] (R^2 0.8 .. 0.01),
  // mildly autocorrelated, and an offset per target.
  torch::Tensor w = torch::randn({s.p, rank}, torch::kFloat64).mm(torch::randn({rank, s.t}, torch::kFloat64));
  torch::Tensor signal = x.mm(w);
  signal = signal / signal.slice(0, 0, s.n).std(0);
  torch::Tensor noise_sd = torch::pow(10.0, torch::empty({s.t}, torch::kFloat64).uniform_(std::log10(0.5), 1.0));
  torch::Tensor noise = Ar1Rows(torch::randn({rows, s.t}, torch::kFloat64), 0.3) * noise_sd;
  torch::Tensor y = signal + noise + torch::empty({s.t}, torch::kFloat64).uniform_(-3, 3);
  auto f32 = [](const torch::Tensor& v) { return v.to(torch::kFloat32).contiguous(); };
  return {{"x_train", f32(x.slice(0, 0, s.n))},
          {"y_train", f32(y.slice(0, 0, s.n))},
          {"x_test", f32(x.slice(0, s.n))},
          {"y_test", f32(y.slice(0, s.n))},
          {"alphas", torch::tensor(alphas, torch::kFloat64)}};
}

// Child: one of our modes on the problem; prints a JSON line as bench/ridge_reference.py does.
int RunOurs(const std::string& mode, const std::string& problem, const std::string& out, int folds) {
  const torch::Tensor x = ReadArray(problem, "x_train"), y = ReadArray(problem, "y_train");
  const torch::Tensor x_test = ReadArray(problem, "x_test"), alphas = ReadArray(problem, "alphas");
  const double loaded = PeakRssMb();
  braintune::eval::RidgeOptions options;
  options.alphas.assign(alphas.data_ptr<double>(), alphas.data_ptr<double>() + alphas.numel());
  options.folds = folds;
  const double start = Now();
  torch::Tensor chosen, pred;
  if (mode == "banded") {
    const int64_t p1 = ReadArray(problem, "band1_columns").item<double>();
    const braintune::eval::BandedRidgeModel model =
        braintune::eval::FitBandedRidgeCV({x.slice(1, 0, p1), x.slice(1, p1)}, y, options);
    pred = model.Predict(x_test);
    chosen = model.alphas;
  } else {
    braintune::eval::RidgeModel model = braintune::eval::FitRidgeCV(x, y, options, /*leave_one_out=*/mode == "loo");
    pred = model.Predict(x_test);
    chosen = model.alphas;
  }
  const double seconds = Now() - start;
  WriteArrays(out, {{"alphas", chosen}, {"pred", pred}});
  std::printf("{\"seconds\": %.3f, \"peak_mb\": %.1f, \"loaded_mb\": %.1f}\n", seconds, PeakRssMb(), loaded);
  return 0;
}

struct Run {
  double seconds = 0, peak_mb = 0, loaded_mb = 0;
  torch::Tensor alphas, pred;  // [t], [m, t]
};

double JsonNumber(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) Die("no '" + key + "' in the output: " + json);
  return std::strtod(json.c_str() + at + key.size() + 3, nullptr);
}

// Runs `command` (which writes `out`), parses its JSON line and reads its results back.
Run RunChild(const std::string& command, const std::string& out) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) Die("cannot run " + command);
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  if (::pclose(pipe) != 0) Die("failed: " + command + "\n" + output);
  Run r;
  r.seconds = JsonNumber(output, "seconds");
  r.peak_mb = JsonNumber(output, "peak_mb");
  r.loaded_mb = JsonNumber(output, "loaded_mb");
  r.alphas = ReadArray(out, "/alphas");
  r.pred = ReadArray(out, "/pred");
  return r;
}

// Pearson r per column of a and b [m, t].
torch::Tensor ColumnR(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor ac = a - a.mean(0), bc = b - b.mean(0);
  return (ac * bc).sum(0) / (ac.norm(2, 0) * bc.norm(2, 0));
}

// --banded: banded ridge, ours against the NumPy reference (see the file comment).
int BandedMain(const Sizes& sizes, int64_t band1, int threads, int folds, int seed, const std::string& dir) {
  if (band1 >= sizes.p) Die("--banded must be below --p");
  const std::string problem = dir + "/banded-problem.h5";
  const braintune::eval::RidgeOptions defaults;
  double start = Now();
  std::map<std::string, torch::Tensor> arrays = MakeProblem(sizes, defaults.alphas, seed);
  arrays["band1_columns"] = torch::tensor({static_cast<double>(band1)}, torch::kFloat64);
  WriteArrays(problem, arrays);
  std::printf("ridge_bench --banded: %lld TRs x (%lld + %lld) features x %lld targets, %lld held-out TRs, %zu x %zu "
              "alpha pairs, %d contiguous folds, %d threads; problem written in %.1f s\n",
              static_cast<long long>(sizes.n), static_cast<long long>(band1), static_cast<long long>(sizes.p - band1),
              static_cast<long long>(sizes.t), static_cast<long long>(sizes.test), defaults.alphas.size(),
              defaults.alphas.size(), folds, threads, Now() - start);
  std::fflush(stdout);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const Run numpy = RunChild("/usr/bin/python3 " BRAINTUNE_SOURCE_DIR "/bench/banded_ridge_reference.py " + problem +
                                 " " + dir + "/banded-numpy.h5 " + std::to_string(folds),
                             dir + "/banded-numpy.h5");
  const Run ours = RunChild(self + " --mode banded --problem " + problem + " --out " + dir + "/banded.h5 --threads " +
                                std::to_string(threads) + " --folds " + std::to_string(folds),
                            dir + "/banded.h5");
  const torch::Tensor y_test = ReadArray(problem, "/y_test").to(torch::kFloat64);
  // alphas [2, t]: the same pair where both bands' alphas agree.
  const double same = ours.alphas.eq(numpy.alphas).all(0).to(torch::kFloat64).mean().item<double>();
  const double pred_diff = ((ours.pred - numpy.pred).abs().max() / numpy.pred.abs().max()).item<double>();
  const bool equal = same >= 0.99 && pred_diff <= 1e-4;
  const torch::Tensor pairs = ours.alphas.select(0, 0) * 1e6 + ours.alphas.select(0, 1);
  std::printf("\n| method | fit + predict s | peak RSS MB (after loading) | NumPy time / ours | mean held-out r | "
              "distinct alpha pairs chosen |\n|---|---|---|---|---|---|\n");
  std::printf("| NumPy, per fold and pair a solve | %.1f | %.0f (%.0f) | 1.00 | %.4f | %lld |\n", numpy.seconds,
              numpy.peak_mb, numpy.loaded_mb, ColumnR(numpy.pred, y_test).mean().item<double>(),
              static_cast<long long>(std::get<0>(torch::_unique(numpy.alphas.select(0, 0) * 1e6 +
                                                                numpy.alphas.select(0, 1))).numel()));
  std::printf("| braintune FitBandedRidgeCV | %.1f | %.0f (%.0f) | %.2f | %.4f | %lld |\n", ours.seconds, ours.peak_mb,
              ours.loaded_mb, numpy.seconds / ours.seconds, ColumnR(ours.pred, y_test).mean().item<double>(),
              static_cast<long long>(std::get<0>(torch::_unique(pairs)).numel()));
  std::printf("\naccuracy vs NumPy: the same alpha pair on %.2f%% of targets (>= 99%%), held-out predictions differ "
              "by %.1e relative (<= 1e-4): %s\nspeed: %.2fx NumPy\n",
              100 * same, pred_diff, equal ? "equal" : "NOT EQUAL", numpy.seconds / ours.seconds);
  return equal ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Sizes sizes;
  int threads = 2, folds = 5, seed = 0;
  int64_t band1 = 0;   // --banded P1
  bool sized = false;  // a size flag was given
  std::string dir = "/tmp/braintune-ridge-bench", mode, problem, out;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--quick") {
      sizes = {1000, 400, 2000, 250};
      sized = true;
      continue;
    }
    if (i + 1 >= argc) Die("missing value after " + k);
    const std::string v = argv[++i];
    sized = sized || k == "--n" || k == "--p" || k == "--t" || k == "--test";
    if (k == "--n") sizes.n = std::stoll(v);
    else if (k == "--p") sizes.p = std::stoll(v);
    else if (k == "--t") sizes.t = std::stoll(v);
    else if (k == "--test") sizes.test = std::stoll(v);
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--folds") folds = std::stoi(v);
    else if (k == "--seed") seed = std::stoi(v);
    else if (k == "--dir") dir = v;
    else if (k == "--banded") band1 = std::stoll(v);
    else if (k == "--mode") mode = v;        // internal: the child processes
    else if (k == "--problem") problem = v;  // internal
    else if (k == "--out") out = v;          // internal
    else Die("unknown flag " + k);
  }
  torch::set_num_threads(threads);
  if (!mode.empty()) return RunOurs(mode, problem, out, folds);

  // Children inherit the thread counts: LibTorch's OpenMP pool, and OpenBLAS, which numpy and
  // LibTorch (Debian's builds) both call for matrix products.
  const std::string threads_s = std::to_string(threads);
  for (const char* var : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"}) {
    setenv(var, threads_s.c_str(), 1);
  }
  std::filesystem::create_directories(dir);
  if (band1 > 0) return BandedMain(sized ? sizes : Sizes{2000, 400, 2000, 500}, band1, threads, folds, seed, dir);
  problem = dir + "/problem.h5";
  const braintune::eval::RidgeOptions defaults;
  double start = Now();
  WriteArrays(problem, MakeProblem(sizes, defaults.alphas, seed));
  std::printf("ridge_bench: %lld TRs x %lld features x %lld targets, %lld held-out TRs, %zu alphas "
              "logspace(1, 4), %d threads; problem written in %.1f s\n",
              static_cast<long long>(sizes.n), static_cast<long long>(sizes.p), static_cast<long long>(sizes.t),
              static_cast<long long>(sizes.test), defaults.alphas.size(), threads, Now() - start);
  std::fflush(stdout);

  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  auto ours = [&](const std::string& m) {
    return self + " --mode " + m + " --problem " + problem + " --out " + dir + "/" + m + ".h5 --threads " +
           threads_s + " --folds " + std::to_string(folds);
  };
  const Run sklearn =
      RunChild("/usr/bin/python3 " BRAINTUNE_SOURCE_DIR "/bench/ridge_reference.py " + problem + " " + dir + "/sklearn.h5",
               dir + "/sklearn.h5");
  const Run loo = RunChild(ours("loo"), dir + "/loo.h5");
  const Run by_folds = RunChild(ours("folds"), dir + "/folds.h5");

  // Accuracy: ours (leave-one-out) against scikit-learn on the held-out block.
  const torch::Tensor y_test = ReadArray(problem, "/y_test").to(torch::kFloat64);
  const double same_alphas = loo.alphas.eq(sklearn.alphas).to(torch::kFloat64).mean().item<double>();
  const double pred_diff = ((loo.pred - sklearn.pred).abs().max() / sklearn.pred.abs().max()).item<double>();
  const torch::Tensor r_sklearn = ColumnR(sklearn.pred, y_test), r_loo = ColumnR(loo.pred, y_test);
  const torch::Tensor r_folds = ColumnR(by_folds.pred, y_test);
  const double r_diff = (r_loo - r_sklearn).abs().max().item<double>();
  const bool equal = same_alphas >= 0.99 && pred_diff <= 1e-4 && r_diff <= 1e-3;

  std::printf("\n| method | fit + predict s | peak RSS MB (after loading) | scikit-learn time / ours | "
              "scikit-learn peak / ours | mean held-out r | distinct alphas chosen |\n|---|---|---|---|---|---|---|\n");
  auto row = [&](const char* name, const Run& r, const torch::Tensor& held_out_r) {
    std::printf("| %s | %.1f | %.0f (%.0f) | %.2f | %.2f | %.4f | %lld |\n", name, r.seconds, r.peak_mb, r.loaded_mb,
                sklearn.seconds / r.seconds, sklearn.peak_mb / r.peak_mb, held_out_r.mean().item<double>(),
                static_cast<long long>(std::get<0>(torch::_unique(r.alphas)).numel()));
  };
  row("scikit-learn RidgeCV(alpha_per_target=True), leave-one-out", sklearn, r_sklearn);
  row("braintune FitRidgeCV, leave-one-out", loo, r_loo);
  const std::string folds_name = "braintune FitRidgeCV, " + std::to_string(folds) + " contiguous folds";
  row(folds_name.c_str(), by_folds, r_folds);
  std::printf("\nleave-one-out accuracy vs scikit-learn: same alpha on %.2f%% of targets (>= 99%%), held-out "
              "predictions differ by %.1e relative (<= 1e-4), held-out r by %.1e (<= 1e-3): %s\n",
              100 * same_alphas, pred_diff, r_diff, equal ? "equal" : "NOT EQUAL");
  const double speedup = sklearn.seconds / loo.seconds;
  std::printf("speed: leave-one-out %.2fx scikit-learn, contiguous folds %.2fx (target: >= 3x at equal accuracy: "
              "%s)\n",
              speedup, sklearn.seconds / by_folds.seconds, speedup >= 3 && equal ? "met" : "NOT met");
  return equal ? 0 : 1;
}
