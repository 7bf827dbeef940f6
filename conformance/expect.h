// expect.h — judging a run against its scenario's expectations, and the
// summary `destsim run` prints.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "conformance/properties.h"
#include "conformance/runner.h"
#include "conformance/scenario.h"

namespace destsim {

struct Judgement {
  /// One line per expectation that failed, naming the jobs involved.
  std::vector<std::string> failures;
  std::vector<PropertyResult> properties;
  /// Properties named by the scenario that this version cannot check yet.
  std::vector<std::string> unchecked;
  bool ok() const { return failures.empty(); }
};

Judgement judge(const Scenario& scenario, const Outcome& outcome);

/// Prints the run summary: resolved options, jobs by state, requests by status,
/// virtual and wall duration, expectations, and a final `trace-hash:` line.
void print_summary(std::ostream& out, const Scenario& scenario, const Outcome& outcome, const Judgement& j);

}  // namespace destsim
