// iscsi_cache_check: a host that writes and reads checksummed, sequence-
// numbered 4 KiB blocks through libiscsi and fails on any block older than
// it may be (the read cache's proof, tests/api/cache.sh).
//
//   iscsi_cache_check INITIATOR-NAME ISCSI-URL MODE HOST NHOSTS SHARED BLOCKS [SECONDS]
//
// Blocks 0..BLOCKS-1 (4 KiB each from LBA 0); block b belongs to host
// b % NHOSTS, the only one that writes it. Every 512-byte sector of a block
// is the same: magic, block, host, sequence number, filler derived from
// them, and a checksum, so WRITE SAME of one sector writes a whole block.
// SHARED is a file of 3*BLOCKS uint64 that every host maps: acked[b], the
// owner's last acknowledged sequence number of block b; zeroed[b], the
// sequence number of its last UNMAP, and started[b], of its last write of
// any kind, both stored before the command is sent. A read of block b must
// give (with p = acked[b] loaded before the read): a valid block of b with
// seq >= p, or zeros when zeroed[b] >= p (loaded after the read); the owner
// reading its own block must get exactly its last state. Anything else is
// reported "STALE" (an older seq) or "CORRUPT" (no valid block), except a
// mix of old and new bytes while a write of that block was in flight
// (started[b] > p after the read: counted as "torn", which SCSI allows for
// a read that overlaps a write).
//
// MODE fill: write every own block once (WRITE(16)); readall: read every
// block once (4 KiB READ(16) each), checking as above; mixed: until SECONDS
// pass, random ops on random blocks: READ(16) of one block or of 4, and on
// own blocks WRITE(16), WRITE SAME(16), UNMAP and COMPARE AND WRITE.
// Prints "reads=N writes=N stale=N corrupt=N torn=N". Exit status: 0 none found;
// 1 usage; 2 login; 3 a command failed; 10 a stale or corrupt read.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "iscsi_common.h"

enum { kBlock = 4096, kSector = 512, kMagic = 0x43534c56 /* "VSLC" */ };

static struct iscsi_context* iscsi;
static int lun;
static uint32_t lbas_per_block;  // 4096 / the LU's block size
static uint32_t host, nhosts, blocks;
static uint64_t* acked;
static uint64_t* zeroed;
static uint64_t* started;
static uint64_t* mine;  // own blocks: last seq, or (seq | 1<<63) after an UNMAP
static uint64_t next_seq = 1;
static unsigned long reads, writes, stale, corrupt, torn;

static void Sector(uint8_t* s, uint32_t b, uint64_t seq) {
  uint32_t hdr[3] = {kMagic, b, b % nhosts};
  memcpy(s, hdr, 12);
  memcpy(s + 16, &seq, 8);
  uint64_t x = (uint64_t)b * 0x9e3779b97f4a7c15ULL ^ seq;
  for (int i = 24; i < kSector - 8; i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    memcpy(s + i, &x, 8);
  }
  memset(s + 12, 0, 4);
  uint64_t sum = Fnv(s, kSector - 8);
  memcpy(s + kSector - 8, &sum, 8);
}

static void Block(uint8_t* p, uint32_t b, uint64_t seq) {
  for (int k = 0; k < kBlock / kSector; ++k) Sector(p + k * kSector, b, seq);
}

// 1 zeros, 0 valid (*seq set), -1 corrupt.
static int Parse(const uint8_t* p, uint32_t b, uint64_t* seq) {
  int zero = 1;
  for (int i = 0; i < kBlock && zero; ++i) zero = p[i] == 0;
  if (zero) return 1;
  for (int k = 1; k < kBlock / kSector; ++k)
    if (memcmp(p, p + k * kSector, kSector) != 0) return -1;
  uint32_t hdr[3];
  memcpy(hdr, p, 12);
  uint64_t sum;
  memcpy(&sum, p + kSector - 8, 8);
  if (hdr[0] != kMagic || hdr[1] != b || sum != Fnv(p, kSector - 8)) return -1;
  memcpy(seq, p + 16, 8);
  uint8_t want[kSector];
  Sector(want, b, *seq);
  return memcmp(want, p, kSector) == 0 ? 0 : -1;
}

