#include "model/text_config.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "config/yaml_reader.h"

namespace braintune::model {

namespace {

TextModelConfig Defaults(const std::string& model_type) {
  TextModelConfig c;  // GPT-2 small
  c.model_type = model_type;
  if (model_type == "bert") {  // bert-base-uncased
    c.vocab_size = 30522;
    c.max_position_embeddings = 512;
    c.layer_norm_eps = 1e-12;
    c.hidden_act = "gelu";
  }
  return c;
}

}  // namespace

int64_t TextModelConfig::NumParameters() const {
  const int64_t h = hidden_size, i = intermediate_size, norm = 2 * h;
  const int64_t ffn = h * i + i + i * h + h;
  if (model_type == "bert") {
    const int64_t embeddings = (vocab_size + max_position_embeddings + type_vocab_size) * h + norm;
    const int64_t layer = 4 * (h * h + h) + 2 * norm + ffn;
    return embeddings + num_hidden_layers * layer + (h * h + h);
  }
  const int64_t layer = 2 * norm + (h * 3 * h + 3 * h) + (h * h + h) + ffn;
  return (vocab_size + max_position_embeddings) * h + num_hidden_layers * layer + norm;
}

absl::Status TextModelConfig::Validate(const std::string& source) const {
  auto bad = [&](const std::string& field, const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", field, ": ", what));
  };
  if (model_type != "gpt2" && model_type != "bert") return bad("model_type", absl::StrCat("'", model_type, "' is not gpt2 or bert"));
  // Bounds keep a hostile config.json from asking for terabytes before a tensor is read.
  auto in = [&](const char* field, int64_t v, int64_t max) -> absl::Status {
    if (v < 1 || v > max) return bad(field, absl::StrCat(v, " is not in [1, ", max, "]"));
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(in("vocab_size", vocab_size, 1 << 22));
  RETURN_IF_ERROR(in("max_position_embeddings", max_position_embeddings, 1 << 16));
  RETURN_IF_ERROR(in("hidden_size", hidden_size, 1 << 16));
  RETURN_IF_ERROR(in("num_hidden_layers", num_hidden_layers, 1024));
  RETURN_IF_ERROR(in("num_attention_heads", num_attention_heads, 1024));
  RETURN_IF_ERROR(in("intermediate_size", intermediate_size, 1 << 18));
  RETURN_IF_ERROR(in("type_vocab_size", type_vocab_size, 1024));
  // Each size may be plausible and their product not: 4 billion parameters is 16 GB of float32.
  if (NumParameters() > int64_t{4'000'000'000}) {
    return bad("hidden_size", absl::StrCat("these sizes make ", NumParameters(), " parameters, more than 4 billion"));
  }
  if (hidden_size % num_attention_heads != 0) {
    return bad("num_attention_heads", absl::StrCat("hidden_size (", hidden_size, ") must be divisible by it (", num_attention_heads, ")"));
  }
  const std::string expected_act = model_type == "bert" ? "gelu" : "gelu_new";
  if (hidden_act != expected_act) {
    return bad(model_type == "bert" ? "hidden_act" : "activation_function",
               absl::StrCat("'", hidden_act, "' is not supported (only ", expected_act, ")"));
  }
  if (!(layer_norm_eps > 0 && layer_norm_eps < 1)) return bad("layer_norm_eps", "must be in (0, 1)");
  if (!(dropout >= 0 && dropout < 1)) return bad("dropout", "must be in [0, 1)");
  return absl::OkStatus();
}

absl::StatusOr<TextModelConfig> NamedTextConfig(const std::string& model_type, const std::string& size) {
  if (model_type != "gpt2" && model_type != "bert") {
    return absl::NotFoundError(absl::StrCat("'", model_type, "' is not a text model (gpt2 or bert)"));
  }
  TextModelConfig c = Defaults(model_type);
  if (size == "tiny") {
    c.hidden_size = 64;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 2;
    c.intermediate_size = 256;
    c.max_position_embeddings = 512;
    return c;
  }
  if ((model_type == "gpt2" && size == "small") || (model_type == "bert" && size == "base")) return c;
  return absl::NotFoundError(absl::StrCat("'", size, "' is not a known ", model_type, " size (known: ",
                                          absl::StrJoin(NamedTextSizes(model_type), ", "), ")"));
}

std::vector<std::string> NamedTextSizes(const std::string& model_type) {
  return {"tiny", model_type == "bert" ? "base" : "small"};
}

absl::StatusOr<std::string> HfModelType(const std::string& json_text, const std::string& source) {
  ASSIGN_OR_RETURN(YAML::Node root, config::LoadYaml(json_text, source, "JSON"));
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(source, ": expected a JSON object"));
  config::MapReader r(root, "", source);
  std::string model_type;
  RETURN_IF_ERROR(config::GuardYaml(source, [&] { return r.Read("model_type", &model_type); }));
  return model_type;
}

bool IsTextModelType(const std::string& model_type) { return model_type == "gpt2" || model_type == "bert"; }

absl::StatusOr<TextModelConfig> ParseTextConfig(const std::string& json_text, const std::string& source) {
  ASSIGN_OR_RETURN(YAML::Node root, config::LoadYaml(json_text, source, "JSON"));
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(source, ": expected a JSON object"));
  config::MapReader r(root, "", source);
  std::string model_type;
  RETURN_IF_ERROR(config::GuardYaml(source, [&] { return r.Read("model_type", &model_type, /*required=*/true); }));
  if (model_type != "gpt2" && model_type != "bert") {
    return absl::InvalidArgumentError(absl::StrCat(source, ": model_type: '", model_type, "' is not gpt2 or bert"));
  }
  TextModelConfig c = Defaults(model_type);
  RETURN_IF_ERROR(config::GuardYaml(source, [&]() -> absl::Status {
    RETURN_IF_ERROR(r.Read("vocab_size", &c.vocab_size));
    if (model_type == "gpt2") {
      RETURN_IF_ERROR(r.Read("n_positions", &c.max_position_embeddings));
      RETURN_IF_ERROR(r.Read("n_embd", &c.hidden_size));
      RETURN_IF_ERROR(r.Read("n_layer", &c.num_hidden_layers));
      RETURN_IF_ERROR(r.Read("n_head", &c.num_attention_heads));
      c.intermediate_size = 4 * c.hidden_size;
      RETURN_IF_ERROR(r.Read("n_inner", &c.intermediate_size));  // null keeps 4 x n_embd
      RETURN_IF_ERROR(r.Read("layer_norm_epsilon", &c.layer_norm_eps));
      RETURN_IF_ERROR(r.Read("activation_function", &c.hidden_act));
      // Variants of GPT-2's attention this implementation does not have: refused, not ignored.
      bool scale_weights = true, by_layer = false, upcast = false;
      RETURN_IF_ERROR(r.Read("scale_attn_weights", &scale_weights));
      RETURN_IF_ERROR(r.Read("scale_attn_by_inverse_layer_idx", &by_layer));
      RETURN_IF_ERROR(r.Read("reorder_and_upcast_attn", &upcast));
      if (!scale_weights || by_layer || upcast) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": scale_attn_weights: false, scale_attn_by_inverse_layer_idx or reorder_and_upcast_attn: true ",
            "are not supported (GPT-2's own attention only)"));
      }
      return r.Read("resid_pdrop", &c.dropout);
    }
    RETURN_IF_ERROR(r.Read("max_position_embeddings", &c.max_position_embeddings));
    RETURN_IF_ERROR(r.Read("hidden_size", &c.hidden_size));
    RETURN_IF_ERROR(r.Read("num_hidden_layers", &c.num_hidden_layers));
    RETURN_IF_ERROR(r.Read("num_attention_heads", &c.num_attention_heads));
    RETURN_IF_ERROR(r.Read("intermediate_size", &c.intermediate_size));
    RETURN_IF_ERROR(r.Read("type_vocab_size", &c.type_vocab_size));
    RETURN_IF_ERROR(r.Read("layer_norm_eps", &c.layer_norm_eps));
    RETURN_IF_ERROR(r.Read("hidden_act", &c.hidden_act));
    return r.Read("hidden_dropout_prob", &c.dropout);
  }));
  RETURN_IF_ERROR(c.Validate(source));
  return c;
}

