// The Ceph clients a vsl process opens, noted in a file of its data
// directory so that the next process knows which lock owners are dead.
//
// Every cluster handle vsl connects (the rbd arrays' and the gateway's) is
// noted as one line "FSID NONCE ADDRESS" in the file SetRbdClientLog names
// (vsl serve: DATA/rbd-clients). A vsl serve holds its data directory's lock
// for its whole life, so when the next one starts, every client in that file
// belongs to a process that is gone: the exclusive locks they hold on images
// can be broken (rbd_lock_break, which also blocklists the dead client)
// without waiting for the OSD to expire their watches. Clients of other
// processes (another gateway node, an operator's rbd) are never in the file,
// so their locks are never broken.
//
// The line is written, not synced, right after the connect: a killed process
// leaves it in the page cache. A machine that crashes may lose it; then the
// dead client's watch expires (osd_client_watch_timeout, 30 s) and librbd
// breaks its lock by itself on the next acquire.
#pragma once

#include <string>
#include <vector>

#include "util/status.h"

namespace vsl::util {

struct RbdClient {
  std::string fsid;   // the cluster's
  std::string nonce;  // what tells one client from another
  std::string addr;   // as Ceph prints it, for messages
  bool operator==(const RbdClient&) const = default;
};

// Where this process notes its clients from now on; empty: nowhere.
void SetRbdClientLog(const std::string& path);
// Notes a connected handle: the cluster's fsid and the handle's addresses
// (rados_cluster_fsid, rados_getaddrs).
void NoteRbdClient(const std::string& fsid, const std::string& addrs);
// The clients a file lists (none when it does not exist).
Result<std::vector<RbdClient>> ReadRbdClientLog(const std::string& path);
// Replaces the file's content with `clients` (atomically), or removes it
// when there are none.
Status WriteRbdClientLog(const std::string& path, const std::vector<RbdClient>& clients);
// The nonce of a Ceph entity address ("127.0.0.1:0/3017452034",
// "v2:127.0.0.1:0/3017452034", "[v2:...,v1:...]"); empty when it has none.
std::string RbdAddrNonce(const std::string& addr);

}  // namespace vsl::util
