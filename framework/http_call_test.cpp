#include "framework/http_call.h"

#include <deque>

#include <gtest/gtest.h>

#include "framework/clock.h"

namespace destsim {
namespace {

Response answer(int status, std::string body = "{}", Headers headers = {}) {
  Response r;
  r.status = status;
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

HttpResult transport_error(TransportErrorKind kind, bool maybe_applied) {
  return TransportError{kind, "boom", maybe_applied, true};
}

// Answers from a queue, recording what was sent and when.
class QueueTransport final : public Transport {
 public:
  explicit QueueTransport(Loop& loop) : loop_(loop) {}
  Task<HttpResult> send(Request request) override {
    sent.push_back(request);
    at.push_back(loop_.now());
    HttpResult r = answers.front();
    answers.pop_front();
    co_return r;
  }
  std::deque<HttpResult> answers;
  std::vector<Request> sent;
  std::vector<Time> at;

 private:
  Loop& loop_;
};

struct HttpCallTest : ::testing::Test {
  SimClock clock;  // loop time zero is 2024-01-01T00:00:00Z
  Loop loop{clock};
};

TEST_F(HttpCallTest, RetryAfterReadsBothForms) {
  EXPECT_EQ(retry_after(answer(429, "", {{"Retry-After", "7"}}), loop).value(), std::chrono::seconds(7));
  // 2024-01-01T00:00:30Z is 30 s after loop time zero.
  EXPECT_EQ(retry_after(answer(503, "", {{"retry-after", "Mon, 01 Jan 2024 00:00:30 GMT"}}), loop).value(),
            std::chrono::seconds(30));
  ASSERT_TRUE(loop.run_for(std::chrono::seconds(10)).ok());
  EXPECT_EQ(retry_after(answer(503, "", {{"Retry-After", "Mon, 01 Jan 2024 00:00:30 GMT"}}), loop).value(),
            std::chrono::seconds(20));
  EXPECT_FALSE(retry_after(answer(429), loop).has_value());
  EXPECT_FALSE(retry_after(answer(429, "", {{"Retry-After", "later"}}), loop).has_value());
}

TEST_F(HttpCallTest, RetryAfterDatesAreReadAgainstTheAnswersOwnDate) {
  // The API's clock is two hours behind ours: it dates its answer 22:00 and
  // asks for 22:00:30 — thirty seconds, not "already past".
  EXPECT_EQ(retry_after(answer(429, "",
                               {{"Date", "Sun, 31 Dec 2023 22:00:00 GMT"},
                                {"Retry-After", "Sun, 31 Dec 2023 22:00:30 GMT"}}),
                        loop)
                .value(),
            std::chrono::seconds(30));
  // Two hours ahead: thirty seconds, not two hours and thirty seconds.
  EXPECT_EQ(retry_after(answer(429, "",
                               {{"Date", "Mon, 01 Jan 2024 02:00:00 GMT"},
                                {"Retry-After", "Mon, 01 Jan 2024 02:00:30 GMT"}}),
                        loop)
                .value(),
            std::chrono::seconds(30));
  // Delay-seconds do not depend on any clock; an unreadable Date falls back to ours.
  EXPECT_EQ(retry_after(answer(429, "", {{"Date", "Sun, 31 Dec 2023 22:00:00 GMT"}, {"Retry-After", "7"}}), loop)
                .value(),
            std::chrono::seconds(7));
  EXPECT_EQ(retry_after(answer(429, "", {{"Date", "yesterday"}, {"Retry-After", "Mon, 01 Jan 2024 00:00:30 GMT"}}),
                        loop)
                .value(),
            std::chrono::seconds(30));
}

TEST_F(HttpCallTest, JsonRequestKeepsHeaderOrderThenContentType) {
  Request r = json_request("POST", "api.x.io", "/v1/things", "{\"a\":1}", {{"Api-Key", "k"}});
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.host, "api.x.io");
  EXPECT_EQ(r.path, "/v1/things");
  EXPECT_EQ(r.body, "{\"a\":1}");
  ASSERT_EQ(r.headers.items().size(), 2u);
  EXPECT_EQ(r.headers.items()[0].first, "Api-Key");
  EXPECT_EQ(r.headers.items()[1].first, "Content-Type");
  EXPECT_EQ(r.headers.get("content-type").value(), "application/json");
  EXPECT_FALSE(json_request("GET", "h", "/p", "").headers.get("Content-Type").has_value());
}

TEST_F(HttpCallTest, ClassificationTable) {
  const RetryableStatuses declared{{408, 429, 503}};
  struct Row {
    HttpResult result;
    AnswerKind kind;
    int status;
    bool maybe_applied;
    std::string reason;
  };
  std::vector<Row> rows = {
      {transport_error(TransportErrorKind::timeout, true), AnswerKind::transport, 0, true, "transport timeout"},
      {transport_error(TransportErrorKind::connection_refused, false), AnswerKind::transport, 0, false,
       "transport connection_refused"},
      {answer(200, "{\"ok\":true}"), AnswerKind::ok, 200, false, ""},
      {answer(202, "not json"), AnswerKind::unreadable, 202, true, "HTTP 202 with an unreadable body"},
      {answer(200, "[1,2]"), AnswerKind::unreadable, 200, true, "HTTP 200 with an unreadable body"},
      {answer(413), AnswerKind::too_large, 413, false, "HTTP 413"},
      {answer(429), AnswerKind::retryable, 429, false, "HTTP 429"},
      {answer(408), AnswerKind::retryable, 408, false, "HTTP 408"},
      {answer(503), AnswerKind::retryable, 503, false, "HTTP 503"},
      {answer(500), AnswerKind::permanent, 500, true, "HTTP 500"},  // not declared; may have been applied
      {answer(502), AnswerKind::permanent, 502, true, "HTTP 502"},   // not declared; may have been applied too
      {answer(400), AnswerKind::permanent, 400, false, "HTTP 400"},
      {answer(409), AnswerKind::permanent, 409, false, "HTTP 409"},
  };
  for (const Row& row : rows) {
    HttpAnswer a = read_answer(row.result, loop, declared);
    SCOPED_TRACE(row.reason + " " + answer_kind_name(row.kind));
    EXPECT_EQ(a.kind, row.kind);
    EXPECT_EQ(a.status, row.status);
    EXPECT_EQ(a.maybe_applied, row.maybe_applied);
    EXPECT_EQ(a.reason, row.reason);
  }
  // every_5xx widens the set; transport errors are always retryable.
  const RetryableStatuses server{{429}, true};
  EXPECT_EQ(read_answer(HttpResult(answer(501)), loop, server).kind, AnswerKind::retryable);
  EXPECT_EQ(read_answer(HttpResult(answer(408)), loop, server).kind, AnswerKind::permanent);
  EXPECT_TRUE(server.contains(0));
  // Without expect_json a 2xx body is not read.
  EXPECT_EQ(read_answer(HttpResult(answer(200, "plain")), loop, declared, false).kind, AnswerKind::ok);
  // An error body is kept as far as it parses, for the destination's own reading.
  HttpAnswer coded = read_answer(HttpResult(answer(400, "{\"code\":\"BadApiKey\"}")), loop, declared);
  EXPECT_EQ(coded.body.value("code", ""), "BadApiKey");
  EXPECT_TRUE(read_answer(HttpResult(answer(400, "<html>")), loop, declared).body.is_null());
}

TEST_F(HttpCallTest, AnswersMapOntoProcessorResults) {
  const RetryableStatuses declared{{429}};
  auto batch = [&](HttpResult r) { return batch_result(read_answer(r, loop, declared)); };
  auto one = [&](HttpResult r) { return one_result(read_answer(r, loop, declared)); };

  BatchResult t = batch(transport_error(TransportErrorKind::connection_reset, true));
  EXPECT_EQ(t.status, BatchStatus::retry_batch);
  EXPECT_TRUE(t.maybe_applied);
  EXPECT_EQ(t.http_status, 0);
  EXPECT_EQ(t.reason, "transport connection_reset");

  BatchResult limited = batch(answer(429, "", {{"Retry-After", "5"}}));
  EXPECT_EQ(limited.status, BatchStatus::retry_batch);
  EXPECT_EQ(limited.retry_after.value(), std::chrono::seconds(5));
  EXPECT_EQ(limited.http_status, 429);

  BatchResult big = batch(answer(413));
  EXPECT_EQ(big.status, BatchStatus::retry_individual);
  EXPECT_TRUE(big.too_large);

  EXPECT_EQ(batch(answer(400)).status, BatchStatus::cannot_retry);
  EXPECT_EQ(batch(answer(200, "x")).status, BatchStatus::retry_batch);

  EXPECT_EQ(one(transport_error(TransportErrorKind::timeout, false)).verdict, Verdict::retry);
  EXPECT_EQ(one(answer(429)).verdict, Verdict::retry);
  OneResult alone_big = one(answer(413));
  EXPECT_EQ(alone_big.verdict, Verdict::fail);
  EXPECT_TRUE(alone_big.too_large);
  EXPECT_EQ(one(answer(404)).verdict, Verdict::fail);

  HttpAnswer ok = read_answer(HttpResult(answer(200, "{}", {{"Retry-After", "3"}})), loop, declared);
  EXPECT_EQ(batch_success(ok).status, BatchStatus::success);
  EXPECT_EQ(batch_success(ok).retry_after.value(), std::chrono::seconds(3));
  EXPECT_EQ(one_success(ok).verdict, Verdict::ok);
  EXPECT_EQ(one_success(ok).http_status, 200);
}

TEST_F(HttpCallTest, CallerHoldsTheEndpointForEveryCallerAfterRetryAfter) {
  QueueTransport transport(loop);
  RateLimiter limiter(loop, 0);  // no pacing: holds only
  HttpCaller http(loop, transport, limiter);
  transport.answers.push_back(answer(429, "{}", {{"Retry-After", "10"}}));
  transport.answers.push_back(answer(200));
  transport.answers.push_back(answer(200));
  std::vector<HttpAnswer> got;
  loop.spawn([](HttpCaller& h, std::vector<HttpAnswer>& out) -> Task<void> {
    out.push_back(co_await h.call(json_request("POST", "h", "/a?x=1", "{}"), RetryableStatuses{{429}}));
    out.push_back(co_await h.call(json_request("POST", "h", "/a?x=2", "{}"), RetryableStatuses{{429}}));
    // Another endpoint is not held.
    out.push_back(co_await h.call(json_request("POST", "h", "/b", "{}"), RetryableStatuses{{429}}));
  }(http, got));
  ASSERT_TRUE(loop.run_until_idle().ok());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].kind, AnswerKind::retryable);
  EXPECT_EQ(got[1].kind, AnswerKind::ok);
  ASSERT_EQ(transport.at.size(), 3u);
  EXPECT_EQ(transport.at[1] - transport.at[0], std::chrono::seconds(10));  // held by path, query ignored
  EXPECT_EQ(transport.at[2], transport.at[1]);
}

}  // namespace
}  // namespace destsim
