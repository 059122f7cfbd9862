#include "ddp/small_training.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "common/status_macros.h"
#include "ddp/reducer.h"

namespace braintune::ddp {
namespace {

constexpr int kParticipants = 3;
constexpr int kSamples[kParticipants] = {5, 9, 2};  // per step: uneven on purpose
constexpr int kIn = 8, kHidden = 16, kOut = 4;

struct Net : torch::nn::Module {
  Net() {
    frozen = register_module("frozen", torch::nn::Linear(kIn, kIn));
    for (auto& p : frozen->parameters()) p.set_requires_grad(false);
    l1 = register_module("l1", torch::nn::Linear(kIn, kHidden));
    l2 = register_module("l2", torch::nn::Linear(kHidden, kHidden));
    for (int p = 0; p < kParticipants; ++p) {
      heads.push_back(register_module("head" + std::to_string(p), torch::nn::Linear(kHidden, kOut)));
    }
    // The same weights on every rank, from a generator of its own: thread ranks share the
    // global one.
    torch::NoGradGuard no_grad;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
    for (auto& p : parameters()) p.copy_(torch::rand(p.sizes(), gen).sub_(0.5));
  }
  torch::Tensor forward(const torch::Tensor& x, int participant) {
    return heads[participant]->forward(torch::tanh(l2(torch::tanh(l1(frozen(x))))));
  }
  torch::nn::Linear frozen{nullptr}, l1{nullptr}, l2{nullptr};
  std::vector<torch::nn::Linear> heads;
};

// Participant p's samples of a step: the same on every rank and every world size.
std::pair<torch::Tensor, torch::Tensor> Data(int step, int p, const torch::Device& device) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(1000 * step + p);
  torch::Tensor x = torch::randn({kSamples[p], kIn}, gen);
  torch::Tensor y = torch::randn({kSamples[p], kOut}, gen);
  return {x.to(device), y.to(device)};
}

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, torch::Tensor>>> TrainSmallModel(
    dist::Communicator* comm, const SmallTrainingOptions& options) {
  const torch::Device device = options.device;
  auto net = std::make_shared<Net>();
  net->to(device);
  if (comm->rank() != 0) {  // broadcast must undo this
    torch::NoGradGuard no_grad;
    net->l1->weight.add_(0.5);
  }
  std::vector<int> owned;
  for (int p = 0; p < kParticipants; ++p) {
    if (p % comm->size() == comm->rank()) owned.push_back(p);
  }
  std::vector<torch::Tensor> shared = net->frozen->parameters();
  for (auto& p : net->l1->parameters()) shared.push_back(p);
  for (auto& p : net->l2->parameters()) shared.push_back(p);
  std::vector<torch::Tensor> local;
  for (int p : owned) {
    for (auto& t : net->heads[p]->parameters()) local.push_back(t);
  }
  ReducerOptions reducer_options;
  reducer_options.first_bucket_cap_bytes = 256;  // several buckets even for this small model
  reducer_options.bucket_cap_bytes = 1024;
  GradientReducer reducer(comm, shared, local, reducer_options);
  RETURN_IF_ERROR(reducer.BroadcastParameters());
  // One optimizer for the shared layers (its state is the same on every rank and can be
  // broadcast), one for the heads (each head's state lives with its owner).
  std::vector<torch::Tensor> trunk = net->l1->parameters();
  for (auto& p : net->l2->parameters()) trunk.push_back(p);
  std::vector<torch::Tensor> heads;
  for (auto& head : net->heads) {
    for (auto& p : head->parameters()) heads.push_back(p);
  }
  torch::optim::SGD sgd(trunk, torch::optim::SGDOptions(0.1).momentum(0.9));
  torch::optim::SGD sgd_heads(heads, torch::optim::SGDOptions(0.1).momentum(0.9));
  int64_t global = 0, local_samples = 0;
  for (int p = 0; p < kParticipants; ++p) global += kSamples[p];
  for (int p : owned) local_samples += kSamples[p];
  if (options.scenario == "state") {
    // Each rank first takes a step of its own (different gradients, so different parameters
    // and momentum buffers), then adopts rank 0's parameters and optimizer state.
    for (auto& p : trunk) p.mutable_grad() = torch::full_like(p, 0.1 * (comm->rank() + 1));
    sgd.step();
    sgd.zero_grad();
    RETURN_IF_ERROR(reducer.BroadcastParameters());
    RETURN_IF_ERROR(BroadcastOptimizerState(comm, sgd));
  }

  for (int step = 1; step <= options.steps; ++step) {
    sgd.zero_grad();
    sgd_heads.zero_grad();
    if (options.before_step) options.before_step(step);
    // accumulate: two micro-steps (first halves without synchronisation, then the rest).
    const int micro_steps = options.scenario == "accumulate" ? 2 : 1;
    for (int m = 0; m < micro_steps; ++m) {
      const bool last = m == micro_steps - 1;
      reducer.Prepare(local_samples, global, /*sync=*/last);
      torch::Tensor loss;
      for (int p : owned) {
        auto [x, y] = Data(step, p, device);
        if (micro_steps == 2) {
          const int64_t half = kSamples[p] / 2;
          x = m == 0 ? x.narrow(0, 0, half) : x.narrow(0, half, kSamples[p] - half);
          y = m == 0 ? y.narrow(0, 0, half) : y.narrow(0, half, kSamples[p] - half);
        }
        torch::Tensor l = (net->forward(x, p) - y).pow(2).mean(1).sum();
        loss = loss.defined() ? loss + l : l;
      }
      if (loss.defined()) (loss / static_cast<double>(local_samples)).backward();
      RETURN_IF_ERROR(reducer.Finish());
    }
    sgd.step();
    sgd_heads.step();
  }
  std::vector<std::pair<std::string, torch::Tensor>> mine;
  for (const auto& item : net->named_parameters()) {
    const std::string& name = item.key();
    bool head = name.rfind("head", 0) == 0;
    bool own_head = head && std::find(owned.begin(), owned.end(), name[4] - '0') != owned.end();
    if (options.scenario == "state" && !head) {
      mine.emplace_back("rank" + std::to_string(comm->rank()) + "/" + name, item.value().detach().clone());
    } else if ((!head && comm->rank() == 0) || own_head) {
      mine.emplace_back(name, item.value().detach().clone());
    }
  }
  return mine;
}

}  // namespace braintune::ddp
