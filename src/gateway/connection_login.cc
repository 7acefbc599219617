// Connection: the login phase (RFC 7143 §6). The negotiation itself is
// iscsi::LoginNegotiator's; here are the socket side, the session binding and
// the switch to the full feature phase.
#include <openssl/rand.h>

#include <random>

#include "gateway/connection.h"
#include "gateway/log.h"

namespace vsl::gateway {

namespace {

void RandomBytes(std::span<uint8_t> out) {
  if (RAND_bytes(out.data(), int(out.size())) == 1) return;
  // OpenSSL's generator failed (it practically never does); CHAP challenges
  // must still be unpredictable, so fall back to the kernel's.
  std::random_device rd;
  for (auto& b : out) b = uint8_t(rd());
}

std::string IsidHex(const std::array<uint8_t, 6>& isid) {
  char buf[16];
  snprintf(buf, sizeof buf, "%02x%02x%02x%02x%02x%02x", isid[0], isid[1], isid[2], isid[3], isid[4],
           isid[5]);
  return buf;
}

}  // namespace

void Connection::HandleLogin(iscsi::Pdu& pdu) {
  if (pdu.opcode() != iscsi::Opcode::kLoginRequest) {
    Close("opcode " + std::to_string(int(pdu.opcode())) + " before login completed");
    return;
  }
  login_cmdsn_ = pdu.field32(24);
  if (!negotiator_) {
    statsn_ = pdu.field32(28);  // start where the initiator expects (ExpStatSN)
    auto binder = [this](const iscsi::LoginOutcome& o) -> std::variant<uint16_t, iscsi::LoginStatus> {
      std::shared_ptr<scsi::Target> target;
      if (!o.discovery) {
        target = portal_->FindTarget(o.target_name);
        if (!target) return iscsi::kLoginAuthFailed;  // removed during the login
      }
      std::weak_ptr<Connection> weak = weak_from_this();
      EventLoop* loop = loop_;
      SessionTable::CloseFn close = [weak, loop](const std::string& reason) {
        loop->Post([weak, reason] {
          if (auto c = weak.lock()) c->Close(reason);
        });
      };
      auto bound = portal_->sessions()->Bind(o, target, id_, std::move(close));
      if (auto* status = std::get_if<iscsi::LoginStatus>(&bound)) return *status;
      binding_ = std::get<SessionTable::Binding>(bound);
      target_ = std::move(target);
      return binding_->tsih;
    };
    negotiator_ = std::make_unique<iscsi::LoginNegotiator>(portal_->limits(), portal_->directory(),
                                                           std::move(binder), RandomBytes);
  }
  iscsi::Pdu response = negotiator_->Step(pdu);
  switch (negotiator_->state()) {
    case iscsi::LoginNegotiator::State::kInProgress:
      Send(std::move(response), true);
      return;
    case iscsi::LoginNegotiator::State::kFailed:
      LogLimited(spdlog::level::warn, "login failed", "{}: login failed: {}", peer_,
                 negotiator_->failure());
      portal_->CountLogin(LoginFailureOf(response.bhs[36], response.bhs[37]));
      Send(std::move(response), true);
      close_after_flush_ = true;
      close_reason_ = "login refused";
      // A failed login may still have bound a session (binder ran, then the
      // response failed); release it.
      if (binding_) {
        portal_->sessions()->Release(binding_->tsih, id_);
        binding_.reset();
      }
      return;
    case iscsi::LoginNegotiator::State::kSucceeded:
      break;
  }
  login_ = negotiator_->outcome();
  if (!binding_) {
    // The negotiator succeeded without calling the binder: refuse rather
    // than run a session nobody knows about.
    Log().error("{}: login succeeded without a session binding", peer_);
    Close("internal error: no session binding");
    return;
  }
  window_.emplace(login_.cmdsn, portal_->options().queue_depth);
  Send(std::move(response), true);
  portal_->CountLogin(std::nullopt);
  EnterFullFeature();
}

void Connection::EnterFullFeature() {
  phase_ = Phase::kFullFeature;
  if (!login_.discovery) {
    std::string prefix = portal_->options().iqn_prefix + ":";
    if (login_.target_name.rfind(prefix, 0) == 0) host_ = login_.target_name.substr(prefix.size());
    lu_table_ = portal_->lu_stats(loop_);
  }
  // Digests start with the first PDU after the final Login Response.
  digests_.header_digest = login_.connection.header_digest;
  digests_.data_digest = login_.connection.data_digest;
  reader_.set_digests(digests_);
  reader_.set_max_data_segment(login_.connection.target_max_recv_data_segment_length);
  const iscsi::SessionParams& s = login_.session;
  Log().info(
      "{}: login of {} (isid {}) to {} as tsih {}: HeaderDigest={} DataDigest={} "
      "MaxRecvDataSegmentLength={}/{} MaxBurstLength={} FirstBurstLength={} "
      "ImmediateData={} InitialR2T={} MaxOutstandingR2T={}",
      peer_, login_.initiator_name, IsidHex(login_.isid),
      login_.discovery ? std::string("discovery") : login_.target_name, binding_->tsih,
      digests_.header_digest ? "CRC32C" : "None", digests_.data_digest ? "CRC32C" : "None",
      login_.connection.initiator_max_recv_data_segment_length,
      login_.connection.target_max_recv_data_segment_length, s.max_burst_length,
      s.first_burst_length, s.immediate_data ? "Yes" : "No", s.initial_r2t ? "Yes" : "No",
      s.max_outstanding_r2t);
}

}  // namespace vsl::gateway
