// What GPT-2 and BERT share: LoRA targets, HF names in and out, checkpoint directories. The
// architectures are in gpt2.cc and bert.cc.
#include "model/text_encoder.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "model/hf_weights.h"
#include "model/safetensors.h"

namespace braintune::model {

using torch::Tensor;

std::shared_ptr<TextEncoderImpl> MakeGpt2Encoder(const TextModelConfig& config);  // gpt2.cc
std::shared_ptr<TextEncoderImpl> MakeBertEncoder(const TextModelConfig& config);  // bert.cc

namespace {

// GPT-2's Conv1D layers, whose HF weights are [in, out].
bool IsConv1DWeight(const TextModelConfig& c, const std::string& name) {
  return c.model_type == "gpt2" &&
         (absl::EndsWith(name, ".attn.c_attn.weight") || absl::EndsWith(name, ".attn.c_proj.weight") ||
          absl::EndsWith(name, ".mlp.c_fc.weight") || absl::EndsWith(name, ".mlp.c_proj.weight"));
}

}  // namespace

const std::vector<std::string>& TextLoraTargetNames(const std::string& model_type) {
  static const std::vector<std::string> gpt2 = {"c_attn", "c_proj", "c_fc", "mlp_c_proj"};
  static const std::vector<std::string> bert = {"query", "key", "value", "attention_output", "intermediate", "output"};
  return model_type == "bert" ? bert : gpt2;
}

std::vector<std::string> DefaultTextLoraTargets(const std::string& model_type) {
  if (model_type == "bert") return {"query", "key", "value", "attention_output"};
  return {"c_attn", "c_proj"};
}

absl::Status TextEncoderImpl::EnableLora(const LoraOptions& o) {
  if (absl::Status s = CheckLoraTargets(o, TextLoraTargetNames(config_.model_type), config_.model_type); !s.ok()) {
    return s;
  }
  for (auto& p : parameters()) p.set_requires_grad(false);
  for (int i = 0; i < num_layers(); ++i) {
    auto targets = LoraTargets(i);
    for (const std::string& t : o.targets) targets.at(t)->EnableLora(o);
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, Tensor>> TextEncoderImpl::HfStateDict() {
  auto state = MergedParameters(*this);
  for (auto& [name, t] : state) {
    if (IsConv1DWeight(config_, name)) t = t.t().contiguous();
  }
  return state;
}

absl::Status TextEncoderImpl::LoadHfStateDict(const std::map<std::string, Tensor>& tensors, const std::string& source,
                                              std::vector<std::string>* skipped) {
  static const char* kSkippedPrefixes[] = {"lm_head.", "cls.", "qa_outputs.", "classifier.", "score."};
  static const char* kSkippedSuffixes[] = {".attn.bias", ".attn.masked_bias", "embeddings.position_ids"};
  std::map<std::string, Tensor> by_name;
  for (const auto& [raw, t] : tensors) {
    std::string name = raw;
    for (const char* prefix : {"transformer.", "bert."}) {
      if (absl::StartsWith(name, prefix)) name = name.substr(std::strlen(prefix));
    }
    bool skip = false;
    for (const char* p : kSkippedPrefixes) skip = skip || absl::StartsWith(name, p);
    for (const char* s : kSkippedSuffixes) skip = skip || absl::EndsWith(name, s);
    if (skip) {
      if (skipped) skipped->push_back(raw);
      continue;
    }
    // TensorFlow-converted BERT checkpoints name LayerNorm's weight and bias gamma and beta.
    if (absl::EndsWith(name, "LayerNorm.gamma")) name = absl::StrReplaceAll(name, {{"LayerNorm.gamma", "LayerNorm.weight"}});
    if (absl::EndsWith(name, "LayerNorm.beta")) name = absl::StrReplaceAll(name, {{"LayerNorm.beta", "LayerNorm.bias"}});
    by_name[name] = IsConv1DWeight(config_, name) && t.dim() == 2 ? t.t().contiguous() : t;
  }
  std::vector<std::string> kept;
  RETURN_IF_ERROR(CopyHfTensors(*this, by_name, source, {"pooler.dense.weight", "pooler.dense.bias"}, &kept));
  if (skipped) {
    for (const std::string& k : kept) skipped->push_back(absl::StrCat(k, " (not in the file: left at initialisation)"));
  }
  return absl::OkStatus();
}

std::shared_ptr<TextEncoderImpl> MakeTextEncoder(const TextModelConfig& config) {
  return config.model_type == "bert" ? MakeBertEncoder(config) : MakeGpt2Encoder(config);
}

absl::StatusOr<TextCheckpoint> ReadTextCheckpoint(const std::string& dir) {
  namespace fs = std::filesystem;
  TextCheckpoint ckpt;
  const std::string config_path = (fs::path(dir) / "config.json").string();
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(config_path, "model config"));
  ASSIGN_OR_RETURN(ckpt.config, ParseTextConfig(text, config_path));
  ASSIGN_OR_RETURN(ckpt.weights_path, FindHfWeights(dir));
  ASSIGN_OR_RETURN(ckpt.tensors, ReadSafetensors(ckpt.weights_path));
  return ckpt;
}

absl::Status ExportTextHf(TextEncoderImpl& encoder, const std::string& dir,
                          const std::vector<std::pair<std::string, Tensor>>& extra, const std::string& extra_file) {
  return WriteHfDirectory(dir, encoder.HfStateDict(), TextConfigJson(encoder.config()), extra, extra_file);
}

}  // namespace braintune::model
