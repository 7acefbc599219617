// The data directory of `vsl serve`: one process at a time.
//
// LockDataDir takes an exclusive flock(2) on DATA/serve.lock for as long as
// the process lives (the kernel lets go when it dies, however it dies), so a
// second `vsl serve` on the same directory refuses to start instead of
// fighting the first over its catalog, and a process that holds the lock
// knows every earlier holder is dead. NodeId names the directory in a shared
// catalog's processes table.
#pragma once

#include <string>

#include "util/status.h"

namespace vsl::cli {

// The lock's descriptor (kept open, never closed by the caller);
// FailedPrecondition naming the directory and the holder's pid when another
// process holds it.
Result<int> LockDataDir(const std::string& dir);

// DATA/node-id, made on first use (16 random hex digits).
Result<std::string> NodeId(const std::string& dir);

}  // namespace vsl::cli
