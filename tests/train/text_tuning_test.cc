// Issue 19: a text model brain-tuned by the same trainer as speech models (trainer.h): the words
// heard before each response sample (train/text_sample.h), pooled at each word's last token,
// heads to the targets; runs under mpirun like every job.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "data/synthetic.h"
#include "model/safetensors.h"
#include "testing/process.h"
#include "testing/text_model.h"

namespace braintune::train {
namespace {

// A synthetic brain at dir/brain.h5 and a random tiny text model of `kind` fitted to its words.
void WriteBrainAndModel(const testing::TempDir& dir, const data::SynthOptions& synth, const std::string& kind) {
  ASSERT_TRUE(data::WriteSyntheticDataset(dir.File("brain.h5"), synth).ok());
  testing::WriteTextModelForDataset(dir, "brain.h5", kind);
}

double ResultNumber(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\": ");
  EXPECT_NE(at, std::string::npos) << key << " in " << json;
  return at == std::string::npos ? 0.0 : std::stod(json.substr(at + key.size() + 4));
}

// An export's parameters: the (merged) encoder's and the heads'.
std::map<std::string, torch::Tensor> ExportedParams(const std::string& out) {
  std::map<std::string, torch::Tensor> all;
  for (const char* f : {"/hf/model.safetensors", "/hf/brain_heads.safetensors"}) {
    auto t = model::ReadSafetensors(out + f);
    EXPECT_TRUE(t.ok()) << t.status();
    if (t.ok()) all.insert(t->begin(), t->end());
  }
  return all;
}

double MaxAbsDiff(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double differ = 0;
  for (const auto& [name, t] : a) {
    EXPECT_TRUE(b.count(name)) << name;
    if (b.count(name)) differ = std::max(differ, (t - b.at(name)).abs().max().item<double>());
  }
  return differ;
}

// The published recipe for text models (LoRA on attention, Pearson loss: the defaults for a
// text model; targets limited to an ROI) tunes a random tiny GPT-2 on the language ROI of the
// synthetic brain: on the held-out story its predictions beat the untrained model's, and the
// export is a Hugging Face directory with the tokenizer's files, loadable as model.pretrained
// again.
TEST(TextTuningTest, GptTwoTunedOnTheLanguageRoiBeatsItsUntrainedSelf) {
  testing::TempDir dir;
  data::SynthOptions synth;
  synth.participants = 2;
  synth.stories = 8;
  synth.story_seconds = 180;
  synth.targets = 16;
  ASSERT_NO_FATAL_FAILURE(WriteBrainAndModel(dir, synth, "gpt2"));
  std::ofstream(dir.File("job.yaml"))
      << "name: text\ndata: {path: brain.h5, trim_start: 5, trim_end: 2, target_roi: language}\n"
      << "model: {pretrained: gpt2, lora: {rank: 8, alpha: 16, dropout: 0.0}}\n"
      << "training: {steps: 150, batch_size: 16, lr: 0.003, head_lr: 0.003, log_every: 50}\n";
  auto r = testing::RunCommand("timeout 400 " + testing::Mpirun(2) + testing::Binary("braintune-train") + " --spec " +
                               dir.File("job.yaml") + " --output-dir " + dir.File("out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("a gpt2 text model reads the words heard in the 10.0 s before each response sample"),
            std::string::npos)
      << r.output;
  // Neither model.finetune nor training.loss is set: a text model gets the published recipe.
  EXPECT_NE(r.output.find("LoRA adapters and heads), shared heads, mean pooling, pearson loss"), std::string::npos)
      << r.output;
  const std::string json = testing::ReadFileOrEmpty(dir.File("out/result.json"));
  const double tuned = ResultNumber(json, "mean_pearson_r"), untrained = ResultNumber(json, "mean_pearson_r_untrained");
  std::cout << "text model, language ROI, held-out r: tuned " << tuned << ", untrained " << untrained << "\n";
  EXPECT_GT(tuned, untrained + 0.1) << r.output;
  for (const char* f : {"config.json", "model.safetensors", "brain_heads.safetensors", "vocab.json", "merges.txt"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.File(std::string("out/hf/") + f))) << f;
  }
  // The heads were sized to the ROI: the language half of 16 targets.
  auto heads = model::ReadSafetensors(dir.File("out/hf/brain_heads.safetensors"));
  ASSERT_TRUE(heads.ok()) << heads.status();
  ASSERT_TRUE(heads->count("heads.synthetic.weight")) << "no shared head";
  EXPECT_EQ(heads->at("heads.synthetic.weight").size(0), 8);
  // The export starts a job again (a model.pretrained text model: config.json says gpt2).
  std::ofstream(dir.File("again.yaml"))
      << "name: again\ndata: {path: brain.h5, trim_start: 5, trim_end: 2, target_roi: language}\n"
      << "model: {pretrained: out/hf, pooling: last}\ntraining: {steps: 2, batch_size: 4, log_every: 5, export_hf: false}\n";
  auto again = testing::RunCommand("timeout 200 " + testing::Binary("braintune-train") + " --spec " + dir.File("again.yaml") +
                                   " --output-dir " + dir.File("again"));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  // The evaluator agrees (ridge on word-level features, the same held-out story) at the layer
  // the heads read, the last: tuned, it predicts the language ROI better, by little. (Its best
  // layer is the embeddings, which LoRA leaves as they were: random embeddings of the synthetic
  // brain's pseudo-words already tell their meanings apart; on this seed 0.651 for both models,
  // the last layer 0.446 untrained; tuned 0.493 when first measured, 0.460 on a later machine
  // with the same spec and data, a cause not found. Tuning every parameter moves the best layer:
  // TextConfoundTest.)
  std::ofstream(dir.File("eval.yaml"))
      << "name: eval\nkind: evaluate\ndata: {path: brain.h5, trim_start: 5, trim_end: 2}\n"
      << "evaluation: {models: [{name: untrained, pretrained: gpt2}, {name: tuned, pretrained: out/hf}], "
      << "controls: [], probes: [], data_fractions: [], cache_dir: cache}\noutput: {dir: eval}\n";
  auto eval = testing::RunCommand("timeout 300 " + testing::Binary("braintune-train") + " --spec " + dir.File("eval.yaml"));
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  auto language = testing::RunCommand(
      "/usr/bin/python3 -c \"import json; s = json.load(open('" + dir.File("eval/evaluation.json") + "')); "
      "print(' '.join(str([r['score']['mean'] for r in m['layers'][-1]['rois'] if r['roi'] == 'language'][0]) "
      "for m in s['models']))\"");
  ASSERT_EQ(language.exit_code, 0) << language.output;
  std::cout << "evaluator, language ROI at the last layer (untrained, tuned): " << language.output;
  const double untrained_eval = std::stod(language.output), tuned_eval = std::stod(language.output.substr(language.output.find(' ')));
  EXPECT_GT(tuned_eval, untrained_eval + 0.005) << eval.output;
  // And `kind: features` exports its word-level features: one row per word, at word offsets.
  std::ofstream(dir.File("features.yaml"))
      << "name: feats\nkind: features\ndata: {path: brain.h5}\n"
      << "evaluation: {models: [{name: tuned, pretrained: out/hf}], layers: [2], cache_dir: cache}\noutput: {dir: feats}\n";
  auto features = testing::RunCommand("timeout 200 " + testing::Binary("braintune-train") + " --spec " + dir.File("features.yaml"));
  ASSERT_EQ(features.exit_code, 0) << features.output;
  auto shapes = testing::RunCommand(
      "/usr/bin/python3 -c \"import h5py; f = h5py.File('" + dir.File("feats/features.h5") + "', 'r'); "
      "b = h5py.File('" + dir.File("brain.h5") + "', 'r'); g = f['models/tuned/layer_2/story_00']; "
      "w = b['stimuli/story_00/words']; "
      "print(g['values'].shape[0] == len(w['text']), g['values'].shape[1], abs(g['times'][-1] - w['offset'][-1]) < 1e-9)\"");
  EXPECT_EQ(shapes.output, "True 64 True\n") << features.output;
}

// Text jobs are sharded and synchronised as speech jobs: 1 and 2 ranks (BERT, every parameter
// tuned) end with the same parameters. And bad input is refused, naming it.
TEST(TextTuningTest, OneAndTwoRanksGiveTheSameBert) {
  testing::TempDir dir;
  data::SynthOptions synth;
  synth.participants = 3;
  synth.stories = 3;
  synth.story_seconds = 40;
  synth.targets = 6;
  ASSERT_NO_FATAL_FAILURE(WriteBrainAndModel(dir, synth, "bert"));
  std::ofstream(dir.File("job.yaml")) << "name: text\ndata: {path: brain.h5, trim_start: 2, trim_end: 1}\n"
                                      << "model: {pretrained: bert, pooling: attention, finetune: full}\n"
                                      << "training: {steps: 4, batch_size: 6, lr: 0.001, log_every: 5, loss: mse}\n";
  std::vector<std::map<std::string, torch::Tensor>> params;
  for (int ranks : {1, 2}) {
    const std::string out = dir.File("out" + std::to_string(ranks));
    auto r = testing::RunCommand("timeout 200 " + testing::Mpirun(ranks) + testing::Binary("braintune-train") +
                                 " --spec " + dir.File("job.yaml") + " --output-dir " + out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("100.00%: encoder and heads), shared heads, attention pooling, mse loss"), std::string::npos)
        << "the spec's finetune and loss are kept\n" << r.output;
    params.push_back(ExportedParams(out));
  }
  auto initial = model::ReadSafetensors(dir.File("bert/model.safetensors"));
  ASSERT_TRUE(initial.ok()) << initial.status();
  const double differ = MaxAbsDiff(params[0], params[1]);
  double moved = 0;
  for (const auto& [name, t] : params[0]) {
    for (const auto& [raw, init] : *initial) {
      if (raw == name || raw == "bert." + name) moved = std::max(moved, (t - init).abs().max().item<double>());
    }
  }
  EXPECT_GT(moved, 1e-4) << "training must change the encoder, or this test proves nothing";
  EXPECT_LT(differ, 1e-5) << "2 ranks differ from 1 rank";

  // An ROI the participants lack, and a LoRA layer BERT does not have, are named.
  for (const auto& [model_line, data_more, expected] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"{pretrained: bert}", ", target_roi: visual", "/rois/visual: no such ROI (data.target_roi"},
           {"{pretrained: bert, finetune: lora, lora: {targets: [c_attn]}}", "", "c_attn"}}) {
    std::ofstream(dir.File("bad.yaml")) << "name: bad\ndata: {path: brain.h5, trim_start: 2, trim_end: 1" << data_more
                                        << "}\nmodel: " << model_line << "\ntraining: {steps: 1, batch_size: 2, log_every: 5}\n";
    auto r = testing::RunCommand("timeout 100 " + testing::Binary("braintune-train") + " --spec " + dir.File("bad.yaml") +
                                 " --output-dir " + dir.File("bad"));
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
  }
}

