#include "model/hf_config.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "config/model_sizes.h"
#include "config/yaml_reader.h"

namespace braintune::model {

int64_t Wav2Vec2Config::Stride() const {
  int64_t s = 1;
  for (int64_t v : conv_stride) s *= v;
  return s;
}

int64_t Wav2Vec2Config::Frames(int64_t samples) const {
  int64_t n = samples;
  for (size_t i = 0; i < conv_kernel.size(); ++i) {
    if (n < conv_kernel[i]) return 0;
    n = (n - conv_kernel[i]) / conv_stride[i] + 1;
  }
  return n;
}

absl::Status Wav2Vec2Config::Validate(const std::string& source) const {
  auto bad = [&](const std::string& field, const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", field, ": ", what));
  };
  if (conv_dim.empty() || conv_dim.size() != conv_kernel.size() || conv_dim.size() != conv_stride.size()) {
    return bad("conv_dim", absl::StrCat("conv_dim, conv_kernel and conv_stride must be non-empty lists of one length (",
                                        conv_dim.size(), ", ", conv_kernel.size(), ", ", conv_stride.size(), ")"));
  }
  for (size_t i = 0; i < conv_dim.size(); ++i) {
    if (conv_dim[i] < 1 || conv_kernel[i] < 1 || conv_stride[i] < 1) {
      return bad("conv_dim", absl::StrCat("layer ", i, ": sizes must be positive"));
    }
  }
  if (feat_extract_norm != "group" && feat_extract_norm != "layer") {
    return bad("feat_extract_norm", absl::StrCat("'", feat_extract_norm, "' is not group or layer"));
  }
  if (hidden_size < 1 || num_hidden_layers < 1 || num_attention_heads < 1 || intermediate_size < 1) {
    return bad("hidden_size", "hidden_size, num_hidden_layers, num_attention_heads, intermediate_size must be positive");
  }
  if (hidden_size % num_attention_heads != 0) {
    return bad("num_attention_heads",
               absl::StrCat("hidden_size (", hidden_size, ") must be divisible by it (", num_attention_heads, ")"));
  }
  if (num_conv_pos_embeddings < 1 || num_conv_pos_embedding_groups < 1 ||
      hidden_size % num_conv_pos_embedding_groups != 0) {
    return bad("num_conv_pos_embedding_groups",
               absl::StrCat("must be positive and divide hidden_size (", hidden_size, ")"));
  }
  if (model_type != "wav2vec2" && model_type != "hubert") {
    return bad("model_type", absl::StrCat("'", model_type, "' is not wav2vec2 or hubert"));
  }
  if (!(dropout >= 0 && dropout < 1)) return bad("dropout", "must be in [0, 1)");
  return absl::OkStatus();
}

absl::StatusOr<Wav2Vec2Config> NamedConfig(const std::string& size) {
  const config::ModelSize* named = config::FindModelSize(size);
  if (named == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("'", size, "' is not a known size (known: ", absl::StrJoin(NamedSizes(), ", "), ")"));
  }
  Wav2Vec2Config c;  // the defaults are wav2vec2-base's: kernels, strides, norms
  c.conv_dim.assign(c.conv_dim.size(), named->conv_channels);
  c.hidden_size = named->hidden;
  c.num_hidden_layers = named->layers;
  c.num_attention_heads = named->heads;
  c.intermediate_size = named->ffn;
  c.num_conv_pos_embeddings = named->pos_kernel;
  c.num_conv_pos_embedding_groups = named->pos_groups;
  if (named->pre_norm) {
    c.conv_bias = true;
    c.feat_extract_norm = "layer";
    c.do_stable_layer_norm = true;
  }
  return c;
}

std::vector<std::string> NamedSizes() {
  std::vector<std::string> names;
  for (const auto& s : config::kModelSizes) names.push_back(s.name);
  return names;
}

