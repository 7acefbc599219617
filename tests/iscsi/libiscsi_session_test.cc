// End to end through libiscsi's C API: sessions. CHAP and mutual CHAP with
// header digests, INQUIRY identifiers and REPORT LUNS per host, many
// commands and many sessions in flight, NOP, task management, logout, and a
// volume shared by two hosts.
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "iscsi_client.h"

namespace vsl::e2e {
namespace {

using farm::kWeb1Lun0Blocks;

// The NAA designator of VPD page 0x83 for `lun`, as bytes; empty if none.
std::vector<uint8_t> NaaOf(iscsi_context* ctx, int lun) {
  Task t(iscsi_inquiry_sync(ctx, lun, 1, SCSI_INQUIRY_PAGECODE_DEVICE_IDENTIFICATION, 255));
  if (!t || t->status != SCSI_STATUS_GOOD) return {};
  auto* id = static_cast<scsi_inquiry_device_identification*>(scsi_datain_unmarshall(t.get()));
  if (id == nullptr) return {};
  for (auto* d = id->designators; d != nullptr; d = d->next) {
    if (d->designator_type == SCSI_DESIGNATOR_TYPE_NAA &&
        d->association == SCSI_ASSOCIATION_LOGICAL_UNIT) {
      return std::vector<uint8_t>(d->designator, d->designator + d->designator_length);
    }
  }
  return {};
}

std::set<uint32_t> ReportedLuns(iscsi_context* ctx) {
  Task t(iscsi_reportluns_sync(ctx, SCSI_REPORTLUNS_REPORT_ALL_LUNS, 4096));
  std::set<uint32_t> luns;
  if (!t || t->status != SCSI_STATUS_GOOD) return luns;
  auto* list = static_cast<scsi_reportluns_list*>(scsi_datain_unmarshall(t.get()));
  if (list == nullptr) return luns;
  for (uint32_t i = 0; i < list->num; ++i) luns.insert(list->luns[i]);
  return luns;
}

using IscsiSession = GatewayTest;

TEST_F(IscsiSession, ChapMutualChapAndHeaderDigest) {
  LoginSpec spec = Web1Spec();
  spec.header_digest = true;
  Context ctx = LoginOrFail(spec);
  ASSERT_TRUE(ctx);
  std::vector<uint8_t> data = Pattern(8 * kBlockSize, 1);
  Task w = Write16(ctx.get(), 0, 200, data);
  ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD) << Describe(w.get());
  Task r = Read16(ctx.get(), 0, 200, 8);
  ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD) << Describe(r.get());
  EXPECT_EQ(DataIn(r.get()), data);
  EXPECT_EQ(iscsi_logout_sync(ctx.get()), 0) << iscsi_get_error(ctx.get());
}

TEST_F(IscsiSession, MutualChapWithWrongTargetSecretIsDetectedByInitiator) {
  // The target must prove it knows the mutual secret; with a wrong one
  // configured at the initiator, libiscsi refuses the target's CHAP_R.
  LoginSpec spec = Web1Spec();
  spec.target_secret = "not-the-mutual-secret";
  std::string error;
  Context ctx = Login(gw_.portal(), spec, 0, &error);
  EXPECT_FALSE(ctx) << "login succeeded although the target's CHAP response was computed "
                       "with another secret";
}

TEST_F(IscsiSession, InquiryStandardAndNaaIdentifiers) {
  Context web1 = LoginOrFail(Web1Spec());
  Context web2 = LoginOrFail(Web2Spec());
  ASSERT_TRUE(web1 && web2);
  ASSERT_TRUE(ClearUnitAttentions(web1.get(), 3));
  ASSERT_TRUE(ClearUnitAttentions(web2.get(), 5));

  Task std_inq(iscsi_inquiry_sync(web1.get(), 0, 0, 0, 255));
  ASSERT_TRUE(std_inq && std_inq->status == SCSI_STATUS_GOOD) << Describe(std_inq.get());
  auto* inq = static_cast<scsi_inquiry_standard*>(scsi_datain_unmarshall(std_inq.get()));
  ASSERT_NE(inq, nullptr);
  EXPECT_EQ(inq->qualifier, SCSI_INQUIRY_PERIPHERAL_QUALIFIER_CONNECTED);
  EXPECT_EQ(inq->device_type, SCSI_INQUIRY_PERIPHERAL_DEVICE_TYPE_DIRECT_ACCESS);

  std::vector<uint8_t> web1_lun0 = NaaOf(web1.get(), 0);
  std::vector<uint8_t> web1_lun3 = NaaOf(web1.get(), 3);
  std::vector<uint8_t> web2_lun0 = NaaOf(web2.get(), 0);
  std::vector<uint8_t> web2_lun5 = NaaOf(web2.get(), 5);
  ASSERT_FALSE(web1_lun0.empty()) << "VPD 0x83 of web1 LUN 0 has no NAA designator";
  for (const auto* naa : {&web1_lun0, &web1_lun3, &web2_lun0, &web2_lun5}) {
    ASSERT_TRUE(naa->size() == 8 || naa->size() == 16) << "NAA length " << naa->size();
    uint8_t type = (*naa)[0] >> 4;
    EXPECT_TRUE(type == 2 || type == 3 || type == 5 || type == 6) << "NAA type " << int(type);
  }
  EXPECT_NE(web1_lun0, web1_lun3);
  EXPECT_NE(web1_lun0, web2_lun0);
  EXPECT_EQ(web1_lun3, web2_lun5) << "one volume mapped to two hosts must be one logical unit";

  // Stable: the same after the gateway restarts on the same configuration.
  web1.reset();
  web2.reset();
  std::string error;
  ASSERT_TRUE(gw_.Restart(&error)) << error;
  Context again = LoginOrFail(Web1Spec());
  ASSERT_TRUE(again);
  EXPECT_EQ(NaaOf(again.get(), 0), web1_lun0);
}

