// eloqua_api.h — a stateful fake of Oracle Eloqua's Bulk API 2.0, contact
// imports (APIS.md §3).
//
// Endpoints (any host; JSON answers unless stated):
//   GET    /id → 200 {site:{id,name}, user:{id,username}, urls:{base, apis:{rest:{bulk}}}}
// and under /api/bulk/2.0 (another prefix is 404):
//   GET    /contacts/fields?limit&offset   → 200 page of fields
//          {name, internalName, dataType, hasUniquenessConstraint, statement, uri}
//   GET    /contacts/fields/<n>            → 200 one field (the item's `uri`)
//   POST   /contacts/imports               → 201 the definition {…, uri:"/contacts/imports/<n>"}
//   GET    /contacts/imports?limit&offset  → 200 page of the live definitions
//   GET    /contacts/imports/<n>           → 200 the definition
//   DELETE /contacts/imports/<n>           → 204
//   POST   /contacts/imports/<n>/data      → 204, rows staged (text/csv)
//   POST   /syncs {syncedInstanceUri}      → 201 {syncedInstanceUri, status:"pending", createdAt,
//                                                 createdBy, uri:"/syncs/<m>"}
//   GET    /syncs?limit&offset             → 200 page of every sync (creation order)
//   GET    /syncs/<m>                      → 200 {syncedInstanceUri, syncStartedAt?, syncEndedAt?,
//                                                 status, createdAt, createdBy, uri}
//   GET    /syncs/<m>/rejects?limit&offset → 200 page of
//          {fieldValues, message, statusCode, recordIndex, invalidFields}
//   GET    /syncs/<m>/logs?limit&offset    → 200 page of
//          {count, createdAt, message, severity, statusCode, syncUri}
// A page is {items,totalResults,limit,offset,count,hasMore}: `limit` 1..1000
// (default 1000), `offset` ≥ 0, else 400; option `page_size_max` caps the items
// one page holds, so a client must follow hasMore/offset. Paths are matched
// exactly (no trailing '/', no '//'); <n> and <m> are decimal ids from 1.
// An unknown path is 404, a wrong method on a known one 405.
//
// Every request needs `Authorization: Basic base64("<company>\<user>:<password>")`
// (options `company`, `username`, `password`; empty = any non-empty value),
// else 401 {"error":"Unauthorized"}. Errors: 404 {"error":"Not Found"}, 405,
// 415, 429 {"error":…}; validation 400 and conflicts 409 as
// {"failures":[{field,constraint,value}]} (every problem of the request).
//
// An import definition: `name` (1..100 characters), `fields` (1..`fields_max`
// keys, each mapped to exactly "{{Contact.Field(<internalName>)}}" of a field
// in option `fields`), `identifierFieldName` (a key of `fields` mapped to the
// unique field), `isSyncTriggeredOnImport` (false) and optionally `updateRule`
// (always, the default; ifNewIsNotNull, ifBlank, useFieldRule). Stricter than the real API
// (UNCONFIRMED): `isSyncTriggeredOnImport` is required and must be false (only
// explicit syncs); an unknown body key is 400; two keys mapping one field, or
// an empty key, are 400; a POST whose Content-Type is set and is not JSON is 415.
// Keys are kept (and echoed) in sorted order.
//
// Data: `POST …/data` must be `Content-Type: text/csv` (415 otherwise;
// stricter: the real API also takes JSON, UNCONFIRMED). A body over
// `data_bytes_max` (32 MB) is 404 {"error":"Not Found"}, exactly as an unknown
// import (the documented behaviour). The CSV (RFC 4180; CRLF or LF) has a
// header of exactly the definition's keys in any order, each once, then rows of
// as many cells (a 400 names the 1-based line); an empty or header-only body
// is 400, so is a body that is not UTF-8 (stricter, UNCONFIRMED). A 400 stages
// nothing. Rows accumulate over several POSTs. Data posted to an import that
// already has a sync (any status) is 409 (stricter, UNCONFIRMED: the real API
// stages it for a later sync).
//
// Syncs: one per import (a second is 409; an unknown or deleted import, or one
// with no staged rows, is 400). Lifecycle, computed lazily from `now` (no
// timers): `pending` for `pending_for`, `active` for `active_for`, then
// terminal. At the terminal moment (settled at the start of every request and
// in catch_up, in order of completion) every staged row is validated and the
// valid ones applied: `success` when no row was rejected, `warning` when some
// were, `error` when all were. A sync whose 1-based ordinal is in
// `error_syncs`, or whose import was deleted before it ended (stricter,
// UNCONFIRMED), ends `error`, applies nothing and lists no rejects; its logs
// say why. `status_values` renames statuses on the wire (hostile variants).
//
// Row validation (a failing row is a reject, never applied). The statusCode
// mapping is UNCONFIRMED (Oracle documents ELQ-00002 only for invalid email):
//   ELQ-00002 an emailAddress field not a well-formed email (the unique field
//             must be one; another may be empty);
//   ELQ-00001 a `text` value over `text_max` (100) bytes, `largeText` over
//             `large_text_max` (32,000);
//   ELQ-00003 a `number` value not empty and not -?digits[.digits];
//   ELQ-00004 a `date` value not empty and not a real YYYY-MM-DD or
//             YYYY-MM-DD HH:MM:SS.
// A reject lists every failing key in `invalidFields` (sorted); its statusCode
// and message are the unique field's failure if it failed, else the first
// failing key's. `recordIndex` is the row's 1-based index among all rows staged
// on the import, across every data POST in order.
//
// Apply: a valid row upserts the contact whose unique field (an email) matches,
// case-insensitively. Update rules (UNCONFIRMED, as this fake implements them):
// `always` writes every mapped value, empty ones included; `ifNewIsNotNull`
// writes the non-empty ones; `ifBlank` writes a value only where the stored one
// is empty or absent; `useFieldRule` behaves as `always` (the fake has no
// per-field rules).
//
// Logs (when terminal): one warning per reject statusCode (count = its
// rejects, in code order), an error `ELQ-00107` naming the cause for an error
// sync, then information `ELQ-00101` "Sync processed for sync /syncs/<m>,
// resulting in <Success|Warning|Error> status." with count = rows applied.
// Before the terminal moment rejects and logs are empty pages. The log codes
// other than the reject codes (ELQ-00101, ELQ-00107) are UNCONFIRMED.
// Instants are written as Eloqua writes them, "2024-01-01T00:00:10.0000000Z"
// (seven fractional digits; loop time gives milliseconds).
//
// Rate limits: fixed one-hour windows of loop time (0 = off):
// `imports_per_hour` (2000) definition creations, `syncs_per_hour` (4000) sync
// creations. A POST /contacts/imports or /syncs when its window is full is
// 429 {"error":"Too Many Requests"} with Retry-After (whole seconds to the
// window's end); only creations take a slot.
//
// The oracle: each applied row counts once under
// `oracle_key("eloqua.contact", row)` (framework/oracle.h), where `row` is a
// JSON object mapping each mapped field's internalName (not the import key) to
// the cell string exactly as staged, empty cells included.
//
// Catalog registration (for fakes/catalog.cpp):
//   about: "Oracle Eloqua Bulk API 2.0: contact import definitions, CSV staging (32 MB → 404), explicit syncs with a
//           lazy lifecycle, rejects and logs"
//   error_bodies (Eloqua's shapes):
//     {"error":"Unable to process request due to a temporary error.","errorSeverity":2}
//     {"failures":[{"field":"injected","constraint":"injected","value":null}]}
//     {"error":"Not Found"}
//     {"error":"Too Many Requests"}
//   hostile: {"undocumented success", {"status_values": {"success": "succeeded"}}}
//            {"undocumented active",  {"status_values": {"active": "processing"}}}
//            {"small pages",          {"page_size_max": 3}}
//   hosts: GET /id sends clients to base_url's host; extra_hosts() names it, so
//          the simulator routes it here too.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_api.h"
#include "framework/result.h"

