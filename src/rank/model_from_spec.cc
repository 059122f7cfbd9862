#include "rank/model_from_spec.h"

#include <torch/torch.h>

#include <iostream>

#include "common/files.h"
#include "common/status_macros.h"

namespace braintune::rank {

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

absl::StatusOr<model::InputContract> InputContractOf(const config::ModelSpec& spec) {
  if (spec.pretrained.empty()) return model::NoContract();
  ASSIGN_OR_RETURN(model::Wav2Vec2Config c, EncoderConfigOf(spec));
  return model::ReadInputContract(spec.pretrained, c);
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

}  // namespace braintune::rank
