// batch_fixture_test.cpp — the smallest batch destination with its own fake,
// written as a test: proof that a new batch destination is its API-specific
// logic plus a few lines on the seams (BatchDestination, batch_schema,
// framework/http_call). The "notes" API: POST /v1/notes/bulk {"notes": [...]}
// answers 200 {"rejected": [{"index", "reason"}]}; POST /v1/notes sends one.
#include <gtest/gtest.h>

#include "conformance/certify.h"
#include "conformance/testing.h"
#include "destinations/batch_destination.h"
#include "fakes/catalog.h"
#include "fakes/sim_transport.h"
#include "framework/http_call.h"
#include "framework/oracle.h"

namespace destsim {
namespace {

// ---------------------------------------------------------------- destination

const RetryableStatuses kRetryable{{408, 429, 500, 502, 503, 504}};

// API-specific: the note a record becomes.
Result<nlohmann::json> transform(const Record& r) {
  if (!r.payload.is_object() || !r.payload.contains("text") || !r.payload["text"].is_string())
    return Error::bad_input("record " + std::to_string(r.id) + ": text: expected a string");
  return nlohmann::json{{"id", r.id}, {"text", r.payload["text"]}};
}

class NotesHandler final : public BatchHandler {
 public:
  NotesHandler(HttpCaller& http, const Config& c)
      : http_(http), host_(c.string("host")), key_(c.secret("api_key").value) {}
  std::string name() const override { return "notes"; }
  BatchLimits limits() const override { return {.records_max = 100, .bytes_max = 100'000, .envelope_bytes = 12}; }

  Task<BatchResult> process_batch(const std::vector<const Message*>& batch) override {
    std::string body = "{\"notes\":[";
    for (std::size_t i = 0; i < batch.size(); ++i) body += (i ? "," : "") + batch[i]->body;
    HttpAnswer a = co_await http_.call(request("/v1/notes/bulk", body + "]}"), kRetryable);
    if (!a.ok()) co_return batch_result(a);
    BatchResult out = batch_success(a);
    // API-specific: rejected notes fail, the rest succeeded.
    std::map<std::size_t, std::string> rejected;
    for (const auto& r : a.body.value("rejected", nlohmann::json::array()))
      rejected[r.value("index", std::size_t{0})] = r.value("reason", std::string("rejected"));
    if (rejected.empty()) co_return out;
    out.status = BatchStatus::partial_success;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto f = rejected.find(i);
      out.results.push_back({batch[i]->id, f == rejected.end() ? Verdict::ok : Verdict::fail,
                             f == rejected.end() ? "" : "rejected by the API: " + f->second});
    }
    co_return out;
  }

  Task<OneResult> process_one(const Message& m) override {
    HttpAnswer a = co_await http_.call(request("/v1/notes", m.body), kRetryable);
    co_return a.ok() ? one_success(a) : one_result(a);
  }

 private:
  Request request(const char* path, std::string body) const {
    return json_request("POST", host_, path, std::move(body), {{"Authorization", "Bearer " + key_}});
  }
  HttpCaller& http_;
  std::string host_, key_;
};

class NotesRoutes final : public BatchRoutes {
 public:
  NotesRoutes(DeliveryContext& ctx, const Config& c)
      : limiter_(ctx.loop, c.integer("requests_per_second")),
        http_(ctx.loop, ctx.transport, limiter_),
        handler_(http_, c) {}
  Result<Routed> route(const Record& record) override {
    DS_TRY(nlohmann::json note, transform(record));
    return Routed{&handler_, Message{record.id, note.dump(), {}}};
  }
  nlohmann::json stats() const override { return {{"rate_limit_waits", limiter_.waits()}}; }

 private:
  RateLimiter limiter_;
  HttpCaller http_;
  NotesHandler handler_;
};

DestinationEntry notes_destination() {
  // Idempotent: notes are upserted by id.
  DestinationEntry e = destination_entry(
      "notes", "notes", "notes.example.com", "the notes API (a test fixture)",
      batch_schema({{"api_key", ConfigType::secret, nullptr, "notes API key"},
                    {"host", ConfigType::string, "notes.example.com", "API host"},
                    {"requests_per_second", ConfigType::integer, 0, "pacing (0 = off)", 0, 1000}},
                   ProcessorConfig{.max_retries = 5}),
      {.retryable_statuses = kRetryable.statuses, .idempotent_writes = true});
  e.make = [](DeliveryContext& ctx, const Config& config) {
    return make_batch_destination(ctx, config, [](DeliveryContext& c, const Config& cf) {
      return std::unique_ptr<BatchRoutes>(std::make_unique<NotesRoutes>(c, cf));
    });
  };
  e.effects = [](const Record& r, const Config&) -> std::vector<std::string> {
    auto note = transform(r);
    return note.ok() ? std::vector<std::string>{oracle_key("notes.note", *note)} : std::vector<std::string>{};
  };
  e.generate = [](Rng& rng, JobId id, const GenerateOptions&) {
    return Record{id, "notes", {{"text", rng.chance(1, 10) ? "" : "note " + std::to_string(id)}}};
  };
  e.fake_options = api_key_fake_options();
  return e;
}

// ---------------------------------------------------------------- fake

// Notes with empty text are rejected; the first bulk request answers 429 with
// a Retry-After when `rate_limit_first`.
class NotesApi final : public FakeApi {
 public:
  NotesApi(std::string api_key, bool rate_limit_first) : key_(std::move(api_key)), limit_first_(rate_limit_first) {}
  std::string name() const override { return "notes"; }
  nlohmann::json accepted() const override { return notes_; }
  void reset() override {
    notes_ = nlohmann::json::array();
    applied_.clear();
  }
  std::int64_t applied(const std::string& key) const override {
    auto it = applied_.find(key);
    return it == applied_.end() ? 0 : it->second;
  }

