// The HTTP door over real loopback HTTP, and the equivalence of the two doors:
// one client program gives the same outcomes in sim mode and in real mode.
// Every server binds 127.0.0.1 on a free port, is bounded in time, and stops.
#include "fakes/http_door.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include "fakes/scripted/scripted_api.h"
#include "fakes/sim_transport.h"
#include "framework/real_clock.h"
#include "framework/real_http_transport.h"

namespace destsim {
namespace {

FaultPlan plan(const char* text) { return FaultPlan::from_json(nlohmann::json::parse(text), "t").value(); }

HttpDoorOptions bounded() {
  HttpDoorOptions o;
  o.max_lifetime = std::chrono::seconds(60);
  o.timeout_hold = std::chrono::seconds(1);
  return o;
}

TEST(HttpDoor, ServesTheFakeInThePeersOrder) {
  ScriptedApi api({.fail_count = 1, .rate_limit_count = 1, .content_too_large_count = 1});
  HttpDoor door(api, FaultPlan(), bounded());
  auto port = door.start();
  ASSERT_TRUE(port.ok()) << port.error().message;
  httplib::Client c("127.0.0.1", *port);
  std::vector<int> statuses;
  for (int i = 0; i < 4; ++i) statuses.push_back(c.Post("/api/events/trackBulk", "{}", "application/json")->status);
  EXPECT_EQ(statuses, (std::vector<int>{500, 429, 413, 200}));
  EXPECT_EQ(door.requests(), 4u);
  door.stop();
  door.stop();  // idempotent
}

TEST(HttpDoor, AdminEndpoints) {
  ScriptedApi api;
  HttpDoor door(api, FaultPlan(), bounded());
  auto port = door.start();
  ASSERT_TRUE(port.ok());
  httplib::Client c("127.0.0.1", *port);
  c.Post("/api/users/bulkUpdate", "{}", "application/json");
  auto acc = c.Get("/_destsim/accepted");
  ASSERT_TRUE(acc);
  EXPECT_EQ(nlohmann::json::parse(acc->body)["requests"], 1);
  auto health = c.Get("/_destsim/health");
  EXPECT_EQ(nlohmann::json::parse(health->body)["fake"], "scripted");
  auto bad = c.Put("/_destsim/faults", R"([{"respond": {"status": "500"}}])", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("/0/respond/status: expected an integer"), std::string::npos) << bad->body;
  auto good = c.Put("/_destsim/faults", R"([{"times": 1, "respond": {"status": 502}}])", "application/json");
  EXPECT_EQ(good->status, 204);
  EXPECT_EQ(c.Post("/api/x", "{}", "application/json")->status, 502);
  EXPECT_EQ(c.Post("/api/x", "{}", "application/json")->status, 200);
  EXPECT_EQ(nlohmann::json::parse(c.Get("/_destsim/faults")->body).size(), 1u);
  EXPECT_EQ(c.Post("/_destsim/reset", "", "text/plain")->status, 204);
  EXPECT_EQ(nlohmann::json::parse(c.Get("/_destsim/accepted")->body)["requests"], 0);
  EXPECT_EQ(c.Post("/api/x", "{}", "application/json")->status, 502);  // counters were reset too
}

TEST(HttpDoor, StopsByItselfAfterMaxRequestsAndBeforeStart) {
  ScriptedApi api;
  HttpDoorOptions o = bounded();
  o.max_requests = 2;
  HttpDoor door(api, FaultPlan(), o);
  ASSERT_TRUE(door.start().ok());
  httplib::Client c("127.0.0.1", door.port());
  EXPECT_EQ(c.Get("/a")->status, 200);
  EXPECT_EQ(c.Get("/b")->status, 200);
  door.wait();  // returns because the bound was reached
  EXPECT_EQ(door.requests(), 2u);
  ScriptedApi api2;
  HttpDoor never(api2, FaultPlan(), bounded());
  never.stop();  // before start: fine
}

// Runs requests through a transport on a loop and records each outcome.
std::vector<std::string> client_program(Loop& loop, Transport& t, int n) {
  std::vector<std::string> out;
  loop.spawn([](Transport& tr, std::vector<std::string>& o, int count) -> Task<void> {
    for (int i = 0; i < count; ++i) {
      Request r;
      r.method = "POST";
      r.host = "api.iterable.com";
      r.path = i % 3 == 1 ? "/api/users/bulkUpdate" : "/api/events/trackBulk";
      r.headers.set("Content-Type", "application/json");
      r.body = "{\"n\":" + std::to_string(i) + "}";
      HttpResult res = co_await tr.send(std::move(r));
      o.push_back(res.ok() ? std::to_string(res->status) : transport_error_kind_name(res.error().kind));
    }
  }(t, out, n));
  EXPECT_TRUE(loop.run_until_idle().ok());
  return out;
}

const char* kEquivalencePlan = R"([
  {"match": {"path": "/api/users/bulkUpdate"}, "times": 1, "respond": {"status": 503}},
  {"match": {"path": "/api/events/*"}, "times": 1, "reset": "before"},
  {"times": 1, "rate_limit": {"retry_after": "2s"}},
  {"times": 1, "reset": "after"},
  {"times": 1, "garble": true},
  {"times": 1, "outage": {"status": 502}}])";

