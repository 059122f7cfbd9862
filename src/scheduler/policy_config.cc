// The operator's scheduling policy file (docs/operations.md).
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "scheduler/scheduling_policy.h"
#include "yaml-cpp/yaml.h"

namespace braintune::scheduler {
namespace {

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  absl::Status Error(const YAML::Node& at, const std::string& key, const std::string& what) const {
    const int line = at.Mark().line >= 0 ? at.Mark().line + 1 : 0;
    return absl::InvalidArgumentError(
        absl::StrCat(source_, line > 0 ? absl::StrCat(":", line) : "", ": ", key, ": ", what));
  }

  // Keys of `node` must be among `known`.
  absl::Status Keys(const YAML::Node& node, const std::string& where, const std::set<std::string>& known) const {
    if (!node.IsMap()) return Error(node, where.empty() ? "<top level>" : where, "must be a mapping");
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      if (!known.count(key)) {
        return Error(kv.first, Join(where, key), absl::StrCat("unknown key (known: ", absl::StrJoin(known, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  // A number in [lo, hi] at node[key], if present.
  template <typename T>
  absl::Status Number(const YAML::Node& node, const std::string& where, const std::string& key, T lo, T hi, T* out) const {
    const YAML::Node& c = node;
    const YAML::Node v = c[key];
    if (!v.IsDefined() || v.IsNull()) return absl::OkStatus();
    try {
      *out = v.as<T>();
    } catch (const YAML::Exception&) {
      return Error(v, Join(where, key), "expected a number");
    }
    if (*out < lo || *out > hi) return Error(v, Join(where, key), absl::StrCat(*out, " is out of range [", lo, ", ", hi, "]"));
    return absl::OkStatus();
  }

  absl::Status Bool(const YAML::Node& node, const std::string& key, bool* out) const {
    const YAML::Node& c = node;
    const YAML::Node v = c[key];
    if (!v.IsDefined() || v.IsNull()) return absl::OkStatus();
    try {
      *out = v.as<bool>();
    } catch (const YAML::Exception&) {
      return Error(v, key, "expected true or false");
    }
    return absl::OkStatus();
  }

  // users: / groups: name -> {share, max_gpus}
  absl::Status Principals(const YAML::Node& root, const std::string& key, std::map<std::string, double>* shares,
                          std::map<std::string, int>* quotas) const {
    const YAML::Node& c = root;
    const YAML::Node section = c[key];
    if (!section.IsDefined() || section.IsNull()) return absl::OkStatus();
    if (!section.IsMap()) return Error(section, key, "must map names to {share, max_gpus}");
    for (const auto& kv : section) {
      const std::string name = kv.first.as<std::string>();
      const std::string where = Join(key, name);
      RETURN_IF_ERROR(Keys(kv.second, where, {"share", "max_gpus"}));
      double share = 1;
      int max_gpus = 0;
      RETURN_IF_ERROR(Number(kv.second, where, "share", 0.0, 1e6, &share));
      RETURN_IF_ERROR(Number(kv.second, where, "max_gpus", 0, 1 << 20, &max_gpus));
      (*shares)[name] = share;
      if (max_gpus > 0) (*quotas)[name] = max_gpus;
    }
    return absl::OkStatus();
  }

 private:
  static std::string Join(const std::string& where, const std::string& key) {
    return where.empty() ? key : absl::StrCat(where, ".", key);
  }

  std::string source_;
};

}  // namespace

absl::StatusOr<PolicyConfig> ParsePolicyConfig(const std::string& yaml_text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
  PolicyConfig c;
  if (root.IsNull()) return c;
  Reader r(source);
  RETURN_IF_ERROR(r.Keys(root, "", {"weights", "age_max_hours", "usage_half_life_hours", "backfill", "preemption",
                                       "default_user_max_gpus", "users", "groups"}));
  const YAML::Node& croot = root;
  if (const YAML::Node w = croot["weights"]; w.IsDefined() && !w.IsNull()) {
    RETURN_IF_ERROR(r.Keys(w, "weights", {"priority", "fairshare", "age"}));
    RETURN_IF_ERROR(r.Number(w, "weights", "priority", 0.0, 1e9, &c.weight_priority));
    RETURN_IF_ERROR(r.Number(w, "weights", "fairshare", 0.0, 1e9, &c.weight_fairshare));
    RETURN_IF_ERROR(r.Number(w, "weights", "age", 0.0, 1e9, &c.weight_age));
  }
  RETURN_IF_ERROR(r.Number(root, "", "age_max_hours", 0.0, 1e6, &c.age_max_hours));
  RETURN_IF_ERROR(r.Number(root, "", "usage_half_life_hours", 1e-3, 1e6, &c.usage_half_life_hours));
  RETURN_IF_ERROR(r.Bool(root, "backfill", &c.backfill));
  RETURN_IF_ERROR(r.Bool(root, "preemption", &c.preemption));
  RETURN_IF_ERROR(r.Number(root, "", "default_user_max_gpus", 0, 1 << 20, &c.default_user_max_gpus));
  RETURN_IF_ERROR(r.Principals(root, "users", &c.user_shares, &c.user_max_gpus));
  RETURN_IF_ERROR(r.Principals(root, "groups", &c.group_shares, &c.group_max_gpus));
  return c;
}

absl::StatusOr<PolicyConfig> LoadPolicyConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, "the policy file"));
  return ParsePolicyConfig(text, path);
}

}  // namespace braintune::scheduler
