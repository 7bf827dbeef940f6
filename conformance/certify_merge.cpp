// certify_merge.cpp — reading certify reports back, and merging the reports of
// the shards of one run into the report of the whole run (`certify --merge`).
//
// A shard runs the cases whose index % N == I; the whole run's report is a
// function of the cases, taken in index order. So the merge sums the counts,
// keeps for each property the detail of the earliest case (each tally says
// which case its detail is from), keeps for each property the failure of the
// earliest failing case (the one an unsharded run shrinks and writes; case
// generation depends on the seed and the index only), and reports as unreached
// the paths no shard reached.
#include <algorithm>
#include <map>
#include <set>

#include "conformance/certify.h"
#include "framework/json_in.h"

namespace destsim {

namespace {

Result<FailingCase> failing_case_from(const JsonIn& in) {
  DS_CHECK(in.only_keys({"property", "case", "case_seed", "detail", "scenario", "records", "fault_rules",
                         "shrink_seconds", "shrink_steps", "shrink_tries"}));
  FailingCase f;
  for (const char* k : {"property", "case", "case_seed", "detail", "scenario", "records", "fault_rules"})
    DS_CHECK(in.require(k));
  DS_TRY(f.property, in.at("property").string());
  DS_TRY(f.index, in.at("case").integer(0));
  if (!in.at("case_seed").json().is_number_unsigned() && !in.at("case_seed").json().is_number_integer())
    return in.at("case_seed").expected("the case seed (an unsigned integer)");
  f.case_seed = in.at("case_seed").json().get<std::uint64_t>();
  DS_TRY(f.detail, in.at("detail").string());
  DS_TRY(f.scenario_file, in.at("scenario").string());
  DS_TRY(f.records, in.at("records").integer(0));
  DS_TRY(f.fault_rules, in.at("fault_rules").integer(0));
  if (in.has("shrink_steps")) { DS_TRY(f.shrink_steps, in.at("shrink_steps").integer(0)); }
  if (in.has("shrink_tries")) { DS_TRY(f.shrink_tries, in.at("shrink_tries").integer(0)); }
  if (in.has("shrink_seconds")) {
    if (!in.at("shrink_seconds").json().is_number()) return in.at("shrink_seconds").expected("a number of seconds");
    f.shrink_seconds = in.at("shrink_seconds").json().get<double>();
  }
  return f;
}

Result<std::vector<std::string>> strings_of(const JsonIn& in) {
  DS_CHECK(in.array());
  std::vector<std::string> out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    DS_TRY(std::string s, in.at(i).string());
    out.push_back(std::move(s));
  }
  return out;
}

Result<DestinationReport> destination_from(const JsonIn& in) {
  DS_CHECK(in.only_keys({"name", "shipped", "certified", "cases", "wall_seconds", "reached", "unreached",
                         "unreached_in_shard", "properties", "failures"}));
  for (const char* k : {"name", "shipped", "cases", "reached", "unreached", "unreached_in_shard", "properties",
                        "failures"})
    DS_CHECK(in.require(k));
  DestinationReport d;
  DS_TRY(d.name, in.at("name").string());
  DS_TRY(d.shipped, in.at("shipped").boolean());
  DS_TRY(d.cases, in.at("cases").integer(0));
  if (in.has("wall_seconds")) {
    if (!in.at("wall_seconds").json().is_number()) return in.at("wall_seconds").expected("a number of seconds");
    d.wall_seconds = in.at("wall_seconds").json().get<double>();
  }
  JsonIn reached = in.at("reached");
  DS_CHECK(reached.object());
  for (auto it = reached.json().begin(); it != reached.json().end(); ++it) {
    DS_TRY(std::int64_t n, reached.at(it.key()).integer(0));
    d.reached[it.key()] = n;
  }
  DS_TRY(d.unreached, strings_of(in.at("unreached")));
  DS_TRY(d.unreached_in_shard, strings_of(in.at("unreached_in_shard")));
  JsonIn props = in.at("properties");
  DS_CHECK(props.object());
  std::set<std::string> known;
  for (const auto& p : property_catalogue()) known.insert(p.id);
  for (auto it = props.json().begin(); it != props.json().end(); ++it) {
    JsonIn p = props.at(it.key());
    if (!known.count(it.key())) return p.fail("not a property of this version's catalogue");
    DS_CHECK(p.only_keys({"verdict", "pass", "fail", "n/a", "unchecked", "detail", "detail_case"}));
    for (const char* k : {"pass", "fail", "n/a", "unchecked", "detail", "detail_case"}) DS_CHECK(p.require(k));
    PropertyTally t;
    DS_TRY(t.pass, p.at("pass").integer(0));
    DS_TRY(t.fail, p.at("fail").integer(0));
    DS_TRY(t.not_applicable, p.at("n/a").integer(0));
    DS_TRY(t.unchecked, p.at("unchecked").integer(0));
    DS_TRY(t.detail, p.at("detail").string());
    DS_TRY(t.detail_case, p.at("detail_case").integer(-1));
    d.properties[it.key()] = std::move(t);
  }
  JsonIn fails = in.at("failures");
  DS_CHECK(fails.array());
  for (std::size_t i = 0; i < fails.size(); ++i) {
    DS_TRY(FailingCase f, failing_case_from(fails.at(i)));
    d.failures.push_back(std::move(f));
  }
  return d;
}

std::size_t catalogue_position(const std::string& id) {
  const auto& c = property_catalogue();
  for (std::size_t i = 0; i < c.size(); ++i)
    if (c[i].id == id) return i;
  return c.size();
}

}  // namespace

