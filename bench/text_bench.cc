// The C++ half of the text-model benchmark (bench/text_bench.sh runs it beside
// bench/text_bench.py, the same work in PyTorch's Python API on the same LibTorch 1.13).
//
//   text_bench words --model DIR --tokenizer DIR --words WORDS.txt [--context-words 32]
//                    [--mode huth|sliding] [--batch-size 32] [--repeats 3] [--threads T]
//                    [--save STATES.safetensors]
//   text_bench step  --model DIR --inputs FILE.safetensors [--steps 10] [--warmup 2]
//                    [--threads T] [--lora-dropout 0.1]
//
// DIR is a Hugging Face GPT-2 directory (bench/text_bench.py make-model), the same weights the
// Python side loads. "words" times eval::WordStates over every layer (tokenizing included) and
// can save the states ("layer.K") for the Python side to compare. "step" is a brain-tuning step
// on a text model with LoRA on attention (c_attn, c_proj; rank 8, alpha 32): BrainModel::EmbedText
// (mean over word positions) -> Linear(hidden, targets) -> the trainer's Pearson loss -> backward
// -> clip 1.0 -> AdamW (5e-5 adapters, 1e-4 head, weight decay 0.01); inputs, targets and head
// weights come from bench/text_bench.py make-inputs, LoRA's A from the formula both sides share.
// Each prints one JSON line.
#include <sys/resource.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "eval/word_features.h"
#include "model/brain_model.h"
#include "model/safetensors.h"
#include "model/text_encoder.h"
#include "model/threads.h"
#include "model/tokenizer.h"

