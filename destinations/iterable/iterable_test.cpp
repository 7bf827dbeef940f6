// End-to-end tests of the Iterable destination on the simulator: the runner,
// the property checkers, peer parity with the Go client's fake transport.
#include <gtest/gtest.h>

#include "conformance/certify.h"
#include "conformance/testing.h"
#include "conformance/runner.h"
#include "destinations/destination.h"
#include "fakes/iterable/iterable_api.h"
#include "fakes/scripted/scripted_api.h"
#include "fakes/sim_transport.h"
#include "framework/http_call.h"
#include "framework/json_in.h"
#include "framework/oracle.h"

#include <set>

namespace destsim {
namespace {

using namespace testing;  // conformance/testing.h

TEST(IterableEndToEnd, CleanMixedRunHoldsEveryCheckedProperty) {
  Scenario s = scenario(R"({"scenario": 1, "name": "clean", "seed": 11,
    "destination": {"name": "iterable", "config": {"api_key": {"secret": "sk-clean"}}},
    "input": {"generate": {"records": 2500, "invalid": "1/50"}, "pace": "1ms"},
    "expect": {"properties": ["A1", "A2", "A3", "A4", "B1", "B4", "C5", "G1", "H1", "I1", "I2"]}})");
  Outcome o = run(s);
  JobCounts c = o.jobs().counts();
  EXPECT_EQ(c.total(), 2500u);
  EXPECT_EQ(c.pending, 0u);
  EXPECT_GT(c.failed, 20u);  // ~1/50 invalid emails
  EXPECT_LT(c.failed, 90u);
  EXPECT_EQ(c.aborted, 0u);
  for (JobId id : o.jobs().ids()) {
    JobOutcome out = o.jobs().outcome(id);
    if (out.state == JobState::failed) EXPECT_NE(out.reason.find("invalid email"), std::string::npos) << out.reason;
  }
  EXPECT_EQ(all_lines(o).find("sk-clean"), std::string::npos);  // the secret never reaches the trace
}

TEST(IterableEndToEnd, SameSeedSameHashDifferentSeedDifferentHash) {
  Scenario s = scenario(R"({"scenario": 1, "name": "h", "seed": 3,
    "destination": {"name": "iterable", "config": {"api_key": "k"}},
    "input": {"generate": {"records": 300}},
    "faults": [{"probability": "1/5", "respond": {"status": 503}}, {"latency": {"min": "1ms", "max": "300ms"}}]})");
  auto a = run_scenario(s), b = run_scenario(s);
  RunOptions other;
  other.seed = 4;
  auto c = run_scenario(s, other);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->trace_hash, b->trace_hash);
  EXPECT_NE(a->trace_hash, c->trace_hash);
}

TEST(IterableEndToEnd, RecordsSharingAnEmailShareABatch) {
  Scenario s = scenario(R"({"scenario": 1, "name": "keys",
    "destination": {"name": "iterable", "config": {"api_key": "k"}},
    "fake": {"options": {"disallowed_event_names": ["banned"]}},
    "input": {"records": [
      {"id": 1, "payload": {"type": "track", "email": "a@x.io", "eventName": "buy"}},
      {"id": 2, "payload": {"type": "track", "email": "a@x.io", "eventName": "banned"}},
      {"id": 3, "payload": {"type": "track", "email": "a@x.io", "eventName": "buy"}},
      {"id": 4, "payload": {"type": "track", "email": "b@x.io", "eventName": "buy"}}]},
    "expect": {"job": {"1": "succeeded", "2": {"state": "failed", "reason_contains": "disallowed"},
                       "3": "succeeded", "4": "succeeded"}, "properties": ["A2"]}})");
  Outcome o = run(s);
  // One batch: the disallowed event is named by its event name, which tells
  // record 2 from 1 and 3 although all three are a@x.io's.
  std::string lines = all_lines(o);
  int batches = 0;
  for (std::size_t p = lines.find("\"kind\":\"batch\""); p != std::string::npos;
       p = lines.find("\"kind\":\"batch\"", p + 1))
    ++batches;
  EXPECT_EQ(batches, 1);
  EXPECT_EQ(count_of<ev::OneSent>(o), 0);
}

// Peer parity: the Go client's fake transport gives 500, then 429, then 413,
// then 200s. The peer documents (by its code; batch/processor.go + testing.go):
//   MaxRetries >= 3: 500 → 429 → 413 → N single sends, 3 + N requests, all succeed;
//   MaxRetries  = 2: 2 requests, every message comes back failed with the 429;
//   MaxRetries  = 1: 1 request, every message failed with the 500.
struct Parity {
  std::int64_t requests;
  JobCounts counts;
  std::string reason;
};

