// properties.h — the conformance catalogue (CONFORMANCE.md) and its checkers.
//
// Every property id of CONFORMANCE.md is listed, with the capability that makes
// it applicable. A checker takes an Outcome (and so a registry entry), never a
// concrete destination. A property whose machinery has not landed yet says so
// ("not checked yet") instead of passing silently.
#pragma once

#include <string>
#include <vector>

#include "conformance/catalogue.h"
#include "conformance/runner.h"

namespace destsim {

enum class Verdict3 { pass, fail, not_applicable, unchecked };
const char* verdict_name(Verdict3 v);

struct PropertyResult {
  std::string id;
  Verdict3 verdict = Verdict3::pass;
  /// For fail: what broke, naming jobs/requests; for n/a: the excluding capability.
  std::string detail;
};

/// Checks one property on an outcome. `scenario` is the scenario that ran
/// (H1 reruns it).
PropertyResult check_property(const std::string& id, const Outcome& outcome, const Scenario& scenario);
/// Checks several properties on one outcome, reading its trace once.
std::vector<PropertyResult> check_properties(const std::vector<std::string>& ids, const Outcome& outcome,
                                             const Scenario& scenario);

/// How long a run may take before it is cut as a hang (RunOptions.max_virtual
/// 0): G1's bound from the declared contract and the run's config before any
/// answer is seen, doubled (what answers add — Retry-After waits, timeouts —
/// is not known yet), plus the input's arrival and a week. A run cut there
/// would have failed G1 anyway; a destination that polls forever costs
/// seconds of wall time, not hours.
Duration run_time_bound(const Outcome& outcome, const Scenario& scenario);

}  // namespace destsim
