// yandex_metrica_api.h — a stateful fake of Yandex Metrica's offline-conversions
// API (APIS.md §6).
//
// Endpoints (host api-metrika.yandex.net; `{counterId}` a counter's number):
//   POST /management/v1/counter/{counterId}/offline_conversions/upload?client_id_type=CLIENT_ID|USER_ID|YCLID[&comment=…]
//        multipart/form-data with a part named `file` (any filename) holding a UTF-8 CSV
//        → 200 {"uploading": {…}}
//   GET  /management/v1/counter/{counterId}/offline_conversions/uploading/{id}  → 200 {"uploading": {…}}
//   GET  /management/v1/counter/{counterId}/offline_conversions/uploadings      → 200 {"uploadings": [{…}…]}
// An `uploading` is {id, create_time ("2024-01-01T00:00:05Z", UTC), client_id_type,
// status, comment ("" when none), source_quantity (data rows), line_quantity
// (rows that passed validation), linked_quantity}. Ids are 700000000 + the
// upload's 1-based ordinal in the fake (no seed in them).
//
// Every error is `{"errors":[{"error_type":T,"message":M}],"code":<status>,"message":M}`
// with Content-Type application/json (the shape of APIS.md §6).
//
// Order of checks, each answering at once:
//   1. auth: `Authorization: OAuth <token>` (the scheme exactly, a non-empty
//      token without spaces; with `api_key` set, that token) else 403 invalid_token
//      "Invalid oauth_token";
//   2. quotas (0 = off; a refused request counts toward no quota and changes
//      no state), answered `quota_status` (429 by default; APIS.md §6: the
//      English docs say 420, the Russian 429 — 420 is allowed) with no
//      Retry-After header (UNCONFIRMED; strict: a client must know when the
//      quota resets):
//      - `requests_per_second` (30) per fixed 1-second window of loop time →
//        quota_requests_by_ip "Quota exceeded: 30 requests per second per IP";
//      - `parallel_max` (3): a request takes `upload_service` (2s; an upload)
//        or `status_service` (200ms; any other request), plus the common
//        `latency`, to answer: latency_for() tells the doors, which hold it
//        that long before it is handled, so the client sees it in flight over
//        the same interval. One whose interval overlaps `parallel_max`
//        accepted ones still in service → quota_parallel_requests. A client
//        that waits for each answer never overlaps itself;
//      - `requests_per_day` (5000) per calendar day of the API's clock in GMT
//        (loop time zero is 2024-01-01T00:00:00Z, SimClock::kDefaultEpochUnixMs),
//        reset at 00:00 GMT → quota_requests_by_uid;
//   3. the route: an unknown path is 404 not_found, a known path with another
//      method 405 method_not_allowed;
//   4. the counter: not a number without leading zeros, or (with `counter_ids`
//      set) not listed → 404 not_found.
//
// Upload: a whole-request problem is 400 invalid_parameter and stores nothing
// (row problems name the 1-based physical line on which the row starts):
// client_id_type missing or unknown; not multipart/form-data, no valid
// boundary, or a malformed multipart body; no `file` part, two of them, or
// another form field (UNCONFIRMED: the docs name only `file`; strict); a file
// empty or not valid UTF-8 (a BOM is not stripped: the header is then wrong);
// a header other than exactly `<IdCol>,Target,DateTime` or
// `<IdCol>,Target,DateTime,Price,Currency` with IdCol ClientId / UserId / Yclid
// matching client_id_type (case-sensitive); zero data rows; a row with another
// cell count than the header (an empty line is a row of one cell; one trailing
// line end is not a row); malformed CSV (RFC 4180: a quote inside an unquoted
// cell, text after a closing quote, an unterminated quote, a bare CR). Lines
// end with LF or CRLF. A request body over `file_bytes_max` (1,000,000,000
// bytes, APIS.md's "up to 1 GB") is 413 invalid_parameter.
//
// Per-row validation, at upload (UNCONFIRMED in its details: the docs say only
// which columns exist, that DateTime is a unix time "only in the past", and
// that line_quantity counts rows that passed; these are the strict readings).
// A row passes when all hold, else it counts in source_quantity only and is
// never applied:
//   - id: 1–256 bytes; for CLIENT_ID and YCLID ASCII digits only, at most 20;
//     for USER_ID no control byte (< 0x20 or 0x7F);
//   - Target: 1–100 bytes of [A-Za-z0-9_.-] (a goal identifier);
//   - DateTime: 1–12 ASCII digits, ≥ 1, and ≤ the API's current unix seconds;
//   - Price (5-column header): empty or [0-9]{1,15}(\.[0-9]{1,6})?;
//   - Currency (5-column header): empty or 3 ASCII capitals, and non-empty
//     only with a non-empty Price.
//
// Lifecycle, computed lazily from `now` (no timers; settled at the start of
// every request and in catch_up): `UPLOADED` for `processing_for` (30m; the
// real API takes up to 2 h), then `PROCESSED` — or `LINKAGE_FAILURE` when the
// upload's 1-based ordinal is in `linkage_failure_uploads` or its
// line_quantity is 0. At PROCESSED every row that passed is applied, in
// order; linked_quantity counts the applied rows whose DateTime is at most 21
// days (inclusive) before the processing time (creation + processing_for) and
// whose id is not in `unlinked_ids`. LINKAGE_FAILURE applies nothing,
// linked_quantity 0. `status_values` renames statuses on the wire (a hostile
// Yandex answering statuses it never documented). An unknown uploading id, or
// one of another counter, is 404 not_found.
//
// The oracle: each applied row counts once under
//   oracle_key("yandex_metrica.conversion",
//              {"client_id_type": T, "cells": [id, target, date_time, price, currency]})
// with the row's cells after CSV unquoting, price and currency "" under a
// 3-column header. Duplicate rows apply twice (UNCONFIRMED: the docs do not
// say Yandex de-duplicates conversions; the strict reading counts each).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_api.h"
#include "framework/result.h"

