// The declarative destination: spec validation (errors name the JSON path),
// template rendering, the shipped specs, end-to-end runs in both result modes,
// and a fresh manager following an import from its stored ImportRef alone.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "conformance/testing.h"
#include "conformance/runner.h"
#include "destinations/bulk_destination.h"
#include "destinations/declarative/declarative.h"
#include "fakes/async_job/async_job_api.h"
#include "fakes/sim_transport.h"
#include "framework/oracle.h"

namespace destsim {
namespace {

using namespace testing;  // conformance/testing.h

nlohmann::json shipped(const std::string& name) {
  return nlohmann::json::parse(declarative_shipped_specs().at(name));
}

// The error of a spec edited by `edit`, or "" when it is valid.
std::string spec_error(const std::function<void(nlohmann::json&)>& edit,
                       const std::string& base = "sendgrid_contacts_import") {
  nlohmann::json s = shipped(base);
  edit(s);
  Status st = check_declarative_spec(s, "spec.json");
  return st.ok() ? "" : st.error().message;
}

#define EXPECT_HAS(haystack, needle) EXPECT_NE((haystack).find(needle), std::string::npos) << (haystack)

TEST(DeclarativeSpec, ShippedSpecsAreValidAndMatchTheirFiles) {
  const std::string dir = std::string(DESTSIM_SOURCE_DIR) + "/destinations/declarative/specs/";
  ASSERT_EQ(declarative_shipped_specs().size(), 3u);
  for (const auto& [name, text] : declarative_shipped_specs()) {
    Status st = check_declarative_spec(nlohmann::json::parse(text), name);
    EXPECT_TRUE(st.ok()) << st.error().message;
    std::ifstream f(dir + name + ".json");
    ASSERT_TRUE(f.good()) << dir + name + ".json";
    std::stringstream ss;
    ss << f.rdbuf();
    EXPECT_EQ(nlohmann::json::parse(ss.str()), nlohmann::json::parse(text)) << name << " differs from its file";
  }
}

TEST(DeclarativeSpec, ErrorsNameTheJsonPathAndWhatWasExpected) {
  EXPECT_HAS(spec_error([](auto& s) { s["polling"]["status_mapping"]["completed"] = "ready"; }),
             "spec.json: /polling/status_mapping/completed: expected a non-empty array of strings");
  EXPECT_HAS(spec_error([](auto& s) { s["polling"]["status_mapping"]["running"] = {"pending", "ready"}; }),
             "spec.json: /polling/status_mapping/running/1: status \"ready\" is already mapped to completed");
  EXPECT_HAS(spec_error([](auto& s) { s["polling"]["status_mapping"].erase("running"); }), "running");
  EXPECT_HAS(spec_error([](auto& s) { s["polling"]["status_mapping"]["done"] = {"x"}; }), "done");
  EXPECT_HAS(spec_error([](auto& s) { s["creation"].erase("id_extractor"); }), "/creation");
  EXPECT_HAS(spec_error([](auto& s) { s["creation"]["id_extractor"] = "id"; }),
             "spec.json: /creation/id_extractor: expected an extractor");
  EXPECT_HAS(spec_error([](auto& s) { s["creation"]["headers"]["Authorization"] = "Bearer {{config.token}}"; }),
             "spec.json: /creation/headers/Authorization: {{config.token}}: config key \"token\" is not declared");
  EXPECT_HAS(spec_error([](auto& s) { s["creation"]["body"] = {{"contacts", "[{{records}}]"}}; }),
             "spec.json: /creation/body: expected \"{{records}}\" exactly once");
  EXPECT_HAS(spec_error([](auto& s) { s["creation"]["body"] = {{"contacts", {}}}; }), "exactly once");
  EXPECT_HAS(spec_error([](auto& s) { s["polling"]["path"] = "/v3/x/{{records}}"; }),
             "spec.json: /polling/path: {{records}}: unknown root \"records\"");
  EXPECT_HAS(spec_error([](auto& s) { s["polling"]["path"] = "/v3/x/{{creation_response.id"; }),
             "spec.json: /polling/path: template \"/v3/x/{{creation_response.id\": \"{{\" without a closing");
  EXPECT_HAS(spec_error([](auto& s) { s["polling"]["path"] = "v3/x"; }), "spec.json: /polling/path: expected a path");
  EXPECT_HAS(spec_error([](auto& s) { s["polling"]["unknown_status"] = "ignore"; }),
             "spec.json: /polling/unknown_status: expected \"failed\" or \"transient\"");
  // CSV bodies, queries, synchronous counts, fakes and effects.
  EXPECT_HAS(spec_error([](auto& s) { s["creation"].erase("columns"); }, "lytics_bulk_upload"),
             "spec.json: /creation: ");
  EXPECT_HAS(spec_error([](auto& s) { s["creation"]["body"] = {{"rows", "{{records}}"}}; }, "lytics_bulk_upload"),
             "spec.json: /creation/body: a CSV body is built from \"columns\"");
  EXPECT_HAS(spec_error([](auto& s) { s["creation"]["columns"] = {"email", "email"}; }, "lytics_bulk_upload"),
             "spec.json: /creation/columns/1: expected a non-empty column name, each once");
  EXPECT_HAS(spec_error([](auto& s) { s["creation"]["delimiter"] = ";;"; }, "lytics_bulk_upload"),
             "spec.json: /creation/delimiter: expected one character");
  EXPECT_HAS(spec_error([](auto& s) { s["creation"]["columns"] = {"email"}; }),
             "spec.json: /creation/columns: \"columns\" needs \"body_format\": \"csv\"");
  EXPECT_HAS(spec_error([](auto& s) { s["creation"]["id_extractor"] = {"id"}; }, "lytics_bulk_upload"),
             "spec.json: /creation/id_extractor: a synchronous spec (results mode \"counts\") has no job id");
  EXPECT_HAS(spec_error([](auto& s) { s["polling"] = shipped("sendgrid_contacts_import")["polling"]; },
                        "lytics_bulk_upload"),
             "spec.json: /polling: a synchronous spec (results mode \"counts\") polls nothing");
  EXPECT_HAS(spec_error([](auto& s) { s["results"].erase("accepted_extractor"); }, "lytics_bulk_upload"),
             "spec.json: /results");
  EXPECT_HAS(spec_error([](auto& s) { s["creation"]["query"]["x"] = 7; }, "lytics_bulk_upload"),
             "spec.json: /creation/query/x: expected a query value template");
  EXPECT_HAS(spec_error([](auto& s) { s["creation"]["path"] = "/collect/bulk/x?y=1"; }, "lytics_bulk_upload"),
             "spec.json: /creation/path: expected no query in the path");
  EXPECT_HAS(spec_error([](auto& s) { s["creation"]["query"]["ts"] = "{{config.nope}}"; }, "lytics_bulk_upload"),
             "spec.json: /creation/query/ts: {{config.nope}}: config key \"nope\" is not declared");
  EXPECT_HAS(spec_error([](auto& s) { s.erase("effect"); }, "lytics_bulk_upload"),
             "a spec on fake \"lytics\" needs an \"effect\"");
  EXPECT_HAS(spec_error([](auto& s) { s["effect"]["item"] = {{"r", "{{records}}"}}; }, "lytics_bulk_upload"),
             "spec.json: /effect/item/r: {{records}}: unknown root \"records\"");
  EXPECT_HAS(spec_error([](auto& s) { s["effect"] = {{"key", "async_job.record"}, {"item", {{"r", "{{row}}"}}}}; }),
             "spec.json: /effect/item/r: {{row}}: unknown root \"row\"");
  EXPECT_HAS(spec_error([](auto& s) { s["results"]["mode"] = "rows"; }),
             "spec.json: /results/mode: expected \"job\", \"record\" or \"counts\"");
  EXPECT_HAS(spec_error([](auto& s) { s["results"].erase("success"); }, "record_results_import"), "/results");
  EXPECT_HAS(spec_error([](auto& s) { s["results"]["match_by"] = "guess"; }, "record_results_import"),
             "spec.json: /results/match_by: expected \"index\", \"position\" or \"field\"");
  EXPECT_HAS(spec_error([](auto& s) { s["bulk"]["poll_interval"] = 10; }), "spec.json: /bulk/poll_interval");
  EXPECT_HAS(spec_error([](auto& s) { s["bulk"]["poll_timeout"] = "1s"; }), "poll_timeout");
  EXPECT_HAS(spec_error([](auto& s) { s["limits"]["bytes_max"] = "lots"; }), "spec.json: /limits/bytes_max");
  EXPECT_HAS(spec_error([](auto& s) { s["retryable_statuses"] = {429, 700}; }),
             "spec.json: /retryable_statuses/1: expected an integer in");
  EXPECT_HAS(spec_error([](auto& s) { s["config"]["api_key"]["type"] = "password"; }),
             "spec.json: /config/api_key/type: expected \"secret\", \"string\", \"integer\" or \"boolean\"");
  EXPECT_HAS(spec_error([](auto& s) { s["statuses"] = 1; }), "statuses");
  EXPECT_HAS(spec_error([](auto& s) { s["spec"] = 2; }), "spec.json: /spec: expected spec format version 1");
  EXPECT_HAS(spec_error([](auto& s) { s.erase("host"); }), "host");
  EXPECT_EQ(spec_error([](auto&) {}), "");
}

TEST(DeclarativeSpec, EntryFromSpecTakesItsNameKeysAndCapabilities) {
  nlohmann::json s = shipped("sendgrid_contacts_import");
  s["name"] = "acme_jobs";
  s["idempotent"] = true;
  s["config"]["list_id"] = {{"type", "string"}, {"default", "L1"}};
  s["creation"]["headers"]["X-List"] = "{{config.list_id}}";
  s["bulk"]["imports_in_flight"] = 4;
  auto e = declarative_entry_from_spec(s, "acme.json");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->name, "acme_jobs");
  EXPECT_EQ(e->fake, "async_job");
  EXPECT_TRUE(e->capabilities.bulk);
  EXPECT_TRUE(e->capabilities.idempotent_writes);
  EXPECT_EQ(e->capabilities.delivery, DeliverySemantics::exactly_once);
  EXPECT_EQ(e->capabilities.import_concurrency, 4);
  EXPECT_EQ(e->capabilities.limits.records_max, 10000);
  bool list_id = false;
  for (const auto& k : e->schema) list_id |= k.name == "list_id";
  EXPECT_TRUE(list_id);
  EXPECT_FALSE(declarative_entry_from_spec(nlohmann::json::array(), "bad.json").ok());

