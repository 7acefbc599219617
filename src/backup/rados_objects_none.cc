// A build without librados: a pool store is refused, naming why.
#include "backup/objects.h"

namespace vsl::backup {

bool HaveRados() { return false; }

Result<std::unique_ptr<ObjectStore>> OpenRadosObjects(const RadosTarget& target) {
  return Unimplemented("backup store rados:" + target.pool +
                       ": this vsl was built without librados (VSL_WITH_RBD=OFF or librados-dev missing); use "
                       "--backup-dir");
}

}  // namespace vsl::backup
