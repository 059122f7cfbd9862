// The evaluation job end to end: the real braintune-train (kind evaluate) under mpirun, on a
// synthetic brain, with a checkpoint written here. What a user relies on: 1 and 2 ranks give
// the same scores, a second run computes no features, the outputs open in Python, and a wrong
// checkpoint is a clear error.
#include <google/protobuf/util/json_util.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "braintune/v1/job.pb.h"
#include "data/synthetic.h"
#include "gtest/gtest.h"
#include "model/brain_model.h"
#include "model/lora.h"
#include "model/text_encoder.h"
#include "model/tokenizer.h"
#include "testing/process.h"
#include "testing/text_model.h"
#include "model/input_contract.h"
#include "train/checkpoints.h"
#include "train/tuning_record.h"

namespace braintune::eval {
namespace {

// A tiny encoder's checkpoint, as the trainer writes it, from another seed than the spec's.
// A checkpoint as the trainer writes it; `tuned_on` (newline-separated ids) is recorded as the
// trainer records its participants, or nothing, as an older braintune wrote.
// `lora_record` (empty: none): LoRA adapters on the default targets, moved off zero as tuning
// moves them, recorded as the trainer records them (or not, as an older braintune wrote).
// The model of Spec's model.* sizes (hidden aside), with random weights of `seed`.
model::BrainModel SpecModel(int hidden, uint64_t seed) {
  torch::manual_seed(seed);
  model::Wav2Vec2Config c = *model::NamedConfig("tiny");
  c.conv_dim.assign(c.conv_dim.size(), 16);
  c.hidden_size = hidden;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  return model::BrainModel(c, std::map<std::string, int64_t>{{"synthetic", 16}});
}

void WriteCheckpoint(const std::string& path, int hidden, uint64_t seed, const std::string& tuned_on = "",
                     const std::string& held_out_stories = "", const std::string& lora_record = "",
                     bool record_lora = true) {
  model::BrainModel m = SpecModel(hidden, seed);
  if (!lora_record.empty()) {
    ASSERT_TRUE(m->encoder()->EnableLora(*model::ParseLoraOptionsRecord(lora_record)).ok());
    torch::NoGradGuard no_grad;
    for (auto& p : m->encoder()->named_parameters()) {
      if (absl::StrContains(p.key(), "lora_B")) p.value().normal_(0, 0.5);
    }
  }
  torch::serialize::OutputArchive archive;
  m->save(archive);
  if (!lora_record.empty() && record_lora) archive.write(train::kTunedLoraKey, c10::IValue(lora_record));
  if (!tuned_on.empty()) archive.write(train::kTunedParticipantsKey, c10::IValue(tuned_on));
  if (!held_out_stories.empty()) archive.write(train::kTunedTestStoriesKey, c10::IValue(held_out_stories));
  archive.save_to(path);
}

std::string Spec(const std::string& checkpoint, const std::string& out, const std::string& extra = "") {
  return "name: eval-test\n"
         "kind: evaluate\n"
         "data: {path: brain.h5, trim_start: 3, trim_end: 1}\n"
         "model: {hidden: 32, layers: 2, heads: 4, ffn: 64, conv_channels: 16}\n"
         "evaluation:\n"
         "  models:\n"
         "    - {name: untrained}\n"
         "    - {name: other, checkpoint: " + checkpoint + "}\n"
         "  context_seconds: 4\n"
         "  stride_seconds: 0.5\n"
         "  data_fractions: [0.5, 1.0]\n"
         "  cache_dir: cache\n" + extra +
         "output: {dir: " + out + "}\n";
}

v1::EvaluationSummary ReadSummary(const std::string& path) {
  v1::EvaluationSummary s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(testing::ReadFileOrEmpty(path), &s).ok()) << path;
  return s;
}

class EvaluatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data::SynthOptions o;
    o.participants = 3;
    o.stories = 5;
    o.story_seconds = 90;
    o.targets = 16;
    o.n_repeats = 3;
    ASSERT_TRUE(data::WriteSyntheticDataset(dir_.File("brain.h5"), o).ok());
    WriteCheckpoint(dir_.File("other.pt"), 32, 7);
  }

  testing::CommandResult Evaluate(int ranks, const std::string& spec_text, const std::string& name) {
    std::ofstream(dir_.File(name)) << spec_text;
    return testing::RunCommand("timeout 300 " + testing::Mpirun(ranks) + testing::Binary("braintune-train") +
                               " --spec " + dir_.File(name));
  }

  testing::TempDir dir_;
};

