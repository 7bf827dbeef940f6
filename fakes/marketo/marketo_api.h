// marketo_api.h — a stateful fake of Marketo's Bulk Lead Import (APIS.md §1).
//
// Endpoints (host e.g. "123-ABC-456.mktorest.com"; the bulk API has no /rest):
//   GET|POST /identity/oauth/token?grant_type=client_credentials&client_id=…&client_secret=…
//   POST /bulk/v1/leads.json                      multipart/form-data: file, format, lookupField
//   GET  /bulk/v1/leads/batch/{id}.json           status and counts
//   GET  /bulk/v1/leads/batch/{id}/failures.json  text/csv;charset=UTF-8, + "Import Failure Reason"
//   GET  /bulk/v1/leads/batch/{id}/warnings.json  text/csv;charset=UTF-8, + "Import Warning Reason"
//
// Like the real API, errors are HTTP 200 with `success:false, errors:[{code,
// message}]` (600 empty token, 601 invalid, 602 expired, 606 rate limit, 607
// daily quota, 612 content type, 613 multipart, 1003 bad file, 1006 unknown
// field, 1013 unknown import, 1016 too many imports, 1019 import in progress).
// A file over `file_bytes_max` is HTTP 413.
//
// The import lifecycle is computed lazily from `now` (no timers): imports queue
// in arrival order, at most `running_max` import at once for `importing_for`
// each, then Complete (rows applied) or Failed (`fail_imports` / `fail_ratio`);
// `stall_imports` never leave Importing. Row outcomes at completion:
//   - empty lookup value           → failure "1002 Missing value for required field '<f>'"
//   - a value not of the field type → failure "1001 Invalid value '<v>'. Required of type '<t>'"
//     (email: local@domain.tld; integer: digits)
//   - lookupField id, unknown id   → failure "1004 Lead not found"
//   - a string over its max length → imported truncated, warning
//     "Value for field '<f>' truncated to <n> characters"
// Failure and warning files echo each row's original bytes exactly.
//
// Stricter than the real API: the token only in `Authorization: Bearer` (the
// access_token parameter or form field is refused, 600/613); the multipart body
// and the CSV (RFC 4180) are validated strictly (CRLF part framing, known form
// fields, a header of known, unique REST field names including the lookup
// field, consistent column counts, well-formed quotes, at least one data row);
// format csv only (tsv/ssv → 1003); failures/warnings of an import that is not
// Complete → 1019/1003; a file over 10,000,000 bytes (not 10 MiB) → 413.
//
// The oracle: every applied row counts under oracle_key("marketo.lead", row),
// where `row` is the JSON object header-column → value as sent (before any
// truncation) — the destination's `effects` builds the same object.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_api.h"
#include "framework/result.h"
#include "framework/rng.h"

namespace destsim {

struct MarketoApiOptions {
  std::string client_id;      // empty: any client id is accepted (one is required)
  std::string client_secret;  // empty: any secret is accepted (one is required)
  Duration latency{0};  // the common "latency" option (fakes/fake_options.h)
  Duration token_ttl = std::chrono::seconds(3600);
  /// Known REST field names (the header must use only these). Types: email is
  /// "email"; id and leadScore "integer"; comments "text"; others "string".
  std::vector<std::string> fields = {"email", "firstName", "lastName", "company", "phone",   "title",
                                     "leadScore", "city",  "state",    "country", "website", "comments", "id"};
  std::int64_t field_max_length = 255;   // string fields
  std::int64_t text_max_length = 65535;  // text fields
  std::int64_t file_bytes_max = 10'000'000;
  std::int64_t running_max = 2;  // imports Importing at once
  std::int64_t queued_max = 10;  // imports Queued or Importing; more → 1016
  Duration importing_for = std::chrono::seconds(30);
  std::vector<std::int64_t> fail_imports;   // 1-based import ordinals that end Failed
  Ratio fail_ratio{0, 1};                   // share of imports that end Failed (deterministic per ordinal)
  std::vector<std::int64_t> stall_imports;  // ordinals that stay Importing forever
  std::int64_t rate_limit_calls = 100;      // per rate_limit_window; 0 disables (606)
  Duration rate_limit_window = std::chrono::seconds(20);
  /// Bulk calls per day; 0 = unlimited (607). The day resets at 00:00 CST, i.e.
  /// at loop time 6h + k·24h (loop time zero is the sim epoch 2024-01-01T00:00Z).
  std::int64_t daily_quota = 0;
  /// Import statuses renamed on the wire (Queued, Importing, Complete,
  /// Failed): a hostile Marketo answering statuses it never documented.
  std::map<std::string, std::string> status_values;

