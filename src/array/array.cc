#include "array/array.h"

#include "array/file_array.h"
#include "array/memory_array.h"
#ifdef VSL_HAVE_RBD
#include "array/rbd_array.h"
#endif

namespace vsl::array {

std::string_view ArrayOpName(ArrayOp op) {
  switch (op) {
    case ArrayOp::kDiscover: return "discover";
    case ArrayOp::kStat: return "stat";
    case ArrayOp::kCreate: return "create";
    case ArrayOp::kDelete: return "delete";
    case ArrayOp::kRead: return "read";
    case ArrayOp::kWrite: return "write";
    case ArrayOp::kDeallocate: return "deallocate";
    case ArrayOp::kCopy: return "copy";
    case ArrayOp::kSnap: return "snap";
    case ArrayOp::kScrub: return "scrub";
    case ArrayOp::kGrant: return "grant";
    case ArrayOp::kRevoke: return "revoke";
    case ArrayOp::kLocate: return "locate";
  }
  return "unknown";
}

Status StorageArray::Clone(StorageArray& src, const std::string& src_id, const std::string& dst_id) {
  (void)src;
  (void)src_id;
  return FailedPrecondition("array '" + info().name + "' (driver " + info().driver +
                            ") makes no clones: volume " + dst_id + " needs a copy");
}

Status StorageArray::Flatten(const std::string& id) {
  return Unimplemented("array '" + info().name + "' (driver " + info().driver +
                       ") has no clones: volume " + id + " is not a clone");
}

Result<std::unique_ptr<StorageArray>> OpenArray(const ArraySpec& spec) {
  if (spec.driver == "file") {
    VSL_ASSIGN_OR_RETURN(auto a, FileArray::Open(spec));
    return std::unique_ptr<StorageArray>(std::move(a));
  }
  if (spec.driver == "memory") {
    VSL_ASSIGN_OR_RETURN(auto a, MemoryArray::Create(spec));
    return std::unique_ptr<StorageArray>(std::move(a));
  }
  if (spec.driver == "rbd") {
#ifdef VSL_HAVE_RBD
    VSL_ASSIGN_OR_RETURN(auto a, RbdArray::Open(spec));
    return std::unique_ptr<StorageArray>(std::move(a));
#else
    return Unimplemented("array '" + spec.name +
                         "': this vsl was built without librbd (driver rbd)");
#endif
  }
  return InvalidArgument("array '" + spec.name + "': unknown driver '" + spec.driver +
                         "' (known: file, rbd, memory)");
}

}  // namespace vsl::array