static int Check(struct scsi_task* t, const char* what) {
  if (t != NULL && t->status == SCSI_STATUS_GOOD) {
    scsi_free_scsi_task(t);
    return 0;
  }
  fprintf(stderr, "%s failed: %s\n", what,
          t == NULL ? iscsi_get_error(iscsi) : iscsi_get_error(iscsi));
  if (t != NULL) scsi_free_scsi_task(t);
  return -1;
}

static uint64_t Load(uint64_t* p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static void Store(uint64_t* p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }

// Reads blocks [b, b+n) and checks each.
static int ReadCheck(uint32_t b, uint32_t n) {
  uint64_t p[4];
  for (uint32_t i = 0; i < n; ++i) p[i] = Load(&acked[b + i]);
  struct scsi_task* t = iscsi_read16_sync(iscsi, lun, (uint64_t)b * lbas_per_block, n * kBlock,
                                          kBlock / lbas_per_block, 0, 0, 0, 0, 0);
  if (t == NULL || t->status != SCSI_STATUS_GOOD || t->datain.size < (int)(n * kBlock))
    return Check(t, "READ(16)"), -1;
  ++reads;
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t k = b + i;
    uint64_t seq = 0;
    int r = Parse(t->datain.data + (size_t)i * kBlock, k, &seq);
    if (r < 0) {
      if (k % nhosts != host && Load(&started[k]) > p[i]) {
        ++torn;
      } else if (++corrupt <= 5) {
        fprintf(stderr, "CORRUPT block %u\n", k);
      }
      continue;
    }
    if (k % nhosts == host) {  // own block: exactly the last state
      uint64_t m = mine[k];
      int ok = (m >> 63) ? r == 1 : (m == 0 ? r == 1 || seq == 0 : (r == 0 && seq == m));
      if (!ok && ++stale <= 5)
        fprintf(stderr, "STALE own block %u: got %s %llu, last wrote %s %llu\n", k,
                r ? "zeros" : "seq", (unsigned long long)seq, (m >> 63) ? "zeros" : "seq",
                (unsigned long long)(m & ~(1ULL << 63)));
      continue;
    }
    int ok = r == 0 ? seq >= p[i] : Load(&zeroed[k]) >= p[i];
    if (!ok && ++stale <= 5)
      fprintf(stderr,
              "STALE block %u of host %u: got %s %llu, acknowledged before the read: %llu\n", k,
              k % nhosts, r ? "zeros" : "seq", (unsigned long long)seq, (unsigned long long)p[i]);
  }
  scsi_free_scsi_task(t);
  return 0;
}