  const DestinationEntry* reg = find_destination("declarative");
  ASSERT_NE(reg, nullptr);
  EXPECT_EQ(reg->capabilities.delivery, DeliverySemantics::at_least_once);  // job-level, not idempotent
  EXPECT_FALSE(reg->capabilities.idempotent_writes);
  EXPECT_EQ(reg->capabilities.retryable_statuses, (std::vector<int>{408, 429, 500, 502, 503, 504}));
}

// The default record template ("{{record.payload}}") keys a record's effect
// straight from its payload; a template spelling the same item out member by
// member goes through the renderer. Both give the same key, and both refuse a
// record missing a required field (no effect).
TEST(DeclarativeSpec, PayloadItemKeysAsTheRenderedItemDoes) {
  const nlohmann::json plain = shipped("sendgrid_contacts_import");
  nlohmann::json spelled = plain;
  spelled["record"]["template"] = {{"email", "{{record.payload.email}}"},
                                   {"first_name", "{{record.payload.first_name}}"},
                                   {"external_id", "{{record.payload.external_id}}"}};
  auto a = declarative_entry_from_spec(plain, "plain.json");
  auto b = declarative_entry_from_spec(spelled, "spelled.json");
  ASSERT_TRUE(a.ok() && b.ok());
  auto config = Config::resolve(nlohmann::json{{"api_key", {{"secret", "k"}}}}, "plain", a->schema);
  ASSERT_TRUE(config.ok()) << config.error().message;
  Record r;
  r.id = 7;
  r.stream = "contacts";
  r.payload = {{"email", "ada@example.com"}, {"first_name", "Ada \u00e9\"q"}, {"external_id", "rec-7"}};
  const auto fast = a->effects(r, *config);
  ASSERT_EQ(fast.size(), 1u);
  EXPECT_EQ(fast, b->effects(r, *config));
  r.payload.erase("email");  // required by the spec
  EXPECT_TRUE(a->effects(r, *config).empty());
  EXPECT_TRUE(b->effects(r, *config).empty());
}

TEST(DeclarativeTemplate, EmbedsWholeValuesAndInterpolatesText) {
  nlohmann::json ctx = {{"config", {{"api_key", "sk"}, {"n", 7}}},
                        {"records", {{{"email", "a@x.io"}}}},
                        {"creation_response", {{"job", {{"id", "j-1"}, {"parts", {"p0", "p1"}}}}}}};
  auto r = render_declarative_template(
      {{"contacts", "{{records}}"},
       {"auth", "Bearer {{ config.api_key }}"},
       {"count", "{{config.n}}"},
       {"path", "/jobs/{{creation_response.job.id}}/parts/{{creation_response.job.parts.1}}?n={{config.n}}"},
       {"literal", 3}},
      ctx, "t");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["contacts"], ctx["records"]);  // the array itself, not its text
  EXPECT_EQ((*r)["auth"], "Bearer sk");
  EXPECT_EQ((*r)["count"], 7);  // a whole-string expression keeps its type
  EXPECT_EQ((*r)["path"], "/jobs/j-1/parts/p1?n=7");
  EXPECT_EQ((*r)["literal"], 3);
  auto missing = render_declarative_template({{"a", {{"b", "x{{creation_response.nope}}"}}}}, ctx, "t");
  ASSERT_FALSE(missing.ok());
  EXPECT_HAS(missing.error().message, "t: /a/b: template \"x{{creation_response.nope}}\": no value for "
                                      "{{creation_response.nope}}");
}