namespace {

namespace model = braintune::model;
using Clock = std::chrono::steady_clock;
using torch::Tensor;

struct Args {
  std::string command;
  std::string model_dir, tokenizer_dir, words_file, save, inputs;
  int context_words = 32;
  std::string mode = "huth";
  int batch_size = 32;
  int repeats = 3;
  int steps = 10;
  int warmup = 2;
  int threads = 0;
  double lora_dropout = 0.1;
};

[[noreturn]] void Fail(const std::string& what) {
  std::cerr << "text_bench: " << what << "\n";
  std::exit(1);
}

template <typename T>
T OrDie(absl::StatusOr<T> v) {
  if (!v.ok()) Fail(std::string(v.status().message()));
  return *std::move(v);
}

void OrDie(const absl::Status& s) {
  if (!s.ok()) Fail(std::string(s.message()));
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::shared_ptr<model::TextEncoderImpl> LoadEncoder(const std::string& dir) {
  model::TextCheckpoint ckpt = OrDie(model::ReadTextCheckpoint(dir));
  std::shared_ptr<model::TextEncoderImpl> encoder = model::MakeTextEncoder(ckpt.config);
  OrDie(encoder->LoadHfStateDict(ckpt.tensors, ckpt.weights_path));
  return encoder;
}

int64_t CountParameters(const std::vector<Tensor>& params) {
  int64_t n = 0;
  for (const Tensor& p : params) n += p.numel();
  return n;
}

int RunWords(const Args& a) {
  std::shared_ptr<model::TextEncoderImpl> encoder = LoadEncoder(a.model_dir);
  encoder->eval();
  std::unique_ptr<model::Tokenizer> tokenizer = OrDie(model::ReadTokenizer(a.tokenizer_dir, encoder->config().model_type));
  std::ifstream in(a.words_file);
  if (!in) Fail("cannot read " + a.words_file);
  std::vector<std::string> words{std::istream_iterator<std::string>(in), std::istream_iterator<std::string>()};
  std::vector<int> layers;
  for (int l = 0; l <= encoder->num_layers(); ++l) layers.push_back(l);
  braintune::eval::WordContextOptions options;
  options.context_words = a.context_words;
  options.mode = a.mode;
  options.batch_size = a.batch_size;
  std::vector<double> seconds;
  std::vector<Tensor> states;
  for (int r = 0; r <= a.repeats; ++r) {  // the first is a warm-up
    const auto t0 = Clock::now();
    states = OrDie(braintune::eval::WordStates(*encoder, *tokenizer, words, layers, options, a.words_file));
    if (r > 0) seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  // The passes WordStates made (the same rule as word_features.cc), for the JSON line.
  const std::vector<int64_t> starts = braintune::eval::WordContextStarts(static_cast<int64_t>(words.size()), options);
  int64_t passes = 0;
  for (size_t i = 0; i < starts.size(); ++i) passes += (a.mode == "sliding" || i == 0 || starts[i] != starts[i - 1]);
  double checksum = 0;
  for (const Tensor& s : states) checksum += s.to(torch::kFloat64).abs().sum().item<double>();
  if (!a.save.empty()) {
    std::vector<std::pair<std::string, Tensor>> out;
    for (size_t l = 0; l < layers.size(); ++l) out.emplace_back("layer." + std::to_string(layers[l]), states[l]);
    OrDie(model::WriteSafetensors(a.save, out));
  }
  const double median = Median(seconds);
  std::printf("{\"impl\": \"braintune\", \"bench\": \"words\", \"params\": %lld, \"layers\": %d, \"words\": %zu, "
              "\"passes\": %lld, \"context_words\": %d, \"mode\": \"%s\", \"batch_size\": %d, \"threads\": %d, "
              "\"repeats\": %d, \"seconds_median\": %.4f, \"words_per_sec\": %.2f, \"checksum\": %.6f}\n",
              static_cast<long long>(CountParameters(encoder->parameters())), encoder->num_layers(), words.size(),
              static_cast<long long>(passes), a.context_words, a.mode.c_str(), a.batch_size, torch::get_num_threads(),
              a.repeats, median, words.size() / median, checksum);
  return 0;
}

// LoRA's A [rank, in] of adapter `index` (2i: block i's c_attn, 2i + 1: its c_proj), as
// bench/text_bench.py's lora_a_init computes it.
Tensor LoraAInit(int64_t rank, int64_t in, int index) {
  Tensor x = torch::arange(rank * in, torch::kFloat32) * 0.37 + (index + 1);
  return (torch::sin(x) / std::sqrt(static_cast<double>(in))).view({rank, in});
}

// The trainer's "pearson" loss (src/train/recipe.cc): rows x (1 - mean over targets of r).
Tensor PearsonLoss(const Tensor& pred, const Tensor& actual) {
  Tensor p = pred - pred.mean(0, true);
  Tensor t = actual - actual.mean(0, true);
  Tensor r = (p * t).sum(0) / (p.pow(2).sum(0).sqrt() * t.pow(2).sum(0).sqrt() + 1e-8);
  return (1 - r).mean() * static_cast<double>(pred.size(0));
}

int RunStep(const Args& a) {
  std::map<std::string, Tensor> in = OrDie(model::ReadSafetensors(a.inputs));
  for (const char* name : {"input_ids", "attention_mask", "words", "word_mask", "targets", "head.weight", "head.bias"}) {
    if (!in.count(name)) Fail(a.inputs + " lacks " + name);
  }
  std::shared_ptr<model::TextEncoderImpl> encoder = LoadEncoder(a.model_dir);
  model::LoraOptions lora;
  lora.dropout = a.lora_dropout;
  lora.targets = model::DefaultTextLoraTargets(encoder->config().model_type);  // c_attn, c_proj
  OrDie(encoder->EnableLora(lora));
  const Tensor& head_weight = in["head.weight"];
  model::BrainModel brain(encoder, std::map<std::string, int64_t>{{"brain", head_weight.size(0)}}, "mean");
  {
    torch::NoGradGuard no_grad;
    auto params = brain->named_parameters();
    params["heads.brain.weight"].copy_(head_weight);
    params["heads.brain.bias"].copy_(in["head.bias"]);
    for (int i = 0; i < encoder->num_layers(); ++i) {
      const std::string block = "encoder.h." + std::to_string(i) + ".attn.";
      for (int j = 0; j < 2; ++j) {
        Tensor& A = params[block + (j == 0 ? "c_attn" : "c_proj") + ".lora_A"];
        A.copy_(LoraAInit(A.size(0), A.size(1), 2 * i + j));
      }
    }
  }
  brain->train();
  std::vector<Tensor> adapters, head, trainable;
  for (const auto& item : brain->named_parameters()) {
    if (!item.value().requires_grad()) continue;
    (item.key().rfind("encoder.", 0) == 0 ? adapters : head).push_back(item.value());
    trainable.push_back(item.value());
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(adapters, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(5e-5).weight_decay(0.01)));
  groups.emplace_back(head, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-4).weight_decay(0.01)));
  torch::optim::AdamW optimizer(groups, torch::optim::AdamWOptions(5e-5).weight_decay(0.01));
  const Tensor &ids = in["input_ids"], &mask = in["attention_mask"], &words = in["words"], &word_mask = in["word_mask"],
               &targets = in["targets"];
  auto step = [&]() -> std::pair<double, double> {
    optimizer.zero_grad();
    Tensor loss = PearsonLoss(brain->Head("brain", brain->EmbedText(ids, mask, words, word_mask)), targets);
    loss.backward();
    const double norm = torch::nn::utils::clip_grad_norm_(trainable, 1.0);
    optimizer.step();
    return {loss.item<double>(), norm};
  };
  std::vector<std::pair<double, double>> first;
  for (int s = 0; s < std::max(a.warmup, 2); ++s) first.push_back(step());
  std::vector<double> ms;
  double loss = 0;
  for (int s = 0; s < a.steps; ++s) {
    const auto t0 = Clock::now();
    loss = step().first;
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  double total = 0;
  for (double m : ms) total += m;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const int64_t batch = ids.size(0);
  std::printf("{\"impl\": \"braintune\", \"bench\": \"step\", \"params\": %lld, \"trainable_params\": %lld, "
              "\"batch\": %lld, \"tokens\": %lld, \"real_tokens\": %lld, \"words\": %lld, \"targets\": %lld, "
              "\"threads\": %d, \"lora_dropout\": %g, \"steps\": %d, \"samples_per_sec\": %.4f, "
              "\"step_ms_median\": %.2f, \"loss_1\": %.6f, \"grad_norm_1\": %.6f, \"loss_2\": %.6f, "
              "\"final_loss\": %.6f, \"peak_rss_mb\": %.1f}\n",
              static_cast<long long>(CountParameters(encoder->parameters()) - CountParameters(adapters)),
              static_cast<long long>(CountParameters(trainable)), static_cast<long long>(batch),
              static_cast<long long>(ids.size(1)), static_cast<long long>(mask.sum().item<int64_t>()),
              static_cast<long long>(word_mask.sum().item<int64_t>()), static_cast<long long>(targets.size(1)),
              torch::get_num_threads(), a.lora_dropout, a.steps, batch * a.steps / (total / 1000), Median(ms),
              first[0].first, first[0].second, first[1].first, loss, ru.ru_maxrss / 1024.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  const char* usage =
      "usage: text_bench words --model DIR --tokenizer DIR --words WORDS.txt [--context-words N] [--mode huth|sliding]\n"
      "                        [--batch-size N] [--repeats N] [--threads T] [--save STATES.safetensors]\n"
      "       text_bench step --model DIR --inputs FILE.safetensors [--steps N] [--warmup N] [--threads T]\n"
      "                       [--lora-dropout P]\n";
  if (argc < 2 || (std::string(argv[1]) != "words" && std::string(argv[1]) != "step")) {
    std::cerr << usage;
    return 2;
  }
  a.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Fail(k + " needs a value");
      return argv[++i];
    };
    if (k == "--model") a.model_dir = next();
    else if (k == "--tokenizer") a.tokenizer_dir = next();
    else if (k == "--words") a.words_file = next();
    else if (k == "--save") a.save = next();
    else if (k == "--inputs") a.inputs = next();
    else if (k == "--context-words") a.context_words = std::stoi(next());
    else if (k == "--mode") a.mode = next();
    else if (k == "--batch-size") a.batch_size = std::stoi(next());
    else if (k == "--repeats") a.repeats = std::stoi(next());
    else if (k == "--steps") a.steps = std::stoi(next());
    else if (k == "--warmup") a.warmup = std::stoi(next());
    else if (k == "--threads") a.threads = std::stoi(next());
    else if (k == "--lora-dropout") a.lora_dropout = std::stod(next());
    else {
      std::cerr << usage;
      return k == "--help" ? 0 : 2;
    }
  }
  if (a.model_dir.empty()) Fail("--model is required");
  // As braintune-train and the evaluator do (model/threads.h): ATen's threads, OpenBLAS on one.
  model::SetCpuThreads(a.threads > 0 ? a.threads : torch::get_num_threads());
  if (a.command == "words") {
    if (a.tokenizer_dir.empty() || a.words_file.empty()) Fail("words needs --tokenizer and --words");
    return RunWords(a);
  }
  if (a.inputs.empty()) Fail("step needs --inputs");
  return RunStep(a);
}
