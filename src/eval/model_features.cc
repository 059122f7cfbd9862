#include "eval/model_features.h"

#include <algorithm>

#include "eval/word_features.h"
#include "model/text_encoder.h"
#include "model/tokenizer.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "model/brain_model.h"
#include "model/hf_config.h"
#include "model/input_contract.h"
#include "rank/model_from_spec.h"
#include "train/checkpoints.h"

namespace braintune::eval {
namespace {

// LibTorch's Module::load copies tensors without comparing shapes and ignores what the module
// lacks: check every parameter and buffer of `module` against the archive first, naming the
// first that is missing or differs, and every tensor of the archive, naming the first the module
// has no place for (loading without it would evaluate another model than the one tuned).
absl::Status CheckShapes(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& path,
                         const config::EvalModelSpec& m) {
  auto fail = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(
        m.checkpoint, ": evaluation.models (", m.name, "): cannot load the encoder with the spec's model.* sizes: ", what));
  };
  for (bool buffers : {false, true}) {
    for (const auto& item : buffers ? module.named_buffers(false) : module.named_parameters(false)) {
      torch::Tensor stored;
      if (!archive.try_read(item.key(), stored, buffers)) return fail(absl::StrCat(path, ".", item.key(), " is missing"));
      if (stored.sizes() != item.value().sizes()) {
        return fail(absl::StrCat(path, ".", item.key(), " is ", c10::str(stored.sizes()), " in the checkpoint, ",
                                 c10::str(item.value().sizes()), " in the model"));
      }
    }
  }
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive sub;
    if (!archive.try_read(child.key(), sub)) return fail(absl::StrCat(path, ".", child.key(), " is missing"));
    RETURN_IF_ERROR(CheckShapes(*child.value(), sub, absl::StrCat(path, ".", child.key()), m));
  }
  const auto params = module.named_parameters(false);
  const auto buffers = module.named_buffers(false);
  for (const std::string& key : archive.keys()) {
    c10::IValue value;
    if (!archive.try_read(key, value) || !value.isTensor()) continue;
    if (params.contains(key) || buffers.contains(key)) continue;
    return fail(absl::StrCat(path, ".", key, " is in the checkpoint but not in the model",
                             absl::StrContains(key, "lora_") ? " (a LoRA adapter, from a braintune that did not record them)"
                                                             : ""));
  }
  return absl::OkStatus();
}

// The feature cache's key of the model: its weights (the checkpoint's, the pretrained ones, or
// the seed of an untrained model) and its architecture.
absl::StatusOr<std::string> CacheKey(const config::JobSpec& spec, const config::EvalModelSpec& m,
                                     const model::Wav2Vec2Config& cfg) {
  std::string arch = absl::StrCat(model::HfConfigJson(cfg), spec.model.finetune, spec.model.lora.rank,
                                  absl::StrJoin(spec.model.lora.targets, ","));
  std::string weights = m.checkpoint;
  if (weights.empty() && !spec.model.pretrained.empty()) {
    ASSIGN_OR_RETURN(model::HfCheckpoint hf, model::ReadHfCheckpoint(spec.model.pretrained));
    weights = hf.weights_path;
  } else if (weights.empty()) {
    absl::StrAppend(&arch, ":seed", spec.training.seed);
  }
  return ModelKey(weights, arch);
}