Result<CertifyReport> certify_report_from_json(const nlohmann::json& j, const std::string& where) {
  JsonIn in(j, where);
  DS_CHECK(in.object());
  DS_CHECK(in.only_keys({"seed", "shard", "certified", "destinations"}));
  for (const char* k : {"seed", "shard", "destinations"}) DS_CHECK(in.require(k));
  CertifyReport r;
  if (!in.at("seed").json().is_number_unsigned() && !in.at("seed").json().is_number_integer())
    return in.at("seed").expected("the run's seed (an unsigned integer)");
  r.seed = in.at("seed").json().get<std::uint64_t>();
  DS_TRY(std::string shard, in.at("shard").string());
  const auto slash = shard.find('/');
  char* end = nullptr;
  if (slash != std::string::npos) {
    r.shard_index = std::strtoll(shard.c_str(), &end, 10);
    if (end == shard.c_str() + slash) r.shard_count = std::strtoll(shard.c_str() + slash + 1, &end, 10);
  }
  if (slash == std::string::npos || *end != '\0' || r.shard_count < 1 || r.shard_index < 0 ||
      r.shard_index >= r.shard_count)
    return in.at("shard").expected("\"I/N\" with 0 <= I < N");
  JsonIn dests = in.at("destinations");
  DS_CHECK(dests.array());
  for (std::size_t i = 0; i < dests.size(); ++i) {
    DS_TRY(DestinationReport d, destination_from(dests.at(i)));
    r.destinations.push_back(std::move(d));
  }
  return r;
}

