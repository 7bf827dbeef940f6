// scenario_v2_test.cpp — format version 2: the chosen and seeded fake, the
// control timeline, per-job batch composition and latency, must-reject files,
// and version 1 loading migrated.
#include <gtest/gtest.h>

#include "conformance/testing.h"

namespace destsim {
namespace {

nlohmann::json iterable_doc() {
  return nlohmann::json::parse(R"({
    "scenario": 2, "name": "v2", "seed": 3,
    "destination": {"name": "iterable", "config": {"api_key": {"secret": "k1"}, "records_max": 5, "flush_interval": "1s"}},
    "input": {"generate": {"records": 20, "type": "track"}, "pace": "1s"}
  })");
}

std::string error_of(const nlohmann::json& doc) {
  auto s = parse_scenario(doc, "x.json");
  EXPECT_FALSE(s.ok()) << doc.dump();
  return s.ok() ? "" : s.error().message;
}

Outcome run_ok(const nlohmann::json& doc, Judgement* judged = nullptr) {
  auto s = parse_scenario(doc, "x.json");
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  auto o = run_scenario(*s);
  EXPECT_TRUE(o.ok()) << (o.ok() ? "" : o.error().message);
  if (judged && o.ok()) *judged = judge(*s, *o);
  return o.ok() ? std::move(o).value() : Outcome();
}

template <class E> std::vector<E> events_of(const Outcome& o) {
  std::vector<E> out;
  for (const auto& te : o.events)
    if (const auto* e = std::get_if<E>(&te.event)) out.push_back(*e);
  return out;
}

TEST(ScenarioV2, VersionOneLoadsMigratedAndVersionTwoWritesCrashesAsEvents) {
  nlohmann::json v1 = iterable_doc();
  v1["scenario"] = 1;
  v1["crashes"] = {{{"at", "5s"}, {"restart_after", "10s"}}, {{"step", "before_commit"}, {"nth", 2}, {"optional", true}}};
  auto s = parse_scenario(v1, "v1.json");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->version, 1);
  ASSERT_EQ(s->crashes.size(), 2u);
  nlohmann::json out = scenario_to_json(*s, true);
  EXPECT_EQ(out["scenario"], 2);
  EXPECT_FALSE(out.contains("crashes"));
  EXPECT_EQ(out["events"][0], nlohmann::json::parse(R"({"at": "5s", "crash": {"restart_after": "10s"}})"));
  EXPECT_EQ(out["events"][1],
            nlohmann::json::parse(R"({"step": "before_commit", "nth": 2, "crash": {"restart_after": "30s", "optional": true}})"));
  auto again = parse_scenario(out, "v2.json");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(scenario_to_json(*again, true), out);

  nlohmann::json v2 = iterable_doc();
  v2["crashes"] = nlohmann::json::array();
  EXPECT_NE(error_of(v2).find("x.json: /crashes: version 2 writes crashes as events"), std::string::npos);
  v1 = iterable_doc();
  v1["scenario"] = 1;
  v1["events"] = nlohmann::json::array();
  EXPECT_NE(error_of(v1).find("x.json: /events: unknown key \"events\""), std::string::npos) << error_of(v1);
}