  /// Reads options from JSON (keys as above; durations and ratios as strings;
  /// client_secret may be {"secret": "…"}); errors name the key.
  static Result<MarketoApiOptions> from_json(const nlohmann::json& j, const std::string& where);
};

/// What MarketoApi::reset() forgets.
struct MarketoApiState {
  enum class ImportState { queued, importing, complete, failed };
  struct Row {
    std::string raw;                  // the row's bytes as uploaded (no line end)
    std::vector<std::string> values;  // parsed
  };
  struct Import {
    std::int64_t batch_id = 0;
    std::int64_t ordinal = 0;  // 1-based
    std::string lookup_field;
    std::string header_raw;
    std::vector<std::string> header;
    std::vector<Row> rows;
    Time created{};
    std::optional<Time> started, ends;  // ends unset while queued or stalled
    ImportState status = ImportState::queued;
    bool will_fail = false;
    std::string message;
    std::int64_t processed = 0, failed_rows = 0, warned_rows = 0;
    std::vector<std::pair<std::size_t, std::string>> failures, warnings;  // row index → reason
  };
  // Auth: the current token and when it expires.
  std::string token;
  Time token_expires{};
  std::int64_t tokens_issued = 0;
  std::map<std::string, bool> old_tokens;  // expired tokens (602 rather than 601)
  // Limits.
  std::deque<Time> calls;  // accepted bulk calls in the rate window
  std::int64_t quota_day = -1, quota_used = 0;
  // Imports, by batch id (ascending = arrival order).
  std::map<std::int64_t, Import> imports;
  std::int64_t next_batch = 1001;
  Time clock{};
  // Leads: id → field → value, and lookup indexes field → value → id.
  std::map<std::int64_t, std::map<std::string, std::string>> leads;
  std::map<std::string, std::map<std::string, std::int64_t>> index;
  std::int64_t next_lead = 1;
  std::int64_t applications = 0, requests = 0, rejected = 0;
};

class MarketoApi final : public StatefulFakeApi<MarketoApiOptions, MarketoApiState> {
 public:
  using StatefulFakeApi::StatefulFakeApi;
  std::string name() const override { return "marketo"; }
  Response handle(const Request& request, Time now) override;
  /// {leads: {"<lead id>": {fields}}, imports: [{batchId, status, rows, …}],
  ///  counts: {leads, imports, applications, requests, tokens_issued, …}}.
  /// Import statuses are as of the last request.
  nlohmann::json accepted() const override;
  /// Operations (Fake::control): expire_tokens, set_client_secret, request.
  Status control(const JsonIn& op, Time now) override;
  std::string control_ops() const override { return "expire_tokens, set_client_secret, request"; }
  void catch_up(Time now) override { advance(now); }

  std::int64_t leads() const { return static_cast<std::int64_t>(state_.leads.size()); }
  /// The fields of the lead whose `field` equals `value`, or null.
  nlohmann::json lead(const std::string& field, const std::string& value) const;

 private:
  using ImportState = MarketoApiState::ImportState;
  using Row = MarketoApiState::Row;
  using Import = MarketoApiState::Import;

  Response route(const Request& request, Time now);
  Response token(const Request& request, Time now);
  std::optional<Response> authorize(const Request& request, Time now);
  std::optional<Response> throttle(Time now);
  Response upload(const Request& request, Time now);
  Response status(std::int64_t batch_id);
  Response rows_file(std::int64_t batch_id, bool failures);
  void advance(Time now);
  void fill(Time t);
  void finish(Import& im, Time t);
  void apply_rows(Import& im);
  std::string field_type(const std::string& field) const;
  bool known_field(const std::string& field) const;
  std::int64_t find_lead(const std::string& field, const std::string& value) const;
  void index_field(const std::string& field);
  void set_field(std::int64_t lead_id, const std::string& field, const std::string& value);
  Import* find_import(std::int64_t batch_id);

};

}  // namespace destsim