// A text job killed after its first checkpoint and relaunched ends with the parameters of an
// uninterrupted run (LoRA adapters, heads, optimizer state, batches and dropout masks all
// resumed), on 2 ranks.
TEST(TextTuningTest, AKilledTextRunResumedEndsAsAnUninterruptedOne) {
  testing::TempDir dir;
  data::SynthOptions synth;
  synth.participants = 2;
  synth.stories = 3;
  synth.story_seconds = 60;
  synth.targets = 6;
  ASSERT_NO_FATAL_FAILURE(WriteBrainAndModel(dir, synth, "gpt2"));
  std::ofstream(dir.File("job.yaml"))
      << "name: resume\ndata: {path: brain.h5, trim_start: 2, trim_end: 1}\n"
      << "model: {pretrained: gpt2, lora: {rank: 4, dropout: 0.2}}\n"
      << "training: {steps: 60, batch_size: 6, lr: 0.002, head_lr: 0.002, log_every: 10, checkpoint_every: 10, "
      << "validation_every: 15, patience: 0}\n";
  auto train = [&](const std::string& out) {
    return testing::Mpirun(2) + testing::Binary("braintune-train") + " --spec " + dir.File("job.yaml") + " --output-dir " + out;
  };
  auto whole = testing::RunCommand("timeout 300 " + train(dir.File("whole")));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  const std::string first = dir.File("cut/checkpoints/step-00000010.pt");
  ASSERT_TRUE(testing::KillWhenFileAppears(train(dir.File("cut")), first, dir.File("cut.log")))
      << testing::ReadFileOrEmpty(dir.File("cut.log"));
  ASSERT_FALSE(std::ifstream(dir.File("cut/checkpoint.pt")).good()) << "killed too late to test anything";
  auto resumed = testing::RunCommand("timeout 300 " + train(dir.File("cut")));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming from step "), std::string::npos) << resumed.output;
  const auto a = ExportedParams(dir.File("whole")), b = ExportedParams(dir.File("cut"));
  EXPECT_FALSE(a.empty());
  EXPECT_LT(MaxAbsDiff(a, b), 1e-6) << resumed.output;
  // And it moved: the merged encoder is not the one it started from.
  auto initial = model::ReadSafetensors(dir.File("gpt2/model.safetensors"));
  ASSERT_TRUE(initial.ok()) << initial.status();
  double moved = 0;
  for (const auto& [raw, init] : *initial) {
    for (const auto& [name, t] : a) {
      if ((name == raw || "transformer." + name == raw) && t.sizes() == init.sizes()) moved = std::max(moved, (t - init).abs().max().item<double>());
    }
  }
  EXPECT_GT(moved, 1e-5) << "training must change the encoder, or this test proves nothing";
}

}  // namespace
}  // namespace braintune::train
