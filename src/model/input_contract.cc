#include "model/input_contract.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "config/yaml_reader.h"

namespace braintune::model {

std::string InputContract::Describe() const {
  std::string out = sampling_rate > 0 ? absl::StrCat(sampling_rate, " Hz") : "the dataset's sample rate (no fixed rate)";
  absl::StrAppend(&out, do_normalize ? ", normalised per window" : ", not normalised", ", padding ", padding_value,
                  return_attention_mask ? ", padded windows masked" : ", padding heard as silence");
  if (!source.empty()) absl::StrAppend(&out, " (", source, ")");
  return out;
}

bool InputContract::SameAs(const InputContract& o) const {
  return sampling_rate == o.sampling_rate && do_normalize == o.do_normalize && padding_value == o.padding_value &&
         return_attention_mask == o.return_attention_mask;
}

InputContract PublishedDefaults(const Wav2Vec2Config& config) {
  InputContract c;
  c.sampling_rate = 16000;
  c.do_normalize = true;
  c.padding_value = 0;
  c.return_attention_mask = config.feat_extract_norm == "layer";
  c.source = absl::StrCat("no preprocessor_config.json: the published defaults for ", config.model_type,
                          config.feat_extract_norm == "layer" ? " with a LayerNorm feature extractor" : "");
  return c;
}

InputContract NoContract() {
  InputContract c;
  c.source = "a model trained from scratch";
  return c;
}

absl::StatusOr<InputContract> ParsePreprocessorConfig(const std::string& json_text, const std::string& source) {
  ASSIGN_OR_RETURN(YAML::Node root, config::LoadYaml(json_text, source, "JSON"));  // JSON is a subset of YAML
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(source, ": expected a JSON object"));
  // Absent fields take Wav2Vec2FeatureExtractor's defaults (as transformers does).
  InputContract c;
  c.sampling_rate = 16000;
  c.do_normalize = true;
  c.source = source;
  std::string type = "Wav2Vec2FeatureExtractor";
  int64_t feature_size = 1;
  config::MapReader r(root, "", source);
  RETURN_IF_ERROR(config::GuardYaml(source, [&]() -> absl::Status {
    RETURN_IF_ERROR(r.Read("feature_extractor_type", &type));
    RETURN_IF_ERROR(r.Read("feature_size", &feature_size));
    RETURN_IF_ERROR(r.Read("sampling_rate", &c.sampling_rate));
    RETURN_IF_ERROR(r.Read("do_normalize", &c.do_normalize));
    RETURN_IF_ERROR(r.Read("padding_value", &c.padding_value));
    return r.Read("return_attention_mask", &c.return_attention_mask);
  }));
  if (type != "Wav2Vec2FeatureExtractor") {
    return absl::InvalidArgumentError(absl::StrCat(source, ": feature_extractor_type: '", type,
                                                   "' is not supported (braintune's models take raw waveforms: "
                                                   "Wav2Vec2FeatureExtractor)"));
  }
  if (feature_size != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": feature_size: ", feature_size, " (a waveform model takes 1 value per sample)"));
  }
  if (!(c.sampling_rate >= 100 && c.sampling_rate <= 384000)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": sampling_rate: ", c.sampling_rate, " is outside [100, 384000] Hz"));
  }
  if (!std::isfinite(c.padding_value)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": padding_value: must be a finite number"));
  }
  return c;
}

std::string PreprocessorConfigJson(const InputContract& c) {
  std::ostringstream o;
  o.precision(17);
  o << "{\n"
    << "  \"feature_extractor_type\": \"Wav2Vec2FeatureExtractor\",\n"
    << "  \"feature_size\": 1,\n"
    << "  \"sampling_rate\": " << static_cast<int64_t>(std::llround(c.sampling_rate)) << ",\n"
    << "  \"do_normalize\": " << (c.do_normalize ? "true" : "false") << ",\n"
    << "  \"padding_side\": \"right\",\n"
    << "  \"padding_value\": " << c.padding_value << ",\n"
    << "  \"return_attention_mask\": " << (c.return_attention_mask ? "true" : "false") << "\n"
    << "}\n";
  return o.str();
}

absl::StatusOr<InputContract> ReadInputContract(const std::string& dir, const Wav2Vec2Config& config) {
  const std::string path = dir + "/preprocessor_config.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return PublishedDefaults(config);
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, "model.pretrained preprocessor config"));
  return ParsePreprocessorConfig(text, path);
}

absl::StatusOr<double> HeardRate(const InputContract& c, double recorded_hz, bool resample, const std::string& where) {
  if (c.sampling_rate <= 0 || std::abs(c.sampling_rate - recorded_hz) < 1e-6) return recorded_hz;
  if (!resample) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": recorded at ", recorded_hz, " Hz, but the model hears ", c.sampling_rate, " Hz (", c.source,
        "); data.resample is false, so braintune will not resample it: set data.resample: true (the default)"));
  }
  return c.sampling_rate;
}

std::string InputLines(const std::string& prefix, const InputContract& c,
                       const std::vector<std::pair<std::string, double>>& stories, bool resample) {
  std::string out = absl::StrCat(prefix, ": the model hears ", c.Describe(), "\n");
  if (c.sampling_rate <= 0) {
    std::set<double> rates;
    for (const auto& story : stories) rates.insert(story.second);
    absl::StrAppend(&out, prefix, ": no fixed rate: audio is used at the dataset's ", absl::StrJoin(rates, ", "),
                    " Hz\n");
  }
  for (const auto& [name, recorded] : stories) {
    absl::StatusOr<double> rate = HeardRate(c, recorded, resample, name);
    if (rate.ok() && *rate != recorded) {
      absl::StrAppend(&out, prefix, ": resampling ", name, " from ", recorded, " Hz to ", *rate,
                      " Hz (libsoxr, high quality; the dataset keeps its recording)\n");
    }
  }
  return out;
}

bool EncodedAlone(const InputContract& c, const Wav2Vec2Config& config, int64_t valid_samples, bool padded) {
  return c.return_attention_mask && padded && config.Frames(valid_samples) >= 1;
}

std::string RecordedContractJson(const std::string* recorded) {
  return recorded != nullptr ? *recorded : PreprocessorConfigJson(NoContract());
}

void PrepareWindow(const InputContract& c, float* window, int64_t n, int64_t valid_begin, int64_t valid_end) {
  valid_begin = std::clamp<int64_t>(valid_begin, 0, n);
  valid_end = std::clamp<int64_t>(valid_end, valid_begin, n);
  if (c.do_normalize && valid_end > valid_begin) {
    double sum = 0;
    for (int64_t i = valid_begin; i < valid_end; ++i) sum += window[i];
    const double mean = sum / static_cast<double>(valid_end - valid_begin);
    double sq = 0;
    for (int64_t i = valid_begin; i < valid_end; ++i) sq += (window[i] - mean) * (window[i] - mean);
    const double scale = 1.0 / std::sqrt(sq / static_cast<double>(valid_end - valid_begin) + 1e-7);
    for (int64_t i = valid_begin; i < valid_end; ++i) window[i] = static_cast<float>((window[i] - mean) * scale);
  }
  const float pad = static_cast<float>(c.padding_value);
  for (int64_t i = 0; i < valid_begin; ++i) window[i] = pad;
  for (int64_t i = valid_end; i < n; ++i) window[i] = pad;
}

}  // namespace braintune::model
