// The training recipe's pure pieces (design.md section 2, docs/model.md), apart from the trainer
// so tests can check them: the learning-rate schedule, the loss and the optimizer's groups.
#ifndef BRAINTUNE_TRAIN_RECIPE_H_
#define BRAINTUNE_TRAIN_RECIPE_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "config/job_spec.h"

namespace braintune::train {

// Multiplier of the base learning rates at `step` (1-based): linear warm-up over the first
// warmup_fraction of the steps (step / warm-up steps), then linear decay that reaches
// 1 / (decay steps) at the last step ("linear") or 1 ("constant").
double LearningRateFactor(const config::TrainingSpec& t, int64_t step);

// The loss of one participant's predictions [rows, targets] against their responses, summed
// over rows (the trainer divides by its pairs): "mse": the per-row mean squared error;
// "pearson": rows x (1 - mean over targets of Pearson r over the rows), 0 below 2 rows;
// "mse+pearson": the MSE plus pearson_weight x the Pearson term.
torch::Tensor PairLoss(const config::TrainingSpec& t, const torch::Tensor& pred, const torch::Tensor& actual);

// AdamW with weight_decay and two parameter groups: the trainable encoder parameters at
// training.lr (the group is left out when there are none) and the heads' at training.head_lr.
std::unique_ptr<torch::optim::AdamW> MakeOptimizer(const config::TrainingSpec& t, std::vector<torch::Tensor> encoder,
                                                   std::vector<torch::Tensor> head);

// Sets the learning rate of every group of an optimizer from MakeOptimizer to its base rate
// times LearningRateFactor(t, step).
void ScheduleLearningRates(const config::TrainingSpec& t, int64_t step, torch::optim::AdamW* optimizer);

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_RECIPE_H_
