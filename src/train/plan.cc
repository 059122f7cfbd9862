#include "train/plan.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "data/resample.h"

namespace braintune::train {

absl::StatusOr<std::vector<std::vector<std::string>>> AssignParticipants(std::vector<ParticipantLoad> loads,
                                                                         int ranks) {
  if (ranks < 1) return absl::InvalidArgumentError("need at least one rank");
  if (static_cast<int>(loads.size()) < ranks) {
    return absl::InvalidArgumentError(absl::StrCat("the job asks for ", ranks, " ranks but the dataset has only ",
                                                   loads.size(), " participants; use at most ", loads.size(),
                                                   " ranks"));
  }
  std::stable_sort(loads.begin(), loads.end(), [](const ParticipantLoad& a, const ParticipantLoad& b) {
    return a.samples != b.samples ? a.samples > b.samples : a.id < b.id;
  });
  std::vector<std::vector<std::string>> out(ranks);
  std::vector<int64_t> load(ranks, 0);
  for (const auto& p : loads) {
    int best = 0;
    for (int r = 1; r < ranks; ++r) {
      // Empty ranks first, so every rank owns someone; then the least loaded.
      bool r_better = out[r].empty() != out[best].empty() ? out[r].empty() : load[r] < load[best];
      if (r_better) best = r;
    }
    out[best].push_back(p.id);
    load[best] += p.samples;
  }
  for (auto& ids : out) std::sort(ids.begin(), ids.end());
  return out;
}

absl::StatusOr<std::vector<std::vector<Shard>>> AssignShards(const data::Dataset& ds, const Plan& plan,
                                                             const std::vector<std::string>& participants,
                                                             int ranks) {
  std::vector<Shard> shards;
  std::vector<ParticipantLoad> loads;
  for (const auto& id : participants) {
    const data::Participant* p = ds.FindParticipant(id);
    int64_t total = 0;
    for (const auto& run : p->runs) {
      int s = StoryIndex(plan, run.story);
      if (s < 0) continue;
      const int64_t train = plan.stories[s].test ? 0 : run.n_times;
      shards.push_back({id, s, run.n_times, train});
      total += train;
    }
    loads.push_back({id, total});
  }
  std::vector<std::vector<Shard>> out(ranks);
  if (static_cast<int>(participants.size()) >= ranks) {
    ASSIGN_OR_RETURN(auto by_participant, AssignParticipants(loads, ranks));
    for (int r = 0; r < ranks; ++r) {
      for (const auto& shard : shards) {
        if (std::count(by_participant[r].begin(), by_participant[r].end(), shard.participant)) out[r].push_back(shard);
      }
    }
    return out;
  }
  if (static_cast<int>(shards.size()) < ranks) {
    return absl::InvalidArgumentError(absl::StrCat("the job asks for ", ranks, " ranks but the selected participants have only ",
                                                   shards.size(), " story runs in all; use at most ", shards.size(),
                                                   " ranks"));
  }
  std::vector<Shard> order = shards;
  std::stable_sort(order.begin(), order.end(),
                   [](const Shard& a, const Shard& b) { return a.train_samples > b.train_samples; });
  std::vector<int64_t> load(ranks, 0);
  for (const auto& shard : order) {
    int best = 0;
    for (int r = 1; r < ranks; ++r) {
      bool r_better = out[r].empty() != out[best].empty() ? out[r].empty()
                      : load[r] != load[best]                 ? load[r] < load[best]
                                                              : out[r].size() < out[best].size();
      if (r_better) best = r;
    }
    out[best].push_back(shard);
    load[best] += shard.train_samples;
  }
  for (auto& rank_shards : out) {
    std::sort(rank_shards.begin(), rank_shards.end(), [](const Shard& a, const Shard& b) {
      return a.participant != b.participant ? a.participant < b.participant : a.story < b.story;
    });
  }
  return out;
}

std::vector<Window> GlobalBatch(const Plan& plan, uint64_t seed, int batch_size, int64_t step) {
  const int64_t n = static_cast<int64_t>(plan.train_windows.size());
  std::vector<Window> batch;
  int64_t cached_epoch = -1;
  std::vector<int64_t> perm;
  for (int i = 0; i < batch_size; ++i) {
    int64_t g = (step - 1) * batch_size + i;
    int64_t epoch = g / n;
    if (epoch != cached_epoch) {
      perm.resize(n);
      std::iota(perm.begin(), perm.end(), 0);
      std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 1);
      // Fisher-Yates with our own draws: std::shuffle's order differs between standard libraries.
      for (int64_t k = n - 1; k > 0; --k) std::swap(perm[k], perm[rng() % static_cast<uint64_t>(k + 1)]);
      cached_epoch = epoch;
    }
    batch.push_back(plan.train_windows[perm[g % n]]);
  }
  return batch;
}

