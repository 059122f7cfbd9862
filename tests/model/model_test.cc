// The wav2vec2 / HuBERT encoder: published sizes, agreement with the plain-PyTorch reference
// (bench/reference/wav2vec2_reference.py, run by Debian's python3), safetensors, Hugging Face
// checkpoints in and out, LoRA and freezing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "model/attention.h"
#include "model/brain_model.h"
#include "model/safetensors.h"
#include "model/wav2vec2.h"
#include "testing/process.h"

namespace braintune::model {
namespace {

using ::testing::HasSubstr;

int64_t Count(const std::vector<torch::Tensor>& params, bool trainable_only = false) {
  int64_t n = 0;
  for (const auto& p : params) n += (!trainable_only || p.requires_grad()) ? p.numel() : 0;
  return n;
}

// Layer norms start at 1/0; moves them so that a mix-up of weight and bias would show.
void Perturb(Wav2Vec2Model& m) {
  torch::NoGradGuard no_grad;
  for (auto& item : m->named_parameters()) {
    if (item.key().find("norm") != std::string::npos) item.value().add_(torch::randn_like(item.value()) * 0.1);
  }
}

Wav2Vec2Config Tiny() { return *NamedConfig("tiny"); }

// The large-style variant at tiny size: pre-norm, LayerNorm in every conv layer, conv bias, an
// odd position kernel, no projection LayerNorm (HuBERT-style).
Wav2Vec2Config TinyPreNorm() {
  Wav2Vec2Config c = Tiny();
  c.do_stable_layer_norm = true;
  c.feat_extract_norm = "layer";
  c.conv_bias = true;
  c.num_conv_pos_embeddings = 31;
  c.feat_proj_layer_norm = false;
  c.model_type = "hubert";
  return c;
}

TEST(Wav2Vec2Test, BaseHasThePublishedShapesAndParameterCount) {
  Wav2Vec2Model base(*NamedConfig("base"));
  // Hugging Face's Wav2Vec2Model / HubertModel base without masked_spec_embed.
  EXPECT_EQ(Count(base->parameters()), 94'370'944);
  base->eval();
  torch::NoGradGuard no_grad;
  auto layers = base->Layers(torch::randn({1, 16000}));
  ASSERT_EQ(layers.size(), 13u);
  EXPECT_EQ(layers.back().sizes(), (std::vector<int64_t>{1, 49, 768}));  // 20 ms frames
  EXPECT_EQ(base->config().Frames(16000), 49);
  // The published LoRA recipe: rank 8 on q/k/v/out trains 0.6% of the encoder.
  base->FreezeFeatureEncoder();
  ASSERT_TRUE(base->EnableLora(LoraOptions{}).ok());
  EXPECT_EQ(Count(base->parameters(), true), 12 * 4 * (768 * 8 + 8 * 768));
  EXPECT_NEAR(100.0 * Count(base->parameters(), true) / 94'370'944, 0.62, 0.01);
}

TEST(Wav2Vec2Test, LargeIsPreNormWithAbout315MParameters) {
  Wav2Vec2Config c = *NamedConfig("large");
  EXPECT_TRUE(c.do_stable_layer_norm);
  Wav2Vec2Model large(c);
  const int64_t n = Count(large->parameters());
  EXPECT_GT(n, 310'000'000);
  EXPECT_LT(n, 320'000'000);
}

// Our forward pass against the reference in plain PyTorch, both reading the same exported
// weights: every hidden state within 1e-5.
void ExpectMatchesReference(const Wav2Vec2Config& config) {
  testing::TempDir dir;
  torch::manual_seed(3);
  Wav2Vec2Model m(config);
  Perturb(m);
  m->eval();
  ASSERT_TRUE(ExportHf(m, dir.File("model")).ok());
  torch::Tensor audio = torch::randn({2, 6000}) * 0.5;
  std::vector<std::pair<std::string, torch::Tensor>> expected;
  {
    torch::NoGradGuard no_grad;
    auto layers = m->Layers(audio);
    for (size_t i = 0; i < layers.size(); ++i) expected.emplace_back("hidden_states." + std::to_string(i), layers[i]);
  }
  ASSERT_TRUE(WriteSafetensors(dir.File("in.safetensors"), {{"audio", audio}}).ok());
  ASSERT_TRUE(WriteSafetensors(dir.File("expected.safetensors"), expected).ok());
  auto r = testing::RunCommand(std::string("/usr/bin/python3 ") + BRAINTUNE_SOURCE_DIR +
                               "/bench/reference/wav2vec2_reference.py --model " + dir.File("model") + " --input " +
                               dir.File("in.safetensors") + " --expected " + dir.File("expected.safetensors") +
                               " --tol 1e-5");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("PASS")) << r.output;
}

TEST(Wav2Vec2Test, TinyPostNormMatchesThePyTorchReference) { ExpectMatchesReference(Tiny()); }
TEST(Wav2Vec2Test, TinyPreNormMatchesThePyTorchReference) { ExpectMatchesReference(TinyPreNorm()); }

TEST(Wav2Vec2Test, ExportedCheckpointLoadsBackAndBadOnesAreNamed) {
  testing::TempDir dir;
  torch::manual_seed(1);
  Wav2Vec2Model a(Tiny());
  Perturb(a);
  a->eval();
  ASSERT_TRUE(ExportHf(a, dir.File("hf")).ok());
  auto ckpt = ReadHfCheckpoint(dir.File("hf"));
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->config.hidden_size, 64);
  torch::manual_seed(2);
  Wav2Vec2Model b(ckpt->config);
  b->eval();
  // A task model's names: prefixed, with heads the encoder does not use.
  std::map<std::string, torch::Tensor> prefixed;
  for (const auto& [k, v] : ckpt->tensors) prefixed["wav2vec2." + k] = v;
  prefixed["lm_head.weight"] = torch::zeros({5, 64});
  prefixed["wav2vec2.masked_spec_embed"] = torch::zeros({64});
  std::vector<std::string> skipped;
  ASSERT_TRUE(b->LoadHfStateDict(prefixed, "test", &skipped).ok());
  EXPECT_EQ(skipped.size(), 2u);
  torch::NoGradGuard no_grad;
  torch::Tensor audio = torch::randn({1, 4000});
  EXPECT_TRUE(torch::equal(a->forward(audio), b->forward(audio)));

