// Where a training rank computes and how it averages gradients, from the job spec: one owner for
// the trainer (trainer.h) and the pretrainer (pretrainer.h).
#ifndef BRAINTUNE_TRAIN_RANK_DEVICE_H_
#define BRAINTUNE_TRAIN_RANK_DEVICE_H_

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/job_spec.h"
#include "ddp/reducer.h"
#include "dist/communicator.h"

namespace braintune::train {

struct RankDevice {
  torch::Device device{torch::kCPU};
  std::unique_ptr<dist::Communicator> gpu_comm;  // NCCL, for gradients, on a GPU rank; null on a CPU rank
  bool bf16 = false;                             // autocast (training.precision)
  bool gpu() const { return gpu_comm != nullptr; }
};

// The GPU of this rank's local rank, with an NCCL communicator whose timeout is
// distributed.collective_timeout, when resources.gpus_per_rank > 0 and CUDA is there; else the
// CPU. training.precision bf16 without a GPU is an error naming `source`.
absl::StatusOr<RankDevice> PickDevice(const config::JobSpec& spec, const std::string& source,
                                      const dist::Communicator& comm);

// The bucketed gradient reducer of `params` (bucket sizes from spec.distributed) over the GPU
// communicator on a GPU rank, else over `comm`, whose timeout it sets to
// distributed.collective_timeout.
std::unique_ptr<ddp::GradientReducer> MakeReducer(const config::JobSpec& spec, dist::Communicator* comm,
                                                  const RankDevice& device, const std::vector<torch::Tensor>& params);

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_RANK_DEVICE_H_
