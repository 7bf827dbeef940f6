#include "destinations/eloqua/eloqua.h"

#include <algorithm>
#include <map>
#include <set>

#include "destinations/bulk_destination.h"
#include "framework/csv.h"
#include "framework/http_call.h"
#include "framework/json_in.h"
#include "framework/oracle.h"
#include "framework/rate_limiter.h"
#include "framework/text.h"

namespace destsim {

namespace {

constexpr const char* kEffect = "eloqua.contact";
constexpr const char* kLoginHost = "login.eloqua.com";
constexpr const char* kBulk = "/api/bulk/2.0";
constexpr std::int64_t kDataPostBytesMax = 33'554'432;  // 32 MB: a larger data POST is answered 404
constexpr std::int64_t kImportBytesMax = 268'435'456;   // 256 MB staged per import (Oracle: sync after ~250 MB)
constexpr std::int64_t kRowsMax = 1'000'000;
constexpr std::int64_t kFieldsMax = 100;                // fields per import definition
constexpr std::int64_t kPageLimit = 1'000;              // items per page asked for
constexpr std::int64_t kPagesMax = 10'000;              // pages read from one listing (bound)

std::int64_t integer(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<std::int64_t>() : -1;
}

// payload key → internal field name, in key order (the CSV's column order).
using FieldMap = std::vector<std::pair<std::string, std::string>>;

Result<FieldMap> field_map_of(const nlohmann::json& j, const std::string& identifier) {
  if (!j.is_object() || j.empty()) return Error::bad_input("fields: expected an object of payload key → internal field name");
  if (static_cast<std::int64_t>(j.size()) > kFieldsMax)
    return Error::bad_input("fields: " + std::to_string(j.size()) + " fields, over Eloqua's limit of " +
                            std::to_string(kFieldsMax) + " per import definition");
  FieldMap out;
  std::set<std::string> internal;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key().empty()) return Error::bad_input("fields: an empty payload key");
    if (!it->is_string() || it->get<std::string>().empty())
      return Error::bad_input("fields/" + it.key() + ": expected an internal field name (C_EmailAddress)");
    if (!internal.insert(it->get<std::string>()).second)
      return Error::bad_input("fields/" + it.key() + ": " + it->get<std::string>() + " is mapped twice");
    out.emplace_back(it.key(), it->get<std::string>());
  }
  if (!j.contains(identifier)) return Error::bad_input("identifier: \"" + identifier + "\" is not a key of fields");
  return out;
}

// The row's cells in the map's order, or an error naming the field.
Result<std::vector<std::string>> cells_of(const Record& r, const FieldMap& map, const std::string& identifier) {
  const nlohmann::json& p = r.payload;
  auto bad = [&](const std::string& what) {
    return Error::bad_input("record " + std::to_string(r.id) + ": " + what);
  };
  if (!p.is_object()) return bad("payload: expected an object");
  std::vector<std::string> cells;
  cells.reserve(map.size());
  for (const auto& [key, internal] : map) {
    auto it = p.find(key);
    if (it == p.end() || it->is_null()) cells.emplace_back();
    else if (it->is_string()) cells.push_back(it->get<std::string>());
    else if (it->is_number() || it->is_boolean()) cells.push_back(it->dump());
    else return bad(key + ": expected a string or a number, got " + std::string(it->type_name()));
    if (key == identifier && cells.back().empty()) return bad(key + ": the identifier is required");
  }
  return cells;
}

nlohmann::json row_object(const std::vector<std::string>& cells, const FieldMap& map) {
  nlohmann::json row = nlohmann::json::object();
  for (std::size_t i = 0; i < map.size(); ++i) row[map[i].second] = cells[i];
  return row;
}

