// Connection: NOP-Out, Text (SendTargets) and Logout in the full feature
// phase (RFC 7143 §11.10-§11.15, §11.18-§11.19).
#include "gateway/connection.h"
#include "gateway/connection_task.h"
#include "gateway/log.h"

namespace vsl::gateway {

using iscsi::Pdu;
using iscsi::RejectReason;

namespace {

// The portal directory as seen through one connection: TargetAddress is the
// address the initiator reached us at (right even when listening on 0.0.0.0).
class LocalDirectory : public iscsi::TargetDirectory {
 public:
  LocalDirectory(const iscsi::TargetDirectory* base, std::string portal)
      : base_(base), portal_(std::move(portal)) {}
  std::optional<iscsi::TargetAccess> Find(const std::string& name) const override {
    auto a = base_->Find(name);
    if (a) Localize(&*a);
    return a;
  }
  std::vector<iscsi::TargetAccess> ForInitiator(const std::string& initiator) const override {
    auto all = base_->ForInitiator(initiator);
    for (auto& a : all) Localize(&a);
    return all;
  }

 private:
  void Localize(iscsi::TargetAccess* a) const {
    if (!portal_.empty()) a->portals = {portal_ + "," + std::to_string(a->tpgt)};
  }
  const iscsi::TargetDirectory* base_;
  std::string portal_;
};

}  // namespace

// ---- NOP, Text, Logout

void Connection::HandleNopOut(Pdu& pdu) {
  Result<iscsi::NopOutPdu> nop = iscsi::ParseNopOut(pdu);
  if (!nop.ok()) {
    Log().warn("{}: {}", peer_, nop.status().message());
    SendReject(RejectReason::kInvalidPduField, pdu);
    return;
  }
  if (nop->itt == iscsi::kReservedTag) {
    if (nop->ttt == ping_ttt_) ping_outstanding_ = false;
    return;
  }
  if (nop->ttt != iscsi::kReservedTag) {
    SendReject(RejectReason::kInvalidPduField, pdu);
    return;
  }
  Send(iscsi::MakeNopIn(nop->itt, iscsi::kReservedTag, nop->lun, nop->data), true);
}

void Connection::HandleText(Pdu& pdu) {
  Result<iscsi::TextRequestPdu> req = iscsi::ParseTextRequest(pdu);
  if (!req.ok()) {
    Log().warn("{}: {}", peer_, req.status().message());
    SendReject(RejectReason::kInvalidPduField, pdu);
    return;
  }
  if (req->ttt != iscsi::kReservedTag) {
    if (req->ttt == text_ttt_ && text_out_offset_ < text_out_.size()) {
      SendTextChunk(req->itt, req->lun);
    } else {
      SendReject(RejectReason::kInvalidPduField, pdu);
    }
    return;
  }
  text_in_.insert(text_in_.end(), req->data.begin(), req->data.end());
  if (text_in_.size() > 65536) {
    text_in_.clear();
    SendReject(RejectReason::kProtocolError, pdu);
    return;
  }
  if (req->cont) {
    // More of the request follows: acknowledge with an empty response.
    Send(iscsi::MakeTextResponse(req->itt, iscsi::kReservedTag, false, false, req->lun, {}), true);
    return;
  }
  std::vector<uint8_t> request;
  request.swap(text_in_);
  Result<std::vector<iscsi::TextKey>> keys = iscsi::ParseText(request);
  if (!keys.ok()) {
    Log().warn("{}: text request: {}", peer_, keys.status().message());
    SendReject(RejectReason::kInvalidPduField, pdu);
    return;
  }
  std::vector<iscsi::TextKey> answer;
  for (const iscsi::TextKey& k : *keys) {
    if (k.key == "SendTargets") {
      std::string value = k.value;
      if (!login_.discovery && (value.empty() || value == "All")) {
        // A normal session only learns about its own target (RFC 7143 §12.1).
        value = login_.target_name;
      }
      LocalDirectory dir(portal_->directory(), local_);
      auto found = iscsi::SendTargets(dir, login_.initiator_name, value);
      answer.insert(answer.end(), found.begin(), found.end());
    } else {
      answer.push_back({k.key, "NotUnderstood"});
    }
  }
  text_out_ = iscsi::EncodeText(answer);
  text_out_offset_ = 0;
  text_ttt_ = iscsi::kReservedTag;
  SendTextChunk(req->itt, req->lun);
}

void Connection::SendTextChunk(uint32_t itt, uint64_t lun) {
  size_t max = login_.connection.initiator_max_recv_data_segment_length;
  size_t n = std::min(max, text_out_.size() - text_out_offset_);
  std::vector<uint8_t> chunk(text_out_.begin() + long(text_out_offset_),
                             text_out_.begin() + long(text_out_offset_ + n));
  text_out_offset_ += n;
  bool more = text_out_offset_ < text_out_.size();
  if (more) {
    text_ttt_ = next_ttt_++;
    if (next_ttt_ == iscsi::kReservedTag) next_ttt_ = 1;
  } else {
    text_ttt_ = iscsi::kReservedTag;
    text_out_.clear();
    text_out_offset_ = 0;
  }
  Send(iscsi::MakeTextResponse(itt, text_ttt_, !more, more, lun, std::move(chunk)), true);
}

void Connection::HandleLogout(Pdu& pdu) {
  Result<iscsi::LogoutRequestPdu> req = iscsi::ParseLogoutRequest(pdu);
  if (!req.ok()) {
    Log().warn("{}: {}", peer_, req.status().message());
    SendReject(RejectReason::kInvalidPduField, pdu);
    return;
  }
  uint8_t response = 0;  // connection or session closed successfully
  if (req->reason == 2) {
    response = 2;  // connection recovery is not supported (ERL 0)
  } else if (req->reason == 1 && req->cid != login_.cid) {
    response = 1;  // CID not found
  } else if (req->reason > 2) {
    SendReject(RejectReason::kInvalidPduField, pdu);
    return;
  }
  Send(iscsi::MakeLogoutResponse(req->itt, response, 0, 0), true);
  if (response == 0) {
    Log().info("{}: logout of {} ({})", peer_, login_.initiator_name,
               login_.discovery ? "discovery" : login_.target_name);
    // Nothing may follow the Logout Response; the socket closes once it is out.
    phase_ = Phase::kLoggedOut;
    DropAllTasks();
    ScheduleFlush();
  }
}

}  // namespace vsl::gateway