Parity run_parity(int max_retries, int n) {
  ScriptedApi api({.fail_count = 1, .rate_limit_count = 1, .content_too_large_count = 1});
  SimRig rig("iterable", api);
  auto dest = rig.make({{"api_key", "k"},
                        {"max_retries", max_retries},
                        {"split_on_413", false},
                        {"individual_concurrency", 1},
                        {"retry_delay_initial", "50ms"}});
  if (!dest) return {};
  std::vector<Record> input;
  for (int i = 1; i <= n; ++i)
    input.push_back({static_cast<JobId>(i), "default",
                     {{"type", "track"}, {"email", "u" + std::to_string(i) + "@x.io"}, {"eventName", "buy"}}});
  rig.deliver(*dest, std::move(input));
  return {api.requests(), rig.jobs.counts(), rig.jobs.outcome(1).reason};
}

TEST(IterablePeerParity, FailThenRateLimitThenTooLargeThenSuccess) {
  Parity three = run_parity(3, 10);
  EXPECT_EQ(three.requests, 3 + 10);
  EXPECT_EQ(three.counts.succeeded, 10u);

  Parity two = run_parity(2, 10);
  EXPECT_EQ(two.requests, 2);
  EXPECT_EQ(two.counts.aborted, 10u);
  EXPECT_NE(two.reason.find("attempts exhausted (2 of 2): HTTP 429"), std::string::npos) << two.reason;

  Parity one = run_parity(1, 10);
  EXPECT_EQ(one.requests, 1);
  EXPECT_EQ(one.counts.aborted, 10u);
  EXPECT_NE(one.reason.find("HTTP 500"), std::string::npos) << one.reason;
}

TEST(IterableEndToEnd, A413SplitsAndTheOversizedRecordFailsAlone) {
  Scenario s = scenario(R"({"scenario": 1, "name": "413",
    "destination": {"name": "iterable", "config": {"api_key": "k", "flush_queue_size": 8}},
    "fake": {"options": {"body_bytes_max": 2000}},
    "input": {"records": [
      {"id": 1, "payload": {"type": "track", "email": "u1@x.io", "eventName": "e"}},
      {"id": 2, "payload": {"type": "track", "email": "u2@x.io", "eventName": "e"}},
      {"id": 3, "payload": {"type": "track", "email": "u3@x.io", "eventName": "e", "dataFields": {"blob": "BIG"}}},
      {"id": 4, "payload": {"type": "track", "email": "u4@x.io", "eventName": "e"}}]},
    "expect": {"jobs": {"succeeded": 3, "failed": 1},
               "job": {"3": {"state": "failed", "reason_contains": "too large alone"}},
               "properties": ["A1", "A2", "A4", "C5"]}})");
  s.records[2].record.payload["dataFields"]["blob"] = std::string(2500, 'x');
  Outcome o = run(s);
  EXPECT_GE(o.destination_stats["splits"].get<int>(), 1);
}

// Certify injects every status class of the HTTP error table, 5xx answers
// carry Iterable's own error bodies (the fake entry's error_bodies) so a
// handler that reads a code on a 5xx as a permanent rejection meets one, and
// some 5xx come after the fake applied the request.
TEST(IterableCertifyCases, InjectedAnswersCoverTheErrorTableWithTheApisCodes) {
  const DestinationEntry* e = find_destination("iterable");
  ASSERT_NE(e, nullptr);
  int with_code = 0, bare = 0, after = 0;
  std::set<int> statuses;
  for (std::int64_t i = 0; i < 40; ++i)
    for (const FaultRule& f : generate_case(*e, 1, i, CertifyOptions{}).faults) {
      if (f.kind != FaultKind::respond) continue;
      statuses.insert(f.status);
      EXPECT_EQ(f.note, "HTTP " + std::to_string(f.status));
      if (f.after) {
        ++after;
        EXPECT_TRUE(may_have_applied(f.status)) << f.status;
      }
      if (f.status < 500) continue;
      if (f.body.find("\"code\"") != std::string::npos) ++with_code;
      else ++bare;
    }
  EXPECT_EQ(statuses, (std::set<int>{400, 401, 403, 404, 408, 409, 422, 500, 502, 503, 504}));
  EXPECT_GT(with_code, 0);
  EXPECT_GT(bare, 0);
  EXPECT_GT(after, 0);
}

