#include "conformance/scenario.h"

#include <gtest/gtest.h>

#include "destinations/destination.h"
#include "framework/batch.h"

namespace destsim {
namespace {

// The test's own destination (the harness names none): the batch path's keys
// and an API key; it is only loaded, never run.
void add_probe_destination() {
  static const bool added = [] {
    DestinationEntry e;
    e.name = "probe";
    e.schema = processor_config_keys(ProcessorConfig{});
    e.schema.push_back({"api_key", ConfigType::secret, nullptr, "API key"});
    e.make = [](DeliveryContext&, const Config&) -> Result<std::unique_ptr<Destination>> {
      return Error::internal("the probe destination is never run");
    };
    e.generate = [](Rng&, JobId id, const GenerateOptions&) { return Record{id, "default", {}}; };
    e.effects = [](const Record&, const Config&) { return std::vector<std::string>{}; };
    return add_destination(std::move(e)).ok();
  }();
  ASSERT_TRUE(added);
}

nlohmann::json base() {
  add_probe_destination();
  return nlohmann::json::parse(R"({
    "scenario": 1, "name": "t", "seed": 7,
    "destination": {"name": "probe", "config": {"api_key": {"secret": "sk-test"}, "flush_interval": "2s"}},
    "input": {"records": [
      {"id": 1, "stream": "events", "payload": {"type": "track", "email": "a@x.io", "eventName": "buy"}},
      {"id": 2, "payload": {"type": "identify", "email": "b@x.io"}, "at": "3s"}]},
    "faults": [{"match": {"path": "/api/events/trackBulk"}, "times": 2, "respond": {"status": 503}}],
    "expect": {"jobs": {"succeeded": 2}, "job": {"1": "succeeded", "2": {"state": "succeeded"}},
               "requests": {"max": 10, "by_status": {"503": 2}}, "within": "1h", "properties": ["A1", "H1"]}
  })");
}

std::string error_of(nlohmann::json doc) {
  auto s = parse_scenario(doc, "x.json");
  EXPECT_FALSE(s.ok());
  return s.ok() ? "" : s.error().message;
}

TEST(Scenario, ParsesEverySection) {
  auto s = parse_scenario(base(), "x.json");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->seed, 7u);
  EXPECT_EQ(s->records.size(), 2u);
  EXPECT_EQ(s->records[1].at, std::chrono::seconds(3));
  EXPECT_EQ(s->records[1].record.stream, "default");
  EXPECT_EQ(s->faults.rules().size(), 1u);
  EXPECT_EQ(s->expect.job.at(2).state, JobState::succeeded);
  EXPECT_EQ(*s->expect.requests.max, 10);
  EXPECT_EQ(*s->expect.requests_by_status.at(503).exactly, 2);
  EXPECT_EQ(s->expect.properties, (std::vector<std::string>{"A1", "H1"}));
}

// Requests by endpoint: "METHOD /glob" keys, written back as they came; a key
// that is not a method (or operation) and a path is refused naming it.
TEST(Scenario, RequestsByEndpoint) {
  nlohmann::json doc = base();
  doc["expect"]["requests"]["by_endpoint"] = {{"POST /api/events/*", 2}, {"put /exports/*", {{"max", 3}}}};
  auto s = parse_scenario(doc, "x.json");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(*s->expect.requests_by_endpoint.at("POST /api/events/*").exactly, 2);
  EXPECT_EQ(scenario_to_json(*s)["expect"]["requests"]["by_endpoint"]["put /exports/*"]["max"], 3);
  for (const char* key : {"/api/events", "POST", "POST api/events", " /x", "PO5T /x"}) {
    doc = base();
    doc["expect"]["requests"]["by_endpoint"] = {{key, 1}};
    EXPECT_NE(error_of(doc).find("expected \"METHOD /path\" as the key"), std::string::npos) << key << ": " << error_of(doc);
  }
}

// Per-job attempts and the resent flag parse, round-trip, and are typed.
TEST(Scenario, JobAttemptsAndResentFlag) {
  nlohmann::json doc = base();
  doc["expect"]["job"]["1"] = {{"state", "succeeded"}, {"resent_after_unknown", true}, {"attempts", {{"max", 3}}}};
  auto s = parse_scenario(doc, "x.json");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(*s->expect.job.at(1).resent_after_unknown, true);
  EXPECT_EQ(*s->expect.job.at(1).attempts->max, 3);
  const nlohmann::json back = scenario_to_json(*s)["expect"]["job"]["1"];
  EXPECT_EQ(back["resent_after_unknown"], true);
  EXPECT_EQ(back["attempts"]["max"], 3);
  doc["expect"]["job"]["1"]["attempts"] = "two";
  EXPECT_NE(error_of(doc).find("/expect/job/1/attempts"), std::string::npos) << error_of(doc);
}

// A status class counts every status of it, and is written back as "5xx".
TEST(Scenario, StatusClassesInByStatus) {
  nlohmann::json doc = base();
  doc["expect"]["requests"]["by_status"] = {{"5xx", 2}, {"2xx", {{"min", 1}}}, {"4xx", 0}};
  auto s = parse_scenario(doc, "x.json");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(*s->expect.requests_by_status.at(5).exactly, 2);
  EXPECT_EQ(*s->expect.requests_by_status.at(2).min, 1);
  const nlohmann::json back = scenario_to_json(*s);
  EXPECT_EQ(back["expect"]["requests"]["by_status"]["5xx"]["exactly"], 2);
  EXPECT_TRUE(back["expect"]["requests"]["by_status"].contains("4xx"));
}

