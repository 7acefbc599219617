// CHAP with MD5 (RFC 1994 §4.1) through OpenSSL's EVP interface, and the
// security stage of login (RFC 7143 §12.1.3).

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <memory>

#include "gateway/iscsi/login_impl.h"

namespace vsl::iscsi {

std::array<uint8_t, 16> ChapMd5(uint8_t id, std::string_view secret,
                                std::span<const uint8_t> challenge) {
  std::array<uint8_t, 16> out{};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), &id, 1) != 1 ||
      EVP_DigestUpdate(ctx.get(), secret.data(), secret.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), challenge.data(), challenge.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size()) {
    // Only when OpenSSL can't do MD5 at all (a FIPS-only provider): no CHAP
    // answer could ever be right, and silently accepting one would be worse.
    std::abort();
  }
  return out;
}

using namespace login_internal;

std::optional<Failure> LoginNegotiator::Impl::Security(LoginNegotiator& n,
                                                       const std::vector<TextKey>& keys,
                                                       bool transit, std::vector<TextKey>* reply) {
  std::vector<std::string_view> used;
  if (const std::string* method = Get(keys, "AuthMethod")) {
    used.push_back("AuthMethod");
    if (auth != Auth::kStart) {
      if (*method != auth_offer) {
        return Failure{kLoginInitiatorError, "AuthMethod offered again during login"};
      }
    } else {
      auth_offer = *method;
      std::vector<std::string_view> offers = internal::SplitList(*method);
      if (offers.empty()) return Failure{kLoginInitiatorError, "AuthMethod list is malformed"};
      if (chap_possible && Contains(offers, "CHAP")) {
        reply->push_back({"AuthMethod", "CHAP"});
        auth = Auth::kChap;
      } else if (none_allowed && Contains(offers, "None")) {
        reply->push_back({"AuthMethod", "None"});
        auth = Auth::kDone;
      } else {
        return Failure{kLoginAuthFailed, "AuthMethod=" + Trunc(*method) +
                                             " offers nothing the target accepts for " +
                                             Trunc(initiator_name)};
      }
    }
  } else if (auth == Auth::kStart && transit) {
    // Without an AuthMethod offer its default, None, is in force.
    if (!none_allowed) {
      return Failure{kLoginAuthFailed, "initiator " + Trunc(initiator_name) +
                                           " offered no AuthMethod; CHAP is required"};
    }
    auth = Auth::kDone;
  }

  if (auth == Auth::kChap) {
    if (const std::string* algorithms = Get(keys, "CHAP_A")) {
      used.push_back("CHAP_A");
      bool md5 = false;
      for (std::string_view a : internal::SplitList(*algorithms)) {
        if (internal::ParseNumber(a, 255) == kChapMd5Algorithm) md5 = true;
      }
      if (!md5) {
        return Failure{kLoginAuthFailed,
                       "CHAP_A=" + Trunc(*algorithms) + " does not offer MD5 (5)"};
      }
      if (!n.random_) return Failure{kLoginTargetError, "no random source for CHAP"};
      std::array<uint8_t, 1 + kChallengeLength> random{};
      n.random_(random);
      chap_id = random[0];
      std::copy(random.begin() + 1, random.end(), challenge.begin());
      reply->push_back({"CHAP_A", "5"});
      reply->push_back({"CHAP_I", std::to_string(chap_id)});
      reply->push_back({"CHAP_C", EncodeHex(challenge)});
      auth = Auth::kChallenged;
    }
  } else if (auth == Auth::kChallenged) {
    if (Get(keys, "CHAP_N") || Get(keys, "CHAP_R") || Get(keys, "CHAP_I") || Get(keys, "CHAP_C")) {
      for (const char* k : {"CHAP_N", "CHAP_R", "CHAP_I", "CHAP_C"}) used.push_back(k);
      if (std::optional<Failure> f = VerifyChap(n, keys, reply)) return f;
      auth = Auth::kDone;
    }
  }
  for (const TextKey& k : keys) {
    if (!Contains(used, k.key)) {
      return Failure{kLoginInitiatorError, "security key " + k.key + " is out of place here"};
    }
  }
  return std::nullopt;
}