TEST_F(EvaluatorTest, RanksAgreeCacheIsReusedAndOutputsOpenInPython) {
  auto one = Evaluate(1, Spec("other.pt", "out1"), "one.yaml");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto two = Evaluate(2, Spec("other.pt", "out2"), "two.yaml");
  ASSERT_EQ(two.exit_code, 0) << two.output;
  std::cout << two.output.substr(two.output.rfind("braintune-eval: done")) << "\n";

  v1::EvaluationSummary a = ReadSummary(dir_.File("out1/evaluation.json"));
  v1::EvaluationSummary b = ReadSummary(dir_.File("out2/evaluation.json"));
  ASSERT_EQ(a.models_size(), 2);
  EXPECT_EQ(a.score(), "normalized");  // every participant has repeats of the test story
  EXPECT_EQ(a.ceiling_source(), "repeats (run + 3 repeats)");  // the run is not their mean
  EXPECT_EQ(a.feature_cache_misses(), 10);  // 2 models x 5 stories, computed once...
  EXPECT_EQ(b.feature_cache_misses(), 0);   // ...and read from the cache the second time
  EXPECT_EQ(b.feature_cache_hits(), 10);
  for (int m = 0; m < 2; ++m) {
    EXPECT_EQ(a.models(m).best_layer(), b.models(m).best_layer());
    ASSERT_EQ(a.models(m).layers_size(), 3);  // layers 0..2
    for (int l = 0; l < 3; ++l) {
      const auto& pa = a.models(m).layers(l).participants();
      const auto& pb = b.models(m).layers(l).participants();
      ASSERT_EQ(pa.size(), 3);
      for (int p = 0; p < 3; ++p) {
        EXPECT_NEAR(pa[p].mean_r(), pb[p].mean_r(), 1e-5) << "model " << m << " layer " << l << " participant " << p;
        EXPECT_NE(pa[p].mean_r(), 0.0);
      }
    }
    // The full-data point of the sweep is, for every ROI, the score at that ROI's best layer.
    const auto& sweep = a.models(m).sweep();
    ASSERT_EQ(sweep.size(), 2);
    ASSERT_EQ(sweep[1].rois_size(), 3);  // all, auditory, language
    for (const auto& point : sweep[1].rois()) {
      const int best = a.models(m).best_layer_by_roi().at(point.roi());
      int checked = 0;
      for (const auto& layer : a.models(m).layers()) {
        for (const auto& roi : layer.rois()) {
          if (layer.layer() == best && roi.roi() == point.roi()) {
            EXPECT_NEAR(point.score().mean(), roi.score().mean(), 1e-6) << point.roi() << " at layer " << best;
            ++checked;
          }
        }
      }
      EXPECT_EQ(checked, 1) << point.roi();
    }
    EXPECT_EQ(a.models(m).removal().confounds_size(), 3);
    EXPECT_EQ(a.models(m).removal().drop_size(), 3);  // all, auditory, language
  }
  ASSERT_EQ(a.comparisons_size(), 3);
  EXPECT_EQ(a.comparisons(0).permutations(), 8);  // exact: 2^3 sign flips
  // Checkpoints without a record of their participants: every participant is scored, saying why.
  EXPECT_EQ(a.participants_size(), 3);
  EXPECT_NE(a.participant_split().find("does not record whom it was tuned on"), std::string::npos);
  // Each ROI has its own best layer, and each comparison is made at the ROI's best layers.
  for (int m = 0; m < 2; ++m) {
    ASSERT_EQ(a.models(m).best_layer_by_roi().size(), 3u);  // all, auditory, language
    EXPECT_EQ(a.models(m).best_layer_by_roi().at("all"), a.models(m).best_layer());
  }
  for (const auto& c : a.comparisons()) {
    EXPECT_EQ(c.layer_a(), a.models(0).best_layer_by_roi().at(c.roi())) << c.roi();
    EXPECT_EQ(c.layer_b(), a.models(1).best_layer_by_roi().at(c.roi())) << c.roi();
  }
  // Probes of every layer, on the test story's items (probes_test.cc checks what they measure),
  // the same with 1 and 2 ranks. (Every synthetic participant hears every story, so this does
  // not exercise rank 0 reading stories only other ranks' participants heard.)
  for (int m = 0; m < 2; ++m) {
    ASSERT_EQ(a.models(m).probes_size(), 6) << "3 layers x (phoneme, word_class)";
    ASSERT_EQ(b.models(m).probes_size(), 6);
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(a.models(m).probes(i).train_items(), b.models(m).probes(i).train_items()) << i;
      EXPECT_NEAR(a.models(m).probes(i).accuracy(), b.models(m).probes(i).accuracy(), 1e-9) << i;
    }
    for (const auto& p : a.models(m).probes()) {
      EXPECT_GT(p.test_items(), 50) << p.probe();
      EXPECT_GT(p.classes(), 1) << p.probe();
      EXPECT_GE(p.accuracy(), 0.0);
      EXPECT_LE(p.accuracy(), 1.0);
    }
  }

  // Python users open the scores with h5py (per-target arrays per participant). The best layer
  // is the one with the highest cross-validated R^2 on the training stories (targets above the
  // ceiling threshold), recomputed here from the file.
  auto py = testing::RunCommand(
      "/usr/bin/python3 -c \"import h5py, numpy as np; f = h5py.File('" + dir_.File("out2/evaluation.h5") +
      "'); r = f['models/other/layer_1/r/sub-02'][:]; c = f['ceiling/sub-02'][:]; "
      "print(r.shape, c.shape, bool(np.isfinite(r).all()), f.attrs['score']); "
      "ps = [p.decode() if isinstance(p, bytes) else p for p in f['participants'][:]]; "
      "cv = [np.mean([f[f'models/other/layer_{l}/cv_r2/{p}'][:][f[f'ceiling/{p}'][:] > 0.4].mean() for p in ps]) "
      "for l in range(3)]; print('best by cv', int(np.argmax(cv))); "
      "d = h5py.File('" + dir_.File("brain.h5") + "'); "
      "print('language best by cv', int(np.argmax([np.mean([np.nanmean(np.where(f[f'ceiling/{p}'][:] > 0.4, "
      "f[f'models/other/layer_{l}/cv_r2/{p}'][:], np.nan)[d[f'participants/{p}/rois/language'][:]]) for p in ps]) "
      "for l in range(3)])))\"");
  ASSERT_EQ(py.exit_code, 0) << py.output;
  EXPECT_NE(py.output.find("(16,) (16,) True normalized"), std::string::npos) << py.output;
  EXPECT_NE(py.output.find(absl::StrCat("best by cv ", b.models(1).best_layer())), std::string::npos) << py.output;
  EXPECT_NE(py.output.find(absl::StrCat("language best by cv ", b.models(1).best_layer_by_roi().at("language"))),
            std::string::npos)
      << py.output;
  const std::string html = testing::ReadFileOrEmpty(dir_.File("out2/report.html"));
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

