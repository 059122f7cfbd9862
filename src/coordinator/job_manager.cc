#include "coordinator/job_manager.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "coordinator/job_spec_proto.h"
#include "coordinator/job_state.h"
#include "coordinator/node_status.h"

namespace braintune::coordinator {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

// Ids are "job-<n>", n counting up over the store's lifetime.
int64_t SeqOf(const std::string& id) {
  int64_t n = 0;
  if (id.rfind("job-", 0) == 0 && absl::SimpleAtoi(id.substr(4), &n)) return n;
  return 0;
}

}  // namespace

JobManager::JobManager(store::JobStore* store, const SchedulingDriver* scheduling, NodeManager* nodes)
    : store_(store), scheduling_(scheduling), nodes_(nodes) {}

absl::StatusOr<std::unique_ptr<JobManager>> JobManager::Create(store::JobStore* store,
                                                               const SchedulingDriver* scheduling,
                                                               NodeManager* nodes) {
  std::unique_ptr<JobManager> m(new JobManager(store, scheduling, nodes));
  ASSIGN_OR_RETURN(std::vector<v1::Job> jobs, store->List());
  {
    absl::MutexLock lock(&m->mu_);  // no other thread has the manager yet; taken for the analysis
    for (auto& job : jobs) {
      m->next_seq_ = std::max(m->next_seq_, SeqOf(job.id()) + 1);
      m->order_.push_back(job.id());
      m->versions_[job.id()] = m->next_version_++;
      // Nodes that ran the unfinished jobs must come back, or those jobs are requeued when they
      // time out.
      if (HoldsSlots(job.state())) {
        for (const auto& p : job.placements()) nodes->Expect(p.node(), NowMs());
      }
      m->jobs_[job.id()] = std::move(job);
    }
    // List pages by sequence number (the page token): order_ must be sorted by it, and the
    // store's order is that of first commits, which concurrent submissions may swap.
    std::stable_sort(m->order_.begin(), m->order_.end(),
                     [](const std::string& a, const std::string& b) { return SeqOf(a) < SeqOf(b); });
  }
  return m;
}

namespace {

// Adds `p` to the job's history (or updates the newest point, of the same step). The history
// keeps the first point, the newest, and one point per bucket of `stride` steps, the stride a
// power of two that doubles as the job goes on: never more than kHistoryPoints points, spread
// evenly over the whole run whatever the reporting interval. A step below the newest point's (a
// restart from an earlier checkpoint) replaces the points from that step on.
void AddHistoryPoint(const v1::Progress& p, v1::Job* job) {
  if (p.step() <= 0 || p.phase() != "training") return;
  auto* history = job->mutable_history();
  while (!history->empty() && history->rbegin()->step() > p.step()) history->RemoveLast();
  const bool same_step = !history->empty() && history->rbegin()->step() == p.step();
  v1::ProgressPoint* point = same_step ? &*history->rbegin() : history->Add();
  point->set_time_ms(NowMs());
  point->set_step(p.step());
  point->set_loss(p.loss());
  if (p.has_validation_loss()) point->set_validation_loss(p.validation_loss());
  int64_t stride = 1;
  while (p.step() / stride > JobManager::kHistoryPoints - 3) stride *= 2;
  int kept = 0;
  int64_t last_bucket = -1;
  for (int i = 0; i < history->size(); ++i) {
    const int64_t bucket = history->Get(i).step() / stride;
    if (i == 0 || i == history->size() - 1 || bucket != last_bucket) {
      history->SwapElements(kept++, i);
      last_bucket = bucket;
    }
  }
  history->DeleteSubrange(kept, history->size() - kept);
}

}  // namespace