// records_from_request (import-har) undoes what the destination sends: every
// record of a mixed run comes back from the bodies of the requests that carried
// it, in its payload shape (a track record with the event id it was sent under).
TEST(IterableDestination, RecordsComeBackFromTheRequestsThatCarriedThem) {
  IterableApi api(IterableApiOptions{.api_key = "k"});
  Recorder recorder(api);
  SimRig rig("iterable", recorder);
  auto dest = rig.make({{"api_key", "k"}, {"flush_queue_size", 7}});
  ASSERT_TRUE(dest && rig.entry.records_from_request);
  Rng rng(7);
  std::vector<Record> input;
  std::set<std::string> want, got;
  for (JobId id = 1; id <= 120; ++id) {
    Record r = rig.entry.generate(rng, id, GenerateOptions{});
    nlohmann::json p = r.payload;
    if (p["type"] == "track") p["id"] = r.stream + ":" + std::to_string(id);
    want.insert(p.dump());
    input.push_back(std::move(r));
  }
  rig.deliver(*dest, std::move(input));
  ASSERT_EQ(rig.jobs.counts().succeeded, 120u);
  std::set<std::string> paths;
  for (const Request& r : recorder.seen) {
    paths.insert(std::string(r.path_only()));
    for (const auto& p : rig.entry.records_from_request(r.method, r.path_only(), parse_json_body(r.body)))
      got.insert(p.dump());
  }
  EXPECT_EQ(got, want);
  EXPECT_GE(paths.size(), 4u);  // trackBulk, bulkUpdate, lists/subscribe, bulkUpdateSubscriptions
  // Single sends, and what carries no records.
  auto one = rig.entry.records_from_request("POST", "/api/users/update", {{"email", "a@x.io"}});
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], (nlohmann::json{{"type", "identify"}, {"email", "a@x.io"}}));
  auto list = rig.entry.records_from_request("POST", "/api/lists/unsubscribe",
                                             {{"listId", 5}, {"subscribers", {{{"userId", "u1"}}}}});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0], (nlohmann::json{{"type", "unsubscribe"}, {"userId", "u1"}, {"listId", 5}}));
  EXPECT_TRUE(rig.entry.records_from_request("GET", "/api/events/trackBulk", {{"events", {{{"email", "a"}}}}}).empty());
  // A list body without its listId names no list to put back.
  EXPECT_TRUE(
      rig.entry.records_from_request("POST", "/api/lists/subscribe", {{"subscribers", {{{"email", "a"}}}}}).empty());
  EXPECT_TRUE(rig.entry.records_from_request("POST", "/api/nope", {{"events", nlohmann::json::array()}}).empty());
  EXPECT_TRUE(rig.entry.records_from_request("POST", "/api/events/trackBulk", nlohmann::json()).empty());
}

// The item is written member by member from the payload (no copy of its
// values): byte for byte what dumping the item as a DOM gives, for every record
// type, hostile text and padding included, and its oracle key likewise.
// generate() builds its payload member by member (for speed); it must give
// the records the initializer-list form gave (the same values and number
// types, the same draws in the same order), or every saved case and trace
// hash of a generated Iterable input would change.
TEST(IterableDestination, GeneratesTheRecordsOfTheInitializerListForm) {
  const DestinationEntry* e = find_destination("iterable");
  ASSERT_NE(e, nullptr);
  auto reference = [](Rng& rng, JobId id, const GenerateOptions& o) {
    static const char* kTypes[] = {"track", "track", "track", "identify", "subscribe", "subscriptions"};
    std::string type = o.type.empty() ? kTypes[rng.below(6)] : o.type;
    Record r;
    r.id = id;
    r.stream = type == "track" ? "events" : "users";
    std::string email = "user" + std::to_string(id) + "@example.com";
    if (rng.chance(o.invalid)) email = "user" + std::to_string(id) + "-at-example.com";
    nlohmann::json p = {{"type", type}, {"email", email}};
    if (type == "track") {
      static const char* kEvents[] = {"purchase", "page_view", "signup", "cart_add"};
      p["eventName"] = kEvents[rng.below(4)];
      p["createdAt"] = 1'704'067'200 + static_cast<std::int64_t>(id);
      p["dataFields"] = {{"amount", static_cast<std::int64_t>(rng.below(10000))}, {"seq", id}};
      if (o.odd_text) p["dataFields"]["note"] = odd_text_or(o, id, 1, "note");
    } else if (type == "identify") {
      p["dataFields"] = {{"plan", odd_text_or(o, id, 2, rng.chance(1, 2) ? "pro" : "free")}, {"seq", id}};
    } else if (type == "subscribe") {
      p["listId"] = 100 + static_cast<std::int64_t>(rng.below(3));
    } else if (type == "subscriptions") {
      p["emailListIds"] = {100 + static_cast<std::int64_t>(rng.below(3))};
    }
    return padded_record(std::move(r), std::move(p), o, "/dataFields/pad");
  };
  std::set<std::string> types;
  for (const bool odd : {false, true}) {
    for (const std::string& type : {std::string(), std::string("track"), std::string("identify")}) {
      GenerateOptions o;
      o.type = type;
      o.invalid = Ratio{1, 5};
      o.odd_text = odd;
      o.payload_bytes = odd ? 40 : 0;
      Rng mine(7), theirs(7);
      for (JobId id = 1; id <= 200; ++id) {
        const Record got = e->generate(mine, id, o), want = reference(theirs, id, o);
        // The same values and number types (nlohmann's == calls 1 and 1u equal).
        ASSERT_TRUE(json_same_typed(got.payload, want.payload))
            << id << ": " << got.payload.dump() << " vs " << want.payload.dump();
        ASSERT_EQ(got.stream, want.stream);
        ASSERT_EQ(got.id, want.id);
        types.insert(got.payload["type"].get<std::string>());
      }
      EXPECT_EQ(mine.below(1'000'000), theirs.below(1'000'000));  // the streams are still in step
    }
  }
  EXPECT_EQ(types.size(), 4u);  // track, identify, subscribe, subscriptions
}

