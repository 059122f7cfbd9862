// One rank of the reducer tests (tests/ddp/reducer_test.cc starts it under mpirun). It trains a
// small model with shared layers, a frozen layer and one head per participant on deterministic
// data, with participants of uneven size spread over the ranks, and writes every parameter this
// rank is authoritative for to OUT.rank<r> as "name v1 v2 ...".
//
//   ddp_worker --scenario equivalence|accumulate|state|overlap|hang|crash [--steps N] [--out PREFIX]
//              [--timeout SECONDS] [--device cpu|cuda]
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "ddp/reducer.h"
#include "dist/communicator.h"

namespace {

using braintune::ddp::GradientReducer;
using braintune::ddp::ReducerOptions;

constexpr int kParticipants = 3;
constexpr int kSamples[kParticipants] = {5, 9, 2};  // per step: uneven on purpose
constexpr int kIn = 8, kHidden = 16, kOut = 4;

struct Args {
  std::string scenario = "equivalence", out = "/tmp/ddp", device = "cpu";
  int steps = 4;
  double timeout = 600;
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--scenario") a.scenario = v;
    else if (k == "--out") a.out = v;
    else if (k == "--device") a.device = v;
    else if (k == "--steps") a.steps = std::atoi(v.c_str());
    else if (k == "--timeout") a.timeout = std::atof(v.c_str());
    else { std::cerr << "ddp_worker: unknown flag " << k << "\n"; std::exit(2); }
  }
  return a;
}

struct Net : torch::nn::Module {
  Net() {
    frozen = register_module("frozen", torch::nn::Linear(kIn, kIn));
    for (auto& p : frozen->parameters()) p.set_requires_grad(false);
    l1 = register_module("l1", torch::nn::Linear(kIn, kHidden));
    l2 = register_module("l2", torch::nn::Linear(kHidden, kHidden));
    for (int p = 0; p < kParticipants; ++p) {
      heads.push_back(register_module("head" + std::to_string(p), torch::nn::Linear(kHidden, kOut)));
    }
  }
  torch::Tensor forward(const torch::Tensor& x, int participant) {
    return heads[participant]->forward(torch::tanh(l2(torch::tanh(l1(frozen(x))))));
  }
  torch::nn::Linear frozen{nullptr}, l1{nullptr}, l2{nullptr};
  std::vector<torch::nn::Linear> heads;
};

// Participant p's samples of a step: the same on every rank and every world size.
std::pair<torch::Tensor, torch::Tensor> Data(int step, int p, const torch::Device& device) {
  torch::manual_seed(1000 * step + p);
  torch::Tensor x = torch::randn({kSamples[p], kIn});
  torch::Tensor y = torch::randn({kSamples[p], kOut});
  return {x.to(device), y.to(device)};
}

void Write(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& params) {
  std::ofstream out(path);
  out.precision(9);
  for (const auto& [name, t] : params) {
    torch::Tensor flat = t.detach().cpu().reshape(-1).contiguous();
    out << name;
    for (int64_t i = 0; i < flat.numel(); ++i) out << " " << flat.data_ptr<float>()[i];
    out << "\n";
  }
}

int Fail(braintune::dist::Communicator* comm, const absl::Status& s) {
  std::cerr << "ddp_worker: rank " << comm->rank() << ": " << s << std::endl;
  comm->Abort(1);
  return 1;  // not reached
}

