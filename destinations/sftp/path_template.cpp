#include "destinations/sftp/path_template.h"

#include <cstdio>

#include "framework/text.h"
#include "framework/time.h"

namespace destsim {

namespace {

FileError invalid(std::string message) { return FileError{FileError::Kind::invalid_path, std::move(message)}; }

std::string padded(std::int64_t v, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*lld", width, static_cast<long long>(v));
  return buf;
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  for (const std::string_view s : split(path, '/'))
    if (!s.empty()) out.push_back(s);
  return out;
}

// The value of a known placeholder, or false for an unknown one.
bool placeholder(std::string_view name, const PathValues& v, std::string& out) {
  const CivilTime c = civil_from_unix_ms(v.unix_ms);
  if (name == "YYYY") out = padded(c.year, 4);
  else if (name == "MM") out = padded(c.month, 2);
  else if (name == "DD") out = padded(c.day, 2);
  else if (name == "hh") out = padded(c.hour, 2);
  else if (name == "mm") out = padded(c.minute, 2);
  else if (name == "ss") out = padded(c.second, 2);
  else if (name == "ms") out = padded(c.millisecond, 3);
  else if (name == "timestampInSec") out = std::to_string(v.unix_ms / 1000);
  else if (name == "timestampInMS") out = std::to_string(v.unix_ms);
  else if (name == "destinationID") out = v.destination_id;
  else if (name == "jobRunID") out = v.job_run_id;
  else return false;
  return true;
}

}  // namespace

std::string fill_placeholders(std::string_view text, const PathValues& values) {
  std::string out;
  out.reserve(text.size() + 32);
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      const std::size_t close = text.find('}', i + 1);
      const std::size_t reopen = text.find('{', i + 1);
      if (close != std::string_view::npos && (reopen == std::string_view::npos || reopen > close)) {
        std::string value;
        if (placeholder(text.substr(i + 1, close - i - 1), values, value)) {
          out += value;
          i = close + 1;
          continue;
        }
      }
    }
    out.push_back(text[i]);  // unknown placeholders (and lone braces) stay as written
    ++i;
  }
  return out;
}

FileResult<std::string> normalize_path(std::string_view path) {
  if (path.find('\0') != std::string_view::npos) return invalid("invalid path: contains a NUL byte");
  if (path.empty() || path.front() != '/')
    return invalid("invalid path \"" + std::string(path) + "\": expected an absolute path (starting with /)");
  std::string out;
  for (std::string_view seg : segments(path)) {
    if (seg == ".") continue;
    if (seg == "..")
      return invalid("invalid path \"" + std::string(path) + "\": a \"..\" segment (path traversal) is refused");
    out += '/';
    out += seg;
  }
  if (out.empty()) out = "/";
  return out;
}

bool path_under(std::string_view path, std::string_view root) {
  if (root == "/") return !path.empty() && path.front() == '/';
  if (path.size() < root.size() || path.substr(0, root.size()) != root) return false;
  return path.size() == root.size() || path[root.size()] == '/';
}

std::string parent_path(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string file_name(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string join_path(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

std::string with_part(std::string_view path, std::string_view part, bool gzip) {
  const std::string dir = parent_path(path);
  std::string name = file_name(path);
  std::string gz;
  if (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) {
    gz = ".gz";
    name.resize(name.size() - 3);
  } else if (gzip) {
    gz = ".gz";
  }
  std::size_t dot = name.rfind('.');
  if (dot == 0 || dot == std::string::npos) dot = name.size();  // ".hidden" or no extension
  name = name.substr(0, dot) + "_" + std::string(part) + name.substr(dot) + gz;
  return join_path(dir, name);
}

Result<PathTemplate> PathTemplate::parse(std::string text, std::string_view where) {
  const std::string w(where);
  if (text.empty()) return Error::bad_input(w + ": expected a path template like \"/exports/{destinationID}/{jobRunID}/data.csv\"");
  if (text.front() != '/') return Error::bad_input(w + ": expected an absolute path (starting with /), got \"" + text + "\"");
  if (text.back() == '/') return Error::bad_input(w + ": expected a path ending in a file name, got \"" + text + "\"");
  for (const char* required : {"{destinationID}", "{jobRunID}"}) {
    if (text.find(required) == std::string::npos)
      return Error::bad_input(w + ": expected the placeholder " + std::string(required) + " in \"" + text +
                              "\" (both {destinationID} and {jobRunID} are required, so runs never share files)");
  }
  return PathTemplate(std::move(text));
}

FileResult<std::string> PathTemplate::resolve(const PathValues& values, std::string_view root) const {
  const std::string filled = fill_placeholders(text_, values);
  auto path = normalize_path(filled);
  if (!path.ok()) {
    FileError e = path.error();
    e.message += " (template \"" + text_ + "\")";
    return e;
  }
  if (!path_under(*path, root))
    return invalid("invalid path \"" + *path + "\": escapes the configured root \"" + std::string(root) +
                   "\" (template \"" + text_ + "\")");
  if (*path == root) return invalid("invalid path \"" + *path + "\": no file name under the root");
  return *path;
}

}  // namespace destsim
