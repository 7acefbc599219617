// The gateway in-process on 127.0.0.1:0 with temp-file LUNs, driven by
// libiscsi's C API: login (CHAP, digests), write/read across extent
// boundaries and through R2T / Data-In segmentation, discovery, isolation,
// many sessions at once, and live map changes.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include "gateway/gateway.h"

namespace vsl::gateway {
namespace {

constexpr uint64_t kExtent = 1 << 20;  // each of the two extents of LUN 0
constexpr char kH1[] = "iqn.2026-11.org.example:h1";
constexpr char kH2[] = "iqn.2026-11.org.example:h2";
constexpr char kSecret1[] = "h1-secret-0123";
constexpr char kSecret2[] = "h2-secret-0123";

class Loopback : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vsl-gw-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    file_a_ = dir_ + "/a.img";
    file_b_ = dir_ + "/b.img";
    MakeFile(file_a_, kExtent);
    MakeFile(file_b_, kExtent + 4096);  // extent B starts 512 bytes in
    GatewayOptions o;
    o.listen = "127.0.0.1:0";
    o.iqn_prefix = "iqn.2026-11.org.vsl";
    o.network_threads = 2;
    o.io_threads = 4;
    o.first_burst_length = 65536;
    o.max_burst_length = 262144;
    // Quick keepalive so the NOP tests below run in seconds.
    o.nop_interval_s = 1;
    o.nop_timeout_s = 2;
    auto gw = Gateway::Create(o);
    ASSERT_TRUE(gw.ok()) << gw.status().ToString();
    gw_ = std::move(*gw);
    ASSERT_TRUE(gw_->SetHost(Host("h1", kH1, kSecret1)).ok());
    ASSERT_TRUE(gw_->SetHost(Host("h2", kH2, kSecret2)).ok());
    Status s = gw_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  void TearDown() override {
    if (gw_) gw_->Stop();
    gw_.reset();
    unlink(file_a_.c_str());
    unlink(file_b_.c_str());
    rmdir(dir_.c_str());
  }

  static void MakeFile(const std::string& path, uint64_t size) {
    int fd = open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, off_t(size)), 0);
    close(fd);
  }

  HostConfig Host(const std::string& name, const std::string& initiator, const std::string& secret) {
    HostConfig h;
    h.name = name;
    h.initiators = {initiator};
    h.chap = Chap{name, secret};
    LunConfig l;
    l.lun = 0;
    l.volume_id = "vol-" + name;
    if (name == "h1") {
      l.extents = {{file_a_, 0, kExtent}, {file_b_, 512, kExtent}};
    } else {
      l.extents = {{file_b_, 512, 4096}};
      l.volume_id = "vol-h2";
    }
    h.luns = {l};
    return h;
  }

  // A logged-in libiscsi session, or null.
  iscsi_context* Connect(const char* initiator, const std::string& host, const char* user,
                         const char* secret, bool header_digest = false) {
    iscsi_context* c = iscsi_create_context(initiator);
    if (!c) return nullptr;
    iscsi_set_timeout(c, 30);  // keeps a broken target from hanging the test
    iscsi_set_noautoreconnect(c, 1);
    iscsi_set_targetname(c, gw_->TargetName(host).c_str());
    iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(c, header_digest ? ISCSI_HEADER_DIGEST_CRC32C : ISCSI_HEADER_DIGEST_NONE);
    if (user) iscsi_set_initiator_username_pwd(c, user, secret);
    if (iscsi_full_connect_sync(c, gw_->address().c_str(), 0) != 0) {
      last_error_ = iscsi_get_error(c);
      iscsi_destroy_context(c);
      return nullptr;
    }
    return c;
  }

  static void Disconnect(iscsi_context* c) {
    iscsi_logout_sync(c);
    iscsi_destroy_context(c);
  }

  static bool Write(iscsi_context* c, uint64_t lba, std::vector<uint8_t>& data) {
    scsi_task* t = iscsi_write16_sync(c, 0, lba, data.data(), uint32_t(data.size()), 512, 0, 0, 0, 0, 0);
    bool ok = t && t->status == SCSI_STATUS_GOOD;
    if (t) scsi_free_scsi_task(t);
    return ok;
  }

  static std::vector<uint8_t> Read(iscsi_context* c, uint64_t lba, uint32_t length) {
    scsi_task* t = iscsi_read16_sync(c, 0, lba, length, 512, 0, 0, 0, 0, 0);
    std::vector<uint8_t> out;
    if (t && t->status == SCSI_STATUS_GOOD) out.assign(t->datain.data, t->datain.data + t->datain.size);
    if (t) scsi_free_scsi_task(t);
    return out;
  }

  std::vector<uint8_t> FileBytes(const std::string& path, uint64_t offset, size_t length) {
    std::vector<uint8_t> out(length);
    int fd = open(path.c_str(), O_RDONLY);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(pread(fd, out.data(), length, off_t(offset)), ssize_t(length));
    close(fd);
    return out;
  }

  static std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i * 31 + seed + i / 512);
    return v;
  }

  std::string dir_, file_a_, file_b_, last_error_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(Loopback, WriteAcrossExtentBoundaryLandsInBothFiles) {
  iscsi_context* c = Connect(kH1, "h1", "h1", kSecret1);
  ASSERT_NE(c, nullptr) << last_error_;
  // 16 blocks straddling the end of extent A (LBA 2048).
  std::vector<uint8_t> data = Pattern(16 * 512, 7);
  ASSERT_TRUE(Write(c, 2040, data));
  EXPECT_EQ(Read(c, 2040, 16 * 512), data);
  std::vector<uint8_t> in_a = FileBytes(file_a_, 2040 * 512, 8 * 512);
  std::vector<uint8_t> in_b = FileBytes(file_b_, 512, 8 * 512);
  EXPECT_TRUE(std::equal(in_a.begin(), in_a.end(), data.begin()));
  EXPECT_TRUE(std::equal(in_b.begin(), in_b.end(), data.begin() + 8 * 512));
  Disconnect(c);
}