// How long a 500 carrying errorSeverity asks to wait (APIS.md §3).
std::optional<Duration> severity_wait(const nlohmann::json& b) {
  if (!b.is_object() || !b.contains("errorSeverity") || !b["errorSeverity"].is_number_integer()) return std::nullopt;
  switch (b["errorSeverity"].get<std::int64_t>()) {
    case 0: return std::chrono::seconds(3'600);
    case 1: return std::chrono::seconds(1'800);
    case 2: return std::chrono::seconds(900);
    case 3: return std::chrono::seconds(120);
    default: return std::nullopt;
  }
}

std::string describe_response(const Response& r) {
  std::string out = "HTTP " + std::to_string(r.status);
  const nlohmann::json b = parse_json_body(r.body);
  if (std::string e = string_member(b, "error"); !e.empty()) out += ": " + e;
  if (b.is_object() && b.contains("failures") && b["failures"].is_array() && !b["failures"].empty()) {
    const nlohmann::json& f = b["failures"][0];
    out += ": " + string_member(f, "field") + " " + string_member(f, "constraint");
    if (b["failures"].size() > 1) out += " (+" + std::to_string(b["failures"].size() - 1) + " more)";
  }
  return out;
}

bool terminal(const std::string& status) { return status == "success" || status == "warning" || status == "error"; }

struct Settings {
  std::string host;
  std::string authorization;  // "Basic …"
  std::string secret;
  FieldMap fields;
  std::string identifier;
  std::string update_rule;
  std::string name_prefix;
  std::int64_t records_max = 100'000;
  std::int64_t file_bytes_max = 64'000'000;
  std::int64_t data_post_bytes_max = kDataPostBytesMax;
  std::int64_t requests_per_second = 10;
  Duration cleanup_interval = std::chrono::minutes(10);
};

class EloquaManager final : public AsyncDestinationManager {
 public:
  EloquaManager(DeliveryContext& ctx, Settings s)
      : ctx_(ctx), s_(std::move(s)), limiter_(ctx.loop, s_.requests_per_second) {
    ctx.loop.trace().add_secret(s_.secret);
    ctx.loop.trace().add_secret(s_.authorization.substr(6));
    std::vector<std::string> keys;
    for (const auto& [key, internal] : s_.fields) keys.push_back(key);
    header_ = csv_line(keys) + "\n";
  }

  std::string name() const override { return "eloqua"; }

  BulkLimits limits() const override {
    return BulkLimits{.records_max = s_.records_max,
                      .bytes_max = s_.file_bytes_max,
                      .header_bytes = static_cast<std::int64_t>(header_.size()),
                      .separator_bytes = 1};
  }

  Result<BulkItem> transform(const Record& record) override {
    DS_TRY(std::vector<std::string> cells, cells_of(record, s_.fields, s_.identifier));
    std::string line = csv_line(cells);
    const std::int64_t room = s_.data_post_bytes_max - static_cast<std::int64_t>(header_.size()) - 1;
    if (static_cast<std::int64_t>(line.size()) > room)
      return Error::bad_input("record " + std::to_string(record.id) + ": its row of " + std::to_string(line.size()) +
                              " bytes does not fit one data POST (" + std::to_string(s_.data_post_bytes_max) +
                              " bytes with the header; Eloqua answers a larger one 404)");
    return BulkItem{record.id, std::move(line)};
  }

  Task<UploadOutcome> upload(const std::vector<const BulkItem*>& items) override {
    UploadOutcome out;
    if (std::string why = co_await session(out); !why.empty()) {
      out.reason = why;
      co_return out;
    }
    co_await delete_doomed();
    if (!cleaned_ || ctx_.loop.now() - last_cleanup_ >= s_.cleanup_interval) co_await cleanup();

    // 1. The import definition.
    nlohmann::json def = {{"name", s_.name_prefix + "-" + std::to_string(++definitions_)},
                          {"fields", nlohmann::json::object()},
                          {"identifierFieldName", s_.identifier},
                          {"isSyncTriggeredOnImport", false},
                          {"updateRule", s_.update_rule}};
    for (const auto& [key, internal] : s_.fields) def["fields"][key] = "{{Contact.Field(" + internal + ")}}";
    Answer created = co_await call("POST", "/contacts/imports", def.dump(), "application/json");
    if (!created.ok(201)) {
      created.into(out);
      co_return out;
    }
    const std::string import_uri = string_member(created.body, "uri");
    if (import_uri.rfind("/contacts/imports/", 0) != 0) {
      out.kind = UploadOutcome::Kind::retry;
      out.reason = "HTTP 201 without a readable import definition uri";
      co_return out;
    }
    staging_.insert(import_uri);

    // 2. The rows, ≤ data_post_bytes_max per POST, the header in each.
    std::size_t next = 0;
    while (next < items.size()) {
      std::string body = header_;
      while (next < items.size() &&
             static_cast<std::int64_t>(body.size() + items[next]->data.size() + 1) <= s_.data_post_bytes_max) {
        body += items[next]->data;
        body.push_back('\n');
        ++next;
      }
      Answer staged = co_await call("POST", import_uri + "/data", std::move(body), "text/csv");
      if (!staged.ok(204)) {
        // Nothing is applied without a sync: the definition goes, the rows are uploaded again (or fail).
        staged.into(out);
        out.maybe_applied = false;
        if (out.kind == UploadOutcome::Kind::retry) out.reason = "staging: " + out.reason;
        // Deleted before the next request this manager makes (not now: the
        // answer an upload's outcome comes from is its last).
        doomed_.push_back(import_uri);
        staging_.erase(import_uri);
        co_return out;
      }
    }

    // 3. The sync.
    Answer sync = co_await call("POST", "/syncs", nlohmann::json{{"syncedInstanceUri", import_uri}}.dump(),
                                "application/json");
    staging_.erase(import_uri);
    if (!sync.ok(201)) {
      sync.into(out);
      // A sync that may have been created runs on its own: its definition is
      // a leftover the cleanup deletes once that sync ends.
      if (!out.maybe_applied) doomed_.push_back(import_uri);
      co_return out;
    }
    const std::string sync_uri = string_member(sync.body, "uri");
    if (sync_uri.rfind("/syncs/", 0) != 0) {
      out.kind = UploadOutcome::Kind::retry;
      out.maybe_applied = true;  // a sync may be running: upserts make uploading again safe
      out.reason = "HTTP 201 without a readable sync uri";
      co_return out;
    }
    out.kind = UploadOutcome::Kind::importing;
    out.import.import_id = sync_uri;
    nlohmann::json jobs = nlohmann::json::array();
    for (const BulkItem* item : items) {
      out.import.jobs.push_back(item->id);
      jobs.push_back(item->id);
    }
    out.import.params = {{"import_uri", import_uri}, {"jobs", std::move(jobs)}};
    co_return out;
  }

  Task<PollOutcome> poll(const ImportRef& import) override {
    PollOutcome out;
    UploadOutcome scratch;
    if (std::string why = co_await session(scratch); !why.empty()) {
      // Refused for good (401, an unknown field): the sync cannot be read, its
      // jobs' outcome is unknown; otherwise ask again at the next poll.
      out.transient = scratch.kind != UploadOutcome::Kind::failed;
      out.status = ImportStatus::failed;
      out.http_status = scratch.http_status;
      out.retry_after = scratch.retry_after;
      out.reason = why;
      co_return out;
    }
    co_await delete_doomed();
    // A terminal status is read twice: the definition is deleted (and an
    // error sync's logs read) between the two reads, so the answer the
    // outcome comes from is always the sync's own, the last one.
    std::string logs;
    for (int round = 0; round < 2; ++round) {
      Answer a = co_await call("GET", import.import_id);
      out.http_status = a.status;
      if (!a.ok(200)) {
        out.retry_after = a.wait;
        if (a.retryable) {
          out.transient = true;
          out.reason = a.reason;
          co_return out;
        }
        // 404 or another 4xx: the sync is gone or unreadable; it may have
        // applied its rows (the router uploads them again: upserts).
        out.status = ImportStatus::failed;
        out.reason = a.reason;
        co_return out;
      }
      const std::string status = string_member(a.body, "status");
      if (status == "pending" || status == "active") {
        out.status = ImportStatus::running;
        co_return out;
      }
      if (!terminal(status)) {
        out.transient = true;  // D3: never taken for done
        out.reason = status.empty() ? "HTTP 200 with an unreadable sync (no status)"
                                    : "unknown sync status \"" + status + "\"";
        co_return out;
      }
      if (round == 0) {
        // Terminal: the definition is not needed any more (the sync's rejects stay readable).
        co_await remove_definition(string_member(import.params, "import_uri"));
        if (status == "error") logs = co_await error_logs(import.import_id);
        continue;
      }
      if (status == "error") {
        out.status = ImportStatus::failed;
        out.reason = "sync " + import.import_id + " ended error" + logs;
        co_return out;
      }
      out.status = ImportStatus::completed;  // success, or warning: the rejects say which rows
    }
    co_return out;
  }

  Task<StatsOutcome> upload_stats(const ImportRef& import) override {
    StatsOutcome out;
    const nlohmann::json& params = import.params;
    if (!params.is_object() || !params.contains("jobs") || !params["jobs"].is_array() ||
        params["jobs"].size() != import.jobs.size()) {
      out.reason = "sync " + import.import_id + ": stored params unreadable (expected jobs)";
      co_return out;
    }
    std::map<std::int64_t, std::string> rejected;  // recordIndex → reason
    std::int64_t total = -1, seen = 0, bad_index = 0;
    for (std::int64_t page = 0, offset = 0;; ++page) {
      if (page >= kPagesMax) {
        out.transient = true;
        out.reason = "rejects of " + import.import_id + " did not end within " + std::to_string(kPagesMax) + " pages";
        co_return out;
      }
      Answer a = co_await call("GET", import.import_id + "/rejects?limit=" + std::to_string(kPageLimit) +
                                          "&offset=" + std::to_string(offset));
      if (!a.ok(200)) {
        out.transient = a.retryable;
        out.reason = "rejects: " + a.reason;
        co_return out;
      }
      const nlohmann::json& items = a.body.is_object() && a.body.contains("items") ? a.body["items"] : nlohmann::json();
      if (!items.is_array() || integer(a.body, "totalResults") < 0) {
        out.transient = true;
        out.reason = "rejects: HTTP 200 with an unreadable page";
        co_return out;
      }
      total = integer(a.body, "totalResults");
      for (const auto& item : items) {
        ++seen;
        const std::int64_t index = integer(item, "recordIndex");
        if (index < 1 || index > static_cast<std::int64_t>(import.jobs.size()) || rejected.count(index)) {
          ++bad_index;
          continue;
        }
        std::string why = string_member(item, "statusCode");
        if (std::string m = string_member(item, "message"); !m.empty()) why += (why.empty() ? "" : ": ") + m;
        if (item.contains("invalidFields") && item["invalidFields"].is_array() && !item["invalidFields"].empty())
          why += " (" + item["invalidFields"].dump() + ")";
        rejected[index] = "rejected by Eloqua: " + why;
      }
      offset += static_cast<std::int64_t>(items.size());
      const bool more = a.body.contains("hasMore") && a.body["hasMore"].is_boolean() && a.body["hasMore"].get<bool>();
      if (!more || items.empty()) break;
    }
    for (const auto& [index, why] : rejected)
      out.results.push_back({import.jobs[static_cast<std::size_t>(index - 1)], Verdict::fail, why});
    if (bad_index == 0 && seen == total) {
      for (std::size_t i = 0; i < import.jobs.size(); ++i)
        if (!rejected.count(static_cast<std::int64_t>(i) + 1)) out.results.push_back({import.jobs[i], Verdict::ok, ""});
    } else {
      out.reason = "sync " + import.import_id + ": the rejects do not account for themselves (" +
                   std::to_string(seen) + " read of " + std::to_string(total) + ", " + std::to_string(bad_index) +
                   " outside the " + std::to_string(import.jobs.size()) + " rows or repeated)";
    }
    co_return out;
  }

  bool idempotent() const override { return true; }  // upserts by the unique field

 private:
  // One answered request: a readable outcome of every failure kind.
  struct Answer {
    int status = 0;  // 0: no answer
    nlohmann::json body;
    bool retryable = false;
    bool maybe_applied = false;
    std::optional<Duration> wait;
    std::string reason;
    bool ok(int want) const { return status == want; }
    void into(UploadOutcome& out) const {
      out.http_status = status;
      out.kind = retryable ? UploadOutcome::Kind::retry : UploadOutcome::Kind::failed;
      out.maybe_applied = maybe_applied;
      out.retry_after = wait;
      out.reason = reason;
      if (status == 429) out.reason_kind = ReasonKind::rate_limited;
    }
  };

  Request request(const char* method, const std::string& host, std::string path, std::string body,
                  const char* content_type) const {
    Request r;
    r.method = method;
    r.host = host;
    r.path = std::move(path);
    r.headers.set("Authorization", s_.authorization);
    if (content_type) r.headers.set("Content-Type", content_type);
    r.body = std::move(body);
    return r;
  }

  Task<Answer> call(const char* method, std::string path, std::string body = "",
                    const char* content_type = nullptr) {
    co_return co_await send(request(method, pod_host_, pod_prefix_ + kBulk + path, std::move(body), content_type));
  }

  Task<Answer> send(Request req) {
    Answer a;
    const bool post = req.method == "POST";
    co_await limiter_.acquire("api");
    HttpResult res = co_await ctx_.transport.send(std::move(req));
    if (!res.ok()) {
      a.retryable = true;
      a.maybe_applied = post && res.error().maybe_applied;
      a.reason = std::string("transport ") + transport_error_kind_name(res.error().kind) + ": " + res.error().message;
      co_return a;
    }
    const Response& r = *res;
    a.status = r.status;
    a.body = parse_json_body(r.body);
    if (r.ok()) co_return a;
    a.reason = describe_response(r);
    a.wait = retry_after(r, ctx_.loop);
    if (!a.wait && r.status >= 500) a.wait = severity_wait(a.body);
    if (a.wait) limiter_.hold("api", ctx_.loop.now() + *a.wait);  // I1: every request waits
    a.retryable = r.status == 408 || r.status == 429 || r.status >= 500;
    a.maybe_applied = post && may_have_applied(r.status);
    co_return a;
  }

  // The pod's base URL (GET /id) and the field list, once. "" when ready;
  // else why not, with `out` set to retry or fail.
  Task<std::string> session(UploadOutcome& out) {
    if (ready_) co_return "";
    Answer id = co_await send(request("GET", s_.host, "/id", "", nullptr));
    if (!id.ok(200)) {
      id.into(out);
      co_return "GET /id: " + id.reason;
    }
    const std::string base = id.body.is_object() && id.body.contains("urls") ? string_member(id.body["urls"], "base") : "";
    const auto scheme = base.find("://");
    if (scheme == std::string::npos || base.size() <= scheme + 3) {
      out.kind = UploadOutcome::Kind::retry;
      co_return "GET /id: no readable urls.base";
    }
    const std::string rest = base.substr(scheme + 3);
    const auto slash = rest.find('/');
    pod_host_ = rest.substr(0, slash);
    pod_prefix_ = slash == std::string::npos ? "" : rest.substr(slash);
    while (!pod_prefix_.empty() && pod_prefix_.back() == '/') pod_prefix_.pop_back();
    // Every page of the field list (the peer reads the first only).
    std::map<std::string, bool> unique;  // internal name → hasUniquenessConstraint
    for (std::int64_t page = 0, offset = 0;; ++page) {
      Answer f = co_await call("GET", "/contacts/fields?limit=" + std::to_string(kPageLimit) + "&offset=" +
                                          std::to_string(offset));
      if (!f.ok(200)) {
        f.into(out);
        co_return "fields: " + f.reason;
      }
      const nlohmann::json& items = f.body.is_object() && f.body.contains("items") ? f.body["items"] : nlohmann::json();
      if (!items.is_array() || page >= kPagesMax) {
        out.kind = UploadOutcome::Kind::retry;
        co_return "fields: an unreadable or endless listing";
      }
      for (const auto& item : items) {
        const std::string internal = string_member(item, "internalName");
        if (!internal.empty())
          unique[internal] = item.contains("hasUniquenessConstraint") && item["hasUniquenessConstraint"] == true;
      }
      offset += static_cast<std::int64_t>(items.size());
      if (!(f.body.contains("hasMore") && f.body["hasMore"] == true) || items.empty()) break;
    }
    for (const auto& [key, internal] : s_.fields) {
      auto it = unique.find(internal);
      if (it == unique.end()) {
        out.kind = UploadOutcome::Kind::failed;
        co_return "fields/" + key + ": Eloqua has no contact field " + internal;
      }
      if (key == s_.identifier && !it->second) {
        out.kind = UploadOutcome::Kind::failed;
        co_return "identifier " + key + " → " + internal + ": not a field with a uniqueness constraint";
      }
    }
    ready_ = true;
    co_return "";
  }

  Task<void> remove_definition(std::string import_uri) {
    if (import_uri.empty()) co_return;
    Answer a = co_await call("DELETE", import_uri);
    (void)a;  // 204, or gone already (404); a failure leaves a leftover the cleanup deletes
  }

  // The definitions of failed uploads (staging or sync creation refused):
  // nothing of theirs was applied, nothing will be.
  Task<void> delete_doomed() {
    std::vector<std::string> doomed = std::exchange(doomed_, {});
    for (const auto& uri : doomed) co_await remove_definition(uri);
  }

  // The error logs' messages of a sync that ended error, for its jobs' reason.
  Task<std::string> error_logs(std::string sync_uri) {
    Answer a = co_await call("GET", sync_uri + "/logs?limit=" + std::to_string(kPageLimit));
    std::string out;
    if (a.ok(200) && a.body.contains("items") && a.body["items"].is_array()) {
      for (const auto& item : a.body["items"])
        if (string_member(item, "severity") == "error") out += ": " + string_member(item, "statusCode") + " " + string_member(item, "message");
    }
    co_return out;
  }

  // Every page of a listing (`path` without limit/offset), or null on a fault.
  Task<std::optional<std::vector<nlohmann::json>>> list(std::string path) {
    std::vector<nlohmann::json> all;
    for (std::int64_t page = 0, offset = 0; page < kPagesMax; ++page) {
      Answer a = co_await call("GET", path + "?limit=" + std::to_string(kPageLimit) + "&offset=" + std::to_string(offset));
      if (!a.ok(200) || !a.body.contains("items") || !a.body["items"].is_array()) co_return std::nullopt;
      for (const auto& item : a.body["items"]) all.push_back(item);
      offset += static_cast<std::int64_t>(a.body["items"].size());
      if (!(a.body.contains("hasMore") && a.body["hasMore"] == true) || a.body["items"].empty()) co_return all;
    }
    co_return std::nullopt;
  }

  // Deletes this connector's leftover definitions (by name prefix): those with
  // no sync that this process is not staging, and those whose sync ended.
  // Definitions whose sync still runs are left (deleting one fails its sync).
  Task<void> cleanup() {
    cleaned_ = true;
    last_cleanup_ = ctx_.loop.now();
    auto defs = co_await list("/contacts/imports");
    if (!defs) co_return;
    auto syncs = co_await list("/syncs");
    if (!syncs) co_return;
    std::map<std::string, std::string> sync_status;  // import uri → its sync's status
    for (const auto& s : *syncs) sync_status[string_member(s, "syncedInstanceUri")] = string_member(s, "status");
    const std::string prefix = s_.name_prefix + "-";
    for (const auto& d : *defs) {
      const std::string uri = string_member(d, "uri");
      if (string_member(d, "name").rfind(prefix, 0) != 0 || uri.empty() || staging_.count(uri)) continue;
      auto it = sync_status.find(uri);
      if (it == sync_status.end() || terminal(it->second)) co_await remove_definition(uri);
    }
  }

  DeliveryContext& ctx_;
  Settings s_;
  RateLimiter limiter_;
  std::string header_;
  bool ready_ = false;
  std::string pod_host_, pod_prefix_;
  bool cleaned_ = false;
  Time last_cleanup_{};
  std::set<std::string> staging_;  // definitions this process is staging (not leftovers)
  std::vector<std::string> doomed_;  // definitions to delete before the next request
  std::int64_t definitions_ = 0;
};

const nlohmann::json& default_fields() {
  static const nlohmann::json f = {{"email", "C_EmailAddress"},       {"first_name", "C_FirstName"},
                                   {"last_name", "C_LastName"},       {"company", "C_Company"},
                                   {"city", "C_City"},                {"country", "C_Country"},
                                   {"mobile_phone", "C_MobilePhone"}, {"title", "C_Title"},
                                   {"lead_score", "C_Lead_Score1"},   {"last_purchase", "C_Last_Purchase_Date1"}};
  return f;
}

std::vector<ConfigKey> schema() {
  BulkConfig d;
  d.upload_interval = std::chrono::seconds(30);
  d.poll_interval = std::chrono::seconds(30);
  d.poll_timeout = std::chrono::hours(4);
  d.imports_in_flight = 2;
  d.max_buffer_size = 100'000;
  d.retry.max_attempts = 5;
  d.retry.delay_initial = std::chrono::seconds(10);
  d.retry.delay_max = std::chrono::minutes(10);
  d.retry.elapsed_max = std::chrono::hours(24);
  std::vector<ConfigKey> keys = {
      {"company", ConfigType::string, nullptr, "the Eloqua site (company) name"},
      {"username", ConfigType::string, nullptr, "the Eloqua user"},
      {"password", ConfigType::secret, nullptr, "the user's password (Basic auth: company\\user:password)"},
      {"host", ConfigType::string, kLoginHost, "login host answering GET /id (the pod's base URL)"},
      {"fields", ConfigType::json, default_fields(), "payload key → Eloqua contact field internal name (≤ 100)"},
      {"identifier", ConfigType::string, "email", "the payload key mapped to the unique field (the email)"},
      {"update_rule", ConfigType::string, "always", "the import's updateRule: always, ifNewIsNotNull, ifBlank"},
      {"name_prefix", ConfigType::string, "destsim",
       "import definitions are named <prefix>-<n>; leftovers with it are deleted (unique per connector)"},
      {"records_max", ConfigType::integer, 100'000, "rows per import", 1, kRowsMax},
      {"file_bytes_max", ConfigType::size, "64MB", "bytes staged per import (over several data POSTs)", 1'024,
       kImportBytesMax},
      {"data_post_bytes_max", ConfigType::size, "32MiB", "bytes per data POST (Eloqua answers over 32 MB with 404)",
       1'024, kDataPostBytesMax},
      {"requests_per_second", ConfigType::integer, 10, "client-side pacing of every request", 1, 100},
      {"cleanup_interval", ConfigType::duration, "10m", "least time between two leftover cleanups"},
  };
  for (auto& k : bulk_config_keys(d)) keys.push_back(std::move(k));
  return keys;
}

Result<Settings> settings_from(const Config& config) {
  Settings s;
  s.host = config.string("host");
  const std::string company = config.string("company"), user = config.string("username");
  s.secret = config.secret("password").value;
  if (company.empty() || user.empty() || s.secret.empty())
    return Error::bad_input("company, username and password: expected non-empty values");
  s.authorization = "Basic " + base64_encode(company + "\\" + user + ":" + s.secret);
  s.identifier = config.string("identifier");
  DS_TRY(s.fields, field_map_of(config.json("fields"), s.identifier));
  s.update_rule = config.string("update_rule");
  if (s.update_rule != "always" && s.update_rule != "ifNewIsNotNull" && s.update_rule != "ifBlank")
    return Error::bad_input("update_rule: expected always, ifNewIsNotNull or ifBlank, got \"" + s.update_rule + "\"");
  s.name_prefix = config.string("name_prefix");
  if (s.name_prefix.empty() || s.name_prefix.size() > 60)
    return Error::bad_input("name_prefix: expected 1 to 60 characters");
  s.records_max = config.integer("records_max");
  s.file_bytes_max = config.size("file_bytes_max");
  s.data_post_bytes_max = config.size("data_post_bytes_max");
  s.requests_per_second = config.integer("requests_per_second");
  s.cleanup_interval = config.duration("cleanup_interval");
  if (s.host.empty()) return Error::bad_input("host: expected a non-empty host name");
  return s;
}

Record generate(Rng& rng, JobId id, const GenerateOptions& o) {
  static const char* kFirst[] = {"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"};
  static const char* kCity[] = {"Reading", "Austin", "Lyon", "Osaka", "Tartu"};
  const std::string n = std::to_string(id);
  Record r;
  r.id = id;
  r.stream = "contacts";
  nlohmann::json p = {{"email", "contact" + n + "@example.com"},
                      {"first_name", odd_text_or(o, id, 1, kFirst[rng.below(6)])},
                      {"last_name", odd_text_or(o, id, 2, "Doe")},
                      {"company", odd_text_or(o, id, 3, "Acme " + std::to_string(rng.below(50)))},
                      {"city", kCity[rng.below(5)]}};
  if (rng.chance(1, 2)) p["lead_score"] = rng.below(100);
  if (rng.chance(1, 3)) p["last_purchase"] = "2023-" + std::string(rng.chance(1, 2) ? "06" : "11") + "-1" +
                                              std::to_string(rng.below(10));
  if (rng.chance(o.invalid)) {
    // Each a reject Eloqua reports at sync time (warning), mapped back by recordIndex.
    switch (rng.below(3)) {
      case 0: p["email"] = "contact" + n + "-at-example.com"; break;  // ELQ-00002
      case 1: p["last_purchase"] = "2023-13-45"; break;              // ELQ-00004
      default: p["title"] = std::string(101, 't'); break;             // ELQ-00001: over 100 bytes
    }
  }
  return padded_record(std::move(r), std::move(p), o, "/pad");
}

}  // namespace

Result<std::unique_ptr<AsyncDestinationManager>> eloqua_manager(DeliveryContext& ctx, const Config& config) {
  DS_TRY(Settings s, settings_from(config));
  return std::unique_ptr<AsyncDestinationManager>(std::make_unique<EloquaManager>(ctx, std::move(s)));
}

DestinationEntry eloqua_destination() {
  DestinationEntry e = destination_entry(
      "eloqua", "eloqua", kLoginHost,
      "Oracle Eloqua Bulk API 2.0 contact imports on the bulk path: definition, ≤ 32 MB data POSTs, sync, rejects "
      "by recordIndex, definitions always deleted",
      schema(),
      {.limits = {.records_max = kRowsMax, .bytes_max = kImportBytesMax},
       .retryable_statuses = {408, 429, 500, 502, 503, 504},
       .longest_api_wait = std::chrono::hours(1),  // a 500 of errorSeverity 0 asks for an hour
       .idempotent_writes = true,
       .bulk = true,
       .import_concurrency = 3});
  e.make = [](DeliveryContext& ctx, const Config& config) {
    return make_bulk_destination<EloquaManager>(ctx, config, settings_from);
  };
  e.effects = [](const Record& r, const Config& config) -> std::vector<std::string> {
    auto map = field_map_of(config.json("fields"), config.string("identifier"));
    if (!map.ok()) return {};
    auto cells = cells_of(r, *map, config.string("identifier"));
    if (!cells.ok()) return {};
    return {oracle_key(kEffect, row_object(*cells, *map))};
  };
  e.generate = generate;
  e.fake_options = [](const Config& config) -> nlohmann::json {
    return {{"company", config.string("company")},
            {"username", config.string("username")},
            {"password", config.secret("password").value}};
  };
  e.certify_config = {{"company", "Acme"}, {"username", "destsim"}, {"password", {{"secret", "certify-pw"}}}};
  return e;
}

}  // namespace destsim