namespace destsim {

struct EloquaApiOptions {
  /// One contact field the API has.
  struct Field {
    std::string name, internal_name, data_type;  // data_type: text, emailAddress, date, number, largeText
    bool unique = false;
  };
  std::string company;   // empty: any non-empty company
  std::string username;  // empty: any non-empty user
  std::string password;  // empty: any non-empty password (the secret key)
  Duration latency{0};   // the common "latency" option (fakes/fake_options.h)
  std::string base_url = "https://secure.p04.eloqua.com";
  /// The contact fields; exactly one is unique and of type emailAddress.
  std::vector<Field> fields = default_fields();
  std::int64_t page_size_max = 1000;
  std::int64_t fields_max = 100;
  std::int64_t data_bytes_max = 33'554'432;
  std::int64_t text_max = 100;
  std::int64_t large_text_max = 32'000;
  Duration pending_for = std::chrono::seconds(10);
  Duration active_for = std::chrono::seconds(30);
  /// 1-based creation ordinals of syncs that end `error`.
  std::vector<std::int64_t> error_syncs;
  std::int64_t imports_per_hour = 2000;
  std::int64_t syncs_per_hour = 4000;
  /// Sync statuses renamed on the wire (pending, active, success, warning, error).
  std::map<std::string, std::string> status_values;

