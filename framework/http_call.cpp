#include "framework/http_call.h"

#include <algorithm>

#include "framework/json_in.h"

namespace destsim {

std::optional<Duration> retry_after(const Response& response, Loop& loop) {
  auto h = response.headers.get("Retry-After");
  if (!h) return std::nullopt;
  // An HTTP date is the API's clock: measured against the answer's own Date
  // (the same clock) it means the same wait whatever the two clocks disagree
  // by; without a Date, against ours.
  if (auto date = response.headers.get("Date")) {
    if (auto sent = parse_http_date(*date); sent.ok()) return parse_retry_after(*h, *sent);
  }
  return parse_retry_after(*h, loop.clock().unix_ms(loop.now()));
}

Request json_request(std::string method, std::string host, std::string path, std::string body, Headers headers) {
  Request r;
  r.method = std::move(method);
  r.host = std::move(host);
  r.path = std::move(path);
  r.headers = std::move(headers);
  if (!body.empty()) r.headers.set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

bool RetryableStatuses::contains(int status) const {
  if (status == 0) return true;
  if (every_5xx && status >= 500) return true;
  return std::find(statuses.begin(), statuses.end(), status) != statuses.end();
}

const char* answer_kind_name(AnswerKind kind) {
  switch (kind) {
    case AnswerKind::transport: return "transport";
    case AnswerKind::ok: return "ok";
    case AnswerKind::unreadable: return "unreadable";
    case AnswerKind::too_large: return "too_large";
    case AnswerKind::retryable: return "retryable";
    case AnswerKind::permanent: return "permanent";
  }
  return "?";
}

HttpAnswer read_answer(const HttpResult& result, Loop& loop, const RetryableStatuses& retryable, bool expect_json) {
  HttpAnswer a;
  if (!result.ok()) {
    const TransportError& e = result.error();
    a.kind = AnswerKind::transport;
    a.status = 0;
    a.reason = std::string("transport ") + transport_error_kind_name(e.kind);
    a.error_message = e.message;
    a.maybe_applied = e.maybe_applied;
    return a;
  }
  const Response& r = *result;
  a.status = r.status;
  a.retry_after = retry_after(r, loop);
  if (r.ok()) {
    a.kind = AnswerKind::ok;
    if (!expect_json) return a;
    a.body = parse_json_body(r.body);
    if (a.body.is_discarded() || !a.body.is_object()) {
      a.kind = AnswerKind::unreadable;
      a.reason = "HTTP " + std::to_string(r.status) + " with an unreadable body";
      a.maybe_applied = true;
      a.body = nullptr;
    }
    return a;
  }
  a.reason = "HTTP " + std::to_string(r.status);
  a.maybe_applied = may_have_applied(r.status);
  if (expect_json) {
    a.body = parse_json_body(r.body);
    if (a.body.is_discarded()) a.body = nullptr;
    if (!retryable.code_pointer.empty() && a.body.is_object()) {
      const nlohmann::json::json_pointer at(retryable.code_pointer);
      if (a.body.contains(at) && a.body[at].is_string()) a.code = a.body[at].get<std::string>();
    }
  }
  const auto& pc = retryable.permanent_codes;
  if (!a.code.empty() && std::find(pc.begin(), pc.end(), a.code) != pc.end()) {
    a.kind = AnswerKind::permanent;  // the code decides, whatever the status
  } else if (r.status == 413) {
    a.kind = AnswerKind::too_large;
  } else if (retryable.contains(r.status)) {
    a.kind = AnswerKind::retryable;
  } else {
    a.kind = AnswerKind::permanent;
  }
  return a;
}

BatchResult batch_success(const HttpAnswer& answer) {
  return {.status = BatchStatus::success, .retry_after = answer.retry_after, .http_status = answer.status};
}

OneResult one_success(const HttpAnswer& answer) {
  return {.verdict = Verdict::ok, .retry_after = answer.retry_after, .http_status = answer.status};
}

namespace {
// A permanent answer whose status alone would say otherwise (a code the API
// declares permanent on a 5xx): the API rejected it.
ReasonKind answer_kind(const HttpAnswer& a) {
  if (a.kind == AnswerKind::permanent && (a.status >= 500 || a.status == 429 || a.status == 408))
    return ReasonKind::rejected_by_api;
  return reason_kind_of_status(a.status);
}

// What a failed answer carries into either result: its cause, whether the API
// may have applied it, the kind of cause and the API's own code.
template <class R>
R failed_result(R out, const HttpAnswer& a) {
  out.reason = a.reason;
  out.maybe_applied = a.maybe_applied;
  out.kind = answer_kind(a);
  out.api_code = a.code;
  return out;
}
}  // namespace

BatchResult batch_result(const HttpAnswer& answer) {
  DS_ASSERT(!answer.ok());
  BatchResult out = failed_result(batch_success(answer), answer);
  if (answer.retry()) {
    out.status = BatchStatus::retry_batch;
  } else if (answer.kind == AnswerKind::too_large) {
    out.status = BatchStatus::retry_individual;
    out.too_large = true;
  } else {
    out.status = BatchStatus::cannot_retry;
  }
  return out;
}

OneResult one_result(const HttpAnswer& answer) {
  DS_ASSERT(!answer.ok());
  OneResult out = failed_result(one_success(answer), answer);
  out.verdict = answer.retry() ? Verdict::retry : Verdict::fail;
  out.too_large = answer.kind == AnswerKind::too_large;
  return out;
}

Task<HttpResult> HttpCaller::send(Request request, std::string endpoint) {
  if (endpoint.empty()) endpoint = std::string(request.path_only());
  co_await limiter_.acquire(endpoint);
  HttpResult res = co_await transport_.send(std::move(request));
  if (res.ok()) {
    if (auto d = retry_after(*res, loop_)) limiter_.hold(endpoint, loop_.now() + *d);
  }
  co_return res;
}

Task<HttpAnswer> HttpCaller::call(Request request, RetryableStatuses retryable, bool expect_json,
                                  std::string endpoint) {
  HttpResult res = co_await send(std::move(request), std::move(endpoint));
  co_return read_answer(res, loop_, retryable, expect_json);
}

}  // namespace destsim