  auto missing = ckpt->tensors;
  missing.erase("encoder.layers.1.attention.k_proj.weight");
  auto s = b->LoadHfStateDict(missing, "ckpt.safetensors");
  EXPECT_THAT(s.message(), HasSubstr("ckpt.safetensors: 1 parameters are missing: encoder.layers.1.attention.k_proj.weight"));
  auto unexpected = ckpt->tensors;
  unexpected["encoder.layers.7.attention.k_proj.weight"] = torch::zeros({64, 64});
  s = b->LoadHfStateDict(unexpected, "ckpt.safetensors");
  EXPECT_THAT(s.message(), HasSubstr("unexpected tensors: encoder.layers.7.attention.k_proj.weight"));
  auto shaped = ckpt->tensors;
  shaped["feature_projection.projection.weight"] = torch::zeros({64, 31});
  s = b->LoadHfStateDict(shaped, "ckpt.safetensors");
  EXPECT_THAT(s.message(), HasSubstr("feature_projection.projection.weight (file [64, 31], model [64, 32])"));
  EXPECT_TRUE(torch::equal(a->forward(audio), b->forward(audio))) << "a failed load changes nothing";
}

TEST(SafetensorsTest, RoundTripsTypesAndNamesWhatIsWrong) {
  testing::TempDir dir;
  torch::Tensor f = torch::randn({3, 4});
  torch::Tensor h = torch::randn({5}).to(torch::kBFloat16);
  torch::Tensor i = torch::arange(6, torch::kLong).view({2, 3});
  ASSERT_TRUE(WriteSafetensors(dir.File("t.safetensors"), {{"f", f}, {"h", h}, {"i", i}}, {{"format", "pt"}}).ok());
  auto read = ReadSafetensors(dir.File("t.safetensors"));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(torch::equal(read->at("f"), f));
  EXPECT_TRUE(torch::equal(read->at("h"), h.to(torch::kFloat)));  // half types arrive as float32
  EXPECT_TRUE(torch::equal(read->at("i"), i));
  // The file Python's safetensors would read: header length, JSON, 8-byte aligned data.
  std::string bytes = testing::ReadFileOrEmpty(dir.File("t.safetensors"));
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes[8], '{');

  std::ofstream(dir.File("short.safetensors"), std::ios::binary) << bytes.substr(0, bytes.size() - 4);
  auto bad = ReadSafetensors(dir.File("short.safetensors"));
  EXPECT_THAT(bad.status().message(), HasSubstr("short.safetensors: tensor '"));
  EXPECT_THAT(bad.status().message(), HasSubstr("data_offsets outside"));
  std::ofstream(dir.File("tiny.safetensors"), std::ios::binary) << "abc";
  EXPECT_THAT(ReadSafetensors(dir.File("tiny.safetensors")).status().message(), HasSubstr("truncated"));
  std::string bad_header = bytes;
  bad_header.replace(8, 1, "[");
  std::ofstream(dir.File("json.safetensors"), std::ios::binary) << bad_header;
  EXPECT_FALSE(ReadSafetensors(dir.File("json.safetensors")).ok());
  // A shape whose product overflows 64 bits to 0 bytes, matching empty data_offsets.
  const std::string overflow = R"({"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})";
  std::string file(8, '\0');
  for (int b = 0; b < 8; ++b) file[b] = static_cast<char>((overflow.size() >> (8 * b)) & 0xff);
  std::ofstream(dir.File("overflow.safetensors"), std::ios::binary) << file << overflow;
  EXPECT_THAT(ReadSafetensors(dir.File("overflow.safetensors")).status().message(),
              HasSubstr("overflow.safetensors: tensor 'x': shape [4611686018427387904, 4] needs more than the 0 bytes"));
}