TEST(DeclarativeEndToEnd, JobLevelCleanRunDeliversEverythingOnce) {
  Scenario s = scenario(R"({"scenario": 1, "name": "clean", "seed": 11,
    "destination": {"name": "declarative", "config": {"api_key": {"secret": "sg-secret"}, "records_max": 40}},
    "input": {"generate": {"records": 150}, "pace": "100ms"},
    "expect": {"jobs": {"succeeded": 150, "failed": 0, "aborted": 0}, "within": "10m",
               "properties": ["A1", "A2", "A3", "A4", "B1", "G1", "H1", "I1"],
               "fake": {"/records_applied": 150, "/jobs_created": 4}}})");
  Outcome o = run(s);
  EXPECT_EQ(o.destination_stats["uploads"], 4);
  EXPECT_LE(o.destination_stats["imports_in_flight_max"].get<int>(), 2);  // the spec's concurrency
  EXPECT_EQ(all_lines(o).find("sg-secret"), std::string::npos);          // the secret never reaches the trace
}

TEST(DeclarativeEndToEnd, RecordLevelResultsFailOnlyTheInvalidRecords) {
  Scenario s = scenario(R"({"scenario": 1, "name": "records", "seed": 3,
    "destination": {"name": "declarative",
                    "config": {"api_key": "k", "spec_name": "record_results_import", "records_max": 25}},
    "input": {"generate": {"records": 100, "invalid": "1/5"}},
    "expect": {"within": "10m", "properties": ["A1", "A2", "A3", "A4", "B1", "G1", "I1"]}})");
  Outcome o = run(s);
  JobCounts c = o.jobs().counts();
  EXPECT_EQ(c.total(), 100u);
  EXPECT_GT(c.failed, 8u);
  EXPECT_LT(c.failed, 35u);
  EXPECT_EQ(c.aborted, 0u);
  for (std::int64_t i = 0; i < 100; ++i) {
    Record r = o.record(i);
    JobOutcome out = o.jobs().outcome(r.id);
    bool invalid = r.payload["email"].get<std::string>().find('@') == std::string::npos;
    EXPECT_EQ(out.state, invalid ? JobState::failed : JobState::succeeded) << r.id;
    if (invalid) EXPECT_HAS(out.reason, "invalid email");
  }
  EXPECT_EQ(o.fake().accepted()["jobs_created"], 4);  // nothing was re-uploaded
}

