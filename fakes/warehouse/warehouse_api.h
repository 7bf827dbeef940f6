// warehouse_api.h — a stateful fake of a bulk-loading warehouse: tables of rows,
// staging areas, and the commit of a stage into a table (the shape of a
// Snowflake/BigQuery/Redshift load: stage the files, then COPY/MERGE them in one
// transaction). The API is destsim's own, modelled on those; it is stricter than
// any of them where they are vague.
//
// Every request needs `Authorization: Bearer <api key>` (else 401 Unauthorized).
// Bodies are JSON; errors are {"error": {"code", "message"}}.
//
//   POST   /v1/stages                 {"table", "label"?} → 201 {"stage": "stg-7", "table", "label", "state": "open"}
//   GET    /v1/stages?label=&state=   → 200 {"stages": [{"stage", "table", "label", "state", "rows"}…]}
//                                       (creation order)
//   GET    /v1/stages/{id}            → 200 {"stage", "table", "label", "state", "rows"}
//   PUT    /v1/stages/{id}/rows       {"rows": [{"id": <uint>, "row": {column: scalar…}}…]}
//                                     → 200 {"staged": n, "rejected": [{"id", "reason"}…]}
//   DELETE /v1/stages/{id}            → 200 {"stage", "state": "dropped", "rows"}
//   POST   /v1/tables/{table}/commit  {"stage", "mode": "append"|"dedupe"|"truncate",
//                                      "primary_key"?: [columns], "generation"?: n}
//                                     → 200 {"table", "stage", "mode", "generation", "inserted",
//                                            "updated", "deleted", "rows"}
//   GET    /v1/tables                 → 200 {"tables": [names]}
//   GET    /v1/tables/{table}         → 200 {"table", "rows": […], "generation_max"}
//
// Stages. A stage belongs to one table (named at creation: letters, digits and
// `_`, not starting with a digit, at most 128 characters — else 400
// InvalidTableName) and is open, committed or dropped. Rows are staged by the
// client's row id: putting an id again replaces that row, so re-sending a
// request whose answer was lost never duplicates a row. A row is rejected (and
// listed in `rejected`, the others staged) when a column name is not a valid
// name (a leading `_` is reserved for the warehouse's own columns), a value is
// not a scalar (string, number, boolean, null), or its JSON exceeds
// `row_bytes_max`. A malformed body is 400 BadRequest (nothing staged); more
// than `rows_max` rows or a body over `body_bytes_max` is 413 (nothing staged);
// a committed or dropped stage is 409 StageNotOpen; an unknown one 404.
// More than `stages_max` open stages → 409 TooManyStages (a client that leaks
// stages fails loudly).
//
// Commit applies a stage to its table atomically, in ascending row id, each row
// tagged with `_id` (its row id) and `_generation`:
//   append   adds every row;
//   dedupe   upserts by `primary_key` (a later row id wins); a row lacking a key
//            column is 400 MissingPrimaryKey and nothing is applied;
//   truncate adds every row, then deletes the table's rows of older generations
//            (truncate refresh: the old data goes only when the new commits). A
//            generation older than one the table already holds is 409
//            StaleGeneration.
// A stage commits once: committing it again is 409 StageCommitted and applies
// nothing (stricter than real warehouses, whose COPY merely skips loaded files),
// so a client that lost the answer to a commit learns the outcome by retrying.
// A dropped stage is 409 StageDropped; a stage of another table 400
// StageTableMismatch. Committed and dropped stages are kept (without their rows)
// forever: DELETE of a committed stage is 409 StageCommitted, of a dropped one
// 200 again — so a client settles a stage's fate with a DELETE after a crash.
//
// Table rows keep insertion order (an upsert replaces a row in place).
//
// The oracle: every row a commit inserts or upserts counts once under
// `warehouse_oracle_key(table, id, row)` — oracle_key("warehouse.<table>",
// {"id": id, "row": row}) (framework/oracle.h), `row` as staged; a row deleted
// later by a truncate stays counted (it was applied).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_api.h"
#include "framework/result.h"

namespace destsim {

struct WarehouseApiOptions {
  std::string api_key;  // empty: any key is accepted (but one is required)
  Duration latency{0};  // the common "latency" option (fakes/fake_options.h)
  std::int64_t rows_max = 1000;               // rows per PUT
  std::int64_t body_bytes_max = 4'000'000;    // bytes per request body
  std::int64_t row_bytes_max = 1'000'000;     // bytes of one row's JSON
  std::int64_t stages_max = 100;              // open stages at once
  /// Tables that exist before the run (and again after reset()): each row is
  /// stored with `_id` = its 1-based position and `_generation` = the table's
  /// generation — e.g. a previous sync's truncate-refresh load.
  struct Table {
    std::int64_t generation = 0;
    std::vector<nlohmann::json> rows;  // objects of scalars
  };
  std::map<std::string, Table> tables;

  /// Reads options from JSON (keys as above; api_key may be {"secret": …});
  /// errors name the key.
  static Result<WarehouseApiOptions> from_json(const nlohmann::json& j, const std::string& where);
};

/// The oracle key of a row committed into `table` (shared with the destination).
std::string warehouse_oracle_key(const std::string& table, std::uint64_t id, const nlohmann::json& row);

/// What WarehouseApi::reset() forgets (then seeds the options' tables again).
struct WarehouseApiState {
  enum class StageState { open, committed, dropped };
  struct Stage {
    std::string id;
    std::string table;
    std::string label;
    StageState state = StageState::open;
    std::map<std::uint64_t, nlohmann::json> rows;  // by row id
    std::int64_t row_count = 0;                    // kept after the rows are freed
  };
  struct Table {
    std::vector<nlohmann::json> rows;  // each with _id and _generation
    std::int64_t generation_max = 0;
    bool has_generation = false;
  };
  std::vector<Stage> stages;  // stage "stg-<n>" is stages[n - 1]
  std::map<std::string, Table> tables;
  std::int64_t commits = 0;
};

class WarehouseApi final : public StatefulFakeApi<WarehouseApiOptions, WarehouseApiState> {
 public:
  explicit WarehouseApi(WarehouseApiOptions options = {});

  std::string name() const override { return "warehouse"; }
  Response handle(const Request& request, Time now) override;
  /// {"tables": {name: [rows…]}, "table_stats": {name: {"rows": n, "generation_max": g,
  ///  "generations": {"<g>": rows…}}}, "stages": {id: {"table", "label", "state", "rows"}}, "commits": n}
  nlohmann::json accepted() const override;
  /// Operations (Fake::control): set_api_key, request.
  Status control(const JsonIn& op, Time now) override;
  std::string control_ops() const override { return "set_api_key, request"; }
  /// Forgets everything, then seeds the tables of the options.
  void reset() override;

  /// The rows of a table (empty when it does not exist), in table order.
  std::vector<nlohmann::json> rows(const std::string& table) const;
  std::int64_t commits() const { return state_.commits; }
  std::int64_t open_stages() const;

 private:
  using StageState = WarehouseApiState::StageState;
  using Stage = WarehouseApiState::Stage;
  using Table = WarehouseApiState::Table;

  Response route(const Request& request);
  Response create_stage(const nlohmann::json& body);
  Response list_stages(const Request& request) const;
  Response put_rows(Stage& stage, const std::string& body);
  Response drop_stage(Stage& stage);
  Response commit(const std::string& table, const nlohmann::json& body);
  Response get_table(const std::string& table) const;
  Stage* find_stage(const std::string& id);
  static nlohmann::json describe(const Stage& s);
  static const char* state_name(StageState s);

};

}  // namespace destsim
