// iscsi_migrate_host: a host that keeps writing checksummed, sequence-
// numbered 4 KiB blocks at random places of its disk in ONE iSCSI session
// (no reconnection: libiscsi's is switched off), for the live migration
// proof (tests/api/migrate.sh).
//
//   iscsi_migrate_host INITIATOR-NAME ISCSI-URL write BLOCKS STATE STOP [MAX-SECONDS]
//   iscsi_migrate_host INITIATOR-NAME ISCSI-URL verify BLOCKS STATE
//   iscsi_migrate_host expect BLOCKS STATE OUT
//
// write: until the file STOP exists (or MAX-SECONDS, 120 by default),
// WRITE(16)s of one block each, the block chosen at random among 0..BLOCKS-1
// (4 KiB from LBA 0); every 512-byte sector of a block holds a magic, the
// block number, the write's sequence number, filler derived from them and a
// checksum. Every 100 ms it prints "tick MS WRITES" (MS: wall clock
// in milliseconds; WRITES: acknowledged so far). Then it reads every block
// back in the same session and checks it is exactly its last write (zeros
// for a block never written), and saves the last sequence number of each
// block to STATE (BLOCKS uint64; a STATE that exists is read first, so a
// run continues from the one before).
// verify: logs in, reads every block, checks it against STATE.
// expect: writes what the disk must hold (BLOCKS*4096 bytes) to OUT.
// Prints "writes=N errors=N bad=N". Exit status: 0 all good; 1 usage;
// 2 login; 3 a command failed (or the session dropped); 10 a block read
// back differs from its last write.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iscsi_common.h"

enum { kBlock = 4096, kSector = 512, kMagic = 0x4d4c5356 /* "VSLM" */ };

// The block as write `seq` of block `b` leaves it; zeros for seq 0.
static void Block(uint8_t* p, uint32_t b, uint64_t seq) {
  if (seq == 0) {
    memset(p, 0, kBlock);
    return;
  }
  for (int k = 0; k < kBlock / kSector; ++k) {
    uint8_t* s = p + k * kSector;
    uint32_t hdr[4] = {kMagic, b, (uint32_t)k, 0};
    memcpy(s, hdr, 16);
    memcpy(s + 16, &seq, 8);
    uint64_t x = ((uint64_t)b * 0x9e3779b97f4a7c15ULL) ^ seq ^ (uint64_t)k;
    for (int i = 24; i < kSector - 8; i += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      memcpy(s + i, &x, 8);
    }
    uint64_t sum = Fnv(s, kSector - 8);
    memcpy(s + kSector - 8, &sum, 8);
  }
}

