// file_format.h — how records become the bytes of an SFTP upload file.
//
// A record's payload (a JSON object of fields) becomes a *row*: a flat object
// of field name → cell text, plus the job id under `job_id_column` when that
// is set. Cell text: a string as-is, a number as JSON writes it, true/false,
// null → empty, an object or array → its compact JSON. A field the record does
// not have is an empty cell — never a literal `<nil>` (the peer's bug).
//
// CSV (RFC 4180): one header line, then one line per row, CRLF line ends, a
// cell quoted when it holds a comma, a quote, CR or LF (quotes doubled).
// Column order is always stable: the job id column first, then the configured
// `columns` if any (fields outside them fail the record), otherwise the
// **sorted union** of the file's field names. Sorted (not first-seen) because
// it depends only on *which* rows a file holds, never on their order, so a
// retried file with the same rows is byte-identical.
//
// JSONL: one compact JSON object per line (keys sorted), '\n' line ends.
//
// gzip: the finished file deflated into a real .gz stream (RFC 1952, mtime 0,
// so the bytes are a function of the content).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/csv.h"  // csv_cell, parse_csv (used with these files)
#include "framework/gzip.h"  // gzip_compress (a file's .gz form), gzip_decompress
#include "framework/job.h"
#include "framework/result.h"

namespace destsim {

enum class FileFormat { csv, jsonl };
const char* file_format_name(FileFormat f);
/// "csv" or "jsonl" (also "json", the peer's name); an error names `where`.
Result<FileFormat> parse_file_format(std::string_view text, std::string_view where);

struct RowOptions {
  FileFormat format = FileFormat::csv;
  /// The column/field carrying the job id; empty = none.
  std::string job_id_column = "job_id";
  /// CSV only: the allowed columns in file order (after the job id column);
  /// empty = the sorted union of each file's field names.
  std::vector<std::string> columns;
};

/// The row a record becomes, as a JSON object of strings (CSV) or of the
/// payload's values (JSONL). An error names the record and the field.
Result<nlohmann::json> record_row(const Record& record, const RowOptions& options);

/// A row as the bulk item text: its compact, key-sorted JSON.
std::string row_text(const nlohmann::json& row);

/// Builds a whole file from rows given as row_text() strings, in the given
/// order. CSV columns follow RowOptions (see the banner).
Result<std::string> build_file(const std::vector<std::string_view>& rows, const RowOptions& options);

/// The oracle key (framework/oracle.h) of a row as a reader of the file sees
/// it: oracle_key("sftp.row", row), where for CSV the row is its non-empty
/// cells as strings (an empty cell and a missing field read the same) and for
/// JSONL the line's object. A file fake computes the same key from each row of
/// each file in place (see docs/sftp.md, "The oracle").
std::string row_effect_key(const nlohmann::json& row, FileFormat format);
/// row_effect_key(record_row(record, options), options.format), or the error of
/// record_row; the row is hashed from the payload's members in place (no copy
/// of a megabyte record into a row and then into its cells first).
Result<std::string> record_effect_key(const Record& record, const RowOptions& options);


}  // namespace destsim
