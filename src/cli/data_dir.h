// The data directory's permissions. It holds the SQLite catalog (every host's
// CHAP secret), the admin token and the file arrays (customers' data), so it
// is 0700 and everything in it 0600: no other local user reads any of it.
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

}  // namespace vsl::cli
