#include "rank/model_from_spec.h"

#include <torch/torch.h>

#include <iostream>

#include "common/files.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "model/text_config.h"

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

absl::StatusOr<bool> IsTextModel(const config::ModelSpec& spec) {
  if (spec.pretrained.empty()) return false;
  const std::string path = spec.pretrained + "/config.json";
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, "model.pretrained config"));
  ASSIGN_OR_RETURN(std::string type, model::HfModelType(text, path));
  return model::IsTextModelType(type);
}

absl::Status ApplyTextModelDefaults(config::JobSpec* spec) {
  ASSIGN_OR_RETURN(const bool text, IsTextModel(spec->model));
  if (!text) return absl::OkStatus();
  if (!spec->model.finetune_given) spec->model.finetune = "lora";
  if (!spec->training.loss_given) spec->training.loss = "pearson";
  return absl::OkStatus();
}

const std::vector<std::string>& TokenizerFiles() {
  static const auto* files =
      new std::vector<std::string>{"vocab.json", "merges.txt", "vocab.txt", "tokenizer_config.json"};
  return *files;
}

absl::StatusOr<TextModel> LoadTextModel(const std::string& dir) {
  TextModel m;
  ASSIGN_OR_RETURN(model::TextCheckpoint ckpt, model::ReadTextCheckpoint(dir));
  m.encoder = model::MakeTextEncoder(ckpt.config);
  RETURN_IF_ERROR(m.encoder->LoadHfStateDict(ckpt.tensors, ckpt.weights_path, &m.skipped));
  ASSIGN_OR_RETURN(m.tokenizer, model::ReadTokenizer(dir, ckpt.config.model_type));
  if (m.tokenizer->vocab_size() > ckpt.config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": the tokenizer has ", m.tokenizer->vocab_size(),
                                                   " tokens, the model's vocab_size is ", ckpt.config.vocab_size,
                                                   " (they do not belong together)"));
  }
  m.weights_path = ckpt.weights_path;
  return m;
}

absl::StatusOr<model::InputContract> InputContractOf(const config::ModelSpec& spec) {
  if (spec.pretrained.empty()) return model::NoContract();
  ASSIGN_OR_RETURN(const bool text, IsTextModel(spec));
  if (text) return model::NoContract();  // it reads words, not sound
  ASSIGN_OR_RETURN(model::Wav2Vec2Config c, EncoderConfigOf(spec));
  return model::ReadInputContract(spec.pretrained, c);
}

std::optional<model::LoraOptions> LoraOptionsOf(const config::ModelSpec& spec, const std::string& model_type) {
  if (spec.finetune != "lora") return std::nullopt;
  model::LoraOptions lo;
  lo.rank = spec.lora.rank;
  lo.alpha = spec.lora.alpha;
  lo.dropout = spec.lora.dropout;
  lo.targets = spec.lora.targets_given ? spec.lora.targets
               : model::IsTextModelType(model_type) ? model::DefaultTextLoraTargets(model_type)
                                                    : config::LoraSpec().targets;
  return lo;
}

namespace {

// An encoder's refusal of a LoRA target, named by the spec key that asked for it.
absl::Status Named(const absl::Status& s) {
  return s.ok() ? s : absl::Status(s.code(), absl::StrCat("model.lora.targets: ", s.message()));
}

void PrintLoaded(const std::string& weights_path, const std::vector<std::string>& skipped) {
  std::cout << "braintune-train: loaded " << weights_path;
  if (!skipped.empty()) std::cout << " (" << skipped.size() << " tensors of other heads not used, e.g. " << skipped[0] << ")";
  std::cout << std::endl;
}

absl::StatusOr<model::BrainModel> BuildTextModel(const config::JobSpec& spec, const std::map<std::string, int64_t>& heads,
                                                 bool verbose) {
  torch::manual_seed(spec.training.seed);  // the heads' initialisation
  ASSIGN_OR_RETURN(TextModel text, LoadTextModel(spec.model.pretrained));
  if (verbose) PrintLoaded(text.weights_path, text.skipped);
  if (auto lora = LoraOptionsOf(spec.model, text.encoder->config().model_type)) {
    RETURN_IF_ERROR(Named(text.encoder->EnableLora(*lora)));
  }
  return model::BrainModel(text.encoder, heads, spec.model.pooling);
}

}  // namespace

absl::StatusOr<model::BrainModel> BuildModel(const config::JobSpec& spec, const std::map<std::string, int64_t>& heads,
                                             bool verbose) {
  ASSIGN_OR_RETURN(const bool text, IsTextModel(spec.model));
  if (text) return BuildTextModel(spec, heads, verbose);
  ASSIGN_OR_RETURN(model::Wav2Vec2Config config, EncoderConfigOf(spec.model));
  torch::manual_seed(spec.training.seed);
  model::BrainModel m(config, heads, spec.model.pooling);
  if (!spec.model.pretrained.empty()) {
    ASSIGN_OR_RETURN(model::HfCheckpoint ckpt, model::ReadHfCheckpoint(spec.model.pretrained));
    std::vector<std::string> skipped;
    RETURN_IF_ERROR(m->encoder()->LoadHfStateDict(ckpt.tensors, ckpt.weights_path, &skipped));
    if (verbose) PrintLoaded(ckpt.weights_path, skipped);
  }
  if (spec.model.freeze_feature_encoder) m->encoder()->FreezeFeatureEncoder();
  if (auto lora = LoraOptionsOf(spec.model, config.model_type)) RETURN_IF_ERROR(Named(m->encoder()->EnableLora(*lora)));
  return m;
}

}  // namespace braintune::rank