absl::StatusOr<Wav2Vec2Config> ParseHfConfig(const std::string& json_text, const std::string& source) {
  ASSIGN_OR_RETURN(YAML::Node root, config::LoadYaml(json_text, source, "JSON"));  // JSON is a subset of YAML
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(source, ": expected a JSON object"));
  Wav2Vec2Config c;
  // HF's defaults when a field is absent are wav2vec2-base's, as in Wav2Vec2Config here; fields
  // braintune does not use are ignored (config.json files carry dozens).
  config::MapReader r(root, "", source);
  std::string act = "gelu";
  RETURN_IF_ERROR(config::GuardYaml(source, [&]() -> absl::Status {
    RETURN_IF_ERROR(r.Read("model_type", &c.model_type));
    RETURN_IF_ERROR(r.Read("conv_dim", &c.conv_dim));
    RETURN_IF_ERROR(r.Read("conv_kernel", &c.conv_kernel));
    RETURN_IF_ERROR(r.Read("conv_stride", &c.conv_stride));
    RETURN_IF_ERROR(r.Read("conv_bias", &c.conv_bias));
    RETURN_IF_ERROR(r.Read("feat_extract_norm", &c.feat_extract_norm));
    RETURN_IF_ERROR(r.Read("feat_proj_layer_norm", &c.feat_proj_layer_norm));
    RETURN_IF_ERROR(r.Read("hidden_size", &c.hidden_size));
    RETURN_IF_ERROR(r.Read("num_hidden_layers", &c.num_hidden_layers));
    RETURN_IF_ERROR(r.Read("num_attention_heads", &c.num_attention_heads));
    RETURN_IF_ERROR(r.Read("intermediate_size", &c.intermediate_size));
    RETURN_IF_ERROR(r.Read("num_conv_pos_embeddings", &c.num_conv_pos_embeddings));
    RETURN_IF_ERROR(r.Read("num_conv_pos_embedding_groups", &c.num_conv_pos_embedding_groups));
    RETURN_IF_ERROR(r.Read("do_stable_layer_norm", &c.do_stable_layer_norm));
    RETURN_IF_ERROR(r.Read("layer_norm_eps", &c.layer_norm_eps));
    return r.Read("hidden_act", &act);
  }));
  if (act != "gelu") {
    return absl::InvalidArgumentError(absl::StrCat(source, ": hidden_act: '", act, "' is not supported (only gelu)"));
  }
  RETURN_IF_ERROR(c.Validate(source));
  return c;
}

std::string HfConfigJson(const Wav2Vec2Config& c) {
  auto list = [](const std::vector<int64_t>& v) { return absl::StrCat("[", absl::StrJoin(v, ", "), "]"); };
  auto flag = [](bool b) { return b ? "true" : "false"; };
  const bool hubert = c.model_type == "hubert";
  std::ostringstream o;
  o << "{\n"
    << "  \"architectures\": [\"" << (hubert ? "HubertModel" : "Wav2Vec2Model") << "\"],\n"
    << "  \"model_type\": \"" << c.model_type << "\",\n"
    << "  \"conv_dim\": " << list(c.conv_dim) << ",\n"
    << "  \"conv_kernel\": " << list(c.conv_kernel) << ",\n"
    << "  \"conv_stride\": " << list(c.conv_stride) << ",\n"
    << "  \"conv_bias\": " << flag(c.conv_bias) << ",\n"
    << "  \"num_feat_extract_layers\": " << c.conv_dim.size() << ",\n"
    << "  \"feat_extract_norm\": \"" << c.feat_extract_norm << "\",\n"
    << "  \"feat_extract_activation\": \"gelu\",\n"
    << "  \"feat_proj_layer_norm\": " << flag(c.feat_proj_layer_norm) << ",\n"
    << "  \"hidden_size\": " << c.hidden_size << ",\n"
    << "  \"num_hidden_layers\": " << c.num_hidden_layers << ",\n"
    << "  \"num_attention_heads\": " << c.num_attention_heads << ",\n"
    << "  \"intermediate_size\": " << c.intermediate_size << ",\n"
    << "  \"hidden_act\": \"gelu\",\n"
    << "  \"num_conv_pos_embeddings\": " << c.num_conv_pos_embeddings << ",\n"
    << "  \"num_conv_pos_embedding_groups\": " << c.num_conv_pos_embedding_groups << ",\n"
    << "  \"do_stable_layer_norm\": " << flag(c.do_stable_layer_norm) << ",\n"
    << "  \"layer_norm_eps\": " << c.layer_norm_eps << ",\n"
    << "  \"hidden_dropout\": " << c.dropout << ",\n"
    << "  \"attention_dropout\": " << c.dropout << ",\n"
    << "  \"feat_proj_dropout\": " << c.dropout << ",\n"
    << "  \"mask_time_prob\": 0.0,\n"
    << "  \"torch_dtype\": \"float32\"\n"
    << "}\n";
  return o.str();
}

}  // namespace braintune::model