static int Write(uint32_t b, int how) {
  uint8_t buf[2 * kBlock];
  const uint64_t seq = next_seq++;
  const uint64_t lba = (uint64_t)b * lbas_per_block;
  const uint32_t bs = kBlock / lbas_per_block;
  struct scsi_task* t;
  const char* what;
  Store(&started[b], seq);
  if (how == 0) {
    Block(buf, b, seq);
    t = iscsi_write16_sync(iscsi, lun, lba, buf, kBlock, bs, 0, 0, 0, 0, 0);
    what = "WRITE(16)";
  } else if (how == 1) {
    Block(buf, b, seq);  // one logical block of it, repeated
    t = iscsi_writesame16_sync(iscsi, lun, lba, buf, bs, lbas_per_block, 0, 0, 0, 0);
    what = "WRITE SAME(16)";
  } else if (how == 2) {
    Store(&zeroed[b], seq);
    struct unmap_list l = {lba, lbas_per_block};
    t = iscsi_unmap_sync(iscsi, lun, 0, 0, &l, 1);
    what = "UNMAP";
  } else {
    const uint64_t m = mine[b];
    if (m >> 63 || m == 0) {
      memset(buf, 0, kBlock);
    } else {
      Block(buf, b, m);
    }
    Block(buf + kBlock, b, seq);
    t = iscsi_compareandwrite_sync(iscsi, lun, lba, buf, 2 * kBlock, (int)bs, 0, 0, 0, 0, 0);
    what = "COMPARE AND WRITE";
  }
  if (t != NULL && t->status == SCSI_STATUS_CHECK_CONDITION &&
      t->sense.key == SCSI_SENSE_MISCOMPARE) {
    if (++stale <= 5) fprintf(stderr, "STALE own block %u: COMPARE AND WRITE miscompared\n", b);
    scsi_free_scsi_task(t);
    return 0;
  }
  if (Check(t, what) != 0) return -1;
  ++writes;
  mine[b] = how == 2 ? (seq | 1ULL << 63) : seq;
  Store(&acked[b], seq);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 8) {
    fprintf(stderr,
            "usage: %s INITIATOR-NAME ISCSI-URL fill|readall|mixed HOST NHOSTS SHARED BLOCKS "
            "[SECONDS]\n",
            argv[0]);
    return 1;
  }
  const char* mode = argv[3];
  host = (uint32_t)atoi(argv[4]);
  nhosts = (uint32_t)atoi(argv[5]);
  blocks = (uint32_t)atoi(argv[7]);
  const int seconds = argc > 8 ? atoi(argv[8]) : 10;
  if (nhosts == 0 || host >= nhosts || blocks < 4) return 1;
  int fd = open(argv[6], O_RDWR);
  if (fd < 0 || ftruncate(fd, (off_t)blocks * 24) != 0) return perror(argv[6]), 1;
  uint64_t* shared = mmap(NULL, (size_t)blocks * 24, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (shared == MAP_FAILED) return perror("mmap"), 1;
  acked = shared;
  zeroed = shared + blocks;
  started = shared + 2 * (size_t)blocks;
  mine = calloc(blocks, 8);
  // A host's own last states are what the shared file says (a run that
  // follows another of the same host starts from them).
  for (uint32_t b = host; b < blocks; b += nhosts) {
    mine[b] = Load(&acked[b]);
    if (mine[b] != 0 && Load(&zeroed[b]) == mine[b]) mine[b] |= 1ULL << 63;
    if ((mine[b] & ~(1ULL << 63)) >= next_seq) next_seq = (mine[b] & ~(1ULL << 63)) + 1;
  }
  // Sequence numbers grow across runs too: start past every one seen.
  next_seq += (uint64_t)time(NULL) * 1000;

  int status = IscsiLogin(argv[1], argv[2], /*no_reconnect=*/0, &iscsi, &lun);
  if (status == 0) status = IscsiCheckCapacity(iscsi, lun, kBlock, blocks, &lbas_per_block);
  if (status != 0) return status;

  int failed = 0;
  if (strcmp(mode, "fill") == 0) {
    for (uint32_t b = host; b < blocks && !failed; b += nhosts) failed = Write(b, 0) != 0;
  } else if (strcmp(mode, "readall") == 0) {
    for (uint32_t b = 0; b < blocks && !failed; ++b) failed = ReadCheck(b, 1) != 0;
  } else if (strcmp(mode, "mixed") == 0) {
    srand((unsigned)(getpid() ^ time(NULL)));
    const time_t end = time(NULL) + seconds;
    for (unsigned long ops = 0; time(NULL) < end && ops < 10000000 && !failed; ++ops) {
      const int r = rand() % 100;
      if (r < 40) {
        failed = ReadCheck((uint32_t)(rand() % blocks), 1) != 0;
      } else if (r < 60) {
        failed = ReadCheck((uint32_t)(rand() % (blocks - 3)), 4) != 0;
      } else {
        uint32_t b = (uint32_t)(rand() % blocks);
        b = b - b % nhosts + host;
        if (b >= blocks) b = host;
        const int w = rand() % 10;
        failed = Write(b, w < 5 ? 0 : w < 7 ? 1 : w < 8 ? 2 : 3) != 0;
      }
    }
  } else {
    return fprintf(stderr, "unknown mode %s\n", mode), 1;
  }
  printf("reads=%lu writes=%lu stale=%lu corrupt=%lu torn=%lu\n", reads, writes, stale, corrupt,
         torn);
  iscsi_logout_sync(iscsi);
  iscsi_destroy_context(iscsi);
  if (failed) return 3;
  return stale || corrupt ? 10 : 0;
}
