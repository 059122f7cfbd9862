#include "ddp/reducer.h"

#include <algorithm>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "dist/work.h"

namespace braintune::ddp {

GradientReducer::GradientReducer(dist::Communicator* comm, const std::vector<torch::Tensor>& shared,
                                 const std::vector<torch::Tensor>& local, ReducerOptions options)
    : comm_(comm), all_shared_(shared) {
  for (const auto& p : shared) {
    if (p.requires_grad()) shared_.push_back(p);
  }
  for (const auto& p : local) {
    if (p.requires_grad()) local_.push_back(p);
  }
  // Reverse registration order, new bucket when the cap would be exceeded.
  slots_.resize(shared_.size());
  std::vector<int64_t> sizes;
  for (int i = static_cast<int>(shared_.size()) - 1; i >= 0; --i) {
    const int64_t bytes = shared_[i].numel() * static_cast<int64_t>(sizeof(float));
    const int64_t cap = buckets_.size() == 1 ? options.first_bucket_cap_bytes : options.bucket_cap_bytes;
    if (buckets_.empty() || (sizes.back() > 0 && sizes.back() + bytes > cap)) {
      buckets_.emplace_back();
      sizes.push_back(0);
    }
    slots_[i] = {static_cast<int>(buckets_.size()) - 1, sizes.back() / static_cast<int64_t>(sizeof(float))};
    buckets_.back().params.push_back(i);
    sizes.back() += bytes;
  }
  for (size_t b = 0; b < buckets_.size(); ++b) {
    buckets_[b].flat = torch::zeros({sizes[b] / static_cast<int64_t>(sizeof(float))}, shared_[0].options().requires_grad(false));
  }
  ready_.assign(shared_.size(), false);
  for (Bucket& b : buckets_) b.pending = static_cast<int>(b.params.size());  // as after Prepare()
  // Each slot as a tensor over its bucket's memory, not an autograd view (optimizers detach_()
  // gradients, which views forbid); the deleter holds the bucket, so a .grad handed out stays
  // valid after the reducer is gone.
  for (size_t i = 0; i < shared_.size(); ++i) {
    const Slot& s = slots_[i];
    const torch::Tensor& flat = buckets_[s.bucket].flat;
    views_.push_back(torch::from_blob(flat.data_ptr<float>() + s.offset, shared_[i].sizes(), [flat](void*) {},
                                      flat.options()));
  }
  for (size_t i = 0; i < shared_.size(); ++i) {
    const int index = static_cast<int>(i);
    hooks_.emplace_back(index, shared_[i].register_hook([this, index](torch::Tensor grad) { OnGradient(index, grad); }));
  }
}

GradientReducer::~GradientReducer() {
  for (const auto& [index, id] : hooks_) shared_[index].remove_hook(id);
}

std::vector<int64_t> GradientReducer::bucket_bytes() const {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> out;
  for (const Bucket& b : buckets_) out.push_back(b.flat.numel() * static_cast<int64_t>(sizeof(float)));
  return out;
}

StepStats GradientReducer::last_stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

absl::Status GradientReducer::BroadcastParameters() {
  torch::NoGradGuard no_grad;
  if (all_shared_.empty()) return absl::OkStatus();
  std::vector<torch::Tensor> pieces;
  for (const torch::Tensor& p : all_shared_) pieces.push_back(p.detach().reshape(-1));
  torch::Tensor flat = torch::cat(pieces).contiguous();
  RETURN_IF_ERROR(comm_->Broadcast(flat.data_ptr<float>(), flat.numel(), 0));
  int64_t offset = 0;
  for (torch::Tensor& p : all_shared_) {
    p.copy_(flat.narrow(0, offset, p.numel()).view(p.sizes()));
    offset += p.numel();
  }
  return absl::OkStatus();
}

void GradientReducer::Prepare(int64_t local_samples, int64_t global_samples, bool sync) {
  absl::MutexLock lock(&mu_);
  sync_ = sync;
  weight_ = global_samples > 0 ? static_cast<double>(local_samples) / static_cast<double>(global_samples) : 0.0;
  // Gradients left by the last synchronised step are views into the buckets (the optimizer has
  // used them by now); this step's backward must not accumulate into memory being reduced.
  for (size_t i = 0; i < shared_.size(); ++i) {
    const torch::Tensor& g = shared_[i].grad();
    if (g.defined() && g.is_same(views_[i])) shared_[i].mutable_grad() = torch::Tensor();
  }
  std::fill(ready_.begin(), ready_.end(), false);
  for (Bucket& b : buckets_) {
    b.pending = static_cast<int>(b.params.size());
    b.work.reset();
  }
  next_launch_ = 0;
  second_backward_ = false;
  stats_ = StepStats{};
}

void GradientReducer::OnGradient(int index, const torch::Tensor& grad) {
  absl::MutexLock lock(&mu_);
  if (!sync_) return;
  if (ready_[index]) {  // a second backward in this step: its gradient would be lost
    second_backward_ = true;
    return;
  }
  torch::NoGradGuard no_grad;
  torch::Tensor& slot = views_[index];
  // Gradients accumulated by earlier no-sync steps are not in `grad` yet (the hook runs before
  // accumulation); they belong to this synchronised step too.
  const torch::Tensor& held = shared_[index].grad();
  if (held.defined()) {
    torch::add_out(slot, grad, held).mul_(weight_);
  } else {
    torch::mul_out(slot, grad, torch::scalar_tensor(weight_, torch::kFloat));  // one pass
  }
  ready_[index] = true;
  stats_.last_gradient = dist::MonotonicSeconds();
  --buckets_[slots_[index].bucket].pending;
  const size_t before = next_launch_;
  LaunchReadyLocked();
  stats_.launched_during_backward += static_cast<int>(next_launch_ - before);
}

void GradientReducer::LaunchReadyLocked() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    Launch(buckets_[next_launch_]);
    ++next_launch_;
  }
}

