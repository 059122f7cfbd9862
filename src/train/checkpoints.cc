#include "train/checkpoints.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/atomic_file.h"
#include "common/status_macros.h"
#include "model/input_contract.h"
#include "rank/rank.h"

namespace braintune::train {

namespace fs = std::filesystem;

namespace {

// The first line where two spec texts differ, both sides, for the refusal: "line 7: `a` then,
// `b` now" (long lines cut).
std::string FirstDifference(const std::string& then, const std::string& now) {
  const std::vector<std::string> a = absl::StrSplit(then, '\n'), b = absl::StrSplit(now, '\n');
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  auto line = [](const std::vector<std::string>& lines, size_t i) {
    if (i >= lines.size()) return std::string("(end of text)");
    return absl::StrCat("`", lines[i].size() > 100 ? lines[i].substr(0, 100) + "..." : lines[i], "`");
  };
  return absl::StrCat("line ", i + 1, ": ", line(a, i), " then, ", line(b, i), " now");
}

}  // namespace

Checkpoints::Checkpoints(const std::string& output_dir, std::string spec_text, std::string dataset_path,
                         const config::TrainingSpec& training, dist::Communicator* comm)
    : dir_(output_dir + "/checkpoints"),
      spec_text_(std::move(spec_text)),
      dataset_path_(std::move(dataset_path)),
      training_(training),
      comm_(comm) {}

Checkpoints::~Checkpoints() = default;

std::string Checkpoints::PathOf(int64_t step) const { return absl::StrFormat("%s/step-%08d.pt", dir_, step); }

std::vector<std::pair<int64_t, std::string>> Checkpoints::List() const {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  static const std::regex kName(R"(step-(\d{8})\.pt)");
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (std::regex_match(name, m, kName)) out.emplace_back(std::stoll(m[1]), e.path().string());
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

std::string Checkpoints::WhyNotResume(const std::string& path) const {
  std::vector<std::string> reasons;
  c10::IValue saved_spec;
  resume_->read("spec", saved_spec);
  if (saved_spec.toStringRef() != spec_text_) {
    reasons.push_back(absl::StrCat("was trained with another job spec (",
                                   FirstDifference(saved_spec.toStringRef(), spec_text_), ")"));
  }
  c10::IValue saved_path, size, mtime, sha256;
  std::string then;
  if (resume_->try_read("dataset_path", saved_path) && resume_->try_read("dataset_size", size) &&
      resume_->try_read("dataset_mtime_ns", mtime) && resume_->try_read("dataset_sha256", sha256)) {
    data::DatasetFingerprint saved{saved_path.toStringRef(), size.toInt(), mtime.toInt(), sha256.toStringRef()};
    if (!dataset_.ok() || !saved.SameFileAs(*dataset_)) then = saved.ToString();
  } else {
    then = "a dataset it does not record (written by an older braintune, before checkpoints recorded one)";
  }
  if (!then.empty()) {
    reasons.push_back(absl::StrCat("was trained on ", then, "; the dataset now is ",
                                   dataset_.ok() ? dataset_->ToString()
                                                 : absl::StrCat("unreadable (", dataset_.status().message(), ")")));
  }
  c10::IValue saved_contract;
  const std::string before = model::RecordedContractJson(
      resume_->try_read(model::kContractKey, saved_contract) ? &saved_contract.toStringRef() : nullptr);
  if (before != input_contract_) {
    reasons.push_back(absl::StrCat("was trained on input prepared under another contract (then: ",
                                   absl::StrReplaceAll(before, {{"\n", " "}}), "; now: ",
                                   absl::StrReplaceAll(input_contract_, {{"\n", " "}}), ")"));
  }
  if (reasons.empty()) return "";
  return absl::StrCat(path, " ", absl::StrJoin(reasons, ", and "), ": refusing to resume; delete the checkpoints ",
                      "directory ", dir_, " (or set a new output.dir) to start afresh");
}

absl::StatusOr<Checkpoints::Resume> Checkpoints::FindResume() {
  // What this launch trains on, taken now, before the loader's thread reads HDF5.
  if (comm_->rank() == 0) dataset_ = data::FingerprintDataset(dataset_path_);
  Resume found;
  double next = 0;
  std::string refusal;  // rank 0's reason not to resume, or ""
  for (const auto& [step, path] : List()) {
    try {
      resume_ = std::make_unique<torch::serialize::InputArchive>();
      resume_->load_from(path);
      c10::IValue finished;
      resume_->read("finished", finished);
      // Rank 0 wrote it, from the dataset it saw; the others' verdict would be the same or,
      // with per-node copies of the dataset, about a file rank 0 never read.
      if (comm_->rank() == 0) refusal = WhyNotResume(path);
      next = finished.toBool() ? static_cast<double>(training_.steps + 1) : static_cast<double>(step + 1);
      found.finished = finished.toBool();
      found.last_step = step;
      resume_path_ = path;
      break;
    } catch (const c10::Error& e) {
      std::cerr << "braintune-train: rank " << comm_->rank() << ": skipping unreadable " << path << ": "
                << e.what_without_backtrace() << std::endl;
    }
  }
  // All ranks or none (a rank on a node that does not see the file starts everyone afresh);
  // they all read the same newest file, so the steps agree when every rank has one.
  double seen[3] = {next > 0 ? 1.0 : 0.0, next, static_cast<double>(refusal.size())};
  RETURN_IF_ERROR(comm_->AllReduceSum(seen, 3));
  if (seen[2] > 0) {
    // Refused (even when some rank saw no checkpoint: starting afresh would overwrite it). Every
    // rank ends with rank 0's reason, so that whichever rank reports first names it.
    refusal.resize(static_cast<size_t>(seen[2]));
    RETURN_IF_ERROR(comm_->BroadcastBytes(refusal.data(), static_cast<int64_t>(refusal.size()), 0));
    resume_.reset();
    return absl::FailedPreconditionError(refusal);
  }
  const bool everyone = seen[0] == comm_->size();
  if (everyone) {
    found.first_step = static_cast<int64_t>(seen[1] / comm_->size());
  } else {
    found = Resume{};
    resume_.reset();
  }
  if (comm_->rank() == 0 && found.first_step > 1) {
    std::cout << "braintune-train: resuming from step " << found.last_step << " (" << resume_path_ << ")" << std::endl;
  }
  return found;
}

absl::Status Checkpoints::Load(torch::nn::Module* model, const c10::Device& device, torch::optim::Optimizer* optimizer,
                               std::vector<double>* r_before, EarlyStopping* early_stopping) {
  try {
    torch::serialize::InputArchive model_archive, optimizer_archive;
    resume_->read("model", model_archive);
    resume_->read("optimizer", optimizer_archive);
    model->load(model_archive);
    model->to(device);
    optimizer->load(optimizer_archive);
    torch::Tensor before, validation;
    resume_->read("r_before", before);
    r_before->assign(before.data_ptr<double>(), before.data_ptr<double>() + before.numel());
    resume_->read("validation", validation);  // best loss, its step, checks since
    EarlyStopping::State state;
    state.best_loss = validation[0].item<double>();
    state.best_step = validation[1].item<int64_t>();
    state.bad_checks = validation[2].item<int>();
    if (state.best_step > 0) {
      const size_t n = model->parameters().size();
      for (size_t i = 0; i < n; ++i) {
        torch::Tensor p;
        resume_->read(absl::StrCat("best_", i), p);
        state.best_params.push_back(p);
      }
    }
    early_stopping->set_state(std::move(state));
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat(resume_path_, ": cannot resume: ", e.what_without_backtrace()));
  }
  resume_.reset();
  return absl::OkStatus();
}

absl::Status Checkpoints::Save(int64_t step, bool finished, const torch::nn::Module& model,
                               const torch::optim::Optimizer& optimizer, const std::vector<double>& r_before,
                               const EarlyStopping& early_stopping) {
  if (comm_->rank() != 0) return absl::OkStatus();
  if (!dataset_.ok()) {
    return absl::Status(dataset_.status().code(), absl::StrCat("cannot record the dataset in ", PathOf(step), ": ",
                                                               dataset_.status().message()));
  }
  RETURN_IF_ERROR(rank::CreateOutputDir(dir_));
  const EarlyStopping::State& best = early_stopping.state();
  RETURN_IF_ERROR(WriteAtomically(PathOf(step), [&](const std::string& tmp) {
    torch::serialize::OutputArchive out, model_archive, optimizer_archive;
    model.save(model_archive);
    optimizer.save(optimizer_archive);
    out.write("model", model_archive);
    out.write("optimizer", optimizer_archive);
    out.write("step", c10::IValue(step));
    out.write("finished", c10::IValue(finished));
    out.write("spec", c10::IValue(spec_text_));
    out.write(model::kContractKey, c10::IValue(input_contract_));
    out.write("dataset_path", c10::IValue(dataset_->path));
    out.write("dataset_size", c10::IValue(dataset_->size_bytes));
    out.write("dataset_mtime_ns", c10::IValue(dataset_->mtime_ns));
    out.write("dataset_sha256", c10::IValue(dataset_->sha256));
    out.write("rng", c10::IValue(absl::StrCat("re-seeded every step from training.seed ", training_.seed,
                                              ", the step and the rank")));
    out.write("r_before", torch::tensor(r_before, torch::kFloat64));
    out.write("validation", torch::tensor({best.best_loss, static_cast<double>(best.best_step),
                                           static_cast<double>(best.bad_checks)},
                                          torch::kFloat64));
    for (size_t i = 0; i < best.best_params.size(); ++i) out.write(absl::StrCat("best_", i), best.best_params[i]);
    out.save_to(tmp);
  }));
  // Keep the newest keep_checkpoints; one that cannot be removed stays, costing only disk.
  const auto all = List();
  std::error_code ec;
  for (size_t i = training_.keep_checkpoints; i < all.size(); ++i) fs::remove(all[i].second, ec);
  return absl::OkStatus();
}

absl::Status Checkpoints::SaveModel(const std::string& path, const torch::nn::Module& model,
                                   const std::string& input_contract, const std::vector<std::string>& participants,
                                   const std::vector<std::string>& test_stories, const std::string& lora_record) {
  return WriteAtomically(path, [&](const std::string& tmp) {
    torch::serialize::OutputArchive archive;
    model.save(archive);
    archive.write(model::kContractKey, c10::IValue(input_contract));
    archive.write(kTunedParticipantsKey, c10::IValue(absl::StrJoin(participants, "\n")));
    archive.write(kTunedTestStoriesKey, c10::IValue(absl::StrJoin(test_stories, "\n")));
    if (!lora_record.empty()) archive.write(kTunedLoraKey, c10::IValue(lora_record));
    archive.save_to(tmp);
  });
}

}  // namespace braintune::train
