#include "farm/farm_states.h"

#include <string>

namespace vsl::farm {
namespace {

struct Row {
  FarmPhase from;
  FarmEvent event;
  FarmPhase to;
};

constexpr Row kFarmTable[] = {
    {FarmPhase::kReady, FarmEvent::kApply, FarmPhase::kApplying},
    {FarmPhase::kFailed, FarmEvent::kApply, FarmPhase::kApplying},
    {FarmPhase::kApplying, FarmEvent::kApply, FarmPhase::kApplying},
    {FarmPhase::kDestroying, FarmEvent::kApply, FarmPhase::kApplying},
    {FarmPhase::kReady, FarmEvent::kDestroy, FarmPhase::kDestroying},
    {FarmPhase::kFailed, FarmEvent::kDestroy, FarmPhase::kDestroying},
    {FarmPhase::kApplying, FarmEvent::kDestroy, FarmPhase::kDestroying},
    {FarmPhase::kDestroying, FarmEvent::kDestroy, FarmPhase::kDestroying},
    {FarmPhase::kApplying, FarmEvent::kDone, FarmPhase::kReady},
    {FarmPhase::kApplying, FarmEvent::kFail, FarmPhase::kFailed},
    {FarmPhase::kDestroying, FarmEvent::kDone, FarmPhase::kDestroyed},
    {FarmPhase::kDestroying, FarmEvent::kFail, FarmPhase::kFailed},
    // A destroyed farm's row may stay (volumes still name it); a new farm of
    // that name starts from it.
    {FarmPhase::kDestroyed, FarmEvent::kApply, FarmPhase::kApplying},
};

constexpr std::string_view kPhaseNames[] = {"applying", "ready", "failed", "destroying", "destroyed"};
constexpr std::string_view kEventNames[] = {"apply", "destroy", "done", "fail"};

}  // namespace

std::string_view FarmPhaseName(FarmPhase p) { return kPhaseNames[static_cast<int>(p)]; }

Result<FarmPhase> ParseFarmPhase(std::string_view name) {
  for (int i = 0; i < 5; ++i) {
    if (kPhaseNames[i] == name) return static_cast<FarmPhase>(i);
  }
  return InvalidArgument("unknown farm state '" + std::string(name) + "'");
}

Result<FarmPhase> NextFarmPhase(FarmPhase from, FarmEvent event) {
  for (const Row& r : kFarmTable) {
    if (r.from == from && r.event == event) return r.to;
  }
  std::string allowed;
  for (const Row& r : kFarmTable) {
    if (r.event == event) allowed += (allowed.empty() ? "" : ", ") + std::string(FarmPhaseName(r.from));
  }
  return FailedPrecondition("a farm that is " + std::string(FarmPhaseName(from)) + " cannot " +
                            std::string(kEventNames[static_cast<int>(event)]) + " (allowed from: " + allowed + ")");
}

std::string_view JobStateName(JobState s) {
  constexpr std::string_view kNames[] = {"running", "done", "failed"};
  return kNames[static_cast<int>(s)];
}

}  // namespace vsl::farm
