#include "train/early_stopping.h"

#include <torch/torch.h>

#include <iostream>
#include <string>

#include "absl/strings/str_format.h"

namespace braintune::train {

EarlyStopping::EarlyStopping(int patience, int64_t last_step, bool verbose)
    : patience_(patience), last_step_(last_step), verbose_(verbose) {}

EarlyStopping::~EarlyStopping() = default;

void EarlyStopping::set_state(State state) { state_ = std::move(state); }

bool EarlyStopping::Check(int64_t step, double loss, const std::vector<at::Tensor>& params) {
  const bool better = state_.best_step == 0 || loss < state_.best_loss;
  if (better) {
    state_.best_loss = loss;
    state_.best_step = step;
    state_.bad_checks = 0;
    state_.best_params.clear();
    for (const auto& p : params) {
      state_.best_params.push_back(p.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true));
    }
  } else {
    ++state_.bad_checks;
  }
  if (verbose_) {
    const std::string best =
        better ? " (best)" : absl::StrFormat(" (best %.4f at step %d)", state_.best_loss, state_.best_step);
    std::cout << absl::StrFormat("validation at step %d: loss %.4f%s", step, loss, best) << std::endl;
  }
  const bool stop = patience_ > 0 && state_.bad_checks >= patience_ && step < last_step_;
  if (stop && verbose_) {
    std::cout << absl::StrFormat("braintune-train: early stopping at step %d: no better validation loss in %d checks; "
                                 "keeping the weights of step %d",
                                 step, patience_, state_.best_step)
              << std::endl;
  }
  return stop;
}

void EarlyStopping::RestoreBest(const std::vector<at::Tensor>& params) const {
  if (state_.best_params.empty()) return;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(state_.best_params[i]);
}

}  // namespace braintune::train
