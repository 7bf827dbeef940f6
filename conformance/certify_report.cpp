// certify_report.cpp — how a certify run is reported: the terminal verdict
// table, the JSON report and JUnit XML (one testcase per destination x property).
#include <iomanip>
#include <ostream>
#include <sstream>

#include "conformance/certify.h"

namespace destsim {

nlohmann::json CertifyReport::to_json(bool timings) const {
  nlohmann::json j;
  j["seed"] = seed;
  j["shard"] = std::to_string(shard_index) + "/" + std::to_string(shard_count);
  j["certified"] = ok();
  j["destinations"] = nlohmann::json::array();
  for (const auto& d : destinations) {
    nlohmann::json dj = {{"name", d.name},   {"shipped", d.shipped}, {"certified", d.certified()},
                         {"cases", d.cases}, {"reached", d.reached}, {"unreached", d.unreached},
                         {"unreached_in_shard", d.unreached_in_shard}};
    if (timings) dj["wall_seconds"] = d.wall_seconds;
    nlohmann::json props = nlohmann::json::object();
    for (const auto& p : property_catalogue()) {
      auto it = d.properties.find(p.id);
      if (it == d.properties.end()) continue;
      const PropertyTally& t = it->second;
      std::string verdict = t.fail > 0 ? "fail" : t.pass > 0 ? "pass" : t.not_applicable > 0 ? "n/a" : "unchecked";
      props[p.id] = {{"verdict", verdict},         {"pass", t.pass},     {"fail", t.fail},
                     {"n/a", t.not_applicable},    {"unchecked", t.unchecked}, {"detail", t.detail},
                     {"detail_case", t.detail_case}};
    }
    dj["properties"] = props;
    nlohmann::json fails = nlohmann::json::array();
    for (const auto& f : d.failures) {
      nlohmann::json fj = {{"property", f.property},       {"case", f.index},
                           {"case_seed", f.case_seed},     {"detail", f.detail},
                           {"scenario", f.scenario_file},  {"records", f.records},
                           {"fault_rules", f.fault_rules}, {"shrink_steps", f.shrink_steps},
                           {"shrink_tries", f.shrink_tries}};
      if (timings) fj["shrink_seconds"] = f.shrink_seconds;
      fails.push_back(std::move(fj));
    }
    dj["failures"] = fails;
    j["destinations"].push_back(dj);
  }
  return j;
}

namespace {
std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') out += ' ';
        else out += c;
    }
  }
  return out;
}
}  // namespace

std::string CertifyReport::to_junit(bool timings) const {
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"destsim certify\">\n";
  for (const auto& d : destinations) {
    std::int64_t failures = 0, skipped = 0, tests = 0;
    for (const auto& [_, t] : d.properties) {
      ++tests;
      if (t.fail > 0) ++failures;
      else if (t.pass == 0) ++skipped;
    }
    if (!d.unreached.empty()) {
      ++tests;
      ++failures;
    }
    x << "  <testsuite name=\"" << xml_escape(d.name) << "\" tests=\"" << tests << "\" failures=\"" << failures
      << "\" skipped=\"" << skipped << "\"";
    if (timings) x << " time=\"" << d.wall_seconds << "\"";
    x << ">\n";
    for (const auto& p : property_catalogue()) {
      auto it = d.properties.find(p.id);
      if (it == d.properties.end()) continue;
      const PropertyTally& t = it->second;
      x << "    <testcase classname=\"" << xml_escape(d.name) << "\" name=\"" << p.id << " " << xml_escape(p.title)
        << "\">";
      if (t.fail > 0) x << "<failure message=\"" << xml_escape(t.detail) << "\"/>";
      else if (t.pass == 0) x << "<skipped message=\"" << xml_escape(t.detail) << "\"/>";
      x << "</testcase>\n";
    }
    if (!d.unreached.empty()) {
      std::string names;
      for (const auto& u : d.unreached) names += (names.empty() ? "" : ", ") + u;
      x << "    <testcase classname=\"" << xml_escape(d.name) << "\" name=\"reachability\"><failure message=\""
        << xml_escape("never reached: " + names) << "\"/></testcase>\n";
    }
    x << "  </testsuite>\n";
  }
  x << "</testsuites>\n";
  return x.str();
}

void print_certify_table(std::ostream& out, const CertifyReport& report, bool timings) {
  // One row per destination, one column per property: pass, FAIL, n/a or "-".
  std::size_t w = 11;
  for (const auto& d : report.destinations) w = std::max(w, d.name.size() + 1);
  out << std::string(w, ' ');
  for (const auto& p : property_catalogue()) out << (p.id.size() < 4 ? std::string(4 - p.id.size(), ' ') : "") << p.id << ' ';
  out << " cases  verdict\n";
  for (const auto& d : report.destinations) {
    out << d.name << std::string(w - d.name.size(), ' ');
    for (const auto& p : property_catalogue()) {
      auto it = d.properties.find(p.id);
      std::string cell = "-";
      if (it != d.properties.end()) {
        const PropertyTally& t = it->second;
        cell = t.fail > 0 ? "FAIL" : t.pass > 0 ? "ok" : t.not_applicable > 0 ? "n/a" : "-";
      }
      out << std::string(4 - std::min<std::size_t>(4, cell.size()), ' ') << cell << ' ';
    }
    out << ' ' << std::string(d.cases < 10 ? 5 : d.cases < 100 ? 4 : 3, ' ') << d.cases << "  "
        << (d.certified() ? "certified" : "NOT certified") << "\n";
  }
  for (const auto& d : report.destinations) {
    for (const auto& p : property_catalogue()) {
      auto it = d.properties.find(p.id);
      if (it == d.properties.end()) continue;
      const PropertyTally& t = it->second;
      if (t.fail > 0) out << d.name << " " << p.id << " " << p.title << ": FAIL (" << t.fail << " cases) — " << t.detail << "\n";
    }
    for (const auto& f : d.failures)
      if (!f.scenario_file.empty())
      {
        out << d.name << " " << f.property << ": minimal case (" << f.records << " records, " << f.fault_rules
            << " fault rules";
        if (timings) out << ", shrunk in " << static_cast<std::int64_t>(f.shrink_seconds * 1000) << " ms";
        out << "): destsim run " << f.scenario_file << "\n";
      }
    for (const auto& u : d.unreached)
      out << d.name << ": recovery path \"" << u << "\" is applicable but no case reached it\n";
    for (const auto& u : d.unreached_in_shard)
      out << d.name << ": recovery path \"" << u
          << "\" not reached in this shard (judge reachability on the sum of all shards' \"reached\")\n";
    // n/a, grouped by the capability that excludes them.
    std::map<std::string, std::string> na;
    for (const auto& p : property_catalogue()) {
      auto it = d.properties.find(p.id);
      if (it != d.properties.end() && it->second.fail == 0 && it->second.pass == 0 && it->second.not_applicable > 0)
        na[it->second.detail] += (na[it->second.detail].empty() ? "" : " ") + p.id;
    }
    for (const auto& [why, ids] : na) out << d.name << " n/a " << ids << " — " << why << "\n";
  }
  out << "seed: " << report.seed << " (rerun: destsim certify --seed " << report.seed;
  if (report.shard_count > 1) out << " --shard " << report.shard_index << "/" << report.shard_count;
  out << ")\n";
}

}  // namespace destsim
