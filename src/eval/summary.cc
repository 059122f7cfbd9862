#include "eval/summary.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"

#include "eval/metrics.h"
#include "eval/participants.h"
#include "eval/scores.h"
#include "eval/shared_arrays.h"

namespace braintune::eval {
namespace {

using RoiMeans = std::map<std::string, std::vector<double>>;  // ROI -> participant -> mean
using RoiScores = google::protobuf::RepeatedPtrField<v1::RoiScore>;

void AddRoiScore(const std::string& roi, const MeanSem& m, RoiScores* out) {
  v1::RoiScore* s = out->Add();
  s->set_roi(roi);
  s->mutable_score()->set_mean(m.mean);
  s->mutable_score()->set_sem(m.sem);
  s->mutable_score()->set_n(m.n);
}

// Mean +- SEM over participants per ROI, "all" first.
void AddRoiScores(const RoiMeans& means, RoiScores* out) {
  auto add = [&](const std::string& roi) {
    AddRoiScore(roi, Summarize(torch::tensor(means.at(roi), torch::kFloat64)), out);
  };
  add(kAllTargets);
  for (const auto& [roi, values] : means) {
    if (roi != kAllTargets) add(roi);
  }
}

void AddLayer(const Scores& scores, const Participants& j, const SharedArrays& shared, const std::string& model,
              int layer, v1::LayerScores* ls) {
  const std::string key = LayerArray(model, layer, "r");
  ls->set_layer(layer);
  AddRoiScores(scores.RoiMeans(key), ls->mutable_rois());
  for (size_t p = 0; p < j.ids.size(); ++p) {
    v1::ParticipantLayerScores* ps = ls->add_participants();
    ps->set_participant(j.ids[p]);
    torch::Tensor s = scores.PerTarget(key, static_cast<int>(p));
    AddRoiScore(kAllTargets, Summarize(s), ps->mutable_rois());
    for (const auto& [roi, m] : SummarizeRois(s, j.RoisOf(static_cast<int>(p)))) AddRoiScore(roi, m, ps->mutable_rois());
    ps->set_mean_r(shared.Slice(key, static_cast<int>(p)).mean().item<double>());
  }
}

// A control's scores per ROI at the best layer: before, after and their difference.
template <typename Control>
void AddBeforeAfter(const Scores& scores, const EvaluatedModel& m, const std::string& after_key, Control* c) {
  c->set_layer(m.best_layer);
  RoiMeans before = scores.RoiMeans(LayerArray(m.name, m.best_layer, "r"));
  RoiMeans after = scores.RoiMeans(after_key);
  RoiMeans drop = before;
  for (auto& [roi, values] : drop) {
    for (size_t p = 0; p < values.size(); ++p) values[p] -= after[roi][p];
  }
  AddRoiScores(before, c->mutable_before());
  AddRoiScores(after, c->mutable_after());
  AddRoiScores(drop, c->mutable_drop());
}

void AddRemoval(const Scores& scores, const std::vector<std::string>& confounds, const EvaluatedModel& m,
                v1::RemovalScores* rm) {
  for (const auto& c : confounds) rm->add_confounds(c);
  AddBeforeAfter(scores, m, RemovalArray(m.name), rm);
}

void AddErasure(const Scores& scores, const EvaluatedModel& m, v1::ErasureScores* er) {
  const ErasureFit& f = *m.erasure;
  er->set_concept(f.concept);
  er->set_probe_r2_before(f.probe_r2_before);
  er->set_probe_r2_after(f.probe_r2_after);
  er->set_variance_removed(f.variance_removed);
  er->set_train_words(f.train_words);
  er->set_test_words(f.test_words);
  er->set_complete(f.probe_r2_after <= kErasedProbeR2);
  if (f.next_token) {
    er->set_next_token_loss_before(f.next_token->before);
    er->set_next_token_loss_after(f.next_token->after);
    er->set_next_token_tokens(f.next_token->tokens);
  }
  AddBeforeAfter(scores, m, ErasureArray(m.name), er);
}

void AddVariancePartitioning(const Scores& scores, const std::vector<std::string>& confounds, const EvaluatedModel& m,
                             v1::VariancePartitionScores* vp) {
  vp->set_layer(m.best_layer);
  for (const auto& c : confounds) vp->add_confounds(c);
  auto add = [&](const char* what, RoiScores* out) {
    AddRoiScores(scores.UnscaledRoiMeans(ControlArray(m.name, "variance_partitioning", what)), out);
  };
  add("joint_r2", vp->mutable_joint_r2());
  add("model_r2", vp->mutable_model_r2());
  add("lowlevel_r2", vp->mutable_lowlevel_r2());
  add("unique_model", vp->mutable_unique_model());
  add("unique_lowlevel", vp->mutable_unique_lowlevel());
  add("shared", vp->mutable_shared());
}

// Per ROI, the FDR-significant targets: counts summed over participants, shares averaged.
void AddPermutation(const Participants& j, const SharedArrays& shared, const config::EvaluationSpec& e,
                    const EvaluatedModel& m, v1::PermutationScores* ps) {
  ps->set_layer(m.best_layer);
  ps->set_permutations(e.permutations);
  ps->set_block_trs(e.permutation_block_trs);
  ps->set_fdr_q(e.fdr_q);
  const auto& blocks = shared.At(ControlArray(m.name, "permutation", "blocks"));
  ps->set_min_blocks(blocks.empty() ? 0 : static_cast<int32_t>(*std::min_element(blocks.begin(), blocks.end())));
  std::map<std::string, std::vector<double>> shares;  // ROI -> participant -> share
  std::map<std::string, std::pair<int64_t, int64_t>> counts;  // ROI -> significant, targets
  for (size_t p = 0; p < j.ids.size(); ++p) {
    const std::vector<float> significant = shared.Values(ControlArray(m.name, "permutation", "significant"), static_cast<int>(p));
    auto add = [&](const std::string& roi, int64_t hits, int64_t targets) {
      counts[roi].first += hits;
      counts[roi].second += targets;
      if (targets > 0) shares[roi].push_back(static_cast<double>(hits) / targets);
    };
    int64_t all = 0;
    for (float v : significant) all += v > 0.5f;
    add(kAllTargets, all, static_cast<int64_t>(significant.size()));
    for (const auto& [roi, indices] : j.RoisOf(static_cast<int>(p))) {
      int64_t hits = 0;
      for (int32_t i : indices) hits += significant[i] > 0.5f;
      add(roi, hits, static_cast<int64_t>(indices.size()));
    }
  }
  auto add_roi = [&](const std::string& roi) {
    v1::PermutationRoi* r = ps->add_rois();
    r->set_roi(roi);
    r->set_significant(counts[roi].first);
    r->set_targets(counts[roi].second);
    const MeanSem share = Summarize(torch::tensor(shares[roi], torch::kFloat64));
    r->mutable_share()->set_mean(share.mean);
    r->mutable_share()->set_sem(share.sem);
    r->mutable_share()->set_n(share.n);
  };
  add_roi(kAllTargets);
  for (const auto& [roi, c] : counts) {
    if (roi != kAllTargets) add_roi(roi);
  }
}

// Per ROI, model b against model a, each at its best layer for the ROI.
void AddComparison(const Participants& j, const Scores& scores, const EvaluatedModel& a, const EvaluatedModel& b,
                   v1::EvaluationSummary* s) {
  std::map<std::string, RoiMeans> means;  // array -> its ROI means, each computed once
  auto roi_means = [&](const std::string& model, int layer, const std::string& roi) {
    const std::string key = LayerArray(model, layer, "r");
    if (!means.count(key)) means[key] = scores.RoiMeans(key);
    return means[key].at(roi);
  };
  for (const auto& [roi, layer_a] : a.best_layers) {
    if (!b.best_layers.count(roi)) continue;
    const int layer_b = b.best_layers.at(roi);
    const std::vector<double> av = roi_means(a.name, layer_a, roi);
    const std::vector<double> bv = roi_means(b.name, layer_b, roi);
    PairedTestResult t = PairedSignFlipTest(av, bv);
    v1::PairedTest* pt = s->add_comparisons();
    pt->set_model_a(a.name);
    pt->set_model_b(b.name);
    pt->set_roi(roi);
    pt->set_layer_a(layer_a);
    pt->set_layer_b(layer_b);
    for (size_t p = 0; p < j.ids.size(); ++p) {
      pt->add_participants(j.ids[p]);
      pt->add_a(av[p]);
      pt->add_b(bv[p]);
    }
    pt->set_mean_difference(t.mean_difference);
    pt->set_sem_difference(t.sem_difference);
    pt->set_t(t.t);
    pt->set_p_value(t.p_value);
    pt->set_permutations(static_cast<int32_t>(t.permutations));
    pt->set_n(static_cast<int32_t>(t.n));
  }
}

}  // namespace

v1::EvaluationSummary Summarise(const config::JobSpec& spec, const Participants& participants,
                                const SharedArrays& shared, const std::vector<EvaluatedModel>& models,
                                const std::vector<std::string>& probe_notes) {
  const config::EvaluationSpec& e = spec.evaluation;
  const Scores scores(participants, shared, e.ceiling_threshold);
  v1::EvaluationSummary s;
  s.set_name(spec.name);
  s.set_dataset(spec.data.path);
  s.set_modality(participants.dataset.modality);
  for (const auto& t : participants.test_stories) s.add_test_stories(t);
  s.set_score(scores.Normalized() ? "normalized" : "r");
  s.set_ceiling_threshold(e.ceiling_threshold);
  for (const auto& p : participants.ids) s.add_participants(p);
  s.set_participant_split(participants.split);
  for (const std::string& note : probe_notes) s.add_probe_notes(note);
  for (const EvaluatedModel& m : models) {
    for (const ProbeResult& r : m.probes) {
      if (std::isnan(r.accuracy)) {
        s.add_probe_notes(absl::StrCat(m.name, ": ", r.probe, " probe at layer ", r.layer, ": no score (",
                                       r.train_items, " training items, ", r.test_items, " test items, ", r.classes,
                                       " labels)"));
      }
    }
  }
  for (const auto& p : participants.tuned) s.add_tuned_participants(p);
  s.set_ceiling_source(scores.CeilingSource());
  // The ceiling itself, summarised like a score (mean over a ROI's targets per participant).
  if (scores.Normalized()) AddRoiScores(scores.CeilingRoiMeans(), s.mutable_noise_ceiling());
  for (const EvaluatedModel& m : models) {
    v1::ModelScores* ms = s.add_models();
    ms->set_name(m.name);
    ms->set_checkpoint(m.checkpoint);
    for (const std::string& f : m.features) ms->add_features(f);
    ms->set_best_layer(m.best_layer);
    for (const auto& [roi, layer] : m.best_layers) (*ms->mutable_best_layer_by_roi())[roi] = layer;
    for (const ProbeResult& r : m.probes) {
      v1::ProbeScore* ps = ms->add_probes();
      ps->set_probe(r.probe);
      ps->set_layer(r.layer);
      ps->set_accuracy(r.accuracy);
      ps->set_chance(r.chance);
      ps->set_cv_accuracy(r.cv_accuracy);
      ps->set_classes(r.classes);
      ps->set_train_items(static_cast<int32_t>(r.train_items));
      ps->set_test_items(static_cast<int32_t>(r.test_items));
    }
    for (int l : m.layers) AddLayer(scores, participants, shared, m.name, l, ms->add_layers());
    if (shared.Has(RemovalArray(m.name))) AddRemoval(scores, e.confounds, m, ms->mutable_removal());
    if (m.erasure && shared.Has(ErasureArray(m.name))) AddErasure(scores, m, ms->mutable_erasure());
    if (shared.Has(ControlArray(m.name, "variance_partitioning", "shared"))) {
      AddVariancePartitioning(scores, e.confounds, m, ms->mutable_variance_partitioning());
    }
    if (shared.Has(ControlArray(m.name, "permutation", "significant"))) {
      AddPermutation(participants, shared, e, m, ms->mutable_permutation());
    }
    // Each ROI at its own best layer (the evaluator swept every such layer).
    for (size_t f = 0; f < e.data_fractions.size() && shared.Has(SweepArray(m.name, m.best_layer, f, "r")); ++f) {
      v1::SweepPoint* sp = ms->add_sweep();
      sp->set_fraction(e.data_fractions[f]);
      const auto& rows = shared.At(SweepArray(m.name, m.best_layer, f, "rows"));
      sp->set_train_samples(static_cast<int64_t>(*std::min_element(rows.begin(), rows.end())));
      RoiMeans at_own_layer;
      for (const auto& [roi, layer] : m.best_layers) {
        RoiMeans at = scores.RoiMeans(SweepArray(m.name, layer, f, "r"));
        if (auto it = at.find(roi); it != at.end()) at_own_layer[roi] = it->second;
      }
      AddRoiScores(at_own_layer, sp->mutable_rois());
    }
  }
  for (size_t j = 1; j < models.size(); ++j) AddComparison(participants, scores, models[0], models[j], &s);
  s.set_context_seconds(e.context_seconds);
  s.set_stride_seconds(e.stride_seconds);
  return s;
}

}  // namespace braintune::eval
