// The permutation test (evaluator.h, step 4; docs/evaluation.md): is a target's held-out
// prediction at the model's best layer better than chance? Per target, Pearson r between the
// prediction and the test responses, against its distribution when the responses' blocks of
// evaluation.permutation_block_trs samples (contiguous, within each test run) are shuffled: the
// blocks keep most of the responses' autocorrelation, which shuffling single samples would
// destroy (and so give p-values far too small). p = (1 + #{r_perm >= r}) / (1 + permutations),
// one-sided; then Benjamini-Hochberg across all targets of a participant at evaluation.fdr_q.
#ifndef BRAINTUNE_EVAL_PERMUTATION_CONTROL_H_
#define BRAINTUNE_EVAL_PERMUTATION_CONTROL_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "config/job_spec.h"
#include "eval/participants.h"
#include "eval/shared_arrays.h"

namespace braintune::eval {

struct BlockPermutationOptions {
  int64_t block_rows = 10;     // rows per block; a segment's last block may be shorter
  int64_t permutations = 1000;
  uint64_t seed = 0;           // the same seed, the same permutations
};

// The blocks of `segment_rows` (consecutive segments of rows, e.g. runs): [begin, end) each.
std::vector<std::pair<int64_t, int64_t>> PermutationBlocks(const std::vector<int64_t>& segment_rows,
                                                           int64_t block_rows);

// One-sided block-permutation p-values [t] of the Pearson r between predicted and actual
// [n, t] (n = sum of segment_rows): the blocks of `actual` are shuffled (all blocks of all
// segments together, the same shuffle for every target), the prediction kept. A constant
// column gets p = 1.
torch::Tensor BlockPermutationPValues(const torch::Tensor& predicted, const torch::Tensor& actual,
                                      const std::vector<int64_t>& segment_rows, const BlockPermutationOptions& options);

// Benjamini-Hochberg (1995) at false discovery rate q over all of p [t]: the targets whose p is
// at most the largest p_(k) with p_(k) <= k q / t (p sorted ascending, k from 1). Bool [t].
torch::Tensor BenjaminiHochberg(const torch::Tensor& p, double q);

// The seed of participant `id`'s permutations: a fixed hash (FNV-1a) of the id, so that the
// result does not depend on ranks or on which other participants are scored.
uint64_t PermutationSeed(const std::string& id);

// Declares the arrays of the test (per target: r, p, significant; per participant: blocks);
// every rank calls it, owned participants or not.
void DeclarePermutationTest(const std::string& model, SharedArrays* shared);

// Participant o's test at the best layer: `prediction` [test rows, targets] of o's test
// responses. Thread model: the caller's.
absl::Status RunPermutationTest(const Participants& participants, const config::EvaluationSpec& e,
                                const OwnedParticipant& o, const torch::Tensor& prediction, const std::string& model,
                                SharedArrays* shared);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_PERMUTATION_CONTROL_H_
