#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "scheduler/scheduling_policy.h"

namespace braintune::scheduler {
namespace {

// Ranks of `job` that fit a node's free resources (0 when its GPUs have too little memory).
int RanksThatFit(const JobDemand& job, const Node& n, bool use_totals = false) {
  const int slots = use_totals ? n.slots : n.free_slots;
  if (job.gpus_per_rank == 0) return std::max(0, slots);
  if (n.gpu_memory_mb < job.gpu_memory_mb) return 0;
  const int gpus = use_totals ? n.gpus : n.free_gpus;
  return std::max(0, std::min(slots, gpus / job.gpus_per_rank));
}

void Take(const JobDemand& job, const std::vector<SlotAssignment>& where, std::vector<Node>* nodes,
          const std::map<std::string, size_t>& index, int sign = 1) {
  for (const SlotAssignment& a : where) {
    Node& n = (*nodes)[index.at(a.node)];
    n.free_slots -= sign * a.slots;
    n.free_gpus -= sign * a.slots * job.gpus_per_rank;
  }
}

std::string GpuText(const JobDemand& job) {
  return job.gpu_memory_mb > 0 ? absl::StrCat(job.gpus_per_rank, " GPUs with at least ", job.gpu_memory_mb, " MB")
                               : absl::StrCat(job.gpus_per_rank, " GPUs");
}

class MultifactorPolicy : public SchedulingPolicy {
 public:
  explicit MultifactorPolicy(PolicyConfig config) : config_(std::move(config)) {}

  const PolicyConfig& config() const override { return config_; }

  Decision CheckFeasible(const JobDemand& job, const std::vector<Node>& nodes) const override {
    int capacity = 0, eligible = 0;
    for (const Node& n : nodes) {
      const int fit = RanksThatFit(job, n, /*use_totals=*/true);
      capacity += fit;
      eligible += fit > 0;
    }
    return Feasibility(job, nodes.size(), capacity, eligible);
  }

  PassResult Schedule(const std::vector<JobDemand>& queued, const std::vector<RunningJob>& running,
                      const std::vector<Node>& nodes, const Usage& usage, int64_t now_ms) const override {
    std::vector<Node> free = nodes;
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < free.size(); ++i) index[free[i].name] = i;
    int64_t free_slots = 0, free_gpus = 0;
    for (const Node& n : free) free_slots += n.free_slots, free_gpus += n.free_gpus;

    // GPUs in use per user and group, for the quotas.
    std::map<std::string, int> user_gpus, group_gpus;
    for (const RunningJob& r : running) {
      user_gpus[r.demand.user] += r.demand.gpus();
      if (!r.demand.group.empty()) group_gpus[r.demand.group] += r.demand.gpus();
    }

    // 1. Order by score.
    const FairShare fair = MakeFairShare(queued, running, usage);
    std::vector<std::pair<double, size_t>> order;
    order.reserve(queued.size());
    for (size_t i = 0; i < queued.size(); ++i) order.push_back({Score(queued[i], fair, now_ms), i});
    std::stable_sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first > b.first;
      return queued[a.second].submitted_ms < queued[b.second].submitted_ms;
    });

    // What the empty pool could hold, per kind of rank (most jobs share a few kinds).
    std::map<std::pair<int, int64_t>, std::pair<int, int>> capacity;  // -> (ranks, eligible nodes)
    auto feasibility = [&](const JobDemand& job) {
      auto [it, inserted] = capacity.try_emplace({job.gpus_per_rank, job.gpu_memory_mb});
      if (inserted) {
        for (const Node& n : nodes) {
          const int fit = RanksThatFit(job, n, /*use_totals=*/true);
          it->second.first += fit;
          it->second.second += fit > 0;
        }
      }
      return Feasibility(job, nodes.size(), it->second.first, it->second.second);
    };

