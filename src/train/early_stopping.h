// Early stopping (training.validation_every, patience): the best validation loss, a copy of the
// weights that reached it, and when to stop. The trainer computes the validation loss (every
// rank the same value, after its all-reduce); this class decides. Torch-free header.
#ifndef BRAINTUNE_TRAIN_EARLY_STOPPING_H_
#define BRAINTUNE_TRAIN_EARLY_STOPPING_H_

#include <cstdint>
#include <vector>

namespace at {
class Tensor;
}  // namespace at

namespace braintune::train {

// Keeps the weights of the best validation loss and says when `patience` checks without a new
// best should end training. Thread model: not thread-safe; the trainer's thread only.
class EarlyStopping {
 public:
  // What a checkpoint saves and restores (checkpoints.h).
  struct State {
    double best_loss = 0;
    int64_t best_step = 0;  // 0: no check yet
    int bad_checks = 0;     // checks since the best
    std::vector<at::Tensor> best_params;  // CPU copies of every parameter; empty: none yet
  };

  // `patience`: training.patience (0: never stop early); `last_step`: training.steps (no early
  // stop is announced at the last step); `verbose`: print the checks (rank 0).
  EarlyStopping(int patience, int64_t last_step, bool verbose);
  ~EarlyStopping();
  EarlyStopping(const EarlyStopping&) = delete;
  EarlyStopping& operator=(const EarlyStopping&) = delete;

  // Records the validation `loss` at `step`: a new best (or the first) copies `params` to the
  // CPU. Prints the check when verbose. Returns true when training should stop now.
  bool Check(int64_t step, double loss, const std::vector<at::Tensor>& params);

  // Copies the best weights into `params` (the same list Check saw); nothing before any check.
  void RestoreBest(const std::vector<at::Tensor>& params) const;

  const State& state() const { return state_; }
  void set_state(State state);  // when resuming

 private:
  const int patience_;
  const int64_t last_step_;
  const bool verbose_;
  State state_;
};

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_EARLY_STOPPING_H_
