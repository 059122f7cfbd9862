// Gradient synchronisation benchmark: how much of the all-reduce time the reducer hides behind
// the backward pass. Run it under mpirun (bench/ddp_bench.sh; bench/gpu_check.sh on a GPU).
//
//   ddp_bench [--device cpu|cuda] [--layers N] [--width W] [--batch B] [--steps S] [--threads T]
//
// Per step, median over S steps after 2 warm-ups:
//   local   forward + backward, no communication (what one rank alone would take)
//   ddp     forward + backward with the reducer (buckets all-reduced as gradients are ready)
//   comm    the same buckets all-reduced alone, one after another, after a barrier
// hidden = 1 - (ddp - local) / comm: the share of the communication the backward pass covered.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ddp/reducer.h"
#include "dist/communicator.h"

namespace {

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string device_name = "cpu";
  int layers = 12, width = 768, batch = 32, steps = 10, threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (k == "--device") device_name = argv[i + 1];
    else if (k == "--layers") layers = v;
    else if (k == "--width") width = v;
    else if (k == "--batch") batch = v;
    else if (k == "--steps") steps = v;
    else if (k == "--threads") threads = v;
    else { std::fprintf(stderr, "ddp_bench: unknown flag %s\n", k.c_str()); return 2; }
  }
  auto made = braintune::dist::MakeCommunicator(device_name);
  if (!made.ok()) {
    std::fprintf(stderr, "ddp_bench: %s\n", made.status().ToString().c_str());
    return 1;
  }
  braintune::dist::Communicator* comm = made->get();
  const bool cuda = device_name == "cuda";
  const torch::Device device = cuda ? torch::Device(torch::kCUDA, comm->local_rank()) : torch::Device(torch::kCPU);
  auto sync = [&] {
    if (cuda) torch::cuda::synchronize();
  };
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  // A transformer-sized MLP stack: per layer width x 4width and back (as an FFN block).
  torch::nn::Sequential net;
  for (int i = 0; i < layers; ++i) {
    net->push_back(torch::nn::Linear(width, 4 * width));
    net->push_back(torch::nn::Functional(torch::gelu, "none"));
    net->push_back(torch::nn::Linear(4 * width, width));
  }
  net->to(device);
  std::vector<torch::Tensor> params = net->parameters();
  int64_t n_params = 0;
  for (auto& p : params) n_params += p.numel();
  braintune::ddp::GradientReducer reducer(comm, params, {});
  if (auto s = reducer.BroadcastParameters(); !s.ok()) {
    std::fprintf(stderr, "ddp_bench: %s\n", s.ToString().c_str());
    comm->Abort(1);
  }
  torch::Tensor x = torch::randn({batch, 64, width}, device);

  auto step = [&](bool with_sync) {
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    reducer.Prepare(batch, batch * comm->size(), with_sync);
    net->forward(x).pow(2).mean().backward();
    if (auto s = reducer.Finish(); !s.ok()) {
      std::fprintf(stderr, "ddp_bench: %s\n", s.ToString().c_str());
      comm->Abort(1);
    }
    sync();
  };
  std::vector<double> local, ddp, bare;
  std::vector<torch::Tensor> buckets;
  for (int64_t bytes : reducer.bucket_bytes()) buckets.push_back(torch::zeros({bytes / 4}, x.options()));
  // Each phase on its own, 2 warm-up steps first, a barrier before every timed step.
  auto timed = [&](auto&& body, std::vector<double>* out) {
    for (int i = 0; i < steps + 2; ++i) {
      (void)comm->Barrier();
      sync();
      const double t = Now();
      body();
      if (i >= 2) out->push_back(Now() - t);
    }
  };
  timed([&] { step(false); }, &local);
  timed([&] { step(true); }, &ddp);
  timed(
      [&] {
        std::vector<std::shared_ptr<braintune::dist::Work>> works;
        for (auto& b : buckets) works.push_back(comm->AllReduceSumAsync(b.data_ptr<float>(), b.numel()));
        for (auto& w : works) (void)w->Wait();
        sync();
      },
      &bare);
  const double l = Median(local), d = Median(ddp), c = Median(bare);
  if (comm->rank() == 0) {
    const double hidden = c > 0 ? 1 - (d - l) / c : 1;
    std::printf("ddp_bench: backend %s, %d ranks x %d threads, %.1fM parameters (%.0f MB of gradients in %zu "
                "buckets), batch %d x 64 x %d, median of %d steps\n",
                comm->backend().c_str(), comm->size(), threads, n_params / 1e6, n_params * 4 / 1e6, buckets.size(),
                batch, width, steps);
    std::printf("step without sync %.2f ms | with reducer %.2f ms | bare all-reduces %.2f ms (%.1f GB/s algbw)\n",
                l * 1e3, d * 1e3, c * 1e3, n_params * 4 / c / 1e9);
    std::printf("overhead of sync: %.3fx the local step; all-reduce time hidden behind backward: %.0f%%\n", d / l,
                100 * std::clamp(hidden, -1.0, 1.0));
  }
  return 0;
}
