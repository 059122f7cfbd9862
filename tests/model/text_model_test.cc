// GPT-2 and BERT encoders: published sizes, agreement with the plain-PyTorch reference
// (bench/reference/text_reference.py, run by Debian's python3), Hugging Face checkpoints in and
// out (names, Conv1D transposes, heads skipped), LoRA, causality and padding.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "model/safetensors.h"
#include "model/text_encoder.h"
#include "testing/process.h"

namespace braintune::model {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

int64_t Count(const std::vector<torch::Tensor>& params, bool trainable_only = false) {
  int64_t n = 0;
  for (const auto& p : params) n += (!trainable_only || p.requires_grad()) ? p.numel() : 0;
  return n;
}

TextModelConfig Tiny(const std::string& type) {
  TextModelConfig c = *NamedTextConfig(type, "tiny");
  c.vocab_size = 300;
  c.max_position_embeddings = 64;
  return c;
}

// Layer norms start at 1/0 and biases at 0; moves them so a mix-up would show.
void Perturb(TextEncoderImpl& m) {
  torch::NoGradGuard no_grad;
  for (auto& item : m.named_parameters()) {
    if (item.key().find("bias") != std::string::npos || item.key().find("ln_") != std::string::npos ||
        item.key().find("LayerNorm") != std::string::npos) {
      item.value().add_(torch::randn_like(item.value()) * 0.1);
    }
  }
}

TEST(TextModelTest, PublishedSizesHaveTheirParameterCounts) {
  auto gpt2 = NamedTextConfig("gpt2", "small");
  auto bert = NamedTextConfig("bert", "base");
  ASSERT_TRUE(gpt2.ok() && bert.ok());
  EXPECT_EQ(gpt2->NumParameters(), 124'439'808);
  EXPECT_EQ(bert->NumParameters(), 109'482'240);
  // The modules built from them have exactly those parameters.
  EXPECT_EQ(Count(MakeTextEncoder(*gpt2)->parameters()), 124'439'808);
  EXPECT_EQ(Count(MakeTextEncoder(*bert)->parameters()), 109'482'240);
  for (const std::string type : {"gpt2", "bert"}) {
    auto tiny = NamedTextConfig(type, "tiny");
    ASSERT_TRUE(tiny.ok());
    EXPECT_EQ(Count(MakeTextEncoder(*tiny)->parameters()), tiny->NumParameters());
  }
  auto unknown = NamedTextConfig("gpt2", "base");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("tiny, small"));
}