absl::Status LoadEncoder(model::BrainModel& model, const config::EvalModelSpec& m, const model::InputContract& input) {
  try {
    torch::serialize::InputArchive archive, encoder;
    archive.load_from(m.checkpoint);
    // The contract it was tuned under must be the one the spec gives now: features of input
    // prepared otherwise would not be the tuned model's.
    // A checkpoint without one predates contracts: its input was prepared under none (as
    // Checkpoints::FindResume reads it too).
    c10::IValue contract;
    const std::string now = model::PreprocessorConfigJson(input);
    const std::string then =
        model::RecordedContractJson(archive.try_read(model::kContractKey, contract) ? &contract.toStringRef() : nullptr);
    if (then != now) {
      return absl::FailedPreconditionError(absl::StrCat(
          m.checkpoint, ": evaluation.models (", m.name, "): tuned on input prepared under another contract than the ",
          "spec's model gives now (", input.Describe(), "); tuned under: ", absl::StrReplaceAll(then, {{"\n", " "}})));
    }
    // Adapters it was tuned with are part of its encoder (a record written by the trainer).
    c10::IValue lora;
    if (archive.try_read(train::kTunedLoraKey, lora) && lora.isString()) {
      absl::StatusOr<model::LoraOptions> options = model::ParseLoraOptionsRecord(lora.toStringRef());
      absl::Status enabled = options.ok() ? model->encoder()->EnableLora(*options) : options.status();
      if (!enabled.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(m.checkpoint, ": evaluation.models (", m.name, "): '",
                                                       train::kTunedLoraKey, "': ", enabled.message()));
      }
    }
    archive.read("encoder", encoder);
    RETURN_IF_ERROR(CheckShapes(*model->encoder(), encoder, "encoder", m));
    model->encoder()->load(encoder);  // leaves the parameters on the archive's device (CPU)
  } catch (const c10::Error& err) {
    return absl::InvalidArgumentError(absl::StrCat(m.checkpoint, ": evaluation.models (", m.name,
                                                   "): cannot load the encoder with the spec's model.* sizes: ",
                                                   err.what_without_backtrace()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelFeatures>> ModelFeatures::Create(const config::JobSpec& spec,
                                                                     const std::string& source,
                                                                     const config::EvalModelSpec& m,
                                                                     const std::map<std::string, int64_t>& spaces,
                                                                     torch::Device device) {
  if (!m.pretrained.empty()) return CreateText(spec, source, m, device);
  if (!m.features.empty()) return CreateStored(spec, m);
  const config::EvaluationSpec& e = spec.evaluation;
  // The spec's model section describes the speech models (the untrained baseline, checkpoints);
  // a text model is scored from its Hugging Face directory, a tuned one from its job's export.
  ASSIGN_OR_RETURN(const bool text, rank::IsTextModel(spec.model));
  if (text) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": evaluation.models (", m.name, "): model.pretrained (", spec.model.pretrained,
        ") is a text model, and an entry without `pretrained` or `features` is a speech model built from model.*; "
        "score a text model with `pretrained: <its directory>` (a tuned text job's export: <output>/hf)"));
  }
  // A checkpoint's encoder carries its own adapters, if any (LoadEncoder): none from the spec.
  config::JobSpec built = spec;
  if (!m.checkpoint.empty()) built.model.finetune = "full";
  ASSIGN_OR_RETURN(model::BrainModel model, rank::BuildModel(built, spaces, /*verbose=*/false));
  model->eval();
  const model::Wav2Vec2Config& cfg = model->encoder()->config();
  ASSIGN_OR_RETURN(std::string key, CacheKey(spec, m, cfg));
  ASSIGN_OR_RETURN(model::InputContract input, rank::InputContractOf(spec.model));
  if (!m.checkpoint.empty()) RETURN_IF_ERROR(LoadEncoder(model, m, input));
  model->to(device);
  std::vector<int> layers = e.layers;  // checked against model.layers by the spec parser
  if (layers.empty()) {
    for (int l = 0; l <= cfg.num_hidden_layers; ++l) layers.push_back(l);
  }
  for (int l : layers) {
    if (l > cfg.num_hidden_layers) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": evaluation.layers: ", l, " exceeds the model's ", cfg.num_hidden_layers, " layers"));
    }
  }
  FeatureOptions fo;
  fo.context_seconds = e.context_seconds;
  fo.stride_seconds = e.stride_seconds;
  fo.pooling = e.pooling;
  fo.batch_size = e.batch_size;
  fo.cache_dir = e.cache_dir.empty() ? DefaultCacheDir() : e.cache_dir;
  fo.input = input;
  fo.resample = spec.data.resample;
  FeatureExtractor extractor(model->encoder(), key, layers, fo);
  return std::unique_ptr<ModelFeatures>(
      new ModelFeatures(std::move(layers), std::move(extractor), std::move(input), spec.data.resample));
}

// A feature space the dataset stores (m.features): no model to run, one layer, cached like the
// others (the key covers the values: features.h).
std::unique_ptr<ModelFeatures> ModelFeatures::CreateStored(const config::JobSpec& spec, const config::EvalModelSpec& m) {
  const config::EvaluationSpec& e = spec.evaluation;
  const std::string names = absl::StrJoin(m.features, ", ");
  FeatureExtractor extractor(MakeStoredFeatureSource(m.name, m.features), absl::StrCat("stored:", names), {0},
                             e.cache_dir.empty() ? DefaultCacheDir() : e.cache_dir);
  return std::unique_ptr<ModelFeatures>(
      new ModelFeatures({0}, std::move(extractor), model::InputContract{}, false,
                        absl::StrCat("a feature space of the dataset (", names, "), scored as one layer")));
}

