// Real mode over real loopback HTTP: RealClock, HttpTransport and the HTTP door,
// and the equivalence of the two doors — one client program gives the same
// outcomes, the same accepted state and the same trace shape in sim mode
// (SimClock + SimTransport) and in real mode (RealClock + HttpTransport + door).
// Every server binds 127.0.0.1 on a free port, has a max_lifetime, and stops.
#include "fakes/doors/http_door.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "fakes/scripted/scripted_api.h"
#include "fakes/sim_transport.h"
#include "framework/real/real_clock.h"
#include "framework/real/real_http_transport.h"
#include "framework/sync.h"

namespace destsim {
namespace {

using namespace std::chrono_literals;

FaultPlan plan(const char* text) { return FaultPlan::from_json(nlohmann::json::parse(text), "t").value(); }

/// Every door in these tests stops by itself at the latest after 30 s.
HttpDoorOptions bounded() {
  HttpDoorOptions o;
  o.max_lifetime = 30s;
  o.timeout_hold = 1s;
  return o;
}

/// A started door serving `api` with `faults`, and a plain cpp-httplib client
/// (not destsim's) to it.
struct Served {
  explicit Served(FakeApi& api, FaultPlan faults = FaultPlan(), HttpDoorOptions options = bounded())
      : door(api, std::move(faults), options), port(started(door)), c("127.0.0.1", port) {
    c.set_default_headers({{HttpDoor::kTokenHeader, door.admin_token()}});
  }
  static int started(HttpDoor& d) {
    auto p = d.start();
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
    return p.ok() ? *p : 0;
  }
  HttpDoor door;
  int port;
  httplib::Client c;
};

/// Generous client timeouts: only the timeout tests rely on a timeout firing.
HttpTransportOptions routed_to(const HttpDoor& door, int workers = 2) {
  HttpTransportOptions o;
  o.routes = {{"api.iterable.com", door.url()}};
  o.connect_timeout = 5s;
  o.read_timeout = 10s;
  o.workers = workers;
  return o;
}

Request post(std::string path, std::string body = R"({"events":[]})") {
  Request r;
  r.method = "POST";
  r.host = "api.iterable.com";
  r.path = std::move(path);
  r.headers.set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

/// One outcome as a string: status (with injected / Retry-After) or error kind (with flags).
std::string outcome(const HttpResult& r) {
  if (r.ok()) {
    std::string s = std::to_string(r->status);
    if (r->injected) s += " injected";
    if (auto ra = r->headers.get("Retry-After")) s += " retry_after=" + std::string(*ra);
    return s;
  }
  const TransportError& e = r.error();
  std::string s = transport_error_kind_name(e.kind);
  if (e.maybe_applied) s += " maybe_applied";
  if (e.injected) s += " injected";
  return s;
}

/// Sends `requests` one after another on `loop` and returns every result.
std::vector<HttpResult> send_serially(Loop& loop, Transport& t, std::vector<Request> requests) {
  std::vector<HttpResult> out;
  loop.spawn([](Transport& tr, std::vector<Request> rs, std::vector<HttpResult>& o) -> Task<void> {
    for (auto& r : rs) o.push_back(co_await tr.send(std::move(r)));
  }(t, std::move(requests), out));
  Status s = loop.run_until_idle();
  EXPECT_TRUE(s.ok()) << s.error().message;
  return out;
}

/// Real mode in one call: a RealClock loop and an HttpTransport routed to `door`.
std::vector<HttpResult> send_real(std::vector<Request> requests, HttpTransportOptions options) {
  RealClock clock;
  Loop loop(clock);
  HttpTransport t(loop, std::move(options));
  return send_serially(loop, t, std::move(requests));
}
std::vector<HttpResult> send_real(const HttpDoor& door, std::vector<Request> requests) {
  return send_real(std::move(requests), routed_to(door));
}

/// A fake that answers with what it was asked, to check the door's mapping.
class EchoApi final : public FakeApi {
 public:
  std::string name() const override { return "echo"; }
  Response handle(const Request& request, Time now) override {
    (void)now;
    ++requests_;
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [k, v] : request.headers.items()) headers[k] = v;
    Response r = json_response(200, {{"method", request.method},
                                     {"host", request.host},
                                     {"path", request.path},
                                     {"body", request.body},
                                     {"x_custom", std::string(request.headers.get("X-Custom").value_or(""))},
                                     {"headers", headers}});
    r.headers.add("X-Echo", "yes");
    return r;
  }
  nlohmann::json accepted() const override { return {{"requests", requests_}}; }
  void reset() override { requests_ = 0; }

 private:
  std::int64_t requests_ = 0;
};

// --- RealClock ---------------------------------------------------------------

TEST(RealClock, StartsAtZeroAndFollowsTheWallClock) {
  auto before = std::chrono::system_clock::now();
  RealClock clock;
  EXPECT_FALSE(clock.is_virtual());
  EXPECT_LT(clock.now() - kTimeZero, 1s);
  auto unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(before.time_since_epoch()).count();
  EXPECT_NEAR(static_cast<double>(clock.unix_ms_at_zero()), static_cast<double>(unix_ms), 1000.0);
  Time a = clock.now();
  clock.wait_until(a + 30ms);
  EXPECT_GE(clock.now() - a, 30ms);
}

TEST(RealClock, WakeEndsAWaitAndIsNotLostWhenEarly) {
  RealClock clock;
  clock.wake();  // before anyone waits: sticky
  Time a = clock.now();
  clock.wait();  // returns at once
  clock.wake();
  clock.wait_until(a + 10s);  // returns at once, not in 10 s
  EXPECT_LT(clock.now() - a, 5s);

  std::thread waker([&clock] {
    std::this_thread::sleep_for(50ms);
    clock.wake();
  });
  clock.wait();  // ends on the other thread's wake
  waker.join();
  EXPECT_GE(clock.now() - a, 50ms);
  EXPECT_LT(clock.now() - a, 5s);
}

TEST(RealClock, DrivesTheLoopWithExternalCompletions) {
  RealClock clock;
  Loop loop(clock);
  Completion<int> done(loop);
  int got = 0;
  loop.spawn([](Completion<int> c, int& out) -> Task<void> { out = co_await c.wait(); }(done, got));
  loop.begin_external();
  const Time a = loop.now();  // before the worker starts its 30 ms (it may start at once)
  std::thread worker([&loop, done]() mutable {
    std::this_thread::sleep_for(30ms);
    loop.post_external([&loop, done]() mutable {
      done.set(7);
      loop.end_external();
    });
  });
  Status s = loop.run_until_idle();  // waits for the external operation
  worker.join();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(got, 7);
  EXPECT_GE(loop.now() - a, 30ms);

  bool fired = false;
  loop.call_after(20ms, [&fired] { fired = true; });
  ASSERT_TRUE(loop.run_until_idle().ok());
  EXPECT_TRUE(fired);
}

// --- HttpDoor ------------------------------------------------------------------

TEST(HttpDoor, ServesScriptedApiInThePeersOrder) {
  ScriptedApi api({.fail_count = 1, .rate_limit_count = 1, .content_too_large_count = 1});
  HttpDoor door(api, FaultPlan(), bounded());
  auto port = door.start();
  ASSERT_TRUE(port.ok()) << port.error().message;
  EXPECT_EQ(door.port(), *port);
  EXPECT_EQ(door.url(), "http://127.0.0.1:" + std::to_string(*port));
  httplib::Client c("127.0.0.1", *port);
  std::vector<int> statuses;
  for (int i = 0; i < 5; ++i) {
    auto res = c.Post("/api/events/trackBulk", "{}", "application/json");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    statuses.push_back(res->status);
  }
  EXPECT_EQ(statuses, (std::vector<int>{500, 429, 413, 200, 200}));
  EXPECT_EQ(door.requests(), 5u);
  EXPECT_EQ(api.requests(), 5);
  auto res = c.Post("/api/users/bulkUpdate", "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, R"({"successCount":10,"failCount":0})");
}

TEST(HttpDoor, MapsEveryMethodHostPathQueryHeaderAndBody) {
  EchoApi api;
  HttpDoor door(api, FaultPlan(), bounded());
  ASSERT_TRUE(door.start().ok());
  std::vector<Request> requests;
  for (const char* m : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    Request r = post("/api/users/get?email=a%40b.c&x=1", m == std::string("GET") ? "" : R"({"k":"v"})");
    r.method = m;
    r.headers.set("X-Custom", "custom value");
    requests.push_back(r);
  }
  auto out = send_real(door, requests);
  ASSERT_EQ(out.size(), 5u);
  for (std::size_t i = 0; i < out.size(); ++i) {
    ASSERT_TRUE(out[i].ok()) << out[i].error().message;
    EXPECT_EQ(out[i]->status, 200);
    EXPECT_EQ(out[i]->headers.get("X-Echo").value_or(""), "yes");
    EXPECT_FALSE(out[i]->injected);
    auto j = nlohmann::json::parse(out[i]->body);
    EXPECT_EQ(j["method"], requests[i].method);
    EXPECT_EQ(j["host"], "api.iterable.com");  // the logical host, not 127.0.0.1:port
    EXPECT_EQ(j["path"], "/api/users/get?email=a%40b.c&x=1");
    EXPECT_EQ(j["body"], requests[i].body);
    EXPECT_EQ(j["x_custom"], "custom value");
    EXPECT_FALSE(j["headers"].contains("REMOTE_ADDR"));  // cpp-httplib's socket metadata stays out
  }
  EXPECT_EQ(door.requests(), 5u);
}

TEST(HttpDoor, AMultipartBodyReachesTheFakeWithItsParts) {
  // cpp-httplib keeps no raw body for multipart/form-data; the door re-encodes it.
  EchoApi api;
  Served d(api);
  ASSERT_NE(d.port, 0);
  httplib::MultipartFormDataItems items = {{"format", "csv", "", ""},
                                           {"file", "email\na@b.c\n", "leads.csv", "text/csv"}};
  auto res = d.c.Post("/bulk/v1/leads.json", items);
  ASSERT_TRUE(res);
  auto j = nlohmann::json::parse(res->body);
  const std::string body = j["body"];
  EXPECT_NE(body.find("Content-Disposition: form-data; name=\"file\"; filename=\"leads.csv\"\r\n"
                      "Content-Type: text/csv\r\n\r\nemail\na@b.c\n\r\n"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("name=\"format\"\r\n\r\ncsv\r\n"), std::string::npos) << body;
  EXPECT_EQ(body.substr(body.size() - 4), "--\r\n");
}

TEST(HttpDoor, AdminEndpoints) {
  ScriptedApi api;
  Served d(api);
  ASSERT_NE(d.port, 0);
  ASSERT_EQ(d.c.Post("/api/users/bulkUpdate", "{}", "application/json")->status, 200);

  auto accepted = d.c.Get("/_destsim/accepted");
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 200);
  EXPECT_EQ(nlohmann::json::parse(accepted->body), api.accepted());
  EXPECT_EQ(nlohmann::json::parse(accepted->body)["requests"], 1);

  auto health = d.c.Get("/_destsim/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(nlohmann::json::parse(health->body),
            nlohmann::json({{"ok", true}, {"fake", "scripted"}, {"requests", 1}}));

  // A bad plan is refused with the JSON path named; the old plan stays.
  auto bad = d.c.Put("/_destsim/faults", R"([{"times": 1}, {"respond": {"status": "500"}}])", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(nlohmann::json::parse(bad->body)["error"], "PUT /_destsim/faults: /0: expected exactly one action: "
                                                         "respond, rate_limit, too_large, latency, timeout, reset, "
                                                         "garble or outage");
  bad = d.c.Put("/_destsim/faults", R"([{"respond": {"status": "500"}}])", "application/json");
  EXPECT_NE(bad->body.find("PUT /_destsim/faults: /0/respond/status: expected an integer"), std::string::npos)
      << bad->body;
  // A plan the fake cannot apply (its own validator): an SFTP status for an HTTP fake.
  bad = d.c.Put("/_destsim/faults", R"([{"respond": {"status": 3}}])", "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("PUT /_destsim/faults: /0/respond/status: 3 is an SFTP status"), std::string::npos)
      << bad->body;
  bad = d.c.Put("/_destsim/faults", "[{", "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("not valid JSON"), std::string::npos) << bad->body;
  EXPECT_EQ(nlohmann::json::parse(d.c.Get("/_destsim/faults")->body), nlohmann::json::array());

  auto good = d.c.Put("/_destsim/faults", R"([{"times": 1, "respond": {"status": 502}}])", "application/json");
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 204);
  EXPECT_EQ(nlohmann::json::parse(d.c.Get("/_destsim/faults")->body),
            nlohmann::json::parse(R"([{"times": 1, "respond": {"status": 502}}])"));
  auto injected = d.c.Post("/api/x", "{}", "application/json");
  EXPECT_EQ(injected->status, 502);
  EXPECT_EQ(injected->get_header_value("X-Destsim-Injected"), "respond");
  EXPECT_EQ(d.c.Post("/api/x", "{}", "application/json")->status, 200);

  auto reset = d.c.Post("/_destsim/reset", "", "text/plain");
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->status, 204);
  EXPECT_EQ(nlohmann::json::parse(d.c.Get("/_destsim/accepted")->body)["requests"], 0);
  EXPECT_EQ(d.c.Post("/api/x", "{}", "application/json")->status, 502);  // the plan's counters were reset too

  EXPECT_EQ(d.c.Get("/_destsim/nothing")->status, 404);
  EXPECT_EQ(d.c.Delete("/_destsim/accepted")->status, 405);
  // Admin requests are never counted: 4 fake requests above.
  EXPECT_EQ(d.door.requests(), 4u);
  EXPECT_EQ(nlohmann::json::parse(d.c.Get("/_destsim/health")->body)["requests"], 4);
}

// A web page the user has open can reach loopback: the admin surface takes
// only requests with the token, without an Origin, to a loopback Host.
TEST(HttpDoor, AdminSurfaceNeedsTheTokenAndRefusesBrowsersAndForeignHosts) {
  ScriptedApi api;
  HttpDoorOptions o = bounded();
  o.admin_token = "t0ken";
  Served d(api, FaultPlan(), o);
  EXPECT_EQ(d.door.admin_token(), "t0ken");
  httplib::Client bare("127.0.0.1", d.port);
  EXPECT_EQ(bare.Post("/_destsim/reset", "", "text/plain")->status, 403);
  EXPECT_EQ(bare.Get("/_destsim/accepted", {{HttpDoor::kTokenHeader, "t0kem"}})->status, 403);
  EXPECT_EQ(bare.Put("/_destsim/faults", {{HttpDoor::kTokenHeader, "t0ken"}, {"Origin", "http://evil.example"}},
                     "[]", "application/json")
                ->status,
            403);
  EXPECT_EQ(bare.Get("/_destsim/accepted", {{HttpDoor::kTokenHeader, "t0ken"}, {"Host", "rebound.example:80"}})
                ->status,
            403);
  EXPECT_EQ(bare.Get("/_destsim/accepted", {{HttpDoor::kTokenHeader, "t0ken"}})->status, 200);
  EXPECT_EQ(bare.Get("/_destsim/health")->status, 200);  // read-only and harmless: open
  // A door without a given token draws its own, 32 hex digits, different each time.
  ScriptedApi api2;
  HttpDoor a(api2, FaultPlan(), bounded()), b(api2, FaultPlan(), bounded());
  EXPECT_EQ(a.admin_token().size(), 32u);
  EXPECT_NE(a.admin_token(), b.admin_token());
}

// Hostile clients: a body over the limit is refused unread, a path that is not
// UTF-8 never reaches the fake, and the door keeps serving after both.
TEST(HttpDoor, RefusesOversizedBodiesAndNonUtf8RequestsAndStaysUp) {
  ScriptedApi api;
  HttpDoorOptions o = bounded();
  o.body_bytes_max = 1024;
  Served d(api, FaultPlan(), o);
  auto big = d.c.Post("/api/users/bulkUpdate", std::string(4096, 'x'), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  auto odd = d.c.Post("/api/users/\xff\xfe", "{}", "application/json");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->status, 400);
  auto odd_header = d.c.Post("/api/users/bulkUpdate", {{"X-Name", "\xc3\x28"}}, "{}", "application/json");
  ASSERT_TRUE(odd_header);
  EXPECT_EQ(odd_header->status, 400);
  EXPECT_EQ(d.door.requests(), 0u);  // none reached the fake
  auto accepted = d.c.Get("/_destsim/accepted");
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 200);
  EXPECT_EQ(d.c.Post("/api/users/bulkUpdate", "{}", "application/json")->status, 200);
}

// The scripted fake kept ~485 B per request without bound (a long `serve` grew
// until /_destsim/accepted answered 62 MB). The door now bounds what a fake
// keeps between resets: past it, 507 without reaching the fake.
TEST(HttpDoor, BoundsTheFakesStoredStateUntilReset) {
  EchoApi api;
  HttpDoorOptions o = bounded();
  o.state_requests_max = 3;
  o.state_bytes_max = 100;
  Served d(api, FaultPlan(), o);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(d.c.Post("/x", "{}", "application/json")->status, 200);
  auto full = d.c.Post("/x", "{}", "application/json");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->status, 507);
  EXPECT_EQ(full->get_header_value("X-Destsim-Limit"), "state");
  EXPECT_NE(full->body.find("3 requests"), std::string::npos) << full->body;
  auto accepted = d.c.Get("/_destsim/accepted");
  ASSERT_TRUE(accepted);
  EXPECT_EQ(nlohmann::json::parse(accepted->body)["requests"], 3);  // the fake never saw the fourth
  EXPECT_EQ(d.c.Post("/_destsim/reset", "", "application/json")->status, 204);
  EXPECT_EQ(d.c.Post("/x", "{}", "application/json")->status, 200);
  // The byte bound: a body that would take the kept bytes past it is refused.
  EXPECT_EQ(d.c.Post("/x", std::string(99, ' ') + "{}", "application/json")->status, 507);
  EXPECT_EQ(d.c.Post("/x", std::string(90, ' ') + "{}", "application/json")->status, 200);
}

// A client that went away leaves its request inside the door (a latency hold):
// wait_quiet() waits for it, so a test reads the fake only after it is applied.
TEST(HttpDoor, WaitQuietWaitsForARequestInsideTheDoor) {
  EchoApi api;
  Served d(api, plan(R"([{"latency": {"fixed": "400ms"}}])"));
  std::thread client([&d] {  // determinism-ok: a client on its own thread
    httplib::Client c("127.0.0.1", d.port);
    (void)c.Post("/x", "{}", "application/json");
  });
  while (d.door.requests() == 0) std::this_thread::sleep_for(1ms);  // determinism-ok: until it is inside
  EXPECT_EQ(d.door.in_flight(), 1);
  std::int64_t seen = -1;
  d.door.inspect([&](const FakeApi& a) { seen = a.accepted()["requests"]; });
  EXPECT_EQ(seen, 0);  // still held
  EXPECT_TRUE(d.door.wait_quiet(5s));
  EXPECT_EQ(d.door.in_flight(), 0);
  d.door.inspect([&](const FakeApi& a) { seen = a.accepted()["requests"]; });
  EXPECT_EQ(seen, 1);
  client.join();
}

// Eight clients that send a header line now and then and never finish used to
// hold all eight of cpp-httplib's workers: every real request timed out.
TEST(HttpDoor, SlowClientsDoNotStarveTheRest) {
  ScriptedApi api;
  HttpDoorOptions o = bounded();
  o.read_timeout = 1s;
  Served d(api, FaultPlan(), o);
  std::vector<int> slow;
  for (int i = 0; i < 12; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(d.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const char* start = "POST /api/users/bulkUpdate HTTP/1.1\r\nHost: x\r\n";
    ASSERT_GT(::send(fd, start, std::strlen(start), MSG_NOSIGNAL), 0);
    slow.push_back(fd);
  }
  httplib::Client c("127.0.0.1", d.port);
  c.set_read_timeout(3s);
  c.set_connection_timeout(3s);
  for (int i = 0; i < 3; ++i) {
    auto r = c.Post("/api/users/bulkUpdate", "{}", "application/json");
    ASSERT_TRUE(r) << "request " << i << " starved: " << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    for (int fd : slow) (void)::send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL);  // still "alive"
  }
  for (int fd : slow) ::close(fd);
}

TEST(HttpDoor, RefusesToStartWithAPlanTheFakeCannotApply) {
  ScriptedApi api;
  HttpDoor door(api, plan(R"([{"latency": {"fixed": "1ms"}}, {"respond": {"status": 14}}])"), bounded());
  auto port = door.start();
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.error().code, ErrorCode::bad_input);
  EXPECT_NE(port.error().message.find("fault plan: /1/respond/status: 14 is an SFTP status"), std::string::npos)
      << port.error().message;
}

TEST(HttpDoor, AdminEndpointsAreNeverFaulted) {
  ScriptedApi api;
  Served d(api, plan(R"([{"outage": "refused"}])"));
  ASSERT_NE(d.port, 0);
  auto health = d.c.Get("/_destsim/health");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  EXPECT_FALSE(d.c.Post("/api/x", "{}", "application/json"));  // cut short on the wire
}

TEST(HttpDoor, ResetCutsTheResponseShortOnTheWire) {
  ScriptedApi api;
  Served d(api, plan(R"([{"times": 1, "reset": "before"}])"));
  ASSERT_NE(d.port, 0);
  // A plain client (not destsim's) sees a read error: the promised body never comes.
  auto res = d.c.Post("/api/x", "{}", "application/json");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), httplib::Error::Read);
  EXPECT_EQ(api.requests(), 0);  // "before": the fake never saw it
  EXPECT_EQ(d.c.Post("/api/x", "{}", "application/json")->status, 200);
}