// A checkpoint records its adapters as one line (train/checkpoints.h); the line is read back
// from a file that may come from anyone, so what it holds is bounded.
TEST(LoraTest, TheRecordOfTheOptionsRoundTripsAndRefusesWhatIsNotOne) {
  LoraOptions o;
  o.rank = 4;
  o.alpha = 12.5;
  o.targets = {"q_proj", "v_proj"};
  auto back = ParseLoraOptionsRecord(LoraOptionsRecord(o));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->rank, 4);
  EXPECT_EQ(back->alpha, 12.5);
  EXPECT_EQ(back->targets, o.targets);
  for (const std::string& bad : {std::string("alpha=8 targets=q_proj"), std::string("rank=0 alpha=8 targets=q_proj"),
                                 std::string("rank=99999 alpha=8 targets=q_proj"), std::string("rank=4 alpha=nan targets=q_proj"),
                                 std::string("rank=4 alpha=8"), "rank=4 alpha=8 targets=" + std::string(65, 'x')}) {
    EXPECT_FALSE(ParseLoraOptionsRecord(bad).ok()) << bad;
  }
}

TEST(LoraTest, FreshAdaptersChangeNothingAndMergedExportsMatch) {
  testing::TempDir dir;
  torch::manual_seed(4);
  Wav2Vec2Model m(Tiny());
  m->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor audio = torch::randn({2, 4000});
  torch::Tensor before = m->forward(audio);
  LoraOptions lo;
  // A target the model does not have (GPT-2's c_attn) is named, and nothing changes.
  lo.targets = {"q_proj", "c_attn"};
  const absl::Status bad = m->EnableLora(lo);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("lora target 'c_attn' is not a layer of"), std::string::npos) << bad;
  for (auto& p : m->parameters()) EXPECT_TRUE(p.requires_grad());
  lo.targets = {"q_proj", "v_proj", "output_dense"};
  ASSERT_TRUE(m->EnableLora(lo).ok());
  EXPECT_TRUE(torch::allclose(m->forward(audio), before)) << "B starts at zero";
  int adapters = 0;
  for (auto& item : m->named_parameters()) {
    if (item.key().find("lora_") != std::string::npos) {
      EXPECT_TRUE(item.value().requires_grad()) << item.key();
      item.value().add_(torch::randn_like(item.value()) * 0.05);  // as if trained
      ++adapters;
    } else {
      EXPECT_FALSE(item.value().requires_grad()) << item.key() << " must be frozen under LoRA";
    }
  }
  EXPECT_EQ(adapters, 2 * 3 * 2);  // 2 layers x 3 targets x (A, B)
  torch::Tensor tuned = m->forward(audio);
  EXPECT_GT((tuned - before).abs().max().item<double>(), 1e-3);
  ASSERT_TRUE(ExportHf(m, dir.File("hf")).ok());
  auto ckpt = ReadHfCheckpoint(dir.File("hf"));
  ASSERT_TRUE(ckpt.ok());
  for (const auto& [name, t] : ckpt->tensors) EXPECT_EQ(name.find("lora_"), std::string::npos) << name;
  Wav2Vec2Model merged(ckpt->config);
  ASSERT_TRUE(merged->LoadHfStateDict(ckpt->tensors, "merged").ok());
  merged->eval();
  EXPECT_LT((merged->forward(audio) - tuned).abs().max().item<double>(), 1e-5);
}

