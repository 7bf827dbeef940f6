#include "framework/trace_events.h"

#include <charconv>

#include "framework/json_in.h"
#include "framework/text.h"

namespace destsim {

std::string format_id_ranges(const std::vector<JobId>& ids) {
  std::string out;
  std::size_t i = 0;
  while (i < ids.size()) {
    std::size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(ids[i]);
    if (j > i) out += '-' + std::to_string(ids[j]);
    i = j + 1;
  }
  return out;
}

namespace {

Result<JobId> parse_job_id(std::string_view text, std::string_view whole) {
  JobId v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end)
    return Error::bad_input("job id ranges \"" + std::string(whole) + "\": \"" + std::string(text) +
                            "\" is not a job id");
  return v;
}

}  // namespace

Result<std::vector<JobId>> parse_id_ranges(std::string_view text) {
  std::vector<JobId> out;
  if (text.empty()) return out;
  for (const std::string_view part : split(text, ',')) {
    const std::size_t dash = part.find('-');
    DS_TRY(JobId a, parse_job_id(part.substr(0, dash), text));
    JobId b = a;
    if (dash != std::string_view::npos) { DS_TRY(b, parse_job_id(part.substr(dash + 1), text)); }
    if (b < a) return Error::bad_input("job id ranges \"" + std::string(text) + "\": range " + std::string(part) + " runs backwards");
    for (JobId id = a;; ++id) {
      out.push_back(id);
      if (id == b) break;
    }
  }
  return out;
}

namespace {

// Reads the fields of one struct from a JSON object, strictly.
struct Reader {
  const nlohmann::json& j;
  std::string_view kind;
  std::size_t seen = 0;  // declared keys present (to find undeclared ones)
  std::optional<Error> error;

  void fail(std::string_view k, const char* expected) {
    if (!error)
      error = Error::bad_input("trace event \"" + std::string(kind) + "\": key \"" + std::string(k) + "\": expected " +
                               expected);
  }
  const nlohmann::json* find(std::string_view k) {
    auto it = j.find(k);
    if (it == j.end()) return nullptr;
    ++seen;
    return &*it;
  }
  const nlohmann::json* need(std::string_view k, const char* expected) {
    const nlohmann::json* v = find(k);
    if (!v) fail(k, expected);
    return v;
  }

  void read(std::string_view k, const nlohmann::json& v, std::string& out) {
    if (!v.is_string()) return fail(k, "a string");
    out = v.get<std::string>();
  }
  void read(std::string_view k, const nlohmann::json& v, std::int64_t& out) {
    if (!v.is_number_integer()) return fail(k, "an integer");
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
      return fail(k, "a 64-bit signed integer");
    out = v.get<std::int64_t>();
  }
  void read(std::string_view k, const nlohmann::json& v, bool& out) {
    if (!v.is_boolean()) return fail(k, "true or false");
    out = v.get<bool>();
  }
  void read(std::string_view k, const nlohmann::json& v, Duration& out) {
    if (!v.is_string()) return fail(k, "a duration string");
    auto d = parse_duration(v.get<std::string>());
    if (!d.ok()) return fail(k, "a duration string (\"250ms\", \"1h2m\")");
    out = d.value();
  }
  void read(std::string_view k, const nlohmann::json& v, JobIds& out) {
    if (!v.is_string()) return fail(k, "job id ranges (\"1-40,42\")");
    auto ids = parse_id_ranges(v.get<std::string>());
    if (!ids.ok()) return fail(k, "job id ranges (\"1-40,42\")");
    out.ids = std::move(ids).value();
  }
  void read(std::string_view, const nlohmann::json& v, nlohmann::json& out) { out = v; }

  template <class T> void operator()(std::string_view k, T& out) {
    if (const nlohmann::json* v = need(k, "a value")) read(k, *v, out);
  }
  template <class T> void operator()(std::string_view k, std::optional<T>& out) {
    out.reset();
    if (const nlohmann::json* v = find(k)) {
      T value{};
      read(k, *v, value);
      out = std::move(value);
    }
  }
};

template <class E> Result<std::optional<TimedEvent>> read_as(const nlohmann::json& j, std::int64_t t) {
  E e{};
  Reader r{j, E::kind, 0, std::nullopt};
  E::fields(e, r);
  if (r.error) return *r.error;
  // "t" and "kind" are the frame; anything else undeclared is a drift.
  if (r.seen + 2 != j.size()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "t" || it.key() == "kind") continue;
      bool declared = false;
      E probe{};
      auto check = [&](std::string_view k, auto&) { declared |= k == it.key(); };
      E::fields(probe, check);
      if (!declared)
        return Error::bad_input("trace event \"" + std::string(E::kind) + "\": undeclared key \"" + it.key() + "\"");
    }
  }
  return std::optional<TimedEvent>(TimedEvent{t, TraceEvent(std::move(e))});
}

using Parser = Result<std::optional<TimedEvent>> (*)(const nlohmann::json&, std::int64_t);

template <std::size_t... I> const Parser* find_parser(std::string_view kind, std::index_sequence<I...>) {
  static const std::pair<std::string_view, Parser> table[] = {
      {std::variant_alternative_t<I, TraceEvent>::kind, &read_as<std::variant_alternative_t<I, TraceEvent>>}...};
  for (const auto& [k, p] : table)
    if (k == kind) return &p;
  return nullptr;
}

}  // namespace

std::string_view event_kind(const TraceEvent& e) {
  return std::visit([](const auto& x) { return std::decay_t<decltype(x)>::kind; }, e);
}

Result<std::optional<TimedEvent>> parse_trace_event(const nlohmann::json& j) {
  if (!j.is_object()) return Error::bad_input("trace line: expected a JSON object");
  auto t = j.find("t");
  auto k = j.find("kind");
  if (t == j.end() || !t->is_number_integer()) return Error::bad_input("trace line: \"t\": expected an integer (ns)");
  if (k == j.end() || !k->is_string()) return Error::bad_input("trace line: \"kind\": expected a string");
  const std::string kind = k->get<std::string>();
  const Parser* p = find_parser(kind, std::make_index_sequence<std::variant_size_v<TraceEvent>>{});
  if (!p) return std::optional<TimedEvent>();
  return (*p)(j, t->get<std::int64_t>());
}

Result<std::optional<TimedEvent>> parse_trace_line(std::string_view line) {
  nlohmann::json j = parse_json_body(line);
  if (j.is_discarded()) return Error::bad_input("trace line: not JSON: " + std::string(line.substr(0, 80)));
  return parse_trace_event(j);
}

}  // namespace destsim