TEST_F(Loopback, LargeTransfersUseR2TsAndSegmentedDataIn) {
  // 1.5 MiB > FirstBurstLength (64 KiB) and MaxBurstLength (256 KiB): the
  // write needs several R2Ts, the read several Data-In sequences.
  iscsi_context* c = Connect(kH1, "h1", "h1", kSecret1);
  ASSERT_NE(c, nullptr) << last_error_;
  std::vector<uint8_t> data = Pattern(3 << 19, 3);
  ASSERT_TRUE(Write(c, 100, data));
  EXPECT_EQ(Read(c, 100, uint32_t(data.size())), data);
  Disconnect(c);
}

TEST_F(Loopback, HeaderDigests) {
  iscsi_context* c = Connect(kH1, "h1", "h1", kSecret1, /*header_digest=*/true);
  ASSERT_NE(c, nullptr) << last_error_;
  std::vector<uint8_t> data = Pattern(64 * 1024, 9);
  ASSERT_TRUE(Write(c, 8, data));
  EXPECT_EQ(Read(c, 8, uint32_t(data.size())), data);
  Disconnect(c);
}

TEST_F(Loopback, WrongSecretOtherInitiatorAndOtherTargetAreRefused) {
  EXPECT_EQ(Connect(kH1, "h1", "h1", "not-the-secret-1"), nullptr);
  EXPECT_EQ(Connect(kH2, "h1", "h2", kSecret2), nullptr);  // h2's credentials on h1's target
  EXPECT_EQ(Connect(kH1, "h2", "h1", kSecret1), nullptr);  // h1 on h2's target
  EXPECT_EQ(Connect(kH1, "nosuch", "h1", kSecret1), nullptr);
  iscsi_context* ok = Connect(kH1, "h1", "h1", kSecret1);
  EXPECT_NE(ok, nullptr) << last_error_;
  if (ok) Disconnect(ok);
}

TEST_F(Loopback, MutualChap) {
  HostConfig h3 = Host("h3", "iqn.2026-11.org.example:h3", "h3-secret-0123");
  h3.luns[0].volume_id = "vol-h2";  // shares h2's disk
  h3.luns[0].extents = {{file_b_, 512, 4096}};
  h3.mutual_chap = Chap{"gw", "gateway-secret-42"};
  ASSERT_TRUE(gw_->SetHost(h3).ok());
  auto connect = [&](const char* target_secret) -> iscsi_context* {
    iscsi_context* c = iscsi_create_context("iqn.2026-11.org.example:h3");
    iscsi_set_timeout(c, 30);
    iscsi_set_noautoreconnect(c, 1);
    iscsi_set_targetname(c, gw_->TargetName("h3").c_str());
    iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
    iscsi_set_initiator_username_pwd(c, "h3", "h3-secret-0123");
    iscsi_set_target_username_pwd(c, "gw", target_secret);
    if (iscsi_full_connect_sync(c, gw_->address().c_str(), 0) != 0) {
      iscsi_destroy_context(c);
      return nullptr;
    }
    return c;
  };
  // The initiator checks the gateway's answer: a wrong expectation fails.
  EXPECT_EQ(connect("not-what-gw-knows"), nullptr);
  iscsi_context* c = connect("gateway-secret-42");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(Read(c, 0, 4096).size(), 4096u);
  Disconnect(c);
}

