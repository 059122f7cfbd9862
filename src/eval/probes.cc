#include "eval/probes.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"

namespace braintune::eval {
namespace {

using Tensor = torch::Tensor;

// A probe's items of one split: feature rows and labels (indices into `names`).
struct Items {
  std::vector<Tensor> rows;
  std::vector<int64_t> labels;
};

// The label names of `story`'s items, with the time each item ends.
std::vector<std::pair<double, std::string>> Labelled(const data::Story& story, const std::string& probe) {
  std::vector<std::pair<double, std::string>> out;
  if (probe == kPhonemeProbe) {
    for (const data::Interval& p : story.phonemes) out.emplace_back(p.offset, p.text);
  } else {
    const std::vector<int32_t> classes = probe == kContextClassProbe ? ContextClasses(story) : story.word_classes;
    for (size_t i = 0; i < story.words.size() && i < classes.size(); ++i) {
      out.emplace_back(story.words[i].offset, std::to_string(classes[i]));
    }
  }
  return out;
}

}  // namespace

std::vector<int32_t> ContextClasses(const data::Story& story) {
  const size_t n = std::min(story.words.size(), story.word_classes.size());
  std::vector<int32_t> out(n);
  std::map<int32_t, double> weight;  // class -> weight, reset per word
  for (size_t i = 0; i < n; ++i) {
    const double end = story.words[i].offset;
    weight.clear();
    // Words ending more than 10 time constants ago weigh < 5e-5 of a new one: left out.
    for (size_t k = i + 1; k-- > 0;) {
      const data::Interval& w = story.words[k];
      const double age = end - w.offset;
      if (age > 10 * kContextClassSeconds) break;
      weight[story.word_classes[k]] += (w.offset - w.onset) * std::exp(-age / kContextClassSeconds);
    }
    // The heaviest class; a tie goes to the current word's class, then to the smaller label.
    int32_t best = story.word_classes[i];
    for (const auto& [c, v] : weight) {
      if (v > weight[best]) best = c;
    }
    out[i] = best;
  }
  return out;
}

std::string ProbeUnavailable(const Participants& j, const std::string& probe) {
  std::set<std::string> labels;
  for (const std::string& name : j.heard) {
    const data::Story* s = j.dataset.FindStory(name);
    if (probe == kPhonemeProbe && s->phonemes.empty()) return "a story heard has no phoneme timings";
    if (probe != kPhonemeProbe && s->word_classes.empty()) return "a story heard has no word classes (words/class)";
    for (const auto& item : Labelled(*s, probe)) labels.insert(item.second);
  }
  // One classifier output per label: a vocabulary's worth would take gigabytes.
  if (labels.size() > kMaxProbeClasses) {
    return absl::StrCat(labels.size(), " different labels, more than ", kMaxProbeClasses);
  }
  return "";
}

ProbeResult RunProbe(const Participants& j, const LayerFeatures& features, int layer, const std::string& probe,
                     const RidgeOptions& ridge) {
  std::map<std::string, int64_t> index;  // label -> class; training labels first
  Items train, test;
  for (bool test_split : {false, true}) {
    for (const auto& [name, f] : features) {
      if (j.IsTest(name) != test_split) continue;
      const auto times = f.times.contiguous();
      const double* t = times.data_ptr<double>();
      const int64_t m = times.numel();
      for (const auto& [end, label] : Labelled(*j.dataset.FindStory(name), probe)) {
        const int64_t row = std::lower_bound(t, t + m, end - 1e-9) - t;
        if (row >= m) continue;  // after the last window
        if (!test_split) index.emplace(label, static_cast<int64_t>(index.size()));
        Items& items = test_split ? test : train;
        items.rows.push_back(f.values[row]);
        auto it = index.find(label);
        items.labels.push_back(it == index.end() ? -1 : it->second);  // -1: never seen in training
      }
    }
  }
  ProbeResult r;
  r.probe = probe;
  r.layer = layer;
  r.classes = static_cast<int>(index.size());
  r.train_items = static_cast<int64_t>(train.rows.size());
  r.test_items = static_cast<int64_t>(test.rows.size());
  if (train.rows.size() < 2 * static_cast<size_t>(ridge.folds) || test.rows.empty() || index.size() < 2) {
    r.accuracy = r.chance = r.cv_accuracy = std::nan("");
    return r;
  }
  Tensor x = torch::stack(train.rows).to(torch::kFloat64);
  Tensor xt = torch::stack(test.rows).to(torch::kFloat64);
  const Tensor mean = x.mean(0), std = x.std(0, /*unbiased=*/false).clamp_min(1e-12);
  x = (x - mean) / std;
  xt = (xt - mean) / std;
  const Tensor y = torch::one_hot(torch::tensor(train.labels), static_cast<int64_t>(index.size())).to(torch::kFloat64);
  const RidgeModel model = FitRidgeCV(x, y, ridge);
  const Tensor predicted = model.Predict(xt).argmax(1);
  const Tensor truth = torch::tensor(test.labels);
  r.accuracy = (predicted == truth).to(torch::kFloat64).mean().item<double>();
  // The same probe scored on the training stories alone: each contiguous fold predicted by a
  // probe fitted on the other folds (the chosen alphas), for choosing a layer without the test.
  const int64_t n = x.size(0);
  const Tensor train_truth = torch::tensor(train.labels);
  int64_t right = 0;
  for (const auto& [begin, end] : ContiguousFolds(n, ridge.folds)) {
    const Tensor rest = torch::cat({x.slice(0, 0, begin), x.slice(0, end)});
    const Tensor rest_y = torch::cat({y.slice(0, 0, begin), y.slice(0, end)});
    const Tensor guess = FitRidge(rest, rest_y, model.alphas).Predict(x.slice(0, begin, end)).argmax(1);
    right += (guess == train_truth.slice(0, begin, end)).sum().item<int64_t>();
  }
  r.cv_accuracy = static_cast<double>(right) / static_cast<double>(n);
  const int64_t majority = y.sum(0).argmax().item<int64_t>();
  r.chance = (truth == majority).to(torch::kFloat64).mean().item<double>();
  return r;
}

}  // namespace braintune::eval
