// EXTENDED COPY (LID1) and RECEIVE COPY RESULTS: block-to-block copies between
// LUs of one host, run inside the gateway through the volumes.
//
// Access control: a CSCD descriptor names an LU by its NAA designator, and
// only the LUs in the Req's CopyScope (the sending host's LUN map) are looked
// at; a designator that is not there is refused (COPY ABORTED, COPY TARGET
// DEVICE NOT REACHABLE) before anything is read or written. Every check
// (descriptors, ranges, write protection, reservations) runs before the
// first byte moves.
#include <algorithm>
#include <cstring>
#include <mutex>

#include "gateway/scsi/lu_core.h"

namespace vsl::scsi {
namespace {

constexpr uint8_t kCscdIdentification = 0xe4;
constexpr uint8_t kSegmentBlockToBlock = 0x02;
constexpr uint32_t kCscdBytes = 32;
constexpr uint32_t kSegmentBytes = 28;  // 4-byte header + 0x18
constexpr uint32_t kHeaderBytes = 16;

struct Endpoint {
  std::shared_ptr<LuCore> core;
  bool read_only = false;
};

struct Segment {
  size_t src = 0, dst = 0;  // indexes into the resolved CSCDs
  uint64_t src_lba = 0, dst_lba = 0;
  uint32_t blocks = 0;
};

Response ParamListLengthError(uint32_t wanted) {
  Response r = CheckIllegal(kParameterListLengthError);
  r.data_out_wanted = wanted;
  return r;
}

Response Refuse(const Sense& s, uint32_t wanted) {
  Response r = Response::Check(s);
  r.data_out_wanted = wanted;
  return r;
}

Sense CopyAborted(Asc asc, uint16_t param_byte) {
  Sense s = MakeSense(SenseKey::kCopyAborted, asc);
  s.has_field_pointer = true;
  s.in_cdb = false;
  s.field_byte = param_byte;
  return s;
}

// The LU of `scope` whose NAA designator is the designation descriptor at `d`
// (20 bytes: 4-byte header, up to 16 bytes of designator), or null.
const CopyScope::Entry* Resolve(const CopyScope* scope, const uint8_t* d) {
  if (!scope) return nullptr;
  const uint8_t code_set = d[0] & 0x0f, type = d[1] & 0x0f, association = (d[1] >> 4) & 0x03;
  const uint8_t len = d[3];
  if (code_set != 0x01 || type != 0x03 || association != 0 || len != 16) return nullptr;
  for (const auto& e : scope->lus) {
    if (std::memcmp(e.core->naa, d + 4, 16) == 0) return &e;
  }
  return nullptr;
}

// A reservation held by another nexus refuses `opcode` on `core`.
bool Conflicts(LuCore& core, const Nexus& nexus, uint8_t opcode) {
  if (!core.gate.load(std::memory_order_acquire)) return false;
  const OpInfo* op = FindOp(opcode, 0);
  std::lock_guard<std::mutex> l(core.mu);
  if (core.reserved_by && *core.reserved_by != nexus.id) return true;
  return core.pr_held && PrConflict(core, nexus, *op);
}

void Hold(LuCore& core, uint64_t nexus_id, uint8_t list_id, uint8_t status, uint16_t segments,
          uint64_t bytes) {
  std::lock_guard<std::mutex> l(core.mu);
  std::erase_if(core.held_copies, [&](const HeldCopyResult& h) {
    return h.nexus_id == nexus_id && h.list_id == list_id;
  });
  if (core.held_copies.size() >= kMaxHeldCopyResults) core.held_copies.pop_front();
  core.held_copies.push_back({nexus_id, list_id, status, segments, bytes});
}

// Copies one segment. First inside the kernel (MetaVolume::CopyFrom: the
// bytes never pass through the gateway, and holes stay holes), in chunks of
// kCopyChunkBytes so that writes to the destination interleave; where that
// can't be used (source and destination overlap), through `buf`
// in chunks of at most kCopyChunkBytes, backwards when the destination
// overlaps the source from above, so that no chunk reads data an earlier
// chunk wrote.
Status CopySegment(const Endpoint& src, const Endpoint& dst, const Segment& s,
                   std::vector<uint8_t>& buf) {
  const uint32_t bs = src.core->volume->block_size();
  const uint64_t total = uint64_t(s.blocks) * bs;
  const uint64_t src_off = s.src_lba * bs, dst_off = s.dst_lba * bs;
  const uint64_t chunk = kCopyChunkBytes - kCopyChunkBytes % bs;
  const bool overlap = src.core == dst.core && src_off < dst_off + total && dst_off < src_off + total;
  uint64_t done = 0;
  while (!overlap && done < total) {
    const uint64_t n = std::min<uint64_t>(chunk, total - done);
    std::shared_lock l(dst.core->write_mu);
    auto offloaded = dst.core->volume->CopyFrom(*src.core->volume, src_off + done, dst_off + done, n);
    if (!offloaded.ok()) return offloaded.status();
    if (!*offloaded) break;
    done += n;
  }
  if (done == total) return Status::Ok();
  const bool backwards = overlap && dst_off > src_off;
  buf.resize(size_t(std::min<uint64_t>(chunk, total)));
  for (; done < total;) {
    const uint64_t n = std::min<uint64_t>(chunk, total - done);
    const uint64_t at = backwards ? total - done - n : done;
    std::span<uint8_t> b(buf.data(), size_t(n));
    if (Status st = src.core->volume->Read(src_off + at, b); !st.ok()) return st;
    {
      std::shared_lock l(dst.core->write_mu);
      if (Status st = dst.core->volume->Write(dst_off + at, b, false); !st.ok()) return st;
    }
    done += n;
  }
  return Status::Ok();
}

}  // namespace

void DoExtendedCopy(Req& r) {
  auto cdb = r.cdb();
  const uint32_t len = LoadBe32(&cdb[10]);
  if (len == 0) return r.Reply(Response::Good());  // nothing to copy
  if (len < kHeaderBytes) return r.Reply(ParamListLengthError(len));
  if (r.cmd.data_out.size() < len) {
    Response resp = CheckIllegal(kInvalidFieldInIu);
    resp.data_out_wanted = len;
    return r.Reply(std::move(resp));
  }
  const uint8_t* p = r.cmd.data_out.data();
  const uint8_t list_id = p[0];
  const uint8_t list_id_usage = (p[1] >> 3) & 0x03;
  const uint32_t cscd_len = LoadBe16(&p[2]);
  const uint32_t seg_len = LoadBe32(&p[8]);
  const uint32_t inline_len = LoadBe32(&p[12]);
  // 11b: no list identifier, which needs SNLID (not offered).
  if (list_id_usage == 3) return r.Reply(Refuse(InvalidParamField(1, 4), len));
  if (uint64_t(cscd_len) + seg_len > kMaxCopyDescriptorListBytes)
    return r.Reply(ParamListLengthError(len));
  if (kHeaderBytes + uint64_t(cscd_len) + seg_len + inline_len > len)
    return r.Reply(ParamListLengthError(len));
  if (inline_len != 0) return r.Reply(Refuse(InvalidParamField(12), len));

  // CSCD descriptors: identification descriptors (0xE4) only.
  std::vector<uint32_t> cscds;  // offsets in the parameter list
  for (uint32_t off = kHeaderBytes; off < kHeaderBytes + cscd_len; off += kCscdBytes) {
    if (cscds.size() >= kMaxCscdDescriptors)
      return r.Reply(Refuse(IllegalRequest(kTooManyTargetDescriptors), len));
    if (p[off] != kCscdIdentification)
      return r.Reply(Refuse(IllegalRequest(kUnsupportedTargetDescriptorType), len));
    if (off + kCscdBytes > kHeaderBytes + cscd_len)
      return r.Reply(Refuse(InvalidParamField(2), len));
    cscds.push_back(off);
  }
  // Segment descriptors: block to block (0x02) only.
  const uint32_t seg_start = kHeaderBytes + cscd_len;
  std::vector<uint32_t> segs;
  for (uint32_t off = seg_start; off < seg_start + seg_len; off += kSegmentBytes) {
    if (segs.size() >= kMaxSegmentDescriptors)
      return r.Reply(Refuse(IllegalRequest(kTooManySegmentDescriptors), len));
    if (p[off] != kSegmentBlockToBlock)
      return r.Reply(Refuse(IllegalRequest(kUnsupportedSegmentDescriptorType), len));
    if (off + 4 > seg_start + seg_len || LoadBe16(&p[off + 2]) != kSegmentBytes - 4 ||
        off + kSegmentBytes > seg_start + seg_len)
      return r.Reply(Refuse(InvalidParamField(uint16_t(off + 2)), len));
    segs.push_back(off);
  }

  // Resolve every CSCD in the sending host's namespace; nothing outside it
  // is ever looked at.
  std::vector<Endpoint> ends;
  for (uint32_t off : cscds) {
    if ((p[off + 1] & 0x1f) != 0)  // peripheral device type: block devices only
      return r.Reply(Refuse(InvalidParamField(uint16_t(off + 1)), len));
    const CopyScope::Entry* e = Resolve(r.scope, p + off + 4);
    if (!e) return r.Reply(Refuse(CopyAborted(kCopyTargetNotReachable, uint16_t(off + 4)), len));
    const uint32_t block_len = LoadBe24(&p[off + 29]);
    if (block_len != e->core->volume->block_size())
      return r.Reply(Refuse(InvalidParamField(uint16_t(off + 29)), len));
    ends.push_back({e->core, e->read_only});
  }

  std::vector<Segment> plan;
  uint64_t total_bytes = 0;
  for (uint32_t off : segs) {
    Segment s;
    s.src = LoadBe16(&p[off + 4]);
    s.dst = LoadBe16(&p[off + 6]);
    if (s.src >= ends.size())
      return r.Reply(Refuse(CopyAborted(kCopyTargetNotReachable, uint16_t(off + 4)), len));
    if (s.dst >= ends.size())
      return r.Reply(Refuse(CopyAborted(kCopyTargetNotReachable, uint16_t(off + 6)), len));
    s.blocks = LoadBe16(&p[off + 10]);
    s.src_lba = LoadBe64(&p[off + 12]);
    s.dst_lba = LoadBe64(&p[off + 20]);
    const auto& src = *ends[s.src].core->volume;
    const auto& dst = *ends[s.dst].core->volume;
    if (src.block_size() != dst.block_size())
      return r.Reply(Refuse(InvalidParamField(uint16_t(off + 6)), len));
    if (uint64_t(s.blocks) * src.block_size() > kMaxCopySegmentBytes)
      return r.Reply(Refuse(InvalidParamField(uint16_t(off + 10)), len));
    if (s.src_lba > src.block_count() || s.blocks > src.block_count() - s.src_lba)
      return r.Reply(Refuse(CopyAborted(kNoAdditionalSense, uint16_t(off + 12)), len));
    if (s.dst_lba > dst.block_count() || s.blocks > dst.block_count() - s.dst_lba)
      return r.Reply(Refuse(CopyAborted(kNoAdditionalSense, uint16_t(off + 20)), len));
    const Endpoint& d = ends[s.dst];
    if (s.blocks > 0 && (d.read_only || d.core->volume->read_only()))
      return r.Reply(Refuse(MakeSense(SenseKey::kDataProtect, kWriteProtected), len));
    if (s.blocks > 0 &&
        (Conflicts(*ends[s.src].core, r.nexus, 0x88) || Conflicts(*d.core, r.nexus, 0x8a))) {
      Response c = Conflict();
      c.data_out_wanted = len;
      return r.Reply(std::move(c));
    }
    total_bytes += uint64_t(s.blocks) * src.block_size();
    plan.push_back(s);
  }
  if (total_bytes == 0) {
    if (list_id_usage != 1) Hold(*r.core, r.nexus.id, list_id, 1, uint16_t(plan.size()), 0);
    Response ok = Response::Good();
    ok.data_out_wanted = len;
    return r.Reply(std::move(ok));
  }

  // At most kMaxConcurrentCopies at once (each holds a chunk buffer).
  if (r.core->copies_running.fetch_add(1) >= kMaxConcurrentCopies) {
    r.core->copies_running.fetch_sub(1);
    return r.Reply(Refuse(IllegalRequest(kInsufficientResources), len));
  }
  r.core->io->Run([core = r.core, nexus_id = r.nexus.id, list_id, hold = list_id_usage != 1,
                   ends = std::move(ends), plan = std::move(plan), len, seg_start,
                   done = std::move(r.done)]() mutable {
    std::vector<uint8_t> buf;
    uint16_t processed = 0;
    uint64_t moved = 0;
    Status st;
    for (const Segment& s : plan) {
      const uint64_t bytes = uint64_t(s.blocks) * ends[s.src].core->volume->block_size();
      st = CopySegment(ends[s.src], ends[s.dst], s, buf);
      if (!st.ok()) break;
      ++processed;
      moved += bytes;
    }
    if (hold) Hold(*core, nexus_id, list_id, st.ok() ? 1 : 2, processed, moved);
    Response resp;
    if (st.ok()) {
      resp = Response::Good();
    } else {
      // The copy stopped part way: COPY ABORTED, the failed segment's
      // descriptor in the field pointer.
      resp = Response::Check(
          CopyAborted(kNoAdditionalSense, uint16_t(seg_start + processed * kSegmentBytes)));
    }
    resp.data_out_wanted = len;
    buf = {};
    core->copies_running.fetch_sub(1);
    done(std::move(resp));
  });
}

void DoReceiveCopyResults(Req& r) {
  auto cdb = r.cdb();
  const uint32_t alloc = LoadBe32(&cdb[10]);
  std::vector<uint8_t> d;
  if ((cdb[1] & 0x1f) == 0x03) {  // OPERATING PARAMETERS
    d.assign(44 + 2, 0);
    StoreBe32(&d[0], uint32_t(d.size() - 4));
    d[4] = 0;  // SNLID 0: every copy has a list identifier
    StoreBe16(&d[8], kMaxCscdDescriptors);
    StoreBe16(&d[10], kMaxSegmentDescriptors);
    StoreBe32(&d[12], kMaxCopyDescriptorListBytes);
    StoreBe32(&d[16], kMaxCopySegmentBytes);
    // Inline data, held data and stream transfers: none.
    StoreBe16(&d[34], kMaxConcurrentCopies);  // total concurrent copies
    d[36] = kMaxConcurrentCopies;             // maximum concurrent copies
    d[37] = 9;                                // data segment granularity: 512 bytes (log2)
    d[43] = 2;                                // implemented descriptor type codes:
    d[44] = kSegmentBlockToBlock;
    d[45] = kCscdIdentification;
    return r.Reply(GoodTruncated(std::move(d), alloc));
  }
  // COPY STATUS of the copy with this list identifier from this nexus.
  const uint8_t list_id = cdb[2];
  std::optional<HeldCopyResult> held;
  {
    std::lock_guard<std::mutex> l(r.core->mu);
    for (const auto& h : r.core->held_copies)
      if (h.nexus_id == r.nexus.id && h.list_id == list_id) held = h;
  }
  if (!held) return r.Reply(CheckInvalidCdb(2));
  d.assign(12, 0);
  StoreBe32(&d[0], 8);
  d[4] = held->status;  // HDD 0: no held data
  StoreBe16(&d[5], held->segments);
  uint64_t count = held->bytes;
  uint8_t units = 0;  // 0: bytes, 1: KiB, 2: MiB ...
  while (count > 0xffffffffu) {
    count >>= 10;
    ++units;
  }
  d[7] = units;
  StoreBe32(&d[8], uint32_t(count));
  r.Reply(GoodTruncated(std::move(d), alloc));
}

std::vector<uint8_t> ThirdPartyCopyPage() {
  std::vector<uint8_t> d = {0x00, 0x8f, 0, 0};
  // Supported Commands: EXTENDED COPY (LID1), RECEIVE COPY RESULTS (COPY
  // STATUS, OPERATING PARAMETERS).
  const uint8_t commands[] = {0x83, 1, 0x00, 0x84, 2, 0x00, 0x03};
  std::vector<uint8_t> sc = {0x00, 0x01, 0, 0, uint8_t(sizeof commands)};
  sc.insert(sc.end(), commands, commands + sizeof commands);
  while (sc.size() % 4) sc.push_back(0);
  StoreBe16(&sc[2], uint16_t(sc.size() - 4));
  d.insert(d.end(), sc.begin(), sc.end());
  // Supported Descriptors: block-to-block segments, identification CSCDs.
  const uint8_t descriptors[] = {
      0x00, 0x08, 0x00, 0x04, 2, kSegmentBlockToBlock, kCscdIdentification, 0};
  d.insert(d.end(), descriptors, descriptors + sizeof descriptors);
  StoreBe16(&d[2], uint16_t(d.size() - 4));
  return d;
}

}  // namespace vsl::scsi
