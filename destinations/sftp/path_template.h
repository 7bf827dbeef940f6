// path_template.h — where an SFTP destination puts a file: the configured path
// template, resolved against the run's values and the virtual clock, and
// checked to stay under the configured root.
//
// Placeholders (APIS.md §9): {YYYY} {MM} {DD} {hh} {mm} {ss} {ms}
// {timestampInSec} {timestampInMS} {destinationID} {jobRunID}. The time ones
// are UTC calendar fields of the time given to resolve() (zero-padded: 4, 2,
// 2, 2, 2, 2 and 3 digits). {destinationID} and {jobRunID} are required: a
// template without them could make two destinations or two runs write the
// same files. Any other `{name}` is left unchanged, as the peer does.
//
// A resolved path must be absolute and lie under the root; `..` segments are
// refused (even when they would stay under the root: a path that needs them is
// a mistake or an attack), `.` and empty segments are dropped. Refusals are
// FileError::invalid_path and no remote operation is made with such a path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "framework/file_transport.h"
#include "framework/result.h"

namespace destsim {

/// What the placeholders of one file's path are filled with.
struct PathValues {
  std::string destination_id;
  std::string job_run_id;
  std::int64_t unix_ms = 0;  // the calendar time of the time placeholders
};

class PathTemplate {
 public:
  /// Checks the template: not empty, absolute, with {destinationID} and
  /// {jobRunID}; `where` prefixes errors ("sftp config: file_path").
  static Result<PathTemplate> parse(std::string text, std::string_view where);

  /// Fills the placeholders and normalises the result under `root` (itself
  /// normalised, absolute). invalid_path when it escapes or has no file name.
  FileResult<std::string> resolve(const PathValues& values, std::string_view root) const;

  const std::string& text() const { return text_; }

 private:
  explicit PathTemplate(std::string text) : text_(std::move(text)) {}
  std::string text_;
};

/// Fills the placeholders of `text` (no checks).
std::string fill_placeholders(std::string_view text, const PathValues& values);

/// Normalises an absolute path: drops empty and `.` segments. invalid_path for
/// a relative path, a `..` segment or a NUL byte.
FileResult<std::string> normalize_path(std::string_view path);

/// True when normalised `path` is `root` or lies below it (segment-wise).
bool path_under(std::string_view path, std::string_view root);

/// "/a/b/c.csv" → "/a/b"; "/c.csv" → "/".
std::string parent_path(std::string_view path);
/// "/a/b/c.csv" → "c.csv".
std::string file_name(std::string_view path);
/// Joins a directory and a name ("/" + "x" → "/x").
std::string join_path(std::string_view dir, std::string_view name);

/// Inserts `_<part>` before the file's extension and appends ".gz" when
/// `gzip` and the name does not already end with it:
/// ("/d/f.csv", "17", true) → "/d/f_17.csv.gz"; ("/d/f.csv.gz", "3", true) →
/// "/d/f_3.csv.gz"; ("/d/f", "3", false) → "/d/f_3". A leading dot of the name
/// is not an extension separator.
std::string with_part(std::string_view path, std::string_view part, bool gzip);

}  // namespace destsim