TEST_F(Loopback, DiscoveryShowsOnlyTheInitiatorsOwnTarget) {
  iscsi_context* c = iscsi_create_context(kH2);
  ASSERT_NE(c, nullptr);
  iscsi_set_timeout(c, 30);
  iscsi_set_session_type(c, ISCSI_SESSION_DISCOVERY);
  iscsi_set_initiator_username_pwd(c, "h2", kSecret2);
  ASSERT_EQ(iscsi_connect_sync(c, gw_->address().c_str()), 0) << iscsi_get_error(c);
  ASSERT_EQ(iscsi_login_sync(c), 0) << iscsi_get_error(c);
  iscsi_discovery_address* found = iscsi_discovery_sync(c);
  ASSERT_NE(found, nullptr) << iscsi_get_error(c);
  std::vector<std::string> names, portals;
  for (auto* a = found; a; a = a->next) {
    names.push_back(a->target_name);
    for (auto* p = a->portals; p; p = p->next) portals.push_back(p->portal);
  }
  iscsi_free_discovery_data(c, found);
  EXPECT_EQ(names, std::vector<std::string>{gw_->TargetName("h2")});
  EXPECT_EQ(portals, std::vector<std::string>{gw_->address() + ",1"});
  iscsi_logout_sync(c);
  iscsi_destroy_context(c);
}

