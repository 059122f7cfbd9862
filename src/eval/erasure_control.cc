#include "eval/erasure_control.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/features.h"
#include "eval/metrics.h"

namespace braintune::eval {

using torch::Tensor;

namespace {

// The layer's features at each word's offset, and the concept per word, of one story.
absl::StatusOr<std::pair<Tensor, Tensor>> WordRows(const data::Story& story, const StoryFeatures& f, const Tensor& z,
                                                   const std::string& concept) {
  std::vector<double> offsets;
  for (const data::Interval& w : story.words) offsets.push_back(w.offset);
  const Tensor at = torch::tensor(offsets, torch::kFloat64);
  // A text model's features are its words' already; a speech model's are resampled there.
  const bool per_word = f.times.size(0) == at.size(0) && torch::allclose(f.times.to(torch::kFloat64), at);
  Tensor x = per_word ? f.values.to(torch::kFloat64) : LanczosResample(f.values.to(torch::kFloat64), f.times, at);
  if (z.size(0) != x.size(0)) {
    return absl::InternalError(absl::StrCat("story ", story.name, ": ", z.size(0), " values of ", concept, " for ",
                                            x.size(0), " words"));
  }
  return std::make_pair(x, z);
}

}  // namespace

absl::StatusOr<ErasureFit> FitErasure(const Participants& participants, const LayerFeatures& at,
                                      const std::string& concept) {
  std::vector<std::string> names;
  for (const auto& [name, f] : at) {
    const data::Story* story = participants.dataset.FindStory(name);
    if (story == nullptr || story->words.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("story ", name, ": the erasure control needs /stimuli/", name,
                                                     "/words"));
    }
    names.push_back(name);
  }
  ASSIGN_OR_RETURN(const auto concepts, WordConcepts(participants.dataset, names, concept));
  std::vector<Tensor> xs_train, zs_train, xs_test, zs_test;
  for (const auto& [name, f] : at) {
    ASSIGN_OR_RETURN(auto rows, WordRows(*participants.dataset.FindStory(name), f, concepts.at(name), concept));
    const bool test = std::count(participants.test_stories.begin(), participants.test_stories.end(), name) > 0;
    (test ? xs_test : xs_train).push_back(rows.first);
    (test ? zs_test : zs_train).push_back(rows.second);
  }
  if (xs_train.empty() || xs_test.empty()) {
    return absl::InvalidArgumentError("the erasure control needs words in both training and test stories");
  }
  ErasureFit fit;
  fit.concept = concept;
  const Tensor x_train = torch::cat(xs_train), z_train = torch::cat(zs_train);
  const Tensor x_test = torch::cat(xs_test), z_test = torch::cat(zs_test);
  fit.train_words = x_train.size(0);
  fit.test_words = x_test.size(0);
  if (fit.train_words < 2) return absl::InvalidArgumentError("the erasure control needs at least 2 training words");
  if (!torch::isfinite(x_train).all().item<bool>() || !torch::isfinite(x_test).all().item<bool>()) {
    return absl::InvalidArgumentError("the erasure control: the layer's features are not all finite (the model's "
                                      "weights?)");
  }
  fit.eraser = FitLeace(x_train, z_train);
  const Tensor erased_train = fit.eraser.Apply(x_train);
  fit.probe_r2_before = ProbeR2(x_train, z_train, x_test, z_test);
  fit.probe_r2_after = ProbeR2(erased_train, z_train, fit.eraser.Apply(x_test), z_test);
  const double total = (x_train - x_train.mean(0)).pow(2).sum().item<double>();
  const double left = (erased_train - erased_train.mean(0)).pow(2).sum().item<double>();
  fit.variance_removed = total > 0 ? 1.0 - left / total : 0.0;
  return fit;
}

absl::StatusOr<NextTokenLoss> NextTokenLossOfErasure(model::TextEncoderImpl& encoder, const model::Tokenizer& tokenizer,
                                                     const Participants& participants, const ErasureFit& fit, int layer) {
  const int64_t chunk = std::min<int64_t>(256, encoder.config().max_position_embeddings);
  const torch::Device device = encoder.parameters()[0].device();
  torch::NoGradGuard no_grad;
  encoder.eval();
  auto erase = [&](const Tensor& h) {
    return fit.eraser.Apply(h.reshape({-1, h.size(-1)}).to(torch::kCPU)).to(h.device(), h.scalar_type()).view(h.sizes());
  };
  double sums[2] = {0, 0};
  NextTokenLoss out;
  for (const std::string& name : participants.test_stories) {
    const data::Story* story = participants.dataset.FindStory(name);
    if (story == nullptr || story->words.empty()) continue;
    std::vector<std::string> words;
    for (const data::Interval& w : story->words) words.push_back(w.text);
    ASSIGN_OR_RETURN(model::WordTokens tokens,
                     tokenizer.EncodeWords(words, absl::StrCat("/stimuli/", name, "/words/text")));
    for (size_t begin = 0; begin + 1 < tokens.ids.size() && out.tokens < kMaxNextTokenLossTokens; begin += chunk) {
      const int64_t n = std::min<int64_t>(chunk, static_cast<int64_t>(tokens.ids.size() - begin));
      if (n < 2) break;
      const Tensor ids = torch::tensor(std::vector<int64_t>(tokens.ids.begin() + begin, tokens.ids.begin() + begin + n),
                                       torch::kLong).unsqueeze(0).to(device);
      const Tensor target = ids.narrow(1, 1, n - 1).reshape({-1});
      int k = 0;
      for (const auto& edit : {std::function<Tensor(const Tensor&)>{}, std::function<Tensor(const Tensor&)>{erase}}) {
        ASSIGN_OR_RETURN(Tensor logits, encoder.NextTokenLogits(ids, Tensor(), layer, edit));
        const Tensor l = logits.narrow(1, 0, n - 1).reshape({n - 1, -1}).to(torch::kFloat32);
        sums[k++] += torch::nn::functional::cross_entropy(
                         l, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                         .item<double>();
      }
      out.tokens += n - 1;
    }
  }
  if (out.tokens == 0) return absl::InvalidArgumentError("the next-token check needs words in the test stories");
  out.before = sums[0] / static_cast<double>(out.tokens);
  out.after = sums[1] / static_cast<double>(out.tokens);
  return out;
}

void DeclareErasureControl(const std::string& model, SharedArrays* shared) { shared->Declare(ErasureArray(model)); }

LayerFeatures EraseLayer(const ErasureFit& fit, const LayerFeatures& at) {
  LayerFeatures erased;
  for (const auto& [name, f] : at) erased[name] = StoryFeatures{f.times, fit.eraser.Apply(f.values)};
  return erased;
}

absl::Status RunErasureControl(const EncodingFitter& fitter, const LayerFeatures& erased, const OwnedParticipant& o,
                               const std::string& model, SharedArrays* shared) {
  ASSIGN_OR_RETURN(FitInputs in, fitter.Inputs(o, ModelFeaturesAt(erased)));
  RidgeModel ridge = FitRidgeCV(in.x_train, in.y_train, fitter.ridge());
  shared->PutTargets(ErasureArray(model), o.index, PearsonPerTarget(ridge.Predict(in.x_test), in.y_test));
  return absl::OkStatus();
}

}  // namespace braintune::eval