TEST(DoorEquivalence, SameOutcomesInSimAndRealMode) {
  const int n = 16;
  ScriptedApiOptions fake{.fail_count = 2, .rate_limit_count = 2, .content_too_large_count = 1};
  // Sim mode.
  SimClock sim_clock;
  Loop sim_loop(sim_clock);
  ScriptedApi sim_api(fake);
  FaultPlan sim_plan = plan(kEquivalencePlan);
  SimTransport sim(sim_loop);
  sim.route("api.iterable.com", &sim_api, &sim_plan);
  std::vector<std::string> sim_out = client_program(sim_loop, sim, n);
  // Real mode over loopback HTTP.
  ScriptedApi real_api(fake);
  HttpDoor door(real_api, plan(kEquivalencePlan), bounded());
  ASSERT_TRUE(door.start().ok());
  RealClock real_clock;
  Loop real_loop(real_clock);
  std::vector<std::string> real_out;
  {
    HttpTransport real(real_loop, {.routes = {{"api.iterable.com", door.url()}},
                                   .connect_timeout = std::chrono::seconds(5),
                                   .read_timeout = std::chrono::seconds(10),
                                   .workers = 2});
    real_out = client_program(real_loop, real, n);
  }
  door.stop();
  EXPECT_EQ(sim_out, real_out);
  EXPECT_EQ(sim_api.accepted(), real_api.accepted());
  // The plan really did something in both.
  EXPECT_NE(std::count(sim_out.begin(), sim_out.end(), "connection_reset"), 0);
  EXPECT_NE(std::count(sim_out.begin(), sim_out.end(), "503"), 0);
}

TEST(HttpTransport, TimeoutFaultIsATimeoutOverRealHttp) {
  ScriptedApi api;
  HttpDoorOptions o = bounded();
  o.timeout_hold = std::chrono::seconds(2);
  HttpDoor door(api, plan(R"([{"times": 1, "timeout": "after"}])"), o);
  ASSERT_TRUE(door.start().ok());
  RealClock clock;
  Loop loop(clock);
  std::vector<std::string> out;
  {
    HttpTransport t(loop, {.routes = {{"api.iterable.com", door.url()}},
                           .connect_timeout = std::chrono::seconds(5),
                           .read_timeout = std::chrono::milliseconds(300),
                           .workers = 1});
    out = client_program(loop, t, 2);
  }
  door.stop();
  EXPECT_EQ(out, (std::vector<std::string>{"timeout", "200"}));
  EXPECT_EQ(api.requests(), 2);  // the timed-out request was applied ("after")
}

TEST(HttpTransport, RefusedWhenNothingListens) {
  int port = 0;
  {
    ScriptedApi api;
    HttpDoor door(api, FaultPlan(), bounded());
    port = door.start().value();
  }  // stopped: the port is closed now
  RealClock clock;
  Loop loop(clock);
  std::vector<std::string> out;
  {
    HttpTransport t(loop, {.routes = {{"api.iterable.com", "http://127.0.0.1:" + std::to_string(port)}},
                           .connect_timeout = std::chrono::seconds(2),
                           .read_timeout = std::chrono::seconds(2),
                           .workers = 1});
    out = client_program(loop, t, 1);
  }
  EXPECT_EQ(out, (std::vector<std::string>{"connection_refused"}));
}

}  // namespace
}  // namespace destsim