TEST_F(EvaluatorTest, TunedModelsAreScoredOnTheParticipantsTheyNeverSaw) {
  WriteCheckpoint(dir_.File("tuned1.pt"), 32, 7, "sub-01");
  auto held = Evaluate(1, Spec("tuned1.pt", "held"), "held.yaml");
  ASSERT_EQ(held.exit_code, 0) << held.output;
  EXPECT_NE(held.output.find("scoring 2 held-out participants (sub-02, sub-03); the tuned models saw sub-01"),
            std::string::npos)
      << held.output;
  v1::EvaluationSummary s = ReadSummary(dir_.File("held/evaluation.json"));
  EXPECT_EQ(s.participant_split(), "held-out");
  EXPECT_EQ(std::vector<std::string>(s.participants().begin(), s.participants().end()),
            (std::vector<std::string>{"sub-02", "sub-03"}));
  EXPECT_EQ(std::vector<std::string>(s.tuned_participants().begin(), s.tuned_participants().end()),
            std::vector<std::string>{"sub-01"});
  for (const auto& c : s.comparisons()) EXPECT_EQ(c.participants_size(), 2);  // the same two, paired

  auto all = Evaluate(1, Spec("tuned1.pt", "all", "  participants: all\n"), "all.yaml");
  ASSERT_EQ(all.exit_code, 0) << all.output;
  EXPECT_EQ(ReadSummary(dir_.File("all/evaluation.json")).participants_size(), 3);

  // Insisting on held-out participants when there are none, or when a checkpoint does not say.
  WriteCheckpoint(dir_.File("tuned3.pt"), 32, 7, "sub-01\nsub-02\nsub-03");
  auto none = Evaluate(1, Spec("tuned3.pt", "none", "  participants: held_out\n"), "none.yaml");
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.output.find("evaluation.participants: held_out: the models were tuned on every participant"),
            std::string::npos)
      << none.output;
  auto unknown = Evaluate(1, Spec("other.pt", "unknown", "  participants: held_out\n"), "unknown.yaml");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.output.find(dir_.File("other.pt") + " does not record the participants it was tuned on"),
            std::string::npos)
      << unknown.output;
  // Without data.test_stories the evaluation holds out what the tuning held out (recorded), not
  // the last story of the participants it scores; checkpoints that disagree must be told.
  WriteCheckpoint(dir_.File("tuned2.pt"), 32, 7, "sub-01", "story_01");
  auto recorded = Evaluate(1, Spec("tuned2.pt", "recorded"), "recorded.yaml");
  ASSERT_EQ(recorded.exit_code, 0) << recorded.output;
  v1::EvaluationSummary r = ReadSummary(dir_.File("recorded/evaluation.json"));
  EXPECT_EQ(std::vector<std::string>(r.test_stories().begin(), r.test_stories().end()),
            std::vector<std::string>{"story_01"});
  WriteCheckpoint(dir_.File("tuned4.pt"), 32, 7, "sub-01", "story_02");
  auto disagree = Evaluate(1, Spec("tuned2.pt", "disagree", "").replace(
                                  Spec("tuned2.pt", "disagree", "").find("    - {name: other"), 0,
                                  "    - {name: third, checkpoint: tuned4.pt}\n"),
                           "disagree.yaml");
  EXPECT_NE(disagree.exit_code, 0);
  EXPECT_NE(disagree.output.find("data.test_stories: the models held out different stories"), std::string::npos)
      << disagree.output;
  // Nor is a tuned model scored on a story its tuning trained on, even with other participants.
  std::string on_trained = Spec("tuned2.pt", "trained");
  on_trained.replace(on_trained.find("trim_end: 1}"), 12, "trim_end: 1, test_stories: [story_02]}");
  auto trained = Evaluate(1, on_trained, "trained.yaml");
  EXPECT_NE(trained.exit_code, 0);
  EXPECT_NE(trained.output.find("data.test_stories: 'story_02' is a story the tuning of " + dir_.File("tuned2.pt") +
                                " trained on (it held out story_01)"),
            std::string::npos)
      << trained.output;
  EXPECT_FALSE(std::ifstream(dir_.File("trained/evaluation.json")).good());
  // With auto and no one held out, everyone is scored and the output says the models saw them.
  auto seen = Evaluate(1, Spec("tuned3.pt", "seen"), "seen.yaml");
  ASSERT_EQ(seen.exit_code, 0) << seen.output;
  EXPECT_EQ(ReadSummary(dir_.File("seen/evaluation.json")).participant_split(),
            "tuned (the models were tuned on every participant scored)");
}

TEST_F(EvaluatorTest, AMissingOrMismatchedCheckpointIsAClearError) {
  auto missing = Evaluate(1, Spec("nowhere.pt", "out"), "missing.yaml");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find(dir_.File("nowhere.pt") + ": cannot open checkpoint"), std::string::npos)
      << missing.output;
  WriteCheckpoint(dir_.File("wide.pt"), 64, 0);  // hidden 64, the spec says 32
  auto wide = Evaluate(2, Spec("wide.pt", "out"), "wide.yaml");
  EXPECT_NE(wide.exit_code, 0);
  EXPECT_NE(wide.output.find(dir_.File("wide.pt") + ": evaluation.models (other): cannot load the encoder"),
            std::string::npos)
      << wide.output;
  EXPECT_FALSE(std::ifstream(dir_.File("out/evaluation.json")).good());  // nothing half-written
}

