// validate.cpp — `destsim validate` and `destsim schema` (see validate.h).
#include "tools/validate.h"

#include <cstdio>

#include "conformance/certify.h"
#include "conformance/scenario.h"
#include "fakes/fault_plan.h"
#include "framework/json_in.h"

namespace destsim {
namespace {

// What the file is, and its check: the loader that would read it for real.
Result<std::string> check(const std::string& file) {
  DS_TRY(nlohmann::json doc, read_json_file(file));
  if (doc.is_object() && doc.contains("scenario")) {
    DS_TRY(Scenario s, parse_scenario(doc, file));
    return "scenario \"" + s.name + "\" for " + s.destination;
  }
  if (doc.is_object() && doc.contains("spec")) {
    DS_TRY(DestinationEntry e, destination_from_spec_checked(doc, file));
    return "declarative spec \"" + e.name + "\" on the " + e.fake + " fake";
  }
  if (doc.is_array() || (doc.is_object() && doc.contains("rules"))) {
    DS_TRY(FaultPlan plan, FaultPlan::from_json(doc, file));
    const std::size_t n = doc.is_array() ? doc.size() : doc["rules"].size();
    return "fault plan of " + std::to_string(n) + " rule" + (n == 1 ? "" : "s");
  }
  return Error::bad_input(file + ": /: expected a scenario (\"scenario\": 1), a declarative spec (\"spec\": 1) or a "
                                 "fault plan (an array of rules, or {\"rules\": [...]}), got " + json_summary(doc));
}

}  // namespace

int run_validate(const std::vector<std::string>& files, std::ostream& out) {
  int code = kExitOk;
  for (const auto& f : files) {
    auto what = check(f);
    if (what.ok()) {
      out << f << ": ok (" << *what << ")\n";
      continue;
    }
    std::fprintf(stderr, "destsim: %s\n", what.error().message.c_str());
    code = std::max(code, exit_code_of(what.error()));
  }
  out.flush();
  return code;
}

int run_schema(const std::string& name, std::ostream& out) {
  if (name == "scenario") out << kScenarioSchema;
  else if (name == "fault_plan") out << kFaultPlanSchema;
  else {
    std::fprintf(stderr, "destsim: schema: unknown format \"%s\" (scenario, fault_plan)\n", name.c_str());
    return kExitUsage;
  }
  return kExitOk;
}

}  // namespace destsim