TEST(HttpDoor, StopBeforeStartAndTwice) {
  ScriptedApi api;
  HttpDoor never(api, FaultPlan(), bounded());
  never.stop();
  never.stop();
  never.wait();  // already stopped: returns at once
  auto started = never.start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("after stop()"), std::string::npos);

  HttpDoor door(api, FaultPlan(), bounded());
  auto port = door.start();
  ASSERT_TRUE(port.ok());
  EXPECT_FALSE(door.start().ok());  // twice
  door.stop();
  door.stop();
  door.wait();
  httplib::Client c("127.0.0.1", *port);
  c.set_connection_timeout(2, 0);
  auto res = c.Get("/api/x");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), httplib::Error::Connection);  // nothing listens any more
}

TEST(HttpDoor, StopsByItselfAfterMaxRequests) {
  ScriptedApi api;
  HttpDoorOptions o = bounded();
  o.max_requests = 3;
  Served d(api, FaultPlan(), o);
  ASSERT_NE(d.port, 0);
  EXPECT_EQ(d.c.Get("/_destsim/health")->status, 200);  // admin: not counted
  for (int i = 0; i < 3; ++i) EXPECT_EQ(d.c.Post("/api/x", "{}", "application/json")->status, 200);
  auto t0 = std::chrono::steady_clock::now();
  d.door.wait();  // returns because the bound was reached
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_EQ(d.door.requests(), 3u);
  EXPECT_EQ(api.requests(), 3);
  d.door.stop();
  httplib::Client after("127.0.0.1", d.port);
  after.set_connection_timeout(2, 0);
  EXPECT_FALSE(after.Get("/api/x"));
}