// A feature space the dataset stores is scored as a model of one layer beside an encoder: the
// synthetic brain's own latents (its ground truth, with the per-word word rate resampled onto
// their frames) predict both ROIs far better than a random encoder does, with the same splits,
// sweep and outputs. A name the dataset lacks is an error naming the model, story and path.
TEST_F(EvaluatorTest, AStoredFeatureSpaceIsScoredAsAModelOfOneLayer) {
  auto spec = [](const std::string& features, const std::string& out) {
    return "name: eval-test\nkind: evaluate\n"
           "data: {path: brain.h5, trim_start: 3, trim_end: 1}\n"
           "model: {hidden: 32, layers: 2, heads: 4, ffn: 64, conv_channels: 16}\n"
           "evaluation:\n"
           "  models: [{name: untrained}, {name: truth, features: [" + features + "]}]\n"
           "  context_seconds: 4\n  stride_seconds: 0.5\n  probes: []\n  data_fractions: [0.5, 1.0]\n"
           "  cache_dir: cache\n"
           "output: {dir: " + out + "}\n";
  };
  auto r = Evaluate(2, spec("envelope, phoneme_rate, semantic, word_rate", "out"), "truth.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("truth: a feature space of the dataset (envelope, phoneme_rate, semantic, word_rate)"),
            std::string::npos) << r.output;
  v1::EvaluationSummary s = ReadSummary(dir_.File("out/evaluation.json"));
  ASSERT_EQ(s.models_size(), 2);
  const v1::ModelScores& truth = s.models(1);
  EXPECT_EQ(truth.features_size(), 4);
  EXPECT_EQ(s.models(0).features_size(), 0);
  ASSERT_EQ(truth.layers_size(), 1);
  EXPECT_EQ(truth.best_layer(), 0);
  EXPECT_EQ(truth.sweep_size(), 2);
  auto score = [](const v1::ModelScores& m, const std::string& roi) {
    const int best = m.best_layer_by_roi().at(roi);
    for (const auto& layer : m.layers()) {
      if (layer.layer() != best) continue;
      for (const auto& r : layer.rois()) {
        if (r.roi() == roi) return r.score().mean();
      }
    }
    ADD_FAILURE() << m.name() << ": no " << roi << " at layer " << best;
    return 0.0;
  };
  for (const std::string roi : {"auditory", "language"}) {
    std::cout << roi << ": untrained " << score(s.models(0), roi) << ", ground truth " << score(truth, roi) << "\n";
    EXPECT_GT(score(truth, roi), score(s.models(0), roi) + 0.2) << roi;
    EXPECT_GT(score(truth, roi), 0.85) << roi;  // normalized: near what the noise allows
  }
  auto missing = Evaluate(1, spec("envelope, pitch", "out2"), "missing.yaml");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("evaluation.models (truth): features: story story_00: confound 'pitch' is neither"),
            std::string::npos) << missing.output;
  EXPECT_NE(missing.output.find("/stimuli/story_00/features/pitch"), std::string::npos) << missing.output;
  EXPECT_FALSE(std::ifstream(dir_.File("out2/evaluation.json")).good());
}

// An export carries what its lineage learned from (train/tuning_record.h): evaluated as
// model.pretrained it is scored on the participants it never saw and the stories it held out, and
// a test story it trained on is refused, as for its checkpoint (once, an export was scored on
// everyone and any story, its tuning participants and stories included).
TEST_F(EvaluatorTest, AnExportedModelIsScoredOnWhatItNeverSaw) {
  model::BrainModel m = SpecModel(32, 3);
  const std::string hf = dir_.File("export");
  model::Wav2Vec2Model encoder = m->encoder();
  ASSERT_TRUE(model::ExportHf(encoder, hf).ok());
  model::InputContract heard;
  heard.sampling_rate = 1600;
  std::ofstream(hf + "/preprocessor_config.json") << model::PreprocessorConfigJson(heard);
  v1::TuningRecord record;
  record.add_participants("sub-01");
  record.add_test_stories("story_01");
  ASSERT_TRUE(train::WriteTuningRecord(hf, record).ok());
  auto spec = [](const std::string& data, const std::string& out) {
    return "name: eval-export\nkind: evaluate\ndata: {path: brain.h5, trim_start: 3, trim_end: 1" + data + "}\n"
           "model: {pretrained: export}\n"
           "evaluation:\n  models: [{name: exported}]\n"
           "  context_seconds: 4\n  stride_seconds: 0.5\n  probes: []\n  data_fractions: []\n  cache_dir: cache\n"
           "output: {dir: " + out + "}\n";
  };
  auto held = Evaluate(1, spec("", "held"), "held.yaml");
  ASSERT_EQ(held.exit_code, 0) << held.output;
  EXPECT_NE(held.output.find("scoring 2 held-out participants (sub-02, sub-03); the tuned models saw sub-01"),
            std::string::npos) << held.output;
  v1::EvaluationSummary s = ReadSummary(dir_.File("held/evaluation.json"));
  EXPECT_EQ(std::vector<std::string>(s.test_stories().begin(), s.test_stories().end()),
            std::vector<std::string>{"story_01"});
  auto trained = Evaluate(1, spec(", test_stories: [story_02]", "trained"), "trained.yaml");
  EXPECT_NE(trained.exit_code, 0);
  EXPECT_NE(trained.output.find("data.test_stories: 'story_02' is a story the tuning of " + hf +
                                "/braintune_tuning.json trained on (it held out story_01)"),
            std::string::npos) << trained.output;
  // A record that is not one is an error naming it, not a model taken as never tuned.
  std::ofstream(hf + "/braintune_tuning.json") << "{\"participants\": 3}";
  auto bad = Evaluate(1, spec("", "bad"), "bad.yaml");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find(hf + "/braintune_tuning.json: not a tuning record"), std::string::npos) << bad.output;
}

