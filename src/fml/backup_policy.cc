// backup-policy attribute values (fml.h ParseBackupPolicy).
#include <string>

#include "fml/fml.h"
#include "fml/text.h"

namespace vsl::fml {

namespace {

constexpr const char* kExpected = "expected nightly, hourly, level=0:nightly, level=1:hourly (level 0 or 1)";

}  // namespace

Result<BackupPolicy> ParseBackupPolicy(std::string_view text) {
  std::string t = Lower(Trim(text));
  BackupPolicy p;
  std::string schedule = t;
  if (t.rfind("level", 0) == 0) {
    size_t colon = t.find(':');
    if (colon == std::string::npos) {
      return InvalidArgument("backup-policy \"" + std::string(text) + "\" names no schedule after the level; " + kExpected);
    }
    std::string left = Trim(std::string_view(t).substr(0, colon));
    schedule = Trim(std::string_view(t).substr(colon + 1));
    size_t eq = left.find('=');
    std::string level = eq == std::string::npos ? "" : Trim(std::string_view(left).substr(eq + 1));
    if (eq == std::string::npos || Trim(std::string_view(left).substr(0, eq)) != "level" ||
        (level != "0" && level != "1")) {
      return InvalidArgument("backup-policy \"" + std::string(text) + "\": the level must be 0 or 1; " + kExpected);
    }
    p.level = level == "1" ? 1 : 0;
  }
  if (schedule != "nightly" && schedule != "hourly") {
    return InvalidArgument("backup-policy \"" + std::string(text) + "\": unknown schedule \"" + schedule + "\"; " +
                           kExpected);
  }
  p.schedule = schedule;
  return p;
}

Result<std::vector<BackupPolicy>> ParseBackupPolicies(const std::vector<std::string>& texts) {
  std::vector<BackupPolicy> out;
  bool full = false;
  for (const std::string& t : texts) {
    VSL_ASSIGN_OR_RETURN(BackupPolicy p, ParseBackupPolicy(t));
    for (const BackupPolicy& o : out) {
      if (o.schedule == p.schedule) {
        return InvalidArgument("backup-policy \"" + t + "\": the disk already has a " + p.schedule +
                               " policy; one level per schedule");
      }
    }
    full = full || p.level == 0;
    out.push_back(p);
  }
  if (!out.empty() && !full) {
    return InvalidArgument("backup-policy \"" + texts.front() +
                           "\": a level 1 needs a level 0 policy on the same disk (e.g. level=0:nightly); an "
                           "incremental builds on a full backup");
  }
  return out;
}

}  // namespace vsl::fml