// Equivalence, accumulation, hang and crash: the small model.
int RunSmall(const Args& args, braintune::dist::Communicator* comm) {
  // One GPU per local rank, the one the NCCL communicator uses.
  const torch::Device device = args.device == "cuda" ? torch::Device(torch::kCUDA, comm->local_rank())
                                                     : torch::Device(torch::kCPU);
  torch::manual_seed(0);
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
  ReducerOptions options;
  options.first_bucket_cap_bytes = 256;  // several buckets even for this small model
  options.bucket_cap_bytes = 1024;
  GradientReducer reducer(comm, shared, local, options);
  if (auto s = reducer.BroadcastParameters(); !s.ok()) return Fail(comm, s);
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
  if (args.scenario == "state") {
    // Each rank first takes a step of its own (different gradients, so different parameters
    // and momentum buffers), then adopts rank 0's parameters and optimizer state.
    for (auto& p : trunk) p.mutable_grad() = torch::full_like(p, 0.1 * (comm->rank() + 1));
    sgd.step();
    sgd.zero_grad();
    if (auto s = reducer.BroadcastParameters(); !s.ok()) return Fail(comm, s);
    if (auto s = braintune::ddp::BroadcastOptimizerState(comm, sgd); !s.ok()) return Fail(comm, s);
  }

  for (int step = 1; step <= args.steps; ++step) {
    sgd.zero_grad();
    sgd_heads.zero_grad();
    if (step == 2 && comm->rank() == 1 && args.scenario == "hang") {
      std::this_thread::sleep_for(std::chrono::seconds(120));
    }
    if (step == 2 && comm->rank() == comm->size() - 1 && args.scenario == "crash") raise(SIGKILL);
    // accumulate: two micro-steps (first halves without synchronisation, then the rest).
    const int micro_steps = args.scenario == "accumulate" ? 2 : 1;
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
      if (auto s = reducer.Finish(); !s.ok()) return Fail(comm, s);
    }
    sgd.step();
    sgd_heads.step();
  }
  std::vector<std::pair<std::string, torch::Tensor>> mine;
  for (const auto& item : net->named_parameters()) {
    const std::string& name = item.key();
    bool head = name.rfind("head", 0) == 0;
    bool own_head = head && std::find(owned.begin(), owned.end(), name[4] - '0') != owned.end();
    if (args.scenario == "state" && !head) {
      mine.emplace_back("rank" + std::to_string(comm->rank()) + "/" + name, item.value());
    } else if ((!head && comm->rank() == 0) || own_head) {
      mine.emplace_back(name, item.value());
    }
  }
  Write(args.out + ".rank" + std::to_string(comm->rank()), mine);
  return 0;
}

// Overlap: a deeper model, so that backward takes long enough to watch the first bucket's
// all-reduce start before it ends.
int RunOverlap(const Args& args, braintune::dist::Communicator* comm) {
  torch::manual_seed(0);
  torch::nn::Sequential net;
  for (int i = 0; i < 12; ++i) {
    net->push_back(torch::nn::Linear(512, 512));
    net->push_back(torch::nn::Functional(torch::tanh));
  }
  std::vector<torch::Tensor> params = net->parameters();
  GradientReducer reducer(comm, params, {}, ReducerOptions{});
  if (auto s = reducer.BroadcastParameters(); !s.ok()) return Fail(comm, s);
  int overlapped = 0;
  for (int step = 1; step <= args.steps; ++step) {
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    reducer.Prepare(64, 64 * comm->size());
    torch::manual_seed(step * 10 + comm->rank());
    net->forward(torch::randn({64, 512})).pow(2).mean().backward();
    if (auto s = reducer.Finish(); !s.ok()) return Fail(comm, s);
    const auto& st = reducer.last_stats();
    const bool early = st.first_started > 0 && st.first_started < st.last_gradient;
    overlapped += early;
    if (comm->rank() == 0) {
      std::printf("step %d: %zu buckets, %d launched during backward; first bucket started %.3f ms before the "
                  "last gradient\n",
                  step, reducer.bucket_bytes().size(), st.launched_during_backward,
                  1e3 * (st.last_gradient - st.first_started));
    }
  }
  if (comm->rank() == 0) std::printf("overlapped steps: %d of %d\n", overlapped, args.steps);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = Parse(argc, argv);
  torch::set_num_threads(1);
  auto comm = braintune::dist::MakeCommunicator(args.device);
  if (!comm.ok()) {
    std::cerr << "ddp_worker: " << comm.status() << std::endl;
    return 1;
  }
  (*comm)->set_timeout_seconds(args.timeout);
  return args.scenario == "overlap" ? RunOverlap(args, comm->get()) : RunSmall(args, comm->get());
}