// A LoRA-tuned checkpoint is scored with its adapters, whatever the evaluation's model.* says
// (once, its adapters were silently left out and the tuned model scored as its base).
TEST_F(EvaluatorTest, ALoraTunedCheckpointIsScoredWithItsAdapters) {
  WriteCheckpoint(dir_.File("lora.pt"), 32, 7, "", "", "rank=4 alpha=8 targets=q_proj,k_proj,v_proj,out_proj");
  std::string both = Spec("other.pt", "out");
  both.replace(both.find("    - {name: other, checkpoint: other.pt}\n"),
               std::string("    - {name: other, checkpoint: other.pt}\n").size(),
               "    - {name: base, checkpoint: other.pt}\n    - {name: tuned, checkpoint: lora.pt}\n");
  auto run = Evaluate(1, both, "lora.yaml");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  v1::EvaluationSummary s = ReadSummary(dir_.File("out/evaluation.json"));
  ASSERT_EQ(s.models_size(), 3);
  const auto& base = s.models(1);
  const auto& tuned = s.models(2);
  ASSERT_EQ(tuned.name(), "tuned");
  // The same base weights (seed 7): the input layer's features agree, the transformer's do not.
  EXPECT_NEAR(base.layers(0).participants(0).mean_r(), tuned.layers(0).participants(0).mean_r(), 1e-6);
  EXPECT_GT(std::abs(base.layers(2).participants(0).mean_r() - tuned.layers(2).participants(0).mean_r()), 1e-4)
      << "the adapters changed nothing: they were not loaded";

  // A checkpoint whose adapters are not recorded (an older braintune) is refused, by name.
  WriteCheckpoint(dir_.File("old-lora.pt"), 32, 7, "", "", "rank=4 alpha=8 targets=q_proj", /*record_lora=*/false);
  auto old = Evaluate(1, Spec("old-lora.pt", "out-old"), "old.yaml");
  EXPECT_NE(old.exit_code, 0);
  EXPECT_NE(old.output.find("lora_A is in the checkpoint but not in the model (a LoRA adapter"), std::string::npos)
      << old.output;
  EXPECT_FALSE(std::ifstream(dir_.File("out-old/evaluation.json")).good());
}