TEST(Wav2Vec2Test, FrozenFeatureEncoderGetsNoGradient) {
  torch::manual_seed(5);
  BrainModel m(Tiny(), std::map<std::string, int64_t>{{"a", 3}}, "attention");
  m->encoder()->FreezeFeatureEncoder();
  m->Head("a", m->Embed(torch::randn({2, 4000}))).sum().backward();
  for (const auto& item : m->named_parameters()) {
    const bool conv = item.key().find("feature_extractor") != std::string::npos;
    EXPECT_EQ(item.value().grad().defined(), !conv) << item.key();
    if (!conv) {
      EXPECT_TRUE(torch::isfinite(item.value().grad()).all().item<bool>()) << item.key();
    }
  }
  EXPECT_EQ(m->HeadStateDict().size(), 4u);  // attention_pool weight and bias, head weight and bias
}

// The slice-wise attention (LibTorch 1.x's CPU path) computes what softmax(q k^T / sqrt(d)) v
// composed from ATen ops does, values and gradients, in float64 to 1e-10; inputs are the
// transposed views the encoder passes.
TEST(AttentionTest, SliceWiseMatchesComposedAttentionAndItsGradients) {
  torch::manual_seed(5);
  auto input = [] { return torch::randn({3, 37, 4, 8}, torch::kFloat64).transpose(1, 2).requires_grad_(true); };
  torch::Tensor q = input(), k = input(), v = input(), d_out = torch::randn({3, 4, 37, 8}, torch::kFloat64);
  auto run = [&](bool slice_wise) {
    torch::Tensor out = slice_wise
                            ? SliceWiseAttention(q, k, v)
                            : torch::matmul(torch::softmax(torch::matmul(q, k.transpose(2, 3)) / std::sqrt(8.0), -1), v);
    auto grads = torch::autograd::grad({out}, {q, k, v}, {d_out});
    return std::make_pair(out.detach(), grads);
  };
  auto [expected, expected_grads] = run(false);
  auto [got, got_grads] = run(true);
  EXPECT_LT((got - expected).abs().max().item<double>(), 1e-10);
  for (int i = 0; i < 3; ++i) {
    EXPECT_LT((got_grads[i] - expected_grads[i]).abs().max().item<double>(), 1e-10) << "gradient of input " << i;
    EXPECT_GT(expected_grads[i].abs().max().item<double>(), 1e-3) << "a gradient that is zero tests nothing";
  }
}

TEST(HfConfigTest, ReadsHubertBaseAndNamesBadFields) {
  auto c = ParseHfConfig(R"({"model_type": "hubert", "feat_proj_layer_norm": false, "conv_bias": false,
                             "hidden_size": 768, "architectures": ["HubertModel"]})", "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "hubert");
  EXPECT_FALSE(c->feat_proj_layer_norm);
  Wav2Vec2Model m(*c);
  EXPECT_EQ(Count(m->parameters()), 94'370'944 - 2 * 512);  // no projection LayerNorm
  EXPECT_THAT(ParseHfConfig(R"({"hidden_size": "wide"})", "c.json").status().message(), HasSubstr("c.json:1: hidden_size: expected an integer"));
  EXPECT_THAT(ParseHfConfig(R"({"hidden_size": 100, "num_attention_heads": 12})", "c.json").status().message(),
              HasSubstr("num_attention_heads"));
  EXPECT_THAT(ParseHfConfig(R"({"hidden_act": "relu"})", "c.json").status().message(), HasSubstr("hidden_act"));
}

}  // namespace
}  // namespace braintune::model
