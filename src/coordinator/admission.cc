#include "coordinator/admission.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace braintune::coordinator {
namespace {

template <typename Map>
auto Find(const Map& map, const std::string& key, typename Map::mapped_type fallback) {
  auto it = map.find(key);
  return it == map.end() ? fallback : it->second;
}

}  // namespace

absl::StatusOr<std::string> AdmitJob(const v1::JobSpec& spec, const Caller& caller, bool multi_user,
                                     const scheduler::PolicyConfig& policy) {
  if (!multi_user) return std::string();
  const std::string& user = caller.user;
  std::string account = Find(policy.user_accounts, user, policy.accounts_same_as_users ? user : "");
  if (account.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat("user '", user, "' has no Unix account to run jobs as: an operator maps it in the policy file "
                     "(users.", user, ".account, or accounts_same_as_users: true)"));
  }
  if (account == "root") {
    return absl::PermissionDeniedError(absl::StrCat("user '", user, "' is mapped to root; jobs never run as root"));
  }
  if (caller.admin) return account;
  const std::vector<std::string> groups = Find(policy.user_groups, user, std::vector<std::string>{});
  if (!spec.group().empty() && std::find(groups.begin(), groups.end(), spec.group()) == groups.end()) {
    return absl::PermissionDeniedError(
        absl::StrCat("resources.group: '", spec.group(), "' is not one of user '", user, "''s groups in the policy (",
                     groups.empty() ? "none" : absl::StrJoin(groups, ", "), ")"));
  }
  int max_priority = std::max(policy.default_max_priority, Find(policy.user_max_priority, user, -1));
  if (!spec.group().empty()) max_priority = std::max(max_priority, Find(policy.group_max_priority, spec.group(), -1));
  if (spec.priority() > max_priority) {
    return absl::PermissionDeniedError(absl::StrCat("resources.priority: ", spec.priority(),
                                                    " is above the most the policy allows user '", user, "'",
                                                    spec.group().empty() ? "" : absl::StrCat(" in group '", spec.group(), "'"),
                                                    " (", max_priority, ")"));
  }
  if (!spec.preemptible() && !policy.nonpreemptible_users.count(user) &&
      !(!spec.group().empty() && policy.nonpreemptible_groups.count(spec.group()))) {
    return absl::PermissionDeniedError(absl::StrCat(
        "resources.preemptible: false needs allow_nonpreemptible for user '", user, "' or the job's group in the policy"));
  }
  return account;
}

}  // namespace braintune::coordinator