// A tiny text model with its tokenizer (trained by the reference on some English), as a Hugging
// Face directory a lab would point evaluation.models[].pretrained at.
void WriteTextModel(const testing::TempDir& dir, const std::string& type, const std::string& name) {
  std::ofstream(dir.File("english.txt")) << "the quick brown fox jumped over the lazy dog and said hello to the "
                                            "world twice; then the story ended and the dog slept again.\n";
  auto r = testing::RunCommand(absl::StrCat("/usr/bin/python3 ", BRAINTUNE_SOURCE_DIR,
                                            "/bench/reference/text_reference.py make-tokenizers --merges 40 --text ",
                                            dir.File("english.txt"), " --out ", dir.File("tok")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto tok = model::ReadTokenizer(dir.File("tok/" + type), type);
  ASSERT_TRUE(tok.ok()) << tok.status();
  model::TextModelConfig c = *model::NamedTextConfig(type, "tiny");
  c.vocab_size = (*tok)->vocab_size();
  torch::manual_seed(11);
  auto enc = model::MakeTextEncoder(c);
  ASSERT_TRUE(model::ExportTextHf(*enc, dir.File(name)).ok());
  ASSERT_EQ(testing::RunCommand(absl::StrCat("cp ", dir.File("tok/" + type), "/* ", dir.File(name))).exit_code, 0);
}

TEST_F(EvaluatorTest, TextModelsAreScoredBesideSpeechModelsOnTheSameSplits) {
  WriteTextModel(dir_, "gpt2", "gpt2-tiny");
  WriteTextModel(dir_, "bert", "bert-tiny");
  std::string spec = Spec("other.pt", "text", "  context_words: 32\n  controls: [residualisation, erasure]\n");
  spec.replace(spec.find("    - {name: other, checkpoint: other.pt}\n"), std::string("    - {name: other, checkpoint: other.pt}\n").size(),
               "    - {name: gpt2, pretrained: gpt2-tiny}\n    - {name: bert, pretrained: bert-tiny}\n");
  auto r = Evaluate(2, spec, "text.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("braintune-eval: gpt2: gpt2 text model: reads each story's words (32-word huth contexts"),
            std::string::npos)
      << r.output;
  v1::EvaluationSummary s = ReadSummary(dir_.File("text/evaluation.json"));
  ASSERT_EQ(s.models_size(), 3);
  EXPECT_EQ(s.feature_cache_misses(), 15);  // 3 models x 5 stories
  for (int m = 1; m < 3; ++m) {
    SCOPED_TRACE(s.models(m).name());
    ASSERT_EQ(s.models(m).layers_size(), 3);  // the text model's own layers 0..2
    for (const auto& layer : s.models(m).layers()) {
      ASSERT_EQ(layer.participants_size(), 3);  // the same participants as the speech model
      for (const auto& p : layer.participants()) EXPECT_TRUE(std::isfinite(p.mean_r()));
    }
    EXPECT_EQ(s.models(m).best_layer_by_roi().size(), 3u);
    EXPECT_EQ(s.models(m).removal().drop_size(), 3);  // the residualisation control runs for text too
  }
  // The paired comparisons pair every model with the first.
  EXPECT_GE(s.comparisons_size(), 3);
  // LEACE erases letters per word from every model's best layer, verified on the test story.
  for (const auto& m : s.models()) {
    SCOPED_TRACE(m.name());
    ASSERT_TRUE(m.has_erasure());
    const auto& e = m.erasure();
    std::cout << m.name() << ": probe R2 " << e.probe_r2_before() << " -> " << e.probe_r2_after() << ", variance removed "
              << e.variance_removed() << ", words " << e.train_words() << "/" << e.test_words() << "\n";
    EXPECT_EQ(e.concept(), "letters");
    EXPECT_EQ(e.layer(), m.best_layer());
    EXPECT_GT(e.train_words(), 4 * e.test_words() / 2);
    EXPECT_GT(e.test_words(), 50);
    // Even random text models carry word length (their tokens do); the erasure leaves none.
    if (m.name() != "untrained") {
      EXPECT_GT(e.probe_r2_before(), 0.05);
    }
    EXPECT_LE(e.probe_r2_after(), 0.01);
    EXPECT_GT(e.variance_removed(), 0.0);
    EXPECT_LT(e.variance_removed(), 0.5);
    EXPECT_EQ(e.drop_size(), 3);
    // A causal text model also reports what the erasure costs its next-word prediction.
    if (m.name() == "gpt2") {
      std::cout << "gpt2 next-word loss " << e.next_token_loss_before() << " -> " << e.next_token_loss_after() << " ("
                << e.next_token_tokens() << " tokens)\n";
      EXPECT_GT(e.next_token_tokens(), 50);
      EXPECT_GT(e.next_token_loss_before(), 0.0);
      EXPECT_TRUE(std::isfinite(e.next_token_loss_after()));
      EXPECT_NE(e.next_token_loss_after(), e.next_token_loss_before());  // the erased layer was patched in
    } else {
      EXPECT_EQ(e.next_token_tokens(), 0);
    }
  }

  // Run again, every text model's word-level features come from the cache (their keys cover
  // the weights, the tokenizer and the words), and the scores are the same.
  auto again = Evaluate(2, spec, "text.yaml");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  v1::EvaluationSummary cached = ReadSummary(dir_.File("text/evaluation.json"));
  EXPECT_EQ(cached.feature_cache_misses(), 0);
  ASSERT_EQ(cached.models_size(), 3);
  EXPECT_EQ(cached.models(1).layers(0).participants(0).mean_r(), s.models(1).layers(0).participants(0).mean_r());

  // A text model as the spec's model.* (whose entries without `pretrained` are speech models
  // built from it) is refused, pointing at `pretrained`.
  std::string text_base = spec;
  text_base.replace(text_base.find("model: {hidden: 32, layers: 2, heads: 4, ffn: 64, conv_channels: 16}"),
                    std::string("model: {hidden: 32, layers: 2, heads: 4, ffn: 64, conv_channels: 16}").size(),
                    "model: {pretrained: gpt2-tiny}");
  auto text_as_speech = Evaluate(1, text_base, "text-base.yaml");
  EXPECT_NE(text_as_speech.exit_code, 0);
  EXPECT_NE(text_as_speech.output.find("evaluation.models (untrained): model.pretrained (" + dir_.File("gpt2-tiny") +
                                       ") is a text model"),
            std::string::npos)
      << text_as_speech.output;

  // A speech checkpoint directory given as a text model is named.
  model::Wav2Vec2Model w2v(*model::NamedConfig("tiny"));
  ASSERT_TRUE(model::ExportHf(w2v, dir_.File("w2v")).ok());
  std::string wrong = Spec("other.pt", "wrong");
  wrong.replace(wrong.find("checkpoint: other.pt"), std::string("checkpoint: other.pt").size(), "pretrained: w2v");
  auto bad = Evaluate(1, wrong, "wrong.yaml");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("evaluation.models (other): " + dir_.File("w2v/config.json") +
                            ": model_type: 'wav2vec2' is not gpt2 or bert"),
            std::string::npos)
      << bad.output;
}

// The word-length confound on the synthetic brain, whose auditory ROI follows phoneme rate and
// whose pseudo-words are spelt with about as many letters as they have phonemes. A tiny GPT-2 is
// brain-tuned on the language ROI (every parameter: LoRA on attention leaves its best layer,
// the embeddings, as it was; configs/text-confound-tune.yaml), then scored beside its untrained
// self and a speech model: tuned, it predicts the language ROI better, and it predicts the
// auditory ROI although it never hears sound; erasing letters per word (LEACE) takes away what
// word form gave that auditory score while the language ROI barely moves; a speech model's
// auditory score does not depend on letters.
// Variance partitioning puts the text model's auditory prediction mostly in the part the
// low-level features share, and the permutation test finds the targets it predicts.
// docs/evaluation.md ("Text models and the word-length confound") has the full-size figures
// (scripts/text-confound).
TEST(TextConfoundTest, ErasingLettersTakesTheTextModelsAuditoryScoreNotItsLanguageScore) {
  testing::TempDir dir;
  data::SynthOptions o;
  o.participants = 4;
  o.stories = 8;
  o.story_seconds = 240;
  o.targets = 32;
  o.seed = 1;
  ASSERT_TRUE(data::WriteSyntheticDataset(dir.File("brain.h5"), o).ok());
  ASSERT_NO_FATAL_FAILURE(testing::WriteTextModelForDataset(dir, "brain.h5", "gpt2"));
  std::ofstream(dir.File("tune.yaml"))
      << "name: tune\ndata: {path: brain.h5, test_stories: [story_07], trim_start: 5, trim_end: 2, target_roi: language}\n"
      << "model: {pretrained: gpt2, finetune: full}\n"
      << "training: {steps: 300, batch_size: 16, lr: 0.001, head_lr: 0.003, log_every: 50}\n";
  auto tune = testing::RunCommand("timeout 400 " + testing::Mpirun(2) + testing::Binary("braintune-train") + " --spec " +
                                  dir.File("tune.yaml") + " --output-dir " + dir.File("tuned"));
  ASSERT_EQ(tune.exit_code, 0) << tune.output;
  // The speech model: the tiny encoder taught phonemes (kind pretrain), which hears the sound.
  std::ofstream(dir.File("pretrain.yaml"))
      << "name: pre\nkind: pretrain\ndata: {path: brain.h5, test_stories: [story_07], context_seconds: 4}\n"
      << "model: {size: tiny, freeze_feature_encoder: false}\n"
      << "training: {steps: 150, batch_size: 32, lr: 0.002, head_lr: 0.005, log_every: 50}\n";
  auto pretrain = testing::RunCommand("timeout 300 " + testing::Mpirun(2) + testing::Binary("braintune-train") +
                                      " --spec " + dir.File("pretrain.yaml") + " --output-dir " + dir.File("pre"));
  ASSERT_EQ(pretrain.exit_code, 0) << pretrain.output;
  std::ofstream(dir.File("spec.yaml")) << "name: confound\nkind: evaluate\n"
                                          "data: {path: brain.h5, test_stories: [story_07], trim_start: 5, trim_end: 2}\n"
                                          "model: {pretrained: pre/hf}\n"
                                          "evaluation:\n"
                                          "  models: [{name: speech}, {name: gpt2, pretrained: gpt2}, "
                                          "{name: gpt2-tuned, pretrained: tuned/hf}, "
                                          "{name: timing-and-meaning, features: [semantic, word_rate]}]\n"
                                          "  participants: all\n"
                                          "  context_seconds: 10\n  stride_seconds: 0.5\n  pooling: mean\n"
                                          "  controls: [residualisation, erasure, variance_partitioning, permutation]\n"
                                          "  probes: []\n  data_fractions: []\n"
                                          "  cache_dir: cache\n"
                                          "output: {dir: out}\n";
  auto r = testing::RunCommand("timeout 300 " + testing::Mpirun(2) + testing::Binary("braintune-train") + " --spec " +
                               dir.File("spec.yaml"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  v1::EvaluationSummary s = ReadSummary(dir.File("out/evaluation.json"));
  ASSERT_EQ(s.models_size(), 4);
  auto roi = [](const google::protobuf::RepeatedPtrField<v1::RoiScore>& scores, const std::string& name) {
    for (const auto& r : scores) {
      if (r.roi() == name) return r.score().mean();
    }
    ADD_FAILURE() << "no ROI " << name;
    return 0.0;
  };
  // Tuned, the text model predicts the language ROI better than its untrained self (each at its
  // best layer for the ROI, chosen on the training stories).
  auto at_best = [&](const v1::ModelScores& m, const std::string& name) {
    const int layer = m.best_layer_by_roi().at(name);
    for (const auto& l : m.layers()) {
      if (l.layer() == layer) return roi(l.rois(), name);
    }
    ADD_FAILURE() << m.name() << ": no layer " << layer;
    return 0.0;
  };
  const v1::ModelScores& untrained = s.models(1);
  const v1::ModelScores& tuned = s.models(2);
  std::cout << "text language (best layer): untrained " << at_best(untrained, "language") << ", tuned "
            << at_best(tuned, "language") << "; auditory: untrained " << at_best(untrained, "auditory") << ", tuned "
            << at_best(tuned, "auditory") << "\n";
  EXPECT_GT(at_best(tuned, "language"), at_best(untrained, "language") + 0.02);
  const v1::ErasureScores& speech = s.models(0).erasure();
  for (const v1::ModelScores* m : {&untrained, &tuned}) {
    const v1::ErasureScores& text = m->erasure();
    SCOPED_TRACE(m->name());
    std::cout << m->name() << ": auditory " << roi(text.before(), "auditory") << " -> " << roi(text.after(), "auditory")
              << ", language " << roi(text.before(), "language") << " -> " << roi(text.after(), "language")
              << "; speech auditory " << roi(speech.before(), "auditory") << " -> " << roi(speech.after(), "auditory")
              << "; probe R2 " << text.probe_r2_before() << " -> " << text.probe_r2_after() << "\n";
    // The text model predicts the auditory ROI although it never hears sound...
    EXPECT_GT(roi(text.before(), "auditory"), 0.1);
    // ...because its features carry word length, which erasure removes (verified on held-out words)...
    EXPECT_GT(text.probe_r2_before(), 0.3);
    EXPECT_LE(text.probe_r2_after(), 0.01);
    EXPECT_TRUE(text.complete());
    // ...taking a large share of the auditory score (most of the untrained model's; of the tuned
    // one's, whose auditory prediction also rests on word timing and meaning, which this brain's
    // auditory targets follow a little: synthetic.cc, at least a third) and a share of the
    // language score a third as large at most. What is left is below what word timing and the
    // words' meanings alone reach, scored as a model of their own (no word form left to use).
    const double auditory_share = roi(text.drop(), "auditory") / roi(text.before(), "auditory");
    const double language_share = roi(text.drop(), "language") / roi(text.before(), "language");
    const double form_free = at_best(s.models(3), "auditory");
    std::cout << "auditory share erased " << auditory_share << ", language " << language_share
              << "; timing and meaning alone: auditory " << form_free << "\n";
    EXPECT_GT(auditory_share, m == &untrained ? 0.5 : 0.33);
    EXPECT_LT(language_share, auditory_share / 3);
    EXPECT_LT(roi(text.after(), "auditory"), form_free);
    // The speech model predicts the auditory ROI from the sound, and its score survives the same
    // erasure better.
    EXPECT_GT(roi(speech.before(), "auditory"), 0.1);
    EXPECT_LT(roi(speech.drop(), "auditory"), roi(text.drop(), "auditory"));

    // Variance partitioning: what the text model explains of the auditory ROI, the low-level
    // features (letters, phonemes, word rate) explain too: most of it is shared.
    const v1::VariancePartitionScores& parts = m->variance_partitioning();
    ASSERT_EQ(parts.layer(), m->best_layer());
    std::cout << "auditory R2: joint " << roi(parts.joint_r2(), "auditory") << ", model "
              << roi(parts.model_r2(), "auditory") << ", low-level " << roi(parts.lowlevel_r2(), "auditory")
              << "; unique model " << roi(parts.unique_model(), "auditory") << ", shared "
              << roi(parts.shared(), "auditory") << ", unique low-level " << roi(parts.unique_lowlevel(), "auditory")
              << "; language: unique model " << roi(parts.unique_model(), "language") << ", shared "
              << roi(parts.shared(), "language") << "\n";
    EXPECT_GT(roi(parts.model_r2(), "auditory"), 0.05);
    EXPECT_GT(roi(parts.shared(), "auditory"), roi(parts.unique_model(), "auditory"));
    // The same from the ROI means of the three R^2, without the per-target correction of negatives.
    const double joint = roi(parts.joint_r2(), "auditory"), low = roi(parts.lowlevel_r2(), "auditory");
    EXPECT_GT(roi(parts.model_r2(), "auditory") + low - joint, joint - low);
    // ...unlike the language ROI, which only the model's features explain.
    EXPECT_GT(roi(parts.unique_model(), "language"), roi(parts.shared(), "language"));
    for (const auto& part : {parts.unique_model(), parts.unique_lowlevel(), parts.shared()}) {
      for (const auto& r : part) EXPECT_GE(r.score().mean(), 0.0) << r.roi();
    }
  }

  // The permutation test finds the targets the text model predicts.
  const v1::PermutationScores& perm = tuned.permutation();
  EXPECT_EQ(perm.permutations(), 1000);
  EXPECT_EQ(perm.block_trs(), 10);
  EXPECT_GE(perm.min_blocks(), 8);  // 83 test TRs after trimming
  for (const auto& r : perm.rois()) {
    std::cout << "text permutation " << r.roi() << ": " << r.significant() << " / " << r.targets() << "\n";
    if (r.roi() == "language") {
      EXPECT_GT(r.share().mean(), 0.5);
    }
    if (r.roi() == "all") {
      EXPECT_EQ(r.targets(), 4 * 32);
    }
  }
  // And the outputs carry both: evaluation.h5 per target, report.html and the CLI's sections.
  const std::string html = testing::ReadFileOrEmpty(dir.File("out/report.html"));
  EXPECT_NE(html.find("<h2>Variance partitioning</h2>"), std::string::npos);
  EXPECT_NE(html.find("<h2>Permutation test</h2>"), std::string::npos);
  // The erasure's verification, as the report shows it: the probe before and after, and what the
  // erased layer patched back costs GPT-2's next-word prediction.
  EXPECT_NE(html.find(absl::StrFormat("<p>Erased from the features: letters per word. A ridge probe of it on the test "
                                      "stories' %d words explains R<sup>2</sup> = %.3f before and %.3f after",
                                      tuned.erasure().test_words(), tuned.erasure().probe_r2_before(),
                                      tuned.erasure().probe_r2_after())),
            std::string::npos);
  EXPECT_GT(tuned.erasure().next_token_tokens(), 0);
  EXPECT_NE(html.find(absl::StrFormat("<p>Next-word loss on the test stories (%d tokens), with the erased layer patched "
                                      "back into the forward pass",
                                      tuned.erasure().next_token_tokens())),
            std::string::npos);
  auto h5 = testing::RunCommand(
      "/usr/bin/python3 -c \"import h5py; f = h5py.File('" + dir.File("out/evaluation.h5") +
      "', 'r'); print(f['models/gpt2-tuned/permutation/p/sub-01'].shape, "
      "f['models/gpt2-tuned/variance_partitioning/shared/sub-01'].shape, f['models/gpt2-tuned/permutation/blocks'].shape)\"");
  ASSERT_EQ(h5.exit_code, 0) << h5.output;
  EXPECT_NE(h5.output.find("(32,) (32,) (4,)"), std::string::npos) << h5.output;
}

}  // namespace
}  // namespace braintune::eval
