// snowpipe_api.h — a stateful fake of Snowpipe Streaming as RudderStack calls
// it (APIS.md §8): the `rudder-snowpipe-clients` sidecar (channels, inserts
// with offset tokens, status, bulk status, delete) and the Snowflake account
// behind it (databases, schemas, tables with typed columns, commits after a
// delay, lost inserts, channels that turn invalid or vanish, offset tokens that
// make re-inserts at or below the committed token no-ops, the discards table),
// plus the Snowflake SQL API the destination creates schemas, tables and
// columns with.
//
// Sources: [RS] = rudder-server router/batchrouter/asyncdestinationmanager/
// snowpipestreaming (api.go, model.go, codes.go, channel.go, snowpipestreaming.go);
// [SF] = Snowflake's docs (Snowpipe Streaming channels and offset tokens, the
// SQL API, data types). Every fact without one is UNCONFIRMED and takes the
// strict reading, saying so.
//
// ─── Names ───────────────────────────────────────────────────────────────────
// Database, schema, table and column names are Snowflake identifiers as the
// destination sends them in provider case: 1–255 of [A-Z0-9_$], not starting
// with a digit or `$` (UNCONFIRMED that the sidecar refuses lower case; strict:
// it does, with ERR_VALIDATION_ERROR). A table's full name is `DB.SCHEMA.TABLE`.
//
// ─── Sidecar endpoints (any host but `sql_host`) ─────────────────────────────
// Every answer is JSON (Content-Type application/json) unless it is 204/202.
// Request bodies may be sent with `Content-Encoding: gzip` (inflated with zlib;
// corrupt → 400) — [RS] gzips inserts by default. Bodies are JSON objects;
// unparseable JSON, a non-object, or a field of the wrong JSON type → HTTP 400
// `{"success":false,"code":"ERR_VALIDATION_ERROR","error":"<JSON path>: …"}`.
// Unknown path → 404 `{"success":false,"error":"not found"}`; a known path
// with another method → 405 with `Allow` (body `{"success":false,"error":…}`).
// `GET /health` → 200 `{"status":"ok"}`. A POST body (sidecar and SQL API
// alike) over `insert_bytes_max`, sent or inflated → 413; a Content-Encoding
// other than gzip or identity → 400. Unknown JSON fields and query parameters
// are ignored (as Go's decoder does).
//
// POST /channels  [RS model.CreateChannelRequest]
//   {"rudderIdentifier": s, "partition": s,
//    "account": {"account","user","role","privateKey","privateKeyPassphrase"},
//    "table": {"database","schema","table","enableIceberg": bool}}
//   All strings required (privateKeyPassphrase may be ""); enableIceberg
//   optional (default false; true is refused ERR_VALIDATION_ERROR: this fake
//   models standard tables only). rudderIdentifier and partition: 1–128 of
//   [A-Za-z0-9_-] (UNCONFIRMED; strict).
//   A failure is HTTP 200 with success:false [RS] and one `code`, checked in
//   this order (each names the offending value in `error` and
//   `snowflakeAPIMessage`; the answer has the success answer's keys, with
//   channelId and channelName "", valid false, tableSchema {}; the
//   snowflakeAPIHttpCode of 3 is 403, of 4–6 404, UNCONFIRMED):
//     1. an identifier or rudderIdentifier/partition of the wrong form, or
//        enableIceberg true → ERR_VALIDATION_ERROR, snowflakeAPIHttpCode 400;
//     2. account ≠ option `account` (ASCII case ignored), user ≠ option `user`
//        (case ignored), an empty privateKey, or — with option `private_key`
//        set — another key (exact bytes; the fake checks no signature, and a
//        certify failure file's redacted "***" key reruns as the same key) →
//        ERR_AUTHENTICATION_FAILED, snowflakeAPIHttpCode 401;
//     3. role ≠ option `role` (case ignored) → ERR_ROLE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED;
//     4. the database does not exist → ERR_DATABASE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED;
//     5. the schema does not exist → ERR_SCHEMA_DOES_NOT_EXIST_OR_NOT_AUTHORIZED;
//     6. the table does not exist → ERR_TABLE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED.
//   A new name beyond 10,000 open channels → ERR_VALIDATION_ERROR (the
//   fake's limit). Success: the channel named
//     `<TABLE>_<rudderIdentifier>_<partition>` (the channel name) on that table
//   is opened: a NEW channel id `ch-<n>` (n = 1, 2, … over the fake's life,
//   reset by reset()) each time. Opening a name that has an open channel
//   invalidates the older one [SF: "reopening a channel … invalidates the
//   previous instance"]: the old id answers 404 from now on (the sidecar drops
//   it), and its pending (uncommitted) inserts are discarded, never committed.
//   The name's committed offset token survives (it lives in Snowflake [SF]):
//   the new channel's status starts with offset = latestInsertedOffset = that
//   token ("" when the name never committed).
//   Answer: {"success":true,"channelId","channelName","clientName":"destsim",
//   "valid":true,"deleted":false,"tableSchema":{COL:{"type":T,"scale":S,
//   "nullable":bool}},"error":"","code":"","snowflakeSDKCode":"",
//   "snowflakeAPIHttpCode":0,"snowflakeAPIStatusCode":0,"snowflakeAPIMessage":""}
//   where T is the column's type as the SDK names it: "NUMBER(p,s)" always
//   (NUMBER = "NUMBER(38,0)"), S its scale (9 for TIMESTAMP_TZ, else 0), "FLOAT", "VARCHAR(16777216)"
//   (or the declared length), "BOOLEAN", "TIMESTAMP_TZ(9)", "VARIANT". The
//   channel sees the table's columns AS OF ITS OPENING: a column added later
//   (ALTER TABLE) is unknown to it until the channel is reopened [RS recreates
//   the channel after adding columns].
//
// GET /channels/{id}            → 200 the same ChannelResponse (tableSchema as
//                                 of its opening); 404 when unknown.
// GET /channels/{id}/status     → 200 {"success":true,"offset":C,"valid":V,
//                                 "latestInsertedOffset":L}; 404 when unknown.
//   C = the channel name's latest committed offset token ("" if none);
//   L = the latest token this channel instance buffered (an insert accepted
//   and not lost), or C when it has none pending. An invalid channel answers
//   valid:false (and still its C and L).
// GET /channels/bulk-status?channelIds=a&channelIds=b  (1–100 ids, each at
//   most once; 0 or > 100 or a repeat → 400) → 200 {"success":true,
//   "statuses":{id: StatusResponse},"notFound":[ids, in request order]}.
//   Ids are percent-decoded; an empty one → 400; other parameters ignored.
// DELETE /channels/{id}?sync=true|false  (sync required, exactly "true" or
//   "false", else 400) → closes the channel: its pending inserts commit (a
//   close flushes [SF], UNCONFIRMED for the sidecar's delete) — with sync=true
//   at once, answered 204; with sync=false at their commit time, answered 202.
//   The id is 404 afterwards. Unknown id → 404. A sync=true flush stops at a
//   stalled insert (it and the ones after it are discarded); one marked by
//   invalidate_every invalidates as at its commit time (the rest discarded).
// POST /channels/{id}/insert   [RS model.InsertRequest]
//   {"rows":[{COL: value}], "offset":"<token>"}: 1–`insert_rows_max` (100,000)
//   rows; the token a decimal int64 string ("-5" allowed, no "+", no leading
//   zeros except "0"), else 400 ERR_VALIDATION_ERROR. The body as received
//   (after inflating gzip) may be at most `insert_bytes_max` bytes (24 MiB,
//   25,165,824: [RS] caps its inserts there) → else HTTP 413
//   `{"success":false,"code":"ERR_REQUEST_TOO_LARGE","error":…}`.
//   Unknown id → 404 `{"success":false,"error":"channel not found"}` [RS reads
//   404 as "channel gone"]. An invalid channel → 200 `{"success":false,
//   "code":"ERR_CHANNEL_INVALID","errors":[],"error":"channel <id> is invalid; reopen it"}`
//   (UNCONFIRMED code; nothing applied). Checks in order: 404, the body
//   (413, 400), an invalid channel, the no-op token, the rows.
//   Offset tokens [SF: exactly-once through offset tokens]: a token ≤ the
//   name's committed token (as int64) is a NO-OP: answered success:true with
//   `"noop":true` (and "errors":[], "code":""), nothing buffered and the rows
//   not validated, counted in `noop_inserts`. Otherwise each
//   row is validated against the channel's columns (as of its opening):
//     - a key that is not a column → extraColNames (exact, case-sensitive);
//     - a NOT NULL column missing → missingNotNullColNames;
//     - null for a NOT NULL column → nullValueForNotNullColNames;
//     - a value that does not convert → message "Column <COL> of type <T>:
//       cannot ingest <JSON kind> <value, first 64 bytes>", by type:
//         NUMBER(p,0): a JSON integer (not 1.0), or a string of an optional
//           '-' and digits, within p digits (leading zeros not counted);
//           NUMBER(p,s>0) and FLOAT: any JSON number or a decimal string
//           (optional '-', digits, optionally '.' and digits; no exponent); BOOLEAN: true/false only (strict: not
//           "true"); VARCHAR(n): a string of at most n UTF-8 bytes (strict:
//           numbers are not cast); TIMESTAMP_TZ: an RFC 3339 string with a
//           'Z' or ±hh:mm offset (YYYY-MM-DDTHH:MM:SS[.1–9 digits], year
//           0001–9999, a real day, capital T and Z); VARIANT: any JSON value;
//         several problems in one row are joined with "; " in one message;
//     - any string value longer than 16 MiB (16,777,216 bytes: Snowflake's
//       largest VARCHAR/VARIANT) → message "value of <COL> exceeds 16777216 bytes";
//       so is a VARIANT value of another JSON type whose JSON text is longer;
//     - a row that is not an object → message "row is not an object".
//   One InsertError per bad row: {"rowIndex" (0-based), "extraColNames",
//   "missingNotNullColNames","nullValueForNotNullColNames" (arrays, possibly
//   empty; extra names in key order), "message" (the conversion problems,
//   then "extra columns: A, B", "missing NOT NULL columns: …", "null for NOT
//   NULL columns: …", joined with "; ")}.
//   Option `on_error`: "continue" (default; the SDK's default ON_ERROR
//   CONTINUE, UNCONFIRMED for the sidecar, and the harder reading: the good
//   rows ARE buffered under the token even though the answer says
//   success:false) or "abort" (nothing buffered when any row is bad). Either
//   way a bad row makes the answer 200 `{"success":false,"errors":[…],"code":
//   "ERR_INSERT_ROWS_VALIDATION"}` (UNCONFIRMED code); with no bad row it is
//   `{"success":true,"errors":[],"code":""}`. Under "continue" an insert
//   whose every row is bad is still buffered (no rows, its token: it moves L
//   and, at its commit, C). Rows are stored as sent. A buffered insert sets the
//   channel's L to its token (even if lower than L: tokens are opaque to
//   Snowflake [SF]) and commits `commit_delay` after it was accepted.
//
// ─── Commits ─────────────────────────────────────────────────────────────────
// Pending inserts commit in acceptance order per channel, lazily: before any
// request is handled, and in catch_up(now), every pending insert whose commit
// time ≤ now commits: its rows are appended to the table (oracle below) and
// the name's committed token becomes its token. An insert held by a stall
// (below) blocks the ones after it on its channel.
// Faults on a counter (deterministic; 0 = off), counted over BUFFERED inserts
// of the whole fake (the n-th, 2n-th, …):
//   - `lose_every` n: the n-th insert is answered as usual but then lost, with
//     every other pending insert of its channel: L falls back to C [RS: "events
//     lost due to Snowpipe restart or error"]. Counted in `lost_inserts`
//     (each insert lost, the n-th and the others).
//   - `invalidate_every` n: at the n-th insert's commit time the channel turns
//     invalid instead: nothing of its pending inserts commits (discarded),
//     status valid:false, inserts refused ERR_CHANNEL_INVALID, until reopened.
//   - `stall_every` n: the n-th insert never commits (nor any later insert on
//     its channel); a reopen or a sidecar restart discards them as usual.
//   - `restart_every` n: right after answering the n-th insert the sidecar
//     restarts: every channel id is forgotten (404, bulk-status notFound),
//     every pending insert is discarded (a sync=false-closed channel's too);
//     committed tokens and tables survive.
// Control operations do the same on demand (below).
//
// ─── SQL API (host `sql_host`, default "destsim.snowflakecomputing.com") ─────
// POST /api/v2/statements [SF SQL API] with `Authorization: Bearer <token>`
// and `X-Snowflake-Authorization-Token-Type: KEYPAIR_JWT` (or OAUTH). Missing
// or wrong (option `sql_token` when non-empty, else any non-empty token
// without spaces) → 401 {"code":"390303","message":"Invalid OAuth access
// token. …"}. Body {"statement": s, "timeout"?: int, "database"?, "schema"?,
// "warehouse"?, "role"?} else 400 {"code":"000000","message":…}. One statement
// of exactly these forms (keywords case-insensitive; any whitespace between
// tokens; identifiers unquoted — upper-cased — or double-quoted, exact):
//   CREATE SCHEMA IF NOT EXISTS db.schema
//   CREATE TABLE IF NOT EXISTS db.schema.table (col type [NOT NULL], …)
//   ALTER TABLE db.schema.table ADD COLUMN IF NOT EXISTS col type
//   (Snowflake also takes `ADD COLUMN IF NOT EXISTS` [SF ALTER TABLE])
// types: NUMBER / NUMBER(p) / NUMBER(p,s) (1 ≤ p ≤ 38, 0 ≤ s ≤ p), INT,
// INTEGER, BIGINT (= NUMBER(38,0)), FLOAT, DOUBLE (= FLOAT), VARCHAR /
// VARCHAR(n) (1 ≤ n ≤ 16777216), STRING, TEXT (= VARCHAR(16777216)), BOOLEAN,
// TIMESTAMP_TZ (= TIMESTAMP_TZ(9)), VARIANT. Another statement or type → 400
// {"code":"001003","message":"SQL compilation error: syntax error … <what>",
// "sqlState":"42000"} (strict: this fake runs only these). Names must be
// qualified as shown; a quoted identifier must still be of the form in
// "Names" (1–255 of [A-Z0-9_$]); one trailing ';' is allowed; ADD COLUMN
// adds a nullable column (no NOT NULL). The route is checked before the
// token: another path → 404, another method → 405 `Allow: POST`, both
// {"code","message"}. Body fields of the wrong type, or timeout outside
// 0–604800 → 400 code 000000; unknown fields are ignored. An unknown database → 422
// {"code":"002003","message":"SQL compilation error: Database 'X' does not
// exist or not authorized.","sqlState":"02000"}; unknown schema or table (for
// CREATE TABLE / ALTER) likewise ("Schema 'DB.S' …", "Table 'DB.S.T' …").
// Duplicate column names in a CREATE → 422 code 002025, sqlState 42S21.
// Past the fake's limits (10,000 schemas, 10,000 tables, 1,000 columns a
// table) → 422 code 002003 naming the limit.
// Success → 200 {"code":"090001","message":"Statement executed successfully.",
// "statementHandle":"stmt-<n>","sqlState":"00000"} (n counts the statements
// answered 200). An existing schema, table
// or column is left as it is ("IF NOT EXISTS"; a CREATE TABLE of an existing
// table changes nothing, whatever its columns).
//
// ─── The oracle ──────────────────────────────────────────────────────────────
// Every committed row counts once under
//   oracle_key("snowpipe.row", {"table": "DB.SCHEMA.TABLE", "id": <the row's ID value>})
// when the row has a non-null `ID` column, else under
//   oracle_key("snowpipe.row", {"table": "DB.SCHEMA.TABLE", "row": <the row object>}).
// Rows are events: identical rows committed twice count twice.
//
// ─── accepted() (ACCEPTED.md documents it) ───────────────────────────────────
// {requests, rejected (answered other than 2xx, or 200 success:false),
//  channels_opened, inserts (buffered), noop_inserts, lost_inserts,
//  invalidated, stalled, restarts, statements,
//  tables: {"DB.SCHEMA.TABLE": {columns: [{name,type,nullable}], rows: N,
//                               sample: [the first 20 committed rows]}},
//  applications, distinct_applications}
//
// ─── Control operations (Fake::control) ──────────────────────────────────────
//   {"restart": {}}                       the sidecar restarts (as above)
//   {"invalidate": {"channel": id}}       that channel turns invalid now ({"table":
//                                         "DB.S.T"}: every open channel on it)
//   {"lose_pending": {"channel": id}}     its pending inserts are lost now (or {"table"})
//   {"replace_table": {"table": "DB.S.T"}} CREATE OR REPLACE TABLE as itself: as
//                                         drop_table, then the same columns, empty
//                                         (no table yet: nothing happens)
//   {"replace_tables": {}}                replace_table of every table
//   {"drop_table": {"table": "DB.S.T"}}   the table and its rows go (the
//                                         oracle keeps counting them, and
//                                         the most copies held at once:
//                                         AppliedLedger::wipe); channels
//                                         on it turn invalid; committed tokens
//                                         of its channel names are forgotten
//   {"create_schema": "DB.S"}, {"create_table": {"table": "DB.S.T",
//     "columns": [{"name","type","nullable"?}]}}  as the SQL would
//   {"request": {...}}                    the common one (FakeApi::control)
// Each is checked whole first (an error leaves the state as it was); then
// the inserts due by `now` commit, then the operation applies.
//
// ─── Options (from_json; errors name the key) ────────────────────────────────
//   private_key ("": any non-empty key; at most 64 KiB);
//   account ("DESTSIM-ACCOUNT"), user ("DESTSIM_USER"), role ("DESTSIM_ROLE"):
//   1–255 printable ASCII, no spaces; sql_host (1–253 of letters, digits,
//   '.', '-', ':'; matched ignoring case and a port), sql_token ("", or
//   {"secret": …}), databases (["DESTSIM"]; at most 1,000), schemas
//   (["DESTSIM.RUDDER"], or [] when `databases` omits DESTSIM; at most 10,000:
//   "DB.SCHEMA" each, its database must be listed), tables ([]: at most 10,000, each
//   {"table":"DB.S.T","columns":[{"name","type","nullable"?: true}]} in a
//   listed schema; 1–1,000 columns; types as in SQL above), commit_delay
//   ("1s"; 0 to 1h), on_error ("continue"|"abort"), insert_bytes_max
//   (25165824; 1 byte to 1 GiB), insert_rows_max (100000; 1 to 10,000,000),
//   lose_every, invalidate_every, stall_every, restart_every (0; at most 10^9),
//   latency (the common option). reset() re-seeds databases, schemas and
//   tables from the options.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_api.h"
#include "framework/result.h"

