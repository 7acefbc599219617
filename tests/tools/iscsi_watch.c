// iscsi_watch: a host that stays logged in while its disk changes under it.
// One session from start to end (libiscsi's automatic reconnect is off, so a
// dropped connection is a failure, never a silent new session whose login
// would swallow the unit attention).
//
//   iscsi_watch INITIATOR-NAME ISCSI-URL [FIRST-LBA]
//
// Logs in, prints "capacity blocks=<n> block_size=<n>", writes a pattern of
// 8 blocks at FIRST-LBA (default 0; hosts sharing a disk use distinct ones),
// prints "ready" and waits for one line on stdin, answering the target's
// NOP-Ins meanwhile. Then, in this order:
//   TEST UNIT READY: "tur good" or
//     "tur status=<n> sense key=<hex> asc=<hex> ascq=<hex>" (the raw sense
//     bytes the target sent; libiscsi hands CHECK CONDITION back untouched)
//   TEST UNIT READY again: printed the same way; it must be good (a unit
//     attention is reported once)
//   READ CAPACITY(16): the capacity line again
//   the pattern read back: "data intact"
//   a block written and read back at the last LBA: "wrote last lba <n>"
// Exit status: 0 all done; 1 usage; 2 login; 3 first READ CAPACITY; 4 writing
// the pattern; 5 the session ended or stdin closed while waiting; 6 a TEST
// UNIT READY got no answer; 7 the second one was not good; 8 second READ
// CAPACITY; 9 reading the pattern back; 10 the pattern changed; 11 writing
// the last LBA; 12 reading it back or it differs.
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kPatternBlocks = 8 };

struct Capacity {
  uint64_t blocks;
  uint32_t block_size;
};

static int ReadCapacity(struct iscsi_context* iscsi, int lun, struct Capacity* cap) {
  struct scsi_task* task = iscsi_readcapacity16_sync(iscsi, lun);
  if (task == NULL || task->status != SCSI_STATUS_GOOD) {
    fprintf(stderr, "READ CAPACITY(16) failed: %s\n", iscsi_get_error(iscsi));
    if (task != NULL) scsi_free_scsi_task(task);
    return -1;
  }
  struct scsi_readcapacity16* rc = scsi_datain_unmarshall(task);
  if (rc == NULL) {
    fprintf(stderr, "READ CAPACITY(16) data cannot be parsed\n");
    scsi_free_scsi_task(task);
    return -1;
  }
  cap->blocks = rc->returned_lba + 1;
  cap->block_size = rc->block_length;
  scsi_free_scsi_task(task);
  printf("capacity blocks=%llu block_size=%u\n", (unsigned long long)cap->blocks,
         cap->block_size);
  fflush(stdout);
  return 0;
}

// The byte at offset i of block lba under seed: no two blocks, and no two
// watchers (distinct seeds), write the same bytes.
static void Fill(unsigned char* buf, uint32_t block_size, uint64_t lba, uint32_t seed) {
  int n = snprintf((char*)buf, block_size, "iscsi_watch seed=%u lba=%llu ", seed,
                   (unsigned long long)lba);
  for (uint32_t i = (uint32_t)n; i < block_size; i++) {
    buf[i] = (unsigned char)(i * 131u + (uint32_t)lba * 17u + seed);
  }
}

static int WriteBlocks(struct iscsi_context* iscsi, int lun, uint64_t lba, uint32_t count,
                       uint32_t block_size, uint32_t seed) {
  unsigned char* buf = malloc((size_t)count * block_size);
  if (buf == NULL) return -1;
  for (uint32_t b = 0; b < count; b++) Fill(buf + (size_t)b * block_size, block_size, lba + b, seed);
  struct scsi_task* task = iscsi_write16_sync(iscsi, lun, lba, buf, count * block_size,
                                              (int)block_size, 0, 0, 0, 0, 0);
  free(buf);
  int ok = task != NULL && task->status == SCSI_STATUS_GOOD;
  if (!ok) {
    fprintf(stderr, "WRITE(16) lba %llu x%u failed: %s\n", (unsigned long long)lba, count,
            iscsi_get_error(iscsi));
  }
  if (task != NULL) scsi_free_scsi_task(task);
  return ok ? 0 : -1;
}

// Returns 0 when the blocks hold what WriteBlocks put there, 1 when they
// differ, -1 when the read failed.
static int CheckBlocks(struct iscsi_context* iscsi, int lun, uint64_t lba, uint32_t count,
                       uint32_t block_size, uint32_t seed) {
  struct scsi_task* task = iscsi_read16_sync(iscsi, lun, lba, count * block_size,
                                             (int)block_size, 0, 0, 0, 0, 0);
  if (task == NULL || task->status != SCSI_STATUS_GOOD ||
      task->datain.size != (int)(count * block_size)) {
    fprintf(stderr, "READ(16) lba %llu x%u failed: %s\n", (unsigned long long)lba, count,
            iscsi_get_error(iscsi));
    if (task != NULL) scsi_free_scsi_task(task);
    return -1;
  }
  unsigned char* want = malloc(block_size);
  int rc = want == NULL ? -1 : 0;
  for (uint32_t b = 0; rc == 0 && b < count; b++) {
    Fill(want, block_size, lba + b, seed);
    if (memcmp(task->datain.data + (size_t)b * block_size, want, block_size) != 0) {
      fprintf(stderr, "block at lba %llu differs from what was written\n",
              (unsigned long long)(lba + b));
      rc = 1;
    }
  }
  free(want);
  scsi_free_scsi_task(task);
  return rc;
}