TEST(IterableDestination, SendsExactlyTheDumpOfTheItemItDescribes) {
  IterableApi api(IterableApiOptions{.api_key = "k"});
  Recorder recorder(api);
  SimRig rig("iterable", recorder);
  const nlohmann::json config = {{"api_key", "k"}, {"flush_queue_size", 5}, {"requests_per_second", 0}};
  auto dest = rig.make(config);
  ASSERT_TRUE(dest);
  Rng rng(11);
  GenerateOptions o;
  o.odd_text = true;
  o.payload_bytes = 300;
  std::vector<Record> input;
  std::vector<std::string> want;
  std::vector<std::string> want_keys;
  for (JobId id = 1; id <= 90; ++id) {
    Record r = rig.entry.generate(rng, id, o);
    nlohmann::json& p = r.payload;
    if (id % 9 == 0) p["id"] = "given-" + std::to_string(id);              // a track's own id is kept
    if (id % 7 == 0) p["userId"] = "u\"" + std::to_string(id) + "\n";     // both identities, escaped
    if (id % 5 == 0) p["preferUserId"] = true, p["campaignId"] = 4, p["ignored"] = "x";
    // The item the old transform built as a DOM.
    const std::string type = p["type"];
    nlohmann::json item = nlohmann::json::object();
    item["email"] = p["email"];
    if (p.contains("userId")) item["userId"] = p["userId"];
    const char* effect = "iterable.event";
    if (type == "track") {
      item["eventName"] = p["eventName"];
      item["id"] = p.contains("id") ? p["id"] : nlohmann::json(r.stream + ":" + std::to_string(r.id));
      item["createdAt"] = p["createdAt"];
      item["dataFields"] = p["dataFields"];
    } else if (type == "identify") {
      effect = "iterable.user";
      for (const char* k : {"dataFields", "preferUserId", "mergeNestedObjects"})
        if (p.contains(k)) item[k] = p[k];
    } else if (type == "subscriptions") {
      effect = "iterable.subscriptions";
      for (const char* k : {"emailListIds", "campaignId"})
        if (p.contains(k)) item[k] = p[k];
    } else {
      effect = "iterable.subscribe";
    }
    want.push_back(item.dump());
    if (type == "subscribe") item["listId"] = p["listId"];
    want_keys.push_back(oracle_key(effect, item));
    EXPECT_EQ(rig.entry.effects(r, Config{}), std::vector<std::string>{want_keys.back()}) << p.dump();
    input.push_back(std::move(r));
  }
  rig.deliver(*dest, std::move(input));
  ASSERT_EQ(rig.jobs.counts().succeeded, 90u);
  std::string sent;
  for (const Request& r : recorder.seen) sent += r.body;
  for (const std::string& w : want) EXPECT_NE(sent.find(w), std::string::npos) << w;
}

}  // namespace
}  // namespace destsim
