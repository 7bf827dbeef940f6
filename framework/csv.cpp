#include "framework/csv.h"

#include <cstdint>

namespace destsim {

namespace {
// Appends csv_cell(value): runs of bytes copied whole (a padded cell is
// megabytes), each quote doubled.
void append_cell(std::string& out, std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(value);
    return;
  }
  out.push_back('"');
  std::size_t from = 0;
  for (std::size_t q = value.find('"'); q != std::string_view::npos; q = value.find('"', q + 1)) {
    out.append(value.substr(from, q + 1 - from));  // through the quote, then its double
    out.push_back('"');
    from = q + 1;
  }
  out.append(value.substr(from));
  out.push_back('"');
}
}  // namespace

std::string csv_cell(std::string_view value) {
  std::string out;
  append_cell(out, value);
  return out;
}

std::string csv_line(const std::vector<std::string>& cells) {
  std::size_t size = cells.size();
  for (const auto& c : cells) size += c.size() + 2;
  std::string out;
  out.reserve(size);
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i) out.push_back(',');
    append_cell(out, cells[i]);
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