TEST_F(IscsiSession, ReportLunsShowsOnlyTheHostsLuns) {
  Context web1 = LoginOrFail(Web1Spec());
  Context web2 = LoginOrFail(Web2Spec());
  Context open = LoginOrFail(OpenSpec());
  ASSERT_TRUE(web1 && web2 && open);
  EXPECT_EQ(ReportedLuns(web1.get()), (std::set<uint32_t>{0, 3}));
  EXPECT_EQ(ReportedLuns(web2.get()), (std::set<uint32_t>{0, 5}));
  EXPECT_EQ(ReportedLuns(open.get()), (std::set<uint32_t>{0}));
}

// Runs `count` commands, at most `depth` in flight, through libiscsi's async
// API and its iscsi_service() loop.
class Pipeline {
 public:
  // Starts command `index` with `cb` and `tag` as libiscsi's callback and
  // private data; false when libiscsi cannot queue it.
  using Issue = std::function<bool(int index, iscsi_command_cb cb, void* tag)>;
  // Looks at a completed task; returns a complaint or "".
  using Check = std::function<std::string(int index, scsi_task* task)>;

  Pipeline(iscsi_context* ctx, int depth) : ctx_(ctx), depth_(depth) {}

  bool Run(int count, const Issue& issue, const Check& check, std::string* error) {
    check_ = check;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int next = 0;
    while (done_ < count) {
      while (next < count && in_flight_ < depth_) {
        tags_.push_back(std::make_unique<Tag>(Tag{this, next}));
        if (!issue(next, &Pipeline::Callback, tags_.back().get())) {
          *error = "cannot queue command " + std::to_string(next) + ": " + iscsi_get_error(ctx_);
          return false;
        }
        ++next;
        ++in_flight_;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        *error = std::to_string(in_flight_) + " commands still in flight after 60 s";
        return false;
      }
      pollfd pfd{iscsi_get_fd(ctx_), short(iscsi_which_events(ctx_)), 0};
      int r = ::poll(&pfd, 1, 1000);
      if (r < 0 || iscsi_service(ctx_, r > 0 ? pfd.revents : 0) < 0) {
        *error = std::string("iscsi_service: ") + iscsi_get_error(ctx_);
        return false;
      }
    }
    *error = failures_;
    return failures_.empty();
  }

 private:
  struct Tag {
    Pipeline* self;
    int index;
  };

  static void Callback(iscsi_context*, int status, void* command_data, void* private_data) {
    auto* tag = static_cast<Tag*>(private_data);
    Pipeline* self = tag->self;
    auto* task = static_cast<scsi_task*>(command_data);
    std::string problem;
    if (status != SCSI_STATUS_GOOD) {
      problem = "command " + std::to_string(tag->index) + ": " + Describe(task);
    } else if (self->check_) {
      problem = self->check_(tag->index, task);
    }
    if (!problem.empty() && self->failures_.size() < 2000) self->failures_ += problem + "\n";
    if (task) scsi_free_scsi_task(task);
    --self->in_flight_;
    ++self->done_;
  }

  iscsi_context* ctx_;
  int depth_;
  int in_flight_ = 0;
  int done_ = 0;
  Check check_;
  std::vector<std::unique_ptr<Tag>> tags_;
  std::string failures_;
};