TEST(ScenarioV2, TimelineIsCheckedAtLoad) {
  auto with = [](const char* events) {
    nlohmann::json d = iterable_doc();
    d["events"] = nlohmann::json::parse(events);
    return d;
  };
  EXPECT_EQ(error_of(with(R"([{"at": "5s", "stop": true}])")),
            "x.json: /events/0: stops the destination at 5s and nothing starts it again: the input would never drain "
            "(add {\"at\": …, \"start\": true})");
  EXPECT_NE(error_of(with(R"([{"at": "5s", "start": true}])")).find("/events/0: starts a destination that is running"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"at": "9s", "stop": true}, {"at": "5s", "stop": true}, {"at": "10s", "start": true}])"))
                .find("/events/0: stops a destination already stopped (at 5s)"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"at": "5s", "config": {"records_max": "big"}}])")).find("x.json: /events/0/config/records_max"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"at": "5s", "fake": {"drop_table": 1}}])"))
                .find("x.json: /events/0/fake/drop_table: fake iterable has no operation"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"at": "5s", "stop": true, "start": true}])")).find("expected exactly one of"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"step": "mid_poll", "stop": true}])"))
                .find("/events/0/step: only a crash or a fake operation comes at a step"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"at": "5s", "step": "mid_poll", "fake": {"set_api_key": "k"}}])"))
                .find("/events/0: expected exactly one of \"at\" (a virtual time) or \"step\""),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"nth": 2, "fake": {"set_api_key": "k"}}])")).find("/events/0: expected exactly one of"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"step": "mid_lunch", "fake": {"set_api_key": "k"}}])"))
                .find("/events/0/step: expected a step: upload_answered, after_upload, mid_poll"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"step": "mid_poll", "nth": 0, "fake": {"set_api_key": "k"}}])")).find("/events/0/nth"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"fake": {"set_api_key": "k"}}])")).find("/events/0: expected exactly one of"),
            std::string::npos);
  // Crashes share the rule: "nth" only with a step, the step one of theirs.
  EXPECT_NE(error_of(with(R"([{"at": "5s", "nth": 2, "crash": true}])")).find("/events/0: expected exactly one of"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"step": "upload_answered", "crash": true}])"))
                .find("/events/0/step: expected a crash step: after_upload, mid_poll, mid_stats or before_commit"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"at": "5s", "clock_skew": "2h"}])")).find("/events/0/clock_skew: expected a signed duration"),
            std::string::npos);
  nlohmann::json seeded = iterable_doc();
  seeded["fake"] = {{"seed", {{{"set_api_key", 7}}}}};
  EXPECT_NE(error_of(seeded).find("x.json: /fake/seed/0/set_api_key: expected a string"), std::string::npos);
  nlohmann::json other = iterable_doc();
  other["fake"] = {{"name", "sftp"}};
  EXPECT_NE(error_of(other).find("x.json: /fake/name: fake sftp serves the file door; iterable speaks http"),
            std::string::npos);
  other["fake"] = {{"name", "scripted"}};
  other["expect"] = {{"properties", {"A1"}}};
  EXPECT_NE(error_of(other).find("x.json: /expect/properties: properties judge from the destination's own fake"),
            std::string::npos);
}

TEST(ScenarioV2, EventsRoundTrip) {
  nlohmann::json d = iterable_doc();
  d["fake"] = {{"seed", {{{"create_list", 3}}}}};
  d["events"] = nlohmann::json::parse(R"([{"at": "2s", "fake": {"set_api_key": "k2"}}, {"at": "3s", "stop": true},
      {"at": "4s", "config": {"api_key": {"secret": "k2"}}}, {"at": "5s", "start": true}, {"at": "6s", "clock_skew": "-90s"},
      {"at": "7s", "crash": true}])");
  d["expect"] = nlohmann::json::parse(R"({"job": {"3": {"state": "succeeded", "sent_with": [1, 2, 3], "latency": {"max": "1m"}}}})");
  auto s = parse_scenario(d, "x.json");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->events.size(), 5u);
  EXPECT_EQ(s->crashes.size(), 1u);
  EXPECT_EQ(s->events[4].skew, -std::chrono::seconds(90));
  nlohmann::json out = scenario_to_json(*s, true);
  auto again = parse_scenario(out, "x.json");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(scenario_to_json(*again, true), out);
  EXPECT_EQ(out["expect"]["job"]["3"]["sent_with"], nlohmann::json::parse("[1, 2, 3]"));
  EXPECT_EQ(out["fake"]["seed"][0]["create_list"], 3);
}