namespace destsim {

struct YandexMetricaApiOptions {
  std::string api_key;  // the OAuth token expected; empty: any non-empty token
  Duration latency{0};  // the common "latency" option (fakes/fake_options.h)
  /// Counters that exist; empty: any positive integer.
  std::vector<std::int64_t> counter_ids;
  std::int64_t file_bytes_max = 1'000'000'000;
  Duration processing_for = std::chrono::minutes(30);
  /// 1-based upload ordinals that end LINKAGE_FAILURE.
  std::vector<std::int64_t> linkage_failure_uploads;
  /// Ids whose rows apply but never link.
  std::set<std::string> unlinked_ids;
  std::int64_t requests_per_second = 30;
  std::int64_t parallel_max = 3;
  Duration upload_service = std::chrono::seconds(2);
  Duration status_service = std::chrono::milliseconds(200);
  std::int64_t requests_per_day = 5000;
  int quota_status = 429;  // or 420
  /// Statuses renamed on the wire (UPLOADED, PROCESSED, LINKAGE_FAILURE).
  std::map<std::string, std::string> status_values;

  /// Reads options from JSON (keys as above; durations as strings); errors name the key.
  static Result<YandexMetricaApiOptions> from_json(const nlohmann::json& j, const std::string& where);
};

/// What YandexMetricaApi::reset() forgets.
struct YandexMetricaApiState {
  struct Row {
    std::vector<std::string> cells;  // id, target, date_time, price, currency
    std::int64_t date_time = 0;      // unix seconds
  };
  struct Uploading {
    std::int64_t id = 0;
    std::int64_t ordinal = 0;  // 1-based
    std::int64_t counter = 0;
    std::string client_id_type, comment;
    Time created{};
    bool linkage_failure = false;
    bool settled = false;
    std::int64_t source_quantity = 0, line_quantity = 0, linked_quantity = 0;
    std::vector<Row> rows;  // the rows that passed, until settled
  };
  std::vector<Uploading> uploadings;  // by ordinal - 1
  std::int64_t second_window = -1, second_count = 0;
  std::int64_t day = INT64_MIN, day_count = 0;
  std::vector<Time> in_service;  // when each request in service ends
  std::int64_t requests = 0, rejected = 0, auth_refusals = 0;
  std::map<std::string, std::int64_t> quota_refusals = {
      {"quota_requests_by_ip", 0}, {"quota_parallel_requests", 0}, {"quota_requests_by_uid", 0}};
  std::int64_t conversions_applied = 0;
  Time last_now{};  // the latest request's (or catch_up's) time, for accepted()
};

class YandexMetricaApi final : public StatefulFakeApi<YandexMetricaApiOptions, YandexMetricaApiState> {
 public:
  using StatefulFakeApi::StatefulFakeApi;
  std::string name() const override { return "yandex_metrica"; }
  Response handle(const Request& request, Time now) override;
  /// {requests, rejected, auth_refusals, quota_refusals, uploadings: [...],
  ///  conversions_applied, distinct_conversions}; statuses as of the last request.
  nlohmann::json accepted() const override;
  /// Operations (Fake::control): set_api_key, request.
  Status control(const JsonIn& op, Time now) override;
  std::string control_ops() const override { return "set_api_key, request"; }
  void catch_up(Time now) override;
  /// An upload's or a status read's service time (options), plus `latency`.
  Duration latency_for(const Request& request) const override;

  std::int64_t requests() const { return state_.requests; }
  std::int64_t uploadings() const { return static_cast<std::int64_t>(state_.uploadings.size()); }
  std::int64_t conversions_applied() const { return state_.conversions_applied; }

 private:
  using Row = YandexMetricaApiState::Row;
  using Uploading = YandexMetricaApiState::Uploading;
  enum class Phase { uploaded, processed, linkage_failure };
  enum class Endpoint { none, upload, uploading, uploadings };

  Response upload(const Request& request, std::int64_t counter, Time now);
  Response get_uploading(const std::string& id, std::int64_t counter, Time now);
  Response list_uploadings(std::int64_t counter, Time now);
  /// The quota error for a request at `now`, or none (and the request counted).
  std::optional<Response> take_quota(bool is_upload, Time now);
  void settle_due(Time now);
  void settle(Uploading& u);
  Phase phase(const Uploading& u, Time now) const;
  Time done_at(const Uploading& u) const { return u.created + options_.processing_for; }
  nlohmann::json uploading_json(const Uploading& u, Time now) const;
};

}  // namespace destsim