// Prints a TEST UNIT READY's outcome; returns its SCSI status, -1 when the
// command got no answer. The sense is taken from the bytes the target sent
// (data segment: 2-byte SenseLength, then fixed or descriptor format).
static int TestUnitReady(struct iscsi_context* iscsi, int lun) {
  struct scsi_task* task = iscsi_testunitready_sync(iscsi, lun);
  if (task == NULL) {
    fprintf(stderr, "TEST UNIT READY got no answer: %s\n", iscsi_get_error(iscsi));
    return -1;
  }
  int status = task->status;
  if (status == SCSI_STATUS_GOOD) {
    printf("tur good\n");
  } else {
    int key = -1, asc = -1, ascq = -1;
    const unsigned char* d = task->datain.data;
    int n = task->datain.size;
    if (d != NULL && n >= 2 + 8) {
      const unsigned char* s = d + 2;
      int code = s[0] & 0x7f;
      if ((code == 0x70 || code == 0x71) && n >= 2 + 14) {
        key = s[2] & 0x0f;
        asc = s[12];
        ascq = s[13];
      } else if (code == 0x72 || code == 0x73) {
        key = s[1] & 0x0f;
        asc = s[2];
        ascq = s[3];
      }
    }
    printf("tur status=%d sense key=%x asc=%02x ascq=%02x\n", status, key & 0xff, asc & 0xff,
           ascq & 0xff);
  }
  fflush(stdout);
  scsi_free_scsi_task(task);
  return status;
}

// Waits for a line on stdin while servicing the session; 0 once it came.
static int AwaitLine(struct iscsi_context* iscsi) {
  for (;;) {
    struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0},
                            {iscsi_get_fd(iscsi), (short)iscsi_which_events(iscsi), 0}};
    if (poll(fds, 2, 1000) < 0) return -1;
    if (fds[1].revents != 0 && iscsi_service(iscsi, fds[1].revents) < 0) {
      fprintf(stderr, "session failed while waiting: %s\n", iscsi_get_error(iscsi));
      return -1;
    }
    if (!iscsi_is_logged_in(iscsi)) {
      fprintf(stderr, "session ended while waiting: %s\n", iscsi_get_error(iscsi));
      return -1;
    }
    if (fds[0].revents != 0) {
      char line[64];
      if (fgets(line, sizeof line, stdin) == NULL) {
        fprintf(stderr, "stdin closed before the go line\n");
        return -1;
      }
      return 0;
    }
  }
}

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: %s INITIATOR-NAME ISCSI-URL [FIRST-LBA]\n", argv[0]);
    return 1;
  }
  uint64_t first = argc == 4 ? strtoull(argv[3], NULL, 0) : 0;
  uint32_t seed = (uint32_t)getpid();
  struct iscsi_context* iscsi = iscsi_create_context(argv[1]);
  if (iscsi == NULL) return 1;
  struct iscsi_url* url = iscsi_parse_full_url(iscsi, argv[2]);
  if (url == NULL) {
    fprintf(stderr, "bad url %s: %s\n", argv[2], iscsi_get_error(iscsi));
    return 1;
  }
  int lun = url->lun;
  iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  iscsi_set_targetname(iscsi, url->target);
  iscsi_set_noautoreconnect(iscsi, 1);
  if (iscsi_full_connect_sync(iscsi, url->portal, lun) != 0) {
    fprintf(stderr, "login to %s failed: %s\n", url->target, iscsi_get_error(iscsi));
    return 2;
  }
  struct Capacity cap;
  if (ReadCapacity(iscsi, lun, &cap) != 0) return 3;
  if (cap.blocks < first + kPatternBlocks) {
    fprintf(stderr, "the disk has %llu blocks, too few for the pattern\n",
            (unsigned long long)cap.blocks);
    return 4;
  }
  if (WriteBlocks(iscsi, lun, first, kPatternBlocks, cap.block_size, seed) != 0) return 4;
  printf("ready\n");
  fflush(stdout);

  if (AwaitLine(iscsi) != 0) return 5;
  if (TestUnitReady(iscsi, lun) < 0) return 6;
  int again = TestUnitReady(iscsi, lun);
  if (again < 0) return 6;
  if (again != SCSI_STATUS_GOOD) return 7;
  if (ReadCapacity(iscsi, lun, &cap) != 0) return 8;
  int same = CheckBlocks(iscsi, lun, first, kPatternBlocks, cap.block_size, seed);
  if (same < 0) return 9;
  if (same > 0) return 10;
  printf("data intact\n");
  fflush(stdout);
  uint64_t last = cap.blocks - 1;
  if (WriteBlocks(iscsi, lun, last, 1, cap.block_size, seed) != 0) return 11;
  if (CheckBlocks(iscsi, lun, last, 1, cap.block_size, seed) != 0) return 12;
  printf("wrote last lba %llu\n", (unsigned long long)last);
  fflush(stdout);

  iscsi_logout_sync(iscsi);
  iscsi_destroy_url(url);
  iscsi_destroy_context(iscsi);
  return 0;
}
