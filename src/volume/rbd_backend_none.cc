// The RBD backend of a build without librbd (VSL_WITH_RBD=OFF, or no
// librbd-dev): every RBD extent is refused when a volume opens.
#include "volume/rbd_backend.h"

namespace vsl::volume {

class RbdBackend {};

std::string RbdName(const RbdImage& where) {
  return "rbd:" + where.pool + "/" + where.image + (where.snap.empty() ? "" : "@" + where.snap);
}
std::string RbdKey(const RbdImage& where) {
  return where.conf + '\n' + where.user + '\n' + where.keyring + '\n' + where.pool + '\n' +
         where.image + (where.snap.empty() ? "" : "@" + where.snap);
}

Result<std::shared_ptr<RbdBackend>> OpenRbd(const RbdImage& where, bool) {
  return FailedPrecondition(
      RbdName(where) +
      ": this vsl was built without librbd (VSL_WITH_RBD=OFF or no librbd-dev), so it "
      "cannot serve RBD images");
}

uint64_t RbdSize(const RbdBackend&) { return 0; }
Status RbdRead(const RbdBackend&, uint64_t, uint8_t*, uint64_t) { return Internal("no librbd"); }
Status RbdWrite(const RbdBackend&, uint64_t, const uint8_t*, uint64_t) {
  return Internal("no librbd");
}
Status RbdFlush(const RbdBackend&) { return Internal("no librbd"); }
Status RbdDiscard(const RbdBackend&, uint64_t, uint64_t) { return Internal("no librbd"); }
void RbdAioRead(const RbdBackend&, uint64_t, uint8_t*, uint64_t, RbdDone done) {
  done(Internal("no librbd"));
}
void RbdAioReadHeld(const RbdBackend&, uint64_t, uint64_t, RbdHeldDone done) {
  done(Internal("no librbd"), nullptr);
}
void RbdAioWrite(const RbdBackend&, uint64_t, const uint8_t*, uint64_t, RbdDone done) {
  done(Internal("no librbd"));
}
void RbdAioFlush(const RbdBackend&, RbdDone done) { done(Internal("no librbd")); }
void RbdAioDiscard(const RbdBackend&, uint64_t, uint64_t, RbdDone done) {
  done(Internal("no librbd"));
}
void RbdAioWriteZeroes(const RbdBackend&, uint64_t, uint64_t, RbdDone done) {
  done(Internal("no librbd"));
}
RbdIoStats GetRbdIoStats() { return {}; }
bool WaitRbdQuiet(std::chrono::milliseconds) { return true; }

Status RbdRuns(const RbdBackend&, uint64_t, uint64_t,
               const std::function<bool(uint64_t, uint64_t, bool)>&) {
  return Internal("no librbd");
}

Result<std::optional<RbdParent>> RbdCloneParent(const RbdBackend&, const RbdImage&) {
  return std::optional<RbdParent>();
}

Status RbdSnapCreate(const RbdBackend&, const std::string&) { return Internal("no librbd"); }
Status RbdSnapRemove(const RbdBackend&, const std::string&) { return Internal("no librbd"); }
Result<std::vector<std::string>> RbdSnapNames(const RbdBackend&) { return Internal("no librbd"); }
Status RbdDiff(const RbdBackend&, const std::string&, uint64_t, uint64_t,
               const std::function<void(uint64_t, uint64_t)>&) {
  return Internal("no librbd");
}

}  // namespace vsl::volume
