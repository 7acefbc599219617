// blkbench: the same small asynchronous I/O loop on librbd or on libiscsi,
// for bench/rbd.sh. It compares the vsl gateway with librbd itself without
// a third program's block layer on either side. Both sides keep DEPTH
// requests in flight. Request i goes to offset i * STRIDE, wrapped within
// the disk and rounded down to SIZE, as `qemu-img bench -S` places them. At
// the end it prints one line:
//   ops N seconds T iops X cpu-us-per-op Y
// CPU is this process's own (user + system, all threads).
//
//   blkbench rbd CONF USER KEYRING POOL IMAGE  -c COUNT -d DEPTH -s SIZE [-S STRIDE] [-w]
//   blkbench iscsi URL INITIATOR               -c COUNT -d DEPTH -s SIZE [-S STRIDE] [-w]
//
// librbd's completions come on its own threads. As in QEMU's rbd driver
// and in the gateway, they are handed to the main thread, through an
// eventfd, and the main thread issues the next request. libiscsi's loop is
// the main thread itself: poll, then iscsi_service.
//
// Build: gcc -O2 -o blkbench bench/blkbench.c -liscsi -lrbd -lrados -lpthread
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../tests/tools/iscsi_common.h"  // IscsiLogin

static uint64_t count, depth, size, stride, disk_size;
static int writing;
static uint64_t issued, done;
static unsigned char** bufs;

