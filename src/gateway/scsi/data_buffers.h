// Data buffers that are used again instead of allocated and zero-filled for
// every command: DoRead takes one sized for the transfer, the transport gives
// it back once the bytes are on the wire; the transport reads write data into
// one, the write batch gives it back once the data is down. Thread-safe;
// bounded (64 MiB shared, and 1 MiB of buffers up to 64 KiB each thread
// keeps for itself without a lock; what does not fit is freed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vsl::scsi {

// A buffer of exactly `n` bytes whose contents are unspecified (the caller
// overwrites all of them). Buffers from 4 KiB to kMaxTransferBytes come from
// the pool when one is free.
std::vector<uint8_t> TakeDataBuffer(size_t n);
// Returns a buffer TakeDataBuffer made; anything else is just freed.
void GiveDataBuffer(std::vector<uint8_t>&& buffer);

}  // namespace vsl::scsi
