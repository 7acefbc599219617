// iscsi_replay: replays a list of reads (a host's boot-read pattern) and
// writes through libiscsi, one session, one command at a time.
//
//   iscsi_replay INITIATOR-NAME ISCSI-URL PATTERN OUT
//
// PATTERN has one command a line: "r OFFSET LENGTH" reads, "w OFFSET LENGTH"
// writes LENGTH bytes of 0x5a; offsets and lengths in bytes, multiples of
// the LU's block size. The bytes read are appended to OUT in order.
// Exit status: 0 done; 1 usage; 2 login; 3 a command failed.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi_common.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s INITIATOR-NAME ISCSI-URL PATTERN OUT\n", argv[0]);
    return 1;
  }
  FILE* in = fopen(argv[3], "r");
  FILE* out = fopen(argv[4], "w");
  if (in == NULL || out == NULL) return perror("open"), 1;
  struct iscsi_context* iscsi;
  int lun;
  int status = IscsiLogin(argv[1], argv[2], /*no_reconnect=*/0, &iscsi, &lun);
  if (status != 0) return status;
  struct scsi_task* cap = iscsi_readcapacity16_sync(iscsi, lun);
  struct scsi_readcapacity16* rc = cap == NULL ? NULL : scsi_datain_unmarshall(cap);
  if (rc == NULL || rc->block_length == 0) return fprintf(stderr, "READ CAPACITY failed\n"), 3;
  const uint32_t bs = rc->block_length;
  scsi_free_scsi_task(cap);
  char op;
  unsigned long long off, len;
  unsigned long n = 0;
  unsigned char* buf = NULL;
  while (fscanf(in, " %c %llu %llu", &op, &off, &len) == 3) {
    if (off % bs || len % bs || len == 0)
      return fprintf(stderr, "line %lu: not whole blocks\n", n + 1), 1;
    struct scsi_task* t;
    if (op == 'w') {
      buf = realloc(buf, len);
      memset(buf, 0x5a, len);
      t = iscsi_write16_sync(iscsi, lun, off / bs, buf, (uint32_t)len, (int)bs, 0, 0, 0, 0, 0);
    } else {
      t = iscsi_read16_sync(iscsi, lun, off / bs, (uint32_t)len, (int)bs, 0, 0, 0, 0, 0);
    }
    if (t == NULL || t->status != SCSI_STATUS_GOOD) {
      fprintf(stderr, "line %lu (%c %llu %llu) failed: %s\n", n + 1, op, off, len,
              iscsi_get_error(iscsi));
      return 3;
    }
    if (op != 'w') {
      if (t->datain.size != (int)len) return fprintf(stderr, "line %lu: short read\n", n + 1), 3;
      fwrite(t->datain.data, 1, len, out);
    }
    scsi_free_scsi_task(t);
    ++n;
  }
  fclose(out);
  printf("commands=%lu\n", n);
  iscsi_logout_sync(iscsi);
  iscsi_destroy_context(iscsi);
  return 0;
}
