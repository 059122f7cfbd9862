#include "config/job_spec.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing/process.h"

namespace braintune::config {
namespace {

constexpr char kMinimal[] = "name: demo\ndata:\n  path: data.h5\n";

TEST(JobSpecTest, MinimalSpecGetsDocumentedDefaults) {
  auto spec = ParseJobSpec(kMinimal, "demo.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "demo");
  EXPECT_EQ(spec->kind, "train");
  EXPECT_EQ(spec->resources.ranks, 1);
  EXPECT_EQ(spec->data.context_trs, 5);
  EXPECT_EQ(spec->data.trim_start, 10);
  EXPECT_EQ(spec->data.trim_end, 5);
  EXPECT_EQ(spec->model.size, "tiny");
  // The published recipe (design.md section 2).
  EXPECT_EQ(spec->model.finetune, "full");
  EXPECT_TRUE(spec->model.freeze_feature_encoder);
  EXPECT_EQ(spec->model.head, "shared");
  EXPECT_EQ(spec->model.pooling, "mean");
  EXPECT_EQ(spec->model.lora.rank, 8);
  EXPECT_EQ(spec->model.lora.targets, (std::vector<std::string>{"q_proj", "k_proj", "v_proj", "out_proj"}));
  EXPECT_DOUBLE_EQ(spec->training.lr, 5e-5);
  EXPECT_DOUBLE_EQ(spec->training.head_lr, 1e-4);
  EXPECT_DOUBLE_EQ(spec->training.warmup_fraction, 0.1);
  EXPECT_EQ(spec->training.schedule, "linear");
  EXPECT_DOUBLE_EQ(spec->training.weight_decay, 0.01);
  EXPECT_DOUBLE_EQ(spec->training.grad_clip, 1.0);
  EXPECT_EQ(spec->training.loss, "mse");
  EXPECT_EQ(spec->training.precision, "auto");
  EXPECT_EQ(spec->training.keep_checkpoints, 3);
  EXPECT_DOUBLE_EQ(spec->distributed.bucket_cap_mb, 25);
  EXPECT_DOUBLE_EQ(spec->distributed.first_bucket_cap_mb, 1);
  EXPECT_DOUBLE_EQ(spec->distributed.collective_timeout, 600);
}

TEST(JobSpecTest, ExampleConfigsLoadAndValidate) {
  for (const char* name : {"quickstart.yaml", "quickstart-eval.yaml"}) {
    std::string path = std::string(BRAINTUNE_SOURCE_DIR) + "/configs/" + name;
    auto loaded = LoadJobSpecFile(path);
    ASSERT_TRUE(loaded.ok()) << path << ": " << loaded.status();
    EXPECT_GE(loaded->spec.resources.ranks, 1);
    EXPECT_EQ(loaded->spec.data.path.front(), '/') << "data.path must be resolved against the spec's directory";
    EXPECT_EQ(loaded->source, path);
  }
}

struct BadSpec {
  const char* yaml;
  const char* expected;  // substring of the error
};

class BadSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadSpecTest, IsRejectedNamingFileAndKey) {
  auto spec = ParseJobSpec(GetParam().yaml, "bad.yaml");
  ASSERT_FALSE(spec.ok()) << GetParam().yaml;
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  std::string msg(spec.status().message());
  EXPECT_NE(msg.find("bad.yaml"), std::string::npos) << msg;
  EXPECT_NE(msg.find(GetParam().expected), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadSpecTest,
    ::testing::Values(
        BadSpec{"name: x\ndata: {path: d.h5}\ntraining: {stepz: 3}\n", "training.stepz: unknown key"},
        BadSpec{"name: x\ndata: {path: d.h5}\nbogus: 1\n", "bogus: unknown key"},
        BadSpec{"name: x\ndata: {path: d.h5}\ntraining: {steps: 0}\n", "training.steps: 0 is out of range"},
        BadSpec{"name: x\ndata: {path: d.h5}\ntraining: {lr: -1}\n", "training.lr"},
        BadSpec{"name: x\ndata: {path: d.h5}\nresources: {ranks: 5000}\n", "resources.ranks: 5000 is out of range"},
        BadSpec{"name: x\ndata: {path: d.h5}\nresources: {ranks: two}\n", "resources.ranks: expected an integer"},
        BadSpec{"name: x\ndata: {path: d.h5}\nmodel: {hidden: 64, heads: 5}\n", "must be divisible by heads"},
        BadSpec{"name: x\ndata: {path: d.h5}\nmodel: {size: huge}\n", "model.size: 'huge' is not a known size"},
        BadSpec{"name: x\ndata: {path: d.h5}\ndistributed: {collective_timeout: 0}\n",
                "distributed.collective_timeout: 0 is out of range (0, 86400]"},
        BadSpec{"name: x\ndata: {path: d.h5}\ndistributed: {bucket_mb: 3}\n", "distributed.bucket_mb: unknown key"},
        BadSpec{"name: x\n", "data: is required"},
        BadSpec{"data: {path: d.h5}\n", "name: is required"},
        BadSpec{"name: 'a b'\ndata: {path: d.h5}\n", "name: 'a b' must be"},
        BadSpec{"name: x\ndata: {path: d.h5}\nkind: dance\n", "kind: 'dance' is not a known kind"},
        BadSpec{"name: x\ndata: [1, 2\n", "not valid YAML"},
        BadSpec{"name: x\ndata: {path: d.h5}\nresources: {priority: 1001}\n", "resources.priority: 1001 is out of range"},
        BadSpec{"name: x\ndata: {path: d.h5}\nresources: {group: 'a lab'}\n", "resources.group: 'a lab' must be"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\n", "evaluation.models: is required for kind evaluate"},
        BadSpec{"name: x\ndata: {path: d.h5}\nevaluation: {models: [{name: a}]}\n",
                "evaluation: is only for kinds evaluate and features"},
        BadSpec{"name: x\nkind: pretrain\ndata: {path: d.h5}\nevaluation: {models: [{name: a}]}\n",
                "evaluation: is only for kinds evaluate and features"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], resampled: true}\n",
                "evaluation.resampled: is only for kind features"},
        BadSpec{"name: x\nkind: features\ndata: {path: d.h5}\n", "evaluation.models: is required for kind features"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}, {name: a}]}\n",
                "evaluation.models[1].name: 'a' is used twice"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a, ckpt: b}]}\n",
                "evaluation.models[0].ckpt: unknown key"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a, checkpoint: c.pt, "
                "pretrained: gpt2}]}\n",
                "evaluation.models[0].pretrained: give one of checkpoint"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a, checkpoint: c.pt, "
                "features: [semantic]}]}\n",
                "evaluation.models[0].features: give one of checkpoint"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a, features: []}]}\n",
                "evaluation.models[0].features: must name 1 to 32 features"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a, features: [a, 'b/c']}]}\n",
                "evaluation.models[0].features: entry 1 must be 1-64 characters"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a, features: [a, a]}]}\n",
                "evaluation.models[0].features: 'a' is listed twice"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a, features: [f0, f1, f2, "
                "f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20, f21, f22, f23, f24, "
                "f25, f26, f27, f28, f29, f30, f31, f32]}]}\n",
                "evaluation.models[0].features: 33 names; at most 32"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], controls: [erase]}\n",
                "evaluation.controls: 'erase' is not residualisation, erasure, variance_partitioning or permutation"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], confounds: [], "
                "controls: [variance_partitioning]}\n",
                "evaluation.controls: variance_partitioning needs evaluation.confounds"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], permutations: 10}\n",
                "evaluation.permutations: 10 is out of range"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], permutations: 1e9}\n",
                "evaluation.permutations"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], "
                "permutation_block_trs: 0}\n",
                "evaluation.permutation_block_trs: 0 is out of range"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], fdr_q: 0}\n",
                "evaluation.fdr_q: 0 is out of range (0, 0.5]"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], fdr_q: 0.9}\n",
                "evaluation.fdr_q: 0.9 is out of range (0, 0.5]"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], "
                "controls: [erasure, erasure]}\n",
                "evaluation.controls: 'erasure' is listed twice"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], erasure_concept: \"../x\"}\n",
                "evaluation.erasure_concept"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], context_words: 0}\n",
                "evaluation.context_words: 0 is out of range"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], context_words: 1e9}\n",
                "evaluation.context_words"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], context_mode: all}\n",
                "evaluation.context_mode"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], pooling: max}\n",
                "evaluation.pooling: 'max' is not last or mean"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], participants: some}\n",
                "evaluation.participants: 'some'"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], probes: [syntax]}\n",
                "evaluation.probes: 'syntax' is not phoneme, word_class or context_class"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], probes: [phoneme, phoneme]}\n",
                "evaluation.probes: 'phoneme' is listed twice"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], delays: [1, x]}\n",
                "evaluation.delays: expected a list of integers"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], data_fractions: [0]}\n",
                "evaluation.data_fractions: 0 is out of range (0, 1]"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\n"
                "evaluation: {models: [{name: a}], alpha_min: 100, alpha_max: 10}\n",
                "evaluation.alpha_max: must not be below alpha_min"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nmodel: {layers: 2}\n"
                "evaluation: {models: [{name: a}], layers: [0, 3]}\n",
                "evaluation.layers: 3 exceeds model.layers (2)"},
        BadSpec{"name: x\nkind: evaluate\ndata: {path: d.h5}\nevaluation: {models: [{name: a}], layers: [1, 1]}\n",
                "evaluation.layers: 1 is listed twice"},
        BadSpec{"name: x\ndata: {path: d.h5}\nmodel: {finetune: adapters}\n",
                "model.finetune: 'adapters' is not one of: full, lora"},
        BadSpec{"name: x\ndata: {path: d.h5}\nmodel: {pooling: max}\n", "model.pooling: 'max' is not one of"},
        BadSpec{"name: x\ndata: {path: d.h5}\nmodel: {finetune: lora, lora: {targets: [q_proj, qkv]}}\n",
                "model.lora.targets: 'qkv' is not one of"},
        BadSpec{"name: x\ndata: {path: d.h5}\nmodel: {pretrained: hf, layers: 2}\n",
                "model.layers: must be left out with model.pretrained"},
        BadSpec{"name: x\ndata: {path: d.h5}\ntraining: {loss: l1}\n", "training.loss: 'l1' is not one of"},
        BadSpec{"name: x\ndata: {path: d.h5}\ntraining: {keep_checkpoints: 0}\n",
                "training.keep_checkpoints: 0 is out of range"},
        // NaN and infinities fail every range check.
        BadSpec{"name: x\ndata: {path: d.h5}\nresources: {gpu_memory_gb: .nan}\n", "resources.gpu_memory_gb: nan is out of range"},
        BadSpec{"name: x\ndata: {path: d.h5}\nresources: {restart_backoff_seconds: .nan}\n",
                "resources.restart_backoff_seconds: nan is out of range"},
        BadSpec{"name: x\ndata: {path: d.h5, context_seconds: .inf}\n", "data.context_seconds: inf is out of range"},
        // Refused at submission, not on the ranks.
        BadSpec{"name: x\ndata: {path: d.h5}\ntraining: {precision: bf16}\n",
                "training.precision: bf16 needs a GPU"},
        // Found by the fuzzer: the failing key (heads) is a default, absent from the file.
        BadSpec{"name: x\ndata: {path: d.h5}\nmodel:\n  hidden: 65\n",
                "model.heads: hidden (65) must be divisible by heads (4)"}));

