// The dashboard's files (src/coordinator/dashboard/), compiled into the coordinator.
#ifndef BRAINTUNE_COORDINATOR_DASHBOARD_ASSETS_H_
#define BRAINTUNE_COORDINATOR_DASHBOARD_ASSETS_H_

#include <string_view>

namespace braintune::coordinator {

// The file called `name` (index.html, signin.html, dashboard.js, dashboard.css); empty if none.
std::string_view DashboardAsset(std::string_view name);

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_DASHBOARD_ASSETS_H_
