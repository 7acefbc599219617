// SANITIZE (SBC-4): OVERWRITE and BLOCK ERASE, run the way vsl scrubs a
// volume (array/file_array.cc FileArray::Scrub): change every byte, make it
// durable (fdatasync), then read every byte back and check it. CRYPTOGRAPHIC
// ERASE has no entry in the op table (a file has no media key), so it is
// refused with INVALID FIELD IN CDB like any unknown service action.
//
// A sanitize is a chain of tasks on the I/O executor, one chunk
// (LuOptions::sanitize_chunk_bytes) each, so other LUs' I/O interleaves and
// the memory it holds is two chunk buffers. The LU answers NOT READY /
// SANITIZE IN PROGRESS meanwhile (the gate in logical_unit.cc), REQUEST SENSE
// reports its progress, and neither a LU reset nor the loss of the sending
// session stops it (SBC-4 4.11.2).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "gateway/scsi/lu_core.h"

namespace vsl::scsi {
namespace {

constexpr uint8_t kSaBlockErase = 0x02;
constexpr uint8_t kSaExitFailureMode = 0x1f;

struct SanitizeJob {
  std::shared_ptr<LuCore> core;
  bool erase = false;          // BLOCK ERASE; else OVERWRITE
  std::vector<uint8_t> block;  // OVERWRITE: the last pass's block (pattern repeated)
  bool invert = false;
  uint32_t passes = 1;         // write passes (BLOCK ERASE: the one erase pass)
  bool waited = false;         // IMMED=0: core.sanitize_waiter holds the command
  uint64_t size = 0;           // bytes of the volume when the sanitize started
  uint64_t chunk = 0;
  uint64_t rate = 0;           // bytes per second; 0: unpaced

  uint32_t phase = 0;  // 0..passes-1: write passes; passes: flush + verify
  uint64_t pos = 0;    // next byte of the phase
  uint64_t done_bytes = 0;
  int filled_for = -1;  // the pass `buf` holds the pattern for
  std::vector<uint8_t> buf, readback;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

// OVERWRITE with INVERT: the pattern is inverted between passes and the last
// pass writes it as given (SBC-4: an even count starts inverted).
bool PassInverted(const SanitizeJob& job, uint32_t pass) {
  return job.invert && ((job.passes - 1 - pass) % 2 == 1);
}

void FillChunk(SanitizeJob& job, std::vector<uint8_t>& out, bool inverted) {
  const size_t bs = job.block.size();
  out.resize(job.chunk);
  for (size_t i = 0; i < out.size(); i += bs) std::memcpy(&out[i], job.block.data(), bs);
  if (inverted)
    for (auto& b : out) b = uint8_t(~b);
}

void Finish(const std::shared_ptr<SanitizeJob>& job, const Status& s) {
  LuCore& core = *job->core;
  Done done;
  {
    std::lock_guard<std::mutex> l(core.mu);
    core.sanitize = s.ok() ? SanitizeState::kIdle : SanitizeState::kFailed;
    core.sanitize_progress.store(0, std::memory_order_relaxed);
    core.UpdateGate();
    if (job->waited) {
      done = std::move(core.sanitize_waiter);  // empty if the command was aborted
      core.sanitize_waiter = nullptr;
    }
  }
  if (done) {
    done(s.ok() ? Response::Good()
                : Response::Check(MakeSense(SenseKey::kMediumError, kSanitizeCommandFailed)));
  }
}

// One chunk of the current phase, then the next step is queued.
Status StepChunk(SanitizeJob& job) {
  LuCore& core = *job.core;
  const uint64_t n = std::min<uint64_t>(job.chunk, job.size - job.pos);
  if (job.phase < job.passes) {
    std::shared_lock l(core.write_mu);
    if (job.erase) return core.volume->Unmap(job.pos, n);
    if (job.filled_for != int(job.phase)) {
      FillChunk(job, job.buf, PassInverted(job, job.phase));
      job.filled_for = int(job.phase);
    }
    return core.volume->Write(job.pos, std::span<const uint8_t>(job.buf.data(), n), false);
  }
  if (job.pos == 0) VSL_RETURN_IF_ERROR(core.volume->Flush());
  job.readback.resize(n);
  VSL_RETURN_IF_ERROR(core.volume->Read(job.pos, job.readback));
  const bool ok = job.erase ? std::all_of(job.readback.begin(), job.readback.end(),
                                          [](uint8_t b) { return b == 0; })
                            : std::memcmp(job.readback.data(), job.buf.data(), n) == 0;
  if (!ok) {
    return DataLoss("volume " + core.volume->id() + " does not read back as sanitized at byte " +
                    std::to_string(job.pos));
  }
  return Status::Ok();
}

void Step(std::shared_ptr<SanitizeJob> job) {
  LuCore& core = *job->core;
  if (core.retired.load(std::memory_order_acquire))
    return Finish(job, Aborted("the logical unit was removed during the sanitize"));
  Status s;
  try {
    s = StepChunk(*job);
  } catch (const std::exception& e) {
    s = Internal(std::string("sanitize: ") + e.what());
  }
  if (!s.ok()) return Finish(job, s);
  const uint64_t n = std::min<uint64_t>(job->chunk, job->size - job->pos);
  job->pos += n;
  job->done_bytes += n;
  if (job->pos >= job->size) {
    job->pos = 0;
    if (++job->phase > job->passes) return Finish(job, Status::Ok());
  }
  const uint64_t total = uint64_t(job->passes + 1) * job->size;
  core.sanitize_progress.store(uint16_t(std::min<uint64_t>(job->done_bytes * 65536 / total, 65535)),
                               std::memory_order_relaxed);
  if (job->rate > 0) {
    // Paced: no earlier than done_bytes / rate after the start (at most one
    // second per chunk, so a retired LU is noticed soon).
    auto due = job->start + std::chrono::microseconds(job->done_bytes * 1000000 / job->rate);
    auto now = std::chrono::steady_clock::now();
    if (due > now) std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                       due - now, std::chrono::seconds(1)));
  }
  IoExecutor* io = core.io;
  io->Run([job = std::move(job)]() mutable { Step(std::move(job)); });
}

Response WithWanted(Response r, uint32_t wanted) {
  r.data_out_wanted = wanted;
  return r;
}

}  // namespace

