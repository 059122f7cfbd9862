#include "model/hf_config.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "yaml-cpp/yaml.h"

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
  Wav2Vec2Config c;  // the defaults are wav2vec2-base's
  if (size == "base") return c;
  if (size == "large") {
    c.conv_bias = true;
    c.feat_extract_norm = "layer";
    c.hidden_size = 1024;
    c.num_hidden_layers = 24;
    c.num_attention_heads = 16;
    c.intermediate_size = 4096;
    c.do_stable_layer_norm = true;
    return c;
  }
  if (size == "tiny") {
    c.conv_dim = std::vector<int64_t>(7, 32);
    c.hidden_size = 64;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.intermediate_size = 128;
    c.num_conv_pos_embeddings = 32;
    c.num_conv_pos_embedding_groups = 4;
    return c;
  }
  return absl::NotFoundError(
      absl::StrCat("'", size, "' is not a known size (known: ", absl::StrJoin(NamedSizes(), ", "), ")"));
}

std::vector<std::string> NamedSizes() { return {"tiny", "base", "large"}; }

namespace {

template <typename T>
absl::Status ReadField(const YAML::Node& root, const char* key, T* out, const std::string& source) {
  const YAML::Node v = root[key];
  if (!v.IsDefined() || v.IsNull()) return absl::OkStatus();
  try {
    *out = v.as<T>();
  } catch (const YAML::Exception&) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", key, ": wrong type"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Wav2Vec2Config> ParseHfConfig(const std::string& json_text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(json_text);  // JSON is (for config files) a subset of YAML
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON: ", e.msg));
  }
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(source, ": expected a JSON object"));
  Wav2Vec2Config c;
  // HF's defaults when a field is absent are wav2vec2-base's, as in Wav2Vec2Config here.
  absl::Status s;
  s.Update(ReadField(root, "model_type", &c.model_type, source));
  s.Update(ReadField(root, "conv_dim", &c.conv_dim, source));
  s.Update(ReadField(root, "conv_kernel", &c.conv_kernel, source));
  s.Update(ReadField(root, "conv_stride", &c.conv_stride, source));
  s.Update(ReadField(root, "conv_bias", &c.conv_bias, source));
  s.Update(ReadField(root, "feat_extract_norm", &c.feat_extract_norm, source));
  s.Update(ReadField(root, "feat_proj_layer_norm", &c.feat_proj_layer_norm, source));
  s.Update(ReadField(root, "hidden_size", &c.hidden_size, source));
  s.Update(ReadField(root, "num_hidden_layers", &c.num_hidden_layers, source));
  s.Update(ReadField(root, "num_attention_heads", &c.num_attention_heads, source));
  s.Update(ReadField(root, "intermediate_size", &c.intermediate_size, source));
  s.Update(ReadField(root, "num_conv_pos_embeddings", &c.num_conv_pos_embeddings, source));
  s.Update(ReadField(root, "num_conv_pos_embedding_groups", &c.num_conv_pos_embedding_groups, source));
  s.Update(ReadField(root, "do_stable_layer_norm", &c.do_stable_layer_norm, source));
  s.Update(ReadField(root, "layer_norm_eps", &c.layer_norm_eps, source));
  if (!s.ok()) return s;
  std::string act = "gelu";
  if (auto st = ReadField(root, "hidden_act", &act, source); !st.ok()) return st;
  if (act != "gelu") {
    return absl::InvalidArgumentError(absl::StrCat(source, ": hidden_act: '", act, "' is not supported (only gelu)"));
  }
  if (auto st = c.Validate(source); !st.ok()) return st;
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
