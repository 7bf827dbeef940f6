// timeline.h — `destsim run FILE --html OUT.html`: a run as one self-contained
// page (inline CSS and JS, no network): swim lanes per endpoint over virtual
// time, each request a bar coloured by its answer, injected faults marked,
// uploads and polls of the bulk path, crash and restart lines, the jobs' terminal
// states over time, and the verdict with the requests a failure names outlined.
#pragma once

#include <string>

#include "conformance/expect.h"
#include "conformance/runner.h"
#include "conformance/scenario.h"

namespace destsim {

/// The page for a run whose trace lines were kept (RunOptions::keep_lines).
std::string timeline_html(const Scenario& scenario, const Outcome& outcome, const Judgement& judgement);

}  // namespace destsim
