#include "coordinator/scheduling_driver.h"

#include <cmath>
#include <set>

#include "coordinator/job_state.h"

namespace braintune::coordinator {

scheduler::JobDemand DemandOf(const v1::Job& job) {
  scheduler::JobDemand d;
  d.id = job.id();
  d.user = job.user();
  d.group = job.spec().group();
  d.priority = job.spec().priority();
  d.ranks = job.spec().ranks();
  d.gpus_per_rank = job.spec().gpus_per_rank();
  d.gpu_memory_mb = job.spec().gpu_memory_mb();
  d.preemptible = job.spec().preemptible();
  d.submitted_ms = job.created_ms();
  return d;
}

scheduler::PassResult SchedulingDriver::Plan(const JobTable& jobs, const std::vector<std::string>& order,
                                             int64_t now_ms) const {
  std::vector<scheduler::JobDemand> queued;
  std::vector<scheduler::RunningJob> running;
  for (const auto& id : order) {
    const v1::Job& job = jobs.at(id);
    if (job.state() == v1::QUEUED) queued.push_back(DemandOf(job));
    // A job being preempted is already making room: the policy must not count on it again.
    if (!HoldsSlots(job.state()) || job.preempt_requested()) continue;
    scheduler::RunningJob r{DemandOf(job), {}, job.updated_ms()};
    for (const auto& p : job.placements()) r.placement.push_back({p.node(), p.slots()});
    for (const auto& e : job.events()) {
      if (e.state() == v1::RUNNING || e.state() == v1::SCHEDULED) r.started_ms = e.time_ms();
    }
    running.push_back(std::move(r));
  }
  if (queued.empty()) return {};
  return policy_->Schedule(queued, running, Nodes(jobs, /*subtract_running=*/true), Usage(jobs, now_ms), now_ms);
}

scheduler::Decision SchedulingDriver::CheckFeasible(const v1::Job& job, const JobTable& jobs) const {
  return policy_->CheckFeasible(DemandOf(job), Nodes(jobs, /*subtract_running=*/false));
}

std::vector<scheduler::Node> SchedulingDriver::Nodes(const JobTable& jobs, bool subtract_running) const {
  std::map<std::string, scheduler::Node> nodes;
  for (const auto& n : nodes_->Live()) {
    nodes[n.name()] = {n.name(), n.cpu_slots(), n.gpus(), n.gpu_memory_mb(), n.cpu_slots(), n.gpus()};
  }
  if (subtract_running) {
    for (const auto& [id, job] : jobs) {
      if (!HoldsSlots(job.state())) continue;
      for (const auto& p : job.placements()) {
        auto it = nodes.find(p.node());
        if (it == nodes.end()) continue;
        it->second.free_slots -= p.slots();
        it->second.free_gpus -= p.slots() * job.spec().gpus_per_rank();
      }
    }
  }
  std::vector<scheduler::Node> out;
  for (auto& [name, n] : nodes) out.push_back(n);
  return out;
}

scheduler::Usage SchedulingDriver::Usage(const JobTable& jobs, int64_t now_ms) const {
  scheduler::Usage usage;
  const double half_life_ms = policy_->config().usage_half_life_hours * 3.6e6;
  for (const auto& entry : jobs) {
    const v1::Job& job = entry.second;  // a named reference: C++17 lambdas cannot capture bindings
    const double resources = job.spec().gpus_per_rank() > 0 ? job.spec().ranks() * job.spec().gpus_per_rank()
                                                             : job.spec().ranks();
    int64_t started = -1;
    auto add = [&](int64_t end) {
      const double seconds = (end - started) / 1000.0;
      const double weight = std::exp2(-(now_ms - end) / half_life_ms);
      usage.user[job.user()] += resources * seconds * weight;
      if (!job.spec().group().empty()) usage.group[job.spec().group()] += resources * seconds * weight;
    };
    // A run lasts from RUNNING to the next state other than RUNNING or RESTARTING (restarts
    // keep the slots, so they count).
    for (const auto& e : job.events()) {
      if (e.state() == v1::RUNNING && started < 0) {
        started = e.time_ms();
      } else if (started >= 0 && e.state() != v1::RUNNING && e.state() != v1::RESTARTING) {
        add(e.time_ms());
        started = -1;
      }
    }
    if (started >= 0) add(now_ms);
  }
  return usage;
}

std::vector<int> SchedulingDriver::FreeGpus(const JobTable& jobs, const std::string& node, int count) const {
  std::set<int> used;
  for (const auto& [id, job] : jobs) {
    if (!HoldsSlots(job.state())) continue;
    for (const auto& p : job.placements()) {
      if (p.node() == node) used.insert(p.gpus().begin(), p.gpus().end());
    }
  }
  std::vector<int> out;
  for (int g = 0; static_cast<int>(out.size()) < count; ++g) {
    if (!used.count(g)) out.push_back(g);
  }
  return out;
}

}  // namespace braintune::coordinator