PoolSnapshot JobManager::Snapshot() const {
  absl::MutexLock lock(&mu_);
  PoolSnapshot snapshot;
  snapshot.jobs.reserve(jobs_.size());
  for (const auto& [id, job] : jobs_) {
    PoolSnapshot::JobBrief& b = snapshot.jobs.emplace_back();
    b.id = id;
    b.user = job.user();
    b.group = job.spec().group();
    b.state = job.state();
    if (job.state() == v1::RUNNING) {
      b.progress = job.progress();
      // Before the first report: since it started running (the last event).
      b.last_progress_ms = job.progress().reported_ms();
      if (b.last_progress_ms == 0 && !job.events().empty()) b.last_progress_ms = job.events().rbegin()->time_ms();
    }
    if (job.state() == v1::QUEUED) b.queued_since_ms = QueuedSinceMs(job);
  }
  snapshot.nodes = NodeStatuses(nodes_->List(), jobs_, "", /*all=*/true);
  return snapshot;
}

std::vector<v1::NodeStatus> JobManager::Nodes(const std::string& viewer, bool all) const {
  absl::MutexLock lock(&mu_);
  return NodeStatuses(nodes_->List(), jobs_, viewer, all);
}

v1::Job* JobManager::FindLocked(const std::string& id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

absl::Status JobManager::SaveLocked(v1::Job* job) {
  job->set_updated_ms(NowMs());
  versions_[job->id()] = next_version_++;
  changed_.SignalAll();
  saved_ms_[job->id()] = job->updated_ms();
  unsaved_progress_.erase(job->id());  // the whole job, its latest progress included, is written
  return store_->Put(*job);
}

absl::Status JobManager::TransitionLocked(v1::Job* job, v1::JobState to, const std::string& message,
                                          FailureReason reason) {
  RETURN_IF_ERROR(CheckTransition(job->state(), to));
  if (metrics_ != nullptr) metrics_->JobTransition(to, to == v1::SCHEDULED ? QueuedSinceMs(*job) : 0, NowMs(), reason);
  job->set_state(to);
  job->set_message(message);
  if (to != v1::QUEUED) job->set_queue_position(0);
  v1::JobEvent* event = job->add_events();
  event->set_time_ms(NowMs());
  event->set_state(to);
  event->set_message(message);
  return SaveLocked(job);
}

void JobManager::SetLaunchSecurity(const JobCredentials* credentials, bool multi_user) {
  credentials_ = credentials;
  multi_user_ = multi_user;
}

absl::StatusOr<v1::Job> JobManager::Submit(const v1::JobSpec& spec, const std::string& user, const Admit& admit) {
  const std::string source = spec.source_file().empty() ? "job spec" : spec.source_file();
  v1::Job job;
  // The YAML is the source of truth; the typed copy, derived here alone, is what the scheduler reads.
  ASSIGN_OR_RETURN(*job.mutable_spec(), JobSpecProtoFromText(spec.spec_yaml(), spec.source_file(), spec.base_dir()));
  if (admit) {
    ASSIGN_OR_RETURN(*job.mutable_account(), admit(job.spec()));
  }
  job.set_user(user);
  absl::ReleasableMutexLock lock(&mu_);
  if (scheduler::Decision d = scheduling_->CheckFeasible(job, jobs_);
      d.kind == scheduler::Decision::Kind::kInfeasible) {
    return absl::FailedPreconditionError(absl::StrCat(source, ": the job can never run on this pool: ", d.reason));
  }
  const int64_t seq = next_seq_++;
  job.set_id(absl::StrCat("job-", seq));
  job.set_created_ms(NowMs());
  job.set_state(v1::QUEUED);
  job.set_message("waiting for the scheduler");
  v1::JobEvent* event = job.add_events();
  event->set_time_ms(job.created_ms());
  event->set_state(v1::QUEUED);
  event->set_message("submitted");
  job.set_queue_position(0);  // the next scheduling pass (within milliseconds) gives the position
  // Stored without the lock, so that concurrent submissions share one commit (store/job_store.h);
  // the job is visible once it is durable.
  lock.Release();
  RETURN_IF_ERROR(store_->Put(job));
  absl::MutexLock relock(&mu_);
  auto pos = order_.end();  // submission order (concurrent commits may finish out of order)
  while (pos != order_.begin() && SeqOf(*(pos - 1)) > seq) --pos;
  order_.insert(pos, job.id());
  versions_[job.id()] = next_version_++;
  jobs_[job.id()] = job;
  changed_.SignalAll();
  return job;
}

absl::StatusOr<v1::Job> JobManager::Get(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job with id '", id, "'"));
  return it->second;
}

bool JobManager::Contains(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  return jobs_.count(id) > 0;
}

absl::StatusOr<v1::ListJobsResponse> JobManager::List(const v1::ListJobsRequest& request,
                                                      const std::string& user) const {
  constexpr int kDefaultPageSize = 100, kMaxPageSize = 1000;
  // Far below gRPC's 4 MiB message limit, whatever the jobs hold (a spec is up to 1 MiB).
  constexpr size_t kMaxPageBytes = 2 << 20;
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: ", request.page_size(), ", at least 0"));
  }
  const int page_size = request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);
  // The token is "<seq of the last job listed>:<jobs still due under limit, 0: no limit>": the
  // next page starts after that job, so jobs submitted or pruned meanwhile shift nothing.
  int64_t after_seq = 0, remaining = std::max(0, request.limit());
  if (!request.page_token().empty()) {
    const std::vector<std::string> parts = absl::StrSplit(request.page_token(), ':');
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &after_seq) || !absl::SimpleAtoi(parts[1], &remaining) ||
        after_seq < 0 || remaining < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_token: '", request.page_token(), "' is not a next_page_token of this coordinator"));
    }
  }
  const std::set<int> states(request.states().begin(), request.states().end());
  auto matches = [&](const v1::Job& job) {
    return (user.empty() || job.user() == user) && (states.empty() || states.count(job.state()) > 0);
  };
  absl::MutexLock lock(&mu_);
  auto it = order_.begin();
  if (!request.page_token().empty()) {
    it = std::upper_bound(order_.begin(), order_.end(), after_seq,
                          [](int64_t seq, const std::string& id) { return seq < SeqOf(id); });
  } else if (remaining > 0) {
    // The first page of the newest `limit`: start at the oldest of them.
    int64_t found = 0;
    for (auto back = order_.end(); back != order_.begin() && found < remaining;) {
      --back;
      if (matches(jobs_.at(*back))) {
        ++found;
        it = back;
      }
    }
  }
  const bool bounded = remaining > 0;
  v1::ListJobsResponse response;
  size_t bytes = 0;
  int64_t last_seq = 0;
  for (; it != order_.end(); ++it) {
    const v1::Job& job = jobs_.at(*it);
    if (!matches(job)) continue;
    if (bounded && remaining == 0) break;
    if (response.jobs_size() >= page_size) {
      response.set_next_page_token(absl::StrCat(last_seq, ":", remaining));
      break;
    }
    v1::Job listed = job;
    listed.clear_events();  // GetJob has the events and the progress history
    listed.clear_history();
    if (!request.include_spec()) listed.mutable_spec()->clear_spec_yaml();
    const size_t size = listed.ByteSizeLong();
    if (response.jobs_size() > 0 && bytes + size > kMaxPageBytes) {
      response.set_next_page_token(absl::StrCat(last_seq, ":", remaining));
      break;
    }
    bytes += size;
    last_seq = SeqOf(job.id());
    if (bounded) --remaining;
    *response.add_jobs() = std::move(listed);
  }
  return response;
}