namespace destsim {

struct SnowpipeApiOptions {
  std::string account = "DESTSIM-ACCOUNT";
  std::string user = "DESTSIM_USER";
  std::string role = "DESTSIM_ROLE";
  std::string private_key;  // the user's key; empty: any non-empty key
  std::string sql_host = "destsim.snowflakecomputing.com";
  std::string sql_token;  // empty: any non-empty token without spaces
  std::vector<std::string> databases = {"DESTSIM"};
  std::vector<std::string> schemas = {"DESTSIM.RUDDER"};
  struct Column {
    std::string name;
    std::string type;  // as declared (normalised by the fake: "NUMBER(38,0)", "VARCHAR(16777216)", …)
    bool nullable = true;
  };
  struct Table {
    std::string table;  // DB.SCHEMA.TABLE
    std::vector<Column> columns;
  };
  std::vector<Table> tables;
  Duration commit_delay = std::chrono::seconds(1);
  bool on_error_abort = false;
  std::int64_t insert_bytes_max = 25'165'824;
  std::int64_t insert_rows_max = 100'000;
  std::int64_t lose_every = 0, invalidate_every = 0, stall_every = 0, restart_every = 0;
  Duration latency{0};

  static Result<SnowpipeApiOptions> from_json(const nlohmann::json& j, const std::string& where);
};

/// What SnowpipeApi::reset() forgets (then re-seeded from the options).
struct SnowpipeApiState;

class SnowpipeApi final : public FakeApi {
 public:
  explicit SnowpipeApi(SnowpipeApiOptions options = {});
  ~SnowpipeApi() override;
  std::string name() const override { return "snowpipe"; }
  Response handle(const Request& request, Time now) override;
  nlohmann::json accepted() const override;
  void reset() override;
  void catch_up(Time now) override;
  std::int64_t applied(const std::string& key) const override;
  std::int64_t peak(const std::string& key, std::int64_t applied) const override;
  std::int64_t held(const std::string& key) const override;
  Status control(const JsonIn& op, Time now) override;
  std::string control_ops() const override {
    return "restart, invalidate, lose_pending, drop_table, replace_table, replace_tables, create_schema, create_table, "
           "request";
  }
  std::vector<std::string> extra_hosts() const override { return {options_.sql_host}; }
  const SnowpipeApiOptions& options() const { return options_; }

 private:
  struct Impl;  // the work over the state (snowpipe_api.cpp)
  SnowpipeApiOptions options_;
  std::unique_ptr<SnowpipeApiState> state_;
  AppliedLedger ledger_;
};

}  // namespace destsim
