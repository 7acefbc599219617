#include "raw_pdu.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "util/bytes.h"

namespace vsl::e2e {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kBhsSize = 48;

uint32_t Padded(uint32_t n) { return (n + 3) & ~3u; }

void StoreLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

std::atomic<uint16_t> isid_counter{1};

}  // namespace

uint32_t Crc32c(const uint8_t* data, size_t size, uint32_t crc) {
  // Bitwise reflected CRC32C; slow and obviously right is what a test wants.
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
  }
  return ~crc;
}

uint32_t Pdu::data_length() const { return LoadBe24(&bhs[5]); }
uint32_t Pdu::itt() const { return LoadBe32(&bhs[16]); }
uint32_t Pdu::Field32(size_t offset) const { return LoadBe32(&bhs[offset]); }
void Pdu::SetField32(size_t offset, uint32_t v) { StoreBe32(&bhs[offset], v); }

std::vector<uint8_t> EncodeKeys(const KeyValues& keys) {
  std::vector<uint8_t> out;
  for (const auto& [k, v] : keys) {
    out.insert(out.end(), k.begin(), k.end());
    out.push_back('=');
    out.insert(out.end(), v.begin(), v.end());
    out.push_back(0);
  }
  return out;
}

KeyValues DecodeKeys(const std::vector<uint8_t>& data) {
  KeyValues out;
  size_t start = 0;
  while (start < data.size()) {
    size_t end = start;
    while (end < data.size() && data[end] != 0) ++end;
    std::string pair(data.begin() + start, data.begin() + end);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      if (eq == std::string::npos) {
        out.emplace_back(pair, "");
      } else {
        out.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
      }
    }
    start = end + 1;
  }
  return out;
}

std::string FindKey(const KeyValues& keys, const std::string& key) {
  for (const auto& [k, v] : keys) {
    if (k == key) return v;
  }
  return "";
}

bool HasKey(const KeyValues& keys, const std::string& key) {
  for (const auto& kv : keys) {
    if (kv.first == key) return true;
  }
  return false;
}

RawConnection::~RawConnection() { Close(); }

