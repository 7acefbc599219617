// iscsi_common.h: what the libiscsi hosts in tests/tools/ share: the
// checksum of their self-checking blocks, the login, and the check that the
// LU is large enough. Static inline only, so that each tool is still built
// by one `gcc -O1 TOOL.c -liscsi` (this header is found beside it).
#ifndef VSL_TESTS_TOOLS_ISCSI_COMMON_H_
#define VSL_TESTS_TOOLS_ISCSI_COMMON_H_

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// 64-bit FNV-1a of p[0..n).
static inline uint64_t Fnv(const uint8_t* p, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

// Logs in as `initiator` to the target and LU that `url_text` names (a
// normal session; no header digest unless the target insists on CRC32C).
// With `no_reconnect`, a dropped session stays dropped: libiscsi would
// otherwise log in again behind the caller's back. Sets *iscsi and *lun.
// Returns 0, or the tools' exit status: 1 a bad URL, 2 the login failed.
static inline int IscsiLogin(const char* initiator, const char* url_text, int no_reconnect,
                             struct iscsi_context** iscsi, int* lun) {
  *iscsi = iscsi_create_context(initiator);
  struct iscsi_url* url = *iscsi == NULL ? NULL : iscsi_parse_full_url(*iscsi, url_text);
  if (url == NULL) return fprintf(stderr, "bad url %s\n", url_text), 1;
  iscsi_set_session_type(*iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(*iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  if (no_reconnect) iscsi_set_noautoreconnect(*iscsi, 1);
  if (iscsi_full_connect_sync(*iscsi, url->portal, url->lun) != 0)
    return fprintf(stderr, "login failed: %s\n", iscsi_get_error(*iscsi)), 2;
  *lun = url->lun;
  return 0;
}

// READ CAPACITY(16) of the LU: its logical blocks must divide `unit` bytes,
// and it must hold at least `units` of them. Sets *lbas_per_unit. Returns 0,
// or the tools' exit status: 3 READ CAPACITY failed or the block size does
// not divide `unit`, 1 the LU is too small.
static inline int IscsiCheckCapacity(struct iscsi_context* iscsi, int lun, uint32_t unit,
                                     uint64_t units, uint32_t* lbas_per_unit) {
  struct scsi_task* cap = iscsi_readcapacity16_sync(iscsi, lun);
  if (cap == NULL || cap->status != SCSI_STATUS_GOOD)
    return fprintf(stderr, "READ CAPACITY failed\n"), 3;
  struct scsi_readcapacity16* rc = scsi_datain_unmarshall(cap);
  if (rc == NULL || rc->block_length == 0 || unit % rc->block_length != 0) return 3;
  *lbas_per_unit = unit / rc->block_length;
  if ((rc->returned_lba + 1) < units * *lbas_per_unit)
    return fprintf(stderr, "disk too small\n"), 1;
  scsi_free_scsi_task(cap);
  return 0;
}

#endif  // VSL_TESTS_TOOLS_ISCSI_COMMON_H_