int StoryIndex(const Plan& plan, const std::string& name) {
  for (size_t s = 0; s < plan.stories.size(); ++s) {
    if (plan.stories[s].name == name) return static_cast<int>(s);
  }
  return -1;
}

int64_t WindowStart(const Plan& plan, const Window& w) {
  const StoryTiming& t = plan.stories[w.story];
  const double end_time = t.t0 + (w.index + 1) * t.tr;  // the window ends with its TR
  return static_cast<int64_t>(std::llround(end_time * plan.sample_rate)) - plan.window_samples;
}

std::string DefaultTestStory(const data::Dataset& ds, const std::vector<std::string>& participants) {
  std::string last;
  for (const auto& p : ds.participants) {
    if (!participants.empty() && std::find(participants.begin(), participants.end(), p.id) == participants.end()) continue;
    for (const auto& run : p.runs) last = std::max(last, run.story);
  }
  return last;
}

absl::StatusOr<Plan> MakePlan(const data::Dataset& ds, const config::DataSpec& spec,
                              const model::InputContract& input, bool text) {
  Plan plan;
  plan.input = input;
  plan.text = text;
  std::set<std::string> wanted(spec.participants.begin(), spec.participants.end());
  for (const auto& id : spec.participants) {
    if (!ds.FindParticipant(id)) {
      return absl::InvalidArgumentError(absl::StrCat(ds.path, ": data.participants: no participant '", id, "'"));
    }
  }
  std::map<std::string, StoryTiming> timing;
  for (const auto& p : ds.participants) {
    if (!wanted.empty() && !wanted.count(p.id)) continue;
    for (const auto& run : p.runs) {
      auto [it, inserted] = timing.emplace(run.story, StoryTiming{run.story, run.n_times, run.tr, run.t0, false});
      const StoryTiming& t = it->second;
      if (!inserted && (t.n_times != run.n_times || std::abs(t.tr - run.tr) > 1e-9 || std::abs(t.t0 - run.t0) > 1e-9)) {
        return absl::InvalidArgumentError(absl::StrCat(
            ds.path, ": /participants/", p.id, "/runs/", run.story,
            "/responses: timing differs from other participants of this story (n_times, tr, t0 = ", run.n_times,
            ", ", run.tr, ", ", run.t0, " vs ", t.n_times, ", ", t.tr, ", ", t.t0,
            "); the trainer needs one TR grid per story"));
      }
    }
  }
  if (timing.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(ds.path, ": need at least 2 stories (train and test), found ",
                                                   timing.size()));
  }
  std::vector<std::string> tests = spec.test_stories;
  if (tests.empty()) tests.push_back(DefaultTestStory(ds, spec.participants));
  for (const auto& t : tests) {
    auto it = timing.find(t);
    if (it == timing.end()) {
      return absl::InvalidArgumentError(absl::StrCat("data.test_stories: '", t, "' is not a story of ", ds.path));
    }
    it->second.test = true;
  }
  plan.test_story_names = absl::StrJoin(tests, ",");
  double window_seconds = 0;
  for (auto& [name, t] : timing) {
    const data::Story* story = ds.FindStory(name);
    if (!text) {
      const std::string where = absl::StrCat(ds.path, ": /stimuli/", name, "/audio");
      ASSIGN_OR_RETURN(const double heard, model::HeardRate(input, story->sample_rate, spec.resample, where));
      if (plan.sample_rate == 0) plan.sample_rate = heard;
      if (std::abs(heard - plan.sample_rate) > 1e-6) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": sample_rate ", story->sample_rate, " Hz differs from other stories' ", plan.sample_rate,
            " Hz, and the model (", input.source, ") has no rate of its own to resample them all to"));
      }
      t.recorded_rate = story->sample_rate;
      t.recorded_samples = story->n_samples;
    }
    window_seconds = std::max(window_seconds, spec.context_seconds > 0 ? spec.context_seconds
                                               : ds.modality == "meg" ? kMegContextSeconds
                                                                      : spec.context_trs * t.tr);
    int story_index = static_cast<int>(plan.stories.size());
    plan.stories.push_back(t);
    const int64_t first = spec.trim_start, end = t.n_times - spec.trim_end;
    if (t.test) {
      for (int64_t i = first; i < end; ++i) plan.test_windows.push_back({story_index, i});
    } else {
      // The end of every training story is its validation share (contiguous, never shuffled TRs).
      const int64_t validation = static_cast<int64_t>(std::floor(std::max<int64_t>(0, end - first) * spec.validation_fraction));
      for (int64_t i = first; i < end; ++i) {
        (i >= end - validation ? plan.validation_windows : plan.train_windows).push_back({story_index, i});
      }
    }
  }
  if (plan.train_windows.empty() || plan.test_windows.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ds.path, ": no ", plan.train_windows.empty() ? "training" : "test",
        " samples left after trimming (data.trim_start=", spec.trim_start, ", data.trim_end=", spec.trim_end, ")"));
  }
  plan.window_seconds = window_seconds;
  plan.window_samples = static_cast<int64_t>(std::llround(window_seconds * plan.sample_rate));
  return plan;
}