void GradientReducer::Launch(Bucket& b) {
  if (stats_.first_launch == 0) stats_.first_launch = dist::MonotonicSeconds();
  b.work = comm_->AllReduceSumAsync(b.flat.data_ptr<float>(), b.flat.numel());
}

absl::Status GradientReducer::Finish() {
  torch::NoGradGuard no_grad;
  std::vector<std::shared_ptr<dist::Work>> works;  // waited on outside mu_
  {
    absl::MutexLock lock(&mu_);
    for (const torch::Tensor& p : local_) {
      if (p.grad().defined() && sync_) p.mutable_grad().mul_(weight_);
    }
    if (!sync_) return absl::OkStatus();
    if (second_backward_) {
      return absl::FailedPreconditionError(
          "gradient reducer: a parameter got a gradient twice in one synchronised step (backward ran "
          "twice between Prepare and Finish); use Prepare(..., /*sync=*/false) for all but the last");
    }
    // Parameters that got no gradient in this backward (unused, or no samples on this rank)
    // contribute what they accumulated earlier, or zero.
    for (size_t i = 0; i < shared_.size(); ++i) {
      if (ready_[i]) continue;
      torch::Tensor& slot = views_[i];
      const torch::Tensor& held = shared_[i].grad();
      if (held.defined()) {
        slot.copy_(held).mul_(weight_);
      } else {
        slot.zero_();
      }
      ready_[i] = true;
      --buckets_[slots_[i].bucket].pending;
    }
    LaunchReadyLocked();
    if (!buckets_.empty()) stats_.first_started = buckets_[0].work->started_at();
    for (const Bucket& b : buckets_) works.push_back(b.work);
  }
  for (const auto& work : works) {
    // The first failure is the job's end (the caller aborts); waiting on the rest would only
    // add a timeout each.
    RETURN_IF_ERROR(work->Wait());
  }
  // The averaged gradients stay in the buckets: each .grad becomes a view of its slot (no copy;
  // PyTorch's gradient_as_bucket_view). Prepare() detaches them before the next backward.
  for (size_t i = 0; i < shared_.size(); ++i) shared_[i].mutable_grad() = views_[i];
  absl::MutexLock lock(&mu_);
  stats_.finished = dist::MonotonicSeconds();
  return absl::OkStatus();
}

absl::Status BroadcastOptimizerState(dist::Communicator* comm, torch::optim::Optimizer& optimizer) {
  std::string bytes;
  if (comm->rank() == 0) {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    std::ostringstream out;
    archive.save_to(out);
    bytes = out.str();
  }
  int64_t size = static_cast<int64_t>(bytes.size());
  RETURN_IF_ERROR(comm->BroadcastBytes(&size, sizeof(size), 0));
  bytes.resize(size);
  RETURN_IF_ERROR(comm->BroadcastBytes(bytes.data(), size, 0));
  if (comm->rank() != 0) {
    torch::serialize::InputArchive archive;
    std::istringstream in(bytes);
    archive.load_from(in);
    optimizer.load(archive);
  }
  return absl::OkStatus();
}

}  // namespace braintune::ddp