TEST(DeclarativeEndToEnd, UnknownStatusTransientModePollsUntilTheTimeout) {
  nlohmann::json spec = shipped("sendgrid_contacts_import");
  spec["polling"]["unknown_status"] = "transient";
  nlohmann::json doc = {
      {"scenario", 1},
      {"name", "transient"},
      {"destination",
       {{"name", "declarative"}, {"config", {{"api_key", "k"}, {"spec", spec}, {"poll_timeout", "3m"}}}}},
      {"fake", {{"options", {{"status_values", {{"ready", "exploded"}}}}}}},
      {"input", {{"generate", {{"records", 4}}}}},
      {"expect", {{"jobs", {{"aborted", 4}, {"unknown", 4}}}, {"properties", {"A1", "A2", "A4"}}}}};
  auto s = parse_scenario(doc, "test");
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto o = run_scenario(*s);
  ASSERT_TRUE(o.ok()) << o.error().message;
  Judgement j = judge(*s, *o);
  for (const auto& f : j.failures) ADD_FAILURE() << f;
  EXPECT_HAS(o->jobs().outcome(1).reason, "poll timeout");
  EXPECT_GE(o->destination_stats["poll_faults"].get<int>(), 10);  // the unknown status, every poll after 30s
}

TEST(DeclarativeEndToEnd, CreationErrorsAreClassified) {
  // 503 twice then success: retried; 400: failed with the API's message.
  Scenario retry = scenario(R"({"scenario": 1, "name": "503",
    "destination": {"name": "declarative", "config": {"api_key": "k", "retry_delay_initial": "1s"}},
    "input": {"generate": {"records": 5}},
    "faults": [{"match": {"method": "POST"}, "times": 2, "respond": {"status": 503, "headers": {"Retry-After": "20"}}}],
    "expect": {"jobs": {"succeeded": 5}, "requests": {"by_status": {"503": 2}}, "properties": ["A1", "A2", "I1"]}})");
  auto a = run_scenario(retry);
  ASSERT_TRUE(a.ok());
  for (const auto& f : judge(retry, *a).failures) ADD_FAILURE() << f;

  Scenario bad = scenario(R"({"scenario": 1, "name": "401",
    "destination": {"name": "declarative", "config": {"api_key": "wrong"}},
    "fake": {"options": {"api_key": "right"}},
    "input": {"generate": {"records": 3}},
    "expect": {"jobs": {"failed": 3}, "requests": 1,
               "job": {"2": {"state": "failed", "reason_contains": "HTTP 401: authorization required"}}}})");
  auto b = run_scenario(bad);
  ASSERT_TRUE(b.ok());
  for (const auto& f : judge(bad, *b).failures) ADD_FAILURE() << f;

  Scenario missing = scenario(R"({"scenario": 1, "name": "no email",
    "destination": {"name": "declarative", "config": {"api_key": "k"}},
    "input": {"records": [{"id": 1, "payload": {"name": "x"}}, {"id": 2, "payload": {"email": "a@x.io"}}]},
    "expect": {"job": {"1": {"state": "failed", "reason_contains": "record 1: needs the field \"email\""},
                       "2": "succeeded"}}})");
  auto c = run_scenario(missing);
  ASSERT_TRUE(c.ok());
  for (const auto& f : judge(missing, *c).failures) ADD_FAILURE() << f;
}