WindowSpan ValidSpan(const Plan& plan, const Window& w) {
  const int64_t start = WindowStart(plan, w);
  const StoryTiming& t = plan.stories[w.story];
  const int64_t n = data::ResampledLength(t.recorded_samples, t.recorded_rate, plan.sample_rate);
  WindowSpan span;
  span.begin = std::clamp<int64_t>(-start, 0, plan.window_samples);
  span.end = std::clamp<int64_t>(n - start, span.begin, plan.window_samples);
  return span;
}

void CutWindow(const Plan& plan, const std::vector<float>& audio, const Window& w, float* out) {
  const int64_t start = WindowStart(plan, w);
  const int64_t n = static_cast<int64_t>(audio.size());
  for (int64_t k = 0; k < plan.window_samples; ++k) {
    int64_t src = start + k;
    out[k] = (src >= 0 && src < n) ? audio[src] : 0.0f;
  }
}

bool NeedsResampling(const Plan& plan, int s) {
  return std::abs(plan.stories[s].recorded_rate - plan.sample_rate) > 1e-6;
}

std::string InputTable(const Plan& plan) {
  std::vector<std::pair<std::string, double>> stories;
  for (const StoryTiming& t : plan.stories) stories.emplace_back(t.name, t.recorded_rate);
  // The plan exists, so every story's rate was accepted (model::HeardRate).
  return model::InputLines("braintune-train", plan.input, stories, /*resample=*/true);
}

std::string ShardingTable(const Plan& plan, const std::vector<std::vector<Shard>>& assignment, size_t participants) {
  std::map<std::string, int> stories_of;  // participant -> its shards on all ranks
  for (const auto& rank : assignment) {
    for (const Shard& s : rank) stories_of[s.participant] += 1;
  }
  std::string out = absl::StrCat("braintune-train: ", assignment.size(), " ranks, ", participants, " participants, ",
                                 plan.stories.size(), " stories (test: ", plan.test_story_names, "), ",
                                 plan.train_windows.size(),
                                 " training windows of ",
                                 plan.text ? absl::StrCat(plan.window_seconds, " s of words")
                                           : absl::StrCat(plan.window_samples, " samples"),
                                 "\n");
  for (size_t r = 0; r < assignment.size(); ++r) {
    // A participant whose every story is here is listed by name; split ones as name:story.
    std::map<std::string, std::vector<std::string>> stories;
    int64_t samples = 0;
    for (const Shard& s : assignment[r]) {
      stories[s.participant].push_back(plan.stories[s.story].name);
      samples += s.train_samples;
    }
    std::vector<std::string> names;
    for (const auto& [pid, list] : stories) {
      if (static_cast<int>(list.size()) == stories_of[pid]) {
        names.push_back(pid);
      } else {
        for (const auto& story : list) names.push_back(pid + ":" + story);
      }
    }
    absl::StrAppend(&out, "  rank ", r, ": ", absl::StrJoin(names, ", "), " (", samples, " training samples)\n");
  }
  return out;
}

}  // namespace braintune::train
