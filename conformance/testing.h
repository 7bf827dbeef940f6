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

}  // namespace destsim::testing