TEST(HttpDoor, StopsByItselfAfterMaxLifetime) {
  ScriptedApi api;
  HttpDoorOptions o;
  o.max_lifetime = 200ms;
  HttpDoor door(api, FaultPlan(), o);
  ASSERT_TRUE(door.start().ok());
  auto t0 = std::chrono::steady_clock::now();
  door.wait();
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 10s);
}

TEST(HttpDoor, StopEndsHoldsPromptly) {
  ScriptedApi api;
  HttpDoorOptions o = bounded();
  o.timeout_hold = 20s;  // a stop() must not wait for this
  HttpDoor door(api, plan(R"([{"timeout": "before"}])"), o);
  auto port = door.start();
  ASSERT_TRUE(port.ok());
  std::thread client([port = *port] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(25, 0);
    (void)c.Post("/api/x", "{}", "application/json");
  });
  while (door.requests() == 0) std::this_thread::sleep_for(1ms);
  auto t0 = std::chrono::steady_clock::now();
  door.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  client.join();
}

TEST(HttpDoor, BindFailureIsAnError) {
  ScriptedApi api;
  HttpDoor first(api, FaultPlan(), bounded());
  auto port = first.start();
  ASSERT_TRUE(port.ok());
  HttpDoorOptions o = bounded();
  o.port = *port;
  HttpDoor second(api, FaultPlan(), o);
  auto again = second.start();
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("cannot bind"), std::string::npos) << again.error().message;
  second.wait();  // a door that failed to start counts as stopped
}