  Response handle(const Request& req, Time) override {
    if (req.headers.get("Authorization") != "Bearer " + key_) return json_response(401, {{"error", "bad key"}});
    if (std::exchange(limit_first_, false)) {
      Response r = json_response(429, {{"error", "slow down"}});
      r.headers.set("Retry-After", "3");
      return r;
    }
    nlohmann::json b = nlohmann::json::parse(req.body, nullptr, false);
    const bool bulk = req.path_only() == "/v1/notes/bulk";
    nlohmann::json notes = bulk ? b.value("notes", nlohmann::json::array()) : nlohmann::json::array({b});
    nlohmann::json rejected = nlohmann::json::array();
    for (std::size_t i = 0; i < notes.size(); ++i) {
      if (notes[i].value("text", "").empty()) {
        rejected.push_back({{"index", i}, {"reason", "empty text"}});
        continue;
      }
      // An upsert by note id: a note sent again (a retry after a lost answer) is stored once.
      std::int64_t& copies = applied_[oracle_key("notes.note", notes[i])];
      if (copies == 0) notes_.push_back(notes[i]);
      copies = 1;
    }
    if (!bulk && !rejected.empty()) return json_response(400, {{"error", "empty text"}});
    return json_response(200, {{"rejected", rejected}});
  }

 private:
  std::string key_;
  bool limit_first_;
  nlohmann::json notes_ = nlohmann::json::array();
  std::map<std::string, std::int64_t> applied_;
};

// ---------------------------------------------------------------- tests

struct NotesRun {
  JobCounts counts;
  std::int64_t applied_once = 0;
  nlohmann::json stats;
  std::string first_reason;
};

NotesRun run_notes(int records, bool rate_limit_first) {
  DestinationEntry entry = notes_destination();
  const nlohmann::json config_json = {{"api_key", "k"}, {"max_retries", 3}};
  auto config = Config::resolve(config_json, "notes", entry.schema);
  EXPECT_TRUE(config.ok());
  NotesApi api(entry.fake_options(*config).at("api_key"), rate_limit_first);
  testing::SimRig rig(entry, api, 3);
  auto dest = rig.make(config_json);
  if (!dest) return {};
  std::vector<Record> input;
  Rng rng(11);
  for (int i = 1; i <= records; ++i) input.push_back(entry.generate(rng, static_cast<JobId>(i), {}));
  rig.deliver(*dest, input);
  NotesRun out{rig.jobs.counts(), 0, dest->stats(), ""};
  for (const Record& r : input) {
    auto keys = entry.effects(r, *config);
    const JobOutcome o = rig.jobs.outcome(r.id);
    if (o.state == JobState::succeeded && keys.size() == 1 && api.applied(keys[0]) == 1) ++out.applied_once;
    if (o.state != JobState::succeeded && out.first_reason.empty()) out.first_reason = o.reason;
  }
  return out;
}

TEST(NotesFixture, NotesDeliverEveryValidRecordOnceAndFailTheRest) {
  NotesRun r = run_notes(250, false);
  EXPECT_EQ(r.counts.total(), 250u);
  EXPECT_EQ(r.counts.pending, 0u);
  EXPECT_GT(r.counts.failed, 0u);  // about one in ten has empty text
  EXPECT_EQ(r.counts.succeeded + r.counts.failed, 250u);
  EXPECT_EQ(static_cast<std::uint64_t>(r.applied_once), r.counts.succeeded);
  EXPECT_EQ(r.first_reason, "rejected by the API: empty text");
  EXPECT_EQ(r.stats.at("batches"), 3);  // 100 + 100 + 50
  EXPECT_EQ(r.stats.at("endpoints"), 1);
  EXPECT_TRUE(r.stats.contains("rate_limit_waits"));
}

TEST(NotesFixture, NotesWaitOutARetryAfterThenDeliver) {
  NotesRun r = run_notes(20, true);
  EXPECT_EQ(r.counts.pending + r.counts.aborted, 0u);
  EXPECT_EQ(static_cast<std::uint64_t>(r.applied_once), r.counts.succeeded);
  EXPECT_EQ(r.stats.at("batch_retries"), 1);
  EXPECT_EQ(r.stats.at("retry_after_waits"), 1);
}

// Registered through the same calls an out-of-tree destination uses, the
// fixture is held to every property by certify.
TEST(NotesFixture, CertifiedWithItsOwnFake) {
  FakeEntry fake;
  fake.name = "notes";
  fake.about = "the notes API (a test fixture)";
  fake.make = [](const nlohmann::json& options, const std::string&) -> Result<std::unique_ptr<Fake>> {
    return std::unique_ptr<Fake>(std::make_unique<NotesApi>(options.value("api_key", ""), false));
  };
  ASSERT_TRUE(add_fake(std::move(fake)).ok());
  ASSERT_TRUE(add_destination(notes_destination()).ok());
  CertifyOptions o;
  o.cases = 40;
  o.shrink = false;
  auto report = certify({find_destination("notes")}, o);
  ASSERT_TRUE(report.ok()) << report.error().message;
  std::ostringstream table;
  print_certify_table(table, *report);
  EXPECT_TRUE(report->ok()) << table.str();
}

}  // namespace
}  // namespace destsim
