#include "train/rank_device.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace braintune::train {

absl::StatusOr<RankDevice> PickDevice(const config::JobSpec& spec, const std::string& source,
                                      const dist::Communicator& comm) {
  RankDevice d;
  if (spec.resources.gpus_per_rank > 0 && torch::cuda::is_available()) {
    d.device = torch::Device(torch::kCUDA, comm.local_rank() % static_cast<int>(torch::cuda::device_count()));
    ASSIGN_OR_RETURN(d.gpu_comm, dist::MakeCommunicator("cuda"));
    d.gpu_comm->set_timeout_seconds(spec.distributed.collective_timeout);
  }
  if (spec.training.precision == "bf16" && !d.gpu()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": training.precision: bf16 needs a GPU ",
                                                   "(resources.gpus_per_rank > 0 on a node with CUDA)"));
  }
  d.bf16 = d.gpu() && spec.training.precision != "fp32";
  return d;
}

std::unique_ptr<ddp::GradientReducer> MakeReducer(const config::JobSpec& spec, dist::Communicator* comm,
                                                  const RankDevice& device, const std::vector<torch::Tensor>& params) {
  ddp::ReducerOptions ro;
  ro.bucket_cap_bytes = static_cast<int64_t>(spec.distributed.bucket_cap_mb * (1 << 20));
  ro.first_bucket_cap_bytes = static_cast<int64_t>(spec.distributed.first_bucket_cap_mb * (1 << 20));
  comm->set_timeout_seconds(spec.distributed.collective_timeout);
  return std::make_unique<ddp::GradientReducer>(device.gpu() ? device.gpu_comm.get() : comm, params,
                                                std::vector<torch::Tensor>{}, ro);
}

}  // namespace braintune::train
