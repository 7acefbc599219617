// The data directory of `vsl serve`. It holds the SQLite catalog (every
// host's CHAP secret), the admin token and the file arrays (customers'
// data), so it is private (0700, everything in it 0600), and one process at
// a time runs on it.
#pragma once

#include <string>

#include "util/status.h"

namespace vsl::cli {

// Makes `dir` private before `vsl serve` opens anything in it: sets the
// process umask to 077 (every file the process makes later is 0600, every
// directory 0700, SQLite's -wal and -shm included), creates `dir` when it is
// missing, and takes group/other access away from what an earlier start made
// (array directories and volume files).
//
// Refuses (FailedPrecondition, saying which path, its mode and the chmod that
// fixes it) when a path that holds secrets is open to group or others: the
// directory itself once it holds a catalog or token, DIR/catalog.db and its
// -wal/-shm/-journal, DIR/admin.token. Those are not silently repaired: if
// they were readable, a local user may have read them, and the operator
// should know (and rotate the secrets).
Status SecureDataDir(const std::string& dir);

// Takes an exclusive flock(2) on DIR/serve.lock for as long as the process
// lives (the kernel lets go when it dies, however it dies), so a second
// `vsl serve` on the same directory refuses to start instead of fighting the
// first over its catalog, and the holder knows every earlier one is dead.
// Returns the lock's descriptor (kept open, never closed by the caller);
// FailedPrecondition naming the directory and the holder's pid when another
// process holds it.
Result<int> LockDataDir(const std::string& dir);

// DIR/node-id, made on first use (16 random hex digits): names the directory
// in a shared catalog's processes table.
Result<std::string> NodeId(const std::string& dir);

}  // namespace vsl::cli