TEST(HttpDoor, SerialisesConcurrentRequestsOntoTheFake) {
  ScriptedApi api;
  HttpDoor door(api, FaultPlan(), bounded());
  ASSERT_TRUE(door.start().ok());
  RealClock clock;
  Loop loop(clock);
  HttpTransport t(loop, routed_to(door, 4));
  int ok = 0;
  for (int i = 0; i < 40; ++i) {
    loop.spawn([](Transport& tr, int& n, int k) -> Task<void> {
      HttpResult r = co_await tr.send(post(k % 2 ? "/api/users/bulkUpdate" : "/api/events/trackBulk"));
      if (r.ok() && r->status == 200) ++n;
    }(t, ok, i));
  }
  ASSERT_TRUE(loop.run_until_idle().ok());
  EXPECT_EQ(ok, 40);
  EXPECT_EQ(api.requests(), 40);
  EXPECT_EQ(api.accepted()["accepted"].size(), 40u);
  EXPECT_EQ(door.requests(), 40u);
}

// --- every fault kind through the door, as HttpTransport sees it ---------------

struct FaultCase {
  const char* plan;
  std::vector<std::string> expected;  // outcomes of two identical requests
  std::int64_t fake_requests;         // how many the fake applied
};

void expect_faults(const FaultCase& c, HttpDoorOptions o = bounded()) {
  ScriptedApi api;
  HttpDoor door(api, plan(c.plan), o);
  ASSERT_TRUE(door.start().ok());
  auto out = send_real(door, {post("/api/events/trackBulk"), post("/api/events/trackBulk")});
  std::vector<std::string> got;
  for (auto& r : out) got.push_back(outcome(r));
  EXPECT_EQ(got, c.expected) << c.plan;
  EXPECT_EQ(api.requests(), c.fake_requests) << c.plan;
}

