#include "framework/csv.h"

#include <cstdint>

namespace destsim {

std::string csv_cell(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string csv_line(const std::vector<std::string>& cells) {
  std::string out;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i) out.push_back(',');
    out += csv_cell(cells[i]);
  }
  return out;
}

Result<std::vector<std::vector<std::string>>> parse_csv(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::size_t pos = 0;
  std::int64_t line = 0;
  while (pos < text.size()) {
    ++line;
    std::vector<std::string> row;
    bool end = false;
    while (!end) {
      std::string field;
      if (pos < text.size() && text[pos] == '"') {
        ++pos;
        bool closed = false;
        while (pos < text.size() && !closed) {
          const char ch = text[pos++];
          if (ch != '"') {
            field.push_back(ch);
          } else if (pos < text.size() && text[pos] == '"') {
            field.push_back('"');
            ++pos;
          } else {
            closed = true;
          }
        }
        if (!closed) return Error::bad_input("CSV line " + std::to_string(line) + ": unterminated quote");
      }
      while (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r') {
        if (text[pos] == '"') return Error::bad_input("CSV line " + std::to_string(line) + ": stray quote");
        field.push_back(text[pos++]);
      }
      row.push_back(std::move(field));
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == '\r') ++pos;
      if (pos < text.size() && text[pos] == '\n') ++pos;
      end = true;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace destsim