// A Hugging Face text model (m.pretrained) on word-level features (word_features.h).
absl::StatusOr<std::unique_ptr<ModelFeatures>> ModelFeatures::CreateText(const config::JobSpec& spec,
                                                                         const std::string& source,
                                                                         const config::EvalModelSpec& m,
                                                                         torch::Device device) {
  const config::EvaluationSpec& e = spec.evaluation;
  auto named = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("evaluation.models (", m.name, "): ", s.message()));
  };
  absl::StatusOr<rank::TextModel> text = rank::LoadTextModel(m.pretrained);
  if (!text.ok()) return named(text.status());
  std::shared_ptr<model::TextEncoderImpl> encoder = text->encoder;
  std::shared_ptr<const model::Tokenizer> tokenizer = std::move(text->tokenizer);
  const model::TextModelConfig& config = encoder->config();
  const std::vector<std::string>& skipped = text->skipped;
  encoder->eval();
  encoder->to(device);
  const int n_layers = encoder->num_layers();
  std::vector<int> layers = e.layers;
  if (layers.empty()) {
    for (int l = 0; l <= n_layers; ++l) layers.push_back(l);
  }
  for (int l : layers) {
    if (l > n_layers) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": evaluation.layers: ", l, " exceeds ", m.name, "'s ",
                                                     n_layers, " layers"));
    }
  }
  // The key covers the tokenizer too: another vocabulary or casing gives other features.
  std::string described = model::TextConfigJson(config);
  for (const std::string& file : rank::TokenizerFiles()) {
    const std::string path = absl::StrCat(m.pretrained, "/", file);
    if (absl::StatusOr<std::string> text = model::ReadTokenizerFile(path); text.ok()) absl::StrAppend(&described, file, *text);
  }
  ASSIGN_OR_RETURN(std::string key, ModelKey(text->weights_path, described));
  WordContextOptions wo{.context_words = e.context_words, .mode = e.context_mode, .batch_size = e.batch_size};
  const std::string reads = absl::StrCat(
      config.model_type, " text model: reads each story's words (", e.context_words, "-word ", e.context_mode,
      " contexts, ", config.model_type == "gpt2" ? "byte-level BPE" : "WordPiece", " tokens); features at word offsets",
      skipped.empty() ? ""
                      : absl::StrCat("; ", skipped.size(), " tensors of ", text->weights_path, " not loaded (",
                                     absl::StrJoin(skipped.begin(), skipped.begin() + std::min<size_t>(skipped.size(), 3), ", "),
                                     skipped.size() > 3 ? ", ..." : "", ")"));
  FeatureExtractor extractor(MakeWordFeatureSource(encoder, tokenizer, wo), key, layers,
                             e.cache_dir.empty() ? DefaultCacheDir() : e.cache_dir);
  auto features = std::unique_ptr<ModelFeatures>(
      new ModelFeatures(std::move(layers), std::move(extractor), model::InputContract{}, false, reads));
  features->text_encoder_ = std::move(encoder);
  features->tokenizer_ = std::move(tokenizer);
  return features;
}

std::string ModelFeatures::InputLines(const std::string& model, const Participants& participants) const {
  if (!text_.empty()) return absl::StrCat("braintune-eval: ", model, ": ", text_, "\n");
  std::vector<std::pair<std::string, double>> stories;
  for (const std::string& name : participants.heard) {
    stories.emplace_back(name, participants.dataset.FindStory(name)->sample_rate);
  }
  return model::InputLines(absl::StrCat("braintune-eval: ", model), input_, stories, resample_);
}

absl::Status ModelFeatures::Prepare(const Participants& participants, int rank, int ranks) {
  int i = 0;
  for (const std::string& story : participants.heard) {
    if (i++ % ranks != rank) continue;
    RETURN_IF_ERROR(extractor_.Prepare(*participants.dataset.FindStory(story)));
  }
  return absl::OkStatus();
}

absl::StatusOr<StoryFeatures> ModelFeatures::Story(const Participants& participants, const std::string& story,
                                                   int layer) {
  const data::Story* s = participants.dataset.FindStory(story);
  if (s == nullptr) return absl::NotFoundError(absl::StrCat(participants.dataset.path, ": no story ", story));
  return extractor_.Get(*s, layer);
}

absl::StatusOr<LayerFeatures> ModelFeatures::Layer(const Participants& participants, int layer) {
  LayerFeatures out;
  for (const OwnedParticipant& o : participants.owned) {
    for (const data::Run& run : o.meta->runs) {
      if (out.count(run.story)) continue;
      ASSIGN_OR_RETURN(out[run.story], extractor_.Get(*participants.dataset.FindStory(run.story), layer));
    }
  }
  return out;
}

}  // namespace braintune::eval
