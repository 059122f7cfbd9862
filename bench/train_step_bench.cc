// The C++ half of the brain-tuning training-step benchmark (bench/train_step_bench.sh runs it
// beside bench/train_step_bench.py, the same step in PyTorch's Python API on the same LibTorch).
//
//   train_step_bench --size tiny|base [--batch B] [--seconds S] [--targets N] [--steps N]
//                    [--warmup N] [--threads T] [--device cpu|cuda] [--bf16] [--peak-tflops F]
//                    [--profile TRACE.json]
//
// One step: frozen conv feature encoder -> transformer -> mean pool -> Linear(hidden, targets)
// -> MSE on fixed random targets -> backward -> clip 1.0 -> AdamW (5e-5 encoder, 1e-4 head,
// weight decay 0.01): what braintune-train does per step, without data loading or collectives.
// Prints one JSON line with samples/s, the median step, peak RSS and, on a GPU, peak GPU memory
// and model FLOP utilisation (6 x trainable-path parameters x tokens, plus attention).
#include <sys/resource.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "model/autocast.h"
#include "model/brain_model.h"
#include "model/threads.h"

namespace {

using braintune::model::BrainModel;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string size = "tiny";
  int batch = 0;
  double seconds = 0;
  int targets = 256;
  int steps = 0;
  int warmup = 2;
  int threads = 0;
  std::string device = "cpu";
  bool bf16 = false;
  double peak_tflops = 0;  // the GPU's dense bf16 peak, for model FLOP utilisation
  std::string profile;     // a Chrome trace of the timed steps (ATen ops), for chrome://tracing
};

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "train_step_bench: " << k << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--size") a.size = next();
    else if (k == "--batch") a.batch = std::stoi(next());
    else if (k == "--seconds") a.seconds = std::stod(next());
    else if (k == "--targets") a.targets = std::stoi(next());
    else if (k == "--steps") a.steps = std::stoi(next());
    else if (k == "--warmup") a.warmup = std::stoi(next());
    else if (k == "--threads") a.threads = std::stoi(next());
    else if (k == "--device") a.device = next();
    else if (k == "--bf16") a.bf16 = true;
    else if (k == "--peak-tflops") a.peak_tflops = std::stod(next());
    else if (k == "--profile") a.profile = next();
    else {
      std::cerr << "usage: train_step_bench --size tiny|base [--batch B] [--seconds S] [--targets N] [--steps N] "
                   "[--warmup N] [--threads T] [--device cpu|cuda] [--bf16] [--peak-tflops F] [--profile TRACE.json]\n";
      return k == "--help" ? 0 : 2;
    }
  }
  const bool base = a.size != "tiny";
  if (a.batch == 0) a.batch = base ? 2 : 8;
  if (a.seconds == 0) a.seconds = base ? 4 : 10;
  if (a.steps == 0) a.steps = base ? 3 : 20;
  // As braintune-train does (model/threads.h): ATen's threads, OpenBLAS on one.
  braintune::model::SetCpuThreads(a.threads > 0 ? a.threads : torch::get_num_threads());
  auto config = braintune::model::NamedConfig(a.size);
  if (!config.ok()) {
    std::cerr << "train_step_bench: " << config.status().message() << "\n";
    return 2;
  }
  const torch::Device device(a.device == "cuda" ? torch::kCUDA : torch::kCPU);
  torch::manual_seed(0);
  BrainModel model(*config, std::map<std::string, int64_t>{{"brain", a.targets}}, "mean");
  model->encoder()->FreezeFeatureEncoder();
  model->to(device);
  model->train();
  std::vector<torch::Tensor> encoder, head, trainable;
  for (const auto& item : model->named_parameters()) {
    if (!item.value().requires_grad()) continue;
    (item.key().rfind("encoder.", 0) == 0 ? encoder : head).push_back(item.value());
    trainable.push_back(item.value());
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(encoder, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(5e-5).weight_decay(0.01)));
  groups.emplace_back(head, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-4).weight_decay(0.01)));
  torch::optim::AdamW optimizer(groups, torch::optim::AdamWOptions(5e-5).weight_decay(0.01));
  const int64_t samples = static_cast<int64_t>(a.seconds * 16000);
  torch::Tensor audio = torch::randn({a.batch, samples}).to(device);
  torch::Tensor targets = torch::randn({a.batch, a.targets}).to(device);
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  double loss_value = 0;
  std::vector<double> ms;
  std::unique_ptr<torch::autograd::profiler::RecordProfile> profiler;
  for (int s = 0; s < a.warmup + a.steps; ++s) {
    if (s == a.warmup && !a.profile.empty()) profiler = std::make_unique<torch::autograd::profiler::RecordProfile>(a.profile);
    auto t0 = Clock::now();
    optimizer.zero_grad();
    torch::Tensor loss;
    {
      braintune::model::Bf16Autocast autocast(a.bf16);
      torch::Tensor pred = model->Head("brain", model->Embed(audio));
      loss = (pred.to(torch::kFloat) - targets).pow(2).mean();
    }
    loss.backward();
    torch::nn::utils::clip_grad_norm_(trainable, 1.0);
    optimizer.step();
    loss_value = loss.item<double>();  // also synchronises
    sync();
    if (s >= a.warmup) ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  profiler.reset();  // writes the trace
  double total = 0;
  for (double m : ms) total += m;
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  int64_t params = 0, train_params = 0;
  for (const auto& p : model->encoder()->parameters()) params += p.numel();
  for (const auto& p : trainable) train_params += p.numel();
  const double samples_per_sec = a.batch * a.steps / (total / 1000);
  // Model FLOPs of the trainable path per sample: 6 x parameters x frames for the dense layers
  // (forward 2, backward 4) + attention's 2 matmuls (12 x layers x frames^2 x hidden); the frozen
  // conv stack's forward is left out, as PaLM's MFU leaves out what is not trained.
  const int64_t frames = config->Frames(samples);
  const double flops_per_sample = 6.0 * static_cast<double>(train_params) * frames +
                                  12.0 * config->num_hidden_layers * frames * frames * config->hidden_size;
  std::printf("{\"impl\": \"braintune\", \"size\": \"%s\", \"batch\": %d, \"seconds\": %g, \"targets\": %d, "
              "\"threads\": %d, \"device\": \"%s\", \"bf16\": %s, \"steps\": %d, \"params\": %lld, "
              "\"trainable_params\": %lld, \"frames\": %lld, \"samples_per_sec\": %.4f, \"step_ms_median\": %.2f, "
              "\"peak_rss_mb\": %.1f, \"model_tflops_per_sec\": %.3f",
              a.size.c_str(), a.batch, a.seconds, a.targets, torch::get_num_threads(), a.device.c_str(),
              a.bf16 ? "true" : "false", a.steps, static_cast<long long>(params), static_cast<long long>(train_params),
              static_cast<long long>(frames), samples_per_sec, sorted[sorted.size() / 2], ru.ru_maxrss / 1024.0,
              flops_per_sample * samples_per_sec / 1e12);
  if (a.peak_tflops > 0) std::printf(", \"mfu\": %.4f", flops_per_sample * samples_per_sec / 1e12 / a.peak_tflops);
  std::printf(", \"final_loss\": %.4f}\n", loss_value);
  return 0;
}