absl::StatusOr<v1::Job> JobManager::Cancel(const std::string& id) {
  absl::MutexLock lock(&mu_);
  v1::Job* job = FindLocked(id);
  if (!job) return absl::NotFoundError(absl::StrCat("no job with id '", id, "'"));
  if (IsTerminal(job->state())) {
    return absl::FailedPreconditionError(
        absl::StrCat(id, " has already finished (", StateName(job->state()), ")"));
  }
  job->set_cancel_requested(true);
  if (job->state() == v1::RUNNING) {
    // The agent kills the ranks on its next heartbeat and reports them gone. (RESTARTING jobs
    // have none: they end at once, and a relaunch already under way is stopped when reported.)
    job->set_message("cancelling: waiting for the ranks to stop");
    RETURN_IF_ERROR(SaveLocked(job));
  } else {
    RETURN_IF_ERROR(TransitionLocked(job, v1::CANCELLED, "cancelled by user"));
  }
  return *job;
}

absl::StatusOr<v1::Job> JobManager::WaitForChange(const std::string& id, int64_t* version,
                                                  absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    auto it = versions_.find(id);
    if (it == versions_.end() || it->second > *version) break;
    if (changed_.WaitWithDeadline(&mu_, deadline)) break;  // timed out
  }
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job with id '", id, "'"));
  *version = versions_[id];
  return it->second;
}

