// The operator's scheduling policy file (docs/operations.md).
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "config/yaml_reader.h"
#include "scheduler/scheduling_policy.h"

namespace braintune::scheduler {
namespace {

using config::MapReader;

// A number in [lo, hi] at key, if present.
template <typename T>
absl::Status Number(MapReader& r, const std::string& key, T lo, T hi, T* out) {
  RETURN_IF_ERROR(r.Read(key, out));
  return r.CheckRange(key, *out, lo, hi);
}

// users: / groups: name -> {share, max_gpus, max_priority, allow_nonpreemptible} and, for
// users, {account, groups}.
absl::Status Principals(MapReader& top, const std::string& key, PolicyConfig* c) {
  const bool users = key == "users";
  const YAML::Node section = top.Child(key);
  if (!section.IsDefined() || section.IsNull()) return absl::OkStatus();
  if (!section.IsMap()) return top.Error(section, key, "must map names to {share, max_gpus, ...}");
  for (const auto& kv : section) {
    const std::string name = kv.first.as<std::string>();
    MapReader r(kv.second, absl::StrCat(key, ".", name), top.source());
    RETURN_IF_ERROR(r.CheckIsMap());
    double share = 1;
    int max_gpus = 0, max_priority = -1;
    bool nonpreemptible = false;
    RETURN_IF_ERROR(Number(r, "share", 0.0, 1e6, &share));
    RETURN_IF_ERROR(Number(r, "max_gpus", 0, 1 << 20, &max_gpus));
    RETURN_IF_ERROR(Number(r, "max_priority", -1, 1000, &max_priority));
    RETURN_IF_ERROR(r.Read("allow_nonpreemptible", &nonpreemptible));
    (users ? c->user_shares : c->group_shares)[name] = share;
    if (max_gpus > 0) (users ? c->user_max_gpus : c->group_max_gpus)[name] = max_gpus;
    if (max_priority >= 0) (users ? c->user_max_priority : c->group_max_priority)[name] = max_priority;
    if (nonpreemptible) (users ? c->nonpreemptible_users : c->nonpreemptible_groups).insert(name);
    if (users) {
      std::string account;
      RETURN_IF_ERROR(r.Read("account", &account));
      if (!account.empty()) c->user_accounts[name] = account;
      std::vector<std::string> groups;
      RETURN_IF_ERROR(r.ReadList("groups", &groups));
      if (!groups.empty()) c->user_groups[name] = groups;
    }
    RETURN_IF_ERROR(r.CheckNoUnknownKeys());
  }
  return absl::OkStatus();
}

absl::Status ParsePolicy(const YAML::Node& root, const std::string& source, PolicyConfig* c) {
  MapReader r(root, "", source);
  RETURN_IF_ERROR(r.CheckIsMap());
  if (const YAML::Node w = r.Child("weights"); w.IsDefined() && !w.IsNull()) {
    MapReader wr(w, "weights", source);
    RETURN_IF_ERROR(wr.CheckIsMap());
    RETURN_IF_ERROR(Number(wr, "priority", 0.0, 1e9, &c->weight_priority));
    RETURN_IF_ERROR(Number(wr, "fairshare", 0.0, 1e9, &c->weight_fairshare));
    RETURN_IF_ERROR(Number(wr, "age", 0.0, 1e9, &c->weight_age));
    RETURN_IF_ERROR(wr.CheckNoUnknownKeys());
  }
  RETURN_IF_ERROR(Number(r, "age_max_hours", 0.0, 1e6, &c->age_max_hours));
  RETURN_IF_ERROR(Number(r, "usage_half_life_hours", 1e-3, 1e6, &c->usage_half_life_hours));
  RETURN_IF_ERROR(r.Read("backfill", &c->backfill));
  RETURN_IF_ERROR(r.Read("preemption", &c->preemption));
  RETURN_IF_ERROR(Number(r, "default_user_max_gpus", 0, 1 << 20, &c->default_user_max_gpus));
  RETURN_IF_ERROR(Number(r, "default_max_priority", 0, 1000, &c->default_max_priority));
  RETURN_IF_ERROR(r.Read("accounts_same_as_users", &c->accounts_same_as_users));
  RETURN_IF_ERROR(Principals(r, "users", c));
  RETURN_IF_ERROR(Principals(r, "groups", c));
  return r.CheckNoUnknownKeys();
}

}  // namespace

absl::StatusOr<PolicyConfig> ParsePolicyConfig(const std::string& yaml_text, const std::string& source) {
  ASSIGN_OR_RETURN(YAML::Node root, config::LoadYaml(yaml_text, source));
  PolicyConfig c;
  if (root.IsNull()) return c;
  RETURN_IF_ERROR(config::GuardYaml(source, [&] { return ParsePolicy(root, source, &c); }));
  return c;
}

absl::StatusOr<PolicyConfig> LoadPolicyConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, "the policy file"));
  return ParsePolicyConfig(text, path);
}

}  // namespace braintune::scheduler
