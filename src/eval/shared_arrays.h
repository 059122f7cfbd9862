// The per-target (and per-participant) results of an evaluation (evaluator.h, step 4): every
// rank declares the same arrays, fills them at its own participants' places and sums them
// across ranks, so that afterwards every rank holds every participant's values. Their names
// are also their paths in evaluation.h5.
#ifndef BRAINTUNE_EVAL_SHARED_ARRAYS_H_
#define BRAINTUNE_EVAL_SHARED_ARRAYS_H_

#include <torch/torch.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "dist/communicator.h"

namespace braintune::eval {

// Names of the arrays of one model (docs/evaluation.md lists them as paths of evaluation.h5).
std::string LayerArray(const std::string& model, int layer, const std::string& what);      // models/<m>/layer_<l>/<what>
std::string RemovalArray(const std::string& model);                                      // models/<m>/removal/r
std::string ErasureArray(const std::string& model);                                      // models/<m>/erasure/r
std::string ControlArray(const std::string& model, const std::string& control, const std::string& what);  // models/<m>/<control>/<what>
std::string SweepArray(const std::string& model, int layer, size_t point, const std::string& what);  // models/<m>/sweep/<i>/layer_<l>/<what>

// Arrays of float32, one value per target of every participant (participant p's targets at
// offsets[p]) or one value per participant. Thread model: one thread, the rank's; Reduce is a
// collective that every rank calls with the same arrays declared.
class SharedArrays {
 public:
  // offsets: participant -> first target; total_targets: the targets of all participants.
  SharedArrays(std::vector<int64_t> offsets, int64_t total_targets);
  SharedArrays(const SharedArrays&) = delete;
  SharedArrays& operator=(const SharedArrays&) = delete;

  // Creates `key` (zeros) unless it exists. Every rank declares every array it will sum,
  // whether it fills it or not.
  void Declare(const std::string& key, bool per_target = true);
  // Participant p's targets of a per-target array: `values` [targets] (creates `key`).
  void PutTargets(const std::string& key, int p, const torch::Tensor& values);
  // Participant p's value of a per-participant array (creates `key`).
  void PutValue(const std::string& key, int p, double value);
  // Sums the arrays declared since the last call across the ranks.
  absl::Status Reduce(dist::Communicator* comm);

  bool Has(const std::string& key) const { return arrays_.count(key) > 0; }
  bool PerTarget(const std::string& key) const { return !per_participant_.count(key); }
  const std::vector<float>& At(const std::string& key) const { return arrays_.at(key); }
  const std::map<std::string, std::vector<float>>& all() const { return arrays_; }
  int participants() const { return static_cast<int>(offsets_.size()); }
  int64_t Targets(int p) const;  // participant p's number of targets
  // Participant p's values of the per-target array `key`, as float32 values or a float64 tensor.
  std::vector<float> Values(const std::string& key, int p) const;
  torch::Tensor Slice(const std::string& key, int p) const;

 private:
  const std::vector<int64_t> offsets_;
  const int64_t total_targets_;
  std::map<std::string, std::vector<float>> arrays_;
  std::set<std::string> per_participant_;
  std::set<std::string> reduced_;
};

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_SHARED_ARRAYS_H_