void JobManager::SchedulePass() {
  absl::MutexLock lock(&mu_);
  const scheduler::PassResult pass = scheduling_->Plan(jobs_, order_, NowMs());
  for (const scheduler::QueuedDecision& qd : pass.jobs) {
    v1::Job& job = jobs_.at(qd.job_id);
    const scheduler::Decision& d = qd.decision;
    if (d.kind == scheduler::Decision::Kind::kScheduled) {
      job.clear_placements();
      std::string where;
      for (const auto& a : d.assignments) {
        // Jobs placed earlier in this pass already hold theirs (SCHEDULED).
        std::vector<int> gpus = scheduling_->FreeGpus(jobs_, a.node, a.slots * job.spec().gpus_per_rank());
        auto* p = job.add_placements();
        p->set_node(a.node);
        p->set_slots(a.slots);
        for (int g : gpus) p->add_gpus(g);
        absl::StrAppend(&where, where.empty() ? "" : ", ", a.node, ":", a.slots);
      }
      job.set_attempt(job.attempt() + 1);
      (void)TransitionLocked(&job, v1::SCHEDULED, absl::StrCat("placed on ", where));
      continue;
    }
    // Infeasible now (nodes left, or quotas): it stays queued in case the pool grows.
    const std::string reason =
        d.kind == scheduler::Decision::Kind::kInfeasible ? absl::StrCat("cannot fit the pool as it is: ", d.reason) : d.reason;
    if (job.message() != reason || job.queue_position() != qd.position) {
      job.set_message(reason);
      job.set_queue_position(qd.position);
      versions_[qd.job_id] = next_version_++;  // live information only: not worth a disk write
      changed_.SignalAll();
    }
  }
  for (const std::string& id : pass.preempt) {
    v1::Job& job = jobs_.at(id);
    if (job.preempt_requested()) continue;
    job.set_preempt_requested(true);
    job.set_message("preempted for a higher-priority job; stopping its ranks");
    (void)SaveLocked(&job);
  }
}