std::optional<Failure> LoginNegotiator::Impl::VerifyChap(LoginNegotiator& n,
                                                         const std::vector<TextKey>& keys,
                                                         std::vector<TextKey>* reply) {
  const std::string* user = Get(keys, "CHAP_N");
  const std::string* response = Get(keys, "CHAP_R");
  if (!user || !response) return Failure{kLoginAuthFailed, "CHAP_N or CHAP_R missing"};
  Result<std::vector<uint8_t>> r = DecodeBinaryValue(*response);
  if (!r.ok() || r->size() != 16) {
    return Failure{kLoginAuthFailed, "CHAP_R from " + Trunc(*user) + " is malformed"};
  }
  std::vector<const TargetAccess*> candidates;
  if (discovery) {
    for (const TargetAccess& t : discovery_targets) candidates.push_back(&t);
  } else {
    candidates.push_back(&*target);
  }
  const TargetAccess* matched = nullptr;
  bool user_known = false;
  for (const TargetAccess* t : candidates) {
    if (!t->chap || t->chap->user != *user) continue;
    user_known = true;
    std::array<uint8_t, 16> want = ChapMd5(chap_id, t->chap->secret, challenge);
    if (CRYPTO_memcmp(want.data(), r->data(), want.size()) == 0) {
      matched = t;
      break;
    }
  }
  if (!matched) {
    return Failure{kLoginAuthFailed,
                   user_known ? "CHAP response of " + *user + " is wrong"
                              : "CHAP user " + Trunc(*user) + " is not " + initiator_name + "'s"};
  }

  chap_proven = *matched;

  // RFC 7143 §12.1.3: a response equal to the one the target would compute
  // with its own secret means the two secrets are the same; refuse it.
  if (matched->mutual_chap) {
    std::array<uint8_t, 16> own = ChapMd5(chap_id, matched->mutual_chap->secret, challenge);
    if (CRYPTO_memcmp(own.data(), r->data(), own.size()) == 0) {
      return Failure{kLoginAuthFailed, "CHAP secret of " + *user + " is the target's own"};
    }
  }

  const std::string* mutual_id = Get(keys, "CHAP_I");
  const std::string* mutual_challenge = Get(keys, "CHAP_C");
  if (!mutual_id && !mutual_challenge) return std::nullopt;
  if (!mutual_id || !mutual_challenge) {
    return Failure{kLoginAuthFailed, "mutual CHAP needs both CHAP_I and CHAP_C"};
  }
  if (!matched->mutual_chap) {
    return Failure{kLoginAuthFailed,
                   "initiator asked for mutual CHAP; " + matched->name + " has no mutual secret"};
  }
  std::optional<uint64_t> id = internal::ParseNumber(*mutual_id, 255);
  Result<std::vector<uint8_t>> c = DecodeBinaryValue(*mutual_challenge);
  if (!id || !c.ok() || c->empty() || c->size() > kMaxChapBinary) {
    return Failure{kLoginAuthFailed, "mutual CHAP_I or CHAP_C is malformed"};
  }
  // A challenge equal to ours would let an attacker have us compute the
  // answer to our own challenge (reflection).
  if (c->size() == challenge.size() && std::equal(c->begin(), c->end(), challenge.begin())) {
    return Failure{kLoginAuthFailed, "mutual CHAP_C reflects the target's challenge"};
  }
  reply->push_back({"CHAP_N", matched->mutual_chap->user});
  reply->push_back({"CHAP_R", EncodeHex(ChapMd5(uint8_t(*id), matched->mutual_chap->secret, *c))});
  return std::nullopt;
}

}  // namespace vsl::iscsi
