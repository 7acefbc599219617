// What a process that runs the gateway sets up before its first thread:
// shared by `vsl serve`, `vsl gateway` and the tests' gateway runner.
#pragma once

#include <signal.h>

namespace vsl::gateway {

// Data buffers of up to a few MiB are allocated and freed per command on
// different threads; glibc would mmap/munmap (or trim) each one, and the
// page faults cost a third of a 1 MiB read, so they are kept in the heap.
// SIGINT and SIGTERM are blocked (every thread started later inherits the
// mask, so the caller's sigwait on the returned set is the only place they
// arrive); SIGPIPE is ignored (a peer that goes away is an error on its
// socket). Call before starting any thread.
sigset_t PrepareProcess();

}  // namespace vsl::gateway
