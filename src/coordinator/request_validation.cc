#include "coordinator/request_validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace braintune::coordinator {
namespace {

absl::Status Invalid(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// 1..max characters of [A-Za-z0-9._@-] (user names may be e-mail addresses).
absl::Status Name(const std::string& field, const std::string& value, bool required = true) {
  if (value.empty()) return required ? Invalid(field, "is required") : absl::OkStatus();
  if (value.size() > kMaxNameLength) {
    return Invalid(field, absl::StrCat(value.size(), " characters, at most ", kMaxNameLength));
  }
  for (unsigned char c : value) {
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '@')) {
      return Invalid(field, absl::StrCat("'", value, "' may hold only letters, digits and . _ - @"));
    }
  }
  return absl::OkStatus();
}

absl::Status Length(const std::string& field, const std::string& value, size_t max) {
  if (value.size() > max) return Invalid(field, absl::StrCat(value.size(), " bytes, at most ", max));
  return absl::OkStatus();
}

template <typename T>
absl::Status Range(const std::string& field, T value, T lo, T hi) {
  if (value < lo || value > hi) return Invalid(field, absl::StrCat(value, " is out of range [", lo, ", ", hi, "]"));
  return absl::OkStatus();
}

absl::Status Finite(const std::string& field, double value) {
  if (!std::isfinite(value) || value < 0) return Invalid(field, "must be a finite number >= 0");
  return absl::OkStatus();
}

absl::Status JobId(const std::string& field, const std::string& id) { return Name(field, id); }

}  // namespace

absl::Status Validate(const v1::SubmitJobRequest& r) {
  RETURN_IF_ERROR(Name("user", r.user(), /*required=*/false));
  if (r.spec().spec_yaml().empty()) return Invalid("spec.spec_yaml", "is required (the YAML job spec)");
  RETURN_IF_ERROR(Length("spec.spec_yaml", r.spec().spec_yaml(), kMaxSpecBytes));
  RETURN_IF_ERROR(Length("spec.base_dir", r.spec().base_dir(), kMaxPathLength));
  return Length("spec.source_file", r.spec().source_file(), kMaxPathLength);
}

absl::Status Validate(const v1::GetJobRequest& r) { return JobId("job_id", r.job_id()); }
absl::Status Validate(const v1::CancelJobRequest& r) { return JobId("job_id", r.job_id()); }
absl::Status Validate(const v1::WatchJobRequest& r) { return JobId("job_id", r.job_id()); }

absl::Status Validate(const v1::StreamLogsRequest& r) {
  RETURN_IF_ERROR(JobId("job_id", r.job_id()));
  return Range<int64_t>("offset", r.offset(), 0, INT64_MAX);
}

absl::Status Validate(const v1::ListJobsRequest& r) {
  for (int i = 0; i < r.states_size(); ++i) {
    if (!v1::JobState_IsValid(r.states(i)) || r.states(i) == v1::JOB_STATE_UNSPECIFIED) {
      return Invalid(absl::StrCat("states[", i, "]"), absl::StrCat(r.states(i), " is not a job state"));
    }
  }
  return Range("limit", r.limit(), 0, kMaxListLimit);
}

absl::Status Validate(const v1::RegisterNodeRequest& r) {
  const v1::NodeInfo& n = r.node();
  RETURN_IF_ERROR(Name("node.name", n.name()));
  RETURN_IF_ERROR(Length("node.address", n.address(), 255));
  RETURN_IF_ERROR(Length("node.exec_address", n.exec_address(), 255));
  RETURN_IF_ERROR(Length("node.instance_id", n.instance_id(), 64));
  RETURN_IF_ERROR(Range("node.cpu_slots", n.cpu_slots(), 0, 4096));
  RETURN_IF_ERROR(Range("node.gpus", n.gpus(), 0, 64));
  RETURN_IF_ERROR(Range<int64_t>("node.gpu_memory_mb", n.gpu_memory_mb(), 0, int64_t{1} << 30));
  if (n.cpu_slots() == 0 && n.gpus() == 0) return Invalid("node", absl::StrCat("node ", n.name(), " offers no slots"));
  return Length("node.agent_version", n.agent_version(), 255);
}

absl::Status Validate(const v1::HeartbeatRequest& r) {
  RETURN_IF_ERROR(Name("node_name", r.node_name()));
  RETURN_IF_ERROR(Range("jobs", r.jobs_size(), 0, kMaxJobsPerHeartbeat));
  for (int i = 0; i < r.jobs_size(); ++i) {
    const std::string at = absl::StrCat("jobs[", i, "]");
    RETURN_IF_ERROR(JobId(at + ".job_id", r.jobs(i).job_id()));
    RETURN_IF_ERROR(Length(at + ".log_path", r.jobs(i).log_path(), kMaxPathLength));
    RETURN_IF_ERROR(Length(at + ".output_dir", r.jobs(i).output_dir(), kMaxPathLength));
    RETURN_IF_ERROR(Range(at + ".term_signal", r.jobs(i).term_signal(), 0, 128));
    RETURN_IF_ERROR(Range(at + ".attempt", r.jobs(i).attempt(), 0, INT32_MAX));
    RETURN_IF_ERROR(Range<int64_t>(at + ".log_offset", r.jobs(i).log_offset(), 0, INT64_MAX / 2));
    RETURN_IF_ERROR(Length(at + ".log_data", r.jobs(i).log_data(), kMaxLogPieceBytes));
  }
  return absl::OkStatus();
}

absl::Status Validate(const v1::AuthorizeExecRequest& r) {
  RETURN_IF_ERROR(Name("node_name", r.node_name()));
  return Length("job_credential", r.job_credential(), 256);
}

absl::Status Validate(const v1::ReportProgressRequest& r) {
  RETURN_IF_ERROR(JobId("job_id", r.job_id()));
  const v1::Progress& p = r.progress();
  RETURN_IF_ERROR(Length("progress.phase", p.phase(), 256));
  RETURN_IF_ERROR(Range<int64_t>("progress.step", p.step(), 0, p.total_steps() > 0 ? p.total_steps() : INT64_MAX));
  // The loss may be NaN: a diverged run is worth reporting.
  for (const auto& [field, value] : {std::pair{"progress.samples_per_sec", p.samples_per_sec()},
                                     {"progress.steps_per_sec", p.steps_per_sec()},
                                     {"progress.elapsed_sec", p.elapsed_sec()}}) {
    RETURN_IF_ERROR(Finite(field, value));
  }
  RETURN_IF_ERROR(Range<double>("progress.data_wait_share", p.data_wait_share(), 0, 1));
  RETURN_IF_ERROR(Range<int64_t>("progress.gpu_memory_bytes", p.gpu_memory_bytes(), 0, INT64_MAX));
  // A result is written by our own trainer; bound it so that one report cannot fill the store.
  if (r.result().ByteSizeLong() > 64 * kMaxSpecBytes) {
    return Invalid("result", absl::StrCat(r.result().ByteSizeLong(), " bytes, at most ", 64 * kMaxSpecBytes));
  }
  return absl::OkStatus();
}

}  // namespace braintune::coordinator
