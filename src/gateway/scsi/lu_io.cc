// Block I/O commands. Reads try the page cache inline (RWF_NOWAIT) and fall
// back to the I/O executor; everything else that touches the files runs on it.
// On a volume with RBD extents, READ, WRITE (FUA included), SYNCHRONIZE
// CACHE, UNMAP and zeroing WRITE SAME are asynchronous instead: started
// where the command arrives (the connection's loop), their RBD pieces go to
// librbd's aio calls and their file pieces to the I/O executor, and the
// completion posts the response to the loop; no I/O thread waits for the
// cluster.
// Async work captures the LuCore (not the LogicalUnit), so a LUN unmapped while
// its I/O is in flight stays valid until that I/O completes.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

#include "gateway/scsi/data_buffers.h"
#include "gateway/scsi/lu_core.h"

namespace vsl::scsi {
namespace {

// LBA, transfer length and flag byte of the READ/WRITE-shaped CDBs.
struct Rw {
  uint64_t lba = 0;
  uint32_t blocks = 0;
  uint8_t flags = 0;
  uint16_t length_byte = 0;  // where the transfer length is, for field pointers
};

Rw DecodeRw(std::span<const uint8_t> cdb) {
  Rw rw;
  switch (cdb[0] >> 5) {
    case 0:  // 6-byte: 21-bit LBA, 0 blocks means 256
      rw.lba = LoadBe24(&cdb[1]) & 0x1fffff;
      rw.blocks = cdb[4] == 0 ? 256 : cdb[4];
      rw.length_byte = 4;
      break;
    case 1:  // 10-byte
      rw.lba = LoadBe32(&cdb[2]);
      rw.blocks = LoadBe16(&cdb[7]);
      rw.flags = cdb[1];
      rw.length_byte = 7;
      break;
    case 5:  // 12-byte
      rw.lba = LoadBe32(&cdb[2]);
      rw.blocks = LoadBe32(&cdb[6]);
      rw.flags = cdb[1];
      rw.length_byte = 6;
      break;
    default:  // 16-byte; WRITE ATOMIC(16) has a 2-byte transfer length
      if (cdb[0] == 0x9c) {
        rw.lba = LoadBe64(&cdb[2]);
        rw.blocks = LoadBe16(&cdb[12]);
        rw.flags = cdb[1];
        rw.length_byte = 12;
        break;
      }
      rw.lba = LoadBe64(&cdb[2]);
      rw.blocks = LoadBe32(&cdb[10]);
      rw.flags = cdb[1];
      rw.length_byte = 10;
      break;
  }
  return rw;
}

constexpr uint8_t kFua = 0x08;

bool OutOfRange(uint64_t lba, uint64_t blocks, uint64_t capacity) {
  return lba > capacity || blocks > capacity - lba;
}

Response Miscompare(uint64_t offset) {
  Sense s = MakeSense(SenseKey::kMiscompare, kMiscompareDuringVerify);
  s.has_info = true;
  s.info = offset;
  return Response::Check(s);
}

Response ShortDataOut(uint32_t wanted) {
  Response r = CheckIllegal(kInvalidFieldInIu);
  r.data_out_wanted = wanted;
  return r;
}

Response WithWanted(Response r, uint32_t wanted) {
  r.data_out_wanted = wanted;
  return r;
}

// Common checks of a block range: out of range, or longer than one transfer.
std::optional<Response> CheckRange(Req& r, uint64_t lba, uint64_t blocks, uint16_t length_byte) {
  const auto& vol = *r.core->volume;
  if (OutOfRange(lba, blocks, vol.block_count())) return CheckIllegal(kLbaOutOfRange);
  if (blocks * vol.block_size() > kMaxTransferBytes) return CheckInvalidCdb(length_byte);
  return std::nullopt;
}

// A READ of at least this much on an RBD volume takes librbd's buffers as
// they are (MetaVolume::ReadHeldAsync) rather than a copy of them in a
// Data-In buffer. What that saves is the copy, measured on 1 MiB reads
// (bench/README.md); a small read keeps the pooled buffer, whose copy costs
// little next to the allocations a held read makes.
constexpr size_t kHeldReadBytes = 64 * 1024;

// The answer of a command whose I/O is asynchronous: the I/O executor is
// held until it ran (librbd calls back on its own threads, which may still
// hand file work to the executor and post the answer to the connection's
// loop, both gone once the gateway stopped).
Done HeldDone(const std::shared_ptr<LuCore>& core, Done done) {
  core->io->Hold();
  return [io = core->io, done = std::move(done)](Response r) mutable {
    done(std::move(r));
    io->Release();
  };
}

// Where a volume's asynchronous I/O runs the pieces that block (files).
volume::MetaVolume::Offload Offloader(const std::shared_ptr<LuCore>& core) {
  return [io = core->io](std::function<void()> work) { io->Run(std::move(work)); };
}

// Runs `start` holding write_mu shared: here when no exclusive writer runs
// or waits, else on an I/O thread once it is done (never waiting on the
// connection's loop). `start` begins asynchronous I/O whose completion
// gives write_mu back (unlock_shared, on whatever thread it runs).
template <class Fn>
void WithWritesShared(const std::shared_ptr<LuCore>& core, Fn start) {
  if (core->write_mu.try_lock_shared()) return start();
  core->RunWrite([core, start = std::move(start)]() mutable {
    core->write_mu.lock_shared();
    start();
  });
}

// Starts an asynchronous write of `data` (the command's Data-Out) while the
// caller holds write_mu shared; the completion gives it back and answers.
void StartWriteAsync(std::shared_ptr<LuCore> core, uint64_t offset, uint32_t bytes, bool fua,
                     std::vector<uint8_t> data, Done done) {
  const std::span<const uint8_t> span(data.data(), bytes);
  auto& vol = *core->volume;
  vol.WriteAsync(offset, span, fua, Offloader(core),
                 [core, bytes, data = std::move(data), done = std::move(done)](Status s) mutable {
                   core->write_mu.unlock_shared();
                   done(WithWanted(FromStatus(s, true), bytes));
                 });
}

// Zeros (deallocate: UNMAP's discard) over byte ranges, asynchronously, while
// the caller holds write_mu shared: one answer once every range is done,
// with the first error. `wanted`: the command's Data-Out length.
void StartZeroAsync(std::shared_ptr<LuCore> core, std::vector<std::pair<uint64_t, uint64_t>> ranges,
                    bool deallocate, uint32_t wanted, Done done) {
  struct Join {
    std::atomic<size_t> pending;
    std::mutex mu;
    Status first;  // guarded by mu
    Done done;
  };
  auto join = std::make_shared<Join>();
  join->pending.store(ranges.size());
  join->done = std::move(done);
  for (const auto& [offset, length] : ranges) {
    core->volume->ZeroAsync(offset, length, deallocate, Offloader(core), [core, join, wanted](Status s) {
      if (!s.ok()) {
        std::lock_guard l(join->mu);
        if (join->first.ok()) join->first = std::move(s);
      }
      if (join->pending.fetch_sub(1) != 1) return;
      core->write_mu.unlock_shared();
      join->done(WithWanted(FromStatus(join->first, true), wanted));
    });
  }
}

}  // namespace

void DoRead(Req& r) {
  const Rw rw = DecodeRw(r.cdb());
  if (auto bad = CheckRange(r, rw.lba, rw.blocks, rw.length_byte)) return r.Reply(std::move(*bad));
  if (rw.blocks == 0) return r.Reply(Response::Good());
  auto& vol = *r.core->volume;
  const uint64_t offset = rw.lba * vol.block_size();
  const size_t bytes = size_t(rw.blocks) * vol.block_size();
  if (vol.has_rbd() && bytes >= kHeldReadBytes) {
    // librbd's buffers go out as the Data-In, not copied into one of ours.
    // The executor is held before the read starts (as HeldDone does: the
    // answer may come first); a range ReadHeldAsync declines gives the hold
    // and the answer back, for the reads below.
    r.core->io->Hold();
    auto done = std::make_shared<Done>(std::move(r.done));
    volume::MetaVolume::HeldReadDone held = [io = r.core->io, done](Status s,
                                                                    std::shared_ptr<const util::HeldBytes> b) {
      Response resp;
      if (s.ok()) resp.data_held = std::move(b);
      else resp = FromStatus(s, false);
      (*done)(std::move(resp));
      io->Release();
    };
    if (vol.ReadHeldAsync(offset, bytes, held)) return;
    r.core->io->Release();
    r.done = std::move(*done);
  }
  Response resp;
  resp.data_in = TakeDataBuffer(bytes);
  auto cached = vol.TryReadNoWait(offset, resp.data_in);
  if (!cached.ok()) return r.Reply(FromStatus(cached.status(), false));
  if (*cached) return r.Reply(std::move(resp));
  if (vol.has_rbd()) {
    // The buffer moves with the response into the completion; its bytes stay put.
    const std::span<uint8_t> out(resp.data_in);
    vol.ReadAsync(offset, out, Offloader(r.core),
                  [core = r.core, resp = std::move(resp), done = HeldDone(r.core, std::move(r.done))](Status s) mutable {
                    if (!s.ok()) return done(FromStatus(s, false));
                    done(std::move(resp));
                  });
    return;
  }
  r.core->io->Run([core = r.core, offset, resp = std::move(resp), done = std::move(r.done)]() mutable {
    Status s = core->volume->Read(offset, resp.data_in);
    if (!s.ok()) return done(FromStatus(s, false));
    done(std::move(resp));
  });
}

namespace {

// A write on an I/O thread: durable ones, atomic ones (alone under
// write_mu), and those the volume would not write inline.
void WriteInPool(const std::shared_ptr<LuCore>& core, uint64_t offset, uint32_t bytes, bool fua,
                 bool atomic, std::vector<uint8_t> data, Done done) {
  core->RunWrite(
      [core, offset, bytes, fua, atomic, data = std::move(data), done = std::move(done)]() mutable {
        Status s;
        const std::span<const uint8_t> span(data.data(), bytes);
        if (atomic) {  // no other write interleaves with it
          std::unique_lock l(core->write_mu);
          s = core->volume->Write(offset, span, fua);
        } else {
          std::shared_lock l(core->write_mu);
          s = core->volume->Write(offset, span, fua);
        }
        done(WithWanted(FromStatus(s, true), bytes));
      });
}

// The calling thread's held run of writes (see WriteBatch in scsi.h).
struct HeldWrites {
  int scopes = 0;
  std::shared_ptr<LuCore> core;  // set while writes are held; its write_mu held shared
  uint64_t offset = 0, end = 0;
  struct Write {
    std::vector<uint8_t> data;
    uint32_t bytes;
    Done done;
  };
  std::vector<Write> writes;
  std::vector<std::span<const uint8_t>> bufs;  // scratch for the flush
};
thread_local HeldWrites held;

// A run stops at this many writes or bytes: past them one more system call
// costs little against the copies.
constexpr size_t kMaxHeldWrites = 64;
// Write buffers up to this size go back to the data buffer pool.
constexpr size_t kRecycledWriteBytes = 64 * 1024;
constexpr uint64_t kMaxHeldBytes = 1u << 20;

}  // namespace

WriteBatch::WriteBatch() { ++held.scopes; }

WriteBatch::~WriteBatch() {
  FlushWriteBatch();
  --held.scopes;
}

void FlushWriteBatch() {
  // An answer may run the next command at once (Done may re-enter), which
  // may hold a new run: the held state is clear before the first answer,
  // and a run held meanwhile goes down too.
  while (held.core) {
    std::shared_ptr<LuCore> core = std::move(held.core);
    held.core = nullptr;
    const uint64_t offset = held.offset;
    std::vector<HeldWrites::Write> writes;
    writes.swap(held.writes);
    held.bufs.clear();
    for (const auto& w : writes) held.bufs.emplace_back(w.data.data(), w.bytes);
    auto inline_done = core->volume->TryWriteNoWait(offset, held.bufs, false);
    core->write_mu.unlock_shared();
    if (inline_done.ok() && !*inline_done) {
      uint64_t at = offset;
      for (auto& w : writes) {
        const uint32_t bytes = w.bytes;
        WriteInPool(core, at, bytes, false, false, std::move(w.data), std::move(w.done));
        at += bytes;
      }
    } else {
      for (auto& w : writes) {
        w.done(WithWanted(
            inline_done.ok() ? Response::Good() : FromStatus(inline_done.status(), true), w.bytes));
      }
    }
    // The data is down (or moved to the pool's thread): small writes'
    // buffers serve the next writes' data (the connection reads it into
    // them); large ones are freed as before (kept in the pool, which nothing
    // took them from in a run of large writes, they cost 1 MiB writes more).
    for (auto& w : writes) {
      if (w.data.capacity() <= kRecycledWriteBytes) GiveDataBuffer(std::move(w.data));
    }
    writes.clear();
    if (held.writes.empty()) held.writes.swap(writes);  // keeps the capacity
  }
}

// WRITE and WRITE AND VERIFY (the verify is the write reaching the medium:
// WRITE AND VERIFY is durable before GOOD, like FUA).
void DoWrite(Req& r) {
  const Rw rw = DecodeRw(r.cdb());
  if (auto bad = CheckRange(r, rw.lba, rw.blocks, rw.length_byte)) return r.Reply(std::move(*bad));
  const uint32_t bs = r.core->volume->block_size();
  const uint32_t bytes = rw.blocks * bs;
  if (rw.blocks == 0) return r.Reply(Response::Good());
  if (r.cmd.data_out.size() < bytes) return r.Reply(ShortDataOut(bytes));
  const uint8_t op = r.cmd.cdb[0];
  const bool verify = op == 0x2e || op == 0xae || op == 0x8e;
  if (verify && ((rw.flags >> 1) & 3) == 2) return r.Reply(CheckInvalidCdb(1, 2));
  const bool atomic = op == 0x9c;
  if (atomic && bytes > kMaxAtomicTransferBytes) return r.Reply(CheckInvalidCdb(12));
  const bool fua = verify || (rw.flags & kFua);
  const uint64_t offset = rw.lba * bs;
  if (!atomic && r.core->volume->has_rbd()) {
    return WithWritesShared(r.core, [core = r.core, offset, bytes, fua, data = std::move(r.cmd.data_out),
                                     done = HeldDone(r.core, std::move(r.done))]() mutable {
      StartWriteAsync(core, offset, bytes, fua, std::move(data), std::move(done));
    });
  }
  if (held.scopes > 0 && !atomic && !fua) {
    // Joins the held run when it continues it, else starts one.
    if (held.core &&
        (held.core != r.core || held.end != offset || held.writes.size() >= kMaxHeldWrites ||
         held.end - held.offset + bytes > kMaxHeldBytes))
      FlushWriteBatch();  // leaves nothing held
    if (!held.core && r.core->write_mu.try_lock_shared()) {
      held.core = r.core;
      held.offset = held.end = offset;
    }
    if (held.core) {
      held.writes.push_back({std::move(r.cmd.data_out), bytes, std::move(r.done)});
      held.end += bytes;
      return;
    }
  } else {
    FlushWriteBatch();  // the held writes come first
  }
  if (!atomic && r.core->write_mu.try_lock_shared()) {
    auto inline_done = r.core->volume->TryWriteNoWait(
        offset, std::span<const uint8_t>(r.cmd.data_out.data(), bytes), fua);
    r.core->write_mu.unlock_shared();
    if (!inline_done.ok()) return r.Reply(WithWanted(FromStatus(inline_done.status(), true), bytes));
    if (*inline_done) return r.Reply(WithWanted(Response::Good(), bytes));
  }
  WriteInPool(r.core, offset, bytes, fua, atomic, std::move(r.cmd.data_out), std::move(r.done));
}

void DoVerify(Req& r) {
  const Rw rw = DecodeRw(r.cdb());
  if (auto bad = CheckRange(r, rw.lba, rw.blocks, rw.length_byte)) return r.Reply(std::move(*bad));
  const uint8_t bytchk = (rw.flags >> 1) & 3;
  if (bytchk == 2) return r.Reply(CheckInvalidCdb(1, 2));
  if (rw.blocks == 0 || bytchk == 0) return r.Reply(Response::Good());
  const uint32_t bs = r.core->volume->block_size();
  const uint32_t bytes = rw.blocks * bs;
  const uint32_t wanted = bytchk == 1 ? bytes : bs;  // 11b: one block compared with each
  if (r.cmd.data_out.size() < wanted) return r.Reply(ShortDataOut(wanted));
  const uint64_t offset = rw.lba * bs;
  r.core->io->Run([core = r.core, offset, bytes, bs, bytchk, wanted, data = std::move(r.cmd.data_out),
                   done = std::move(r.done)]() mutable {
    std::vector<uint8_t> medium(bytes);
    Status s = core->volume->Read(offset, medium);
    if (!s.ok()) return done(WithWanted(FromStatus(s, false), wanted));
    for (uint32_t i = 0; i < bytes; ++i) {
      uint8_t expected = bytchk == 1 ? data[i] : data[i % bs];
      if (medium[i] != expected) return done(WithWanted(Miscompare(i), wanted));
    }
    done(WithWanted(Response::Good(), wanted));
  });
}

void DoWriteSame(Req& r) {
  auto cdb = r.cdb();
  const bool ten = cdb[0] == 0x41;
  const uint64_t lba = ten ? LoadBe32(&cdb[2]) : LoadBe64(&cdb[2]);
  const uint32_t blocks = ten ? LoadBe16(&cdb[7]) : LoadBe32(&cdb[10]);
  const uint16_t length_byte = ten ? 7 : 10;
  const bool unmap = cdb[1] & 0x08;
  const bool ndob = !ten && (cdb[1] & 0x01);
  auto& vol = *r.core->volume;
  const uint32_t bs = vol.block_size();
  const uint32_t wanted = ndob ? 0 : bs;
  // NUMBER OF LOGICAL BLOCKS 0 (WSNZ=0) means "from lba to the last block".
  const uint64_t capacity = vol.block_count();
  if (blocks == 0 && lba >= capacity) return r.Reply(CheckIllegal(kLbaOutOfRange));
  const uint64_t count = blocks ? blocks : capacity - lba;
  if (count > kMaxWriteSameBlocks) return r.Reply(CheckInvalidCdb(length_byte));
  if (OutOfRange(lba, count, capacity)) return r.Reply(CheckIllegal(kLbaOutOfRange));
  if (!ndob && r.cmd.data_out.size() != bs) return r.Reply(ShortDataOut(wanted));
  std::vector<uint8_t> block = ndob ? std::vector<uint8_t>(bs, 0) : std::move(r.cmd.data_out);
  // UNMAP=1 deallocates whatever the data block holds (as LIO does): the
  // initiator asked for the blocks to go, and LBPRZ=1 says they then read as
  // zeros, which is what libiscsi's WriteSame*.UnmapUntilEnd checks.
  // Unaligned ends are zeroed, whole granules deallocated (UnmapBlocks).
  const uint64_t offset = lba * bs;
  const uint64_t length = count * bs;
  // On RBD: UNMAP=1 is a discard, a block of zeros write_zeroes; both
  // asynchronous (rbd_skip_partial_discard is off: partial objects zeroed).
  const bool zeros = std::all_of(block.begin(), block.end(), [](uint8_t c) { return c == 0; });
  if (r.core->volume->has_rbd() && (unmap || zeros)) {
    return WithWritesShared(r.core, [core = r.core, offset, length, unmap, wanted,
                                     done = HeldDone(r.core, std::move(r.done))]() mutable {
      StartZeroAsync(core, {{offset, length}}, unmap, wanted, std::move(done));
    });
  }
  const UnmapGeometry geometry = GetUnmapGeometry(*r.core);
  r.core->RunWrite([core = r.core, lba, count, offset, length, bs, wanted, punch = unmap, geometry,
                   block = std::move(block), done = std::move(r.done)]() mutable {
    std::shared_lock l(core->write_mu);
    Status s;
    if (punch) {
      s = UnmapBlocks(*core, geometry, lba, count);
    } else {
      // The block repeated over up to 1 MiB, written as often as needed.
      const uint64_t chunk = std::min<uint64_t>(length, std::max<uint64_t>(bs, (1u << 20) / bs * bs));
      std::vector<uint8_t> buf(chunk);
      for (uint64_t i = 0; i < chunk; i += bs) std::memcpy(&buf[i], block.data(), bs);
      for (uint64_t done_bytes = 0; done_bytes < length && s.ok();) {
        uint64_t n = std::min<uint64_t>(chunk, length - done_bytes);
        s = core->volume->Write(offset + done_bytes, std::span<const uint8_t>(buf.data(), n), false);
        done_bytes += n;
      }
    }
    l.unlock();
    done(WithWanted(FromStatus(s, true), wanted));
  });
}

void DoUnmap(Req& r) {
  auto cdb = r.cdb();
  const uint32_t len = LoadBe16(&cdb[7]);
  if (len == 0) return r.Reply(Response::Good());
  if (len < 8) return r.Reply(WithWanted(CheckIllegal(kParameterListLengthError), len));
  if (r.cmd.data_out.size() < len) return r.Reply(ShortDataOut(len));
  const uint8_t* p = r.cmd.data_out.data();
  const uint32_t data_len = LoadBe16(&p[0]);
  const uint32_t desc_len = LoadBe16(&p[2]);
  if (data_len != 0 && data_len + 2 > len) return r.Reply(WithWanted(Response::Check(InvalidParamField(0)), len));
  if (desc_len + 8 > len) return r.Reply(WithWanted(Response::Check(InvalidParamField(2)), len));
  const uint32_t count = desc_len / 16;
  if (count > kMaxUnmapDescriptors) return r.Reply(WithWanted(Response::Check(InvalidParamField(2)), len));
  auto& vol = *r.core->volume;
  const uint64_t capacity = vol.block_count();
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  uint64_t total = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* d = p + 8 + 16 * i;
    const uint64_t lba = LoadBe64(d);
    const uint32_t blocks = LoadBe32(d + 8);
    if (OutOfRange(lba, blocks, capacity)) return r.Reply(WithWanted(CheckIllegal(kLbaOutOfRange), len));
    total += blocks;
    if (blocks > kMaxUnmapBlocks || total > kMaxUnmapBlocks)
      return r.Reply(WithWanted(Response::Check(InvalidParamField(uint16_t(8 + 16 * i + 8))), len));
    if (blocks > 0) ranges.emplace_back(lba, blocks);
  }
  if (ranges.empty()) return r.Reply(WithWanted(Response::Good(), len));
  if (vol.has_rbd()) {
    // Discards (whole objects removed, parts of objects zeroed), all at once.
    std::vector<std::pair<uint64_t, uint64_t>> bytes;
    for (const auto& [lba, blocks] : ranges) bytes.emplace_back(lba * vol.block_size(), blocks * vol.block_size());
    return WithWritesShared(r.core, [core = r.core, bytes = std::move(bytes), len,
                                     done = HeldDone(r.core, std::move(r.done))]() mutable {
      StartZeroAsync(core, std::move(bytes), true, len, std::move(done));
    });
  }
  // Per the Block Limits VPD granularity: whole granules are deallocated,
  // the unaligned head and tail of a range are zeroed (UnmapBlocks).
  const UnmapGeometry geometry = GetUnmapGeometry(*r.core);
  r.core->RunWrite([core = r.core, ranges = std::move(ranges), len, geometry,
                   done = std::move(r.done)]() mutable {
    Status s;
    {
      std::shared_lock l(core->write_mu);
      for (const auto& [lba, blocks] : ranges) {
        s = UnmapBlocks(*core, geometry, lba, blocks);
        if (!s.ok()) break;
      }
    }
    done(WithWanted(FromStatus(s, true), len));
  });
}

