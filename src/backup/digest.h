// SHA-256 (OpenSSL EVP) for the backup store: extent and manifest checksums.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace vsl::backup {

using Digest = std::array<uint8_t, 32>;

// An incremental SHA-256. Reset() starts over; Final() ends a message and
// resets, so one object hashes many messages (one EVP context, reused).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::span<const uint8_t> bytes);
  void Update(std::string_view text);
  Digest Final();

  // The digest of `bytes` alone.
  Digest Of(std::span<const uint8_t> bytes);

 private:
  void Reset();
  EVP_MD_CTX* ctx_;
};

// Lower-case hex, 64 characters.
std::string ToHex(const Digest& d);
// True when `hex` is exactly 64 lower-case hex digits.
bool FromHex(std::string_view hex, Digest* out);

// True when every byte of `bytes` is zero.
bool IsAllZero(std::span<const uint8_t> bytes);

}  // namespace vsl::backup
