// catalog.cpp — the built-in fakes, and the ones added at run time.
#include "fakes/catalog.h"

#include <deque>
#include <tuple>

#include "fakes/async_job/async_job_api.h"
#include "fakes/bingads/bingads_api.h"
#include "fakes/eloqua/eloqua_api.h"
#include "framework/http_call.h"
#include "fakes/iterable/iterable_api.h"
#include "fakes/lytics/lytics_api.h"
#include "fakes/klaviyo/klaviyo_api.h"
#include "fakes/marketo/marketo_api.h"
#include "fakes/scripted/scripted_api.h"
#include "fakes/snowpipe/snowpipe_api.h"
#include "fakes/warehouse/warehouse_api.h"
#include "fakes/yandex_metrica/yandex_metrica_api.h"
#include "fakes/fake_options.h"
#include "fakes/sftp/sftp_fake.h"
#include "framework/json_in.h"

namespace destsim {

namespace {

// A stateful HTTP fake built from its options type (whose from_json names a
// bad key and its JSON path).
template <class Api, class Options>
Result<std::unique_ptr<Fake>> make_api(const nlohmann::json& options, const std::string& where) {
  DS_TRY(Options o, Options::from_json(options, where));
  return std::unique_ptr<Fake>(std::make_unique<Api>(std::move(o)));
}

Result<std::unique_ptr<Fake>> make_scripted(const nlohmann::json& options, const std::string& where) {
  JsonIn in(options, where);
  ScriptedApiOptions o;
  DS_TRY(CommonFakeOptions common,
         read_common_fake_options(in, "", {"fail_count", "rate_limit_count", "content_too_large_count"}));
  if (!options.is_null()) {
    if (in.has("fail_count")) { DS_TRY(o.fail_count, in.at("fail_count").integer(0)); }
    if (in.has("rate_limit_count")) { DS_TRY(o.rate_limit_count, in.at("rate_limit_count").integer(0)); }
    if (in.has("content_too_large_count")) {
      DS_TRY(o.content_too_large_count, in.at("content_too_large_count").integer(0));
    }
  }
  auto fake = std::make_unique<ScriptedApi>(o);
  fake->set_latency(common.latency);
  return std::unique_ptr<Fake>(std::move(fake));
}

Result<std::unique_ptr<Fake>> make_sftp(const nlohmann::json& options, const std::string& where) {
  DS_TRY(SftpFakeOptions o, SftpFakeOptions::from_json(options, where));
  return std::unique_ptr<Fake>(std::make_unique<SftpFake>(std::move(o)));
}

FakeEntry http_fake(std::string name, std::string about, decltype(FakeEntry::make) make) {
  FakeEntry e;
  e.name = std::move(name);
  e.about = std::move(about);
  e.make = std::move(make);
  return e;
}

FakeEntry warehouse_entry() {
  FakeEntry e = http_fake("warehouse",
                          "bulk-loading warehouse: tables, staging areas, atomic commit (append, dedupe, truncate refresh)",
                          [](const nlohmann::json& options, const std::string& where) -> Result<std::unique_ptr<Fake>> {
                            DS_TRY(WarehouseApiOptions o, WarehouseApiOptions::from_json(options, where));
                            return std::unique_ptr<Fake>(std::make_unique<WarehouseApi>(std::move(o)));
                          });
  // An admin rotates the key mid-sync: staged data must not be committed
  // half, and a failed stream commits nothing (F2).
  e.operator_acts = {{"key rotated", {{"set_api_key", "rotated-by-operator"}}, {}}};
  return e;
}

// Iterable answers its errors as {"msg", "code", "params"}; these codes mean a
// permanent rejection on a 4xx (fakes/iterable/iterable_api.cpp).
FakeEntry iterable_entry() {
  FakeEntry e = http_fake("iterable", "Iterable's bulk API: users, events, lists, subscriptions; validation, 413, rate limits",
                          make_api<IterableApi, IterableApiOptions>);
  for (const char* code : {"RequestFieldsTypesMismatched", "InvalidEmailAddressError", "BadParams", "GenericError"})
    e.error_bodies.push_back(nlohmann::json{{"msg", "injected"}, {"code", code}, {"params", nullptr}}.dump());
  // An admin rotates the key and does not tell the connector: every request
  // from then on is refused as unauthorized (nothing is retried for ever,
  // nothing is lost, accepted imports end unknown).
  e.operator_acts = {{"key rotated", {{"set_api_key", "rotated-by-operator"}}, {}}};
  return e;
}

// The async-job API answering statuses its clients were never told about: a
// renamed success, a renamed failure, a renamed pending state (D3: none may be
// taken for success).
FakeEntry async_job_entry() {
  FakeEntry e = http_fake("async_job",
                          "generic async-job API (SendGrid-like): create a job with records, poll pending/ready/failure",
                          make_api<AsyncJobApi, AsyncJobApiOptions>);
  e.hostile = {{"undocumented ready", {{"status_values", {{"ready", "complete_v2"}}}}},
               {"undocumented failure", {{"status_values", {{"failure", "exploded"}}}}},
               {"undocumented pending", {{"status_values", {{"pending", "queued_for_review"}}}}}};
  // An admin rotates the key and does not tell the connector: every request
  // from then on is refused as unauthorized (nothing is retried for ever,
  // nothing is lost, accepted imports end unknown).
  e.operator_acts = {{"key rotated", {{"set_api_key", "rotated-by-operator"}}, {}}};
  return e;
}

FakeEntry klaviyo_entry() {
  FakeEntry e = http_fake("klaviyo",
                          "Klaviyo Bulk Profile Import: JSON:API jobs, all-or-nothing validation, lazy lifecycle, import "
                          "errors",
                          make_api<KlaviyoApi, KlaviyoApiOptions>);
  // JSON:API error documents, as Klaviyo sends them with any status.
  for (const char* code : {"invalid", "not_found", "permission_denied", "throttled", "error"})
    e.error_bodies.push_back(
        nlohmann::json{{"errors", {{{"id", "injected"}, {"status", 400}, {"code", code}, {"title", "injected"},
                                    {"detail", "injected"}}}}}
            .dump());
  // Klaviyo answering job statuses it never documented (D3: none may be
  // taken for done; the poll timeout ends such an import, outcome unknown).
  e.hostile = {{"undocumented complete", {{"status_values", {{"complete", "completed"}}}}},
               {"undocumented cancelled", {{"status_values", {{"cancelled", "canceled"}}}}},
               {"undocumented processing", {{"status_values", {{"processing", "in_progress"}}}}}};
  // An admin rotates the private key and does not tell the connector.
  e.operator_acts = {{"key rotated", {{"set_api_key", "pk_rotated_by_operator"}}, {}}};
  e.results_reads = {{"GET", "/api/profile-bulk-import-jobs/*/import-errors"}};
  return e;
}

// Marketo answers its API errors as HTTP 200 with success false and a code
// (APIS.md §1): tokens (601, 602), permission (603), throttles (606, 607, 615),
// capacity (604, 608, 611, 713, 1016, 1029), and record errors (1003). Plus
// every HTTP status class.
FakeEntry marketo_entry() {
  FakeEntry e = http_fake("marketo",
                          "Marketo Bulk Lead Import: OAuth token, multipart CSV upload, import queue, failures/warnings "
                          "files",
                          make_api<MarketoApi, MarketoApiOptions>);
  e.error_table = http_error_table();
  for (const char* code : {"601", "602", "603", "604", "606", "607", "608", "611", "615", "713", "1003", "1016", "1029"}) {
    FakeEntry::ErrorAnswer a;
    a.label = std::string("Marketo ") + code;
    a.status = 200;
    a.body = nlohmann::json{{"requestId", "injected"},
                            {"success", false},
                            {"errors", {{{"code", code}, {"message", "injected"}}}}}
                 .dump();
    e.error_table.push_back(std::move(a));
  }
  e.hostile = {{"undocumented Complete", {{"status_values", {{"Complete", "Completed"}}}}},
               {"undocumented Failed", {{"status_values", {{"Failed", "Aborted"}}}}},
               {"undocumented Importing", {{"status_values", {{"Importing", "Processing"}}}}}};
  // An admin resets the API user's tokens (or Marketo's hour passes) while
  // an import is queued or polled: the next call meets 602.
  e.operator_acts = {{"tokens expired", {{"expire_tokens", true}}, {}}};
  e.results_reads = {{"GET", "/bulk/v1/leads/batch/*/failures.json"}, {"GET", "/bulk/v1/leads/batch/*/warnings.json"}};
  return e;
}

// Yandex answers every error as {"errors": [{"error_type", "message"}], "code",
// "message"} (APIS.md §6), whatever the status.
FakeEntry yandex_metrica_entry() {
  FakeEntry e = http_fake("yandex_metrica",
                          "Yandex Metrica offline conversions: multipart CSV upload, uploading status, per-row "
                          "validation counts, per-second/parallel/daily quotas",
                          make_api<YandexMetricaApi, YandexMetricaApiOptions>);
  const std::pair<const char*, int> types[] = {{"invalid_token", 403},
                                               {"access_denied", 403},
                                               {"invalid_parameter", 400},
                                               {"quota_requests_by_uid", 429},
                                               {"backend_error", 500}};
  for (const auto& [type, code] : types)
    e.error_bodies.push_back(nlohmann::json{{"errors", {{{"error_type", type}, {"message", "injected"}}}},
                                            {"code", code},
                                            {"message", "injected"}}
                                 .dump());
  // Yandex answering statuses it never documented (D3: none may be taken for
  // done), and its quota answered 420 as the English docs say, with a
  // per-second quota low enough to be met.
  e.hostile = {{"undocumented processed", {{"status_values", {{"PROCESSED", "PROCESSED_PARTIALLY"}}}}},
               {"undocumented uploaded", {{"status_values", {{"UPLOADED", "IN_PROGRESS"}}}}},
               {"quota as 420", {{"quota_status", 420}, {"requests_per_second", 2}}}};
  // An admin revokes the OAuth token and does not tell the connector.
  e.operator_acts = {{"key rotated", {{"set_api_key", "y0_rotated_by_operator"}}, {}}};
  return e;
}

// Eloqua's error shapes (APIS.md §3): a temporary 500 with its severity, a
// validation failure list, a bare error string.
FakeEntry eloqua_entry() {
  FakeEntry e = http_fake("eloqua",
                          "Oracle Eloqua Bulk API 2.0: contact import definitions, CSV staging (32 MB -> 404), "
                          "explicit syncs with a lazy lifecycle, rejects and logs",
                          make_api<EloquaApi, EloquaApiOptions>);
  e.error_bodies = {
      R"({"error":"Unable to process request due to a temporary error.","errorSeverity":2})",
      R"({"error":"Unable to process request due to a temporary error.","errorSeverity":3})",
      R"({"failures":[{"field":"injected","constraint":"injected","value":null}]})",
      R"({"error":"Not Found"})",
      R"({"error":"Too Many Requests"})"};
  // Eloqua answering sync statuses it never documented (D3), and pages of
  // three items: a client that ignores hasMore reads a third of the fields
  // and of the rejects.
  e.hostile = {{"undocumented success", {{"status_values", {{"success", "succeeded"}}}}},
               {"undocumented active", {{"status_values", {{"active", "processing"}}}}},
               {"small pages", {{"page_size_max", 3}}}};
  e.results_reads = {{"GET", "*/syncs/*/rejects"}};
  return e;
}

// A Bulk Service SOAP fault (HTTP 500) carrying one AdApiError, as the
// service answers credentials, throttling and internal errors (APIS.md §5).
std::string bingads_fault(int code, const char* error_code, const char* message) {
  return std::string(
             "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault>"
             "<faultcode>s:Server</faultcode><faultstring>Invalid client data. Check the SOAP fault details for more "
             "information. TrackingId: injected.</faultstring><detail><AdApiFaultDetail "
             "xmlns=\"https://adapi.microsoft.com\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">"
             "<TrackingId>injected</TrackingId><Errors><AdApiError><Code>") +
         std::to_string(code) + "</Code><Detail i:nil=\"true\"/><ErrorCode>" + error_code + "</ErrorCode><Message>" +
         message + "</Message></AdApiError></Errors></AdApiFaultDetail></detail></s:Fault></s:Body></s:Envelope>";
}

// Bing answers SOAP faults (XML, HTTP 500), the upload door JSON and the
// result store Azure XML. Injected answers draw every HTTP status class and
// the AdApi codes the SDK singles out as retry-class.
FakeEntry bingads_entry() {
  FakeEntry e = http_fake("bingads",
                          "Microsoft Advertising Bulk Service v13 (SOAP): GetBulkUploadUrl, zip/CSV uploads of "
                          "customer lists and offline conversions, lazy lifecycle, result files with error rows",
                          make_api<BingAdsApi, BingAdsApiOptions>);
  e.error_bodies = {bingads_fault(0, "InternalError", "An internal error has occurred."),
                    R"({"TrackingId":"injected","RequestId":"injected","Code":0,"ErrorCode":"InternalError","Message":"injected"})"};
  e.error_table = http_error_table();
  const std::tuple<const char*, int, const char*> faults[] = {
      {"CallRateExceeded", 117, "The number of calls has exceeded the call rate limit."},
      {"AuthenticationTokenExpired", 109, "The authentication token has expired."},
      {"InvalidCredentials", 105, "Authentication failed."},
      {"InternalError", 0, "An internal error has occurred."}};
  for (const auto& [error_code, code, message] : faults) {
    FakeEntry::ErrorAnswer a;
    a.label = std::string("Bing ") + error_code;
    a.status = 500;
    a.body = bingads_fault(code, error_code, message);
    e.error_table.push_back(std::move(a));
  }
  // Bing answering request statuses it never documented (D3).
  e.hostile = {{"undocumented in-progress", {{"status_values", {{"InProgress", "Processing"}}}}},
               {"undocumented completion", {{"status_values", {{"CompletedWithErrors", "CompletedWithWarnings"}}}}}};
  e.results_reads = {{"GET", "/bulkuploadresultfiles/*"}};
  // The account's OAuth token expires under the running connector and no new
  // one comes (the refresh failed, consent revoked): every call from then on
  // answers AuthenticationTokenExpired (109) — nothing is retried for ever,
  // nothing is lost, imports already accepted end unknown.
  e.operator_acts = {{"token expired", {{"expire_token", true}}, {}}};
  return e;
}

// Lytics answers errors in its envelope {"status", "message"} (APIS.md §7).
FakeEntry lytics_entry() {
  FakeEntry e = http_fake("lytics",
                          "Lytics bulk CSV upload: raw-key auth, plain or gzip CSV, header row, timestamp_field, "
                          "dryrun/droperrors, 10 MB cap on api.lytics.io, synchronous message/rejected counts",
                          make_api<LyticsApi, LyticsApiOptions>);
  e.error_bodies = {R"({"status":500,"message":"injected"})", R"({"status":400,"message":"row 1: injected"})",
                    R"({"status":413,"message":"injected"})", R"({"status":415,"message":"injected"})",
                    R"({"status":429,"message":"injected"})", R"({"status":401,"message":"injected"})"};
  // An account over a small request quota: 429 with Retry-After to the next minute.
  e.hostile = {{"one request a minute", {{"requests_per_minute", 1}}}};
  // An admin rotates the key and does not tell the connector: every request
  // from then on is refused as unauthorized (nothing is retried for ever,
  // nothing is lost, accepted imports end unknown).
  e.operator_acts = {{"key rotated", {{"set_api_key", "rotated-by-operator"}}, {}}};
  return e;
}

// The sidecar answers its failures as HTTP 200 with success:false and a code
// (APIS.md §8), so certify injects those beside every status class: on any
// call (an open, an insert, a status read), and an unknown error sometimes
// after the sidecar applied the call.
FakeEntry snowpipe_entry() {
  FakeEntry e = http_fake("snowpipe",
                          "Snowpipe Streaming through RudderStack's sidecar: channels, inserts under offset tokens, "
                          "committed vs latest-inserted status, bulk status, delete; typed tables, SQL API, discards",
                          make_api<SnowpipeApi, SnowpipeApiOptions>);
  e.error_bodies = {R"({"success":false,"code":"ERR_UNKNOWN_ERROR","error":"injected"})",
                    R"({"success":false,"error":"injected"})"};
  e.error_table = http_error_table();
  auto coded = [](const char* code) {
    return std::string(R"({"success":false,"code":")") + code + R"(","error":"injected","errors":[],)" +
           R"("snowflakeAPIHttpCode":0,"snowflakeAPIMessage":"injected"})";
  };
  e.error_table.push_back({"sidecar ERR_UNKNOWN_ERROR", 200, coded("ERR_UNKNOWN_ERROR"), true});
  e.error_table.push_back({"sidecar ERR_SCHEMA_CONFLICT", 200, coded("ERR_SCHEMA_CONFLICT"), false});
  e.error_table.push_back({"sidecar ERR_AUTHENTICATION_FAILED", 200, coded("ERR_AUTHENTICATION_FAILED"), false});
  e.hostile = {{"lost inserts", {{"lose_every", 3}}},
               {"channels turn invalid", {{"invalidate_every", 4}}},
               {"sidecar restarts", {{"restart_every", 5}}},
               {"stalled commits", {{"stall_every", 6}}},
               {"ON_ERROR ABORT", {{"on_error", "abort"}}},
               {"slow commits", {{"commit_delay", "90s"}}},
               {"empty warehouse", {{"schemas", nlohmann::json::array()}, {"tables", nlohmann::json::array()}}}};
  // An operator's CREATE OR REPLACE TABLE of every table (a migration, a
  // restore) under the running connector: its channels turn invalid, its
  // committed tokens are forgotten (rudder-server #5977/#5957).
  // A channel opened into the replaced tables that dies before its first
  // commit must be sent again, not ended "outcome unknown" (the history rule
  // fixed in fe4f476): acts in turn, and half the other acts at a step,
  // meet such deaths.
  e.operator_acts = {{"tables replaced",
                      {{"replace_tables", nlohmann::json::object()}},
                      {{"sidecar restarts often", {{"restart_every", 2}}},
                       {"channels often turn invalid", {{"invalidate_every", 2}}}}}};
  return e;
}

FakeEntry sftp_entry() {
  FakeEntry e;
  e.name = "sftp";
  e.about = "SFTP server: a jailed file tree with quota and permissions (sim door; `serve sftp` = real libssh server)";
  e.door = FakeDoor::file;
  // The generic faults every SFTP operation takes: respond needs an SFTP
  // status, too_large and garble a put or get, and rate_limit has no SFTP meaning.
  e.fault_kinds = {FaultKind::latency, FaultKind::timeout, FaultKind::reset, FaultKind::outage, FaultKind::respond};
  // SFTP statuses a server answers an operation with; a generic failure may
  // come after the server applied it (a rename done, then SSH_FX_FAILURE).
  e.error_table = {{"SFTP 2 no such file", 2, "", false},
                   {"SFTP 3 permission denied", 3, "", false},
                   {"SFTP 4 failure", 4, "", true},
                   {"SFTP 14 no space", 14, "", false}};
  // The disk fills under the running connector (another tenant's files):
  // from then on a put writes what fits and fails no_space.
  e.operator_acts = {{"disk filled", {{"set_quota", "64KB"}}, {}}};
  e.make = make_sftp;
  return e;
}

}  // namespace

std::vector<FakeEntry::ErrorAnswer> http_error_table() {
  std::vector<FakeEntry::ErrorAnswer> t;
  for (int st : {400, 401, 403, 404, 408, 409, 422, 500, 502, 503, 504})
    t.push_back({"HTTP " + std::to_string(st), st, "", may_have_applied(st)});
  return t;
}

std::vector<FakeEntry::ErrorAnswer> error_table_of(const FakeEntry& entry) {
  if (!entry.error_table.empty() || entry.door != FakeDoor::http) return entry.error_table;
  return http_error_table();
}

const std::vector<FakeEntry>& fake_catalog() {
  static const std::vector<FakeEntry> catalog = {
      http_fake("scripted",
                "generic fake with the Iterable Go client's fake-transport semantics (queued, 500s, 429s, 413s, "
                "success)",
                make_scripted),
      iterable_entry(),
      klaviyo_entry(),
      async_job_entry(),
      marketo_entry(),
      warehouse_entry(),
      yandex_metrica_entry(),
      eloqua_entry(),
      bingads_entry(),
      lytics_entry(),
      snowpipe_entry(),
      sftp_entry(),
  };
  return catalog;
}

namespace {
std::deque<FakeEntry>& added() {
  static std::deque<FakeEntry> entries;  // a deque: pointers stay valid as it grows
  return entries;
}
}  // namespace

Status add_fake(FakeEntry entry) {
  if (entry.name.empty()) return Error::bad_input("a fake needs a name");
  if (find_fake(entry.name)) return Error::bad_input("fake \"" + entry.name + "\" is already registered");
  if (!entry.make) return Error::bad_input("fake \"" + entry.name + "\": make is required");
  if (entry.fault_kinds.empty())
    return Error::bad_input("fake \"" + entry.name + "\": fault_kinds needs at least one kind (latency applies to all)");
  added().push_back(std::move(entry));
  return Status::success();
}

const FakeEntry* find_fake(const std::string& name) {
  for (const auto& e : fake_catalog())
    if (e.name == name) return &e;
  for (const auto& e : added())
    if (e.name == name) return &e;
  return nullptr;
}

const nlohmann::json* FakeEntry::hostile_options(const std::string& label) const {
  for (const auto& h : hostile)
    if (h.label == label) return &h.options;
  for (const auto& a : operator_acts)
    for (const auto& h : a.companions)
      if (h.label == label) return &h.options;
  return nullptr;
}

std::vector<const FakeEntry*> all_fakes() {
  std::vector<const FakeEntry*> out;
  for (const auto& e : fake_catalog()) out.push_back(&e);
  for (const auto& e : added()) out.push_back(&e);
  return out;
}

std::string fake_names() {
  std::string out;
  for (const auto* e : all_fakes()) out += (out.empty() ? "" : ", ") + e->name;
  return out;
}

}  // namespace destsim