void DoCompareAndWrite(Req& r) {
  auto cdb = r.cdb();
  const uint64_t lba = LoadBe64(&cdb[2]);
  const uint32_t blocks = cdb[13];
  auto& vol = *r.core->volume;
  const uint32_t bs = vol.block_size();
  const uint32_t bytes = blocks * bs;
  if (blocks > kMaxCompareAndWriteBlocks) return r.Reply(CheckInvalidCdb(13));
  if (OutOfRange(lba, blocks, vol.block_count())) return r.Reply(CheckIllegal(kLbaOutOfRange));
  // The Data-Out must be exactly the verify and write halves: anything else
  // means the NUMBER OF LOGICAL BLOCKS is not what the initiator meant.
  if (r.cmd.data_out.size() != 2 * size_t(bytes)) return r.Reply(WithWanted(CheckInvalidCdb(13), 2 * bytes));
  if (blocks == 0) return r.Reply(Response::Good());
  const bool fua = cdb[1] & kFua;
  const uint64_t offset = lba * bs;
  r.core->RunWrite([core = r.core, offset, bytes, fua, data = std::move(r.cmd.data_out),
                   done = std::move(r.done)]() mutable {
    Response resp;
    {
      std::unique_lock l(core->write_mu);
      std::vector<uint8_t> medium(bytes);
      Status s = core->volume->Read(offset, medium);
      if (!s.ok()) {
        resp = FromStatus(s, false);
      } else {
        auto diff = std::mismatch(medium.begin(), medium.end(), data.begin());
        if (diff.first != medium.end()) {
          resp = Miscompare(uint64_t(diff.first - medium.begin()));
        } else {
          resp = FromStatus(core->volume->Write(offset, std::span<const uint8_t>(data.data() + bytes, bytes), fua), true);
        }
      }
    }
    done(WithWanted(std::move(resp), 2 * bytes));
  });
}