// Lytics: a synchronous API on the bulk path, as a spec. A gzipped CSV per
// upload, the counts in the answer deciding each job.
std::string lytics_scenario(const std::string& extra_config, const std::string& faults, const std::string& expect,
                            int records = 5) {
  return R"({"scenario": 2, "name": "lytics", "seed": 21,
    "destination": {"name": "lytics_bulk_upload", "config": {"api_key": {"secret": "ly-secret"})" + extra_config + R"(}},
    "faults": )" + faults + R"(,
    "input": {"generate": {"records": )" + std::to_string(records) + R"(, "odd_text": true}},
    "expect": )" + expect + "}";
}

TEST(DeclarativeLytics, GzippedCsvUploadsDeliverEveryRowOnceByTheCounts) {
  Scenario s = scenario(lytics_scenario(R"(, "records_max": 100)", "[]",
                                        R"({"jobs": {"succeeded": 300}, "fake": {"/streams/destsim": 300},
                                            "properties": ["A1", "A2", "A3", "A4", "A5", "B1", "C1", "G1", "H1", "I1"]})",
                                        300));
  Outcome o = run(s);
  const nlohmann::json acc = o.fake().accepted();
  ASSERT_EQ(acc["uploads"].size(), 3u) << acc.dump();
  for (const auto& u : acc["uploads"]) {
    EXPECT_EQ(u["gzip"], true);
    EXPECT_EQ(u["droperrors"], false);  // the spec's constant query parameter
    EXPECT_EQ(u["host"], "bulk.lytics.io");
  }
  EXPECT_EQ(all_lines(o).find("ly-secret"), std::string::npos);
  // No poll: the answer decided each job.
  EXPECT_EQ(o.destination_stats["polls"], 0);
}