TEST(HttpTransport, RespondFault) {
  ScriptedApi api;
  HttpDoor door(api, plan(R"([{"times": 1, "respond": {"status": 418, "headers": {"X-Why": "teapot"},
                                                        "body": "short and stout"}}])"),
                bounded());
  ASSERT_TRUE(door.start().ok());
  auto out = send_real(door, {post("/api/events/trackBulk"), post("/api/events/trackBulk")});
  ASSERT_TRUE(out[0].ok());
  EXPECT_EQ(out[0]->status, 418);
  EXPECT_TRUE(out[0]->injected);
  EXPECT_EQ(out[0]->headers.get("X-Why").value_or(""), "teapot");
  EXPECT_EQ(out[0]->headers.get("X-Destsim-Injected").value_or(""), "respond");
  EXPECT_EQ(out[0]->body, "short and stout");
  EXPECT_EQ(outcome(out[1]), "200");
  EXPECT_EQ(api.requests(), 1);
}

TEST(HttpTransport, AppliedThenFailedAnswersReachTheFake) {
  // The duplicate-after-502 incident over real HTTP: the fake applies the
  // request, the door answers the fault's status (as the simulator does).
  expect_faults({R"([{"times": 1, "respond": {"status": 502, "after": true}}])", {"502 injected", "200"}, 2});
  expect_faults({R"([{"times": 1, "respond": {"status": 502}}])", {"502 injected", "200"}, 1});
  expect_faults({R"([{"from_request": 1, "lasting": "1h", "outage": {"status": 504, "after": true}}])",
                 {"504 injected", "504 injected"}, 2});
  expect_faults({R"([{"from_request": 2, "outage": {"status": 503}}])", {"200", "503 injected"}, 1});
}