void RawConnection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawConnection::Connect(int port, std::string* error) {
  Close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *error = "connect 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno);
    Close();
    return false;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{5, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return true;
}

std::vector<uint8_t> RawConnection::Serialize(const Pdu& pdu, const SendOptions& options) const {
  Pdu p = pdu;
  uint32_t length = options.override_length ? options.data_length : uint32_t(pdu.data.size());
  StoreBe24(&p.bhs[5], length);
  std::vector<uint8_t> out(p.bhs.begin(), p.bhs.end());
  if (header_digest_) {
    uint32_t crc = Crc32c(p.bhs.data(), kBhsSize);
    if (options.corrupt_header_digest) crc ^= 0x00010000;
    out.resize(out.size() + 4);
    StoreLe32(&out[out.size() - 4], crc);
  }
  if (!pdu.data.empty()) {
    size_t begin = out.size();
    out.insert(out.end(), pdu.data.begin(), pdu.data.end());
    out.resize(begin + Padded(uint32_t(pdu.data.size())), 0);
    if (data_digest_) {
      uint32_t crc = Crc32c(&out[begin], out.size() - begin);
      if (options.corrupt_data_digest) crc ^= 0x00000100;
      out.resize(out.size() + 4);
      StoreLe32(&out[out.size() - 4], crc);
    }
  }
  return out;
}

void RawConnection::SetSendTimeout(int ms) {
  if (fd_ < 0) return;
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool RawConnection::Send(const Pdu& pdu, const SendOptions& options) {
  return SendBytes(Serialize(pdu, options));
}

bool RawConnection::SendBytes(const std::vector<uint8_t>& bytes) {
  size_t done = 0;
  while (fd_ >= 0 && done < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += size_t(n);
  }
  return fd_ >= 0;
}

ReadStatus RawConnection::ReadFull(uint8_t* out, size_t size, int timeout_ms) {
  if (fd_ < 0) return ReadStatus::kError;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t done = 0;
  while (done < size) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return ReadStatus::kTimeout;
    pollfd pfd{fd_, POLLIN, 0};
    int r = ::poll(&pfd, 1, int(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ReadStatus::kError;
    if (r == 0) return ReadStatus::kTimeout;
    ssize_t n = ::recv(fd_, out + done, size - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) return ReadStatus::kClosed;
    if (n < 0) return ReadStatus::kError;
    done += size_t(n);
  }
  return ReadStatus::kPdu;
}

ReadStatus RawConnection::Read(Pdu* pdu, int timeout_ms, std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  ReadStatus s = ReadFull(pdu->bhs.data(), kBhsSize, timeout_ms);
  if (s != ReadStatus::kPdu) return s;
  std::vector<uint8_t> ahs(size_t(pdu->bhs[4]) * 4);
  if (!ahs.empty() && (s = ReadFull(ahs.data(), ahs.size(), timeout_ms)) != ReadStatus::kPdu) {
    return s;
  }
  if (header_digest_) {
    uint8_t digest[4];
    if ((s = ReadFull(digest, 4, timeout_ms)) != ReadStatus::kPdu) return s;
    uint32_t crc = Crc32c(pdu->bhs.data(), kBhsSize);
    if (!ahs.empty()) crc = Crc32c(ahs.data(), ahs.size(), crc);
    if (crc != LoadLe32(digest)) {
      *error = "target sent a PDU (opcode " + std::to_string(pdu->opcode()) +
               ") with a wrong header digest";
      return ReadStatus::kError;
    }
  }
  uint32_t length = pdu->data_length();
  std::vector<uint8_t> data(Padded(length));
  if (!data.empty() && (s = ReadFull(data.data(), data.size(), timeout_ms)) != ReadStatus::kPdu) {
    return s;
  }
  if (data_digest_ && length > 0) {
    uint8_t digest[4];
    if ((s = ReadFull(digest, 4, timeout_ms)) != ReadStatus::kPdu) return s;
    if (Crc32c(data.data(), data.size()) != LoadLe32(digest)) {
      *error = "target sent a PDU (opcode " + std::to_string(pdu->opcode()) +
               ") with a wrong data digest";
      return ReadStatus::kError;
    }
  }
  data.resize(length);
  pdu->data = std::move(data);
  return ReadStatus::kPdu;
}

bool RawConnection::WaitClosed(int timeout_ms, std::vector<Pdu>* seen) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    Pdu pdu;
    ReadStatus s = Read(&pdu, int(left.count()));
    if (s == ReadStatus::kClosed) return true;
    if (s == ReadStatus::kPdu) {
      seen->push_back(std::move(pdu));
      continue;
    }
    if (s == ReadStatus::kTimeout) return false;
    // A framing error from here on means garbage, not a close; drain raw
    // bytes until EOF.
    uint8_t byte;
    ReadStatus r;
    while ((r = ReadFull(&byte, 1, int(left.count()))) == ReadStatus::kPdu) {
    }
    return r == ReadStatus::kClosed;
  }
}

Pdu LoginRequest(uint8_t csg, uint8_t nsg, bool transit, uint32_t itt, uint32_t cmd_sn,
                 uint32_t exp_stat_sn, const std::vector<uint8_t>& text) {
  Pdu p;
  p.bhs[0] = 0x40 | kLoginRequest;
  p.bhs[1] = uint8_t((transit ? 0x80 : 0) | (csg & 3) << 2 | (nsg & 3));
  // ISID: type "random" (RFC 7143 §11.12.5) qualified by the ITT's upper
  // half, which RawSession::Login draws from a per-process counter, so
  // concurrent raw sessions never reinstate each other.
  p.bhs[8] = 0x80;
  p.bhs[9] = 0x00;
  p.bhs[10] = 'V';
  p.bhs[11] = 'S';
  p.bhs[12] = uint8_t(itt >> 24);
  p.bhs[13] = uint8_t(itt >> 16);
  StoreBe32(&p.bhs[16], itt);
  StoreBe32(&p.bhs[24], cmd_sn);
  StoreBe32(&p.bhs[28], exp_stat_sn);
  p.data = text;
  return p;
}

Pdu NopOut(uint32_t itt, uint32_t cmd_sn, uint32_t exp_stat_sn, std::vector<uint8_t> ping,
           bool immediate) {
  Pdu p;
  p.bhs[0] = uint8_t((immediate ? 0x40 : 0) | kNopOut);
  p.bhs[1] = 0x80;
  StoreBe32(&p.bhs[16], itt);
  StoreBe32(&p.bhs[20], kReservedTag);
  StoreBe32(&p.bhs[24], cmd_sn);
  StoreBe32(&p.bhs[28], exp_stat_sn);
  p.data = std::move(ping);
  return p;
}

Pdu ScsiCommand(uint64_t lun, uint32_t itt, uint32_t cmd_sn, uint32_t exp_stat_sn,
                const std::array<uint8_t, 16>& cdb, bool read, bool write,
                uint32_t expected_length, std::vector<uint8_t> data) {
  Pdu p;
  p.bhs[0] = kScsiCommand;
  p.bhs[1] = uint8_t(0x80 | (read ? 0x40 : 0) | (write ? 0x20 : 0) | 0x01 /* SIMPLE */);
  if (lun < 256) {
    p.bhs[9] = uint8_t(lun);  // peripheral device addressing
  } else {
    p.bhs[8] = uint8_t(0x40 | ((lun >> 8) & 0x3f));  // flat space addressing
    p.bhs[9] = uint8_t(lun);
  }
  StoreBe32(&p.bhs[16], itt);
  StoreBe32(&p.bhs[20], expected_length);
  StoreBe32(&p.bhs[24], cmd_sn);
  StoreBe32(&p.bhs[28], exp_stat_sn);
  std::memcpy(&p.bhs[32], cdb.data(), cdb.size());
  p.data = std::move(data);
  return p;
}

Pdu DataOut(uint64_t lun, uint32_t itt, uint32_t ttt, uint32_t exp_stat_sn, uint32_t data_sn,
            uint32_t offset, bool final, std::vector<uint8_t> data) {
  Pdu p;
  p.bhs[0] = 0x05;
  p.bhs[1] = final ? 0x80 : 0x00;
  p.bhs[9] = uint8_t(lun);
  StoreBe32(&p.bhs[16], itt);
  StoreBe32(&p.bhs[20], ttt);
  StoreBe32(&p.bhs[28], exp_stat_sn);
  StoreBe32(&p.bhs[36], data_sn);
  StoreBe32(&p.bhs[40], offset);
  p.data = std::move(data);
  return p;
}

std::array<uint8_t, 16> Read16Cdb(uint64_t lba, uint32_t blocks) {
  std::array<uint8_t, 16> cdb{};
  cdb[0] = 0x88;
  StoreBe64(&cdb[2], lba);
  StoreBe32(&cdb[10], blocks);
  return cdb;
}

std::array<uint8_t, 16> Write16Cdb(uint64_t lba, uint32_t blocks) {
  std::array<uint8_t, 16> cdb{};
  cdb[0] = 0x8a;
  StoreBe64(&cdb[2], lba);
  StoreBe32(&cdb[10], blocks);
  return cdb;
}

std::array<uint8_t, 16> Read10Cdb(uint32_t lba, uint16_t blocks) {
  std::array<uint8_t, 16> cdb{};
  cdb[0] = 0x28;
  StoreBe32(&cdb[2], lba);
  StoreBe16(&cdb[7], blocks);
  return cdb;
}

bool ParseSense(const std::vector<uint8_t>& data, Sense* sense) {
  if (data.size() < 2) return false;
  size_t length = LoadBe16(data.data());
  if (length == 0 || data.size() < 2 + length) return false;
  const uint8_t* s = data.data() + 2;
  uint8_t code = s[0] & 0x7f;
  if ((code == 0x70 || code == 0x71) && length >= 14) {
    *sense = {uint8_t(s[2] & 0x0f), s[12], s[13]};
    return true;
  }
  if ((code == 0x72 || code == 0x73) && length >= 4) {
    *sense = {uint8_t(s[1] & 0x0f), s[2], s[3]};
    return true;
  }
  return false;
}

uint32_t UniqueLoginItt() { return uint32_t(isid_counter.fetch_add(1)) << 16 | 0x1; }

bool RawSession::LoginStep(uint8_t csg, uint8_t nsg, bool transit, const KeyValues& keys,
                           Pdu* response, KeyValues* response_keys, std::string* error) {
  Pdu request = LoginRequest(csg, nsg, transit, login_itt_, cmd_sn, exp_stat_sn, EncodeKeys(keys));
  if (!conn.Send(request)) {
    *error = "sending Login Request failed";
    return false;
  }
  ReadStatus s = conn.Read(response, 5000, error);
  if (s != ReadStatus::kPdu) {
    if (error->empty()) {
      *error = s == ReadStatus::kClosed ? "target closed the connection during login"
                                        : "no Login Response within 5 s";
    }
    return false;
  }
  if (response->opcode() != kLoginResponse || response->itt() != login_itt_) {
    *error = "expected a Login Response, got opcode " + std::to_string(response->opcode());
    return false;
  }
  login_status_class = response->bhs[36];
  login_status_detail = response->bhs[37];
  if (login_status_class != 0) {
    *error = "login rejected: status class " + std::to_string(login_status_class) + " detail " +
             std::to_string(login_status_detail);
    return false;
  }
  *response_keys = DecodeKeys(response->data);
  exp_stat_sn = response->Field32(24) + 1;
  return true;
}

bool RawSession::Login(int port, const RawLoginOptions& o, std::string* error) {
  if (!conn.Connect(port, error)) return false;
  login_itt_ = o.login_itt != 0 ? o.login_itt : UniqueLoginItt();
  const bool chap = !o.chap_user.empty();
  KeyValues security = {{"InitiatorName", o.initiator},
                        {"SessionType", "Normal"},
                        {"TargetName", o.target}};
  if (!o.skip_security) security.emplace_back("AuthMethod", chap ? "CHAP" : "None");
  security.insert(security.end(), o.extra_keys.begin(), o.extra_keys.end());
  KeyValues operational = {{"HeaderDigest", o.header_digest ? "CRC32C" : "None"},
                           {"DataDigest", o.data_digest ? "CRC32C" : "None"},
                           {"ErrorRecoveryLevel", "0"},
                           {"InitialR2T", "Yes"},
                           {"ImmediateData", "Yes"},
                           {"MaxRecvDataSegmentLength", "262144"},
                           {"MaxBurstLength", "262144"},
                           {"FirstBurstLength", "65536"},
                           {"MaxConnections", "1"},
                           {"MaxOutstandingR2T", "1"},
                           {"DataPDUInOrder", "Yes"},
                           {"DataSequenceInOrder", "Yes"},
                           {"DefaultTime2Wait", "0"},
                           {"DefaultTime2Retain", "0"}};
  uint8_t stage = o.skip_security ? 1 : 0;
  bool sent_security = false;
  bool sent_operational = false;
  if (chap && !o.skip_security) {
    if (!ChapExchange(o, security, error)) return false;
    sent_security = true;
    stage = 1;
  }
  std::string header_digest;
  std::string data_digest;
  for (int round = 0; round < 8; ++round) {
    KeyValues text;
    if (!sent_security) {
      text = security;
      sent_security = true;
    }
    if (stage == 1 && !sent_operational) {
      text.insert(text.end(), operational.begin(), operational.end());
      sent_operational = true;
    }
    Pdu response;
    KeyValues keys;
    if (!LoginStep(stage, stage == 0 ? 1 : 3, true, text, &response, &keys, error)) return false;
    if (round == 0) first_response_keys = keys;
    for (const auto& [k, v] : keys) {
      if (k == "MaxRecvDataSegmentLength") target_mrdsl = uint32_t(std::stoul(v));
      if (k == "HeaderDigest") header_digest = v;
      if (k == "DataDigest") data_digest = v;
      if (k == "ImmediateData") immediate_data = v == "Yes";
      if (k == "FirstBurstLength") first_burst = uint32_t(std::stoul(v));
    }
    bool transit = response.bhs[1] & 0x80;
    uint8_t nsg = response.bhs[1] & 3;
    if (transit && nsg == 3) {
      if (o.header_digest && header_digest != "CRC32C") {
        *error = "target answered HeaderDigest=" + header_digest + " to CRC32C";
        return false;
      }
      if (o.data_digest && data_digest != "CRC32C") {
        *error = "target answered DataDigest=" + data_digest + " to CRC32C";
        return false;
      }
      cmd_sn = response.Field32(28);
      conn.SetDigests(o.header_digest, o.data_digest);
      return true;
    }
    if (transit) stage = nsg;
  }
  *error = "login did not reach full feature phase in 8 exchanges";
  return false;
}

void RawSession::Track(const Pdu& pdu) {
  switch (pdu.opcode()) {
    case kNopIn:
      // An unsolicited NOP-In carries the next StatSN without advancing it.
      exp_stat_sn = pdu.itt() == kReservedTag ? pdu.Field32(24) : pdu.Field32(24) + 1;
      break;
    case kDataIn:
      if (pdu.bhs[1] & 0x01) exp_stat_sn = pdu.Field32(24) + 1;
      break;
    case kScsiResponse:
    case 0x22:
    case 0x24:
    case kLogoutResponse:
    case kReject:
      exp_stat_sn = pdu.Field32(24) + 1;
      break;
    default:
      break;
  }
}

ReadStatus RawSession::ReadReply(uint32_t itt, Pdu* reply, std::string* error) {
  for (int i = 0; i < 1024; ++i) {
    ReadStatus s = conn.Read(reply, 5000, error);
    if (s != ReadStatus::kPdu) return s;
    Track(*reply);
    if (reply->opcode() == kReject || reply->itt() == itt) return s;
    if (reply->opcode() == kNopIn && reply->Field32(20) != kReservedTag) {
      // The target pings us: answer as RFC 7143 §11.18 asks.
      Pdu answer = NopOut(kReservedTag, cmd_sn, exp_stat_sn, {});
      answer.SetField32(20, reply->Field32(20));
      conn.Send(answer);
    }
  }
  if (error) *error = "no reply for ITT " + std::to_string(itt);
  return ReadStatus::kError;
}

ReadStatus RawSession::Exchange(const Pdu& pdu, Pdu* reply, std::string* error,
                                const SendOptions& options) {
  if (!conn.Send(pdu, options)) return ReadStatus::kClosed;
  return ReadReply(pdu.itt(), reply, error);
}

bool RawSession::Ping(const std::vector<uint8_t>& payload, std::string* error) {
  Pdu reply;
  Pdu ping = NopOut(next_itt++, cmd_sn, exp_stat_sn, payload);
  ReadStatus s = Exchange(ping, &reply, error);
  if (s != ReadStatus::kPdu) {
    if (error->empty()) *error = "no NOP-In for the NOP-Out ping";
    return false;
  }
  if (reply.opcode() != kNopIn) {
    *error = "expected NOP-In, got opcode " + std::to_string(reply.opcode());
    return false;
  }
  if (reply.data != payload) {
    *error = "NOP-In did not echo the ping data";
    return false;
  }
  return true;
}

}  // namespace vsl::e2e
