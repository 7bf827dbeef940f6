// validate.h — `destsim validate FILE…` and `destsim schema [NAME]`.
//
// validate checks files without running them, with the same loaders (and the
// same file-, path- and expectation-naming messages) as run, certify --spec
// and serve --faults: a scenario ("scenario": 2 or 1), a declarative spec
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
extern const char* const kSpecSchema;

/// Exit 0 when every file is valid (one "FILE: ok (…)" line each), 2 when one
/// is not (each error on stderr, naming the file and the JSON path).
int run_validate(const std::vector<std::string>& files, std::ostream& out);
/// Prints the schema `name` ("scenario", "fault_plan" or "spec"); exit 2 for another name.
int run_schema(const std::string& name, std::ostream& out);

/// `destsim migrate FILE…`: rewrites each version-1 scenario as version 2, in
/// place (crashes become crash events; keys, their order and everything else
/// stay as written). The rewrite is checked to mean the same scenario before it
/// replaces the file. `check` only reports which files need it (exit 1 if any).
/// Exit 0 done (a file already current is left alone), 2 on a file that does
/// not load.
int run_migrate(const std::vector<std::string>& files, bool check, std::ostream& out);

}  // namespace destsim
