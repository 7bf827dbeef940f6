// trace_diff.cpp — `destsim diff` (see trace_diff.h).
#include "tools/trace_diff.h"

#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "framework/json_in.h"
#include "tools/report.h"
#include "framework/result.h"
#include "framework/time.h"

namespace destsim {
namespace {

// One trace, read a line at a time.
class TraceReader {
 public:
  explicit TraceReader(std::string path) : path_(std::move(path)) {}

  Status open() {
    std::error_code ec;
    auto st = std::filesystem::status(path_, ec);
    if (ec || !std::filesystem::exists(st)) return Error::io(path_ + ": cannot read the file (no such file)");
    if (std::filesystem::is_directory(st)) return Error::bad_input(path_ + ": is a directory, expected a trace (JSONL)");
    in_.open(path_, std::ios::binary);
    if (!in_) return Error::io(path_ + ": cannot read the file");
    return Status::success();
  }

  /// The next event, or a null value at the end; errors name the file and line.
  Result<nlohmann::json> next() {
    std::string line;
    std::streambuf* sb = in_.rdbuf();
    for (;;) {
      // A line is read up to the limit and no further: a trace is any length,
      // a line of it is not.
      line.clear();
      int c = 0;
      while ((c = sb->sbumpc()) != std::char_traits<char>::eof() && c != '\n') {
        line.push_back(static_cast<char>(c));
        if (static_cast<std::int64_t>(line.size()) > kJsonFileBytesMax)
          return Error::bad_input(path_ + ": line " + std::to_string(line_no_ + 1) + ": longer than " +
                                  std::to_string(kJsonFileBytesMax >> 20) + " MB, the limit on a trace line");
      }
      if (c == std::char_traits<char>::eof() && line.empty()) return nlohmann::json();
      ++line_no_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") != std::string::npos) break;
    }
    last_ = line;
    DS_TRY(nlohmann::json j, parse_json_text(line, path_ + ": line " + std::to_string(line_no_)));
    if (!j.is_object())
      return Error::bad_input(path_ + ": line " + std::to_string(line_no_) + ": expected a trace event (a JSON object), got " +
                              json_summary(j));
    return j;
  }
  std::int64_t line() const { return line_no_; }
  const std::string& text() const { return last_; }

 private:
  std::string path_;
  std::ifstream in_;
  std::int64_t line_no_ = 0;
  std::string last_;
};

std::string shown(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 160) s = s.substr(0, 150) + "… (" + std::to_string(s.size()) + " bytes)";
  return s;
}

std::string when(const nlohmann::json& e) {
  auto t = e.find("t");
  if (t == e.end() || !t->is_number_integer()) return "";
  return " at " + format_duration(Duration(t->get<std::int64_t>()));
}

nlohmann::json without(nlohmann::json e, const std::vector<std::string>& ignore) {
  for (const auto& k : ignore) e.erase(k);
  return e;
}

}  // namespace

int run_trace_diff(const TraceDiffArgs& args, std::ostream& out) {
  TraceReader a(args.a), b(args.b);
  if (Status s = a.open(); !s.ok()) return report(s.error());
  if (Status s = b.open(); !s.ok()) return report(s.error());
  std::deque<std::string> before;  // the last agreeing events, for context
  std::int64_t events = 0;
  for (;;) {
    auto ea = a.next();
    if (!ea.ok()) return report(ea.error());
    auto eb = b.next();
    if (!eb.ok()) return report(eb.error());
    if (ea->is_null() && eb->is_null()) {
      out << "the traces are the same: " << events << " events" << (args.ignore.empty() ? "" : " (ignoring some keys)")
          << "\n";
      return kExitOk;
    }
    if (!ea->is_null() && !eb->is_null() && without(*ea, args.ignore) == without(*eb, args.ignore)) {
      ++events;
      before.push_back(a.text());
      if (static_cast<int>(before.size()) > args.context) before.pop_front();
      continue;
    }
    // The first divergence.
    const nlohmann::json& first = ea->is_null() ? *eb : *ea;
    auto where = [](const TraceReader& r, const std::string& name, bool ended) {
      return name + (ended ? " ends after line " : " line ") + std::to_string(r.line());
    };
    out << "the traces part after " << events << " equal events, at event " << events + 1 << when(first) << " ("
        << where(a, args.a, ea->is_null()) << ", " << where(b, args.b, eb->is_null()) << ")\n";
    if (!before.empty()) {
      out << "before it, the same in both:\n";
      for (const auto& l : before) out << "    " << (l.size() > 200 ? l.substr(0, 190) + "…" : l) << "\n";
    }
    if (ea->is_null()) {
      out << args.a << " ends there; " << args.b << " goes on with:\n  + " << shown(*eb) << "\n";
      return kExitFailed;
    }
    if (eb->is_null()) {
      out << args.b << " ends there; " << args.a << " goes on with:\n  - " << shown(*ea) << "\n";
      return kExitFailed;
    }
    out << "  A: " << shown(*ea) << "\n  B: " << shown(*eb) << "\n";
    std::set<std::string> keys;
    for (auto it = ea->begin(); it != ea->end(); ++it) keys.insert(it.key());
    for (auto it = eb->begin(); it != eb->end(); ++it) keys.insert(it.key());
    out << "differing keys:\n";
    for (const auto& k : keys) {
      bool ignored = false;
      for (const auto& i : args.ignore) ignored |= i == k;
      if (ignored) continue;
      const bool in_a = ea->contains(k), in_b = eb->contains(k);
      if (in_a && in_b && (*ea)[k] == (*eb)[k]) continue;
      out << "  " << k << ": " << (in_a ? shown((*ea)[k]) : "(absent)") << " vs " << (in_b ? shown((*eb)[k]) : "(absent)")
          << "\n";
    }
    return kExitFailed;
  }
}

}  // namespace destsim
