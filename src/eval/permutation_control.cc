#include "eval/permutation_control.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "eval/metrics.h"

namespace braintune::eval {

using torch::Tensor;

namespace {

// Columns centred and scaled to unit norm (0 where constant): r = sum over rows of a product.
Tensor UnitColumns(const Tensor& x) {
  const Tensor c = x - x.mean(0);
  const Tensor norm = c.norm(2, 0);
  return torch::where(norm > 0, c / norm, torch::zeros_like(c));
}

}  // namespace

std::vector<std::pair<int64_t, int64_t>> PermutationBlocks(const std::vector<int64_t>& segment_rows,
                                                           int64_t block_rows) {
  std::vector<std::pair<int64_t, int64_t>> blocks;
  int64_t begin = 0;
  for (int64_t rows : segment_rows) {
    for (int64_t b = 0; b < rows; b += block_rows) blocks.emplace_back(begin + b, begin + std::min(rows, b + block_rows));
    begin += rows;
  }
  return blocks;
}

Tensor BlockPermutationPValues(const Tensor& predicted, const Tensor& actual, const std::vector<int64_t>& segment_rows,
                               const BlockPermutationOptions& options) {
  torch::NoGradGuard no_grad;
  const Tensor zp = UnitColumns(predicted.to(torch::kFloat64));
  const Tensor za = UnitColumns(actual.to(torch::kFloat64));
  const Tensor r = (zp * za).sum(0);
  const auto blocks = PermutationBlocks(segment_rows, options.block_rows);
  std::vector<size_t> order(blocks.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(options.seed);
  Tensor count = torch::zeros_like(r);
  std::vector<int64_t> rows;
  rows.reserve(actual.size(0));
  for (int64_t k = 0; k < options.permutations; ++k) {
    // Fisher-Yates with the generator's raw output (std::shuffle's algorithm is the library's).
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    rows.clear();
    for (size_t i : order) {
      for (int64_t row = blocks[i].first; row < blocks[i].second; ++row) rows.push_back(row);
    }
    const Tensor index = torch::tensor(rows, torch::kLong).to(za.device());
    count += ((za.index_select(0, index) * zp).sum(0) >= r).to(torch::kFloat64);
  }
  return (count + 1) / static_cast<double>(options.permutations + 1);
}

Tensor BenjaminiHochberg(const Tensor& p, double q) {
  const Tensor pd = p.to(torch::kCPU, torch::kFloat64).contiguous();
  const int64_t t = pd.numel();
  if (t == 0) return torch::zeros({0}, torch::kBool);
  const Tensor sorted = std::get<0>(pd.sort());
  const Tensor bounds = torch::arange(1, t + 1, torch::kFloat64) * (q / t);
  const Tensor passing = (sorted <= bounds).nonzero();
  if (passing.numel() == 0) return torch::zeros({t}, torch::kBool);
  const double threshold = sorted[passing.max().item<int64_t>()].item<double>();
  return pd <= threshold;
}

uint64_t PermutationSeed(const std::string& id) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  return h;
}

void DeclarePermutationTest(const std::string& model, SharedArrays* shared) {
  for (const char* what : {"r", "p", "significant"}) shared->Declare(ControlArray(model, "permutation", what));
  shared->Declare(ControlArray(model, "permutation", "blocks"), /*per_target=*/false);
}

absl::Status RunPermutationTest(const Participants& participants, const config::EvaluationSpec& e,
                                const OwnedParticipant& o, const Tensor& prediction, const std::string& model,
                                SharedArrays* shared) {
  std::vector<int64_t> segments;
  for (const data::Run* run : o.test_runs) segments.push_back(participants.RunTrim(*run).rows());
  BlockPermutationOptions options;
  options.block_rows = e.permutation_block_trs;
  options.permutations = e.permutations;
  options.seed = PermutationSeed(o.meta->id);
  const Tensor y = o.y_test.to(prediction.device());
  const Tensor p = BlockPermutationPValues(prediction, y, segments, options);
  shared->PutTargets(ControlArray(model, "permutation", "r"), o.index, PearsonPerTarget(prediction, y));
  shared->PutTargets(ControlArray(model, "permutation", "p"), o.index, p);
  shared->PutTargets(ControlArray(model, "permutation", "significant"), o.index,
                     BenjaminiHochberg(p, e.fdr_q).to(torch::kFloat64));
  shared->PutValue(ControlArray(model, "permutation", "blocks"), o.index,
                   static_cast<double>(PermutationBlocks(segments, options.block_rows).size()));
  return absl::OkStatus();
}

}  // namespace braintune::eval