TEST(DeclarativeLytics, RejectedRowsAreNeverReportedDelivered) {
  // The API took the file, then answered that it took 3 of its 5 rows and
  // says nothing of which: none is reported delivered, none is sent twice
  // (rows are events).
  Scenario some = scenario(lytics_scenario("", R"([{"match": {"method": "POST"}, "times": 1, "respond": {"status": 200, "after": true,
      "json": {"status": 200, "message": "success", "data": {"message_count": 3, "rejected_count": 2}}}}])",
                                           R"({"jobs": {"succeeded": 0, "aborted": 5, "unknown": 5},
                                               "properties": ["A1", "A2", "A3", "A4", "A5", "C1"]})"));
  Outcome o = run(some);
  EXPECT_HAS(o.jobs().outcome(1).reason, "the API took 3 and refused 2 of the 5 rows sent; which ones is unknown");
  // Every row refused: a known failure of each.
  Scenario all = scenario(lytics_scenario("", R"([{"match": {"method": "POST"}, "times": 1, "respond": {"status": 200,
      "json": {"status": 200, "message": "success", "data": {"message_count": 0, "rejected_count": 5}}}}])",
                                          R"({"jobs": {"failed": 5}, "properties": ["A1", "A2", "A4", "C1"]})"));
  Outcome a = run(all);
  EXPECT_EQ(a.jobs().outcome(1).kind, ReasonKind::rejected_by_api);
  // A success (the file taken) without readable counts: ended outcome unknown.
  Scenario none = scenario(lytics_scenario("", R"([{"match": {"method": "POST"}, "times": 1, "respond": {"status": 200, "after": true,
      "json": {"status": 200, "message": "success"}}}])",
                                           R"({"jobs": {"aborted": 5, "unknown": 5}, "properties": ["A1", "A2", "A4"]})"));
  Outcome n = run(none);
  EXPECT_HAS(n.jobs().outcome(1).reason, "without readable counts at /data/message_count and /data/rejected_count");
}

TEST(DeclarativeLytics, QueryValuesAreRenderedAndAnEmptyOneIsLeftOut) {
  // timestamp_field names a column that holds no time: the API refuses the
  // whole file (droperrors=false) naming the row — the parameter reached it.
  Scenario s = scenario(lytics_scenario(R"(, "timestamp_field": "email")", "[]",
                                        R"({"jobs": {"failed": 5}, "properties": ["A1", "A2", "A4", "C1"]})"));
  Outcome o = run(s);
  EXPECT_HAS(o.jobs().outcome(1).reason, "HTTP 400");
  EXPECT_HAS(o.jobs().outcome(1).reason, "row 1");
}

TEST(DeclarativeConfig, BadConfigIsAnErrorNamingTheKey) {
  const DestinationEntry* e = find_destination("declarative");
  ASSERT_NE(e, nullptr);
  SimClock clock;
  Loop loop(clock, LoopOptions{.seed = 1});
  SimTransport transport(loop);
  MemoryJobStore jobs;
  DeliveryContext ctx{loop, transport, jobs};
  auto make = [&](const nlohmann::json& doc) -> std::string {
    auto config = Config::resolve(doc, "declarative", e->schema);
    if (!config.ok()) return config.error().message;
    auto d = e->make(ctx, *config);
    return d.ok() ? "" : d.error().message;
  };
  EXPECT_HAS(make({{"records_max", 5}}), "missing required key \"api_key\"");
  EXPECT_HAS(make({{"api_key", "k"}, {"spec_name", "nope"}}), "spec_name: expected one of lytics_bulk_upload, record_results_import");
  EXPECT_HAS(make({{"api_key", "k"}, {"spec_file", "/nonexistent/spec.json"}}), "/nonexistent/spec.json");
  nlohmann::json bad = shipped("sendgrid_contacts_import");
  bad["polling"]["status_mapping"]["completed"] = nlohmann::json::array();
  EXPECT_HAS(make({{"api_key", "k"}, {"spec", bad}}),
             "config: /spec/polling/status_mapping/completed: expected a non-empty array of strings");
  nlohmann::json extra = shipped("sendgrid_contacts_import");
  extra["config"]["list_id"] = {{"type", "string"}};
  extra["creation"]["headers"]["X-List"] = "{{config.list_id}}";
  EXPECT_HAS(make({{"api_key", "k"}, {"spec", extra}}), "missing \"list_id\"");
  EXPECT_EQ(make({{"api_key", "k"}, {"spec", extra}, {"vars", {{"list_id", "L7"}}}}), "");
  EXPECT_EQ(make({{"api_key", "k"}}), "");
}

