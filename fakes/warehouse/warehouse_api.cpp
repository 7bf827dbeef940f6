#include "fakes/warehouse/warehouse_api.h"

#include "fakes/fake_options.h"

#include <algorithm>
#include <optional>

#include "framework/json_in.h"
#include "framework/oracle.h"
#include "framework/text.h"

namespace destsim {

namespace {

Response error(int status, const std::string& code, const std::string& message) {
  return json_response(status, {{"error", {{"code", code}, {"message", message}}}});
}

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Letters, digits and '_', not starting with a digit, at most 128 characters.
bool valid_table_name(const std::string& n) {
  if (n.empty() || n.size() > 128 || is_digit(n[0])) return false;
  for (char c : n)
    if (!is_letter(c) && !is_digit(c) && c != '_') return false;
  return true;
}

// As a table name, but starting with a letter: a leading '_' is reserved for the
// warehouse's own columns (_id, _generation).
bool valid_column_name(const std::string& n) { return valid_table_name(n) && is_letter(n[0]); }

bool is_scalar(const nlohmann::json& v) {
  return v.is_null() || v.is_boolean() || v.is_number() || v.is_string();
}

const char* kind_of(const nlohmann::json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  return "a scalar";
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  for (const std::string_view s : split(path, '/'))
    if (!s.empty()) out.emplace_back(s);
  return out;
}

// Why a row cannot be staged, or "".
std::string row_problem(const nlohmann::json& row, std::int64_t row_bytes_max) {
  for (auto it = row.begin(); it != row.end(); ++it) {
    if (!valid_column_name(it.key()))
      return "column \"" + it.key() +
             "\": invalid column name (letters, digits and _, starting with a letter; _ names are reserved)";
    if (!is_scalar(it.value()))
      return "column \"" + it.key() + "\": expected a scalar (string, number, boolean or null), got " +
             kind_of(it.value());
  }
  const auto bytes = static_cast<std::int64_t>(row.dump().size());
  if (bytes > row_bytes_max)
    return "row of " + std::to_string(bytes) + " bytes exceeds the row limit of " + std::to_string(row_bytes_max) +
           " bytes";
  return "";
}


// The fake's own keys (read_fake_options reads the common ones and the null case).
Status read_own_options(const JsonIn& in, WarehouseApiOptions& o) {
  if (in.has("rows_max")) { DS_TRY(o.rows_max, in.at("rows_max").integer(1)); }
  if (in.has("body_bytes_max")) { DS_TRY(o.body_bytes_max, in.at("body_bytes_max").size_bytes()); }
  if (in.has("row_bytes_max")) { DS_TRY(o.row_bytes_max, in.at("row_bytes_max").size_bytes()); }
  if (in.has("stages_max")) { DS_TRY(o.stages_max, in.at("stages_max").integer(1)); }
  if (in.has("tables")) {
    JsonIn ts = in.at("tables");
    DS_CHECK(ts.object());
    for (auto it = ts.json().begin(); it != ts.json().end(); ++it) {
      JsonIn t = ts.at(it.key());
      if (!valid_table_name(it.key()))
        return t.expected("a table name (letters, digits and _, not starting with a digit, at most 128)");
      DS_CHECK(t.object());
      DS_CHECK(t.only_keys({"generation", "rows"}));
      WarehouseApiOptions::Table table;
      if (t.has("generation")) { DS_TRY(table.generation, t.at("generation").integer(0)); }
      if (t.has("rows")) {
        JsonIn rows = t.at("rows");
        DS_CHECK(rows.array());
        for (std::size_t i = 0; i < it.value()["rows"].size(); ++i) {
          const nlohmann::json& row = it.value()["rows"][i];
          JsonIn r = rows.at(i);
          DS_CHECK(r.object());
          for (auto c = row.begin(); c != row.end(); ++c) {
            if (!valid_column_name(c.key()))
              return r.at(c.key()).expected("a column name (letters, digits and _, not starting with a digit or _)");
            if (c.value().is_structured()) return r.at(c.key()).expected("a scalar (string, number, boolean or null)");
          }
          table.rows.push_back(row);
        }
      }
      o.tables[it.key()] = std::move(table);
    }
  }
  if (o.body_bytes_max < 1) return in.at("body_bytes_max").expected("a size of at least 1 byte");
  if (o.row_bytes_max < 1) return in.at("row_bytes_max").expected("a size of at least 1 byte");
  return {};
}

}  // namespace

Result<WarehouseApiOptions> WarehouseApiOptions::from_json(const nlohmann::json& j, const std::string& where) {
  return read_fake_options(j, where, "api_key", &WarehouseApiOptions::api_key,
                           {"rows_max", "body_bytes_max", "row_bytes_max", "stages_max", "tables"},
                           read_own_options);
}

std::string warehouse_oracle_key(const std::string& table, std::uint64_t id, const nlohmann::json& row) {
  return oracle_key("warehouse." + table, nlohmann::json{{"id", id}, {"row", row}});
}

WarehouseApi::WarehouseApi(WarehouseApiOptions options) : StatefulFakeApi(std::move(options)) { reset(); }

void WarehouseApi::reset() {
  StatefulFakeApi::reset();
  for (const auto& [name, seed] : options_.tables) {
    Table& t = state_.tables[name];
    for (std::size_t i = 0; i < seed.rows.size(); ++i) {
      nlohmann::json row = seed.rows[i];
      row["_id"] = i + 1;
      row["_generation"] = seed.generation;
      t.rows.push_back(std::move(row));
    }
    t.generation_max = seed.generation;
    t.has_generation = true;
  }
}

std::int64_t WarehouseApi::open_stages() const {
  return std::count_if(state_.stages.begin(), state_.stages.end(), [](const Stage& s) { return s.state == StageState::open; });
}

std::vector<nlohmann::json> WarehouseApi::rows(const std::string& table) const {
  auto it = state_.tables.find(table);
  return it == state_.tables.end() ? std::vector<nlohmann::json>() : it->second.rows;
}

const char* WarehouseApi::state_name(StageState s) {
  switch (s) {
    case StageState::open: return "open";
    case StageState::committed: return "committed";
    case StageState::dropped: return "dropped";
  }
  return "?";
}

nlohmann::json WarehouseApi::describe(const Stage& s) {
  return {{"stage", s.id},
          {"table", s.table},
          {"label", s.label},
          {"state", state_name(s.state)},
          {"rows", s.row_count}};
}

WarehouseApi::Stage* WarehouseApi::find_stage(const std::string& id) {
  if (id.rfind("stg-", 0) != 0 || id.size() == 4 || id.size() > 24) return nullptr;
  std::uint64_t n = 0;
  for (std::size_t i = 4; i < id.size(); ++i) {
    if (!is_digit(id[i])) return nullptr;
    n = n * 10 + static_cast<std::uint64_t>(id[i] - '0');
  }
  if (n < 1 || n > state_.stages.size()) return nullptr;
  return &state_.stages[n - 1];
}

Response WarehouseApi::handle(const Request& request, Time now) {
  (void)now;  // nothing here depends on time: stages never expire
  return route(request);
}

Response WarehouseApi::route(const Request& request) {
  auto auth = request.headers.get("Authorization");
  const std::string_view bearer = "Bearer ";
  if (!auth || auth->size() <= bearer.size() || auth->substr(0, bearer.size()) != bearer ||
      (!options_.api_key.empty() && auth->substr(bearer.size()) != options_.api_key)) {
    return error(401, "Unauthorized", "expected the header Authorization: Bearer <api key>");
  }
  if (static_cast<std::int64_t>(request.body.size()) > options_.body_bytes_max) {
    return error(413, "PayloadTooLarge", "request body of " + std::to_string(request.body.size()) +
                                             " bytes exceeds " + std::to_string(options_.body_bytes_max) + " bytes");
  }
  const std::string path(request.path_only());
  const std::vector<std::string> seg = split_path(path);
  const std::string& m = request.method;
  auto method_not_allowed = [&](const char* allowed) {
    return error(405, "MethodNotAllowed", path + " expects " + allowed);
  };
  auto parse_body = [&](nlohmann::json& out) -> bool {
    out = parse_json_body(request.body);
    return !out.is_discarded() && out.is_object();
  };
  if (seg.size() < 2 || seg[0] != "v1") return error(404, "NotFound", path + ": no such endpoint");
  if (seg[1] == "stages") {
    if (seg.size() == 2) {
      if (m == "POST") {
        nlohmann::json body;
        if (!parse_body(body)) return error(400, "BadRequest", "expected a JSON object body");
        return create_stage(body);
      }
      if (m == "GET") return list_stages(request);
      return method_not_allowed("GET or POST");
    }
    Stage* stage = find_stage(seg[2]);
    if (!stage) return error(404, "StageNotFound", "no stage " + seg[2]);
    if (seg.size() == 3) {
      if (m == "GET") return json_response(200, describe(*stage));
      if (m == "DELETE") return drop_stage(*stage);
      return method_not_allowed("GET or DELETE");
    }
    if (seg.size() == 4 && seg[3] == "rows") {
      if (m != "PUT") return method_not_allowed("PUT");
      return put_rows(*stage, request.body);
    }
    return error(404, "NotFound", path + ": no such endpoint");
  }
  if (seg[1] == "tables") {
    if (seg.size() == 2) {
      if (m != "GET") return method_not_allowed("GET");
      nlohmann::json names = nlohmann::json::array();
      for (const auto& [name, t] : state_.tables) names.push_back(name);
      return json_response(200, {{"tables", names}});
    }
    if (seg.size() == 3) {
      if (m != "GET") return method_not_allowed("GET");
      return get_table(seg[2]);
    }
    if (seg.size() == 4 && seg[3] == "commit") {
      if (m != "POST") return method_not_allowed("POST");
      nlohmann::json body;
      if (!parse_body(body)) return error(400, "BadRequest", "expected a JSON object body");
      return commit(seg[2], body);
    }
  }
  return error(404, "NotFound", path + ": no such endpoint");
}

Response WarehouseApi::create_stage(const nlohmann::json& body) {
  if (!body.contains("table") || !body["table"].is_string())
    return error(400, "BadRequest", "table: expected a string");
  const std::string table = body["table"];
  if (!valid_table_name(table))
    return error(400, "InvalidTableName",
                 "table \"" + table + "\": expected letters, digits and _, not starting with a digit, at most 128");
  std::string label;
  if (body.contains("label")) {
    if (!body["label"].is_string()) return error(400, "BadRequest", "label: expected a string");
    label = body["label"];
  }
  if (open_stages() >= options_.stages_max)
    return error(409, "TooManyStages", std::to_string(options_.stages_max) + " stages are open (commit or drop some)");
  Stage s;
  s.id = "stg-" + std::to_string(state_.stages.size() + 1);
  s.table = table;
  s.label = label;
  state_.stages.push_back(std::move(s));
  return json_response(201, describe(state_.stages.back()));
}

Response WarehouseApi::list_stages(const Request& request) const {
  const auto label = request.query_param("label");
  const auto state = request.query_param("state");
  if (state && *state != "open" && *state != "committed" && *state != "dropped")
    return error(400, "BadRequest", "state: expected open, committed or dropped, got \"" + *state + "\"");
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : state_.stages) {
    if (label && s.label != *label) continue;
    if (state && *state != state_name(s.state)) continue;
    out.push_back(describe(s));
  }
  return json_response(200, {{"stages", out}});
}

