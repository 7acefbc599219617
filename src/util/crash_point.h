// Crash points: named places where a test can have the process die with
// SIGKILL, to prove that whatever a kill leaves behind converges.
//
//   util::CrashPoint("farm.step");   // no-op unless armed
//
// Armed only by `vsl serve --test-faults` from the environment variable
// VSL_CRASH_AT="NAME:N[,NAME:N...]": the N-th time (1-based) the process
// passes the point NAME it prints "vsl: crash point NAME #N: SIGKILL" on
// stderr and kills itself. Passing an unarmed point costs one relaxed atomic
// load. Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace vsl::util {

// Parses `spec` ("" disarms) and arms the points; InvalidArgument naming the
// bad entry otherwise.
Status ArmCrashPoints(std::string_view spec);

void CrashPoint(std::string_view name);

// How many times `name` was passed since arming (counted only while armed).
uint64_t CrashPointHits(std::string_view name);

// Unit tests only: an armed point calls `action` (which may throw, to stop
// the caller as a kill would) instead of killing the process. Empty: kill.
void SetCrashPointAction(std::function<void(std::string_view name)> action);

}  // namespace vsl::util