static double Now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static double CpuSeconds(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

static uint64_t NextOffset(void) {
  uint64_t span = disk_size - size + 1;
  uint64_t off = (issued * stride) % span;
  return off / size * size;
}

static void Die(const char* what, int r) {
  fprintf(stderr, "blkbench: %s: %s\n", what, strerror(r < 0 ? -r : r));
  exit(2);
}

// ---- librbd

static rbd_image_t image;
static int rbd_efd;
static pthread_mutex_t rbd_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t* rbd_ready;  // slots whose request ended, for the main thread
static size_t rbd_nready;
static int rbd_error;

static void RbdDone(rbd_completion_t c, void* arg) {
  uint64_t slot = (uint64_t)(uintptr_t)arg;
  ssize_t r = rbd_aio_get_return_value(c);
  rbd_aio_release(c);
  pthread_mutex_lock(&rbd_mu);
  if (r < 0) rbd_error = (int)r;
  rbd_ready[rbd_nready++] = slot;
  int wake = rbd_nready == 1;
  pthread_mutex_unlock(&rbd_mu);
  if (wake) {
    uint64_t one = 1;
    if (write(rbd_efd, &one, sizeof one) != sizeof one) abort();
  }
}

static void RbdIssue(uint64_t slot) {
  rbd_completion_t c;
  int r = rbd_aio_create_completion((void*)(uintptr_t)slot, RbdDone, &c);
  if (r < 0) Die("rbd_aio_create_completion", r);
  uint64_t off = NextOffset();
  issued++;
  r = writing ? rbd_aio_write2(image, off, size, (const char*)bufs[slot], c, 0)
              : rbd_aio_read2(image, off, size, (char*)bufs[slot], c, 0);
  if (r < 0) Die("rbd_aio", r);
}

static void RbdRun(char** a) {
  rados_t cluster;
  rados_ioctx_t io;
  int r = rados_create2(&cluster, "ceph", a[1], 0);
  if (r < 0) Die("rados_create2", r);
  rados_conf_set(cluster, "keyring", a[2]);
  if ((r = rados_conf_read_file(cluster, a[0])) < 0) Die("rados_conf_read_file", r);
  if ((r = rados_conf_set(cluster, "keyring", a[2])) < 0) Die("keyring", r);
  if ((r = rados_connect(cluster)) < 0) Die("rados_connect", r);
  if ((r = rados_ioctx_create(cluster, a[3], &io)) < 0) Die("rados_ioctx_create", r);
  if ((r = rbd_open(io, a[4], &image, NULL)) < 0) Die("rbd_open", r);
  if ((r = rbd_get_size(image, &disk_size)) < 0) Die("rbd_get_size", r);
  rbd_efd = eventfd(0, EFD_CLOEXEC);
  rbd_ready = calloc(depth, sizeof *rbd_ready);
  double t0 = Now(), c0 = CpuSeconds();
  for (uint64_t s = 0; s < depth && issued < count; s++) RbdIssue(s);
  uint64_t* mine = calloc(depth, sizeof *mine);
  while (done < count) {
    uint64_t v;
    if (read(rbd_efd, &v, sizeof v) != sizeof v) Die("read eventfd", errno);
    pthread_mutex_lock(&rbd_mu);
    size_t n = rbd_nready;
    memcpy(mine, rbd_ready, n * sizeof *mine);
    rbd_nready = 0;
    int err = rbd_error;
    pthread_mutex_unlock(&rbd_mu);
    if (err < 0) Die("rbd I/O", err);
    for (size_t i = 0; i < n; i++) {
      done++;
      if (issued < count) RbdIssue(mine[i]);
    }
  }
  double t = Now() - t0, cpu = CpuSeconds() - c0;
  printf("ops %" PRIu64 " seconds %.3f iops %.0f cpu-us-per-op %.1f\n", count, t, count / t, cpu / count * 1e6);
  rbd_close(image);
  rados_ioctx_destroy(io);
  rados_shutdown(cluster);
}

// ---- libiscsi

static struct iscsi_context* iscsi;
static int iscsi_lun;
static uint32_t block_size;
static struct scsi_iovec* iovs;

static void IscsiIssue(uint64_t slot);

static void IscsiDone(struct iscsi_context* ctx, int status, void* data, void* arg) {
  (void)ctx;
  struct scsi_task* task = data;
  if (status != SCSI_STATUS_GOOD) {
    fprintf(stderr, "blkbench: SCSI status %d: %s\n", status, iscsi_get_error(iscsi));
    exit(2);
  }
  scsi_free_scsi_task(task);
  done++;
  if (issued < count) IscsiIssue((uint64_t)(uintptr_t)arg);
}

static void IscsiIssue(uint64_t slot) {
  uint64_t lba = NextOffset() / block_size;
  issued++;
  iovs[slot].iov_base = bufs[slot];
  iovs[slot].iov_len = size;
  struct scsi_task* t =
      writing ? iscsi_write16_iov_task(iscsi, iscsi_lun, lba, NULL, size, block_size, 0, 0, 0, 0, 0, IscsiDone,
                                       (void*)(uintptr_t)slot, &iovs[slot], 1)
              : iscsi_read16_iov_task(iscsi, iscsi_lun, lba, size, block_size, 0, 0, 0, 0, 0, IscsiDone,
                                      (void*)(uintptr_t)slot, &iovs[slot], 1);
  if (t == NULL) {
    fprintf(stderr, "blkbench: could not queue a command: %s\n", iscsi_get_error(iscsi));
    exit(2);
  }
}

static void IscsiRun(char** a) {
  int rc = IscsiLogin(a[1], a[0], 1, &iscsi, &iscsi_lun);
  if (rc != 0) exit(rc);
  struct scsi_task* cap = iscsi_readcapacity16_sync(iscsi, iscsi_lun);
  struct scsi_readcapacity16* rc16 = cap && cap->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(cap) : NULL;
  if (rc16 == NULL || rc16->block_length == 0 || size % rc16->block_length != 0) {
    fprintf(stderr, "blkbench: READ CAPACITY failed or the block size does not divide %" PRIu64 "\n", size);
    exit(2);
  }
  block_size = rc16->block_length;
  disk_size = (rc16->returned_lba + 1) * (uint64_t)block_size;
  scsi_free_scsi_task(cap);
  iovs = calloc(depth, sizeof *iovs);
  double t0 = Now(), c0 = CpuSeconds();
  for (uint64_t s = 0; s < depth && issued < count; s++) IscsiIssue(s);
  while (done < count) {
    struct pollfd p = {iscsi_get_fd(iscsi), (short)iscsi_which_events(iscsi), 0};
    if (poll(&p, 1, 10000) < 0 && errno != EINTR) Die("poll", errno);
    if (iscsi_service(iscsi, p.revents) < 0) {
      fprintf(stderr, "blkbench: iscsi_service: %s\n", iscsi_get_error(iscsi));
      exit(2);
    }
  }
  double t = Now() - t0, cpu = CpuSeconds() - c0;
  printf("ops %" PRIu64 " seconds %.3f iops %.0f cpu-us-per-op %.1f\n", count, t, count / t, cpu / count * 1e6);
  iscsi_logout_sync(iscsi);
  iscsi_destroy_context(iscsi);
}

static uint64_t Size(const char* s) {
  char* end;
  uint64_t v = strtoull(s, &end, 10);
  switch (*end) {
    case 'k': case 'K': v <<= 10; break;
    case 'm': case 'M': v <<= 20; break;
    case 'g': case 'G': v <<= 30; break;
  }
  return v;
}

int main(int argc, char** argv) {
  int nargs = argc > 1 && strcmp(argv[1], "rbd") == 0 ? 5 : argc > 1 && strcmp(argv[1], "iscsi") == 0 ? 2 : -1;
  if (nargs < 0 || argc < 2 + nargs) {
    fprintf(stderr,
            "usage: blkbench rbd CONF USER KEYRING POOL IMAGE -c COUNT -d DEPTH -s SIZE [-S STRIDE] [-w]\n"
            "       blkbench iscsi URL INITIATOR -c COUNT -d DEPTH -s SIZE [-S STRIDE] [-w]\n");
    return 1;
  }
  for (int i = 2 + nargs; i < argc; i++) {
    const char* o = argv[i];
    if (strcmp(o, "-w") == 0) {
      writing = 1;
    } else if (i + 1 < argc && strcmp(o, "-c") == 0) {
      count = Size(argv[++i]);
    } else if (i + 1 < argc && strcmp(o, "-d") == 0) {
      depth = Size(argv[++i]);
    } else if (i + 1 < argc && strcmp(o, "-s") == 0) {
      size = Size(argv[++i]);
    } else if (i + 1 < argc && strcmp(o, "-S") == 0) {
      stride = Size(argv[++i]);
    } else {
      fprintf(stderr, "blkbench: unknown option %s\n", o);
      return 1;
    }
  }
  if (count == 0 || depth == 0 || size == 0) {
    fprintf(stderr, "blkbench: -c, -d and -s must be positive\n");
    return 1;
  }
  if (stride == 0) stride = size;
  bufs = calloc(depth, sizeof *bufs);
  for (uint64_t s = 0; s < depth; s++) {
    if (posix_memalign((void**)&bufs[s], 4096, size) != 0) Die("posix_memalign", ENOMEM);
    for (uint64_t b = 0; b < size; b++) bufs[s][b] = (unsigned char)(s * 131 + b * 7 + 1);
  }
  if (nargs == 5) {
    RbdRun(argv + 2);
  } else {
    IscsiRun(argv + 2);
  }
  return 0;
}