TEST(HttpTransport, RateLimitFaultWithRetryAfter) {
  expect_faults({R"([{"times": 1, "rate_limit": {"retry_after": "7s"}}])", {"429 injected retry_after=7", "200"}, 1});
}

TEST(HttpTransport, TooLargeFault) {
  expect_faults({R"([{"times": 1, "too_large": {"max_body": "10B"}}])", {"413 injected", "200"}, 1});
}

TEST(HttpTransport, ResetFaultIsAConnectionReset) {
  expect_faults({R"([{"times": 1, "reset": "before"}])", {"connection_reset maybe_applied injected", "200"}, 1});
  expect_faults({R"([{"times": 1, "reset": "after"}])", {"connection_reset maybe_applied injected", "200"}, 2});
}

TEST(HttpTransport, TimeoutFaultIsATimeout) {
  // The door holds for 1 s; the client gives up after 300 ms.
  ScriptedApi api;
  HttpDoorOptions o = bounded();
  o.timeout_hold = 1s;
  HttpDoor door(api, plan(R"([{"times": 1, "timeout": "after"}])"), o);
  ASSERT_TRUE(door.start().ok());
  HttpTransportOptions to = routed_to(door, 1);
  to.read_timeout = 300ms;
  RealClock clock;
  Loop loop(clock);
  std::vector<HttpResult> out;
  Duration first{0};
  {
    HttpTransport t(loop, to);
    loop.spawn([](Loop& l, Transport& tr, std::vector<HttpResult>& o, Duration& d) -> Task<void> {
      Time a = l.now();
      o.push_back(co_await tr.send(post("/api/events/trackBulk")));
      d = l.now() - a;
      o.push_back(co_await tr.send(post("/api/events/trackBulk")));
    }(loop, t, out, first));
    ASSERT_TRUE(loop.run_until_idle().ok());
  }
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(outcome(out[0]), "timeout maybe_applied");  // a real read timeout: no marker was read
  EXPECT_GE(first, 300ms);
  EXPECT_LT(first, 1s);
  EXPECT_EQ(outcome(out[1]), "200");
  EXPECT_EQ(api.requests(), 2);  // "after": the timed-out request was applied
}

TEST(HttpTransport, TimeoutFaultShorterThanTheClientTimeoutIsStillATimeout) {
  // The hold ends first; the marker on the cut-short response says "timeout".
  HttpDoorOptions o = bounded();
  o.timeout_hold = 100ms;
  expect_faults({R"([{"times": 1, "timeout": "before"}])", {"timeout maybe_applied injected", "200"}, 1}, o);
}

TEST(HttpTransport, OutageFaults) {
  expect_faults({R"([{"times": 1, "outage": "refused"}])", {"connection_refused injected", "200"}, 1});
  expect_faults({R"([{"times": 1, "outage": {"status": 503}}])", {"503 injected", "200"}, 1});
}

