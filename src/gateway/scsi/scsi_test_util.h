// Test helpers: temp-file volumes and a synchronous way to run a command.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <future>

#include <gtest/gtest.h>

#include "gateway/scsi/scsi.h"
#include "util/bytes.h"

namespace vsl::scsi::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/vsl_scsi_testXXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  // A file of `size` bytes filled with `fill`.
  std::string File(const std::string& name, uint64_t size, uint8_t fill = 0) {
    std::string p = path_ + "/" + name;
    int fd = ::open(p.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
    std::vector<uint8_t> buf(size, fill);
    if (fd < 0 || ::pwrite(fd, buf.data(), size, 0) != ssize_t(size)) std::abort();
    ::close(fd);
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Sensed {
  uint8_t key = 0, asc = 0, ascq = 0;
  bool sksv = false;
  uint16_t field = 0;
  bool info_valid = false;
  uint32_t info = 0;
};

inline Sensed ParseSense(const std::vector<uint8_t>& s) {
  Sensed out;
  if (s.size() < 18) return out;
  out.key = s[2] & 0x0f;
  out.asc = s[12];
  out.ascq = s[13];
  out.sksv = s[15] & 0x80;
  out.field = LoadBe16(&s[16]);
  out.info_valid = s[0] & 0x80;
  out.info = LoadBe32(&s[3]);
  return out;
}

// Runs a command and waits for Done (works with any executor).
inline Response RunCmd(LogicalUnit& lu, const Nexus& n, std::vector<uint8_t> cdb,
                    std::vector<uint8_t> data_out = {}, bool read_only = false) {
  Command c;
  c.cdb = std::move(cdb);
  c.data_out = std::move(data_out);
  c.expected_data_in = 1 << 24;
  std::promise<Response> p;
  auto f = p.get_future();
  lu.Execute(n, read_only, std::move(c), [&p](Response r) { p.set_value(std::move(r)); });
  return f.get();
}

inline Response RunCmd(Target& t, const Nexus& n, uint64_t lun, std::vector<uint8_t> cdb,
                    std::vector<uint8_t> data_out = {}) {
  Command c;
  c.lun = lun;
  c.cdb = std::move(cdb);
  c.data_out = std::move(data_out);
  std::promise<Response> p;
  auto f = p.get_future();
  t.Execute(n, std::move(c), [&p](Response r) { p.set_value(std::move(r)); });
  return f.get();
}

// Well-formedness every response must have.
inline void ExpectWellFormed(const Response& r) {
  if (r.status == ScsiStatus::kCheckCondition) {
    ASSERT_EQ(r.sense.size(), 18u);
    EXPECT_EQ(r.sense[0] & 0x7f, 0x70);
    EXPECT_EQ(r.sense[7], 10);
  } else {
    EXPECT_TRUE(r.sense.empty());
  }
}

#define EXPECT_SENSE(resp, k, a, q)                                   \
  do {                                                                \
    const auto& r_ = (resp);                                          \
    ASSERT_EQ(r_.status, ::vsl::scsi::ScsiStatus::kCheckCondition);   \
    auto s_ = ::vsl::scsi::testing::ParseSense(r_.sense);             \
    EXPECT_EQ(s_.key, (k));                                           \
    EXPECT_EQ(s_.asc, (a));                                           \
    EXPECT_EQ(s_.ascq, (q));                                          \
  } while (0)

#define EXPECT_GOOD(resp)                                                         \
  do {                                                                            \
    const auto& r_ = (resp);                                                      \
    EXPECT_EQ(r_.status, ::vsl::scsi::ScsiStatus::kGood)                          \
        << "sense " << int(::vsl::scsi::testing::ParseSense(r_.sense).key) << "/" \
        << std::hex << int(::vsl::scsi::testing::ParseSense(r_.sense).asc) << "/" \
        << int(::vsl::scsi::testing::ParseSense(r_.sense).ascq);                  \
  } while (0)

// CDB builders.
inline std::vector<uint8_t> Cdb10(uint8_t op, uint8_t flags, uint32_t lba, uint16_t len) {
  std::vector<uint8_t> c(10, 0);
  c[0] = op;
  c[1] = flags;
  StoreBe32(&c[2], lba);
  StoreBe16(&c[7], len);
  return c;
}
inline std::vector<uint8_t> Cdb16(uint8_t op, uint8_t flags, uint64_t lba, uint32_t len) {
  std::vector<uint8_t> c(16, 0);
  c[0] = op;
  c[1] = flags;
  StoreBe64(&c[2], lba);
  StoreBe32(&c[10], len);
  return c;
}
inline std::vector<uint8_t> Cdb12(uint8_t op, uint8_t flags, uint32_t lba, uint32_t len) {
  std::vector<uint8_t> c(12, 0);
  c[0] = op;
  c[1] = flags;
  StoreBe32(&c[2], lba);
  StoreBe32(&c[6], len);
  return c;
}

// A fixture with one LU over two extents in two files (64 + 64 blocks of
// 512 bytes), run inline.
class LuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = dir_.File("a", 64 * 512, fill_);
    b_ = dir_.File("b", 64 * 512, fill_);
    auto v = volume::MetaVolume::Open({{a_, 0, 64 * 512}, {b_, 0, 64 * 512}},
                                      {.block_size = 512, .read_only = false, .id = "vol-1"});
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    vol_ = *v;
    lu_ = std::make_shared<LogicalUnit>(vol_, InlineExecutor());
    n1_ = {1001, "iqn.2026-01.test:a,i,0x000000000001", "iqn.2026-11.org.vsl:h,t,0x0001"};
    n2_ = {1002, "iqn.2026-01.test:b,i,0x000000000002", "iqn.2026-11.org.vsl:h,t,0x0001"};
  }
  Response Do(std::vector<uint8_t> cdb, std::vector<uint8_t> data = {}, bool ro = false) {
    Response r = RunCmd(*lu_, n1_, std::move(cdb), std::move(data), ro);
    ExpectWellFormed(r);
    return r;
  }
  Response Do2(std::vector<uint8_t> cdb, std::vector<uint8_t> data = {}) {
    Response r = RunCmd(*lu_, n2_, std::move(cdb), std::move(data));
    ExpectWellFormed(r);
    return r;
  }

  uint8_t fill_ = 0;  // every byte of the two files at the start
  TempDir dir_;
  std::string a_, b_;
  std::shared_ptr<volume::MetaVolume> vol_;
  std::shared_ptr<LogicalUnit> lu_;
  Nexus n1_, n2_;
};

}  // namespace vsl::scsi::testing
