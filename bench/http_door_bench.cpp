// http_door_bench — what the HTTP door costs per request over loopback.
//
// The same keep-alive cpp-httplib client, on one thread, posts the same small
// trackBulk request to (a) ScriptedApi behind the HTTP door and (b) a bare
// cpp-httplib handler that returns the same body. Reported per benchmark:
// requests/s (items_per_second) and p50/p99 latency per request in µs. The
// interleaved benchmark alternates the two servers request by request, so
// machine noise hits both alike, and reports the door's p50 overhead directly
// (target: under 100 µs).
#include <benchmark/benchmark.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "fakes/doors/http_door.h"
#include "fakes/scripted/scripted_api.h"

namespace destsim {
namespace {

using WallClock = std::chrono::steady_clock;  // bench code measures wall time

const std::string kPath = "/api/events/trackBulk";
const std::string kBody =
    R"({"events":[{"email":"a@example.com","eventName":"purchase","dataFields":{"total":12.5}}]})";

/// A bare cpp-httplib server answering every POST with ScriptedApi's trackBulk body.
class BareServer {
 public:
  BareServer() {
    ScriptedApi reference;
    Request r;
    r.method = "POST";
    r.path = kPath;
    body_ = reference.handle(r, kTimeZero).body;
    server_.Post(".*", [this](const httplib::Request&, httplib::Response& res) {
      res.status = 200;
      res.body = body_;
    });
    server_.set_tcp_nodelay(true);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~BareServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  std::string body_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

/// ScriptedApi behind the HTTP door, no faults.
class DoorServer {
 public:
  DoorServer() : door_(api_, FaultPlan(), options()) { port_ = door_.start().value(); }
  int port() const { return port_; }

 private:
  static HttpDoorOptions options() {
    HttpDoorOptions o;
    o.max_lifetime = std::chrono::minutes(10);
    return o;
  }
  ScriptedApi api_;
  HttpDoor door_;
  int port_ = 0;
};

std::unique_ptr<httplib::Client> client(int port) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  return c;
}

/// One request; its wall time in µs, or a negative value when it failed.
double timed_post(httplib::Client& c) {
  auto t0 = WallClock::now();
  auto res = c.Post(kPath, kBody, "application/json");
  auto t1 = WallClock::now();
  if (!res || res->status != 200) return -1;
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

template <class Server>
void run(benchmark::State& state) {
  Server server;
  auto c = client(server.port());
  std::vector<double> us;
  us.reserve(1 << 20);
  for (auto _ : state) {
    double t = timed_post(*c);
    if (t < 0) {
      state.SkipWithError("request failed");
      break;
    }
    us.push_back(t);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["p50_us"] = percentile(us, 0.50);
  state.counters["p99_us"] = percentile(us, 0.99);
}

void BM_BareHandler(benchmark::State& state) { run<BareServer>(state); }
BENCHMARK(BM_BareHandler)->UseRealTime();

void BM_HttpDoorScripted(benchmark::State& state) { run<DoorServer>(state); }
BENCHMARK(BM_HttpDoorScripted)->UseRealTime();

// Both servers in one loop, alternating: one iteration = one request to each.
void BM_DoorOverheadInterleaved(benchmark::State& state) {
  BareServer bare;
  DoorServer door;
  auto to_bare = client(bare.port());
  auto to_door = client(door.port());
  std::vector<double> bare_us, door_us;
  bare_us.reserve(1 << 20);
  door_us.reserve(1 << 20);
  for (auto _ : state) {
    double b = timed_post(*to_bare);
    double d = timed_post(*to_door);
    if (b < 0 || d < 0) {
      state.SkipWithError("request failed");
      break;
    }
    bare_us.push_back(b);
    door_us.push_back(d);
  }
  state.counters["bare_p50_us"] = percentile(bare_us, 0.50);
  state.counters["door_p50_us"] = percentile(door_us, 0.50);
  state.counters["overhead_p50_us"] = percentile(door_us, 0.50) - percentile(bare_us, 0.50);
}
BENCHMARK(BM_DoorOverheadInterleaved)->UseRealTime();

}  // namespace
}  // namespace destsim

BENCHMARK_MAIN();
