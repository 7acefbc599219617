// Status and Result<T>: the one error vocabulary inside vsl.
//
// Every call that can fail returns a Status or a Result<T>. Codes are the ones a
// caller can act on; the message says what failed in words an operator can use
// (which PDU, which key, which volume). At the edges a Status is mapped to an API
// error code (api/), to SCSI sense data (gateway/scsi) or to a CLI exit status.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace vsl {

enum class Code {
  kOk = 0,
  kInvalidArgument,    // the caller's input is malformed; retrying won't help
  kNotFound,           // the named thing does not exist
  kAlreadyExists,      // the named thing exists already
  kFailedPrecondition, // the system is not in the state the operation needs
  kOutOfRange,         // an offset, LBA or size lies beyond the end
  kResourceExhausted,  // no free volumes, no space, too many sessions
  kPermissionDenied,   // authenticated, but not allowed
  kUnauthenticated,    // no or wrong credentials
  kIoError,            // the storage failed; data may or may not be written
  kUnavailable,        // try again later (transient)
  kAborted,            // lost a race (compare-and-swap), retry from the start
  kInternal,           // a bug
  kUnimplemented,      // not supported
  kDataLoss,           // data is gone or corrupt
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NotFound: volume 12 does not exist"
  std::string ToString() const;

  // Returns a copy with "context: " put in front of the message.
  Status Annotate(std::string_view context) const;

  bool operator==(const Status& o) const { return code_ == o.code_ && message_ == o.message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
inline Status OutOfRange(std::string m) { return {Code::kOutOfRange, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
inline Status Unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }
inline Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status Aborted(std::string m) { return {Code::kAborted, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status Unimplemented(std::string m) { return {Code::kUnimplemented, std::move(m)}; }
inline Status DataLoss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
// An IoError whose message ends with strerror(errnum).
Status ErrnoError(std::string_view what, int errnum);

// Result<T> holds either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // OK when the Result holds a value.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T value_or(T other) const { return ok() ? std::get<T>(v_) : std::move(other); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace vsl

#define VSL_CONCAT_INNER_(a, b) a##b
#define VSL_CONCAT_(a, b) VSL_CONCAT_INNER_(a, b)

// Returns the Status of `expr` from the current function when it is not OK.
#define VSL_RETURN_IF_ERROR(expr)            \
  do {                                       \
    ::vsl::Status vsl_status_ = (expr);      \
    if (!vsl_status_.ok()) return vsl_status_; \
  } while (0)

// VSL_ASSIGN_OR_RETURN(auto x, FunctionReturningResult());
#define VSL_ASSIGN_OR_RETURN(lhs, expr) \
  VSL_ASSIGN_OR_RETURN_IMPL_(VSL_CONCAT_(vsl_result_, __LINE__), lhs, expr)
#define VSL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
