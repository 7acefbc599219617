// iscsi_vpd: prints a logical unit's VPD page through libiscsi, in a form
// scripts can compare (iscsi-inq prints binary designators as raw text).
//
//   iscsi_vpd INITIATOR-NAME ISCSI-URL PAGE
//
// PAGE 0x83 prints one line per designator:
//   designator assoc=<n> type=<n> codeset=<n> id=<hex>
// any other page prints "page=<hex> data=<hex of the whole page>".
// Exit status 0 on success, 1 on usage, 2 on login failure, 3 on a SCSI error.
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <stdio.h>
#include <stdlib.h>

static void PrintHex(const unsigned char* p, int n) {
  for (int i = 0; i < n; i++) printf("%02x", p[i]);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s INITIATOR-NAME ISCSI-URL PAGE\n", argv[0]);
    return 1;
  }
  int page = (int)strtol(argv[3], NULL, 0);
  struct iscsi_context* iscsi = iscsi_create_context(argv[1]);
  if (iscsi == NULL) return 1;
  struct iscsi_url* url = iscsi_parse_full_url(iscsi, argv[2]);
  if (url == NULL) {
    fprintf(stderr, "bad url %s: %s\n", argv[2], iscsi_get_error(iscsi));
    return 1;
  }
  iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  iscsi_set_targetname(iscsi, url->target);
  if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) {
    fprintf(stderr, "login to %s failed: %s\n", url->target, iscsi_get_error(iscsi));
    return 2;
  }
  struct scsi_task* task = iscsi_inquiry_sync(iscsi, url->lun, 1, page, 255);
  if (task == NULL || task->status != SCSI_STATUS_GOOD) {
    fprintf(stderr, "INQUIRY VPD 0x%02x failed: %s\n", page, iscsi_get_error(iscsi));
    return 3;
  }
  const unsigned char* d = task->datain.data;
  int n = task->datain.size;
  if (page == 0x83) {
    for (int off = 4; off + 4 <= n;) {
      int len = d[off + 3];
      if (off + 4 + len > n) break;
      printf("designator assoc=%d type=%d codeset=%d id=", (d[off + 1] >> 4) & 3,
             d[off + 1] & 15, d[off] & 15);
      PrintHex(d + off + 4, len);
      printf("\n");
      off += 4 + len;
    }
  } else {
    printf("page=%02x data=", page);
    PrintHex(d, n);
    printf("\n");
  }
  scsi_free_scsi_task(task);
  iscsi_logout_sync(iscsi);
  iscsi_destroy_url(url);
  iscsi_destroy_context(iscsi);
  return 0;
}
