// Fuzzes the SCSI layer: random CDBs and Data-Out from two nexuses through a
// Target with a small file-backed LU. Nothing may crash, and every response
// must be well formed (sense data iff CHECK CONDITION, fixed format, sane
// lengths).
//
// Input: a sequence of records
//   [ctl] [cdb_len] [cdb bytes...] [out_len_hi] [out_len_lo] [data-out bytes...]
// ctl bit 0: which nexus; bits 1-2: 3 = LUN reset first; bit 3: LUN 1 (unmapped).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gateway/scsi/scsi.h"

namespace {

using namespace vsl;
using namespace vsl::scsi;

struct World {
  std::string path;
  std::unique_ptr<Target> target;
  Nexus nexus[2];
};

World& GetWorld() {
  static World* w = [] {
    auto* w = new World;
    char tmpl[] = "/tmp/vsl_cdb_fuzzXXXXXX";
    int fd = ::mkstemp(tmpl);
    if (fd < 0 || ::ftruncate(fd, 64 * 1024) != 0) std::abort();
    ::close(fd);
    w->path = tmpl;
    auto v = volume::MetaVolume::Open({{w->path, 0, 32 * 1024}, {w->path, 32 * 1024, 32 * 1024}},
                                      {.block_size = 512, .read_only = false, .id = "fuzz"});
    if (!v.ok()) std::abort();
    auto lu = std::make_shared<LogicalUnit>(*v, InlineExecutor());
    w->target = std::make_unique<Target>("iqn.2026-11.org.vsl:fuzz");
    w->target->MapLun(0, lu, false);
    w->nexus[0] = w->target->AddNexus("iqn.f:a,i,0x1", "iqn.2026-11.org.vsl:fuzz,t,0x1");
    w->nexus[1] = w->target->AddNexus("iqn.f:b,i,0x2", "iqn.2026-11.org.vsl:fuzz,t,0x1");
    std::atexit([] { ::unlink(GetWorld().path.c_str()); });
    return w;
  }();
  return *w;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "malformed response: %s\n", what);
    std::abort();
  }
}

void CheckResponse(const Response& r) {
  switch (r.status) {
    case ScsiStatus::kGood:
    case ScsiStatus::kConditionMet:
    case ScsiStatus::kReservationConflict:
      Check(r.sense.empty(), "sense without CHECK CONDITION");
      break;
    case ScsiStatus::kCheckCondition:
      Check(r.sense.size() == 18, "sense is not 18 bytes");
      Check((r.sense[0] & 0x7f) == 0x70, "sense is not fixed format");
      Check(r.sense[7] == 10, "additional sense length");
      Check((r.sense[2] & 0x0f) != 0, "CHECK CONDITION with NO SENSE");
      Check(r.data_in.empty(), "data with CHECK CONDITION");
      break;
    default:
      Check(false, "unexpected status");
  }
  Check(r.data_in.size() <= (16u << 20), "data-in larger than any transfer");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = GetWorld();
  size_t at = 0;
  for (int n = 0; n < 16 && at + 2 <= size; ++n) {
    const uint8_t ctl = data[at++];
    size_t cdb_len = data[at++] % 33;
    if (at + cdb_len > size) cdb_len = size - at;
    Command cmd;
    cmd.cdb.assign(data + at, data + at + cdb_len);
    at += cdb_len;
    size_t out_len = 0;
    if (at + 2 <= size) {
      out_len = (size_t(data[at]) << 8 | data[at + 1]);
      at += 2;
    }
    if (at + out_len > size) out_len = size - at;
    cmd.data_out.assign(data + at, data + at + out_len);
    at += out_len;
    cmd.lun = (ctl & 0x08) ? 1 : 0;
    cmd.expected_data_in = 1 << 16;
    const Nexus& nexus = w.nexus[ctl & 1];
    if (((ctl >> 1) & 3) == 3) w.target->LunReset(nexus, 0);
    bool called = false;
    w.target->Execute(nexus, std::move(cmd), [&](Response r) {
      Check(!called, "Done called twice");
      called = true;
      CheckResponse(r);
    });
    Check(called, "Done not called (inline executor)");
  }
  return 0;
}