TEST(ScenarioV2, AnActAtAStepIsPlayedBetweenThatAnswerAndTheNextRequest) {
  // Snowpipe Streaming: tables replaced right after the 2nd insert taken.
  // The act comes after that UploadResult and before any other request, once.
  auto s = load_scenario(std::string(DESTSIM_SOURCE_DIR) +
                         "/scenarios/snowpipe_streaming/insert-into-a-replaced-tables-channel.json");
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->events.size(), 1u);
  s->events[0].at = Duration(0);
  s->events[0].step = "after_upload";
  s->events[0].nth = 2;
  s->expect = Expectations{};
  // Written and read back as a step.
  const nlohmann::json written = scenario_to_json(*s, true);
  EXPECT_EQ(written["events"][0]["step"], "after_upload");
  EXPECT_EQ(written["events"][0]["nth"], 2);
  EXPECT_FALSE(written["events"][0].contains("at"));
  auto again = parse_scenario(written, "x.json");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(scenario_to_json(*again, true), written);
  auto o = run_scenario(*again);
  ASSERT_TRUE(o.ok()) << o.error().message;
  int uploads = 0, acts = 0, requests_since_upload = 0;
  for (const auto& te : o->events) {
    // The step is an upload the API took into an import (an insert waiting to commit).
    if (const auto* u = std::get_if<ev::UploadResult>(&te.event); u && u->outcome == "importing") {
      ++uploads;
      requests_since_upload = 0;
    }
    if (std::holds_alternative<ev::HttpRequest>(te.event)) ++requests_since_upload;
    if (const auto* rc = std::get_if<ev::RunControl>(&te.event); rc && rc->what == "fake") {
      ++acts;
      EXPECT_EQ(uploads, 2) << "played after the 2nd upload's answer, not before or later";
      EXPECT_EQ(requests_since_upload, 0) << "played before the next request";
    }
  }
  EXPECT_EQ(acts, 1);
  EXPECT_GE(uploads, 3);
  EXPECT_TRUE(o->status.ok()) << o->status.error().message;
  // Every property holds across the act (the destination noticed the new history).
  std::vector<std::string> ids;
  for (const auto& p : property_catalogue())
    if (p.id != "H1") ids.push_back(p.id);
  for (const auto& r : check_properties(ids, *o, *again)) EXPECT_NE(r.verdict, Verdict3::fail) << r.id << ": " << r.detail;
}

TEST(ScenarioV2, RevokedKeyFailsUntilTheConfigFollowsIt) {
  // The key is rotated at 5s: the destination's sends are refused (401, a
  // permanent auth failure for the jobs they carried) until a config change at
  // 9s restarts it with the new key; every later record is delivered.
  nlohmann::json d = iterable_doc();
  d["fake"] = {{"options", {{"api_key", "k1"}}}};
  d["destination"]["config"]["max_retries"] = 20;
  d["events"] = nlohmann::json::parse(R"([{"at": "5s", "fake": {"set_api_key": "rotated-key-2"}},
                                          {"at": "9s", "config": {"api_key": {"secret": "rotated-key-2"}}}])");
  Judgement j;
  Outcome o = run_ok(d, &j);
  // The new key is a secret from the start: in no trace line, not even the fake's event before the config has it.
  ASSERT_FALSE(o.trace_lines.empty());
  for (const auto& line : o.trace_lines) EXPECT_EQ(line.find("rotated-key-2"), std::string::npos) << line;
  const auto control = events_of<ev::RunControl>(o);
  ASSERT_EQ(control.size(), 2u);
  EXPECT_EQ(control[0].what, "fake");
  EXPECT_EQ(control[1].what, "config");
  EXPECT_GT(o.transport().by_status.count(401), 0u);
  const JobCounts c = o.jobs().counts();
  EXPECT_GT(c.failed, 0);
  EXPECT_EQ(c.succeeded + c.failed, 20);
  for (JobId id : o.jobs().ids()) {
    const JobOutcome out = o.jobs().outcome(id);
    if (out.state == JobState::failed) EXPECT_EQ(out.kind, ReasonKind::auth) << id;
    if (id >= 10) EXPECT_EQ(out.state, JobState::succeeded) << id;  // arrived after the config followed the key
  }
  EXPECT_TRUE(o.status.ok());
}

