// LoginNegotiator: the login phase of RFC 7143 §6 with CHAP (§12.1.3).

#include <algorithm>

#include "gateway/iscsi/login_impl.h"

namespace vsl::iscsi {

using namespace login_internal;

LoginNegotiator::LoginNegotiator(TargetLimits limits, const TargetDirectory* directory,
                                 SessionBinder binder, Random random)
    : limits_(limits),
      directory_(directory),
      binder_(std::move(binder)),
      random_(std::move(random)),
      impl_(std::make_shared<Impl>(limits)) {}

Pdu LoginNegotiator::Step(const Pdu& request) { return impl_->Step(*this, request); }

Pdu LoginNegotiator::Impl::Respond(const LoginRequestPdu& req, bool transit, uint8_t nsg,
                                   uint16_t tsih, LoginStatus status, std::vector<uint8_t> text) {
  Pdu pdu = MakeLoginResponse(req, transit, stage, nsg, tsih, status.status_class, status.detail,
                              std::move(text));
  SetSequence(&pdu, {statsn++, req.cmdsn, req.cmdsn});
  return pdu;
}

Pdu LoginNegotiator::Impl::Fail(LoginNegotiator& n, const LoginRequestPdu& req, LoginStatus status,
                                std::string reason) {
  n.state_ = State::kFailed;
  n.failure_ = std::move(reason);
  text_out.clear();
  return Respond(req, false, 0, req.tsih, status, {});
}

Pdu LoginNegotiator::Impl::Step(LoginNegotiator& n, const Pdu& request) {
  LoginRequestPdu req = HeaderOf(request);
  if (!started) statsn = req.expstatsn;
  if (n.state_ != State::kInProgress) {
    return Respond(req, false, 0, req.tsih, kLoginInitiatorError, {});
  }
  if (++pdus > kMaxLoginPdus) {
    return Fail(n, req, kLoginInitiatorError,
                "login not done after " + std::to_string(kMaxLoginPdus) + " PDUs");
  }
  if (request.opcode() != Opcode::kLoginRequest) {
    return Fail(n, req, kLoginInitiatorError, OpcodeName(request.opcode()) + " during login");
  }
  Result<LoginRequestPdu> parsed = ParseLoginRequest(request);
  if (!parsed.ok()) return Fail(n, req, kLoginInitiatorError, parsed.status().message());
  req = *parsed;

  if (!started) {
    if (req.version_min > 0) {
      return Fail(n, req, kLoginUnsupportedVersion,
                  "Version-min " + std::to_string(req.version_min) + " (vsl speaks version 0)");
    }
    started = true;
    first = req;
    first.data = {};
    stage = req.csg;
  } else {
    // RFC 7143 §6: one login keeps its ISID, TSIH, CID, ITT and versions.
    const char* changed =
        req.isid != first.isid   ? "ISID"
        : req.tsih != first.tsih ? "TSIH"
        : req.cid != first.cid   ? "CID"
        : req.itt != first.itt   ? "Initiator Task Tag"
        : req.version_max != first.version_max || req.version_min != first.version_min
            ? "Version-max/min"
            : nullptr;
    if (changed) {
      return Fail(n, req, kLoginInitiatorError,
                  std::string("Login Request changed its ") + changed + " during login");
    }
  }

  if (!text_out.empty()) {
    if (!req.data.empty() || req.cont || req.csg != stage) {
      return Fail(n, req, kLoginInitiatorError,
                  "Login Request with text or flags while the target's response continues");
    }
    return NextChunk(n, req);
  }
  if (req.csg != stage) {
    return Fail(n, req, kLoginInitiatorError,
                "Login Request for stage " + std::to_string(req.csg) +
                    " while the login is in stage " + std::to_string(stage));
  }
  if (text_in.size() + req.data.size() > kMaxRequestText) {
    return Fail(n, req, kLoginInitiatorError, "login text longer than 64 KiB");
  }
  text_in.insert(text_in.end(), req.data.begin(), req.data.end());
  if (req.cont) return Respond(req, false, 0, req.tsih, kLoginSuccess, {});

  Result<std::vector<TextKey>> keys = ParseText(text_in);
  text_in.clear();
  if (!keys.ok()) return Fail(n, req, kLoginInitiatorError, keys.status().message());
  return Negotiate(n, req, *keys);
}

Pdu LoginNegotiator::Impl::Negotiate(LoginNegotiator& n, const LoginRequestPdu& req,
                                     const std::vector<TextKey>& keys) {
  std::vector<TextKey> reply;
  const bool first_answer = !declared;
  std::optional<Failure> failure = declared ? CheckDeclarations(keys) : Declare(n, keys);
  if (failure) return Fail(n, req, failure->status, std::move(failure->reason));

  std::vector<TextKey> security;
  for (const TextKey& k : keys) {
    if (IsSecurityKey(k.key)) security.push_back(k);
  }
  if (!security.empty() && stage != 0) {
    return Fail(n, req, kLoginInitiatorError,
                "security key " + security[0].key + " in the operational stage");
  }
  if (stage == 0) {
    failure = Security(n, security, req.transit, &reply);
    if (failure) return Fail(n, req, failure->status, std::move(failure->reason));
  }
  for (const TextKey& k : keys) {
    if (IsDeclaration(k.key) || IsSecurityKey(k.key)) continue;
    Status st = ops.Answer(k, &reply);
    if (!st.ok()) return Fail(n, req, kLoginInitiatorError, st.message());
  }
  if (first_answer && !discovery) {
    // Ours to declare: whatever the initiator said of them gives way.
    std::erase_if(reply, [](const TextKey& k) {
      return k.key == "TargetPortalGroupTag" || k.key == "TargetAlias";
    });
    reply.push_back({"TargetPortalGroupTag", std::to_string(target->tpgt)});
    if (!target->alias.empty()) reply.push_back({"TargetAlias", target->alias});
  }
  if (stage == 1) ops.DeclareOwn(&reply);

  const bool transit = req.transit && (stage != 0 || auth == Auth::kDone);
  if (!transit) return Emit(n, req, EncodeText(reply), false, 0, req.tsih, State::kInProgress);
  if (req.nsg != 3) {
    return Emit(n, req, EncodeText(reply), true, req.nsg, req.tsih, State::kInProgress);
  }

  // Into full feature phase.
  Status st = ops.Finish();
  if (!st.ok()) return Fail(n, req, kLoginInitiatorError, st.message());
  ops.DeclareOwn(&reply);
  LoginOutcome& out = n.outcome_;
  out.discovery = discovery;
  out.initiator_name = initiator_name;
  out.initiator_alias = initiator_alias;
  out.target_name = discovery ? "" : target->name;
  out.isid = first.isid;
  out.tsih = first.tsih;
  out.cid = first.cid;
  out.cmdsn = req.cmdsn;
  out.expstatsn = first.expstatsn;
  out.session = ops.session();
  out.connection = ops.connection();
  uint16_t tsih = first.tsih;
  // The directory may have changed since the credentials were checked (a
  // slow login): look again before binding a session...
  if (failure = Recheck(n); failure) return Fail(n, req, failure->status, std::move(failure->reason));
  if (n.binder_) {
    std::variant<uint16_t, LoginStatus> bound = n.binder_(out);
    if (const LoginStatus* refused = std::get_if<LoginStatus>(&bound)) {
      return Fail(n, req, *refused,
                  "session refused (status " + std::to_string(refused->status_class) + "/" +
                      std::to_string(refused->detail) + ") for " + initiator_name);
    }
    tsih = std::get<uint16_t>(bound);
    // ...and once more after: a change that landed between the first look
    // and the binding closed only the sessions bound before it. A failed
    // login releases the binding it got.
    if (failure = Recheck(n); failure) {
      return Fail(n, req, failure->status, std::move(failure->reason));
    }
  }
  return Emit(n, req, EncodeText(reply), true, 3, tsih, State::kSucceeded);
}

Pdu LoginNegotiator::Impl::Emit(LoginNegotiator& n, const LoginRequestPdu& req,
                                std::vector<uint8_t> text, bool transit, uint8_t nsg, uint16_t tsih,
                                State final_state) {
  text_out = std::move(text);
  out_pos = 0;
  out_transit = transit;
  out_nsg = nsg;
  out_tsih = tsih;
  out_state = final_state;
  return NextChunk(n, req);
}

Pdu LoginNegotiator::Impl::NextChunk(LoginNegotiator& n, const LoginRequestPdu& req) {
  const size_t len = std::min(kLoginPduText, text_out.size() - out_pos);
  std::vector<uint8_t> chunk(text_out.begin() + out_pos, text_out.begin() + out_pos + len);
  out_pos += len;
  if (out_pos < text_out.size()) {
    Pdu pdu = Respond(req, false, 0, req.tsih, kLoginSuccess, std::move(chunk));
    pdu.bhs[1] |= 0x40;  // C: more text follows
    return pdu;
  }
  text_out.clear();
  Pdu pdu = Respond(req, out_transit, out_nsg, out_tsih, kLoginSuccess, std::move(chunk));
  if (out_transit) stage = out_nsg;
  n.state_ = out_state;
  if (out_state == State::kSucceeded) n.outcome_.next_statsn = statsn;
  return pdu;
}

// The first request: who logs in, to what, and how they must authenticate.
std::optional<Failure> LoginNegotiator::Impl::Declare(LoginNegotiator& n,
                                                      const std::vector<TextKey>& keys) {
  declared = true;
  const std::string* name = Get(keys, "InitiatorName");
  if (!name) {
    return Failure{kLoginMissingParameter, "InitiatorName missing from the first Login Request"};
  }
  initiator_name = *name;
  if (const std::string* alias = Get(keys, "InitiatorAlias")) initiator_alias = *alias;
  const std::string* type = Get(keys, "SessionType");
  session_type = type ? *type : "Normal";
  if (session_type != "Normal" && session_type != "Discovery") {
    return Failure{kLoginInitiatorError,
                   "SessionType=" + Trunc(session_type) + " is neither Normal nor Discovery"};
  }
  discovery = session_type == "Discovery";
  ops.set_discovery(discovery);
  if (const std::string* t = Get(keys, "TargetName")) target_name = *t;
  if (!n.directory_) return Failure{kLoginTargetError, "no target directory"};

  if (discovery) {
    for (TargetAccess& t : n.directory_->ForInitiator(initiator_name)) {
      if (Allows(t, initiator_name)) discovery_targets.push_back(std::move(t));
    }
    if (discovery_targets.empty()) {
      return Failure{kLoginForbidden, "initiator " + Trunc(initiator_name) + " may open no target"};
    }
    none_allowed = std::all_of(discovery_targets.begin(), discovery_targets.end(),
                               [](const TargetAccess& t) { return t.allow_no_auth && !t.chap; });
    chap_possible = std::any_of(discovery_targets.begin(), discovery_targets.end(),
                                [](const TargetAccess& t) { return t.chap.has_value(); });
  } else {
    if (target_name.empty()) {
      return Failure{kLoginMissingParameter, "TargetName missing from the first Login Request"};
    }
    target = n.directory_->Find(target_name);
    // An unknown target is answered like a known one this initiator may not
    // open (same status, same point of the login): the answer must not tell
    // a stranger which target names exist.
    if (!target) return Failure{kLoginForbidden, "target " + Trunc(target_name) + " not found"};
    if (!Allows(*target, initiator_name)) {
      return Failure{kLoginForbidden,
                     "initiator " + Trunc(initiator_name) + " may not open target " + target_name};
    }
    none_allowed = target->allow_no_auth && !target->chap;
    chap_possible = target->chap.has_value();
  }
  if (stage == 1) {
    if (!none_allowed) {
      return Failure{kLoginAuthFailed,
                     "initiator " + initiator_name + " skipped authentication, which is required"};
    }
    auth = Auth::kDone;
  }
  return std::nullopt;
}

std::optional<Failure> LoginNegotiator::Impl::Recheck(LoginNegotiator& n) const {
  const Failure changed{kLoginAuthFailed, "credentials of " + Trunc(initiator_name) +
                                              " changed or were removed during login"};
  if (!discovery) {
    std::optional<TargetAccess> now = n.directory_->Find(target_name);
    if (!now || !Allows(*now, initiator_name) || !SameCredentials(*now, *target)) return changed;
    return std::nullopt;
  }
  std::vector<TargetAccess> now;
  for (TargetAccess& t : n.directory_->ForInitiator(initiator_name)) {
    if (Allows(t, initiator_name)) now.push_back(std::move(t));
  }
  if (chap_proven) {
    for (const TargetAccess& t : now) {
      if (t.name == chap_proven->name && SameCredentials(t, *chap_proven)) return std::nullopt;
    }
    return changed;
  }
  bool still_open = !now.empty() && std::all_of(now.begin(), now.end(), [](const TargetAccess& t) {
    return t.allow_no_auth && !t.chap;
  });
  return still_open ? std::nullopt : std::optional<Failure>(changed);
}

// Later requests may repeat the declarations (libiscsi does) but not change
// them; an alias or a discovery session's TargetName may come late.
std::optional<Failure> LoginNegotiator::Impl::CheckDeclarations(const std::vector<TextKey>& keys) {
  if (const std::string* alias = Get(keys, "InitiatorAlias"); alias && initiator_alias.empty()) {
    initiator_alias = *alias;
  }
  if (const std::string* t = Get(keys, "TargetName"); t && discovery && target_name.empty()) {
    target_name = *t;
  }
  const std::pair<const char*, std::string*> declared_values[] = {
      {"InitiatorName", &initiator_name},
      {"InitiatorAlias", &initiator_alias},
      {"TargetName", &target_name},
      {"SessionType", &session_type},
  };
  for (const auto& [key, value] : declared_values) {
    const std::string* again = Get(keys, key);
    if (again && *again != *value) {
      return Failure{kLoginInitiatorError, std::string(key) + " changed during login from " +
                                               Trunc(*value) + " to " + Trunc(*again)};
    }
  }
  return std::nullopt;
}

}  // namespace vsl::iscsi
