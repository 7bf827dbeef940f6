// testing.h — what every destination's end-to-end test needs, written once:
// a scenario from inline JSON, a run whose expectations must hold, and counts
// over the run's typed trace events (framework/trace_events.h).
//
// Header-only for GoogleTest files: include it from a `*_test.cpp`.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <type_traits>

#include "conformance/expect.h"
#include "conformance/runner.h"
#include "conformance/scenario.h"
#include "destinations/destination.h"
#include "fakes/sim_transport.h"
#include "framework/job_store.h"

namespace destsim::testing {

/// A scenario from inline JSON (a failure to load fails the test).
inline Scenario scenario(const std::string& json) {
  auto s = parse_scenario(nlohmann::json::parse(json), "test");
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? std::move(s).value() : Scenario();
}

/// Runs `s`; the run and every expectation it declares must hold.
inline Outcome run(const Scenario& s) {
  auto o = run_scenario(s);
  EXPECT_TRUE(o.ok()) << (o.ok() ? "" : o.error().message);
  if (!o.ok()) return Outcome();
  Judgement j = judge(s, *o);
  for (const auto& f : j.failures) ADD_FAILURE() << f;
  return std::move(o).value();
}

/// A destination wired to one fake in the simulator, for a test that drives it
/// by hand: a virtual clock and its loop, a SimTransport routing the
/// destination's host to `api`, a memory job store and the DeliveryContext over
/// them.
struct SimRig {
  /// The registered destination `name` (a missing one fails the test).
  SimRig(const std::string& name, FakeApi& api, std::uint64_t seed = 1) : SimRig(registered(name), api, seed) {}
  SimRig(DestinationEntry destination, FakeApi& api, std::uint64_t seed = 1)
      : entry(std::move(destination)), loop(clock, LoopOptions{.seed = seed}) {
    transport.route(entry.host, &api);
  }
  SimRig(const SimRig&) = delete;
  SimRig& operator=(const SimRig&) = delete;

  /// The destination built from `config`, resolved against its schema (null,
  /// and the test failed, when either step fails).
  std::unique_ptr<Destination> make(const nlohmann::json& config) {
    auto c = Config::resolve(config, entry.name, entry.schema);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    if (!c.ok() || !entry.make) return nullptr;
    auto d = entry.make(ctx, *c);
    EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().message);
    return d.ok() ? std::move(d).value() : nullptr;
  }

  /// Delivers `records` to `d` in order, drains it, and runs the loop until
  /// it is idle (a failed run fails the test).
  void deliver(Destination& d, std::vector<Record> records) {
    loop.spawn([](Destination& to, std::vector<Record> in) -> Task<void> {
      for (auto& r : in) co_await to.deliver(std::move(r));
      co_await to.drain();
    }(d, std::move(records)));
    auto ran = loop.run_until_idle();
    EXPECT_TRUE(ran.ok()) << (ran.ok() ? "" : ran.error().message);
  }

  DestinationEntry entry;
  SimClock clock;
  Loop loop;
  SimTransport transport{loop};
  MemoryJobStore jobs;
  DeliveryContext ctx{loop, transport, jobs};

 private:
  static DestinationEntry registered(const std::string& name) {
    const DestinationEntry* e = find_destination(name);
    EXPECT_NE(e, nullptr) << "no destination named " << name;
    return e ? *e : DestinationEntry{};
  }
};

/// Events of type E in the run's trace that satisfy `pred` (all of them by default).
template <class E, class Pred>
std::int64_t count_of(const Outcome& o, Pred pred) {
  std::int64_t n = 0;
  for (const auto& te : o.events)
    if (const E* e = std::get_if<E>(&te.event)) n += pred(*e) ? 1 : 0;
  return n;
}
template <class E>
std::int64_t count_of(const Outcome& o) {
  return count_of<E>(o, [](const E&) { return true; });
}

/// The run's JSONL trace as one string (for a test that reads an untyped kind).
inline std::string all_lines(const Outcome& o) {
  std::string s;
  for (const auto& l : o.trace_lines) s += l + "\n";
  return s;
}

/// Occurrences of `needle` in `hay`.
inline std::int64_t count_text(const std::string& hay, const std::string& needle) {
  std::int64_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

/// A fake in front of `api` that keeps every request the destination sent
/// (as the sim door delivered it) and lets `api` answer it.
class Recorder final : public FakeApi {
 public:
  explicit Recorder(FakeApi& api) : api_(api) {}
  Response handle(const Request& request, Time now) override {
    seen.push_back(request);
    return api_.handle(request, now);
  }
  std::string name() const override { return api_.name(); }
  nlohmann::json accepted() const override { return api_.accepted(); }
  void reset() override {
    seen.clear();
    api_.reset();
  }
  std::vector<Request> seen;

 private:
  FakeApi& api_;
};

}  // namespace destsim::testing