TEST_F(IscsiSession, ManyCommandsInFlight) {
  Context ctx = LoginOrFail(Web1Spec());
  ASSERT_TRUE(ctx);
  const int blocks = int(kWeb1Lun0Blocks);
  std::vector<uint8_t> image = Pattern(blocks * kBlockSize, 7);
  std::string error;

  // Writes, one block each, 32 in flight.
  Pipeline writes(ctx.get(), 32);
  ASSERT_TRUE(writes.Run(
      blocks,
      [&](int i, iscsi_command_cb cb, void* tag) {
        return iscsi_write16_task(ctx.get(), 0, uint64_t(i), &image[i * kBlockSize], kBlockSize,
                                  kBlockSize, 0, 0, 0, 0, 0, cb, tag) != nullptr;
      },
      nullptr, &error))
      << error;
  ExpectInBackingFiles(gw_, 0, image);

  // Reads in a scrambled order (7 is coprime with 512), 32 in flight, each
  // checked against the image.
  auto lba_of = [&](int i) { return uint64_t(i) * 7 % blocks; };
  Pipeline reads(ctx.get(), 32);
  ASSERT_TRUE(reads.Run(
      blocks,
      [&](int i, iscsi_command_cb cb, void* tag) {
        return iscsi_read16_task(ctx.get(), 0, lba_of(i), kBlockSize, kBlockSize, 0, 0, 0, 0, 0,
                                 cb, tag) != nullptr;
      },
      [&](int i, scsi_task* t) -> std::string {
        uint64_t lba = lba_of(i);
        std::vector<uint8_t> want(image.begin() + lba * kBlockSize,
                                  image.begin() + (lba + 1) * kBlockSize);
        return DataIn(t) == want ? "" : "read of block " + std::to_string(lba) + " returned other data";
      },
      &error))
      << error;
}

TEST_F(IscsiSession, ManySessionsAtOnce) {
  // 24 sessions of one host (libiscsi gives each its own ISID), each with a
  // write then a read in flight at the same time as all the others.
  constexpr int kSessions = 24;
  std::vector<Context> sessions;
  for (int i = 0; i < kSessions; ++i) {
    sessions.push_back(LoginOrFail(OpenSpec()));
    ASSERT_TRUE(sessions.back()) << "session " << i;
  }
  struct Job {
    int stage = 0;  // 0 writing, 1 reading, 2 done
    bool failed = false;
    std::vector<uint8_t> data;
    std::vector<uint8_t> read_back;
  };
  std::vector<Job> jobs(kSessions);
  auto on_done = [](iscsi_context*, int status, void* command_data, void* private_data) {
    auto* job = static_cast<Job*>(private_data);
    auto* task = static_cast<scsi_task*>(command_data);
    if (status != SCSI_STATUS_GOOD) job->failed = true;
    if (job->stage == 1 && task) job->read_back = DataIn(task);
    if (task) scsi_free_scsi_task(task);
    ++job->stage;
  };
  for (int i = 0; i < kSessions; ++i) {
    jobs[i].data = Pattern(4 * kBlockSize, 100 + i);
    ASSERT_NE(iscsi_write16_task(sessions[i].get(), 0, 4 * i, jobs[i].data.data(), 4 * kBlockSize,
                                 kBlockSize, 0, 0, 0, 0, 0, on_done, &jobs[i]),
              nullptr);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::vector<bool> read_sent(kSessions, false);
  while (std::chrono::steady_clock::now() < deadline) {
    bool all_done = true;
    std::vector<pollfd> fds;
    for (int i = 0; i < kSessions; ++i) {
      if (jobs[i].stage == 1 && !read_sent[i]) {
        read_sent[i] = true;
        ASSERT_NE(iscsi_read16_task(sessions[i].get(), 0, 4 * i, 4 * kBlockSize, kBlockSize, 0, 0,
                                    0, 0, 0, on_done, &jobs[i]),
                  nullptr);
      }
      all_done = all_done && jobs[i].stage == 2;
      fds.push_back({iscsi_get_fd(sessions[i].get()), short(iscsi_which_events(sessions[i].get())), 0});
    }
    if (all_done) break;
    int r = ::poll(fds.data(), fds.size(), 500);
    ASSERT_GE(r, 0);
    for (int i = 0; i < kSessions; ++i) {
      ASSERT_GE(iscsi_service(sessions[i].get(), fds[i].revents), 0)
          << "session " << i << ": " << iscsi_get_error(sessions[i].get());
    }
  }
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_EQ(jobs[i].stage, 2) << "session " << i << " did not finish within 30 s";
    EXPECT_FALSE(jobs[i].failed) << "session " << i;
    EXPECT_EQ(jobs[i].read_back, jobs[i].data) << "session " << i;
    EXPECT_EQ(gw_.ReadFile("open.img", 4 * i * kBlockSize, jobs[i].data.size()), jobs[i].data)
        << "session " << i;
  }
}