TEST(HttpTransport, GarbleFault) {
  ScriptedApi api;
  HttpDoor door(api, plan(R"([{"times": 1, "garble": true}])"), bounded());
  ASSERT_TRUE(door.start().ok());
  auto out = send_real(door, {post("/api/users/bulkUpdate"), post("/api/users/bulkUpdate")});
  ASSERT_TRUE(out[0].ok());
  ASSERT_TRUE(out[1].ok());
  EXPECT_EQ(out[0]->status, 200);
  EXPECT_TRUE(out[0]->injected);
  EXPECT_EQ(out[0]->headers.get("X-Destsim-Injected").value_or(""), "garble");
  EXPECT_NE(out[0]->body, out[1]->body);
  EXPECT_EQ(out[1]->body, R"({"successCount":10,"failCount":0})");
  EXPECT_EQ(api.requests(), 2);  // the fake applied the garbled one
}

TEST(HttpTransport, LatencyFault) {
  ScriptedApi api;
  HttpDoor door(api, plan(R"([{"times": 1, "latency": {"fixed": "150ms"}}])"), bounded());
  ASSERT_TRUE(door.start().ok());
  RealClock clock;
  Loop loop(clock);
  HttpTransport t(loop, routed_to(door));
  auto out = send_serially(loop, t, {post("/api/x")});
  EXPECT_EQ(outcome(out[0]), "200");
  EXPECT_GE(loop.now() - kTimeZero, 150ms);
}

TEST(HttpTransport, RefusedWhenNothingListens) {
  int port = 0;
  {
    ScriptedApi api;
    HttpDoor door(api, FaultPlan(), bounded());
    port = door.start().value();
  }  // stopped: nothing listens on the port now
  HttpTransportOptions o;
  o.routes = {{"api.iterable.com", "http://127.0.0.1:" + std::to_string(port)}};
  o.connect_timeout = 2s;
  RealClock clock;
  Loop loop(clock);
  HttpTransport t(loop, o);
  auto out = send_serially(loop, t, {post("/api/x")});
  EXPECT_EQ(outcome(out[0]), "connection_refused");
}

TEST(HttpTransport, RoutesUnlistedHostsToHttps) {
  RealClock clock;
  Loop loop(clock);
  HttpTransportOptions o;
  o.routes = {{"api.iterable.com", "http://127.0.0.1:1"}};
  HttpTransport t(loop, o);
  EXPECT_EQ(t.base_url("api.iterable.com"), "http://127.0.0.1:1");
  EXPECT_EQ(t.base_url("api.eu.iterable.com"), "https://api.eu.iterable.com");
}

TEST(HttpTransport, TracesLikeTheSimDoor) {
  ScriptedApi api({.rate_limit_count = 0});
  HttpDoor door(api, plan(R"([{"times": 1, "rate_limit": {"retry_after": "3s"}}, {"times": 1, "reset": "before"}])"),
                bounded());
  ASSERT_TRUE(door.start().ok());
  RealClock clock;
  Loop loop(clock);
  loop.trace().set_keep_lines(true);
  HttpTransport t(loop, routed_to(door));
  (void)send_serially(loop, t, {post("/api/x"), post("/api/x"), post("/api/x")});
  std::vector<std::string> kinds;
  for (const auto& line : loop.trace().lines()) kinds.push_back(nlohmann::json::parse(line)["kind"]);
  EXPECT_EQ(kinds, (std::vector<std::string>{"http.request", "http.response", "http.request", "http.error",
                                             "http.request", "http.response"}));
  auto first = nlohmann::json::parse(loop.trace().lines()[1]);
  EXPECT_EQ(first["req"], 1);
  EXPECT_EQ(first["status"], 429);
  EXPECT_EQ(first["retry_after"], "3");
  EXPECT_EQ(first["injected"], true);
  auto error = nlohmann::json::parse(loop.trace().lines()[3]);
  EXPECT_EQ(error["error"], "connection_reset");
  EXPECT_EQ(error["injected"], true);
}

TEST(HttpTransport, DestructorAbortsRequestsInFlightAndFailsQueuedOnes) {
  ScriptedApi api;
  HttpDoorOptions o = bounded();
  o.timeout_hold = 20s;
  HttpDoor door(api, plan(R"([{"timeout": "before"}])"), o);
  ASSERT_TRUE(door.start().ok());
  RealClock clock;
  Loop loop(clock);
  std::vector<std::string> out;
  auto t0 = std::chrono::steady_clock::now();
  {
    HttpTransportOptions to = routed_to(door, 1);
    to.read_timeout = 25s;
    HttpTransport t(loop, to);
    for (int i = 0; i < 3; ++i) {
      loop.spawn([](Transport& tr, std::vector<std::string>& o) -> Task<void> {
        o.push_back(outcome(co_await tr.send(post("/api/x"))));
      }(t, out));
    }
    // run_for keeps its deadline while external operations are in flight.
    const auto before = std::chrono::steady_clock::now();
    ASSERT_TRUE(loop.run_for(200ms).ok());  // one in flight (held by the door), two queued
    EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
    EXPECT_TRUE(out.empty());
  }  // the destructor must not wait for the 20 s hold nor the 25 s read timeout
  ASSERT_TRUE(loop.run_until_idle().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  ASSERT_EQ(out.size(), 3u);
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, (std::vector<std::string>{"connection_reset maybe_applied", "other", "other"}));
}

