// The life of a farm and of a farm job, each as one table (like FIG. 7's
// disk_state for disk units): every change of a farm's state is a
// compare-and-swap from the state the caller planned from, and a change the
// table does not list is refused.
//
//   applying   --done-->      ready
//   applying   --fail-->      failed
//   destroying --done-->      destroyed (the row is then removed)
//   destroying --fail-->      failed
//   ready, failed, applying, destroying --apply-->   applying
//   ready, failed, applying, destroying --destroy--> destroying
//
// An apply or destroy may start from "applying" or "destroying": the process
// that was running it died (the catalog's farm lock says so), and the new
// run reconciles from what is there.
#pragma once

#include <optional>
#include <string_view>

#include "util/status.h"

namespace vsl::farm {

enum class FarmPhase { kApplying, kReady, kFailed, kDestroying, kDestroyed };
enum class FarmEvent { kApply, kDestroy, kDone, kFail };

// "applying", "ready", ... as stored in farms.state and the farm record.
std::string_view FarmPhaseName(FarmPhase p);
Result<FarmPhase> ParseFarmPhase(std::string_view name);
// The state `event` leads to from `from`; FailedPrecondition naming both
// when the table has no such row.
Result<FarmPhase> NextFarmPhase(FarmPhase from, FarmEvent event);

enum class JobState { kRunning, kDone, kFailed };
std::string_view JobStateName(JobState s);

}  // namespace vsl::farm
