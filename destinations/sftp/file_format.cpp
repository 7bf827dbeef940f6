#include "destinations/sftp/file_format.h"

#include <algorithm>
#include <map>
#include <set>

#include "framework/json_in.h"
#include "framework/oracle.h"
#include "framework/trace.h"

namespace destsim {

namespace {

std::string compact(const nlohmann::json& j) {
  // Invalid UTF-8 cannot come from parsed JSON, but a payload built in code
  // could carry it: replace it rather than throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Error bad_record(const Record& r, const std::string& what) {
  return Error::bad_input("record " + std::to_string(r.id) + ": " + what);
}

}  // namespace

const char* file_format_name(FileFormat f) { return f == FileFormat::csv ? "csv" : "jsonl"; }

Result<FileFormat> parse_file_format(std::string_view text, std::string_view where) {
  if (text == "csv") return FileFormat::csv;
  if (text == "jsonl" || text == "json") return FileFormat::jsonl;
  return Error::bad_input(std::string(where) + ": expected \"csv\" or \"jsonl\", got \"" + std::string(text) + "\"");
}

Result<nlohmann::json> record_row(const Record& record, const RowOptions& o) {
  if (!record.payload.is_object()) return bad_record(record, "payload: expected an object of fields");
  nlohmann::json row = nlohmann::json::object();
  if (!o.job_id_column.empty()) {
    if (record.payload.contains(o.job_id_column))
      return bad_record(record, "field \"" + o.job_id_column +
                                    "\" is the job id column (job_id_column); rename the field or the column");
    if (o.format == FileFormat::csv) row[o.job_id_column] = std::to_string(record.id);
    else row[o.job_id_column] = record.id;
  }
  for (auto it = record.payload.begin(); it != record.payload.end(); ++it) {
    if (it.key().empty()) return bad_record(record, "a field with an empty name");
    if (o.format == FileFormat::jsonl) {
      row[it.key()] = it.value();
      continue;
    }
    if (!o.columns.empty() && std::find(o.columns.begin(), o.columns.end(), it.key()) == o.columns.end())
      return bad_record(record, "field \"" + it.key() + "\" is not one of the configured columns");
    const nlohmann::json& v = it.value();
    if (v.is_string()) row[it.key()] = v.get<std::string>();
    else if (v.is_null()) row[it.key()] = "";
    else if (v.is_boolean()) row[it.key()] = v.get<bool>() ? "true" : "false";
    else row[it.key()] = compact(v);  // numbers as JSON writes them; objects and arrays as compact JSON
  }
  return row;
}

std::string row_text(const nlohmann::json& row) { return compact(row); }

std::string row_effect_key(const nlohmann::json& row, FileFormat format) {
  if (format == FileFormat::jsonl) return oracle_key("sftp.row", row);
  nlohmann::json cells = nlohmann::json::object();
  for (auto it = row.begin(); it != row.end(); ++it)
    if (it->is_string() && !it->get<std::string>().empty()) cells[it.key()] = *it;
  return oracle_key("sftp.row", cells);
}

Result<std::string> record_effect_key(const Record& record, const RowOptions& o) {
  if (!record.payload.is_object()) return bad_record(record, "payload: expected an object of fields");
  // The row's members pointed at in the payload, or held here when the row
  // holds another value (a CSV cell's text, the job id). No reallocation:
  // `owned` is reserved for every member it may hold.
  std::vector<CanonicalMember> members;
  std::vector<nlohmann::json> owned;
  members.reserve(record.payload.size() + 1);
  owned.reserve(record.payload.size() + 1);
  const bool csv = o.format == FileFormat::csv;
  if (!o.job_id_column.empty()) {
    if (record.payload.contains(o.job_id_column))
      return bad_record(record, "field \"" + o.job_id_column +
                                    "\" is the job id column (job_id_column); rename the field or the column");
    owned.push_back(csv ? nlohmann::json(std::to_string(record.id)) : nlohmann::json(record.id));
    members.push_back({o.job_id_column, &owned.back()});
  }
  for (auto it = record.payload.begin(); it != record.payload.end(); ++it) {
    if (it.key().empty()) return bad_record(record, "a field with an empty name");
    const nlohmann::json& v = it.value();
    if (!csv) {
      members.push_back({it.key(), &v});
      continue;
    }
    if (!o.columns.empty() && std::find(o.columns.begin(), o.columns.end(), it.key()) == o.columns.end())
      return bad_record(record, "field \"" + it.key() + "\" is not one of the configured columns");
    // A CSV row's key counts its non-empty cells (an empty cell and a missing field read the same).
    if (v.is_string()) {
      if (!v.get_ref<const std::string&>().empty()) members.push_back({it.key(), &v});
    } else if (v.is_boolean()) {
      owned.push_back(v.get<bool>() ? "true" : "false");
      members.push_back({it.key(), &owned.back()});
    } else if (!v.is_null()) {
      owned.push_back(compact(v));
      members.push_back({it.key(), &owned.back()});
    }
  }
  return "sftp.row#" + hex16(canonical_object_hash(std::move(members)));
}

Result<std::string> build_file(const std::vector<std::string_view>& rows, const RowOptions& o) {
  std::string out;
  if (o.format == FileFormat::jsonl) {
    std::size_t bytes = 0;
    for (auto r : rows) bytes += r.size() + 1;
    out.reserve(bytes);
    for (auto r : rows) {
      out.append(r);
      out.push_back('\n');
    }
    return out;
  }
  std::vector<nlohmann::json> parsed;
  parsed.reserve(rows.size());
  std::set<std::string> names;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    nlohmann::json j = parse_json_body(rows[i]);
    if (!j.is_object()) return Error::internal("csv row " + std::to_string(i) + ": not a row object");
    for (auto it = j.begin(); it != j.end(); ++it) names.insert(it.key());
    parsed.push_back(std::move(j));
  }
  std::vector<std::string> columns;
  if (!o.job_id_column.empty()) columns.push_back(o.job_id_column);
  if (!o.columns.empty()) {
    for (const auto& c : o.columns) columns.push_back(c);
  } else {
    for (const auto& n : names)
      if (n != o.job_id_column) columns.push_back(n);
  }
  auto line = [&out](const std::vector<std::string>& cells) {
    out += csv_line(cells);
    out += "\r\n";
  };
  line(columns);
  std::vector<std::string> cells(columns.size());
  for (const auto& row : parsed) {
    for (std::size_t c = 0; c < columns.size(); ++c) {
      auto it = row.find(columns[c]);
      cells[c] = it != row.end() && it->is_string() ? it->get<std::string>() : std::string();
    }
    line(cells);
  }
  return out;
}

}  // namespace destsim
