// One rank of the reducer tests (tests/ddp/reducer_test.cc starts it under mpirun). It trains
// the small model of small_training.h and writes every parameter this rank is authoritative for
// to OUT.rank<r> as "name v1 v2 ...".
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
#include "ddp/small_training.h"
#include "dist/communicator.h"

namespace {

using braintune::ddp::GradientReducer;
using braintune::ddp::ReducerOptions;

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

// Equivalence, accumulation, state, hang and crash: the small model (small_training.h).
int RunSmall(const Args& args, braintune::dist::Communicator* comm) {
  braintune::ddp::SmallTrainingOptions options;
  options.scenario = args.scenario;
  options.steps = args.steps;
  // One GPU per local rank, the one the NCCL communicator uses.
  if (args.device == "cuda") options.device = torch::Device(torch::kCUDA, comm->local_rank());
  options.before_step = [&](int step) {
    if (step == 2 && comm->rank() == 1 && args.scenario == "hang") {
      std::this_thread::sleep_for(std::chrono::seconds(120));
    }
    if (step == 2 && comm->rank() == comm->size() - 1 && args.scenario == "crash") raise(SIGKILL);
  };
  auto trained = braintune::ddp::TrainSmallModel(comm, options);
  if (!trained.ok()) return Fail(comm, trained.status());
  Write(args.out + ".rank" + std::to_string(comm->rank()), *trained);
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