// Our forward pass against the reference, both reading the same exported weights, on a batch
// with right padding: every hidden state within 1e-5 at the real tokens.
void ExpectMatchesReference(const std::string& type) {
  testing::TempDir dir;
  torch::manual_seed(5);
  auto m = MakeTextEncoder(Tiny(type));
  Perturb(*m);
  m->eval();
  ASSERT_TRUE(ExportTextHf(*m, dir.File("model")).ok());
  torch::Tensor ids = torch::randint(0, 300, {3, 20}, torch::kLong);
  torch::Tensor mask = torch::ones({3, 20}, torch::kLong);
  mask.index_put_({1, torch::indexing::Slice(12)}, 0);
  mask.index_put_({2, torch::indexing::Slice(3)}, 0);
  std::vector<std::pair<std::string, torch::Tensor>> expected;
  {
    torch::NoGradGuard no_grad;
    auto layers = m->Layers(ids, mask);
    ASSERT_EQ(layers.size(), 3u);
    for (size_t i = 0; i < layers.size(); ++i) expected.emplace_back("hidden_states." + std::to_string(i), layers[i]);
  }
  ASSERT_TRUE(WriteSafetensors(dir.File("in.safetensors"), {{"input_ids", ids}, {"attention_mask", mask}}).ok());
  ASSERT_TRUE(WriteSafetensors(dir.File("expected.safetensors"), expected).ok());
  auto r = testing::RunCommand(absl::StrCat("/usr/bin/python3 ", BRAINTUNE_SOURCE_DIR,
                                            "/bench/reference/text_reference.py forward --model ", dir.File("model"),
                                            " --input ", dir.File("in.safetensors"), " --expected ",
                                            dir.File("expected.safetensors"), " --tol 1e-5"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("ok: 3 hidden states")) << r.output;
}

TEST(TextModelTest, TinyGpt2MatchesThePyTorchReference) { ExpectMatchesReference("gpt2"); }
TEST(TextModelTest, TinyBertMatchesThePyTorchReference) { ExpectMatchesReference("bert"); }

TEST(TextModelTest, Gpt2SeesOnlyThePastAndBertIgnoresPadding) {
  torch::manual_seed(2);
  torch::NoGradGuard no_grad;
  torch::Tensor ids = torch::randint(0, 300, {1, 12}, torch::kLong);
  torch::Tensor changed = ids.clone();
  changed.index_put_({0, torch::indexing::Slice(8)}, (ids.index({0, torch::indexing::Slice(8)}) + 1) % 300);
  auto gpt2 = MakeTextEncoder(Tiny("gpt2"));
  gpt2->eval();
  auto a = gpt2->Layers(ids).back(), b = gpt2->Layers(changed).back();
  EXPECT_TRUE(torch::allclose(a.narrow(1, 0, 8), b.narrow(1, 0, 8)));
  EXPECT_FALSE(torch::allclose(a.narrow(1, 8, 4), b.narrow(1, 8, 4)));
  // BERT: tokens after the padding mark change nothing at the real positions; unmasked they do.
  auto bert = MakeTextEncoder(Tiny("bert"));
  bert->eval();
  torch::Tensor mask = torch::ones({1, 12}, torch::kLong);
  mask.index_put_({0, torch::indexing::Slice(8)}, 0);
  auto c = bert->Layers(ids, mask).back(), d = bert->Layers(changed, mask).back();
  EXPECT_TRUE(torch::allclose(c.narrow(1, 0, 8), d.narrow(1, 0, 8), 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(bert->Layers(ids).back().narrow(1, 0, 8), bert->Layers(changed).back().narrow(1, 0, 8)));
}

// The next-token check of concept erasure (eval/erasure_control.h) patches an edited hidden
// state back into GPT-2's forward pass: later blocks must see the edit, earlier states not.
TEST(TextModelTest, Gpt2NextTokenLogitsSeeAPatchedLayer) {
  torch::manual_seed(3);
  torch::NoGradGuard no_grad;
  auto gpt2 = MakeTextEncoder(Tiny("gpt2"));
  gpt2->eval();
  const torch::Tensor ids = torch::randint(0, 300, {2, 10}, torch::kLong);
  const std::vector<torch::Tensor> layers = gpt2->Layers(ids);
  const int last = gpt2->num_layers();
  const torch::Tensor wte = gpt2->named_parameters()["wte.weight"];
  auto plain = gpt2->NextTokenLogits(ids, {}, 0, {});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->sizes(), (std::vector<int64_t>{2, 10, 300}));
  EXPECT_TRUE(torch::allclose(*plain, torch::matmul(layers.back(), wte.t()), 1e-5, 1e-5));  // tied head
  auto identity = gpt2->NextTokenLogits(ids, {}, 1, [](const torch::Tensor& h) { return h; });
  ASSERT_TRUE(identity.ok());
  EXPECT_TRUE(torch::allclose(*identity, *plain));
  // An edit of the last state reaches the logits directly; one of an earlier state goes on through the blocks.
  auto scale = [](const torch::Tensor& h) { return h * 0.5; };
  EXPECT_TRUE(torch::allclose(*gpt2->NextTokenLogits(ids, {}, last, scale), *plain * 0.5, 1e-5, 1e-5));
  auto early = gpt2->NextTokenLogits(ids, {}, 0, scale);
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(torch::allclose(*early, *plain, 1e-3, 1e-3));
  EXPECT_FALSE(torch::allclose(*early, *plain * 0.5, 1e-3, 1e-3));
  EXPECT_FALSE(gpt2->NextTokenLogits(ids, {}, last + 1, scale).ok());
  // BERT is not a causal language model.
  auto bert = MakeTextEncoder(Tiny("bert"));
  EXPECT_EQ(bert->NextTokenLogits(ids, {}, 0, {}).status().code(), absl::StatusCode::kUnimplemented);
}

TEST(TextModelTest, CheckpointsLoadByHuggingFaceNamesAndBadOnesAreNamed) {
  for (const std::string type : {"gpt2", "bert"}) {
    SCOPED_TRACE(type);
    testing::TempDir dir;
    torch::manual_seed(1);
    auto a = MakeTextEncoder(Tiny(type));
    Perturb(*a);
    a->eval();
    ASSERT_TRUE(ExportTextHf(*a, dir.File("hf")).ok());
    auto ckpt = ReadTextCheckpoint(dir.File("hf"));
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    EXPECT_EQ(ckpt->config.model_type, type);
    if (type == "gpt2") {  // HF's Conv1D layout: [in, out]
      EXPECT_EQ(ckpt->tensors.at("h.0.attn.c_attn.weight").sizes(), (std::vector<int64_t>{64, 192}));
      EXPECT_EQ(ckpt->tensors.at("h.1.mlp.c_fc.weight").sizes(), (std::vector<int64_t>{64, 256}));
    }
    // As transformers saves a model with a head: prefixed names, a tied head, buffers.
    const std::string prefix = type == "gpt2" ? "transformer." : "bert.";
    std::map<std::string, torch::Tensor> saved;
    for (const auto& [k, t] : ckpt->tensors) saved[prefix + k] = t;
    if (type == "gpt2") {
      saved["lm_head.weight"] = ckpt->tensors.at("wte.weight");
      saved[prefix + "h.0.attn.bias"] = torch::ones({1, 1, 64, 64});
    } else {
      saved["cls.predictions.bias"] = torch::zeros({300});
      saved[prefix + "embeddings.position_ids"] = torch::arange(64).unsqueeze(0);
      // TensorFlow-era names for one LayerNorm.
      saved[prefix + "embeddings.LayerNorm.gamma"] = saved.at(prefix + "embeddings.LayerNorm.weight");
      saved[prefix + "embeddings.LayerNorm.beta"] = saved.at(prefix + "embeddings.LayerNorm.bias");
      saved.erase(prefix + "embeddings.LayerNorm.weight");
      saved.erase(prefix + "embeddings.LayerNorm.bias");
    }
    auto b = MakeTextEncoder(Tiny(type));
    b->eval();
    std::vector<std::string> skipped;
    ASSERT_TRUE(b->LoadHfStateDict(saved, "pytorch.safetensors", &skipped).ok());
    EXPECT_EQ(skipped.size(), 2u);
    torch::NoGradGuard no_grad;
    torch::Tensor ids = torch::randint(0, 300, {2, 9}, torch::kLong);
    auto la = a->Layers(ids), lb = b->Layers(ids);
    for (size_t i = 0; i < la.size(); ++i) EXPECT_TRUE(torch::allclose(la[i], lb[i], 1e-6, 1e-6)) << i;

    auto expect_error = [&](std::map<std::string, torch::Tensor> t, const std::string& needle) {
      auto s = MakeTextEncoder(Tiny(type))->LoadHfStateDict(t, "ckpt.safetensors");
      ASSERT_FALSE(s.ok()) << needle;
      EXPECT_THAT(s.message(), HasSubstr("ckpt.safetensors")) << s.message();
      EXPECT_THAT(s.message(), HasSubstr(needle)) << s.message();
    };
    const std::string some = type == "gpt2" ? "h.1.ln_2.weight" : "encoder.layer.1.output.dense.bias";
    auto missing = ckpt->tensors;
    missing.erase(some);
    expect_error(missing, "missing: " + some);
    auto unexpected = ckpt->tensors;
    unexpected["h.9.surprise"] = torch::zeros({3});
    expect_error(unexpected, "unexpected tensors: h.9.surprise");
    auto shaped = ckpt->tensors;
    shaped[type == "gpt2" ? "wte.weight" : "embeddings.word_embeddings.weight"] = torch::zeros({301, 64});
    expect_error(shaped, "wrong shape");
    // A BERT checkpoint without its pooler loads and says so.
    if (type == "bert") {
      auto no_pooler = ckpt->tensors;
      no_pooler.erase("pooler.dense.weight");
      no_pooler.erase("pooler.dense.bias");
      std::vector<std::string> notes;
      ASSERT_TRUE(MakeTextEncoder(Tiny(type))->LoadHfStateDict(no_pooler, "x", &notes).ok());
      EXPECT_THAT(notes, Contains("pooler.dense.weight (not in the file: left at initialisation)"));
    }
  }
}

TEST(TextModelTest, LoraTrainsAdaptersOnlyAndMergesOnExport) {
  for (const std::string type : {"gpt2", "bert"}) {
    SCOPED_TRACE(type);
    torch::manual_seed(4);
    auto m = MakeTextEncoder(Tiny(type));
    m->eval();
    torch::Tensor ids = torch::randint(0, 300, {2, 10}, torch::kLong);
    torch::Tensor before = m->Layers(ids).back().detach();
    LoraOptions o;
    o.rank = 4;
    o.dropout = 0;
    o.targets = DefaultTextLoraTargets(type);
    ASSERT_TRUE(m->EnableLora(o).ok());
    // A fresh adapter changes nothing; only adapters train: 2 layers x targets x r (in + out).
    EXPECT_TRUE(torch::allclose(m->Layers(ids).back(), before, 1e-6, 1e-6));
    const int64_t per_layer = type == "gpt2" ? 4 * (64 + 192) + 4 * (64 + 64) : 4 * 4 * (64 + 64);
    EXPECT_EQ(Count(m->parameters(), /*trainable_only=*/true), 2 * per_layer);
    {
      torch::NoGradGuard no_grad;
      for (auto& item : m->named_parameters()) {
        if (item.key().find("lora_B") != std::string::npos) item.value().normal_(0, 0.05);
      }
    }
    torch::Tensor adapted = m->Layers(ids).back().detach();
    EXPECT_FALSE(torch::allclose(adapted, before, 1e-4, 1e-4));
    testing::TempDir dir;
    ASSERT_TRUE(ExportTextHf(*m, dir.File("merged")).ok());
    auto ckpt = ReadTextCheckpoint(dir.File("merged"));
    ASSERT_TRUE(ckpt.ok());
    for (const auto& [name, t] : ckpt->tensors) EXPECT_EQ(name.find("lora"), std::string::npos) << name;
    auto plain = MakeTextEncoder(ckpt->config);
    plain->eval();
    ASSERT_TRUE(plain->LoadHfStateDict(ckpt->tensors, "merged").ok());
    EXPECT_TRUE(torch::allclose(plain->Layers(ids).back(), adapted, 1e-5, 1e-5));
    o.targets = {"q_proj"};
    auto bad = MakeTextEncoder(Tiny(type))->EnableLora(o);
    ASSERT_FALSE(bad.ok());
    EXPECT_THAT(bad.message(), HasSubstr("'q_proj' is not a layer of " + type));
  }
}

TEST(TextModelTest, HuggingFaceConfigsParseAndBadOnesAreNamed) {
  // As in the gpt2 and bert-base-uncased repositories (fields braintune ignores included).
  auto gpt2 = ParseTextConfig(R"({"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
      "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_inner": null, "n_layer": 12,
      "n_positions": 1024, "layer_norm_epsilon": 1e-05, "resid_pdrop": 0.1, "vocab_size": 50257})", "gpt2/config.json");
  ASSERT_TRUE(gpt2.ok()) << gpt2.status();
  EXPECT_EQ(gpt2->NumParameters(), 124'439'808);
  EXPECT_EQ(gpt2->intermediate_size, 3072);
  auto bert = ParseTextConfig(R"({"architectures": ["BertForMaskedLM"], "model_type": "bert", "hidden_act": "gelu",
      "hidden_size": 768, "intermediate_size": 3072, "max_position_embeddings": 512, "num_attention_heads": 12,
      "num_hidden_layers": 12, "type_vocab_size": 2, "vocab_size": 30522, "layer_norm_eps": 1e-12})", "bert/config.json");
  ASSERT_TRUE(bert.ok()) << bert.status();
  EXPECT_EQ(bert->NumParameters(), 109'482'240);
  // What we write reads back the same.
  auto again = ParseTextConfig(TextConfigJson(*gpt2), "again");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->NumParameters(), gpt2->NumParameters());
  EXPECT_EQ(again->layer_norm_eps, gpt2->layer_norm_eps);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"n_embd": 64})", "model_type: is required"},
      {R"({"model_type": "t5"})", "model_type: 't5' is not gpt2 or bert"},
      {R"({"model_type": "gpt2", "n_embd": "wide"})", "n_embd"},
      {R"({"model_type": "gpt2", "n_embd": 65, "n_head": 2})", "num_attention_heads: hidden_size (65)"},
      {R"({"model_type": "gpt2", "activation_function": "relu"})", "activation_function: 'relu' is not supported"},
      {R"({"model_type": "bert", "vocab_size": 1000000000000})", "vocab_size: 1000000000000 is not in"},
      {R"({"model_type": "bert", "num_hidden_layers": 0})", "num_hidden_layers: 0 is not in"},
      {R"({"model_type": "bert", "hidden_dropout_prob": 1.5})", "dropout: must be in"},
      {R"([1, 2])", "expected a JSON object"},
      {R"({"model_type": "gpt2", "scale_attn_by_inverse_layer_idx": true})", "scale_attn_by_inverse_layer_idx"},
      {R"({"model_type": "gpt2", "n_embd": 65536, "n_layer": 1024, "n_head": 1, "n_inner": 262144})",
       "more than 4 billion"},
  };
  for (const auto& [json, needle] : bad) {
    auto c = ParseTextConfig(json, "m/config.json");
    ASSERT_FALSE(c.ok()) << json;
    EXPECT_THAT(c.status().message(), HasSubstr("m/config.json")) << json;
    EXPECT_THAT(c.status().message(), HasSubstr(needle)) << c.status().message();
  }
}

}  // namespace
}  // namespace braintune::model