std::optional<Sense> LuCore::SanitizeSense() const {
  switch (sanitize) {
    case SanitizeState::kRunning: {
      Sense s = MakeSense(SenseKey::kNotReady, kSanitizeInProgress);
      s.has_progress = true;
      s.progress = sanitize_progress.load(std::memory_order_relaxed);
      return s;
    }
    case SanitizeState::kFailed:
      return MakeSense(SenseKey::kMediumError, kSanitizeCommandFailed);
    case SanitizeState::kIdle:
      break;
  }
  return std::nullopt;
}

void DoSanitize(Req& r) {
  auto cdb = r.cdb();
  const bool immed = cdb[1] & 0x80;
  const bool ause = cdb[1] & 0x20;
  const uint8_t sa = cdb[1] & 0x1f;
  const uint32_t len = LoadBe16(&cdb[7]);
  LuCore& core = *r.core;
  const uint32_t bs = core.volume->block_size();

  if (sa == kSaExitFailureMode) {
    if (len != 0) return r.Reply(CheckInvalidCdb(7));
    std::lock_guard<std::mutex> l(core.mu);
    if (core.sanitize == SanitizeState::kFailed) {
      // Restricted completion mode (AUSE=0): only a successful sanitize exits.
      if (!core.sanitize_failed_ause) return r.Reply(CheckInvalidCdb(1, 4));
      core.sanitize = SanitizeState::kIdle;
      core.UpdateGate();
    }
    return r.Reply(Response::Good());
  }

  auto job = std::make_shared<SanitizeJob>();
  job->core = r.core;
  job->erase = sa == kSaBlockErase;  // else OVERWRITE (0x01): cdb.cc admits no other
  if (job->erase) {
    if (len != 0) return r.Reply(CheckInvalidCdb(7));
  } else {
    // OVERWRITE: a 4-byte header and a pattern of 1..block length bytes.
    if (len <= 4 || len > bs + 4) return r.Reply(WithWanted(CheckInvalidCdb(7), len));
    if (r.cmd.data_out.size() < len)
      return r.Reply(WithWanted(CheckIllegal(kInvalidFieldInIu), len));
    const uint8_t* p = r.cmd.data_out.data();
    const uint8_t test = (p[0] >> 5) & 0x3;
    const uint8_t count = p[0] & 0x1f;
    const uint32_t ipl = LoadBe16(&p[2]);
    // TEST selects vendor test modes; vsl has none.
    if (test != 0) return r.Reply(WithWanted(Response::Check(InvalidParamField(0, 6)), len));
    if (count == 0) return r.Reply(WithWanted(Response::Check(InvalidParamField(0, 4)), len));
    if (p[1] != 0) return r.Reply(WithWanted(Response::Check(InvalidParamField(1)), len));
    if (ipl == 0 || ipl > bs || ipl + 4 > len)
      return r.Reply(WithWanted(Response::Check(InvalidParamField(2)), len));
    job->invert = p[0] & 0x80;
    job->passes = count;
    job->block.resize(bs);
    for (uint32_t i = 0; i < bs; ++i) job->block[i] = p[4 + i % ipl];
  }
  {
    std::lock_guard<std::mutex> l(core.mu);
    if (core.sanitize == SanitizeState::kRunning)  // raced past the gate
      return r.Reply(WithWanted(Response::Check(*core.SanitizeSense()), len));
    if (core.sanitize == SanitizeState::kFailed && !core.sanitize_failed_ause && ause)
      return r.Reply(WithWanted(CheckInvalidCdb(1, 5), len));
    core.sanitize = SanitizeState::kRunning;
    core.sanitize_failed_ause = ause;
    core.sanitize_progress.store(0, std::memory_order_relaxed);
    core.UpdateGate();
    if (!immed) {
      job->waited = true;
      core.sanitize_waiter_nexus = r.nexus.id;
      core.sanitize_waiter_tag = r.cmd.tag;
      core.sanitize_waiter = [done = std::move(r.done), len](Response resp) mutable {
        done(WithWanted(std::move(resp), len));
      };
    }
  }
  job->size = core.volume->size();
  job->chunk = std::max<uint64_t>(core.options.sanitize_chunk_bytes / bs * bs, bs);
  job->rate = core.options.sanitize_bytes_per_second;
  if (!job->erase) {
    FillChunk(*job, job->buf, PassInverted(*job, 0));
    job->filled_for = 0;
  }
  if (immed) r.Reply(WithWanted(Response::Good(), len));
  IoExecutor* io = core.io;
  io->Run([job = std::move(job)]() mutable { Step(std::move(job)); });
}

}  // namespace vsl::scsi