TEST_F(IscsiSession, NopOutIsEchoed) {
  Context ctx = LoginOrFail(Web1Spec());
  ASSERT_TRUE(ctx);
  struct Result {
    bool done = false;
    int status = -1;
    std::vector<uint8_t> data;
  } result;
  std::vector<uint8_t> ping = Pattern(100, 8);
  auto cb = [](iscsi_context*, int status, void* command_data, void* private_data) {
    auto* r = static_cast<Result*>(private_data);
    r->done = true;
    r->status = status;
    auto* d = static_cast<iscsi_data*>(command_data);
    if (d != nullptr && d->data != nullptr) r->data.assign(d->data, d->data + d->size);
  };
  ASSERT_EQ(iscsi_nop_out_async(ctx.get(), cb, ping.data(), int(ping.size()), &result), 0)
      << iscsi_get_error(ctx.get());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!result.done && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{iscsi_get_fd(ctx.get()), short(iscsi_which_events(ctx.get())), 0};
    int r = ::poll(&pfd, 1, 500);
    ASSERT_GE(iscsi_service(ctx.get(), r > 0 ? pfd.revents : 0), 0) << iscsi_get_error(ctx.get());
  }
  ASSERT_TRUE(result.done) << "no NOP-In within 10 s";
  EXPECT_EQ(result.status, SCSI_STATUS_GOOD);
  EXPECT_EQ(result.data, ping);
}

// Sends one task management function and returns the target's response
// code (RFC 7143 §11.6.1), or -1 when none came.
int TaskManagement(iscsi_context* ctx, int lun, iscsi_task_mgmt_funcs function, uint32_t ritt,
                   uint32_t rcmdsn) {
  struct Result {
    bool done = false;
    int response = -1;
  } result;
  auto cb = [](iscsi_context*, int status, void* command_data, void* private_data) {
    auto* r = static_cast<Result*>(private_data);
    r->done = true;
    if (status == SCSI_STATUS_GOOD && command_data != nullptr) {
      r->response = int(*static_cast<uint32_t*>(command_data));
    }
  };
  if (iscsi_task_mgmt_async(ctx, lun, function, ritt, rcmdsn, cb, &result) != 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!result.done && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{iscsi_get_fd(ctx), short(iscsi_which_events(ctx)), 0};
    int r = ::poll(&pfd, 1, 500);
    if (iscsi_service(ctx, r > 0 ? pfd.revents : 0) < 0) return -1;
  }
  return result.response;
}