std::string TextConfigJson(const TextModelConfig& c) {
  std::ostringstream o;
  o << "{\n";
  if (c.model_type == "gpt2") {
    o << "  \"architectures\": [\"GPT2Model\"],\n"
      << "  \"model_type\": \"gpt2\",\n"
      << "  \"vocab_size\": " << c.vocab_size << ",\n"
      << "  \"n_positions\": " << c.max_position_embeddings << ",\n"
      << "  \"n_embd\": " << c.hidden_size << ",\n"
      << "  \"n_layer\": " << c.num_hidden_layers << ",\n"
      << "  \"n_head\": " << c.num_attention_heads << ",\n"
      << "  \"n_inner\": " << c.intermediate_size << ",\n"
      << "  \"activation_function\": \"" << c.hidden_act << "\",\n"
      << "  \"layer_norm_epsilon\": " << c.layer_norm_eps << ",\n"
      << "  \"resid_pdrop\": " << c.dropout << ",\n"
      << "  \"embd_pdrop\": " << c.dropout << ",\n"
      << "  \"attn_pdrop\": " << c.dropout << ",\n";
  } else {
    o << "  \"architectures\": [\"BertModel\"],\n"
      << "  \"model_type\": \"bert\",\n"
      << "  \"vocab_size\": " << c.vocab_size << ",\n"
      << "  \"max_position_embeddings\": " << c.max_position_embeddings << ",\n"
      << "  \"hidden_size\": " << c.hidden_size << ",\n"
      << "  \"num_hidden_layers\": " << c.num_hidden_layers << ",\n"
      << "  \"num_attention_heads\": " << c.num_attention_heads << ",\n"
      << "  \"intermediate_size\": " << c.intermediate_size << ",\n"
      << "  \"type_vocab_size\": " << c.type_vocab_size << ",\n"
      << "  \"hidden_act\": \"" << c.hidden_act << "\",\n"
      << "  \"layer_norm_eps\": " << c.layer_norm_eps << ",\n"
      << "  \"hidden_dropout_prob\": " << c.dropout << ",\n"
      << "  \"attention_probs_dropout_prob\": " << c.dropout << ",\n";
  }
  o << "  \"torch_dtype\": \"float32\"\n}\n";
  return o.str();
}

}  // namespace braintune::model