static int64_t NowMs(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static struct iscsi_context* iscsi;
static int lun;
static uint32_t lbas_per_block;

// A dropped session must show as a failure, not be healed behind our back.
static int Login(const char* initiator, const char* url_text, uint32_t blocks) {
  int r = IscsiLogin(initiator, url_text, /*no_reconnect=*/1, &iscsi, &lun);
  return r != 0 ? r : IscsiCheckCapacity(iscsi, lun, kBlock, blocks, &lbas_per_block);
}

// 0 good, 3 the command failed, 10 the block differs.
static int Check(uint32_t b, uint64_t seq) {
  uint8_t want[kBlock];
  Block(want, b, seq);
  struct scsi_task* t = iscsi_read16_sync(iscsi, lun, (uint64_t)b * lbas_per_block, kBlock,
                                          kBlock / lbas_per_block, 0, 0, 0, 0, 0);
  if (t == NULL || t->status != SCSI_STATUS_GOOD || t->datain.size != kBlock) {
    fprintf(stderr, "READ(16) of block %u failed: %s\n", b, iscsi_get_error(iscsi));
    if (t) scsi_free_scsi_task(t);
    return 3;
  }
  int bad = memcmp(t->datain.data, want, kBlock) != 0;
  if (bad) {
    uint64_t got = 0;
    memcpy(&got, t->datain.data + 16, 8);
    fprintf(stderr, "BAD block %u: want seq %llu, the first sector says %llu\n", b,
            (unsigned long long)seq, (unsigned long long)got);
  }
  scsi_free_scsi_task(t);
  return bad ? 10 : 0;
}

static int Verify(const uint64_t* last, uint32_t blocks, unsigned long* bad) {
  for (uint32_t b = 0; b < blocks; ++b) {
    int r = Check(b, last[b]);
    if (r == 3) return 3;
    if (r == 10) ++*bad;
  }
  return *bad ? 10 : 0;
}

int main(int argc, char** argv) {
  if (argc >= 5 && strcmp(argv[1], "expect") == 0) {
    uint32_t blocks = (uint32_t)atoi(argv[2]);
    uint64_t* last = calloc(blocks, 8);
    FILE* st = fopen(argv[3], "rb");
    if (st == NULL || fread(last, 8, blocks, st) != blocks) return perror(argv[3]), 1;
    fclose(st);
    FILE* out = fopen(argv[4], "wb");
    if (out == NULL) return perror(argv[4]), 1;
    uint8_t buf[kBlock];
    for (uint32_t b = 0; b < blocks; ++b) {
      Block(buf, b, last[b]);
      if (fwrite(buf, 1, kBlock, out) != kBlock) return perror(argv[4]), 1;
    }
    return fclose(out) == 0 ? 0 : 1;
  }
  if (argc < 6) {
    fprintf(stderr,
            "usage: %s INITIATOR-NAME ISCSI-URL write BLOCKS STATE STOP [MAX-SECONDS]\n"
            "       %s INITIATOR-NAME ISCSI-URL verify BLOCKS STATE\n"
            "       %s expect BLOCKS STATE OUT\n",
            argv[0], argv[0], argv[0]);
    return 1;
  }
  const char* mode = argv[3];
  uint32_t blocks = (uint32_t)atoi(argv[4]);
  const char* state = argv[5];
  if (blocks < 1) return 1;
  uint64_t* last = calloc(blocks, 8);
  FILE* st = fopen(state, "rb");
  if (st != NULL) {
    if (fread(last, 8, blocks, st) != blocks) return fprintf(stderr, "%s: short\n", state), 1;
    fclose(st);
  }
  uint64_t seq = 1;
  for (uint32_t b = 0; b < blocks; ++b) seq = last[b] >= seq ? last[b] + 1 : seq;
  int r = Login(argv[1], argv[2], blocks);
  if (r != 0) return r;
  unsigned long writes = 0, errors = 0, bad = 0;
  if (strcmp(mode, "write") == 0) {
    if (argc < 7) return 1;
    const char* stop = argv[6];
    const int64_t end = NowMs() + 1000LL * (argc > 7 ? atoi(argv[7]) : 120);
    srand((unsigned)(getpid() ^ time(NULL)));
    uint8_t buf[kBlock];
    int64_t next_tick = NowMs();
    for (;;) {
      int64_t now = NowMs();
      if (now >= next_tick) {
        printf("tick %lld %lu\n", (long long)now, writes);
        fflush(stdout);
        next_tick = now + 100;
        if (access(stop, F_OK) == 0 || now >= end) break;
      }
      uint32_t b = (uint32_t)(((uint64_t)rand() * RAND_MAX + (uint64_t)rand()) % blocks);
      Block(buf, b, seq);
      struct scsi_task* t = iscsi_write16_sync(iscsi, lun, (uint64_t)b * lbas_per_block, buf,
                                               kBlock, kBlock / lbas_per_block, 0, 0, 0, 0, 0);
      if (t == NULL || t->status != SCSI_STATUS_GOOD) {
        fprintf(stderr, "WRITE(16) of block %u (seq %llu) failed: %s\n", b, (unsigned long long)seq,
                iscsi_get_error(iscsi));
        ++errors;
        if (t) scsi_free_scsi_task(t);
        break;  // the block's content is now unknown: stop here
      }
      scsi_free_scsi_task(t);
      last[b] = seq++;
      ++writes;
    }
    st = fopen(state, "wb");
    if (st == NULL || fwrite(last, 8, blocks, st) != blocks || fclose(st) != 0)
      return perror(state), 1;
    if (errors) {
      printf("writes=%lu errors=%lu bad=%lu\n", writes, errors, bad);
      return 3;
    }
  } else if (strcmp(mode, "verify") != 0) {
    return fprintf(stderr, "unknown mode %s\n", mode), 1;
  }
  r = Verify(last, blocks, &bad);
  printf("writes=%lu errors=%lu bad=%lu\n", writes, errors, bad);
  iscsi_logout_sync(iscsi);
  iscsi_destroy_context(iscsi);
  return r;
}
