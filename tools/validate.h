// validate.h — `destsim validate FILE…` and `destsim schema [NAME]`.
//
// validate checks files without running them, with the same loaders (and the
// same file-, path- and expectation-naming messages) as run, certify --spec
// and serve --faults: a scenario ("scenario": 1), a declarative spec
// ("spec": 1) or a fault plan (an array of rules, or {"rules": …}). schema
// prints the JSON Schema of a format (schemas/, installed under
// share/destsim/schemas) so editors can check files as they are written.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace destsim {

extern const char* const kScenarioSchema;
extern const char* const kFaultPlanSchema;

/// Exit 0 when every file is valid (one "FILE: ok (…)" line each), 2 when one
/// is not (each error on stderr, naming the file and the JSON path).
int run_validate(const std::vector<std::string>& files, std::ostream& out);
/// Prints the schema `name` ("scenario" or "fault_plan"); exit 2 for another name.
int run_schema(const std::string& name, std::ostream& out);

}  // namespace destsim