void DoOrWrite(Req& r) {
  const Rw rw = DecodeRw(r.cdb());
  if (auto bad = CheckRange(r, rw.lba, rw.blocks, rw.length_byte)) return r.Reply(std::move(*bad));
  if (rw.blocks == 0) return r.Reply(Response::Good());
  const uint32_t bs = r.core->volume->block_size();
  const uint32_t bytes = rw.blocks * bs;
  if (r.cmd.data_out.size() < bytes) return r.Reply(ShortDataOut(bytes));
  const bool fua = rw.flags & kFua;
  const uint64_t offset = rw.lba * bs;
  r.core->RunWrite([core = r.core, offset, bytes, fua, data = std::move(r.cmd.data_out),
                   done = std::move(r.done)]() mutable {
    Status s;
    {
      std::unique_lock l(core->write_mu);
      std::vector<uint8_t> medium(bytes);
      s = core->volume->Read(offset, medium);
      if (s.ok()) {
        for (uint32_t i = 0; i < bytes; ++i) medium[i] |= data[i];
        s = core->volume->Write(offset, medium, fua);
      }
    }
    done(WithWanted(FromStatus(s, true), bytes));
  });
}

void DoSyncCache(Req& r) {
  auto cdb = r.cdb();
  const bool ten = cdb[0] == 0x35;
  const uint64_t lba = ten ? LoadBe32(&cdb[2]) : LoadBe64(&cdb[2]);
  const uint32_t blocks = ten ? LoadBe16(&cdb[7]) : LoadBe32(&cdb[10]);
  if (OutOfRange(lba, blocks, r.core->volume->block_count()))
    return r.Reply(CheckIllegal(kLbaOutOfRange));
  if (r.core->volume->has_rbd()) {
    r.core->volume->FlushAsync(Offloader(r.core), [done = HeldDone(r.core, std::move(r.done))](Status s) mutable {
      done(FromStatus(s, true));
    });
    return;
  }
  r.core->io->Run([core = r.core, done = std::move(r.done)]() mutable {
    done(FromStatus(core->volume->Flush(), true));
  });
}

