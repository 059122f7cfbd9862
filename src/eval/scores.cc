#include "eval/scores.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <set>
#include <string_view>

#include "absl/strings/str_format.h"
#include "eval/metrics.h"

namespace braintune::eval {
namespace {

// Codes of OwnedParticipant::ceiling_source in the array "ceiling_source".
constexpr std::string_view kCeilingSources[] = {"none", "stored", "repeats", "repeats-mean"};

}  // namespace

void PutCeilings(const Participants& participants, SharedArrays* shared) {
  shared->Declare("ceiling");
  shared->Declare("ceiling_source", /*per_target=*/false);  // index in kCeilingSources
  shared->Declare("ceiling_presentations", /*per_target=*/false);
  for (const OwnedParticipant& o : participants.owned) {
    if (o.ceiling.defined()) shared->PutTargets("ceiling", o.index, o.ceiling);
    const auto code = std::find(std::begin(kCeilingSources), std::end(kCeilingSources), o.ceiling_source) -
                      std::begin(kCeilingSources);
    shared->PutValue("ceiling_source", o.index, static_cast<double>(code));
    shared->PutValue("ceiling_presentations", o.index, static_cast<double>(o.ceiling_presentations));
  }
}

Scores::Scores(const Participants& participants, const SharedArrays& shared, double ceiling_threshold)
    : participants_(participants), shared_(shared), ceiling_threshold_(ceiling_threshold) {}

bool Scores::Normalized() const {
  const auto& source = shared_.At("ceiling_source");
  return std::all_of(source.begin(), source.end(), [](float s) { return s > 0; });
}

std::string Scores::CeilingSource() const {
  const auto& source = shared_.At("ceiling_source");
  const auto& presentations = shared_.At("ceiling_presentations");
  std::set<std::pair<float, float>> kinds;
  for (size_t p = 0; p < source.size(); ++p) kinds.insert({source[p], presentations[p]});
  if (kinds.size() != 1) return "mixed";
  const auto [code, count] = *kinds.begin();
  const std::string_view name = kCeilingSources[static_cast<int>(code)];
  if (name == "repeats") return absl::StrFormat("repeats (run + %d repeats)", static_cast<int>(count) - 1);
  if (name == "repeats-mean") return absl::StrFormat("repeats (run = mean of %d)", static_cast<int>(count));
  return std::string(name);
}

torch::Tensor Scores::PerTarget(const std::string& key, int p) const {
  torch::Tensor r = shared_.Slice(key, p);
  if (!Normalized()) return r;
  return NormalizedScores(r, shared_.Slice("ceiling", p), ceiling_threshold_);
}

std::map<std::string, std::vector<double>> Scores::RoiMeans(const std::string& key) const {
  const size_t n = participants_.ids.size();
  std::map<std::string, std::vector<double>> out;
  out[kAllTargets].assign(n, std::nan(""));
  for (const std::string& roi : participants_.rois) out[roi].assign(n, std::nan(""));
  for (size_t p = 0; p < n; ++p) {
    torch::Tensor s = PerTarget(key, static_cast<int>(p));
    auto mean = [](const MeanSem& m) { return m.n > 0 ? m.mean : std::nan(""); };
    out[kAllTargets][p] = mean(Summarize(s));
    for (const auto& [roi, m] : SummarizeRois(s, participants_.RoisOf(static_cast<int>(p)))) out[roi][p] = mean(m);
  }
  return out;
}

std::map<std::string, std::vector<double>> Scores::UnscaledRoiMeans(const std::string& key) const {
  const size_t n = participants_.ids.size();
  std::map<std::string, std::vector<double>> out;
  out[kAllTargets].assign(n, std::nan(""));
  for (const std::string& roi : participants_.rois) out[roi].assign(n, std::nan(""));
  for (size_t p = 0; p < n; ++p) {
    torch::Tensor s = shared_.Slice(key, static_cast<int>(p));
    if (Normalized()) {
      s = torch::where(shared_.Slice("ceiling", static_cast<int>(p)) > ceiling_threshold_, s,
                       torch::full_like(s, std::nan("")));
    }
    auto mean = [](const MeanSem& m) { return m.n > 0 ? m.mean : std::nan(""); };
    out[kAllTargets][p] = mean(Summarize(s));
    for (const auto& [roi, m] : SummarizeRois(s, participants_.RoisOf(static_cast<int>(p)))) out[roi][p] = mean(m);
  }
  return out;
}

std::map<std::string, std::vector<double>> Scores::CeilingRoiMeans() const {
  const size_t n = participants_.ids.size();
  std::map<std::string, std::vector<double>> means;
  means[kAllTargets].assign(n, 0);
  for (const auto& roi : participants_.rois) means[roi].assign(n, std::nan(""));
  for (size_t p = 0; p < n; ++p) {
    torch::Tensor ct = shared_.Slice("ceiling", static_cast<int>(p));
    means[kAllTargets][p] = ct.mean().item<double>();
    for (const auto& [roi, m] : SummarizeRois(ct, participants_.RoisOf(static_cast<int>(p)))) means[roi][p] = m.mean;
  }
  return means;
}

// Never on the test story: choosing on it would bias the reported score upwards.
std::map<std::string, int> Scores::BestLayers(const std::string& model, const std::vector<int>& layers) const {
  std::map<std::string, int> best;
  std::map<std::string, double> best_score;
  for (int l : layers) {
    // ROI -> participant -> mean cross-validated R^2 over the ROI's (unmasked) targets.
    std::map<std::string, std::vector<double>> means;
    for (size_t p = 0; p < participants_.ids.size(); ++p) {
      torch::Tensor values = shared_.Slice(LayerArray(model, l, "cv_r2"), static_cast<int>(p));
      if (Normalized()) {
        values = torch::where(shared_.Slice("ceiling", static_cast<int>(p)) > ceiling_threshold_, values,
                              torch::full_like(values, std::nan("")));
      }
      means[kAllTargets].push_back(Summarize(values).mean);
      for (const auto& [roi, m] : SummarizeRois(values, participants_.RoisOf(static_cast<int>(p)))) {
        if (m.n > 0) means[roi].push_back(m.mean);
      }
    }
    for (const auto& [roi, values] : means) {
      const double s = Summarize(torch::tensor(values, torch::kFloat64)).mean;
      if (std::isfinite(s) && (!best.count(roi) || s > best_score[roi])) best[roi] = l, best_score[roi] = s;
    }
  }
  if (!best.count(kAllTargets)) best[kAllTargets] = layers[0];  // no finite score anywhere
  return best;
}

}  // namespace braintune::eval
