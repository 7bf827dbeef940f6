// result.h — expected failures as values.
//
// `Error` carries a code and a message that says what was wrong and where
// ("scenarios/x.json: /faults/2/status: expected integer"). `Result<T>` holds
// either a T or an Error, in the spirit of absl::StatusOr and cpp-httplib's
// Result. Programmer errors use DS_ASSERT instead (always on).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace destsim {

/// 128-bit integers for overflow-free arithmetic on durations and sizes
/// (`__extension__` keeps -Wpedantic quiet about the GNU type).
__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

/// Always-on assertion for invariants; aborts with file:line and the expression.
#define DS_ASSERT(cond)                                                              \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

/// Broad error classes; the CLI maps them to exit codes (bad_input → 2, internal → 3).
enum class ErrorCode {
  bad_input,       // malformed file, spec, config, flag
  not_found,       // unknown name (destination, property, host)
  io,              // file system
  step_bound,      // the loop hit its step bound (a livelock of the code it runs)
  hang,            // the run went idle with work left undone (something waits forever)
  internal,        // should not happen; a bug
  transport,       // a transport-level failure surfaced as an error value
};

const char* error_code_name(ErrorCode code);

// Process exit codes, the same for every command (destsim, certify binaries,
// `serve`): 0 success · 1 an expectation or property failed · 2 usage error or
// bad input · 3 internal error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInternal = 3;

struct Error;
/// The exit code of a command that stopped on `e`: kExitUsage for what the
/// user can fix (bad_input, not_found, io); kExitFailed for a run that hung or
/// livelocked (hang, step_bound: a liveness failure of the destination under
/// test, property G1, not a crash of destsim); kExitInternal otherwise.
int exit_code_of(const Error& e);

/// An expected failure: a code plus a message naming what and where.
struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;

  static Error bad_input(std::string m) { return {ErrorCode::bad_input, std::move(m)}; }
  static Error not_found(std::string m) { return {ErrorCode::not_found, std::move(m)}; }
  static Error io(std::string m) { return {ErrorCode::io, std::move(m)}; }
  static Error internal(std::string m) { return {ErrorCode::internal, std::move(m)}; }
  static Error hang(std::string m) { return {ErrorCode::hang, std::move(m)}; }
};

/// A T or an E (by default an Error). `ok()` tells which; `value()` asserts ok,
/// `error()` asserts !ok.
template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { DS_ASSERT(ok()); return std::get<0>(v_); }
  const T& value() const& { DS_ASSERT(ok()); return std::get<0>(v_); }
  T&& value() && { DS_ASSERT(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const { DS_ASSERT(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

/// Success or an Error, for operations with no value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)), ok_(false) {}  // NOLINT: implicit by design
  static Status success() { return {}; }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { DS_ASSERT(!ok_); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

#define DS_CONCAT_INNER(a, b) a##b
#define DS_CONCAT(a, b) DS_CONCAT_INNER(a, b)
/// `DS_TRY(auto x, expr);` — returns expr's error from the enclosing function,
/// else binds its value.
#define DS_TRY(lhs, expr)                                        \
  auto DS_CONCAT(ds_try_, __LINE__) = (expr);                    \
  if (!DS_CONCAT(ds_try_, __LINE__).ok())                        \
    return DS_CONCAT(ds_try_, __LINE__).error();                 \
  lhs = std::move(DS_CONCAT(ds_try_, __LINE__)).value()
/// `DS_CHECK(status_expr);` — returns the error of a failed Status.
#define DS_CHECK(expr)                                           \
  do {                                                           \
    auto ds_check_ = (expr);                                     \
    if (!ds_check_.ok()) return ds_check_.error();               \
  } while (0)

}  // namespace destsim
