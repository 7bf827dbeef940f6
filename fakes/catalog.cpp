#include "fakes/catalog.h"

#include "fakes/async_job/async_job_api.h"
#include "fakes/iterable/iterable_api.h"
#include "fakes/klaviyo/klaviyo_api.h"
#include "fakes/marketo/marketo_api.h"
#include "fakes/scripted/scripted_api.h"
#include "fakes/warehouse/warehouse_api.h"
#include "fakes/sftp/sftp_fake.h"
#include "framework/json_in.h"

namespace destsim {

namespace {

Result<std::unique_ptr<Fake>> make_scripted(const nlohmann::json& options, const std::string& where) {
  JsonIn in(options, where);
  ScriptedApiOptions o;
  if (!options.is_null()) {
    DS_CHECK(in.only_keys({"fail_count", "rate_limit_count", "content_too_large_count"}));
    if (in.has("fail_count")) { DS_TRY(o.fail_count, in.at("fail_count").integer(0)); }
    if (in.has("rate_limit_count")) { DS_TRY(o.rate_limit_count, in.at("rate_limit_count").integer(0)); }
    if (in.has("content_too_large_count")) {
      DS_TRY(o.content_too_large_count, in.at("content_too_large_count").integer(0));
    }
  }
  return std::unique_ptr<Fake>(std::make_unique<ScriptedApi>(o));
}

Result<std::unique_ptr<Fake>> make_async_job(const nlohmann::json& options, const std::string& where) {
  DS_TRY(AsyncJobApiOptions o, AsyncJobApiOptions::from_json(options, where));
  return std::unique_ptr<Fake>(std::make_unique<AsyncJobApi>(std::move(o)));
}

Result<std::unique_ptr<Fake>> make_iterable(const nlohmann::json& options, const std::string& where) {
  DS_TRY(IterableApiOptions o, IterableApiOptions::from_json(options, where));
  return std::unique_ptr<Fake>(std::make_unique<IterableApi>(std::move(o)));
}

Result<std::unique_ptr<Fake>> make_klaviyo(const nlohmann::json& options, const std::string& where) {
  DS_TRY(KlaviyoApiOptions o, KlaviyoApiOptions::from_json(options, where));
  return std::unique_ptr<Fake>(std::make_unique<KlaviyoApi>(std::move(o)));
}

Result<std::unique_ptr<Fake>> make_marketo(const nlohmann::json& options, const std::string& where) {
  DS_TRY(MarketoApiOptions o, MarketoApiOptions::from_json(options, where));
  return std::unique_ptr<Fake>(std::make_unique<MarketoApi>(std::move(o)));
}

Result<std::unique_ptr<Fake>> make_sftp(const nlohmann::json& options, const std::string& where) {
  DS_TRY(SftpFakeOptions o, SftpFakeOptions::from_json(options, where));
  return std::unique_ptr<Fake>(std::make_unique<SftpFake>(std::move(o)));
}

}  // namespace

const std::vector<FakeEntry>& fake_catalog() {
  static const std::vector<FakeEntry> catalog = {
      {"scripted",
       "generic fake with the Iterable Go client's fake-transport semantics (queued, 500s, 429s, 413s, success)",
       make_scripted},
      {"iterable", "Iterable's bulk API: users, events, lists, subscriptions; validation, 413, rate limits",
       make_iterable},
      {"klaviyo", "Klaviyo Bulk Profile Import: JSON:API jobs, all-or-nothing validation, lazy lifecycle, import errors",
       make_klaviyo},
      {"async_job", "generic async-job API (SendGrid-like): create a job with records, poll pending/ready/failure",
       make_async_job},
      {"marketo", "Marketo Bulk Lead Import: OAuth token, multipart CSV upload, import queue, failures/warnings files",
       make_marketo},
      {"warehouse", "bulk-loading warehouse: tables, staging areas, atomic commit (append, dedupe, truncate refresh)",
       [](const nlohmann::json& options, const std::string& where) -> Result<std::unique_ptr<Fake>> {
         DS_TRY(WarehouseApiOptions o, WarehouseApiOptions::from_json(options, where));
         return std::unique_ptr<Fake>(std::make_unique<WarehouseApi>(std::move(o)));
       }},
      {"sftp", "SFTP server: a jailed file tree with quota and permissions (sim door; `serve sftp` = real libssh server)",
       make_sftp},
  };
  return catalog;
}

const FakeEntry* find_fake(const std::string& name) {
  for (const auto& e : fake_catalog())
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace destsim
