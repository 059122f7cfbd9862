#include "coordinator/job_spec_proto.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "config/job_spec.h"

namespace braintune::coordinator {

absl::StatusOr<v1::JobSpec> JobSpecProtoFromText(const std::string& spec_yaml, const std::string& source_file,
                                                 const std::string& base_dir) {
  const std::string source = source_file.empty() ? "job spec" : source_file;
  if (!base_dir.empty() && base_dir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("spec.base_dir '", base_dir, "' is not an absolute path"));
  }
  config::LoadedSpec loaded;
  if (base_dir.empty()) {
    ASSIGN_OR_RETURN(loaded.spec, config::ParseJobSpec(spec_yaml, source));
    loaded.text = spec_yaml;
  } else {
    ASSIGN_OR_RETURN(loaded, config::ParseJobSpecText(spec_yaml, source, base_dir));
  }
  const config::JobSpec& parsed = loaded.spec;
  v1::JobSpec out;
  out.set_spec_yaml(loaded.text);
  out.set_source_file(source_file);
  out.set_name(parsed.name);
  out.set_kind(parsed.kind);
  const config::ResourcesSpec& r = parsed.resources;
  out.set_ranks(r.ranks);
  out.set_gpus_per_rank(r.gpus_per_rank);
  out.set_gpu_memory_mb(static_cast<int64_t>(std::llround(r.gpu_memory_gb * 1024)));
  out.set_priority(r.priority);
  out.set_group(r.group);
  out.set_preemptible(r.preemptible);
  out.set_max_restarts(r.max_restarts);
  out.set_restart_backoff_sec(r.restart_backoff_seconds);
  return out;
}

}  // namespace braintune::coordinator
