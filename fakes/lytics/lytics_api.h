// lytics_api.h — a stateful fake of Lytics' bulk CSV upload (APIS.md §7).
//
// Sources: [RS] = rudder-server's lytics_bulk_upload (how RudderStack calls it);
// [OAS] = api-evangelist/lytics `openapi/lytics-data-upload-api-openapi.yml`, a
// secondary copy of Lytics' spec (operation BulkCSVUpload). Every fact below
// without one of them is UNCONFIRMED and takes the strict reading, saying so.
//
// One endpoint, on any host (the sim routes the destination's host here):
//   POST /collect/bulk/{stream}   the body is the raw CSV, not multipart [RS]
// Any other path is 404; another method on that path is 405 with `Allow: POST`.
// `{stream}` is 1+ of [A-Za-z0-9_-] (UNCONFIRMED: the docs' streams look like
// `user_regdata`; strict: anything else is 400 naming it).
//
// Every error is `{"status": <code>, "message": "..."}` with Content-Type
// application/json: the envelope of Lytics' 200 answer [OAS] (UNCONFIRMED for
// errors). Checks, in order, each answering at once; a refused request applies
// nothing:
//   1. auth → 401. The API key is `Authorization: <key>`, raw, no scheme [RS],
//      [OAS curl example]; or the query parameter `access_token` ([OAS]: "The
//      Lytics DATA API key … Or use Authorization Header"). Refused: neither
//      given, an empty key, a key with a space or tab (a scheme such as
//      "Bearer x"), both given (UNCONFIRMED; strict: which one counts is not
//      documented), or — with option `api_key` set — another key. A `key=`
//      query parameter is NOT read: [OAS] documents it for no /collect
//      endpoint (only api-evangelist's derived spec of the /api/* endpoints
//      names it), so it is never read as a key: alone it gets a 401 that says
//      so; beside a good key, rule 4 refuses it as an unknown parameter.
//   2. rate limit → 429 (UNCONFIRMED: APIS.md gives no limit). Option
//      `requests_per_minute` (0 = off, the default: no documented number to
//      model; the fault plans inject 429s anyway) over fixed one-minute
//      windows of loop time; `Retry-After` is the whole seconds (at least 1)
//      to the next window. Requests refused at 1 or here count toward no window.
//   3. the route: 404, then 405; the stream's form → 400.
//   4. query parameters → 400; each at most once (a repeated one is refused,
//      UNCONFIRMED), percent-decoded. The documented set [OAS]:
//      - `timestamp_field`: non-empty; must name a header column (exactly,
//        case-sensitive) — checked once the header is read → 400.
//      - `dryrun`, `droperrors`: exactly `true` or `false` (UNCONFIRMED: Go's
//        ParseBool takes more — 1, t, TRUE; strict: only these two).
//      - `delimiter`: one ASCII character, default `,`: a tab, a space, or
//        printable punctuation other than `"`. [OAS] says "either t=tab, or |
//        may be accepted": `t` is ambiguous (tab, or the letter?), so letters
//        and digits are refused and the 400 says to send a tab as %09.
//      - `headers`: "Comma delimited list of header columns for csv (if not
//        first row)" [OAS]: the body then has no header row, every record is
//        data. Split on `,` whatever the delimiter, no quoting, no trimming.
//      - `append`: "JSON encoded object of additional name-value pairs to
//        append to each record" [OAS]: a JSON object of non-empty names and
//        string values (UNCONFIRMED: numbers? strict: strings only); a name
//        equal to a header column (ignoring ASCII case) is 400 (UNCONFIRMED
//        which would win; strict: neither).
//      - `filename`: "just for record-keeping" [OAS]: non-empty UTF-8, echoed
//        as the answer's `filename` (the stream's name when absent).
//      - `account_id`: "Your Lytics account ID" [OAS]: non-empty, else ignored.
//      - `access_token`: the key, rule 1.
//      Any other parameter (`key` included) is 400 naming it and the allowed ones.
//   5. `Content-Type` → 415: `application/csv` [RS], [OAS] or `text/csv`,
//      case-insensitive, parameters allowed, but a `charset` other than utf-8
//      is refused (UNCONFIRMED; strict: the file must be UTF-8). The JSON bulk
//      upload [OAS] shares the path: this fake models only the CSV one, so
//      `application/json` is 415 too. `Content-Encoding`: none, `identity` or
//      `gzip`; any other → 415.
//   6. size → 413: on host `api.lytics.io` (ASCII case and a `:port` ignored)
//      the body may be at most `api_bytes_max` bytes (10,000,000: "the
//      api.lytics.io domain is limited to 10MB file uploads" [OAS]; MB read as
//      10^6), on any other host (`bulk.lytics.io`, "for large files" [OAS]) at
//      most `bulk_bytes_max` (1 GiB; UNCONFIRMED: no documented cap).
//   7. gzip ("Upload CSV files (may be gzipped)" [OAS]). A body sent with
//      `Content-Encoding: gzip` is inflated (zlib; several gzip members in a
//      row are one file, as Go's gzip reader reads them), and so is one that
//      starts with the gzip magic 1f 8b and has no Content-Encoding: [OAS]'s
//      own example posts `users.csv.gz` with only `Content-type:
//      application/csv`. Option `gzip_sniff` false refuses that form 400 (a
//      stricter variant); a body declared `identity` is read as it is.
//      Corrupt, truncated, or with bytes after the last member → 400.
//      Inflated past `inflated_bytes_max` (1 GiB) → 413; on
//      api.lytics.io also past `api_bytes_max` (UNCONFIRMED whether "10MB
//      file" means the sent or the inflated file; strict: both).
//   8. the CSV (RFC 4180, with the delimiter) → 400 for the whole request:
//      empty; starting with a UTF-8 BOM (UNCONFIRMED; strict: it would become
//      part of the first column's name); malformed (a quote inside an
//      unquoted cell, text after a closing quote, an unterminated quote, a
//      bare CR; the message names the physical line) — UNCONFIRMED whether
//      Lytics drops such a row: strict, a malformed file is refused whole,
//      even with droperrors. Lines end with LF or CRLF (inside quotes too); a
//      trailing line end is not a row, but an empty line is a row of one
//      empty cell. The header row (required unless `headers` is given [OAS])
//      must be valid UTF-8, its names non-empty and unique ignoring ASCII case
//      (UNCONFIRMED; strict: "Email" and "email" may be one field) — the 400
//      names the column. No data rows → 400 (UNCONFIRMED; strict: an empty
//      upload is a client bug).
//
// Rows (1-based data rows: the first record after the header, or the first
// record when `headers` is given). Stricter than the real API, which the docs
// leave vague (per-row errors are UNCONFIRMED, APIS.md); a row is rejected,
// checked in this order, when:
//   - its cell count differs from the header's;
//   - a cell is not valid UTF-8;
//   - every cell is empty (an empty line included);
//   - with `timestamp_field`, its cell is not a unix time in seconds (1–10
//     digits) or milliseconds (exactly 13 digits) — ASCII digits, no sign, no
//     leading zero, not 0 — nor an RFC 3339 UTC instant
//     `YYYY-MM-DDTHH:MM:SS[.1–9 digits]Z` (capital T and Z, year 1970–9999, a
//     real calendar day, second at most 59; another offset is not UTC). An
//     empty cell is rejected too. [OAS]'s example: "2012-10-17T17:29:39.738Z".
// `droperrors` (semantics UNCONFIRMED; strict reading): false (the default) →
// the first rejected row refuses the whole request 400
// `{"status":400,"message":"row N: <why>"}`, nothing applied; true → rejected
// rows are dropped and counted in `rejected_count`, the others applied (a file
// whose every row is dropped is answered 200 with message_count 0).
// `dryrun=true` validates and answers as usual — message_count is what would
// apply — but applies nothing.
//
// The 200 answer, exactly [OAS]'s shape:
//   {"status":200,"message":"success","data":{"message_count":N,"rejected_count":R,
//    "content-type":"application/csv","droperrors":false,"dryrun":false,
//    "timestamp_field":"<field or \"\">","filename":"<filename or stream>"}}
// `content-type` is the request's media type, lowercased (application/csv or
// text/csv; UNCONFIRMED: [OAS]'s example says application/json for a CSV).
//
// The oracle: every applied row counts once under
//   oracle_key("lytics.row", {"stream": <stream>, "row": {<column>: <cell>, …}})
// with every non-empty cell (after CSV unquoting; the timestamp's cell as
// written) and the `append` pairs whose value is non-empty. Rows are events:
// two identical rows apply twice (UNCONFIRMED; strict: nothing says Lytics
// de-duplicates a stream's events).
//
// Service time (latency_for): the common `latency` plus `service_per_mb`
// (100ms) per 10^6 bytes of the body as sent. The API is synchronous, so
// `status_values` does not apply.
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

