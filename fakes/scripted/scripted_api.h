// scripted_api.h — a generic fake with the exact semantics of the Iterable Go
// client's test transport, `NewFakeTransport(failCnt, rateLimitCnt)` with
// `AddResponseQueue` and `SetContentTooLargeCount`.
//
// Every request takes the first applicable answer of:
//   1. the next queued response (AddResponseQueue), in order;
//   2. while fewer than fail_count failures were given: 500 {"msg":"fail","code":"500","params":null};
//   3. while fewer than rate_limit_count were given: 429 (code "429", no Retry-After);
//   4. while fewer than content_too_large_count were given: 413 (code "413");
//   5. 200 with the peer's success body for the endpoint (by path suffix;
//      {"msg":"success","code":"200","params":null} otherwise).
// Counters are shared by all endpoints and never reset; queued responses do not
// consume them; `requests()` counts every request, queued ones included. No
// headers are set, as in the peer. Every 2xx records the request as accepted.
// Thread safety is the HTTP door's job (it serialises handle()).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "fakes/fake_api.h"

namespace destsim {

struct ScriptedApiOptions {
  std::int64_t fail_count = 0;
  std::int64_t rate_limit_count = 0;
  std::int64_t content_too_large_count = 0;
};

class ScriptedApi final : public FakeApi {
 public:
  explicit ScriptedApi(ScriptedApiOptions options = {});

  std::string name() const override { return "scripted"; }
  Response handle(const Request& request, Time now) override;
  nlohmann::json accepted() const override;
  /// Operations (Fake::control): queue, fail_count, rate_limit_count, content_too_large_count, request.
  Status control(const JsonIn& op, Time now) override;
  std::string control_ops() const override { return "queue, fail_count, rate_limit_count, content_too_large_count, request"; }
  void reset() override;

  /// Queues a response given before any counter-driven one (AddResponseQueue).
  void add_response(int status, std::string body);
  void set_fail_count(std::int64_t n) { options_.fail_count = n; }
  void set_rate_limit_count(std::int64_t n) { options_.rate_limit_count = n; }
  /// SetContentTooLargeCount.
  void set_content_too_large_count(std::int64_t n) { options_.content_too_large_count = n; }
  /// The success body for requests whose path ends with `path_suffix`.
  void set_success_body(std::string path_suffix, std::string body);

  std::int64_t requests() const { return requests_; }
  /// Requests per path.
  const std::map<std::string, std::int64_t>& requests_by_path() const { return by_path_; }

 private:
  std::string success_body(std::string_view path) const;

  ScriptedApiOptions options_;
  std::deque<std::pair<int, std::string>> queue_;
  std::map<std::string, std::string> success_bodies_;
  std::int64_t requests_ = 0;
  std::int64_t failed_ = 0;
  std::int64_t rate_limited_ = 0;
  std::int64_t too_large_ = 0;
  std::map<std::string, std::int64_t> by_path_;
  std::vector<nlohmann::json> accepted_;
};

}  // namespace destsim