Response WarehouseApi::put_rows(Stage& stage, const std::string& raw) {
  nlohmann::json body = parse_json_body(raw);
  if (body.is_discarded() || !body.is_object() || !body.contains("rows") || !body["rows"].is_array())
    return error(400, "BadRequest", "expected {\"rows\": [{\"id\": <row id>, \"row\": {…}}, …]}");
  const nlohmann::json& rows = body["rows"];
  if (static_cast<std::int64_t>(rows.size()) > options_.rows_max)
    return error(413, "TooManyRows", std::to_string(rows.size()) + " rows in one request, over the limit of " +
                                         std::to_string(options_.rows_max));
  // Validate the envelope of every entry before staging any (all or nothing).
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& e = rows[i];
    if (!e.is_object() || !e.contains("id") || !e["id"].is_number_unsigned() || !e.contains("row") ||
        !e["row"].is_object())
      return error(400, "BadRequest",
                   "rows[" + std::to_string(i) + "]: expected {\"id\": <non-negative integer>, \"row\": {…}}");
  }
  if (stage.state != StageState::open)
    return error(409, "StageNotOpen", "stage " + stage.id + " is " + state_name(stage.state));
  std::int64_t staged = 0;
  nlohmann::json rejected = nlohmann::json::array();
  for (const auto& e : rows) {
    const auto id = e["id"].get<std::uint64_t>();
    std::string problem = row_problem(e["row"], options_.row_bytes_max);
    if (!problem.empty()) {
      rejected.push_back({{"id", id}, {"reason", problem}});
      continue;
    }
    stage.rows[id] = e["row"];  // the same id again replaces the row: re-sending is harmless
    ++staged;
  }
  stage.row_count = static_cast<std::int64_t>(stage.rows.size());
  return json_response(200, {{"staged", staged}, {"rejected", rejected}});
}

