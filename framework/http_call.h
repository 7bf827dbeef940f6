// http_call.h — what every HTTP destination used to write by hand, once:
// building a JSON request, reading Retry-After, sending through an endpoint's
// pacing and Retry-After hold (I1), and reading the answer against the
// destination's retryable statuses into one small verdict (`HttpAnswer`) that
// maps onto the batch processor's results.
//
// The answer's kinds, in the order they are decided:
//   transport   the request got no answer (timeout, reset, refused): retry;
//               `maybe_applied` says whether the API may have applied it
//   ok          a 2xx (with `expect_json`, an object body, parsed into `body`)
//   unreadable  a 2xx whose body is not a JSON object: the API may have
//               applied it, so retry with `maybe_applied`
//   too_large   413: never resend unchanged (split, or fail alone)
//   retryable   a status in the destination's retryable set (a 408 or 5xx also
//               says `maybe_applied`: see may_have_applied)
//   permanent   every other status
// A destination's own reading of an error body (codes, messages) goes on top:
// `reason` is "HTTP <status>" until it replaces it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/batch.h"
#include "framework/http.h"
#include "framework/loop.h"
#include "framework/rate_limiter.h"

namespace destsim {

/// The wait a response's Retry-After asks for (delta-seconds or HTTP-date,
/// read against the loop's calendar), or nullopt without a readable one.
std::optional<Duration> retry_after(const Response& response, Loop& loop);

/// A request whose body is JSON: `headers` in order, then
/// `Content-Type: application/json` when there is a body.
Request json_request(std::string method, std::string host, std::string path, std::string body,
                     Headers headers = {});

/// Whether an answer with this status may come after the API applied the
/// request: a 5xx other than 503 (a gateway timing out after the upstream
/// wrote, an internal error half-way: the duplicate-after-502 incident). A 503
/// (shed before processing) and a 408 (the request never arrived whole) say it
/// was not applied. A retry of a maybe-applied request may apply it twice, so
/// its jobs carry the unknown mark (resent_after_unknown on success;
/// non-idempotent bulk uploads are not sent again).
inline bool may_have_applied(int status) { return status >= 500 && status != 503; }

/// The statuses a destination retries: its declared list, plus every 5xx when
/// `every_5xx` (APIs whose clients retry any server error).
struct RetryableStatuses {
  std::vector<int> statuses;
  bool every_5xx = false;
  /// The API's error codes that make an answer permanent whatever its status
  /// (Iterable answers a list that does not exist with a 500 naming
  /// error.lists.invalidListId): declared, so C1 judges the trace against them.
  std::vector<std::string> permanent_codes = {};
  /// Where an error body holds the API's code (a JSON pointer, "/code"); empty: no code is read.
  std::string code_pointer = {};

  /// True for transport errors (status 0) and the statuses above.
  bool contains(int status) const;
};

enum class AnswerKind : std::uint8_t { transport, ok, unreadable, too_large, retryable, permanent };
const char* answer_kind_name(AnswerKind kind);

/// One HTTP answer as a destination reads it (see the table at the top).
struct HttpAnswer {
  AnswerKind kind = AnswerKind::transport;
  /// The HTTP status; 0 for a transport error (as BatchResult::http_status).
  int status = 0;
  /// "transport timeout", "HTTP 503", "HTTP 200 with an unreadable body".
  std::string reason;
  /// The transport error's message ("" for an answer).
  std::string error_message;
  bool maybe_applied = false;
  std::optional<Duration> retry_after;
  /// The API's error code read at `code_pointer` ("" when none).
  std::string code;
  /// With expect_json, the parsed body: an object for `ok`; an error answer's
  /// body as far as it parses (null if not), for the destination's own reading.
  nlohmann::json body;

  /// ok: the API took the request; the destination reads `body` for per-record verdicts.
  bool ok() const { return kind == AnswerKind::ok; }
  /// transport, unreadable and retryable: sending the same request again may succeed.
  bool retry() const {
    return kind == AnswerKind::transport || kind == AnswerKind::unreadable || kind == AnswerKind::retryable;
  }
};

/// Reads `result` into an HttpAnswer (Retry-After read against `loop`'s calendar).
HttpAnswer read_answer(const HttpResult& result, Loop& loop, const RetryableStatuses& retryable,
                       bool expect_json = true);

/// The processor's result for a batch whose answer is not `ok`: retry() →
/// retry_batch, too_large → retry_individual (split), permanent → cannot_retry;
/// reason, retry_after, maybe_applied, http_status and the API's code carried
/// over (a permanent code on a 5xx/429/408 makes the kind rejected_by_api).
BatchResult batch_result(const HttpAnswer& answer);
/// The same for one record sent alone: retry() → retry, otherwise fail.
OneResult one_result(const HttpAnswer& answer);
/// A successful result for an `ok` answer, carrying its status and Retry-After.
BatchResult batch_success(const HttpAnswer& answer);
OneResult one_success(const HttpAnswer& answer);

/// An endpoint caller: waits for the endpoint's pacing slot on `limiter`, sends,
/// and lets a Retry-After hold that endpoint for every caller (I1).
class HttpCaller {
 public:
  HttpCaller(Loop& loop, Transport& transport, RateLimiter& limiter)
      : loop_(loop), transport_(transport), limiter_(limiter) {}

  /// Sends `request`, paced and held by `endpoint` (its path without query when empty).
  Task<HttpResult> send(Request request, std::string endpoint = {});
  /// Sends reads the answer against `retryable` (by value: the coroutine outlives temporaries).
  Task<HttpAnswer> call(Request request, RetryableStatuses retryable, bool expect_json = true,
                        std::string endpoint = {});

  Loop& loop() { return loop_; }
  RateLimiter& limiter() { return limiter_; }

 private:
  Loop& loop_;
  Transport& transport_;
  RateLimiter& limiter_;
};

}  // namespace destsim