TEST(Scenario, RoundTripsWithSecretsRedacted) {
  auto s = parse_scenario(base(), "x.json");
  ASSERT_TRUE(s.ok());
  nlohmann::json out = scenario_to_json(*s);
  EXPECT_EQ(out.dump().find("sk-test"), std::string::npos);
  EXPECT_EQ(out["destination"]["config"]["api_key"]["secret"], "***");
  auto again = parse_scenario(scenario_to_json(*s, true), "again");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(scenario_to_json(*again, true), scenario_to_json(*s, true));
}

TEST(Scenario, BadInputNamesFilePathAndExpectation) {
  auto doc = base();
  doc["destination"]["name"] = "prboe";
  EXPECT_NE(error_of(doc).find("x.json: /destination/name: expected a registered destination ("),
            std::string::npos);
  doc = base();
  doc["destination"]["config"]["flush_intervl"] = "1s";
  EXPECT_NE(error_of(doc).find("x.json: /destination/config/flush_intervl: unknown key"), std::string::npos)
      << error_of(doc);
  doc = base();
  doc["destination"]["config"]["max_retries"] = "five";
  EXPECT_NE(error_of(doc).find("/max_retries: expected an integer"), std::string::npos) << error_of(doc);
  doc = base();
  doc["expect"]["properties"] = {"A1", "Z9"};
  EXPECT_NE(error_of(doc).find("x.json: /expect/properties/1: expected a property id of CONFORMANCE.md"),
            std::string::npos);
  doc = base();
  doc["faults"][0]["respond"]["status"] = "503";
  EXPECT_EQ(error_of(doc), "x.json: /faults/0/respond/status: expected an integer, got \"503\"");
  doc = base();
  doc["input"]["records"][1]["id"] = 1;
  EXPECT_NE(error_of(doc).find("duplicate record id 1"), std::string::npos);
  doc = base();
  doc["scenario"] = 3;
  EXPECT_NE(error_of(doc).find("/scenario: expected scenario format version 2 (or 1, which loads migrated)"),
            std::string::npos);
  doc = base();
  doc["expect"]["job"] = {{"one", "succeeded"}};
  EXPECT_NE(error_of(doc).find("/expect/job/one: expected a job id"), std::string::npos);
  doc = base();
  doc["input"]["generate"] = {{"records", 3}};
  EXPECT_NE(error_of(doc).find("exactly one of"), std::string::npos);
  doc = base();
  doc["extra"] = 1;
  EXPECT_NE(error_of(doc).find("x.json: /extra: unknown key"), std::string::npos);
  // by_status keys are statuses, nothing that merely starts like one.
  for (const char* key : {"4XX", "6xx", "0xx", "4x", "429 please", "429abc", "4.29e2", "-5", "0429", "99", "600"}) {
    doc = base();
    doc["expect"]["requests"]["by_status"] = {{key, 1}};
    EXPECT_NE(error_of(doc).find("/expect/requests/by_status/" + std::string(key) +
                                 ": expected an HTTP status (three digits, 100-599) or a class"),
              std::string::npos)
        << key << ": " << error_of(doc);
  }
  doc = base();
  doc["expect"]["requests"] = {{"min", 10}, {"max", 1}};
  EXPECT_NE(error_of(doc).find("/expect/requests: min (10) is over max (1)"), std::string::npos) << error_of(doc);
}

TEST(Scenario, HostileInputAndClockSkewRoundTripWithTheirLimits) {
  auto doc = base();
  doc["input"] = {{"generate", {{"records", 5}, {"oversize", "1/2"}, {"oversize_bytes", "4MB"}, {"odd_text", true}}}};
  doc["transport"] = {{"clock_skew", "-2h"}};
  auto s = parse_scenario(doc, "x.json");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->generate->oversize.den, 2u);
  EXPECT_EQ(s->generate->oversize_bytes, 4'000'000);
  EXPECT_TRUE(s->generate->odd_text);
  EXPECT_EQ(s->clock_skew, -std::chrono::hours(2));
  auto again = parse_scenario(scenario_to_json(*s, true), "again");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->clock_skew, -std::chrono::hours(2));
  EXPECT_EQ(again->generate->oversize_bytes, 4'000'000);
  EXPECT_TRUE(again->generate->odd_text);
  // Each has a named limit or form.
  for (const char* skew : {"2h", "+8d", "-", "+soon"}) {
    doc["transport"] = {{"clock_skew", skew}};
    EXPECT_NE(error_of(doc).find("/transport/clock_skew: expected a signed duration such as \"+2h\" or \"-90s\", at "
                                 "most 7d either way"),
              std::string::npos)
        << skew << ": " << error_of(doc);
  }
  doc = base();
  doc["input"] = {{"generate", {{"records", 5}, {"payload_bytes", "9000000000GB"}}}};
  EXPECT_NE(error_of(doc).find("/input/generate/payload_bytes: expected a size like \"4MB\" or a byte count (at "
                               "most 1TB), got \"9000000000GB\""),
            std::string::npos)
      << error_of(doc);
  doc["input"] = {{"generate", {{"records", 5}, {"payload_bytes", "65MB"}}}};
  EXPECT_NE(error_of(doc).find("/input/generate/payload_bytes: expected a padding of at most"), std::string::npos)
      << error_of(doc);
  doc["input"] = {{"generate", {{"records", 5}, {"oversize", "1/3"}}}};
  EXPECT_NE(error_of(doc).find("/input/generate/oversize: expected \"oversize_bytes\" beside it"), std::string::npos)
      << error_of(doc);
}

TEST(Scenario, LoadNamesUnreadableAndMalformedFiles) {
  auto missing = load_scenario("/nonexistent/x.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/x.json: cannot read"), std::string::npos);
}

}  // namespace
}  // namespace destsim