Response WarehouseApi::drop_stage(Stage& stage) {
  if (stage.state == StageState::committed)
    return error(409, "StageCommitted", "stage " + stage.id + " was committed; it cannot be dropped");
  stage.state = StageState::dropped;
  stage.rows.clear();
  return json_response(200, describe(stage));
}

Response WarehouseApi::commit(const std::string& table_name, const nlohmann::json& body) {
  if (!body.contains("stage") || !body["stage"].is_string())
    return error(400, "BadRequest", "stage: expected a string");
  const std::string mode = body.value("mode", std::string());
  if (mode != "append" && mode != "dedupe" && mode != "truncate")
    return error(400, "BadRequest", "mode: expected append, dedupe or truncate");
  std::vector<std::string> key;
  if (body.contains("primary_key")) {
    const auto& pk = body["primary_key"];
    if (!pk.is_array()) return error(400, "BadRequest", "primary_key: expected an array of column names");
    for (const auto& c : pk) {
      if (!c.is_string()) return error(400, "BadRequest", "primary_key: expected an array of column names");
      key.push_back(c.get<std::string>());
    }
  }
  if (mode == "dedupe" && key.empty()) return error(400, "BadRequest", "primary_key: dedupe needs a primary key");
  std::int64_t generation = 0;
  if (body.contains("generation")) {
    if (!body["generation"].is_number_integer() || body["generation"].get<std::int64_t>() < 0)
      return error(400, "BadRequest", "generation: expected an integer >= 0");
    generation = body["generation"].get<std::int64_t>();
  }
  Stage* stage = find_stage(body["stage"].get<std::string>());
  if (!stage) return error(404, "StageNotFound", "no stage " + body["stage"].get<std::string>());
  if (stage->table != table_name)
    return error(400, "StageTableMismatch", "stage " + stage->id + " belongs to table " + stage->table);
  if (stage->state == StageState::committed)
    return error(409, "StageCommitted", "stage " + stage->id + " was already committed; nothing applied");
  if (stage->state == StageState::dropped)
    return error(409, "StageDropped", "stage " + stage->id + " was dropped; nothing applied");
  auto existing = state_.tables.find(table_name);
  if (mode == "truncate" && existing != state_.tables.end() && existing->second.has_generation &&
      generation < existing->second.generation_max)
    return error(409, "StaleGeneration", "generation " + std::to_string(generation) + " is older than generation " +
                                             std::to_string(existing->second.generation_max) + " in table " +
                                             table_name);
  auto key_of = [&](const nlohmann::json& row) -> std::optional<std::string> {
    nlohmann::json values = nlohmann::json::array();
    for (const auto& c : key) {
      auto it = row.find(c);
      if (it == row.end() || it->is_null()) return std::nullopt;
      values.push_back(*it);
    }
    return values.dump();
  };
  if (mode == "dedupe") {
    for (const auto& [id, row] : stage->rows)
      if (!key_of(row))
        return error(400, "MissingPrimaryKey", "row " + std::to_string(id) + " of stage " + stage->id +
                                                   " lacks a primary key column; nothing applied");
  }
  // Checks passed: apply everything (atomic).
  Table& table = state_.tables[table_name];
  std::int64_t inserted = 0, updated = 0, deleted = 0;
  std::map<std::string, std::size_t> by_key;  // dedupe: key → row index
  if (mode == "dedupe") {
    for (std::size_t i = 0; i < table.rows.size(); ++i)
      if (auto k = key_of(table.rows[i])) by_key[*k] = i;
  }
  for (const auto& [id, row] : stage->rows) {
    nlohmann::json stored = row;
    stored["_id"] = id;
    stored["_generation"] = generation;
    ledger_.add(warehouse_oracle_key(table_name, id, row));
    if (mode == "dedupe") {
      const std::string k = *key_of(row);
      auto it = by_key.find(k);
      if (it != by_key.end()) {
        table.rows[it->second] = std::move(stored);
        ++updated;
        continue;
      }
      by_key[k] = table.rows.size();
    }
    table.rows.push_back(std::move(stored));
    ++inserted;
  }
  if (mode == "truncate") {
    auto older = [&](const nlohmann::json& r) { return r["_generation"].get<std::int64_t>() < generation; };
    const auto before = table.rows.size();
    table.rows.erase(std::remove_if(table.rows.begin(), table.rows.end(), older), table.rows.end());
    deleted = static_cast<std::int64_t>(before - table.rows.size());
  }
  if (!table.has_generation || generation > table.generation_max) table.generation_max = generation;
  table.has_generation = true;
  stage->state = StageState::committed;
  stage->rows.clear();  // row_count keeps the size
  ++state_.commits;
  return json_response(200, {{"table", table_name},
                             {"stage", stage->id},
                             {"mode", mode},
                             {"generation", generation},
                             {"inserted", inserted},
                             {"updated", updated},
                             {"deleted", deleted},
                             {"rows", table.rows.size()}});
}

