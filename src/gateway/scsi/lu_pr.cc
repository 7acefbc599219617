// Reservations: RESERVE/RELEASE (SPC-2, per I_T nexus) and persistent
// reservations (SPC-4 5.13: registrations by I_T nexus port names, not
// persisted across restarts: APTPL is refused).
#include <algorithm>

#include "gateway/scsi/lu_core.h"

namespace vsl::scsi {
namespace {

enum PrType : uint8_t {
  kWriteExclusive = 1,
  kExclusiveAccess = 3,
  kWriteExclusiveRegistrantsOnly = 5,
  kExclusiveAccessRegistrantsOnly = 6,
  kWriteExclusiveAllRegistrants = 7,
  kExclusiveAccessAllRegistrants = 8,
};

bool ValidType(uint8_t t) { return t == 1 || t == 3 || (t >= 5 && t <= 8); }
bool AllRegistrants(uint8_t t) { return t == 7 || t == 8; }
bool RegistrantsOnlyOrAll(uint8_t t) { return t >= 5 && t <= 8; }

void ReleasePr(LuCore& core) {
  core.pr_held = false;
  core.pr_type = 0;
  core.pr_holder_initiator.clear();
  core.pr_holder_target.clear();
}

// Every registrant except `except` gets `asc`.
void UaToRegistrants(LuCore& core, const Nexus& except, Asc asc) {
  for (const auto& reg : core.registrations) {
    if (reg.initiator_port == except.initiator_port && reg.target_port == except.target_port) continue;
    core.QueueUaForPorts(reg.initiator_port, reg.target_port, asc, except.id);
  }
}

// Removes the registrations whose key is `key` (other than `keep`, if given);
// each removed one gets REGISTRATIONS PREEMPTED. Returns how many went.
size_t RemoveRegistrations(LuCore& core, uint64_t key, const Registration* keep, uint64_t except) {
  size_t removed = 0;
  std::vector<Registration> kept;
  for (auto& reg : core.registrations) {
    if (reg.key == key && &reg != keep) {
      core.QueueUaForPorts(reg.initiator_port, reg.target_port, kRegistrationsPreempted, except);
      if (core.pr_held && !AllRegistrants(core.pr_type) &&
          core.pr_holder_initiator == reg.initiator_port && core.pr_holder_target == reg.target_port)
        ReleasePr(core);
      ++removed;
    } else {
      kept.push_back(reg);
    }
  }
  core.registrations = std::move(kept);
  if (core.registrations.empty()) ReleasePr(core);
  return removed;
}

// Removes the registration of `nexus` (unregister): a non-all-registrants
// reservation it holds is released.
void Unregister(LuCore& core, const Nexus& nexus) {
  bool was_holder = core.IsPrHolder(nexus) && !AllRegistrants(core.pr_type);
  uint8_t type = core.pr_type;
  std::erase_if(core.registrations, [&](const Registration& r) {
    return r.initiator_port == nexus.initiator_port && r.target_port == nexus.target_port;
  });
  if (was_holder) {
    ReleasePr(core);
    if (RegistrantsOnlyOrAll(type)) UaToRegistrants(core, nexus, kReservationsReleased);
  }
  if (core.registrations.empty()) ReleasePr(core);
}

std::vector<uint8_t> TransportId(const std::string& initiator_port) {
  // iSCSI TransportID, format 01b: "<name>,i,0x<ISID>", NUL terminated,
  // padded to a multiple of 4.
  size_t n = (initiator_port.size() + 1 + 3) / 4 * 4;
  std::vector<uint8_t> t(4 + n, 0);
  t[0] = 0x40 | 0x05;
  StoreBe16(&t[2], uint16_t(n));
  std::copy(initiator_port.begin(), initiator_port.end(), t.begin() + 4);
  return t;
}

}  // namespace

bool PrConflict(LuCore& core, const Nexus& nexus, const OpInfo& op) {
  if (op.pr_class == PrClass::kAllowed || core.IsPrHolder(nexus)) return false;
  const bool registered = core.FindRegistration(nexus) != nullptr;
  switch (core.pr_type) {
    case kWriteExclusive:
      return op.pr_class == PrClass::kWrite;
    case kExclusiveAccess:
      return true;
    case kWriteExclusiveRegistrantsOnly:
    case kWriteExclusiveAllRegistrants:
      return !registered && op.pr_class == PrClass::kWrite;
    case kExclusiveAccessRegistrantsOnly:
    case kExclusiveAccessAllRegistrants:
      return !registered;
    default:
      return false;
  }
}

namespace {

// The handlers below decide under core.mu and reply after releasing it: Done
// may run the transport's next command on this LU at once.
Response ReserveLocked(LuCore& core, const Nexus& nexus) {
  if (!core.registrations.empty()) return Conflict();
  if (core.reserved_by && *core.reserved_by != nexus.id) return Conflict();
  core.reserved_by = nexus.id;
  core.UpdateGate();
  return Response::Good();
}

Response ReleaseLocked(LuCore& core, const Nexus& nexus) {
  // Releasing what another nexus (or nobody) holds succeeds and changes nothing.
  if (core.reserved_by == nexus.id) {
    core.reserved_by.reset();
    core.UpdateGate();
  }
  return Response::Good();
}

}  // namespace

void DoReserve(Req& r) {
  Response resp;
  {
    std::lock_guard<std::mutex> l(r.core->mu);
    resp = ReserveLocked(*r.core, r.nexus);
  }
  r.Reply(std::move(resp));
}

void DoRelease(Req& r) {
  Response resp;
  {
    std::lock_guard<std::mutex> l(r.core->mu);
    resp = ReleaseLocked(*r.core, r.nexus);
  }
  r.Reply(std::move(resp));
}

namespace {

Response PrInLocked(LuCore& core, uint8_t sa) {
  std::vector<uint8_t> d(8, 0);
  StoreBe32(&d[0], core.pr_generation);
  switch (sa) {
    case 0x00:  // READ KEYS
      for (const auto& reg : core.registrations) {
        d.resize(d.size() + 8);
        StoreBe64(&d[d.size() - 8], reg.key);
      }
      StoreBe32(&d[4], uint32_t(d.size() - 8));
      break;
    case 0x01:  // READ RESERVATION
      if (core.pr_held) {
        d.resize(24, 0);
        uint64_t key = 0;  // all-registrants reservations report key 0
        if (!AllRegistrants(core.pr_type)) {
          for (const auto& reg : core.registrations) {
            if (reg.initiator_port == core.pr_holder_initiator && reg.target_port == core.pr_holder_target)
              key = reg.key;
          }
        }
        StoreBe64(&d[8], key);
        d[21] = core.pr_type & 0x0f;  // scope 0: logical unit
        StoreBe32(&d[4], 16);
      }
      break;
    case 0x02:  // REPORT CAPABILITIES
      d.assign(8, 0);
      StoreBe16(&d[0], 8);
      d[2] = 0x10;  // CRH; no SIP_C, ATP_C, PTPL_C
      d[3] = 0x80;  // TMV; ALLOW COMMANDS 0
      d[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;  // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
      d[5] = 0x01;                               // EX_AC_AR
      break;
    case 0x03:  // READ FULL STATUS
      for (const auto& reg : core.registrations) {
        std::vector<uint8_t> e(24, 0);
        StoreBe64(&e[0], reg.key);
        Nexus n{0, reg.initiator_port, reg.target_port};
        if (core.IsPrHolder(n)) {
          e[12] = 0x01;  // R_HOLDER
          e[13] = core.pr_type & 0x0f;
        }
        StoreBe16(&e[18], 1);  // relative target port
        auto tid = TransportId(reg.initiator_port);
        StoreBe32(&e[20], uint32_t(tid.size()));
        e.insert(e.end(), tid.begin(), tid.end());
        d.insert(d.end(), e.begin(), e.end());
      }
      StoreBe32(&d[4], uint32_t(d.size() - 8));
      break;
    default:
      return CheckInvalidCdb(1, 4);
  }
  return Response::Good(std::move(d));
}

}  // namespace

void DoPrIn(Req& r) {
  auto cdb = r.cdb();
  Response resp;
  {
    std::lock_guard<std::mutex> l(r.core->mu);
    resp = PrInLocked(*r.core, cdb[1] & 0x1f);
  }
  const size_t alloc = LoadBe16(&cdb[7]);
  if (resp.data_in.size() > alloc) resp.data_in.resize(alloc);
  r.Reply(std::move(resp));
}

namespace {
Response PrOutLocked(LuCore& core, const Nexus& nexus, uint8_t sa, uint8_t type, uint64_t key,
                     uint64_t sa_key);
}  // namespace

void DoPrOut(Req& r) {
  auto cdb = r.cdb();
  const uint8_t sa = cdb[1] & 0x1f;
  const uint8_t scope = cdb[2] >> 4, type = cdb[2] & 0x0f;
  const uint32_t len = LoadBe32(&cdb[5]);
  auto reply = [&](Response resp) {
    resp.data_out_wanted = len;
    r.Reply(std::move(resp));
  };
  if (sa > 0x06) return reply(CheckInvalidCdb(1, 4));  // REGISTER AND MOVE is not supported
  if (len != 24) return reply(CheckIllegal(kParameterListLengthError));
  if (r.cmd.data_out.size() < 24) return reply(Response::Check(MakeSense(SenseKey::kIllegalRequest, kInvalidFieldInIu)));
  const uint8_t* p = r.cmd.data_out.data();
  const uint64_t key = LoadBe64(&p[0]);
  const uint64_t sa_key = LoadBe64(&p[8]);
  if (p[20] & 0x08) return reply(Response::Check(InvalidParamField(20, 3)));  // SPEC_I_PT
  if (p[20] & 0x04) return reply(Response::Check(InvalidParamField(20, 2)));  // ALL_TG_PT
  if (p[20] & 0x01) return reply(Response::Check(InvalidParamField(20, 0)));  // APTPL
  const bool needs_type = sa == 0x01 || sa == 0x02 || sa == 0x04 || sa == 0x05;
  if (needs_type) {
    if (scope != 0) return reply(CheckInvalidCdb(2, 7));
    if (!ValidType(type)) return reply(CheckInvalidCdb(2, 3));
  }

  Response resp;
  {
    std::lock_guard<std::mutex> l(r.core->mu);
    resp = PrOutLocked(*r.core, r.nexus, sa, type, key, sa_key);
  }
  reply(std::move(resp));
}

namespace {

Response PrOutLocked(LuCore& core, const Nexus& nexus, uint8_t sa, uint8_t type, uint64_t key,
                     uint64_t sa_key) {
  // Commands may arrive from a nexus Target never attached (tests, or a
  // session that outlived its map): it can still hear about preemption.
  if (!core.nexuses.contains(nexus.id)) {
    auto& n = core.nexuses[nexus.id];
    n.initiator_port = nexus.initiator_port;
    n.target_port = nexus.target_port;
  }
  Registration* me = core.FindRegistration(nexus);
  auto done = [&](Response resp) {
    core.UpdateGate();
    return resp;
  };

  switch (sa) {
    case 0x00:    // REGISTER
    case 0x06: {  // REGISTER AND IGNORE EXISTING KEY
      if (sa == 0x00) {
        if (!me && key != 0) return done(Conflict());
        if (me && key != me->key) return done(Conflict());
      }
      if (sa_key == 0) {
        if (me) Unregister(core, nexus);
      } else if (me) {
        me->key = sa_key;
      } else {
        core.registrations.push_back({nexus.initiator_port, nexus.target_port, sa_key});
      }
      if (me || sa_key != 0) ++core.pr_generation;
      return done(Response::Good());
    }
    case 0x01: {  // RESERVE
      if (!me || me->key != key) return done(Conflict());
      if (core.pr_held) {
        if (core.IsPrHolder(nexus) && core.pr_type == type) return done(Response::Good());
        return done(Conflict());
      }
      core.pr_held = true;
      core.pr_type = type;
      core.pr_holder_initiator = nexus.initiator_port;
      core.pr_holder_target = nexus.target_port;
      return done(Response::Good());
    }
    case 0x02: {  // RELEASE
      if (!me || me->key != key) return done(Conflict());
      if (!core.pr_held || !core.IsPrHolder(nexus)) return done(Response::Good());
      if (core.pr_type != type) return done(CheckIllegal(kInvalidReleaseOfPr));
      const uint8_t old = core.pr_type;
      ReleasePr(core);
      if (RegistrantsOnlyOrAll(old)) UaToRegistrants(core, nexus, kReservationsReleased);
      return done(Response::Good());
    }
    case 0x03: {  // CLEAR
      if (!me || me->key != key) return done(Conflict());
      UaToRegistrants(core, nexus, kReservationsPreempted);
      core.registrations.clear();
      ReleasePr(core);
      ++core.pr_generation;
      return done(Response::Good());
    }
    case 0x04:    // PREEMPT
    case 0x05: {  // PREEMPT AND ABORT (the transport aborts nothing more: as PREEMPT)
      if (!me || me->key != key) return done(Conflict());
      if (!core.pr_held) {
        if (sa_key == 0) return done(Response::Check(InvalidParamField(8)));
        if (RemoveRegistrations(core, sa_key, nullptr, nexus.id) == 0) return done(Conflict());
        ++core.pr_generation;
        return done(Response::Good());
      }
      if (AllRegistrants(core.pr_type)) {
        if (sa_key == 0) {
          // Everyone else goes; the preempting nexus holds the new reservation.
          for (const auto& reg : core.registrations) {
            if (&reg != me)
              core.QueueUaForPorts(reg.initiator_port, reg.target_port, kRegistrationsPreempted, nexus.id);
          }
          Registration keep = *me;
          core.registrations = {keep};
          core.pr_held = true;
          core.pr_type = type;
          core.pr_holder_initiator = nexus.initiator_port;
          core.pr_holder_target = nexus.target_port;
        } else if (RemoveRegistrations(core, sa_key, me, nexus.id) == 0) {
          return done(Conflict());
        }
        ++core.pr_generation;
        return done(Response::Good());
      }
      uint64_t holder_key = 0;
      for (const auto& reg : core.registrations) {
        if (reg.initiator_port == core.pr_holder_initiator && reg.target_port == core.pr_holder_target)
          holder_key = reg.key;
      }
      if (sa_key != holder_key) {
        if (sa_key == 0) return done(Response::Check(InvalidParamField(8)));
        if (RemoveRegistrations(core, sa_key, me, nexus.id) == 0) return done(Conflict());
        ++core.pr_generation;
        return done(Response::Good());
      }
      const std::string my_i = nexus.initiator_port, my_t = nexus.target_port;
      const uint64_t my_key = me->key;
      RemoveRegistrations(core, sa_key, me, nexus.id);
      if (!core.FindRegistration(nexus)) core.registrations.push_back({my_i, my_t, my_key});
      core.pr_held = true;
      core.pr_type = type;
      core.pr_holder_initiator = my_i;
      core.pr_holder_target = my_t;
      ++core.pr_generation;
      return done(Response::Good());
    }
  }
  return done(CheckInvalidCdb(1, 4));
}

}  // namespace

}  // namespace vsl::scsi
