// iscsi_wp: one write or one MODE SENSE through libiscsi, printing what the
// target answered in a form scripts can compare.
//
//   iscsi_wp INITIATOR-NAME ISCSI-URL write LBA   WRITE(10) of one block of 0xa5
//   iscsi_wp INITIATOR-NAME ISCSI-URL modesense   MODE SENSE(6), all pages
//
// write prints "status=<n> key=<hex> asc=<hex> ascq=<hex>" (0s when good);
// modesense prints "wp=<0|1>" (the WP bit of the device-specific parameter).
// Exit status 0 when the command got an answer, 1 on usage, 2 on login
// failure, 3 when no SCSI answer came.
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  if (argc < 4 || (strcmp(argv[3], "write") == 0 && argc != 5)) {
    fprintf(stderr, "usage: %s INITIATOR-NAME ISCSI-URL write LBA | modesense\n", argv[0]);
    return 1;
  }
  struct iscsi_context* iscsi = iscsi_create_context(argv[1]);
  if (iscsi == NULL) return 1;
  struct iscsi_url* url = iscsi_parse_full_url(iscsi, argv[2]);
  if (url == NULL) {
    fprintf(stderr, "bad url %s: %s\n", argv[2], iscsi_get_error(iscsi));
    return 1;
  }
  iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) {
    fprintf(stderr, "login failed: %s\n", iscsi_get_error(iscsi));
    return 2;
  }
  int rc = 0;
  if (strcmp(argv[3], "write") == 0) {
    struct scsi_task* cap = iscsi_readcapacity10_sync(iscsi, url->lun, 0, 0);
    if (cap == NULL || cap->status != SCSI_STATUS_GOOD) {
      fprintf(stderr, "READ CAPACITY failed: %s\n", iscsi_get_error(iscsi));
      return 3;
    }
    struct scsi_readcapacity10* rc10 = scsi_datain_unmarshall(cap);
    uint32_t block = rc10 ? rc10->block_size : 512;
    scsi_free_scsi_task(cap);
    unsigned char* buf = malloc(block);
    memset(buf, 0xa5, block);
    uint32_t lba = (uint32_t)strtoul(argv[4], NULL, 0);
    struct scsi_task* t = iscsi_write10_sync(iscsi, url->lun, lba, buf, block, block, 0, 0, 0, 0, 0);
    free(buf);
    if (t == NULL) {
      fprintf(stderr, "WRITE(10) got no answer: %s\n", iscsi_get_error(iscsi));
      return 3;
    }
    if (t->status == SCSI_STATUS_CHECK_CONDITION) {
      printf("status=%d key=%02x asc=%02x ascq=%02x\n", t->status, t->sense.key, t->sense.ascq >> 8,
             t->sense.ascq & 0xff);
    } else {
      printf("status=%d key=00 asc=00 ascq=00\n", t->status);
    }
    scsi_free_scsi_task(t);
  } else if (strcmp(argv[3], "modesense") == 0) {
    struct scsi_task* t =
        iscsi_modesense6_sync(iscsi, url->lun, 0, SCSI_MODESENSE_PC_CURRENT, SCSI_MODEPAGE_RETURN_ALL_PAGES, 0, 255);
    if (t == NULL || t->status != SCSI_STATUS_GOOD || t->datain.size < 4) {
      fprintf(stderr, "MODE SENSE(6) failed: %s\n", iscsi_get_error(iscsi));
      return 3;
    }
    printf("wp=%d\n", (t->datain.data[2] & 0x80) ? 1 : 0);
    scsi_free_scsi_task(t);
  } else {
    fprintf(stderr, "unknown command %s\n", argv[3]);
    rc = 1;
  }
  iscsi_destroy_url(url);
  iscsi_logout_sync(iscsi);
  iscsi_destroy_context(iscsi);
  return rc;
}