Result<CertifyReport> merge_certify_reports(const std::vector<CertifyReport>& shards,
                                            const std::vector<std::string>& names) {
  if (shards.empty()) return Error::bad_input("--merge: no reports to merge");
  const CertifyReport& first = shards.front();
  const std::int64_t n = first.shard_count;
  std::map<std::int64_t, std::string> by_index;
  for (std::size_t s = 0; s < shards.size(); ++s) {
    const CertifyReport& r = shards[s];
    if (r.seed != first.seed)
      return Error::bad_input(names[s] + ": seed " + std::to_string(r.seed) + ", but " + names[0] + " has seed " +
                              std::to_string(first.seed) + " (shards of one run share its seed)");
    if (r.shard_count != n)
      return Error::bad_input(names[s] + ": shard " + std::to_string(r.shard_index) + "/" +
                              std::to_string(r.shard_count) + ", but " + names[0] + " is one of " + std::to_string(n));
    if (auto [it, fresh] = by_index.emplace(r.shard_index, names[s]); !fresh)
      return Error::bad_input(names[s] + ": shard " + std::to_string(r.shard_index) + "/" + std::to_string(n) +
                              " again (also " + it->second + ")");
    if (r.destinations.size() != first.destinations.size())
      return Error::bad_input(names[s] + ": " + std::to_string(r.destinations.size()) + " destinations, but " +
                              names[0] + " has " + std::to_string(first.destinations.size()));
    for (std::size_t i = 0; i < r.destinations.size(); ++i)
      if (r.destinations[i].name != first.destinations[i].name)
        return Error::bad_input(names[s] + ": destination " + std::to_string(i) + " is " + r.destinations[i].name +
                                ", but in " + names[0] + " it is " + first.destinations[i].name);
  }
  std::string missing;
  for (std::int64_t i = 0; i < n; ++i)
    if (!by_index.count(i)) missing += (missing.empty() ? "" : ", ") + std::to_string(i) + "/" + std::to_string(n);
  if (!missing.empty()) return Error::bad_input("--merge: the reports lack shard " + missing);

  CertifyReport out;
  out.seed = first.seed;
  for (std::size_t i = 0; i < first.destinations.size(); ++i) {
    DestinationReport d;
    d.name = first.destinations[i].name;
    d.shipped = first.destinations[i].shipped;
    std::map<std::string, FailingCase> first_failure;
    for (const CertifyReport& r : shards) {
      const DestinationReport& sd = r.destinations[i];
      d.cases += sd.cases;
      d.wall_seconds += sd.wall_seconds;
      for (const auto& [key, count] : sd.reached) d.reached[key] += count;
      for (const auto& [id, t] : sd.properties) {
        PropertyTally& m = d.properties[id];
        // The detail an unsharded run keeps: the earliest failure, else the
        // earliest n/a or unchecked reason.
        const bool take = !t.detail.empty() &&
                          ((t.fail > 0 && (m.fail == 0 || t.detail_case < m.detail_case)) ||
                           (t.fail == 0 && m.fail == 0 && (m.detail.empty() || t.detail_case < m.detail_case)));
        if (take) m.detail = t.detail, m.detail_case = t.detail_case;
        m.pass += t.pass;
        m.fail += t.fail;
        m.not_applicable += t.not_applicable;
        m.unchecked += t.unchecked;
      }
      for (const FailingCase& f : sd.failures) {
        auto it = first_failure.find(f.property);
        if (it == first_failure.end() || f.index < it->second.index) first_failure[f.property] = f;
      }
    }
    for (auto& [_, f] : first_failure) d.failures.push_back(f);
    // In the order an unsharded run writes them: by case, then catalogue order.
    std::sort(d.failures.begin(), d.failures.end(), [](const FailingCase& a, const FailingCase& b) {
      return a.index != b.index ? a.index < b.index : catalogue_position(a.property) < catalogue_position(b.property);
    });
    // Unreached by the whole run: unreached in every shard (each lists, in the
    // order the run requires them, the paths its own cases missed).
    for (const auto& p : shards.front().destinations[i].unreached_in_shard) {
      bool everywhere = true;
      for (const CertifyReport& r : shards) {
        const auto& u = r.destinations[i].unreached_in_shard;
        everywhere = everywhere && std::find(u.begin(), u.end(), p) != u.end();
      }
      if (everywhere) d.unreached.push_back(p);
    }
    if (n == 1) d.unreached = first.destinations[i].unreached;
    out.destinations.push_back(std::move(d));
  }
  return out;
}

}  // namespace destsim