  /// Email Address (C_EmailAddress, unique), First/Last Name, Company, City,
  /// Country, Mobile Phone, Title, Lead Score (number), Last Purchase (date).
  static std::vector<Field> default_fields();
  /// Reads options from JSON (keys as above; durations as strings); errors name the key.
  static Result<EloquaApiOptions> from_json(const nlohmann::json& j, const std::string& where);
};

/// What EloquaApi::reset() forgets.
struct EloquaApiState {
  struct Import {
    std::int64_t id = 0;
    std::string name;
    std::vector<std::string> keys;         // sorted
    std::vector<std::size_t> field_index;  // per key: its field in options().fields
    std::string identifier;                // a key
    std::string update_rule;
    Time created{};
    bool deleted = false;
    std::vector<std::vector<std::string>> rows;  // staged cells in `keys` order, until its sync settles
    std::int64_t rows_staged = 0;
    std::int64_t sync = 0;  // its sync's id; 0: none
  };
  struct Reject {
    std::int64_t record_index = 0;
    std::string code, message;
    nlohmann::json field_values;  // key → cell
    std::vector<std::string> invalid_fields;
  };
  enum class Outcome { none, success, warning, error };
  struct Sync {
    std::int64_t id = 0;  // also its 1-based ordinal
    std::int64_t import_id = 0;
    Time created{};
    std::string created_by;
    bool fail = false;            // in error_syncs
    bool import_deleted = false;  // its import was deleted before it ended
    bool settled = false;
    Outcome outcome = Outcome::none;
    std::int64_t rows = 0, applied = 0;
    std::vector<Reject> rejects;
  };
  struct Contact {
    std::map<std::string, std::string> fields;  // internalName → value
    std::int64_t updates = 0;
  };
  struct Window {
    std::int64_t index = -1;
    std::int64_t count = 0;
  };
  std::vector<Import> imports;              // by id - 1
  std::vector<Sync> syncs;                  // by id - 1
  std::map<std::string, Contact> contacts;  // by lower-cased email
  std::int64_t applications = 0, rejects = 0;
  Window imports_window, syncs_window;
  std::int64_t requests = 0, rejected = 0, throttled = 0;
  Time last_now{};  // the latest request's (or catch_up's) time, for accepted()
};

class EloquaApi final : public StatefulFakeApi<EloquaApiOptions, EloquaApiState> {
 public:
  using StatefulFakeApi::StatefulFakeApi;
  std::string name() const override { return "eloqua"; }
  Response handle(const Request& request, Time now) override;
  nlohmann::json accepted() const override;
  /// Operations (Fake::control): set_password, request.
  Status control(const JsonIn& op, Time now) override;
  std::string control_ops() const override { return "set_password, request"; }
  void catch_up(Time now) override;

  std::int64_t requests() const { return state_.requests; }
  std::int64_t contacts() const { return static_cast<std::int64_t>(state_.contacts.size()); }
  std::int64_t imports() const { return static_cast<std::int64_t>(state_.imports.size()); }
  std::int64_t syncs() const { return static_cast<std::int64_t>(state_.syncs.size()); }
  /// The host of option `base_url` ("secure.p04.eloqua.com"): where GET /id
  /// sends clients, for a door that routes that host to this fake too.
  std::string base_host() const;
  std::vector<std::string> extra_hosts() const override { return {base_host()}; }

 private:
  using Import = EloquaApiState::Import;
  using Reject = EloquaApiState::Reject;
  using Outcome = EloquaApiState::Outcome;
  using Sync = EloquaApiState::Sync;
  using Window = EloquaApiState::Window;
  enum class Phase { pending, active, terminal };
  struct Credentials {
    std::string company, user;
  };

  Response route(const Request& request, Time now);
  Response get_id(const Credentials& who) const;
  Response get_fields(const Request& request);
  Response get_field(std::int64_t n);
  Response create_import(const Request& request, Time now);
  Response list_imports(const Request& request);
  Response list_syncs(const Request& request, Time now);
  Response get_import(std::int64_t n);
  Response delete_import(std::int64_t n);
  Response post_data(const Request& request, std::int64_t n);
  Response create_sync(const Request& request, const Credentials& who, Time now);
  Response get_sync(std::int64_t m, Time now);
  Response get_rejects(const Request& request, std::int64_t m);
  Response get_logs(const Request& request, std::int64_t m);

  /// The credentials of a valid Basic header, or nothing (then 401).
  std::optional<Credentials> authenticate(const Request& request) const;
  /// Applies every sync due by `now`, in completion order.
  void settle_due(Time now);
  void settle(Sync& sync);
  Phase phase(const Sync& sync, Time now) const;
  Time done_at(const Sync& sync) const;
  /// The documented status of `sync` at `now` (settled ones: their outcome).
  const char* status_name(const Sync& sync, Time now) const;
  /// True when window `w` (moved to `now`'s hour) has room under `per_hour`;
  /// else false and the whole seconds until it does. A creation takes its slot itself.
  bool room(Window& w, std::int64_t per_hour, Time now, std::int64_t* wait_s);
  /// The live import `n`, or null.
  Import* live_import(std::int64_t n);
  Sync* find_sync(std::int64_t m);
  std::string iso(Time t) const;
  nlohmann::json import_json(const Import& im) const;
  nlohmann::json sync_json(const Sync& sync, Time now) const;
  nlohmann::json logs_of(const Sync& sync) const;
  /// A refused request (counted in `rejected`): {"failures": failures}, or {"error": text}.
  Response failed(int status, nlohmann::json failures);
  Response refused(int status, const char* text);
  /// 429 for a full window (counted in `throttled`).
  Response throttled(std::int64_t wait_s);
};

}  // namespace destsim