Response WarehouseApi::get_table(const std::string& name) const {
  auto it = state_.tables.find(name);
  if (it == state_.tables.end()) return error(404, "TableNotFound", "no table " + name);
  return json_response(200,
                       {{"table", name}, {"rows", it->second.rows}, {"generation_max", it->second.generation_max}});
}

nlohmann::json WarehouseApi::accepted() const {
  nlohmann::json tables = nlohmann::json::object();
  nlohmann::json stats = nlohmann::json::object();
  for (const auto& [name, t] : state_.tables) {
    tables[name] = t.rows;
    std::map<std::int64_t, std::int64_t> generations;
    for (const auto& r : t.rows) ++generations[r["_generation"].get<std::int64_t>()];
    nlohmann::json g = nlohmann::json::object();
    for (const auto& [gen, n] : generations) g[std::to_string(gen)] = n;
    stats[name] = {{"rows", t.rows.size()}, {"generation_max", t.generation_max}, {"generations", g}};
  }
  nlohmann::json stages = nlohmann::json::object();
  for (const auto& s : state_.stages) {
    nlohmann::json d = describe(s);
    d.erase("stage");
    stages[s.id] = d;
  }
  return {{"tables", tables}, {"table_stats", stats}, {"stages", stages}, {"commits", state_.commits}};
}

Status WarehouseApi::control(const JsonIn& op, Time now) { return api_key_control(op, now, options_.api_key); }

}  // namespace destsim
