#include "config/job_spec.h"

#include <algorithm>
#include <optional>
#include <filesystem>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "config/model_sizes.h"
#include "config/yaml_reader.h"
#include "yaml-cpp/yaml.h"

namespace braintune::config {
namespace {

namespace fs = std::filesystem;

bool IsValidName(const std::string& name);

absl::Status ParseResources(MapReader& r, ResourcesSpec* s) {
  RETURN_IF_ERROR(r.CheckIsMap());
  RETURN_IF_ERROR(r.Read("ranks", &s->ranks));
  RETURN_IF_ERROR(r.Read("gpus_per_rank", &s->gpus_per_rank));
  RETURN_IF_ERROR(r.Read("gpu_memory_gb", &s->gpu_memory_gb));
  RETURN_IF_ERROR(r.Read("priority", &s->priority));
  RETURN_IF_ERROR(r.Read("group", &s->group));
  RETURN_IF_ERROR(r.Read("preemptible", &s->preemptible));
  RETURN_IF_ERROR(r.Read("max_restarts", &s->max_restarts));
  RETURN_IF_ERROR(r.Read("restart_backoff_seconds", &s->restart_backoff_seconds));
  RETURN_IF_ERROR(r.CheckNoUnknownKeys());
  RETURN_IF_ERROR(r.CheckRange("max_restarts", s->max_restarts, 0, 100));
  RETURN_IF_ERROR(r.CheckRange("restart_backoff_seconds", s->restart_backoff_seconds, 0.0, 600.0));
  RETURN_IF_ERROR(r.CheckRange("ranks", s->ranks, 1, 1024));
  RETURN_IF_ERROR(r.CheckRange("gpus_per_rank", s->gpus_per_rank, 0, 8));
  RETURN_IF_ERROR(r.CheckRange("gpu_memory_gb", s->gpu_memory_gb, 0.0, 1024.0));
  RETURN_IF_ERROR(r.CheckRange("priority", s->priority, 0, 1000));
  if (!s->group.empty() && !IsValidName(s->group)) {
    return r.Error(r.Child("group"), r.Key("group"), absl::StrCat("'", s->group, "' must be 1-64 characters of [A-Za-z0-9._-]"));
  }
  return absl::OkStatus();
}

absl::Status ParseData(MapReader& r, DataSpec* s) {
  RETURN_IF_ERROR(r.CheckIsMap());
  RETURN_IF_ERROR(r.Read("path", &s->path, /*required=*/true));
  RETURN_IF_ERROR(r.ReadList("participants", &s->participants));
  RETURN_IF_ERROR(r.ReadList("test_stories", &s->test_stories));
  RETURN_IF_ERROR(r.Read("context_trs", &s->context_trs));
  RETURN_IF_ERROR(r.Read("context_seconds", &s->context_seconds));
  RETURN_IF_ERROR(r.Read("trim_start", &s->trim_start));
  RETURN_IF_ERROR(r.Read("trim_end", &s->trim_end));
  RETURN_IF_ERROR(r.Read("validation_fraction", &s->validation_fraction));
  RETURN_IF_ERROR(r.Read("resample", &s->resample));
  RETURN_IF_ERROR(r.Read("target_roi", &s->target_roi));
  RETURN_IF_ERROR(r.CheckNoUnknownKeys());
  RETURN_IF_ERROR(r.CheckRange("validation_fraction", s->validation_fraction, 0.0, 0.5));
  if (!s->target_roi.empty() && !IsValidName(s->target_roi)) {
    return r.Error(r.Child("target_roi"), r.Key("target_roi"), "must be 1-64 characters of [A-Za-z0-9._-]");
  }
  if (s->path.empty()) return r.Error(r.Child("path"), r.Key("path"), "must not be empty");
  RETURN_IF_ERROR(r.CheckRange("context_trs", s->context_trs, 1, 32));
  RETURN_IF_ERROR(r.CheckRange("context_seconds", s->context_seconds, 0.0, 120.0));
  RETURN_IF_ERROR(r.CheckRange("trim_start", s->trim_start, 0, 1000));
  return r.CheckRange("trim_end", s->trim_end, 0, 1000);
}

// A choice among `options`, or an error listing them.
absl::Status CheckOneOf(MapReader& r, const std::string& key, const std::string& value,
                        const std::vector<std::string>& options) {
  if (std::find(options.begin(), options.end(), value) != options.end()) return absl::OkStatus();
  return r.Error(r.Child(key), r.Key(key), absl::StrCat("'", value, "' is not one of: ", absl::StrJoin(options, ", ")));
}

// Fields left at 0 take the size's value.
void FillSizeDefaults(const ModelSize& d, ModelSpec* s) {
  for (auto [field, value] : {std::pair{&s->hidden, d.hidden}, {&s->layers, d.layers}, {&s->heads, d.heads},
                              {&s->ffn, d.ffn}, {&s->conv_channels, d.conv_channels}}) {
    if (*field == 0) *field = value;
  }
}

absl::Status ParseModel(MapReader& r, ModelSpec* s) {
  RETURN_IF_ERROR(r.CheckIsMap());
  RETURN_IF_ERROR(r.Read("size", &s->size));
  RETURN_IF_ERROR(r.Read("type", &s->type));
  RETURN_IF_ERROR(r.Read("pretrained", &s->pretrained));
  const char* arch_keys[] = {"hidden", "layers", "heads", "ffn", "conv_channels"};
  int* arch_fields[] = {&s->hidden, &s->layers, &s->heads, &s->ffn, &s->conv_channels};
  for (int i = 0; i < 5; ++i) RETURN_IF_ERROR(r.Read(arch_keys[i], arch_fields[i]));
  RETURN_IF_ERROR(r.Read("dropout", &s->dropout));
  RETURN_IF_ERROR(r.Read("freeze_feature_encoder", &s->freeze_feature_encoder));
  s->finetune_given = r.Child("finetune").IsDefined();
  RETURN_IF_ERROR(r.Read("finetune", &s->finetune));
  RETURN_IF_ERROR(r.Read("head", &s->head));
  RETURN_IF_ERROR(r.Read("pooling", &s->pooling));
  YAML::Node lora = r.Child("lora");
  RETURN_IF_ERROR(r.CheckNoUnknownKeys());
  if (lora.IsDefined() && !lora.IsNull()) {
    MapReader l(lora, r.Key("lora"), r.source());
    RETURN_IF_ERROR(l.CheckIsMap());
    RETURN_IF_ERROR(l.Read("rank", &s->lora.rank));
    RETURN_IF_ERROR(l.Read("alpha", &s->lora.alpha));
    RETURN_IF_ERROR(l.Read("dropout", &s->lora.dropout));
    s->lora.targets_given = l.Child("targets").IsDefined();
    RETURN_IF_ERROR(l.ReadList("targets", &s->lora.targets));
    RETURN_IF_ERROR(l.CheckNoUnknownKeys());
    RETURN_IF_ERROR(l.CheckRange("rank", s->lora.rank, 1, 1024));
    if (!(s->lora.alpha > 0 && s->lora.alpha <= 1e6)) {
      return l.Error(l.Child("alpha"), l.Key("alpha"), absl::StrCat(s->lora.alpha, " is out of range (0, 1e6]"));
    }
    if (!(s->lora.dropout >= 0 && s->lora.dropout < 1)) {
      return l.Error(l.Child("dropout"), l.Key("dropout"), absl::StrCat(s->lora.dropout, " is out of range [0, 1)"));
    }
    if (s->lora.targets.empty()) return l.Error(l.Child("targets"), l.Key("targets"), "must name at least one layer");
    std::set<std::string> seen;
    for (const auto& t : s->lora.targets) {
      RETURN_IF_ERROR(CheckOneOf(l, "targets", t,
                                 {"q_proj", "k_proj", "v_proj", "out_proj", "intermediate_dense", "output_dense",
                                  "c_attn", "c_proj", "c_fc", "mlp_c_proj", "query", "key", "value",
                                  "attention_output", "intermediate", "output"}));
      if (!seen.insert(t).second) return l.Error(l.Child("targets"), l.Key("targets"), absl::StrCat("'", t, "' is listed twice"));
    }
  }
  RETURN_IF_ERROR(CheckOneOf(r, "type", s->type, {"wav2vec2", "hubert"}));
  RETURN_IF_ERROR(CheckOneOf(r, "finetune", s->finetune, {"full", "lora"}));
  RETURN_IF_ERROR(CheckOneOf(r, "head", s->head, {"shared", "participant"}));
  RETURN_IF_ERROR(CheckOneOf(r, "pooling", s->pooling, {"mean", "last", "attention"}));
  if (!(s->dropout >= 0 && s->dropout < 1)) {
    return r.Error(r.Child("dropout"), r.Key("dropout"), absl::StrCat(s->dropout, " is out of range [0, 1)"));
  }
  const ModelSize* size = FindModelSize(s->size);
  if (size == nullptr) {
    return r.Error(r.Child("size"), r.Key("size"), absl::StrCat("'", s->size, "' is not a known size (known: tiny, base, large)"));
  }
  if (!s->pretrained.empty()) {
    // The checkpoint's config.json is the architecture; the trainer reads it.
    const YAML::Node& node = r.node();
    for (const char* key : {"size", "hidden", "layers", "heads", "ffn", "conv_channels"}) {
      if (node[key].IsDefined()) {
        return r.Error(node[key], r.Key(key), "must be left out with model.pretrained (its config.json sets the architecture)");
      }
    }
    return absl::OkStatus();
  }
  FillSizeDefaults(*size, s);
  RETURN_IF_ERROR(r.CheckRange("hidden", s->hidden, 8, 4096));
  RETURN_IF_ERROR(r.CheckRange("layers", s->layers, 1, 48));
  RETURN_IF_ERROR(r.CheckRange("heads", s->heads, 1, 64));
  RETURN_IF_ERROR(r.CheckRange("ffn", s->ffn, 8, 16384));
  RETURN_IF_ERROR(r.CheckRange("conv_channels", s->conv_channels, 8, 1024));
  if (s->hidden % s->heads != 0) {
    return r.Error(r.Child("heads"), r.Key("heads"),
                   absl::StrCat("hidden (", s->hidden, ") must be divisible by heads (", s->heads, ")"));
  }
  if (s->hidden % size->pos_groups != 0) {
    return r.Error(r.Child("hidden"), r.Key("hidden"),
                   absl::StrCat("must be divisible by ", size->pos_groups, " (the position embedding's groups of size ",
                                s->size, ")"));
  }
  return absl::OkStatus();
}

absl::Status ParseDistributed(MapReader& r, DistributedSpec* s) {
  RETURN_IF_ERROR(r.CheckIsMap());
  RETURN_IF_ERROR(r.Read("bucket_cap_mb", &s->bucket_cap_mb));
  RETURN_IF_ERROR(r.Read("first_bucket_cap_mb", &s->first_bucket_cap_mb));
  RETURN_IF_ERROR(r.Read("collective_timeout", &s->collective_timeout));
  RETURN_IF_ERROR(r.CheckNoUnknownKeys());
  for (const auto& [key, value, hi] : {std::tuple{"bucket_cap_mb", s->bucket_cap_mb, 4096.0},
                                       std::tuple{"first_bucket_cap_mb", s->first_bucket_cap_mb, 4096.0},
                                       std::tuple{"collective_timeout", s->collective_timeout, 86400.0}}) {
    if (!(value > 0 && value <= hi)) {
      return r.Error(r.Child(key), r.Key(key), absl::StrCat(value, " is out of range (0, ", hi, "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseTraining(MapReader& r, TrainingSpec* s) {
  RETURN_IF_ERROR(r.CheckIsMap());
  RETURN_IF_ERROR(r.Read("steps", &s->steps));
  RETURN_IF_ERROR(r.Read("batch_size", &s->batch_size));
  RETURN_IF_ERROR(r.Read("accumulation_steps", &s->accumulation_steps));
  RETURN_IF_ERROR(r.Read("lr", &s->lr));
  RETURN_IF_ERROR(r.Read("head_lr", &s->head_lr));
  RETURN_IF_ERROR(r.Read("warmup_fraction", &s->warmup_fraction));
  RETURN_IF_ERROR(r.Read("schedule", &s->schedule));
  RETURN_IF_ERROR(r.Read("weight_decay", &s->weight_decay));
  RETURN_IF_ERROR(r.Read("grad_clip", &s->grad_clip));
  s->loss_given = r.Child("loss").IsDefined();
  RETURN_IF_ERROR(r.Read("loss", &s->loss));
  RETURN_IF_ERROR(r.Read("pearson_weight", &s->pearson_weight));
  RETURN_IF_ERROR(r.Read("seed", &s->seed));
  RETURN_IF_ERROR(r.Read("log_every", &s->log_every));
  RETURN_IF_ERROR(r.Read("eval_batch_size", &s->eval_batch_size));
  RETURN_IF_ERROR(r.Read("validation_every", &s->validation_every));
  RETURN_IF_ERROR(r.Read("patience", &s->patience));
  RETURN_IF_ERROR(r.Read("precision", &s->precision));
  RETURN_IF_ERROR(r.Read("checkpoint_every", &s->checkpoint_every));
  RETURN_IF_ERROR(r.Read("keep_checkpoints", &s->keep_checkpoints));
  RETURN_IF_ERROR(r.Read("export_hf", &s->export_hf));
  RETURN_IF_ERROR(r.CheckNoUnknownKeys());
  RETURN_IF_ERROR(r.CheckRange<int64_t>("steps", s->steps, 1, 10'000'000));
  RETURN_IF_ERROR(r.CheckRange("batch_size", s->batch_size, 1, 65536));
  RETURN_IF_ERROR(r.CheckRange("accumulation_steps", s->accumulation_steps, 1, 1024));
  if (s->accumulation_steps > s->batch_size) {
    return r.Error(r.Child("accumulation_steps"), r.Key("accumulation_steps"),
                   absl::StrCat(s->accumulation_steps, " exceeds batch_size (", s->batch_size, ")"));
  }
  for (const char* key : {"lr", "head_lr"}) {
    const double v = std::string(key) == "lr" ? s->lr : s->head_lr;
    if (!(v > 0 && v <= 1)) return r.Error(r.Child(key), r.Key(key), absl::StrCat(v, " is out of range (0, 1]"));
  }
  RETURN_IF_ERROR(r.CheckRange("warmup_fraction", s->warmup_fraction, 0.0, 1.0));
  RETURN_IF_ERROR(CheckOneOf(r, "schedule", s->schedule, {"linear", "constant"}));
  RETURN_IF_ERROR(r.CheckRange("weight_decay", s->weight_decay, 0.0, 1.0));
  if (!(s->grad_clip > 0 && s->grad_clip <= 1e6)) {
    return r.Error(r.Child("grad_clip"), r.Key("grad_clip"), absl::StrCat(s->grad_clip, " is out of range (0, 1e6]"));
  }
  RETURN_IF_ERROR(CheckOneOf(r, "loss", s->loss, {"mse", "pearson", "mse+pearson"}));
  RETURN_IF_ERROR(r.CheckRange("pearson_weight", s->pearson_weight, 0.0, 1000.0));
  // Each report is an RPC and a coordinator update: every step would load a shared coordinator
  // for nothing a person can read (the final step is always reported).
  RETURN_IF_ERROR(r.CheckRange("log_every", s->log_every, 5, 100000));
  RETURN_IF_ERROR(r.CheckRange("validation_every", s->validation_every, int64_t{0}, int64_t{10000000}));
  RETURN_IF_ERROR(r.CheckRange("patience", s->patience, 0, 10000));
  RETURN_IF_ERROR(CheckOneOf(r, "precision", s->precision, {"auto", "fp32", "bf16"}));
  RETURN_IF_ERROR(r.CheckRange("checkpoint_every", s->checkpoint_every, int64_t{0}, int64_t{10000000}));
  RETURN_IF_ERROR(r.CheckRange("keep_checkpoints", s->keep_checkpoints, 1, 1000));
  return r.CheckRange("eval_batch_size", s->eval_batch_size, 1, 65536);
}

absl::Status ParseEvaluation(MapReader& r, EvaluationSpec* s, const std::string& source) {
  RETURN_IF_ERROR(r.CheckIsMap());
  YAML::Node models = r.Child("models");
  if (models.IsDefined() && !models.IsNull()) {
    if (!models.IsSequence()) return r.Error(models, r.Key("models"), "expected a list of {name, checkpoint | pretrained | features}");
    std::set<std::string> names;
    for (size_t i = 0; i < models.size(); ++i) {
      MapReader m(models[i], absl::StrCat(r.Key("models"), "[", i, "]"), source);
      EvalModelSpec model;
      RETURN_IF_ERROR(m.CheckIsMap());
      RETURN_IF_ERROR(m.Read("name", &model.name, /*required=*/true));
      RETURN_IF_ERROR(m.Read("checkpoint", &model.checkpoint));
      RETURN_IF_ERROR(m.Read("pretrained", &model.pretrained));
      RETURN_IF_ERROR(m.ReadList("features", &model.features));
      RETURN_IF_ERROR(m.CheckNoUnknownKeys());
      if (!model.checkpoint.empty() + !model.pretrained.empty() + !model.features.empty() > 1) {
        const char* second = model.features.empty() ? "pretrained" : "features";
        return m.Error(models[i][second], m.Key(second),
                       "give one of checkpoint (a tuned speech model), pretrained (a text model) or features (a "
                       "feature space the dataset stores), not two");
      }
      if (models[i]["features"].IsDefined() && model.features.empty()) {
        return m.Error(models[i]["features"], m.Key("features"), "must name 1 to 32 features when given");
      }
      if (model.features.size() > 32) {
        return m.Error(models[i]["features"], m.Key("features"), absl::StrCat(model.features.size(), " names; at most 32"));
      }
      for (size_t f = 0; f < model.features.size(); ++f) {
        const std::string& name = model.features[f];
        if (!IsValidName(name)) {
          return m.Error(models[i]["features"], m.Key("features"),
                         absl::StrCat("entry ", f, " must be 1-64 characters of [A-Za-z0-9._-]"));
        }
        if (std::find(model.features.begin(), model.features.begin() + f, name) != model.features.begin() + f) {
          return m.Error(models[i]["features"], m.Key("features"), absl::StrCat("'", name, "' is listed twice"));
        }
      }
      if (!IsValidName(model.name)) {
        return m.Error(models[i]["name"], m.Key("name"),
                       absl::StrCat("'", model.name, "' must be 1-64 characters of [A-Za-z0-9._-]"));
      }
      if (!names.insert(model.name).second) {
        return m.Error(models[i]["name"], m.Key("name"), absl::StrCat("'", model.name, "' is used twice"));
      }
      s->models.push_back(model);
    }
  }
  RETURN_IF_ERROR(r.ReadList("layers", &s->layers));
  RETURN_IF_ERROR(r.Read("context_seconds", &s->context_seconds));
  RETURN_IF_ERROR(r.Read("stride_seconds", &s->stride_seconds));
  RETURN_IF_ERROR(r.Read("pooling", &s->pooling));
  RETURN_IF_ERROR(r.ReadList("delays", &s->delays));
  RETURN_IF_ERROR(r.Read("alpha_min", &s->alpha_min));
  RETURN_IF_ERROR(r.Read("alpha_max", &s->alpha_max));
  RETURN_IF_ERROR(r.Read("alpha_count", &s->alpha_count));
  RETURN_IF_ERROR(r.Read("folds", &s->folds));
  RETURN_IF_ERROR(r.Read("ceiling_threshold", &s->ceiling_threshold));
  RETURN_IF_ERROR(r.ReadList("confounds", &s->confounds));
  RETURN_IF_ERROR(r.ReadList("data_fractions", &s->data_fractions));
  RETURN_IF_ERROR(r.Read("cache_dir", &s->cache_dir));
  RETURN_IF_ERROR(r.Read("resampled", &s->resampled));
  RETURN_IF_ERROR(r.Read("batch_size", &s->batch_size));
  RETURN_IF_ERROR(r.Read("participants", &s->participants));
  RETURN_IF_ERROR(r.ReadList("probes", &s->probes));
  RETURN_IF_ERROR(r.Read("context_words", &s->context_words));
  RETURN_IF_ERROR(r.ReadList("controls", &s->controls));
  RETURN_IF_ERROR(r.Read("erasure_concept", &s->erasure_concept));
  RETURN_IF_ERROR(r.Read("permutation_block_trs", &s->permutation_block_trs));
  RETURN_IF_ERROR(r.Read("permutations", &s->permutations));
  RETURN_IF_ERROR(r.Read("fdr_q", &s->fdr_q));
  RETURN_IF_ERROR(r.Read("context_mode", &s->context_mode));
  RETURN_IF_ERROR(r.CheckNoUnknownKeys());
  RETURN_IF_ERROR(r.CheckRange("context_words", s->context_words, 1, 100000));
  RETURN_IF_ERROR(CheckOneOf(r, "context_mode", s->context_mode, {"huth", "sliding"}));
  // letters, phonemes, word_frequency, or a stored per-word feature (a dataset name).
  if (!IsValidName(s->erasure_concept)) {
    return r.Error(r.Child("erasure_concept"), r.Key("erasure_concept"),
                   "must be letters, phonemes, word_frequency or a stored feature's name ([A-Za-z0-9._-], 1..64 "
                   "characters)");
  }
  for (size_t i = 0; i < s->controls.size(); ++i) {
    const std::string& c = s->controls[i];
    if (c != "residualisation" && c != "erasure" && c != "variance_partitioning" && c != "permutation") {
      return r.Error(r.Child("controls"), r.Key("controls"),
                     absl::StrCat("'", c, "' is not residualisation, erasure, variance_partitioning or permutation"));
    }
    if (std::find(s->controls.begin(), s->controls.begin() + i, c) != s->controls.begin() + i) {
      return r.Error(r.Child("controls"), r.Key("controls"), absl::StrCat("'", c, "' is listed twice"));
    }
    if (c == "variance_partitioning" && s->confounds.empty()) {
      return r.Error(r.Child("controls"), r.Key("controls"),
                     "variance_partitioning needs evaluation.confounds (its low-level band), which is empty");
    }
  }
  RETURN_IF_ERROR(r.CheckRange("permutation_block_trs", s->permutation_block_trs, 1, 1000));
  RETURN_IF_ERROR(r.CheckRange("permutations", s->permutations, 100, 100000));
  if (!(s->fdr_q > 0 && s->fdr_q <= 0.5)) {
    return r.Error(r.Child("fdr_q"), r.Key("fdr_q"), absl::StrCat(s->fdr_q, " is out of range (0, 0.5]"));
  }
  for (size_t i = 0; i < s->probes.size(); ++i) {
    const std::string& probe = s->probes[i];
    if (probe != "phoneme" && probe != "word_class" && probe != "context_class") {
      return r.Error(r.Child("probes"), r.Key("probes"),
                     absl::StrCat("'", probe, "' is not phoneme, word_class or context_class"));
    }
    if (std::find(s->probes.begin(), s->probes.begin() + i, probe) != s->probes.begin() + i) {
      return r.Error(r.Child("probes"), r.Key("probes"), absl::StrCat("'", probe, "' is listed twice"));
    }
  }
  RETURN_IF_ERROR(CheckOneOf(r, "participants", s->participants, {"auto", "held_out", "all"}));
  if (s->models.size() > 10) return r.Error(models, r.Key("models"), "at most 10 models");
  for (int layer : s->layers) {
    if (layer < 0 || layer > 48) return r.Error(r.Child("layers"), r.Key("layers"), absl::StrCat(layer, " is out of range [0, 48]"));
  }
  auto open_closed = [&](const char* key, double value, double hi) -> absl::Status {
    if (!(value > 0 && value <= hi)) {
      return r.Error(r.Child(key), r.Key(key), absl::StrCat(value, " is out of range (0, ", hi, "]"));
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(open_closed("context_seconds", s->context_seconds, 120));
  RETURN_IF_ERROR(open_closed("stride_seconds", s->stride_seconds, 10));
  if (s->pooling != "last" && s->pooling != "mean") {
    return r.Error(r.Child("pooling"), r.Key("pooling"), absl::StrCat("'", s->pooling, "' is not last or mean"));
  }
  if (s->delays.empty() || s->delays.size() > 16) {
    return r.Error(r.Child("delays"), r.Key("delays"), "must hold 1 to 16 values");
  }
  for (int d : s->delays) {
    if (d < 0 || d > 100) return r.Error(r.Child("delays"), r.Key("delays"), absl::StrCat(d, " is out of range [0, 100]"));
  }
  RETURN_IF_ERROR(open_closed("alpha_min", s->alpha_min, 1e12));
  RETURN_IF_ERROR(open_closed("alpha_max", s->alpha_max, 1e12));
  if (s->alpha_max < s->alpha_min) {
    return r.Error(r.Child("alpha_max"), r.Key("alpha_max"), "must not be below alpha_min");
  }
  RETURN_IF_ERROR(r.CheckRange("alpha_count", s->alpha_count, 1, 100));
  RETURN_IF_ERROR(r.CheckRange("folds", s->folds, 2, 100));
  if (!(s->ceiling_threshold >= 0 && s->ceiling_threshold < 1)) {
    return r.Error(r.Child("ceiling_threshold"), r.Key("ceiling_threshold"),
                   absl::StrCat(s->ceiling_threshold, " is out of range [0, 1)"));
  }
  for (double f : s->data_fractions) {
    if (!(f > 0 && f <= 1)) {
      return r.Error(r.Child("data_fractions"), r.Key("data_fractions"), absl::StrCat(f, " is out of range (0, 1]"));
    }
  }
  return r.CheckRange("batch_size", s->batch_size, 1, 65536);
}

template <typename Spec, typename Fn>
absl::Status ParseSection(MapReader& parent, const std::string& key, const std::string& source,
                          Spec* spec, Fn parse) {
  YAML::Node child = parent.Child(key);
  if (!child.IsDefined() || child.IsNull()) return absl::OkStatus();
  MapReader reader(child, key, source);
  return parse(reader, spec);
}

bool IsValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  }
  return true;
}

// Validation lives here, so a bad spec is refused at submission, not on the ranks.
absl::StatusOr<JobSpec> ParseRoot(const YAML::Node& root, const std::string& source) {
  JobSpec spec;
  MapReader top(root, "", source);
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(source, ": the job spec must be a YAML mapping"));
  RETURN_IF_ERROR(top.Read("name", &spec.name, /*required=*/true));
  RETURN_IF_ERROR(top.Read("kind", &spec.kind));
  RETURN_IF_ERROR(ParseSection(top, "resources", source, &spec.resources, ParseResources));
  YAML::Node data = top.Child("data");
  if (!data.IsDefined() || data.IsNull()) return top.Error(root, "data", "is required");
  RETURN_IF_ERROR(ParseSection(top, "data", source, &spec.data, ParseData));
  RETURN_IF_ERROR(ParseSection(top, "model", source, &spec.model, ParseModel));
  if (spec.model.hidden == 0 && spec.model.pretrained.empty()) FillSizeDefaults(kModelSizes[0], &spec.model);  // no model section
  RETURN_IF_ERROR(ParseSection(top, "training", source, &spec.training, ParseTraining));
  RETURN_IF_ERROR(ParseSection(top, "distributed", source, &spec.distributed, ParseDistributed));
  RETURN_IF_ERROR(ParseSection(top, "output", source, &spec.output,
                               [](MapReader& r, OutputSpec* s) -> absl::Status {
                                 RETURN_IF_ERROR(r.CheckIsMap());
                                 RETURN_IF_ERROR(r.Read("dir", &s->dir));
                                 return r.CheckNoUnknownKeys();
                               }));
  YAML::Node evaluation = top.Child("evaluation");
  if (evaluation.IsDefined() && !evaluation.IsNull()) {
    MapReader reader(evaluation, "evaluation", source);
    RETURN_IF_ERROR(ParseEvaluation(reader, &spec.evaluation, source));
  }
  RETURN_IF_ERROR(top.CheckNoUnknownKeys());
  if (!IsValidName(spec.name)) {
    return top.Error(root["name"], "name",
                     absl::StrCat("'", spec.name, "' must be 1-64 characters of [A-Za-z0-9._-]"));
  }
  if (spec.kind != "train" && spec.kind != "evaluate" && spec.kind != "features" && spec.kind != "pretrain") {
    return top.Error(root["kind"], "kind",
                     absl::StrCat("'", spec.kind, "' is not a known kind (known: train, evaluate, features, pretrain)"));
  }
  const bool trains = spec.kind == "train" || spec.kind == "pretrain";
  if (!trains && spec.evaluation.models.empty()) {
    return top.Error(evaluation.IsDefined() ? evaluation : root, "evaluation.models",
                     absl::StrCat("is required for kind ", spec.kind, " (the models whose features are computed)"));
  }
  if (trains && evaluation.IsDefined()) {
    return top.Error(evaluation, "evaluation", "is only for kinds evaluate and features");
  }
  if (spec.kind != "features" && spec.evaluation.resampled) {
    return top.Error(evaluation["resampled"], "evaluation.resampled", "is only for kind features");
  }
  if (spec.training.precision == "bf16" && spec.resources.gpus_per_rank == 0) {
    return top.Error(root["training"]["precision"], "training.precision",
                     "bf16 needs a GPU (resources.gpus_per_rank > 0 on a node with CUDA)");
  }
  if (!trains) {
    std::set<int> seen;
    for (int layer : spec.evaluation.layers) {
      if (spec.model.pretrained.empty() && layer > spec.model.layers) {
        return top.Error(evaluation["layers"], "evaluation.layers",
                         absl::StrCat(layer, " exceeds model.layers (", spec.model.layers, ")"));
      }
      if (!seen.insert(layer).second) {
        return top.Error(evaluation["layers"], "evaluation.layers", absl::StrCat(layer, " is listed twice"));
      }
    }
    // Ranks meet once per phase (features of a share of the stories, fits of a share of the
    // participants): minutes apart, not a training step's seconds.
    const YAML::Node distributed = top.Child("distributed");
    if (!distributed.IsDefined() || !distributed.IsMap() || !distributed["collective_timeout"].IsDefined()) {
      spec.distributed.collective_timeout = kEvaluateCollectiveTimeout;
    }
  }
  return spec;
}

// Every path field of the spec: `key` of the top-level mapping `section`, or of every item of
// its list `list`. Relative paths are relative to the spec file; they are made absolute before
// the spec travels (CLI -> coordinator -> agent -> ranks). The one table of them.
struct PathField {
  const char* section;
  const char* list;  // nullptr: section.key itself
  const char* key;
};
constexpr PathField kPathFields[] = {
    {"data", nullptr, "path"},
    {"output", nullptr, "dir"},
    {"model", nullptr, "pretrained"},
    {"evaluation", nullptr, "cache_dir"},
    {"evaluation", "models", "checkpoint"},
    {"evaluation", "models", "pretrained"},
};

// Makes every relative path field of `root` absolute against `base`, in place; leaves absent
// or malformed fields to the parser's errors.
void ResolvePaths(YAML::Node& root, const fs::path& base) {
  auto resolve = [&](YAML::Node node, const char* key) {
    const YAML::Node& const_node = node;  // const lookups never insert absent keys
    if (!const_node.IsMap()) return;
    const YAML::Node value = const_node[key];
    if (!value.IsDefined() || !value.IsScalar()) return;
    const fs::path p(value.as<std::string>());
    if (p.is_relative() && !p.empty()) node[key] = (base / p).lexically_normal().string();
  };
  const YAML::Node& const_root = root;
  if (!const_root.IsMap()) return;
  for (const PathField& f : kPathFields) {
    const YAML::Node section = const_root[f.section];
    if (!section.IsDefined() || !section.IsMap()) continue;
    if (f.list == nullptr) {
      resolve(root[f.section], f.key);
      continue;
    }
    const YAML::Node list = section[f.list];
    if (!list.IsDefined() || !list.IsSequence()) continue;
    YAML::Node items = root[f.section][f.list];
    for (size_t i = 0; i < items.size(); ++i) resolve(items[i], f.key);
  }
}

// Loads, resolves (when `base` is set) and parses; yaml-cpp exceptions become errors.
absl::StatusOr<LoadedSpec> Load(const std::string& yaml_text, const std::string& source,
                                const std::optional<fs::path>& base) {
  ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(yaml_text, source));
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(source, ": the job spec must be a YAML mapping"));
  LoadedSpec loaded;
  loaded.source = source;
  RETURN_IF_ERROR(GuardYaml(source, [&]() -> absl::Status {
    if (base.has_value()) ResolvePaths(root, *base);
    ASSIGN_OR_RETURN(loaded.spec, ParseRoot(root, source));
    if (!base.has_value()) {
      loaded.text = yaml_text;
      return absl::OkStatus();
    }
    YAML::Emitter out;
    out << root;
    loaded.text = std::string(out.c_str()) + "\n";
    return absl::OkStatus();
  }));
  return loaded;
}

}  // namespace

absl::StatusOr<JobSpec> ParseJobSpec(const std::string& yaml_text, const std::string& source) {
  ASSIGN_OR_RETURN(LoadedSpec loaded, Load(yaml_text, source, std::nullopt));
  return std::move(loaded.spec);
}

absl::StatusOr<LoadedSpec> ParseJobSpecText(const std::string& yaml_text, const std::string& source,
                                            const std::string& base_dir) {
  return Load(yaml_text, source, fs::absolute(fs::path(base_dir)));
}

absl::StatusOr<LoadedSpec> LoadJobSpecFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, "job spec"));
  return ParseJobSpecText(text, path, fs::absolute(fs::path(path)).parent_path().string());
}

}  // namespace braintune::config

