// CommandWindow: the CmdSN ordering of one session (RFC 7143 §3.2.2.1,
// §4.2.2.1).
//
// Non-immediate commands are delivered to the SCSI layer in CmdSN order. A
// command that arrives ahead of a gap waits here until the gap fills; one
// outside [ExpCmdSN, MaxCmdSN] is dropped silently, as the RFC asks. The
// window closes as commands are in flight: MaxCmdSN = ExpCmdSN + depth - 1 -
// (commands released and not yet finished), so it never moves backwards and
// an initiator can't have more than `depth` commands outstanding.
//
// Pure and single-threaded: the connection that owns the session uses it.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace vsl::gateway {

// Serial number arithmetic (RFC 1982) on 32-bit sequence numbers.
inline bool SnLess(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }
inline bool SnLessEq(uint32_t a, uint32_t b) { return a == b || SnLess(a, b); }

template <typename T>
class CommandWindow {
 public:
  enum class Verdict {
    kReleased,  // the item (and any it unblocked) went to `ready`
    kQueued,    // waits for a lower CmdSN
    kDropped,   // outside the window, or a CmdSN already seen
  };

  CommandWindow(uint32_t expcmdsn, uint32_t depth) : exp_(expcmdsn), depth_(depth ? depth : 1) {}

  uint32_t expcmdsn() const { return exp_; }
  uint32_t maxcmdsn() const { return exp_ + (depth_ - 1) - active_; }
  uint32_t active() const { return active_; }
  size_t queued() const { return queued_.size(); }

  bool InWindow(uint32_t cmdsn) const {
    return SnLessEq(exp_, cmdsn) && SnLessEq(cmdsn, maxcmdsn()) && active_ < depth_;
  }

  // A non-immediate PDU carrying `cmdsn`. Released items are appended to
  // `ready` in CmdSN order; each one counts as active until Finished().
  Verdict Offer(uint32_t cmdsn, T item, std::vector<T>* ready) {
    if (!InWindow(cmdsn)) return Verdict::kDropped;
    if (cmdsn != exp_) {
      for (const auto& q : queued_) {
        if (q.first == cmdsn) return Verdict::kDropped;
      }
      for (uint32_t s : skipped_) {
        if (s == cmdsn) return Verdict::kDropped;
      }
      queued_.emplace_back(cmdsn, std::move(item));
      return Verdict::kQueued;
    }
    ready->push_back(std::move(item));
    ++active_;
    ++exp_;
    Drain(ready);
    return Verdict::kReleased;
  }

  // Counts `cmdsn` as received although no command came with it (ABORT TASK
  // for a command that never arrived, RFC 7143 §11.5.1). Ignored outside the
  // window.
  void Skip(uint32_t cmdsn, std::vector<T>* ready) {
    if (!SnLessEq(exp_, cmdsn) || !SnLessEq(cmdsn, maxcmdsn())) return;
    if (cmdsn != exp_) {
      skipped_.push_back(cmdsn);
      return;
    }
    ++exp_;
    Drain(ready);
  }

  // Removes the first queued item for which pred(item) holds and counts its
  // CmdSN as received (the task was aborted before it could run).
  template <typename Pred>
  std::optional<T> RemoveQueued(Pred pred, std::vector<T>* ready) {
    for (size_t i = 0; i < queued_.size(); ++i) {
      if (pred(queued_[i].second)) {
        T item = std::move(queued_[i].second);
        uint32_t sn = queued_[i].first;
        queued_.erase(queued_.begin() + i);
        Skip(sn, ready);
        return item;
      }
    }
    return std::nullopt;
  }

  // A released item has finished; its slot opens (MaxCmdSN moves on).
  void Finished() {
    if (active_ > 0) --active_;
  }

 private:
  void Drain(std::vector<T>* ready) {
    for (bool progress = true; progress;) {
      progress = false;
      for (size_t i = 0; i < skipped_.size(); ++i) {
        if (skipped_[i] == exp_) {
          skipped_.erase(skipped_.begin() + i);
          ++exp_;
          progress = true;
          break;
        }
      }
      for (size_t i = 0; i < queued_.size(); ++i) {
        if (queued_[i].first == exp_) {
          ready->push_back(std::move(queued_[i].second));
          queued_.erase(queued_.begin() + i);
          ++active_;
          ++exp_;
          progress = true;
          break;
        }
      }
    }
  }

  uint32_t exp_;
  uint32_t depth_;
  uint32_t active_ = 0;
  std::vector<std::pair<uint32_t, T>> queued_;  // CmdSN > exp_, arrival order
  std::vector<uint32_t> skipped_;
};

}  // namespace vsl::gateway