v1::HeartbeatResponse JobManager::HandleHeartbeat(const v1::HeartbeatRequest& request) {
  absl::MutexLock lock(&mu_);
  v1::HeartbeatResponse response;
  std::set<std::string> reported;
  for (const auto& rt : request.jobs()) {
    reported.insert(rt.job_id());
    v1::Job* job = FindLocked(rt.job_id());
    // Unknown, or ranks of an earlier launch of a job since requeued: stop and forget them.
    if (!job || rt.attempt() < job->attempt()) {
      if (!rt.exited()) response.add_kill_job_ids(rt.job_id());
      response.add_forget_job_ids(rt.job_id());
      continue;
    }
    if (!rt.log_path().empty() && job->log_path() != rt.log_path()) {
      job->set_log_path(rt.log_path());
      (void)SaveLocked(job);
    }
    if (!rt.exited()) {
      if (job->state() == v1::SCHEDULED) {
        (void)TransitionLocked(job, v1::RUNNING, absl::StrCat("ranks started on ", request.node_name()));
      }
      if (job->state() == v1::RESTARTING) {
        (void)TransitionLocked(job, v1::RUNNING, absl::StrCat("ranks restarted on ", request.node_name()));
      }
      // Ranks of a job that no longer holds its slots (ended, or requeued after its node was
      // lost: these are the node's ranks, back from the dead) are stopped.
      if (!HoldsSlots(job->state()) || job->cancel_requested() || job->preempt_requested()) {
        response.add_kill_job_ids(job->id());
      }
      continue;
    }
    // The ranks are gone: record how they ended, once. The agent forgets the exit only when it
    // is on disk; otherwise it reports it again on the next heartbeat.
    absl::Status saved = absl::OkStatus();
    if (job->state() == v1::SCHEDULED || job->state() == v1::RUNNING) {
      job->set_exit_code(rt.exit_code());
      if (job->state() == v1::SCHEDULED) (void)TransitionLocked(job, v1::RUNNING, "ranks started");
      if (job->preempt_requested() && !job->cancel_requested()) {
        // Back to the queue. The ranks checkpointed when stopped (SIGTERM), so the next launch
        // resumes from that checkpoint (src/train, tests/integration/faults_test.cc).
        job->set_preempt_requested(false);
        job->clear_placements();
        job->clear_progress();
        saved = TransitionLocked(job, v1::PREEMPTED, "ranks stopped for a higher-priority job");
        if (saved.ok()) saved = TransitionLocked(job, v1::QUEUED, "requeued after preemption");
      } else if (job->cancel_requested() || rt.killed_by_request()) {
        saved = TransitionLocked(job, v1::CANCELLED, "cancelled by user; ranks stopped");
      } else if (rt.exit_code() == 0 && rt.term_signal() == 0) {
        saved = TransitionLocked(job, v1::SUCCEEDED, "finished");
      } else {
        std::string how = rt.term_signal() ? absl::StrCat("killed by signal ", rt.term_signal())
                                           : absl::StrCat("exited with code ", rt.exit_code());
        if (job->restarts() < job->spec().max_restarts()) {
          // Relaunched on the same slots after a backoff that doubles with each restart.
          const double backoff = std::min(600.0, job->spec().restart_backoff_sec() * (1 << std::min(job->restarts(), 20)));
          job->set_restarts(job->restarts() + 1);
          job->set_restart_at_ms(NowMs() + static_cast<int64_t>(backoff * 1000));
          job->clear_progress();
          saved = TransitionLocked(job, v1::RESTARTING,
                                   absl::StrFormat("mpirun %s; restart %d of %d in %.0f s (see braintune logs %s)", how,
                                                   job->restarts(), job->spec().max_restarts(), backoff, job->id()));
        } else {
          saved = TransitionLocked(
              job, v1::FAILED,
              absl::StrCat("mpirun ", how,
                           job->restarts() > 0 ? absl::StrCat(" after ", job->restarts(), " restarts") : "",
                           "; see braintune logs ", job->id(), " or ", rt.log_path()),
              FailureReason::kRanksFailed);
        }
      }
    }
    if (saved.ok()) response.add_forget_job_ids(rt.job_id());
  }
  // Launch what was placed here and the agent does not hold yet; notice what the agent lost.
  std::map<std::string, std::string> exec_addresses;  // node -> NodeExec endpoint, for launches
  for (const v1::NodeInfo& n : nodes_->Live()) exec_addresses[n.name()] = n.exec_address();
  // A reply stays far below gRPC's 4 MiB message limit however many large specs wait: past
  // kLaunchBytesPerReply the other launches come with the next heartbeats.
  constexpr size_t kLaunchBytesPerReply = 2 << 20;
  size_t launch_bytes = 0;
  for (auto& [id, job] : jobs_) {
    if (job.placements_size() == 0 || job.placements(0).node() != request.node_name()) continue;
    if (reported.count(id)) continue;
    const bool restart_due = job.state() == v1::RESTARTING && NowMs() >= job.restart_at_ms();
    if (job.state() == v1::SCHEDULED || restart_due) {
      if (response.launch_size() > 0 && launch_bytes + job.spec().ByteSizeLong() > kLaunchBytesPerReply) continue;
      launch_bytes += job.spec().ByteSizeLong();
      if (restart_due) job.set_attempt(job.attempt() + 1);  // persisted with the move to RUNNING
      v1::LaunchJob* launch = response.add_launch();
      launch->set_job_id(id);
      launch->set_attempt(job.attempt());
      launch->set_account(job.account());
      launch->set_multi_user(multi_user_);
      if (credentials_ != nullptr) launch->set_job_credential(credentials_->Issue(id, job.attempt()));
      *launch->mutable_spec() = job.spec();
      *launch->mutable_placements() = job.placements();
      for (v1::Placement& p : *launch->mutable_placements()) p.set_exec_address(exec_addresses[p.node()]);
    } else if (job.state() == v1::RUNNING) {
      (void)TransitionLocked(&job, v1::FAILED,
                             absl::StrCat("agent on ", request.node_name(), " no longer holds the job"),
                             FailureReason::kAgentLostJob);
    }
  }
  return response;
}