TEST(ScenarioV2, StopAndStartResumeFromTheStore) {
  nlohmann::json d = iterable_doc();
  d["events"] = nlohmann::json::parse(R"([{"at": "4500ms", "stop": true}, {"at": "60s", "start": true}])");
  Outcome o = run_ok(d);
  const auto control = events_of<ev::RunControl>(o);
  ASSERT_EQ(control.size(), 2u);
  EXPECT_FALSE(control[0].skipped);
  EXPECT_EQ(o.jobs().counts().succeeded, 20);
  EXPECT_EQ(events_of<ev::RunRestart>(o).size(), 1u);
  // Nothing was sent while it was stopped.
  for (const auto& te : o.events)
    if (std::holds_alternative<ev::HttpRequest>(te.event))
      EXPECT_FALSE(te.t > 4'600'000'000 && te.t < 60'000'000'000) << "a request at " << te.t << " ns";
}

TEST(ScenarioV2, ScriptedFakeAndSeededState) {
  // The Go client's NewFakeTransport(2, 1): two 500s, one 429, then success.
  nlohmann::json d = iterable_doc();
  d["fake"] = {{"name", "scripted"}, {"options", {{"fail_count", 2}, {"rate_limit_count", 1}}},
               {"seed", {{{"queue", {{{"status", 503}, {"body", "down"}}}}}}}};
  d["expect"] = nlohmann::json::parse(R"({"requests": {"by_status": {"500": 2, "429": 1, "503": 1}}, "jobs": {"succeeded": 20}})");
  Judgement j;
  Outcome o = run_ok(d, &j);
  for (const auto& f : j.failures) ADD_FAILURE() << f;
  EXPECT_EQ(o.fake().name(), "scripted");
}

TEST(ScenarioV2, SentWithAndLatencyJudgeTheTrace) {
  nlohmann::json d = iterable_doc();
  d["input"]["pace"] = "100ms";  // five arrive before a flush: full batches
  d["expect"] = nlohmann::json::parse(R"({"job": {"3": {"state": "succeeded", "sent_with": [1, 2, 3, 4, 5]},
                                                 "7": {"state": "succeeded", "latency": {"max": "10s"}}}})");
  Judgement ok;
  run_ok(d, &ok);
  EXPECT_TRUE(ok.failures.empty()) << ok.failures.front();
  d["expect"] = nlohmann::json::parse(R"({"job": {"3": {"state": "succeeded", "sent_with": [3, 4]},
                                                 "7": {"state": "succeeded", "latency": {"min": "1h"}}}})");
  Judgement bad;
  run_ok(d, &bad);
  ASSERT_EQ(bad.failures.size(), 2u);
  EXPECT_EQ(bad.failures[0], "job 3: expected its first send to carry 3-4, it carried 1-5");
  EXPECT_NE(bad.failures[1].find("job 7: expected a latency (arrival to succeeded) >= 1h, got "), std::string::npos);
}

TEST(ScenarioV2, MustRejectHoldsOnlyForTheDeclaredRefusal) {
  nlohmann::json d = iterable_doc();
  d["destination"]["config"]["records_max"] = 0;
  d["must_reject"] = {{"path", "/destination/config/records_max"}, {"contains", "expected"}};
  auto s = parse_scenario(d, "x.json");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(s->must_reject.has_value());
  EXPECT_TRUE(check_rejection(*s).ok()) << s->rejected_with;
  EXPECT_EQ(scenario_to_json(*s), d);  // kept as written
  EXPECT_FALSE(run_scenario(*s).ok());  // nothing to run

  d["must_reject"]["path"] = "/destination/config/records";  // a prefix of the real path is not it
  EXPECT_FALSE(check_rejection(*parse_scenario(d, "x.json")).ok());
  d["must_reject"] = {{"path", "/destination/config/records_max"}, {"contains", "no such words"}};
  EXPECT_FALSE(check_rejection(*parse_scenario(d, "x.json")).ok());
  d["destination"]["config"]["records_max"] = 5;  // now it loads: the declaration fails
  d["must_reject"] = {{"path", "/destination/config/records_max"}};
  auto loaded = parse_scenario(d, "x.json");
  ASSERT_TRUE(loaded.ok());
  auto st = check_rejection(*loaded);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "x.json: must be rejected at /destination/config/records_max, but it loaded");
  d["must_reject"] = {{"path", "destination"}};
  EXPECT_NE(error_of(d).find("x.json: /must_reject/path: expected a JSON pointer"), std::string::npos);
}

}  // namespace
}  // namespace destsim
