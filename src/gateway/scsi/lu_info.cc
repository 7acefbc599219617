// Commands that describe the logical unit: INQUIRY and its VPD pages, MODE
// SENSE/SELECT, READ CAPACITY, REPORT SUPPORTED OPERATION CODES / TASK
// MANAGEMENT FUNCTIONS, REQUEST SENSE, START STOP UNIT.
#include <algorithm>
#include <cstring>

#include "gateway/scsi/lu_core.h"

namespace vsl::scsi {
namespace {

void PutPadded(std::vector<uint8_t>& d, size_t at, const std::string& s, size_t width) {
  for (size_t i = 0; i < width; ++i) d[at + i] = i < s.size() ? uint8_t(s[i]) : ' ';
}

std::vector<uint8_t> StandardInquiry(const LuCore& core) {
  std::vector<uint8_t> d(96, 0);
  d[0] = 0x00;  // peripheral qualifier 0, direct access block device
  d[2] = 0x06;  // SPC-4
  d[3] = 0x12;  // HISUP, response data format 2
  d[4] = uint8_t(d.size() - 5);
  d[6] = 0x10;  // MULTIP: more than one port may reach the LU (shared disks)
  d[7] = 0x02;  // CMDQUE
  PutPadded(d, 8, core.options.vendor, 8);
  PutPadded(d, 16, core.options.product, 16);
  PutPadded(d, 32, core.options.revision, 4);
  // Version descriptors: SAM-5, SPC-4, SBC-3, iSCSI.
  const uint16_t versions[] = {0x00a0, 0x0460, 0x04c0, 0x0960};
  for (size_t i = 0; i < std::size(versions); ++i) StoreBe16(&d[58 + 2 * i], versions[i]);
  return d;
}

void AppendDesignator(std::vector<uint8_t>& d, uint8_t proto_codeset, uint8_t piv_assoc_type,
                      const uint8_t* id, size_t len) {
  d.push_back(proto_codeset);
  d.push_back(piv_assoc_type);
  d.push_back(0);
  d.push_back(uint8_t(len));
  d.insert(d.end(), id, id + len);
}

std::vector<uint8_t> DeviceIdentificationPage(const LuCore& core, const Nexus& nexus) {
  std::vector<uint8_t> d = {0x00, 0x83, 0, 0};
  // NAA (binary, LU association, type 3).
  AppendDesignator(d, 0x01, 0x03, core.naa, sizeof core.naa);
  // T10 vendor id (ASCII, type 1): vendor + serial.
  std::string t10(8, ' ');
  for (size_t i = 0; i < 8 && i < core.options.vendor.size(); ++i) t10[i] = core.options.vendor[i];
  t10 += core.serial;
  AppendDesignator(d, 0x02, 0x01, reinterpret_cast<const uint8_t*>(t10.data()), t10.size());
  // Relative target port (iSCSI, PIV, target port association, type 4): port 1.
  const uint8_t rel[4] = {0, 0, 0, 1};
  AppendDesignator(d, 0x51, 0x94, rel, 4);
  // Target port group (type 5): group 1.
  AppendDesignator(d, 0x51, 0x95, rel, 4);
  // SCSI name string of the target port (UTF-8, type 8), NUL padded to 4n.
  if (!nexus.target_port.empty()) {
    std::string name = nexus.target_port;
    size_t padded = (name.size() + 1 + 3) / 4 * 4;
    name.resize(std::min<size_t>(padded, 252), '\0');
    AppendDesignator(d, 0x53, 0x98, reinterpret_cast<const uint8_t*>(name.data()), name.size());
  }
  StoreBe16(&d[2], uint16_t(d.size() - 4));
  return d;
}

std::vector<uint8_t> BlockLimitsPage(LuCore& core) {
  const uint32_t bs = core.volume->block_size();
  const UnmapGeometry geometry = GetUnmapGeometry(core);
  std::vector<uint8_t> d(64, 0);
  d[1] = 0xb0;
  d[3] = 0x3c;
  // WSNZ stays 0: WRITE SAME with 0 blocks writes up to the last block.
  d[5] = uint8_t(kMaxCompareAndWriteBlocks);
  // OPTIMAL TRANSFER LENGTH GRANULARITY: a file system block.
  StoreBe16(&d[6], uint16_t(std::min<uint32_t>(geometry.granularity, 0xffff)));
  StoreBe32(&d[8], kMaxTransferBytes / bs);
  StoreBe32(&d[12], (1u << 20) / bs);  // optimal transfer length: 1 MiB
  StoreBe32(&d[16], kMaxTransferBytes / bs);
  StoreBe32(&d[20], kMaxUnmapBlocks);
  StoreBe32(&d[24], kMaxUnmapDescriptors);
  // OPTIMAL UNMAP GRANULARITY: what the file system deallocates; where its
  // granules start (UGAVALID) when every extent agrees.
  StoreBe32(&d[28], geometry.granularity);
  if (geometry.aligned) StoreBe32(&d[32], 0x80000000u | geometry.alignment);
  StoreBe64(&d[36], kMaxWriteSameBlocks);
  StoreBe32(&d[44], kMaxAtomicTransferBytes / bs);  // WRITE ATOMIC(16); no alignment,
  StoreBe32(&d[48], 1);                             // granularity or boundary rules
  StoreBe32(&d[52], 1);
  return d;
}

Response VpdPage(Req& r, uint8_t page) {
  LuCore& core = *r.core;
  std::vector<uint8_t> d;
  switch (page) {
    case 0x00:
      d = {0x00, 0x00, 0x00, 7, 0x00, 0x80, 0x83, 0x8f, 0xb0, 0xb1, 0xb2};
      break;
    case 0x80:
      d.assign(4 + core.serial.size(), 0);
      d[1] = 0x80;
      d[3] = uint8_t(core.serial.size());
      std::memcpy(&d[4], core.serial.data(), core.serial.size());
      break;
    case 0x83:
      d = DeviceIdentificationPage(core, r.nexus);
      break;
    case 0x8f:
      d = ThirdPartyCopyPage();
      break;
    case 0xb0:
      d = BlockLimitsPage(core);
      break;
    case 0xb1:
      d.assign(64, 0);
      d[1] = 0xb1;
      d[3] = 0x3c;
      StoreBe16(&d[4], 1);  // non-rotating medium
      // WABEREQ 01b: after SANITIZE BLOCK ERASE reads succeed (zeros).
      // WACEREQ 00b: no CRYPTOGRAPHIC ERASE.
      d[7] = 0x40;
      break;
    case 0xb2:
      d.assign(8, 0);
      d[1] = 0xb2;
      d[3] = 4;
      d[5] = 0x80 | 0x40 | 0x20 | 0x04;  // LBPU, LBPWS, LBPWS10, LBPRZ
      d[6] = 0x02;                        // thin provisioned
      break;
    default:
      return CheckInvalidCdb(2);
  }
  return GoodTruncated(std::move(d), LoadBe16(&r.cmd.cdb[3]));
}

}  // namespace

void DoInquiry(Req& r) {
  auto cdb = r.cdb();
  if (cdb[1] & 0x01) return r.Reply(VpdPage(r, cdb[2]));
  if (cdb[2] != 0) return r.Reply(CheckInvalidCdb(2));
  r.Reply(GoodTruncated(StandardInquiry(*r.core), LoadBe16(&cdb[3])));
}

// ---- MODE SENSE / MODE SELECT ----

namespace {

enum class PageControl { kCurrent = 0, kChangeable = 1, kDefault = 2, kSaved = 3 };

void AppendCachingPage(std::vector<uint8_t>& d, PageControl pc) {
  uint8_t p[20] = {0x08, 0x12};
  if (pc != PageControl::kChangeable) p[2] = 0x04;  // WCE: writes are cached until SYNCHRONIZE CACHE / FUA
  d.insert(d.end(), p, p + sizeof p);
}

// swp: the LU's software write protect (MODE SELECT sets it; the only
// changeable field of the page).
void AppendControlPage(std::vector<uint8_t>& d, PageControl pc, bool swp) {
  uint8_t p[12] = {0x0a, 0x0a};
  if (pc == PageControl::kChangeable) {
    p[4] = 0x08;  // SWP
  } else {
    // TST 001b: a task set per I_T nexus (task attributes order the tasks
    // of one session, not across sessions); GLTSD; D_SENSE 0: fixed format.
    p[2] = 0x20 | 0x02;
    p[3] = 0x10;               // queue algorithm modifier 1: SIMPLE tasks may be reordered
    if (swp && pc == PageControl::kCurrent) p[4] = 0x08;  // SWP
    p[5] = 0x40;               // TAS
    StoreBe16(&p[8], 0xffff);  // busy timeout: unlimited
  }
  d.insert(d.end(), p, p + sizeof p);
}

void AppendInformationalExceptionsPage(std::vector<uint8_t>& d, PageControl pc) {
  uint8_t p[12] = {0x1c, 0x0a};
  if (pc != PageControl::kChangeable) p[2] = 0x08;  // DEXCPT: no exception reporting
  d.insert(d.end(), p, p + sizeof p);
}

// The mode pages for `page`, or false when vsl has no such page.
bool AppendPages(std::vector<uint8_t>& d, uint8_t page, PageControl pc, bool swp) {
  switch (page) {
    case 0x08:
      AppendCachingPage(d, pc);
      return true;
    case 0x0a:
      AppendControlPage(d, pc, swp);
      return true;
    case 0x1c:
      AppendInformationalExceptionsPage(d, pc);
      return true;
    case 0x3f:
      AppendCachingPage(d, pc);
      AppendControlPage(d, pc, swp);
      AppendInformationalExceptionsPage(d, pc);
      return true;
    default:
      return false;
  }
}

}  // namespace

void DoModeSense(Req& r) {
  auto cdb = r.cdb();
  const bool ten = cdb[0] == 0x5a;
  const bool dbd = cdb[1] & 0x08;
  const bool llbaa = ten && (cdb[1] & 0x10);
  const auto pc = PageControl(cdb[2] >> 6);
  const uint8_t page = cdb[2] & 0x3f, subpage = cdb[3];
  const size_t alloc = ten ? LoadBe16(&cdb[7]) : cdb[4];
  if (pc == PageControl::kSaved)
    return r.Reply(CheckIllegal(kSavingParametersNotSupported));
  if (subpage != 0x00 && subpage != 0xff) return r.Reply(CheckInvalidCdb(3));
  const bool swp = r.core->software_wp.load(std::memory_order_acquire);
  const bool wp = r.read_only || r.core->volume->read_only() || swp;

  const size_t header = ten ? 8 : 4;
  std::vector<uint8_t> d(header, 0);
  d.reserve(128);
  const uint8_t device_specific = uint8_t((wp ? 0x80 : 0) | 0x10);  // WP, DPOFUA
  if (!dbd) {
    const uint64_t blocks = r.core->volume->block_count();
    const uint32_t bs = r.core->volume->block_size();
    if (llbaa) {
      uint8_t b[16] = {};
      StoreBe64(&b[0], blocks);
      StoreBe32(&b[12], bs);
      d.insert(d.end(), b, b + 16);
    } else {
      uint8_t b[8] = {};
      StoreBe32(&b[0], blocks > 0xffffffffu ? 0xffffffffu : uint32_t(blocks));
      StoreBe24(&b[5], bs);
      d.insert(d.end(), b, b + 8);
    }
  }
  const size_t bd_len = d.size() - header;
  if (!AppendPages(d, page, pc, swp)) return r.Reply(CheckInvalidCdb(2, 5));
  if (ten) {
    StoreBe16(&d[0], uint16_t(d.size() - 2));
    d[3] = device_specific;
    d[4] = llbaa && !dbd ? 0x01 : 0x00;  // LONGLBA
    StoreBe16(&d[6], uint16_t(bd_len));
  } else {
    d[0] = uint8_t(std::min<size_t>(d.size() - 1, 255));
    d[2] = device_specific;
    d[3] = uint8_t(bd_len);
  }
  r.Reply(GoodTruncated(std::move(d), alloc));
}

// MODE SELECT: a page is accepted when it matches the current values (an
// initiator writing back what it read) apart from the changeable fields,
// which are only the Control page's SWP: software write protect for the
// whole LU. Changing it gives every other nexus MODE PARAMETERS CHANGED.
void DoModeSelect(Req& r) {
  auto cdb = r.cdb();
  const bool ten = cdb[0] == 0x55;
  if (cdb[1] & 0x01) return r.Reply(CheckInvalidCdb(1, 0));  // SP: nothing is saved
  const size_t len = ten ? LoadBe16(&cdb[7]) : cdb[4];
  Response ok = Response::Good();
  ok.data_out_wanted = uint32_t(len);
  if (len == 0) return r.Reply(ok);
  if (r.cmd.data_out.size() < len) return r.Reply(CheckIllegal(kParameterListLengthError));
  if (!(cdb[1] & 0x10)) return r.Reply(CheckInvalidCdb(1, 4));  // PF: only standard pages
  const uint8_t* p = r.cmd.data_out.data();
  const size_t header = ten ? 8 : 4;
  if (len < header) return r.Reply(CheckIllegal(kParameterListLengthError));
  const size_t bd_len = ten ? LoadBe16(&p[6]) : p[3];
  if (header + bd_len > len) return r.Reply(Response::Check(InvalidParamField(ten ? 6 : 3)));
  const uint32_t bs = r.core->volume->block_size();
  // A block descriptor may only restate the block length.
  if (bd_len == 8 && LoadBe24(&p[header + 5]) != bs)
    return r.Reply(Response::Check(InvalidParamField(uint16_t(header + 5))));
  if (bd_len == 16 && LoadBe32(&p[header + 12]) != bs)
    return r.Reply(Response::Check(InvalidParamField(uint16_t(header + 12))));
  if (bd_len != 0 && bd_len != 8 && bd_len != 16)
    return r.Reply(Response::Check(InvalidParamField(ten ? 6 : 3)));
  const bool swp = r.core->software_wp.load(std::memory_order_acquire);
  std::optional<bool> new_swp;
  size_t at = header + bd_len;
  while (at < len) {
    if (at + 2 > len) return r.Reply(CheckIllegal(kParameterListLengthError));
    const uint8_t page = p[at] & 0x3f;
    if (p[at] & 0x40) return r.Reply(Response::Check(InvalidParamField(uint16_t(at), 6)));
    std::vector<uint8_t> current;
    std::vector<uint8_t> changeable;
    if (page == 0x3f || !AppendPages(current, page, PageControl::kCurrent, swp))
      return r.Reply(Response::Check(InvalidParamField(uint16_t(at), 5)));
    AppendPages(changeable, page, PageControl::kChangeable, swp);
    const size_t page_len = size_t(p[at + 1]) + 2;
    if (page_len != current.size() || at + page_len > len)
      return r.Reply(Response::Check(InvalidParamField(uint16_t(at + 1))));
    for (size_t i = 2; i < page_len; ++i) {
      const uint8_t bad = uint8_t((p[at + i] ^ current[i]) & ~changeable[i]);
      if (bad != 0) {
        uint8_t bit = 7;
        while (!(bad & (1u << bit))) --bit;
        return r.Reply(Response::Check(InvalidParamField(uint16_t(at + i), bit)));
      }
    }
    if (page == 0x0a) new_swp = (p[at + 4] & 0x08) != 0;
    at += page_len;
  }
  if (new_swp && *new_swp != swp) {
    // A read-only mapping must not write-protect (or unprotect) the LU for
    // the hosts that map it writable.
    if (r.read_only || r.core->volume->read_only()) {
      Response wp = Response::Check(MakeSense(SenseKey::kDataProtect, kWriteProtected));
      wp.data_out_wanted = uint32_t(len);
      return r.Reply(std::move(wp));
    }
    LuCore& core = *r.core;
    std::lock_guard<std::mutex> l(core.mu);
    core.software_wp.store(*new_swp, std::memory_order_release);
    for (auto& [id, n] : core.nexuses)
      if (id != r.nexus.id) core.QueueUa(id, kModeParametersChanged);
  }
  r.Reply(ok);
}

// ---- READ CAPACITY ----

void DoReadCapacity10(Req& r) {
  auto cdb = r.cdb();
  if (!(cdb[8] & 0x01) && LoadBe32(&cdb[2]) != 0) return r.Reply(CheckInvalidCdb(2));
  const uint64_t last = r.core->volume->block_count() - 1;
  std::vector<uint8_t> d(8);
  StoreBe32(&d[0], last > 0xfffffffeu ? 0xffffffffu : uint32_t(last));
  StoreBe32(&d[4], r.core->volume->block_size());
  r.Reply(Response::Good(std::move(d)));
}

void DoReadCapacity16(Req& r) {
  auto cdb = r.cdb();
  std::vector<uint8_t> d(32, 0);
  StoreBe64(&d[0], r.core->volume->block_count() - 1);
  const uint32_t bs = r.core->volume->block_size();
  StoreBe32(&d[8], bs);
  // Logical blocks per physical block exponent 0: a block can be written
  // alone without read-modify-write; the unmap granularity in the BLOCK
  // LIMITS page tells where holes really appear.
  // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT and LOWEST ALIGNED LBA: the
  // file system's block, where the extents agree on its alignment (then a
  // write of a whole one avoids a read-modify-write in the page cache, and
  // it is the unit UNMAP deallocates).
  const UnmapGeometry geometry = GetUnmapGeometry(*r.core);
  if (geometry.aligned) {
    uint8_t exp = 0;
    while ((1u << (exp + 1)) <= geometry.granularity && exp < 15) ++exp;
    d[13] = exp;
    StoreBe16(&d[14], uint16_t(geometry.alignment & 0x3fff));
  }
  d[14] |= 0x80 | 0x40;  // LBPME, LBPRZ
  r.Reply(GoodTruncated(std::move(d), LoadBe32(&cdb[10])));
}

// ---- REPORT SUPPORTED OPERATION CODES / TASK MANAGEMENT FUNCTIONS ----

namespace {

void AppendTimeouts(std::vector<uint8_t>& d) {
  uint8_t t[12] = {0x00, 0x0a};
  StoreBe32(&t[4], 30);  // nominal command timeout, seconds
  StoreBe32(&t[8], 60);  // recommended
  d.insert(d.end(), t, t + 12);
}

}  // namespace

void DoReportOpcodes(Req& r) {
  auto cdb = r.cdb();
  const bool rctd = cdb[2] & 0x80;
  const uint8_t options = cdb[2] & 0x07;
  const uint8_t opcode = cdb[3];
  const uint16_t sa = LoadBe16(&cdb[4]);
  const uint32_t alloc = LoadBe32(&cdb[6]);
  std::vector<uint8_t> d;
  if (options == 0) {
    d.assign(4, 0);
    for (const OpInfo& op : SupportedOps()) {
      uint8_t e[8] = {op.opcode, 0};
      if (op.service_action >= 0) {
        StoreBe16(&e[2], uint16_t(op.service_action));
        e[5] |= 0x01;  // SERVACTV
      }
      if (rctd) e[5] |= 0x02;  // CTDP
      StoreBe16(&e[6], op.cdb_length);
      d.insert(d.end(), e, e + 8);
      if (rctd) AppendTimeouts(d);
    }
    StoreBe32(&d[0], uint32_t(d.size() - 4));
    return r.Reply(GoodTruncated(std::move(d), alloc));
  }
  const OpInfo* op = nullptr;
  switch (options) {
    case 1:  // opcode only: refused for opcodes that have service actions
      if (HasServiceActions(opcode)) return r.Reply(CheckInvalidCdb(2, 0));
      op = FindOp(opcode, 0);
      break;
    case 2:  // opcode + service action: refused for opcodes that have none
      if (!HasServiceActions(opcode)) return r.Reply(CheckInvalidCdb(2, 1));
      op = FindOp(opcode, sa);
      break;
    case 3:  // either
      op = HasServiceActions(opcode) ? FindOp(opcode, sa) : (sa == 0 ? FindOp(opcode, 0) : nullptr);
      break;
    default:
      return r.Reply(CheckInvalidCdb(2, 2));
  }
  d.assign(4, 0);
  if (op == nullptr) {
    d[1] = 0x01;  // SUPPORT: not supported
  } else {
    d[1] = 0x03 | (rctd ? 0x80 : 0);  // SUPPORT: as the standard says; CTDP
    StoreBe16(&d[2], op->cdb_length);
    d.insert(d.end(), op->usage, op->usage + op->cdb_length);
    if (rctd) AppendTimeouts(d);
  }
  r.Reply(GoodTruncated(std::move(d), alloc));
}

void DoReportTmf(Req& r) {
  auto cdb = r.cdb();
  const uint32_t alloc = LoadBe32(&cdb[6]);
  if (alloc < 4) return r.Reply(CheckInvalidCdb(6));
  const bool repd = cdb[2] & 0x80;
  std::vector<uint8_t> d(repd ? 16 : 4, 0);
  d[0] = 0x80 | 0x40 | 0x08 | 0x02;  // ABORT TASK SET, ABORT TASK, LU RESET, TARGET RESET
  if (repd) d[3] = 0x0c;
  r.Reply(GoodTruncated(std::move(d), alloc));
}

// A virtual disk has no defects: an empty list in the requested format.
void DoReadDefectData(Req& r) {
  auto cdb = r.cdb();
  const bool twelve = cdb[0] == 0xb7;
  const uint8_t flags = (twelve ? cdb[1] : cdb[2]) & 0x1f;  // PLISTV, GLISTV, format
  std::vector<uint8_t> d(twelve ? 8 : 4, 0);
  d[1] = flags;
  r.Reply(GoodTruncated(std::move(d), twelve ? LoadBe32(&cdb[6]) : LoadBe16(&cdb[7])));
}

// ---- REQUEST SENSE / START STOP UNIT ----

void DoRequestSense(Req& r) {
  auto cdb = r.cdb();
  const bool desc = cdb[1] & 0x01;
  // NO SENSE unless a unit attention is pending or a sanitize runs (its
  // progress) or has failed.
  Sense s;
  {
    LuCore& core = *r.core;
    std::lock_guard<std::mutex> l(core.mu);
    auto it = core.nexuses.find(r.nexus.id);
    if (it != core.nexuses.end() && !it->second.unit_attentions.empty()) {
      s = MakeSense(SenseKey::kUnitAttention, it->second.unit_attentions.front());
      it->second.unit_attentions.pop_front();
      core.UpdateGate();
    } else if (auto sanitize = core.SanitizeSense()) {
      s = *sanitize;
    }
  }
  r.Reply(GoodTruncated(desc ? EncodeDescriptorSense(s) : s.Encode(), cdb[4]));
}

void DoStartStopUnit(Req& r) {
  auto cdb = r.cdb();
  const uint8_t power_condition = cdb[4] >> 4;
  // Power conditions other than START_VALID(0), ACTIVE(1), IDLE(2), STANDBY(3),
  // LU_CONTROL(7), FORCE_IDLE_0(0xa), FORCE_STANDBY_0(0xb) are reserved.
  switch (power_condition) {
    case 0x0: case 0x1: case 0x2: case 0x3: case 0x7: case 0xa: case 0xb:
      break;
    default:
      return r.Reply(CheckInvalidCdb(4, 7));
  }
  // LOEJ with START=0 would eject the medium: not removable.
  if (power_condition == 0 && (cdb[4] & 0x02) && !(cdb[4] & 0x01))
    return r.Reply(CheckInvalidCdb(4, 1));
  r.Reply(Response::Good());
}

}  // namespace vsl::scsi