TEST_F(IscsiSession, TaskManagement) {
  Context ctx = LoginOrFail(Web1Spec());
  ASSERT_TRUE(ctx);
  // ABORT TASK of a task the target never saw: "Function complete" or "Task
  // does not exist", depending on RefCmdSN (RFC 7143 §11.5.1).
  int abort = TaskManagement(ctx.get(), 0, ISCSI_TM_ABORT_TASK, 0x7fff0001, 0);
  EXPECT_TRUE(abort == ISCSI_TMR_FUNC_COMPLETE || abort == ISCSI_TMR_TASK_DOES_NOT_EXIST)
      << "ABORT TASK response " << abort;
  EXPECT_EQ(TaskManagement(ctx.get(), 0, ISCSI_TM_ABORT_TASK_SET, 0xffffffff, 0),
            ISCSI_TMR_FUNC_COMPLETE);
  EXPECT_EQ(iscsi_task_mgmt_abort_task_set_sync(ctx.get(), 0), 0) << iscsi_get_error(ctx.get());
  EXPECT_EQ(iscsi_task_mgmt_lun_reset_sync(ctx.get(), 0), 0) << iscsi_get_error(ctx.get());
  EXPECT_EQ(TaskManagement(ctx.get(), 0, ISCSI_TM_LUN_RESET, 0xffffffff, 0),
            ISCSI_TMR_FUNC_COMPLETE);
  EXPECT_EQ(TaskManagement(ctx.get(), 7, ISCSI_TM_LUN_RESET, 0xffffffff, 0),
            ISCSI_TMR_LUN_DOES_NOT_EXIST)
      << "LUN 7 is not mapped to web1";
  EXPECT_EQ(TaskManagement(ctx.get(), 0, ISCSI_TM_TARGET_WARM_RESET, 0xffffffff, 0),
            ISCSI_TMR_FUNC_COMPLETE);

  // Abort a real task while it may still be running. Either the abort wins
  // ("Function complete", and the task gets no response) or the task does
  // ("Task does not exist" or "Function complete", and its status came);
  // both are correct, and the session goes on working.
  ASSERT_TRUE(ClearUnitAttentions(ctx.get(), 0));
  std::vector<uint8_t> buf = Pattern(256 * kBlockSize, 9);
  struct WriteState {
    bool done = false;
    int status = -1;
  } write;
  scsi_task* task = iscsi_write16_task(
      ctx.get(), 0, 64, buf.data(), uint32_t(buf.size()), kBlockSize, 0, 0, 0, 0, 0,
      [](iscsi_context*, int status, void*, void* private_data) {
        auto* w = static_cast<WriteState*>(private_data);
        w->done = true;
        w->status = status;
      },
      &write);
  ASSERT_NE(task, nullptr);
  int aborted = TaskManagement(ctx.get(), 0, ISCSI_TM_ABORT_TASK, task->itt, task->cmdsn);
  EXPECT_TRUE(aborted == ISCSI_TMR_FUNC_COMPLETE || aborted == ISCSI_TMR_TASK_DOES_NOT_EXIST)
      << "ABORT TASK response " << aborted;
  if (!write.done && aborted == ISCSI_TMR_FUNC_COMPLETE) {
    iscsi_scsi_cancel_task(ctx.get(), task);  // aborted at the target: no status will come
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!write.done && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{iscsi_get_fd(ctx.get()), short(iscsi_which_events(ctx.get())), 0};
    int r = ::poll(&pfd, 1, 500);
    ASSERT_GE(iscsi_service(ctx.get(), r > 0 ? pfd.revents : 0), 0) << iscsi_get_error(ctx.get());
  }
  ASSERT_TRUE(write.done) << "the write neither completed nor was aborted";
  EXPECT_TRUE(write.status == SCSI_STATUS_GOOD || write.status == SCSI_STATUS_CANCELLED)
      << "write status " << write.status;
  scsi_free_scsi_task(task);

  ASSERT_TRUE(ClearUnitAttentions(ctx.get(), 0));
  std::vector<uint8_t> data = Pattern(2 * kBlockSize, 10);
  Task w = Write16(ctx.get(), 0, 300, data);
  ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD) << Describe(w.get());
  Task r = Read16(ctx.get(), 0, 300, 2);
  ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD) << Describe(r.get());
  EXPECT_EQ(DataIn(r.get()), data);
}

TEST_F(IscsiSession, Logout) {
  Context ctx = LoginOrFail(Web1Spec());
  ASSERT_TRUE(ctx);
  EXPECT_EQ(iscsi_logout_sync(ctx.get()), 0) << iscsi_get_error(ctx.get());
  EXPECT_FALSE(iscsi_is_logged_in(ctx.get()));
  // The same initiator can log in again at once.
  Context again = LoginOrFail(Web1Spec());
  EXPECT_TRUE(again);
}

TEST_F(IscsiSession, SharedVolumeAtDifferentLunNumbers) {
  Context web1 = LoginOrFail(Web1Spec(), 3);
  Context web2 = LoginOrFail(Web2Spec(true), 5);  // web2's second initiator name
  ASSERT_TRUE(web1 && web2);
  std::vector<uint8_t> from1 = Pattern(3 * kBlockSize, 11);
  Task w1 = Write16(web1.get(), 3, 7, from1);
  ASSERT_TRUE(w1 && w1->status == SCSI_STATUS_GOOD) << Describe(w1.get());
  Task r2 = Read16(web2.get(), 5, 7, 3);
  ASSERT_TRUE(r2 && r2->status == SCSI_STATUS_GOOD) << Describe(r2.get());
  EXPECT_EQ(DataIn(r2.get()), from1);

  std::vector<uint8_t> from2 = Pattern(2 * kBlockSize, 12);
  Task w2 = Write16(web2.get(), 5, 1000, from2);
  ASSERT_TRUE(w2 && w2->status == SCSI_STATUS_GOOD) << Describe(w2.get());
  Task r1 = Read16(web1.get(), 3, 1000, 2);
  ASSERT_TRUE(r1 && r1->status == SCSI_STATUS_GOOD) << Describe(r1.get());
  EXPECT_EQ(DataIn(r1.get()), from2);
  EXPECT_EQ(gw_.ReadFile("shared.img", 7 * kBlockSize, from1.size()), from1);
  EXPECT_EQ(gw_.ReadFile("shared.img", 1000 * kBlockSize, from2.size()), from2);
}

}  // namespace
}  // namespace vsl::e2e
