// validate.cpp — `destsim validate` and `destsim schema` (see validate.h).
#include "tools/validate.h"

#include <cstdio>
#include <fstream>

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
    if (s.must_reject) {
      DS_CHECK(check_rejection(s));
      return "scenario \"" + s.name + "\", rejected at " + s.must_reject->path + " as it declares";
    }
    return "scenario \"" + s.name + "\" for " + s.destination + (s.version < kScenarioVersion ? " (version 1: `destsim migrate` rewrites it)" : "");
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
  return Error::bad_input(file + ": /: expected a scenario (\"scenario\": 2), a declarative spec (\"spec\": 1) or a "
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
  else if (name == "spec") out << kSpecSchema;
  else {
    std::fprintf(stderr, "destsim: schema: unknown format \"%s\" (scenario, fault_plan, spec)\n", name.c_str());
    return kExitUsage;
  }
  return kExitOk;
}

namespace {

// One file: the v2 document (ordered as written), or nullopt when it is current.
Result<std::optional<nlohmann::ordered_json>> migrated(const std::string& file) {
  DS_TRY(nlohmann::json doc, read_json_file(file));
  DS_TRY(Scenario before, parse_scenario(doc, file));
  if (before.version >= kScenarioVersion) return std::optional<nlohmann::ordered_json>();
  std::ifstream in(file, std::ios::binary);
  nlohmann::ordered_json out = nlohmann::ordered_json::parse(in, nullptr, false);
  if (out.is_discarded() || !out.is_object()) return Error::io(file + ": cannot read it again");
  if (before.must_reject) {
    // Kept as written but for the version: it must still be refused the same way.
    out["scenario"] = kScenarioVersion;
    DS_TRY(Scenario after, parse_scenario(nlohmann::json::parse(out.dump()), file));
    DS_CHECK(check_rejection(after));
    return std::optional<nlohmann::ordered_json>(std::move(out));
  }
  nlohmann::ordered_json result = nlohmann::ordered_json::object();
  for (auto it = out.begin(); it != out.end(); ++it) {
    if (it.key() == "scenario") {
      result["scenario"] = kScenarioVersion;
    } else if (it.key() == "crashes") {
      // {"at"|"step", "nth", "restart_after", "optional"} → {"at"|"step", "nth", "crash": {…}}
      nlohmann::ordered_json events = nlohmann::ordered_json::array();
      for (const auto& c : it.value()) {
        nlohmann::ordered_json e = nlohmann::ordered_json::object(), args = nlohmann::ordered_json::object();
        for (auto f = c.begin(); f != c.end(); ++f) {
          if (f.key() == "restart_after" || f.key() == "optional") args[f.key()] = f.value();
          else e[f.key()] = f.value();
        }
        e["crash"] = args;
        events.push_back(std::move(e));
      }
      result["events"] = std::move(events);
    } else {
      result[it.key()] = it.value();
    }
  }
  // The same scenario, read either way.
  DS_TRY(Scenario after, parse_scenario(nlohmann::json::parse(result.dump()), file));
  if (scenario_to_json(after, true) != scenario_to_json(before, true))
    return Error::internal(file + ": the version 2 rewrite would mean another scenario; left as it is");
  return std::optional<nlohmann::ordered_json>(std::move(result));
}

}  // namespace

int run_migrate(const std::vector<std::string>& files, bool check, std::ostream& out) {
  int code = kExitOk;
  for (const auto& f : files) {
    auto m = migrated(f);
    if (!m.ok()) {
      std::fprintf(stderr, "destsim: %s\n", m.error().message.c_str());
      code = std::max(code, exit_code_of(m.error()));
      continue;
    }
    if (!*m) {
      out << f << ": already version " << kScenarioVersion << "\n";
      continue;
    }
    if (check) {
      out << f << ": version 1, needs migrating\n";
      code = std::max(code, kExitFailed);
      continue;
    }
    // Write beside it, then rename over it: a crash leaves the old file or the new one.
    const std::string tmp = f + ".migrating";
    {
      std::ofstream w(tmp, std::ios::binary | std::ios::trunc);
      w << (*m)->dump(2) << "\n";
      w.flush();
      if (!w) {
        std::fprintf(stderr, "destsim: %s: cannot write %s\n", f.c_str(), tmp.c_str());
        std::remove(tmp.c_str());
        code = std::max(code, kExitUsage);
        continue;
      }
    }
    if (std::rename(tmp.c_str(), f.c_str()) != 0) {
      std::fprintf(stderr, "destsim: %s: cannot replace it with %s\n", f.c_str(), tmp.c_str());
      code = std::max(code, kExitUsage);
      continue;
    }
    out << f << ": migrated to version " << kScenarioVersion << "\n";
  }
  out.flush();
  return code;
}

}  // namespace destsim
