#include "train/rank.h"

#include <iostream>

#include "common/files.h"
#include "common/status_macros.h"
#include "model/threads.h"

#include <torch/torch.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace braintune::train {

int ConfigureThreads(const TrainerOptions& options, const dist::Communicator& comm) {
  int threads = options.threads > 0 ? options.threads
                                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) /
                                          std::max(1, comm.local_size());
  threads = std::max(1, threads);
  model::SetCpuThreads(threads);
  // Denormal floats make CPU kernels many times slower as weights get small.
  torch::globalContext().setFlushDenormal(true);
  return threads;
}

absl::StatusOr<model::Wav2Vec2Config> EncoderConfigOf(const config::ModelSpec& spec) {
  model::Wav2Vec2Config c;
  if (!spec.pretrained.empty()) {
    const std::string path = spec.pretrained + "/config.json";
    ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, "model.pretrained config"));
    ASSIGN_OR_RETURN(c, model::ParseHfConfig(text, path));
  } else {
    ASSIGN_OR_RETURN(c, model::NamedConfig(spec.size));
    c.model_type = spec.type;
    c.hidden_size = spec.hidden;
    c.num_hidden_layers = spec.layers;
    c.num_attention_heads = spec.heads;
    c.intermediate_size = spec.ffn;
    c.conv_dim.assign(c.conv_dim.size(), spec.conv_channels);
  }
  c.dropout = spec.dropout;
  RETURN_IF_ERROR(c.Validate("model"));
  return c;
}

absl::StatusOr<model::BrainModel> BuildModel(const config::JobSpec& spec, const std::map<std::string, int64_t>& heads,
                                             bool verbose) {
  ASSIGN_OR_RETURN(model::Wav2Vec2Config config, EncoderConfigOf(spec.model));
  torch::manual_seed(spec.training.seed);
  model::BrainModel m(config, heads, spec.model.pooling);
  if (!spec.model.pretrained.empty()) {
    ASSIGN_OR_RETURN(model::HfCheckpoint ckpt, model::ReadHfCheckpoint(spec.model.pretrained));
    std::vector<std::string> skipped;
    RETURN_IF_ERROR(m->encoder()->LoadHfStateDict(ckpt.tensors, ckpt.weights_path, &skipped));
    if (verbose) {
      std::cout << "braintune-train: loaded " << ckpt.weights_path;
      if (!skipped.empty()) std::cout << " (" << skipped.size() << " tensors of other heads not used, e.g. " << skipped[0] << ")";
      std::cout << std::endl;
    }
  }
  if (spec.model.freeze_feature_encoder) m->encoder()->FreezeFeatureEncoder();
  if (spec.model.finetune == "lora") {
    model::LoraOptions lo;
    lo.rank = spec.model.lora.rank;
    lo.alpha = spec.model.lora.alpha;
    lo.dropout = spec.model.lora.dropout;
    lo.targets = spec.model.lora.targets;
    m->encoder()->EnableLora(lo);
  }
  return m;
}

absl::Status RunOnRank(const char* program, dist::Communicator* comm, const std::function<absl::Status()>& job) {
  absl::Status status;
  try {
    status = job();
  } catch (const c10::Error& e) {
    status = absl::InternalError(absl::StrCat("LibTorch: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {  // std::bad_alloc above all: a job too big for the host
    status = absl::InternalError(absl::StrCat("unexpected error: ", e.what()));
  }
  // Aborted: every rank stopped at the same step on purpose (trainer.h, SIGTERM); nothing hangs.
  if (!status.ok() && status.code() != absl::StatusCode::kAborted && comm->size() > 1) {
    // Now, not after unwinding: a collective that timed out may still be writing into the
    // job's buffers, and the other ranks may be waiting in one.
    std::cerr << program << ": rank " << comm->rank() << ": " << status.message() << std::endl;
    comm->Abort(1);
  }
  return status;
}

}  // namespace braintune::train
