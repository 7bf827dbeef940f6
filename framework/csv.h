// csv.h — RFC 4180 CSV: quoting one cell, parsing a text back into records.
// Shared by the destinations that write CSV (marketo_bulk_upload, sftp). The
// fakes keep parsers of their own on purpose: a fake must not share the code it
// checks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "framework/result.h"

namespace destsim {

/// Quotes one CSV cell when RFC 4180 requires it (a comma, a quote, CR or LF).
std::string csv_cell(std::string_view value);

/// One CSV line (no line end) of the cells, each quoted as needed.
std::string csv_line(const std::vector<std::string>& cells);

/// Parses CSV text (RFC 4180; CRLF or LF line ends) into records; an error
/// names the line ("CSV line 3: unterminated quote").
Result<std::vector<std::vector<std::string>>> parse_csv(std::string_view text);

}  // namespace destsim