// --- the equivalence of the two doors --------------------------------------------

/// The fixed client program: 15 requests, one after another, each outcome recorded.
std::vector<Request> equivalence_requests() {
  std::vector<Request> rs;
  const char* paths[] = {"/api/events/trackBulk", "/api/users/bulkUpdate", "/api/events/trackBulk",
                         "/api/users/bulkUpdate", "/api/lists/subscribe"};
  for (int i = 0; i < 15; ++i) {
    std::string body = R"({"n":)" + std::to_string(i) + "}";
    if (i == 9) body = R"({"users":[)" + std::string(200, ' ') + "]}";  // over the too_large bound
    rs.push_back(post(paths[i % 5], body));
  }
  return rs;
}

// Deterministic rules only (times, no probability, no timeout: timing differs by mode).
const char* kEquivalencePlan = R"([
  {"match": {"path": "/api/users/bulkUpdate"}, "times": 1, "respond": {"status": 503, "json": {"msg": "down"}}},
  {"match": {"path": "/api/events/trackBulk"}, "times": 1, "reset": "before"},
  {"match": {"path": "/api/users/*"}, "times": 1, "rate_limit": {"retry_after": "30s"}},
  {"times": 1, "too_large": {"max_body": "100B"}},
  {"match": {"path": "/api/events/trackBulk"}, "times": 1, "reset": "after"},
  {"times": 1, "garble": true},
  {"match": {"path": "/api/lists/*"}, "times": 1, "outage": "refused"}
])";

struct ModeRun {
  std::vector<std::string> outcomes;
  nlohmann::json accepted;
  std::vector<std::string> trace;  // kind, req and status or error of every http.* event
};

ModeRun summarise(const std::vector<HttpResult>& results, const FakeApi& api, const Trace& trace) {
  ModeRun run;
  for (const auto& r : results) run.outcomes.push_back(outcome(r));
  run.accepted = api.accepted();
  for (const auto& line : trace.lines()) {
    auto j = nlohmann::json::parse(line);
    std::string kind = j["kind"];
    if (kind.rfind("http.", 0) != 0) continue;  // the sim door also traces its fault decisions
    std::string s = kind + " req=" + std::to_string(j["req"].get<int>());
    if (j.contains("status")) s += " status=" + std::to_string(j["status"].get<int>());
    if (j.contains("error")) s += " error=" + j["error"].get<std::string>();
    if (j.contains("injected")) s += std::string(" injected=") + (j["injected"].get<bool>() ? "1" : "0");
    run.trace.push_back(s);
  }
  return run;
}

TEST(DoorEquivalence, OneClientProgramSameOutcomesInSimAndRealMode) {
  const ScriptedApiOptions fake{.fail_count = 2, .rate_limit_count = 2, .content_too_large_count = 1};

  // (a) sim mode: virtual time, in-process door.
  ModeRun sim;
  {
    SimClock clock;
    Loop loop(clock);
    loop.trace().set_keep_lines(true);
    ScriptedApi api(fake);
    FaultPlan faults = plan(kEquivalencePlan);
    SimTransport transport(loop);
    transport.route("api.iterable.com", &api, &faults);
    auto results = send_serially(loop, transport, equivalence_requests());
    sim = summarise(results, api, loop.trace());
  }

  // (b) real mode: wall time, HttpTransport over loopback HTTP to the HTTP door.
  ModeRun real;
  {
    ScriptedApi api(fake);
    HttpDoor door(api, plan(kEquivalencePlan), bounded());
    ASSERT_TRUE(door.start().ok());
    RealClock clock;
    Loop loop(clock);
    loop.trace().set_keep_lines(true);
    std::vector<HttpResult> results;
    {
      HttpTransport transport(loop, routed_to(door, 2));
      results = send_serially(loop, transport, equivalence_requests());
    }
    door.stop();
    real = summarise(results, api, loop.trace());
  }

  ASSERT_EQ(sim.outcomes.size(), 15u);
  EXPECT_EQ(sim.outcomes, real.outcomes);
  EXPECT_EQ(sim.accepted, real.accepted);
  EXPECT_EQ(sim.trace, real.trace);
  // The program really met every rule and every scripted answer.
  const std::vector<std::string> expected = {
      "connection_reset maybe_applied injected",  //  0 trackBulk: reset before (not applied)
      "503 injected",                             //  1 bulkUpdate: respond 503
      "connection_reset maybe_applied injected",  //  2 trackBulk: reset after (applied: scripted 500 #1)
      "429 injected retry_after=30",              //  3 bulkUpdate: rate_limit
      "500 injected",                             //  4 subscribe: garble over scripted 500 #2
      "429",                                      //  5 trackBulk: scripted 429 #1
      "429",                                      //  6 bulkUpdate: scripted 429 #2
      "413",                                      //  7 trackBulk: scripted 413
      "200",                                      //  8
      "413 injected",                             //  9 subscribe, 200-byte body: too_large
      "200", "200", "200", "200",                 // 10-13
      "connection_refused injected"};             // 14 subscribe: outage refused
  EXPECT_EQ(sim.outcomes, expected);
  EXPECT_EQ(sim.accepted["requests"], 10);
}

}  // namespace
}  // namespace destsim