absl::StatusOr<bool> JobManager::ReportProgress(const v1::ReportProgressRequest& request) {
  absl::MutexLock lock(&mu_);
  v1::Job* job = FindLocked(request.job_id());
  if (!job) return absl::NotFoundError(absl::StrCat("no job with id '", request.job_id(), "'"));
  if (IsTerminal(job->state())) return true;
  // Ranks of an earlier launch (a node that lost touch but kept running) change nothing.
  if (request.attempt() > 0 && request.attempt() < job->attempt()) return true;
  *job->mutable_progress() = request.progress();
  job->mutable_progress()->set_reported_ms(NowMs());
  if (request.has_result()) *job->mutable_result() = request.result();
  AddHistoryPoint(request.progress(), job);
  // Ranks may report every few steps: one store commit (an fsync) per report per job would
  // make the store the pool's bottleneck. What a restarted coordinator must not lose (the
  // result, the end) is written at once; live numbers at most once a second.
  const int64_t now = NowMs();
  if (request.has_result() || request.progress().phase() == "done" ||
      now - saved_ms_[job->id()] >= kProgressWriteIntervalMs) {
    RETURN_IF_ERROR(SaveLocked(job));
  } else {
    job->set_updated_ms(now);
    versions_[job->id()] = next_version_++;
    changed_.SignalAll();
    unsaved_progress_.insert(job->id());
  }
  return job->cancel_requested();
}

void JobManager::FlushProgress(bool all) {
  absl::MutexLock lock(&mu_);
  const int64_t now = NowMs();
  const std::vector<std::string> unsaved(unsaved_progress_.begin(), unsaved_progress_.end());
  for (const std::string& id : unsaved) {
    v1::Job* job = FindLocked(id);
    if (job == nullptr) {
      unsaved_progress_.erase(id);
      continue;
    }
    // On failure the job stays unsaved and the next flush tries again.
    if (all || now - saved_ms_[id] >= kProgressWriteIntervalMs) (void)SaveLocked(job);
  }
}

absl::StatusOr<std::vector<std::string>> JobManager::PruneFinished(int64_t finished_before_ms) {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> pruned;
  for (const auto& [id, job] : jobs_) {
    if (IsTerminal(job.state()) && job.updated_ms() < finished_before_ms) pruned.push_back(id);
  }
  if (pruned.empty()) return pruned;
  // The store first: if it fails, nothing is forgotten and the next prune tries again.
  RETURN_IF_ERROR(store_->Delete(pruned));
  const std::set<std::string> gone(pruned.begin(), pruned.end());
  order_.erase(std::remove_if(order_.begin(), order_.end(), [&](const std::string& id) { return gone.count(id) > 0; }),
               order_.end());
  for (const std::string& id : pruned) {
    jobs_.erase(id);
    versions_.erase(id);
    saved_ms_.erase(id);
    unsaved_progress_.erase(id);
  }
  changed_.SignalAll();  // watchers of a pruned job get NotFound
  return pruned;
}

void JobManager::HandleLostNodes(const std::vector<std::string>& lost) {
  absl::MutexLock lock(&mu_);
  for (auto& [id, job] : jobs_) {
    if (!HoldsSlots(job.state())) continue;
    for (const auto& p : job.placements()) {
      if (std::find(lost.begin(), lost.end(), p.node()) != lost.end()) {
        // Requeued (placed again, elsewhere if need be); if the node comes back, its agent is
        // told to stop what it still runs of the job (HandleHeartbeat).
        const std::string node = p.node();
        job.clear_placements();
        job.clear_progress();
        (void)TransitionLocked(&job, v1::QUEUED, absl::StrCat("node ", node, " stopped heartbeating; requeued"));
        break;
      }
    }
  }
}

void JobManager::WakeAll() {
  absl::MutexLock lock(&mu_);
  changed_.SignalAll();
}

}  // namespace braintune::coordinator