    PassResult result;
    result.jobs.reserve(queued.size());
    const JobDemand* head = nullptr;  // the first job waiting for resources
    int64_t position = 0;
    for (const auto& [score, i] : order) {
      const JobDemand& job = queued[i];
      QueuedDecision qd{job.id, {}, 0, score};
      if (Decision f = feasibility(job); f.kind == Decision::Kind::kInfeasible) {
        qd.decision = f;
      } else if (std::string quota = QuotaHold(job, user_gpus, group_gpus); !quota.empty()) {
        qd.decision = Decision::Wait(quota);
      } else if (nodes.empty()) {
        qd.decision = Decision::Wait("no worker nodes are registered");
      } else if (head && !config_.backfill) {
        qd.decision = Decision::Wait(absl::StrCat("waiting behind ", head->id, " (higher priority; backfill is off)"));
      } else {
        // A quick count first: most jobs of a full pool stop here without a scan of the nodes.
        std::vector<SlotAssignment> where;
        if (job.ranks <= free_slots && job.gpus() <= free_gpus) where = PlaceGang(job, free);
        if (!where.empty()) {
          Take(job, where, &free, index);
          free_slots -= job.ranks;
          free_gpus -= job.gpus();
          user_gpus[job.user] += job.gpus();
          if (!job.group.empty()) group_gpus[job.group] += job.gpus();
          qd.decision = Decision::Scheduled(std::move(where));
        } else if (head) {
          qd.decision = Decision::Wait(
              absl::StrCat("waiting for resources (", NeedText(job, free_slots, free_gpus), "); the free ones are held for ",
                           head->id, ", which has a higher priority"));
        } else {
          head = &job;
          std::string why = absl::StrCat("waiting for resources (", NeedText(job, free_slots, free_gpus), ")");
          if (config_.preemption) {
            result.preempt = ChoosePreemptions(job, running, free, index);
            if (!result.preempt.empty()) {
              absl::StrAppend(&why, "; preempting ", absl::StrJoin(result.preempt, ", "), " (lower priority)");
            }
          }
          qd.decision = Decision::Wait(why);
          Reserve(job, &free, &free_slots, &free_gpus);
        }
      }
      if (qd.decision.kind != Decision::Kind::kScheduled) qd.position = ++position;
      result.jobs.push_back(std::move(qd));
    }
    return result;
  }

 private:
  // Infeasible when a quota is below the job on its own, or when the empty pool holds fewer
  // than its ranks (`capacity` ranks on `eligible` of `n_nodes` nodes); no nodes: not judged.
  Decision Feasibility(const JobDemand& job, size_t n_nodes, int capacity, int eligible) const {
    if (int quota = UserQuota(job.user); quota > 0 && job.gpus() > quota) {
      return Decision::Infeasible(absl::StrCat("needs ", job.gpus(), " GPUs; the GPU quota of user ", job.user, " is ",
                                               quota));
    }
    if (auto it = config_.group_max_gpus.find(job.group);
        !job.group.empty() && it != config_.group_max_gpus.end() && job.gpus() > it->second) {
      return Decision::Infeasible(absl::StrCat("needs ", job.gpus(), " GPUs; the GPU quota of group ", job.group,
                                               " is ", it->second));
    }
    if (n_nodes == 0 || capacity >= job.ranks) return Decision::Scheduled({});
    if (job.gpus_per_rank == 0) {
      return Decision::Infeasible(
          absl::StrCat("needs ", job.ranks, " slots but the pool has ", capacity, " in all (", n_nodes, " nodes)"));
    }
    return Decision::Infeasible(absl::StrCat("needs ", job.ranks, " ranks of ", GpuText(job), " each; the pool holds ",
                                             capacity, " such ranks (", eligible, " of ", n_nodes, " nodes qualify)"));
  }

  struct FairShare {
    std::map<std::string, double> user, group;  // factor in (0, 1]
  };

  // 2^-(usage share / allotted share) per user and group, over everyone in sight.
  FairShare MakeFairShare(const std::vector<JobDemand>& queued, const std::vector<RunningJob>& running,
                          const Usage& usage) const {
    std::set<std::string> users, groups;
    for (const auto& j : queued) users.insert(j.user), groups.insert(j.group);
    for (const auto& r : running) users.insert(r.demand.user), groups.insert(r.demand.group);
    for (const auto& [u, v] : usage.user) users.insert(u);
    for (const auto& [g, v] : usage.group) groups.insert(g);
    groups.erase("");
    auto factors = [](const std::set<std::string>& names, const std::map<std::string, double>& shares,
                      const std::map<std::string, double>& used) {
      double share_sum = 0, used_sum = 0;
      for (const auto& n : names) {
        auto s = shares.find(n);
        share_sum += s == shares.end() ? 1.0 : s->second;
        auto u = used.find(n);
        used_sum += u == used.end() ? 0.0 : u->second;
      }
      std::map<std::string, double> out;
      for (const auto& n : names) {
        auto s = shares.find(n);
        auto u = used.find(n);
        const double share = (s == shares.end() ? 1.0 : s->second) / std::max(share_sum, 1e-12);
        const double used_share = used_sum > 0 && u != used.end() ? u->second / used_sum : 0.0;
        out[n] = share > 0 ? std::exp2(-used_share / share) : 0.0;
      }
      return out;
    };
    return {factors(users, config_.user_shares, usage.user), factors(groups, config_.group_shares, usage.group)};
  }

  double Score(const JobDemand& job, const FairShare& fair, int64_t now_ms) const {
    double f = fair.user.at(job.user);
    if (!job.group.empty()) f *= fair.group.at(job.group);
    const double age_hours = std::max<int64_t>(0, now_ms - job.submitted_ms) / 3.6e6;
    const double age = config_.age_max_hours > 0 ? std::min(age_hours, config_.age_max_hours) / config_.age_max_hours : 0;
    return config_.weight_priority * job.priority / 1000.0 + config_.weight_fairshare * f + config_.weight_age * age;
  }

  int UserQuota(const std::string& user) const {
    auto it = config_.user_max_gpus.find(user);
    return it != config_.user_max_gpus.end() ? it->second : config_.default_user_max_gpus;
  }

  std::string QuotaHold(const JobDemand& job, const std::map<std::string, int>& user_gpus,
                        const std::map<std::string, int>& group_gpus) const {
    if (job.gpus() == 0) return "";
    auto used = [](const std::map<std::string, int>& m, const std::string& k) {
      auto it = m.find(k);
      return it == m.end() ? 0 : it->second;
    };
    if (int quota = UserQuota(job.user); quota > 0 && used(user_gpus, job.user) + job.gpus() > quota) {
      return absl::StrCat("held by the GPU quota of user ", job.user, ": ", used(user_gpus, job.user), " of ", quota,
                          " in use, this job needs ", job.gpus());
    }
    if (auto it = config_.group_max_gpus.find(job.group); !job.group.empty() && it != config_.group_max_gpus.end() &&
                                                          used(group_gpus, job.group) + job.gpus() > it->second) {
      return absl::StrCat("held by the GPU quota of group ", job.group, ": ", used(group_gpus, job.group), " of ",
                          it->second, " in use, this job needs ", job.gpus());
    }
    return "";
  }

  static std::string NeedText(const JobDemand& job, int64_t free_slots, int64_t free_gpus) {
    if (job.gpus_per_rank == 0) return absl::StrCat("needs ", job.ranks, " slots, ", free_slots, " free");
    return absl::StrCat("needs ", job.ranks, " ranks of ", GpuText(job), ", ", free_gpus, " GPUs free");
  }

  // Sets aside for the first waiting job the free resources it can use, most capable nodes
  // first, so that jobs behind it start only on what it will not need.
  static void Reserve(const JobDemand& job, std::vector<Node>* free, int64_t* free_slots, int64_t* free_gpus) {
    std::vector<size_t> order(free->size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return RanksThatFit(job, (*free)[a]) > RanksThatFit(job, (*free)[b]); });
    int left = job.ranks;
    for (size_t i : order) {
      if (left == 0) break;
      Node& n = (*free)[i];
      const int take = std::min(left, RanksThatFit(job, n));
      n.free_slots -= take;
      n.free_gpus -= take * job.gpus_per_rank;
      *free_slots -= take;
      *free_gpus -= take * job.gpus_per_rank;
      left -= take;
    }
  }

  // The fewest running preemptible jobs of lower priority (lowest first, then the most
  // recently started: the least work lost) whose resources let `job` fit; empty if none do.
  static std::vector<std::string> ChoosePreemptions(const JobDemand& job, const std::vector<RunningJob>& running,
                                                    std::vector<Node> free, const std::map<std::string, size_t>& index) {
    std::vector<const RunningJob*> candidates;
    for (const RunningJob& r : running) {
      if (r.demand.preemptible && r.demand.priority < job.priority) candidates.push_back(&r);
    }
    std::stable_sort(candidates.begin(), candidates.end(), [](const RunningJob* a, const RunningJob* b) {
      if (a->demand.priority != b->demand.priority) return a->demand.priority < b->demand.priority;
      return a->started_ms > b->started_ms;
    });
    std::vector<const RunningJob*> chosen;
    bool fits = false;
    for (const RunningJob* r : candidates) {
      Take(r->demand, r->placement, &free, index, -1);
      chosen.push_back(r);
      if (!PlaceGang(job, free).empty()) {
        fits = true;
        break;
      }
    }
    if (!fits) return {};
    // Give back what is not needed after all, the last-chosen first.
    for (size_t k = chosen.size(); k-- > 0;) {
      Take(chosen[k]->demand, chosen[k]->placement, &free, index);
      if (PlaceGang(job, free).empty()) {
        Take(chosen[k]->demand, chosen[k]->placement, &free, index, -1);
      } else {
        chosen.erase(chosen.begin() + static_cast<std::ptrdiff_t>(k));
      }
    }
    std::vector<std::string> ids;
    for (const RunningJob* r : chosen) ids.push_back(r->demand.id);
    return ids;
  }

  const PolicyConfig config_;
};

}  // namespace

std::vector<SlotAssignment> PlaceGang(const JobDemand& job, const std::vector<Node>& nodes) {
  // Best fit on one node: the one left with the fewest free ranks.
  const Node* best = nullptr;
  int best_fit = 0, total = 0;
  for (const Node& n : nodes) {
    const int fit = RanksThatFit(job, n);
    total += fit;
    if (fit >= job.ranks && (!best || fit < best_fit)) best = &n, best_fit = fit;
  }
  if (best) return {{best->name, job.ranks}};
  if (total < job.ranks) return {};
  std::vector<std::pair<int, const Node*>> order;
  for (const Node& n : nodes) {
    if (int fit = RanksThatFit(job, n); fit > 0) order.push_back({fit, &n});
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<SlotAssignment> out;
  int left = job.ranks;
  for (const auto& [fit, n] : order) {
    const int take = std::min(left, fit);
    out.push_back({n->name, take});
    left -= take;
    if (left == 0) break;
  }
  return out;
}

std::unique_ptr<SchedulingPolicy> MakeMultifactorPolicy(PolicyConfig config) {
  return std::make_unique<MultifactorPolicy>(std::move(config));
}

}  // namespace braintune::scheduler