struct LyticsApiOptions {
  std::string api_key;  // the key expected; empty: any non-empty key without a space
  Duration latency{0};  // the common "latency" option (fakes/fake_options.h)
  /// The body cap on host api.lytics.io ([OAS]: 10 MB).
  std::int64_t api_bytes_max = 10'000'000;
  /// The body cap on any other host (UNCONFIRMED).
  std::int64_t bulk_bytes_max = std::int64_t{1} << 30;
  /// The cap on an inflated gzip body.
  std::int64_t inflated_bytes_max = std::int64_t{1} << 30;
  /// Requests per fixed minute of loop time; 0 = no limit (UNCONFIRMED).
  std::int64_t requests_per_minute = 0;
  /// Service time per 10^6 bytes of body, added to `latency` (at most 1h).
  Duration service_per_mb = std::chrono::milliseconds(100);
  /// Inflates a body starting with the gzip magic that has no Content-Encoding
  /// ([OAS]'s example); false refuses it 400.
  bool gzip_sniff = true;

  /// Reads options from JSON (keys as above; durations and sizes as strings);
  /// errors name the key.
  static Result<LyticsApiOptions> from_json(const nlohmann::json& j, const std::string& where);
};

/// What LyticsApi::reset() forgets.
struct LyticsApiState {
  /// One request answered 200 (a dry run included).
  struct Upload {
    std::string stream, host;
    std::int64_t rows = 0;  // data rows in the file
    std::int64_t message_count = 0, rejected_count = 0;
    bool dryrun = false, droperrors = false, gzip = false;
  };
  std::vector<Upload> uploads;
  std::map<std::string, std::int64_t> streams;        // rows applied per stream
  std::int64_t requests = 0;                          // every request answered
  std::int64_t rejected = 0;                          // answered other than 200 (401 and 429 included)
  std::int64_t auth_refusals = 0;                     // of them, 401
  std::int64_t rate_limited = 0;                      // of them, 429
  std::int64_t applications = 0;                      // rows applied (ledger adds)
  std::int64_t rows_rejected = 0;                     // rows dropped by droperrors in uploads that were not dry runs
  std::int64_t minute = INT64_MIN, minute_count = 0;  // the rate limit's window
};

class LyticsApi final : public StatefulFakeApi<LyticsApiOptions, LyticsApiState> {
 public:
  using StatefulFakeApi::StatefulFakeApi;
  std::string name() const override { return "lytics"; }
  Response handle(const Request& request, Time now) override;
  /// {requests, rejected, auth_refusals, rate_limited, uploads: [...], streams,
  ///  applications, distinct_applications, rows_rejected} (ACCEPTED.md).
  nlohmann::json accepted() const override;
  /// Operations (Fake::control): set_api_key, request.
  Status control(const JsonIn& op, Time now) override;
  std::string control_ops() const override { return "set_api_key, request"; }
  /// `latency` plus `service_per_mb` for each 10^6 bytes of the body.
  Duration latency_for(const Request& request) const override;

  std::int64_t requests() const { return state_.requests; }
  std::int64_t applications() const { return state_.applications; }
  std::int64_t uploads() const { return static_cast<std::int64_t>(state_.uploads.size()); }

 private:
  struct Query;
  /// Why the request's key is refused, or nothing.
  std::optional<std::string> auth_problem(const Request& request, const Query& query) const;
  Response upload(const Request& request, const Query& query, const std::string& stream);
  Response refuse(int status, const std::string& message);
};

}  // namespace destsim