TEST(JobSpecTest, EvaluationDefaultsAndPathsResolveAgainstTheSpec) {
  auto loaded = ParseJobSpecText(
      "name: x\nkind: evaluate\ndata: {path: d.h5}\n"
      "evaluation:\n  models:\n    - {name: base}\n    - {name: tuned, checkpoint: runs/c.pt}\n  cache_dir: cache\n",
      "eval.yaml", "/labs/brains");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const JobSpec* spec = &loaded->spec;
  const EvaluationSpec& e = spec->evaluation;
  ASSERT_EQ(e.models.size(), 2u);
  EXPECT_EQ(e.models[0].checkpoint, "");
  EXPECT_EQ(e.models[1].checkpoint, "/labs/brains/runs/c.pt");
  EXPECT_EQ(e.cache_dir, "/labs/brains/cache");
  EXPECT_DOUBLE_EQ(e.context_seconds, 16);
  EXPECT_DOUBLE_EQ(e.stride_seconds, 0.1);
  EXPECT_EQ(e.delays, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(e.alpha_count, 15);
  EXPECT_DOUBLE_EQ(e.alpha_min, 10);
  EXPECT_DOUBLE_EQ(e.alpha_max, 1e4);
  EXPECT_EQ(e.folds, 5);
  EXPECT_DOUBLE_EQ(e.ceiling_threshold, 0.4);
  EXPECT_EQ(e.confounds, (std::vector<std::string>{"letters", "phonemes", "word_rate"}));
  EXPECT_EQ(e.data_fractions.size(), 5u);
  // Ranks of an evaluation meet once per phase: a longer collective timeout than training's,
  // unless the spec sets one.
  EXPECT_DOUBLE_EQ(spec->distributed.collective_timeout, kEvaluateCollectiveTimeout);
  auto set = ParseJobSpec("name: x\nkind: evaluate\ndata: {path: d.h5}\ndistributed: {collective_timeout: 90}\n"
                          "evaluation: {models: [{name: a}]}\n", "set");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_DOUBLE_EQ(set->distributed.collective_timeout, 90);
}

TEST(JobSpecTest, ErrorNamesTheLine) {
  auto spec = ParseJobSpec("name: x\ndata:\n  path: d.h5\ntraining:\n  steps: -3\n", "job.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(std::string(spec.status().message()).find("job.yaml:5"), std::string::npos) << spec.status();
}

TEST(JobSpecTest, MissingFileIsNotFound) {
  auto spec = LoadJobSpecFile("/nonexistent/job.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(spec.status().message()).find("/nonexistent/job.yaml"), std::string::npos);
}

// The typed spec and the canonical text that travels to the coordinator and the ranks come
// from one table of path fields: both hold the same absolute paths.
TEST(JobSpecTest, PathsResolveAlikeInTheTypedSpecAndTheCanonicalText) {
  auto loaded = ParseJobSpecText(
      "name: x\nkind: evaluate\ndata:\n  path: sub/d.h5\noutput: {dir: out}\nmodel: {pretrained: hf/base}\n"
      "evaluation:\n  models: [{name: a, checkpoint: runs/a.pt}, {name: b, checkpoint: /abs/b.pt}]\n"
      "  cache_dir: cache\n",
      "job.yaml", "/labs/brains");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto reparsed = ParseJobSpec(loaded->text, "canonical");
  ASSERT_TRUE(reparsed.ok()) << reparsed.status() << "\n" << loaded->text;
  for (const JobSpec* spec : {&loaded->spec, &*reparsed}) {
    EXPECT_EQ(spec->data.path, "/labs/brains/sub/d.h5");
    EXPECT_EQ(spec->output.dir, "/labs/brains/out");
    EXPECT_EQ(spec->model.pretrained, "/labs/brains/hf/base");
    EXPECT_EQ(spec->evaluation.cache_dir, "/labs/brains/cache");
    EXPECT_EQ(spec->evaluation.models[0].checkpoint, "/labs/brains/runs/a.pt");
    EXPECT_EQ(spec->evaluation.models[1].checkpoint, "/abs/b.pt");
  }
  // The rest is kept, and a canonical text is a fixed point.
  EXPECT_EQ(reparsed->name, "x");
  auto again = ParseJobSpecText(loaded->text, "canonical", "/elsewhere");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->text, loaded->text);
}

TEST(JobSpecTest, BadPathFieldsAreLeftToTheParsersErrors) {
  auto loaded = ParseJobSpecText("name: x\ndata:\n  path: [a, b]\n", "job.yaml", "/labs");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(std::string(loaded.status().message()).find("job.yaml:3: data.path: expected a string"), std::string::npos)
      << loaded.status();
}

}  // namespace
}  // namespace braintune::config