TEST_F(Loopback, ManySessionsAtOnce) {
  constexpr int kSessions = 12;
  std::vector<std::thread> threads;
  std::vector<int> ok(kSessions, 0);
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([this, i, &ok] {
      iscsi_context* c = Connect(kH1, "h1", "h1", kSecret1);
      if (!c) return;
      // Each session writes and reads back its own 64 KiB region.
      std::vector<uint8_t> data = Pattern(64 * 1024, uint8_t(i));
      bool good = true;
      for (int round = 0; round < 4 && good; ++round) {
        good = Write(c, uint64_t(i) * 128, data) && Read(c, uint64_t(i) * 128, 64 * 1024) == data;
      }
      ok[size_t(i)] = good;
      Disconnect(c);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kSessions; ++i) EXPECT_TRUE(ok[size_t(i)]) << "session " << i;
}

// Gateway::HoldWrites (a destructive restore): writes to the held LU wait
// until the hold goes and then land; meanwhile they take no I/O thread, so
// another host's write that needs one (FUA: synced on an I/O thread) is
// answered while more writes than there are I/O threads are held.
// Many writes in flight on one connection, end to end across the extent
// boundary (so a loop turn's run of them goes down as one pwritev per file),
// every eighth with FUA and a READ among them: every write is answered GOOD
// and every byte is in its file where a lone write would have put it.
TEST_F(Loopback, QueuedAdjacentWritesLandInOrderAcrossExtents) {
  iscsi_context* c = Connect(kH1, "h1", "h1", kSecret1);
  ASSERT_NE(c, nullptr) << last_error_;
  constexpr int kWrites = 96;
  constexpr uint32_t kBlocks = 8;                       // 4 KiB each
  const uint64_t first = kExtent / 512 - 40 * kBlocks;  // the 41st write starts in extent B
  struct State {
    int answered = 0, good = 0;
  } st;
  auto cb = [](iscsi_context*, int status, void* command_data, void* private_data) {
    auto* s = static_cast<State*>(private_data);
    auto* t = static_cast<scsi_task*>(command_data);
    ++s->answered;
    if (status == SCSI_STATUS_GOOD) ++s->good;
    scsi_free_scsi_task(t);
  };
  std::vector<std::vector<uint8_t>> data;
  for (int i = 0; i < kWrites; ++i) data.push_back(Pattern(kBlocks * 512, uint8_t(i)));
  int sent = 0;
  for (int i = 0; i < kWrites; ++i) {
    scsi_task* t = iscsi_write16_task(c, 0, first + uint64_t(i) * kBlocks, data[size_t(i)].data(),
                                      kBlocks * 512, 512, 0, 0, /*fua=*/i % 8 == 7, 0, 0, cb, &st);
    ASSERT_NE(t, nullptr) << iscsi_get_error(c);
    ++sent;
    if (i == kWrites / 2) {  // a read in the middle of the stream
      ASSERT_NE(iscsi_read16_task(c, 0, first, 512, 512, 0, 0, 0, 0, 0, cb, &st), nullptr);
      ++sent;
    }
  }
  for (int i = 0; i < 3000 && st.answered < sent; ++i) {
    pollfd p{iscsi_get_fd(c), short(iscsi_which_events(c)), 0};
    ASSERT_GE(poll(&p, 1, 10), 0);
    ASSERT_EQ(iscsi_service(c, p.revents), 0) << iscsi_get_error(c);
  }
  EXPECT_EQ(st.answered, sent);
  EXPECT_EQ(st.good, sent);
  for (int i = 0; i < kWrites; ++i) {
    const uint64_t off = (first + uint64_t(i) * kBlocks) * 512;
    std::vector<uint8_t> got = off < kExtent
                                   ? FileBytes(file_a_, off, kBlocks * 512)
                                   : FileBytes(file_b_, 512 + off - kExtent, kBlocks * 512);
    EXPECT_EQ(got, data[size_t(i)]) << "write " << i;
  }
  Disconnect(c);
}

TEST_F(Loopback, HeldWritesParkWithoutStarvingOtherLus) {
  auto hold = gw_->HoldWrites("vol-h1");
  ASSERT_TRUE(hold.ok()) << hold.status().ToString();
  EXPECT_EQ(gw_->HoldWrites("vol-none").status().code(), Code::kNotFound);
  constexpr int kWriters = 8;  // twice the I/O threads
  std::vector<std::thread> threads;
  std::vector<std::atomic<int>> state(kWriters);  // 0 connecting, 1 sending, 2 good, 3 failed
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([this, i, &state] {
      iscsi_context* c = Connect(kH1, "h1", "h1", kSecret1);
      if (!c) return state[size_t(i)].store(3);
      std::vector<uint8_t> data = Pattern(4096, uint8_t(40 + i));
      state[size_t(i)].store(1);
      state[size_t(i)].store(Write(c, uint64_t(i) * 8, data) ? 2 : 3);
      Disconnect(c);
    });
  }
  for (int t = 0; t < 1000; ++t) {
    int sending = 0;
    for (auto& s : state) sending += s.load() == 1;
    if (sending == kWriters) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let their commands reach the LU
  iscsi_context* c2 = Connect(kH2, "h2", "h2", kSecret2);
  ASSERT_NE(c2, nullptr) << last_error_;
  std::vector<uint8_t> other = Pattern(4096, 7);
  scsi_task* t = iscsi_write16_sync(c2, 0, 0, other.data(), 4096, 512, 0, 0, /*fua=*/1, 0, 0);
  EXPECT_TRUE(t && t->status == SCSI_STATUS_GOOD) << "another LU's write waited for the hold";
  if (t) scsi_free_scsi_task(t);
  Disconnect(c2);
  for (int i = 0; i < kWriters; ++i) EXPECT_NE(state[size_t(i)].load(), 2) << "writer " << i << " ran while held";
  hold->reset();  // the hold goes: the parked writes run
  for (auto& th : threads) th.join();
  for (int i = 0; i < kWriters; ++i) {
    EXPECT_EQ(state[size_t(i)].load(), 2) << "writer " << i;
    EXPECT_EQ(FileBytes(file_a_, uint64_t(i) * 4096, 4096), Pattern(4096, uint8_t(40 + i))) << "writer " << i;
  }
}

// Gateway::MigrateVolume (docs/migration.md): a host keeps writing 4 KiB
// blocks at pseudo-random places over one session while vol-h1 moves from
// its two extents onto one extent of another file. Midway through the copy,
// the blocks the copy has not reached yet that the host wrote since it
// started are already in the new file (writes go to both places), so the
// copy moves the volume about once. Afterwards every block reads back
// (through the gateway and straight from the new file) as the host last
// wrote it, no command failed, the session is the same one, and a write
// after the switch lands in the new file only.
TEST_F(Loopback, MigrateVolumeMovesDataWhileAHostWrites) {
  constexpr uint64_t kSize = 2 * kExtent;
  constexpr uint64_t kBlocks = kSize / 4096;
  const std::string file_c = dir_ + "/c.img";
  MakeFile(file_c, kSize + 8192);
  iscsi_context* c = Connect(kH1, "h1", "h1", kSecret1);
  ASSERT_NE(c, nullptr) << last_error_;
  // Every block starts with content of its own.
  std::vector<std::vector<uint8_t>> model(kBlocks);
  for (uint64_t b = 0; b < kBlocks; b += 64) {
    std::vector<uint8_t> data = Pattern(64 * 4096, uint8_t(b));
    ASSERT_TRUE(Write(c, b * 8, data));
    for (uint64_t i = 0; i < 64; ++i)
      model[b + i].assign(data.begin() + long(i * 4096), data.begin() + long((i + 1) * 4096));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0}, writes{0};
  std::mutex model_mu;
  std::vector<int> written_at(kBlocks, -1);  // the write count when the host last wrote the block; model_mu
  std::thread host([&] {
    uint64_t x = 88172645463325252ull;
    for (int n = 0; n < 200000 && !stop.load(); ++n) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      const uint64_t b = x % kBlocks;
      std::vector<uint8_t> data(4096);
      for (size_t i = 0; i < data.size(); i += 8) {
        const uint64_t word = (uint64_t(n) << 32) | (b << 8) | (i / 8 & 0xff);
        memcpy(&data[i], &word, 8);
      }
      if (!Write(c, b * 8, data)) {
        failed++;
        continue;
      }
      std::lock_guard<std::mutex> l(model_mu);
      model[b] = std::move(data);
      written_at[b] = ++writes;
    }
  });
  while (writes.load() < 50 && failed.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Gateway::MigrateOptions o;
  o.chunk_bytes = 64 << 10;
  o.bytes_per_second = 8 << 20;
  o.final_pass_bytes = 16 << 10;
  std::atomic<uint64_t> reports{0};
  int since = -1, mirrored_checked = 0, mirrored_missing = 0;
  o.progress = [&](uint64_t copied, uint64_t total) {
    if (++reports == 1) since = writes.load();  // the mirror is on by the first report
    if (reports != 16 || total != kSize) return;  // halfway through the first pass
    std::lock_guard<std::mutex> l(model_mu);
    for (uint64_t b = (copied + o.chunk_bytes) / 4096; b < kBlocks; ++b) {
      if (written_at[b] <= since) continue;
      mirrored_checked++;
      if (FileBytes(file_c, 4096 + b * 4096, 4096) != model[b]) mirrored_missing++;
    }
  };
  // The switch is recorded with the host's writes held: none completes
  // while the record is made.
  bool held = false;
  o.commit = [&] {
    // One migration of a volume at a time.
    auto second = gw_->MigrateVolume("vol-h1", {{file_c, 4096, kSize}}, {});
    EXPECT_EQ(second.status().code(), Code::kFailedPrecondition) << second.status().ToString();
    const int w0 = writes.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    held = writes.load() == w0;
    return Status::Ok();
  };
  const int before = writes.load();
  auto r = gw_->MigrateVolume("vol-h1", {{file_c, 4096, kSize}}, o);
  const int during = writes.load() - before;
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(r->bytes_copied, kSize);
  EXPECT_LT(r->bytes_copied, kSize + kSize / 2) << "the copy chased the host's writes instead of their mirror";
  EXPECT_GT(reports.load(), 16u);
  EXPECT_GE(mirrored_checked, 5) << "too few host writes ahead of the copy to check";
  // At most the one write in flight at the check is in the file and not yet in the model.
  EXPECT_LE(mirrored_missing, 1) << "of " << mirrored_checked
                                 << " blocks the host wrote ahead of the copy, these are not in the new file";
  EXPECT_TRUE(held) << "host writes completed while the switch was being recorded";
  EXPECT_GT(during, 0) << "the host's writes stalled for the whole migration";
  // Writes go on after the switch, to the new file only.
  const auto a_before = FileBytes(file_a_, 0, kExtent);
  const int after_switch = writes.load();
  while (writes.load() < after_switch + 50 && failed.load() == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  host.join();
  EXPECT_EQ(failed.load(), 0) << "host writes failed during the migration";
  EXPECT_EQ(FileBytes(file_a_, 0, kExtent), a_before) << "a write after the switch reached the old extent";
  std::printf(
      "FIGURE migrate-loopback: %llu bytes copied (%.2fx the volume) in %d passes, %.2f s; host writes during: %d; "
      "%d blocks written ahead of the copy were in the new file already\n",
      (unsigned long long)r->bytes_copied, double(r->bytes_copied) / double(kSize), r->passes, r->seconds, during,
      mirrored_checked - mirrored_missing);
  int bad_gateway = 0, bad_file = 0;
  for (uint64_t b = 0; b < kBlocks; ++b) {
    if (Read(c, b * 8, 4096) != model[b]) bad_gateway++;
    if (FileBytes(file_c, 4096 + b * 4096, 4096) != model[b]) bad_file++;
  }
  EXPECT_EQ(bad_gateway, 0) << "blocks read through the gateway differ from what the host wrote";
  EXPECT_EQ(bad_file, 0) << "blocks in the new file differ from what the host wrote";
  Disconnect(c);  // the session logged in before the migration is the one that logs out
  unlink(file_c.c_str());
}

// A destination that can't hold the volume, or a migration cancelled
// midway, leaves the volume on its old extents with its content intact.
TEST_F(Loopback, FailedOrCancelledMigrationLeavesTheVolumeWhereItWas) {
  iscsi_context* c = Connect(kH1, "h1", "h1", kSecret1);
  ASSERT_NE(c, nullptr) << last_error_;
  std::vector<uint8_t> data = Pattern(64 * 1024, 21);
  ASSERT_TRUE(Write(c, 2040, data));
  const std::string short_file = dir_ + "/short.img";
  MakeFile(short_file, kExtent);  // half the volume
  auto r = gw_->MigrateVolume("vol-h1", {{short_file, 0, 2 * kExtent}}, {});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("short.img"), std::string::npos) << r.status().ToString();
  r = gw_->MigrateVolume("vol-h1", {{short_file, 0, kExtent}}, {});
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
  const std::string file_c = dir_ + "/c.img";
  MakeFile(file_c, 2 * kExtent);
  Gateway::MigrateOptions o;
  o.chunk_bytes = 64 << 10;
  int chunks = 0;
  o.cancelled = [&] { return ++chunks > 4; };
  r = gw_->MigrateVolume("vol-h1", {{file_c, 0, 2 * kExtent}}, o);
  EXPECT_EQ(r.status().code(), Code::kAborted) << r.status().ToString();
  EXPECT_EQ(gw_->MigrateVolume("vol-none", {{file_c, 0, 2 * kExtent}}, {}).status().code(), Code::kNotFound);
  // The caller's record of the move fails: no switch, its error comes back.
  Gateway::MigrateOptions refuse;
  bool asked = false;
  refuse.commit = [&] {
    asked = true;
    return FailedPrecondition("catalog says no");
  };
  r = gw_->MigrateVolume("vol-h1", {{file_c, 0, 2 * kExtent}}, refuse);
  EXPECT_TRUE(asked);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
  EXPECT_NE(r.status().message().find("catalog says no"), std::string::npos) << r.status().ToString();
  // Still on file A and B: a new write lands there.
  std::vector<uint8_t> more = Pattern(4096, 99);
  ASSERT_TRUE(Write(c, 0, more));
  EXPECT_EQ(FileBytes(file_a_, 0, 4096), more);
  EXPECT_EQ(Read(c, 2040, uint32_t(data.size())), data);
  EXPECT_EQ(FileBytes(file_a_, 2040 * 512, 8 * 512),
            std::vector<uint8_t>(data.begin(), data.begin() + 8 * 512));
  Disconnect(c);
  unlink(short_file.c_str());
  unlink(file_c.c_str());
}

TEST_F(Loopback, LunsMapAndUnmapLive) {
  iscsi_context* c = Connect(kH1, "h1", "h1", kSecret1);
  ASSERT_NE(c, nullptr) << last_error_;
  LunConfig shared;
  shared.lun = 5;
  shared.volume_id = "vol-h2";  // h2's disk, shared into h1's namespace
  shared.extents = {{file_b_, 512, 4096}};
  ASSERT_TRUE(gw_->MapLun("h1", shared).ok());
  auto luns = [&]() {
    std::vector<uint64_t> out;
    for (int attempt = 0; attempt < 3; ++attempt) {  // first try may get a unit attention
      scsi_task* t = iscsi_reportluns_sync(c, 0, 4096);
      if (t && t->status == SCSI_STATUS_GOOD) {
        auto* list = static_cast<scsi_reportluns_list*>(scsi_datain_unmarshall(t));
        for (uint32_t i = 0; list && i < list->num; ++i) out.push_back(list->luns[i]);
        scsi_free_scsi_task(t);
        return out;
      }
      if (t) scsi_free_scsi_task(t);
    }
    return out;
  };
  EXPECT_EQ(luns(), (std::vector<uint64_t>{0, 5}));
  ASSERT_TRUE(gw_->UnmapLun("h1", 5).ok());
  EXPECT_EQ(luns(), (std::vector<uint64_t>{0}));
  EXPECT_EQ(gw_->UnmapLun("h1", 5).code(), Code::kNotFound);
  Disconnect(c);
}

TEST_F(Loopback, RemovedHostLosesItsSession) {
  iscsi_context* c = Connect(kH1, "h1", "h1", kSecret1);
  ASSERT_NE(c, nullptr) << last_error_;
  ASSERT_TRUE(gw_->RemoveHost("h1").ok());
  // The session is closed by the gateway; the next command fails (no
  // automatic reconnect, and a new login would be refused anyway).
  std::vector<uint8_t> got = Read(c, 0, 512);
  EXPECT_TRUE(got.empty());
  iscsi_destroy_context(c);
  EXPECT_EQ(Connect(kH1, "h1", "h1", kSecret1), nullptr);
}

TEST_F(Loopback, SameIsidReinstatesTheSession) {
  // Two contexts with one ISID are one I_T nexus: the second login (TSIH 0)
  // replaces the first session (RFC 7143 §6.3.5).
  auto connect_with_isid = [&]() -> iscsi_context* {
    iscsi_context* c = iscsi_create_context(kH1);
    iscsi_set_timeout(c, 30);
    iscsi_set_noautoreconnect(c, 1);
    iscsi_set_isid_random(c, 0x123456, 0x42);
    iscsi_set_targetname(c, gw_->TargetName("h1").c_str());
    iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
    iscsi_set_initiator_username_pwd(c, "h1", kSecret1);
    if (iscsi_full_connect_sync(c, gw_->address().c_str(), 0) != 0) {
      iscsi_destroy_context(c);
      return nullptr;
    }
    return c;
  };
  iscsi_context* first = connect_with_isid();
  ASSERT_NE(first, nullptr);
  iscsi_context* second = connect_with_isid();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(Read(second, 0, 512).size(), 512u);
  EXPECT_TRUE(Read(first, 0, 512).empty());  // its session was closed
  iscsi_destroy_context(first);
  Disconnect(second);
}

// Runs libiscsi's event loop (which answers NOP-In pings) for `seconds`.
void Service(iscsi_context* c, int seconds) {
  for (int i = 0; i < seconds * 10; ++i) {
    pollfd p{iscsi_get_fd(c), short(iscsi_which_events(c)), 0};
    if (poll(&p, 1, 100) < 0) return;
    if (iscsi_service(c, p.revents) < 0) return;
  }
}

TEST_F(Loopback, AnsweredPingsKeepAnIdleConnection) {
  iscsi_context* c = Connect(kH1, "h1", "h1", kSecret1);
  ASSERT_NE(c, nullptr) << last_error_;
  // Idle for several ping intervals and timeouts, answering each ping.
  Service(c, 6);
  EXPECT_EQ(Read(c, 0, 512).size(), 512u);
  Disconnect(c);
}

TEST_F(Loopback, UnansweredPingsDropTheConnection) {
  iscsi_context* c = Connect(kH1, "h1", "h1", kSecret1);
  ASSERT_NE(c, nullptr) << last_error_;
  // Nobody reads the socket: the ping goes unanswered and the gateway hangs
  // up. Wait (up to a minute, for slow machines) for the peer's close without
  // reading, so libiscsi never sees the ping.
  bool closed = false;
  for (int i = 0; i < 60 && !closed; ++i) {
    pollfd p{iscsi_get_fd(c), POLLRDHUP, 0};
    closed = poll(&p, 1, 1000) > 0 && (p.revents & (POLLRDHUP | POLLHUP));
  }
  EXPECT_TRUE(closed);
  EXPECT_TRUE(Read(c, 0, 512).empty());
  iscsi_destroy_context(c);
}

}  // namespace
}  // namespace vsl::gateway