// A fresh manager (as after a crash and restart) follows an import from the
// stored ImportRef alone, and maps per-record results back to the right jobs.
TEST(DeclarativeRestart, FreshManagerPollsAndMapsResultsFromTheImportRef) {
  AsyncJobApiOptions fo;
  fo.api_key = "k";
  fo.record_results = true;
  AsyncJobApi api(fo);
  SimRig rig("declarative", api);
  rig.transport.route("api.sendgrid.com", &api);  // the spec's host
  Loop& loop = rig.loop;
  const nlohmann::json config = {{"api_key", "k"}, {"spec_name", "record_results_import"}};

  std::vector<Record> records;
  for (int i = 0; i < 3; ++i) {
    Record r;
    r.id = static_cast<JobId>(100 + i);
    r.payload = {{"email", i == 1 ? std::string("broken") : "p" + std::to_string(i) + "@x.io"}};
    records.push_back(r);
  }
  nlohmann::json stored;  // the ImportRef as the job store would keep it
  {
    auto first = rig.make(config);
    ASSERT_TRUE(first);
    auto& manager = static_cast<BulkDestination&>(*first).manager();
    std::vector<BulkItem> items;
    for (const auto& r : records) {
      auto item = manager.transform(r);
      ASSERT_TRUE(item.ok());
      items.push_back(*item);
    }
    loop.spawn([](AsyncDestinationManager& m, std::vector<BulkItem> its, nlohmann::json& out) -> Task<void> {
      std::vector<const BulkItem*> view;
      for (const auto& it : its) view.push_back(&it);
      UploadOutcome up = co_await m.upload(view);
      EXPECT_EQ(up.kind, UploadOutcome::Kind::importing) << up.reason;
      out = {{"import_id", up.import.import_id}, {"jobs", up.import.jobs}, {"params", up.import.params}};
    }(manager, items, stored));
    ASSERT_TRUE(loop.run_until_idle().ok());
  }  // the first manager is gone
  ASSERT_EQ(stored["import_id"], "job-000001");
  EXPECT_EQ(stored["params"]["creation_response"], nlohmann::json({{"id", "job-000001"}}));

  ImportRef ref;
  ref.import_id = stored["import_id"].get<std::string>();
  ref.jobs = stored["jobs"].get<std::vector<JobId>>();
  ref.params = nlohmann::json::parse(stored["params"].dump());
  auto fresh = rig.make(config);
  ASSERT_TRUE(fresh);
  auto& manager = static_cast<BulkDestination&>(*fresh).manager();
  std::vector<ImportStatus> polls;
  StatsOutcome stats;
  loop.spawn([](Loop& l, AsyncDestinationManager& m, ImportRef r, std::vector<ImportStatus>& ps,
                StatsOutcome& st) -> Task<void> {
    PollOutcome p = co_await m.poll(r);
    ps.push_back(p.status);
    co_await l.sleep(std::chrono::seconds(40));
    p = co_await m.poll(r);
    ps.push_back(p.status);
    st = co_await m.upload_stats(r);
  }(loop, manager, ref, polls, stats));
  ASSERT_TRUE(loop.run_until_idle().ok());
  ASSERT_EQ(polls.size(), 2u);
  EXPECT_EQ(polls[0], ImportStatus::running);
  EXPECT_EQ(polls[1], ImportStatus::completed);
  ASSERT_FALSE(stats.transient) << stats.reason;
  ASSERT_EQ(stats.results.size(), 3u);
  std::map<JobId, MessageResult> by_id;
  for (const auto& r : stats.results) by_id[r.id] = r;
  EXPECT_EQ(by_id[100].verdict, Verdict::ok);
  EXPECT_EQ(by_id[101].verdict, Verdict::fail);
  EXPECT_HAS(by_id[101].reason, "invalid email");
  EXPECT_EQ(by_id[102].verdict, Verdict::ok);
  // The oracle agrees with the destination's effects.
  auto resolved = Config::resolve(config, "declarative", rig.entry.schema);
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(api.applied(rig.entry.effects(records[0], *resolved).at(0)), 1);
  EXPECT_EQ(api.applied(rig.entry.effects(records[1], *resolved).at(0)), 0);
}

}  // namespace
}  // namespace destsim