void DoPrefetch(Req& r) {
  auto cdb = r.cdb();
  const bool ten = cdb[0] == 0x34;
  const uint64_t lba = ten ? LoadBe32(&cdb[2]) : LoadBe64(&cdb[2]);
  const uint32_t blocks = ten ? LoadBe16(&cdb[7]) : LoadBe32(&cdb[10]);
  if (OutOfRange(lba, blocks, r.core->volume->block_count()))
    return r.Reply(CheckIllegal(kLbaOutOfRange));
  // The page cache can hold the range (or will try): CONDITION MET.
  Response resp;
  resp.status = ScsiStatus::kConditionMet;
  r.Reply(std::move(resp));
}

void DoGetLbaStatus(Req& r) {
  auto cdb = r.cdb();
  const uint64_t lba = LoadBe64(&cdb[2]);
  const uint32_t alloc = LoadBe32(&cdb[10]);
  if (lba >= r.core->volume->block_count()) return r.Reply(CheckIllegal(kLbaOutOfRange));
  if (alloc == 0) return r.Reply(Response::Good());
  const size_t max_runs = std::clamp<size_t>(alloc > 8 ? (alloc - 8) / 16 : 1, 1, 1024);
  r.core->io->Run([core = r.core, lba, alloc, max_runs, done = std::move(r.done)]() mutable {
    const uint32_t bs = core->volume->block_size();
    auto runs = core->volume->GetLbaStatus(lba * bs, max_runs);
    if (!runs.ok()) return done(FromStatus(runs.status(), false));
    std::vector<uint8_t> d(8, 0);
    for (const auto& run : *runs) {
      uint8_t e[16] = {};
      uint64_t blocks = run.length / bs;
      bool clamped = blocks > 0xffffffffu;
      StoreBe64(&e[0], run.offset / bs);
      StoreBe32(&e[8], clamped ? 0xffffffffu : uint32_t(blocks));
      e[12] = run.mapped ? 0x00 : 0x01;  // mapped / deallocated
      d.insert(d.end(), e, e + 16);
      if (clamped) break;
    }
    StoreBe32(&d[0], uint32_t(d.size() - 4));
    done(GoodTruncated(std::move(d), alloc));
  });
}

}  // namespace vsl::scsi
