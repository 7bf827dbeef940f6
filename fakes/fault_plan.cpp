#include "fakes/fault_plan.h"

#include "framework/json_in.h"

namespace destsim {

const char* fault_kind_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::respond: return "respond";
    case FaultKind::rate_limit: return "rate_limit";
    case FaultKind::too_large: return "too_large";
    case FaultKind::latency: return "latency";
    case FaultKind::timeout: return "timeout";
    case FaultKind::reset: return "reset";
    case FaultKind::garble: return "garble";
    case FaultKind::outage: return "outage";
  }
  return "?";
}

const std::vector<FaultKind>& all_fault_kinds() {
  static const std::vector<FaultKind> kinds = {FaultKind::respond, FaultKind::rate_limit, FaultKind::too_large,
                                               FaultKind::latency, FaultKind::timeout,    FaultKind::reset,
                                               FaultKind::garble,  FaultKind::outage};
  return kinds;
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative wildcard match with backtracking to the last '*'.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

FaultRequest FaultRequest::of(const Request& request) {
  return FaultRequest{request.method, request.host, request.path_only(), request.query(), &request.headers,
                      request.body, request.body.size()};
}

bool FaultRule::matches(const FaultRequest& req, Duration since_start) const {
  if (times && applied >= *times) return false;
  if (window_start && since_start < *window_start) return false;
  if (window_end && since_start >= *window_end) return false;
  if (from_request) {
    if (!started_at) return false;
    if (lasting && since_start - *started_at >= *lasting) return false;
  }
  if (!glob_match(method, req.method) || !glob_match(host, req.host) || !glob_match(path, req.path)) return false;
  if (kind == FaultKind::too_large && static_cast<std::int64_t>(req.body_bytes) <= max_body_bytes) return false;
  if (query != "*" && !glob_match(query, req.query)) return false;
  for (const auto& [name, glob] : header_globs) {
    std::optional<std::string_view> v = req.headers ? req.headers->get(name) : std::nullopt;
    if (!v || !glob_match(glob, *v)) return false;
  }
  for (const auto& literal : body_contains)
    if (req.body.find(literal) == std::string_view::npos) return false;
  return true;
}

std::string FaultRule::describe() const {
  std::string s = method + " " + (host == "*" ? "" : host) + path + (query == "*" ? "" : "?" + query);
  for (const auto& [name, glob] : header_globs) s += " [" + name + ": " + glob + "]";
  for (const auto& literal : body_contains) s += " [body has " + literal + "]";
  s += std::string(" ") + fault_kind_name(kind);
  switch (kind) {
    case FaultKind::respond: s += " " + std::to_string(status) + (after ? " after applying" : ""); break;
    case FaultKind::rate_limit: s += " retry_after=" + format_duration(retry_after); break;
    case FaultKind::too_large: s += " over " + format_size(max_body_bytes); break;
    case FaultKind::latency: s += " " + format_duration(latency_min) + ".." + format_duration(latency_max); break;
    case FaultKind::timeout:
    case FaultKind::reset: s += after ? " after" : " before"; break;
    case FaultKind::outage:
      s += status ? " " + std::to_string(status) + (after ? " after applying" : "") : " refused";
      break;
    case FaultKind::garble: break;
  }
  if (times) s += " x" + std::to_string(*times);
  if (probability.num != probability.den) s += " p=" + probability.to_string();
  if (window_start || window_end) {
    s += " in [" + format_duration(window_start.value_or(Duration(0))) + ", " +
         (window_end ? format_duration(*window_end) : std::string("end")) + ")";
  }
  if (from_request) {
    s += " from request " + std::to_string(*from_request);
    if (lasting) s += " for " + format_duration(*lasting);
  }
  return s;
}

nlohmann::json FaultRule::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  nlohmann::json match = nlohmann::json::object();
  if (method != "*") match["method"] = method;
  if (host != "*") match["host"] = host;
  if (path != "*") match["path"] = path;
  if (query != "*") match["query"] = query;
  if (!header_globs.empty()) {
    nlohmann::json h = nlohmann::json::object();
    for (const auto& [name, glob] : header_globs) h[name] = glob;
    match["headers"] = h;
  }
  if (body_contains.size() == 1) match["body_contains"] = body_contains[0];
  else if (!body_contains.empty()) match["body_contains"] = body_contains;
  if (!match.empty()) j["match"] = match;
  if (window_start || window_end) {
    j["window"] = {format_duration(window_start.value_or(Duration(0))),
                   window_end ? nlohmann::json(format_duration(*window_end)) : nlohmann::json(nullptr)};
  }
  if (from_request) j["from_request"] = *from_request;
  if (lasting) j["lasting"] = format_duration(*lasting);
  if (times) j["times"] = *times;
  if (probability.num != probability.den) j["probability"] = probability.to_string();
  if (!note.empty()) j["about"] = note;
  switch (kind) {
    case FaultKind::respond: {
      nlohmann::json r = {{"status", status}};
      if (!headers.empty()) {
        nlohmann::json h = nlohmann::json::object();
        for (const auto& [k, v] : headers.items()) h[k] = v;
        r["headers"] = h;
      }
      if (!body.empty()) r["body"] = body;
      if (after) r["after"] = true;
      j["respond"] = r;
      break;
    }
    case FaultKind::rate_limit: {
      nlohmann::json r = nlohmann::json::object();
      if (retry_after_omitted) r["retry_after"] = nullptr;
      else r["retry_after"] = format_duration(retry_after);
      if (retry_after_http_date) r["http_date"] = true;
      j["rate_limit"] = r;
      break;
    }
    case FaultKind::too_large: j["too_large"] = {{"max_body", max_body_bytes}}; break;
    case FaultKind::latency:
      j["latency"] = {{"min", format_duration(latency_min)}, {"max", format_duration(latency_max)}};
      break;
    case FaultKind::timeout: j["timeout"] = after ? "after" : "before"; break;
    case FaultKind::reset: j["reset"] = after ? "after" : "before"; break;
    case FaultKind::garble: j["garble"] = true; break;
    case FaultKind::outage:
      if (status) j["outage"] = {{"status", status}};
      else j["outage"] = "refused";
      if (status && after) j["outage"]["after"] = true;
      break;
  }
  return j;
}

namespace {

Result<FaultRule> parse_rule(const JsonIn& in) {
  DS_CHECK(in.only_keys({"match", "window", "from_request", "lasting", "times", "probability", "about", "respond",
                         "rate_limit", "too_large", "latency", "timeout", "reset", "garble", "outage"}));
  FaultRule r;
  if (in.has("match")) {
    JsonIn m = in.at("match");
    DS_CHECK(m.only_keys({"method", "host", "path", "op", "query", "headers", "body_contains"}));
    if (m.has("method")) { DS_TRY(r.method, m.at("method").string()); }
    if (m.has("op")) { DS_TRY(r.method, m.at("op").string()); }
    if (m.has("host")) { DS_TRY(r.host, m.at("host").string()); }
    if (m.has("path")) { DS_TRY(r.path, m.at("path").string()); }
    if (m.has("query")) { DS_TRY(r.query, m.at("query").string()); }
    if (m.has("headers")) {
      JsonIn h = m.at("headers");
      DS_CHECK(h.object());
      if (h.size() > kFaultHeaderMatchesMax)
        return h.expected("at most " + std::to_string(kFaultHeaderMatchesMax) + " headers to match on");
      for (auto it = h.json().begin(); it != h.json().end(); ++it) {
        DS_TRY(std::string glob, h.at(it.key()).string());
        if (it.key().empty()) return h.fail("expected a header name as the key, got \"\"");
        r.header_globs.emplace_back(it.key(), std::move(glob));
      }
    }
    if (m.has("body_contains")) {
      JsonIn b = m.at("body_contains");
      auto literal = [&](const JsonIn& v) -> Status {
        DS_TRY(std::string text, v.string());
        if (text.empty()) return v.expected("a non-empty literal the body contains");
        if (text.size() > kFaultBodyMatchMax)
          return v.expected("a literal of at most " + std::to_string(kFaultBodyMatchMax) + " bytes");
        r.body_contains.push_back(std::move(text));
        return Status::success();
      };
      if (b.json().is_array()) {
        if (b.size() == 0 || b.size() > kFaultHeaderMatchesMax)
          return b.expected("1 to " + std::to_string(kFaultHeaderMatchesMax) + " literals the body contains");
        for (std::size_t i = 0; i < b.size(); ++i) DS_CHECK(literal(b.at(i)));
      } else {
        DS_CHECK(literal(b));
      }
    }
  }
  if (in.has("window")) {
    JsonIn w = in.at("window");
    if (!w.json().is_array() || w.size() != 2) return w.expected("[start, end] durations like [\"0s\", \"20m\"]");
    DS_TRY(r.window_start, w.at(std::size_t{0}).duration());
    if (!w.at(std::size_t{1}).json().is_null()) {
      DS_TRY(r.window_end, w.at(std::size_t{1}).duration());
      if (*r.window_end <= *r.window_start) return w.expected("a window whose end is after its start");
    }
  }
  if (in.has("from_request")) {
    if (in.has("window")) return in.at("from_request").fail("give either \"window\" or \"from_request\", not both");
    DS_TRY(r.from_request, in.at("from_request").integer(1));
  }
  if (in.has("lasting")) {
    if (!r.from_request) return in.at("lasting").fail("\"lasting\" needs \"from_request\" (a time window is \"window\")");
    DS_TRY(r.lasting, in.at("lasting").duration());
    if (*r.lasting <= Duration(0)) return in.at("lasting").expected("a duration above zero");
  }
  if (in.has("times")) { DS_TRY(r.times, in.at("times").integer(1)); }
  if (in.has("about")) { DS_TRY(r.note, in.at("about").string()); }
  if (in.has("probability")) { DS_TRY(r.probability, in.at("probability").ratio()); }

  int actions = 0;
  for (const char* k : {"respond", "rate_limit", "too_large", "latency", "timeout", "reset", "garble", "outage"})
    actions += in.has(k);
  if (actions != 1) {
    return in.fail(
        "expected exactly one action: respond, rate_limit, too_large, latency, timeout, reset, garble or outage");
  }
  auto before_after = [&](const JsonIn& v, bool& after) -> Status {
    if (v.json().is_string() && (v.json() == "before" || v.json() == "after")) {
      after = v.json() == "after";
      return Status::success();
    }
    return v.expected("\"before\" or \"after\" (whether the fake applied the request first)");
  };
  if (in.has("respond")) {
    JsonIn a = in.at("respond");
    DS_CHECK(a.only_keys({"status", "headers", "body", "json", "after"}));
    if (a.has("after")) { DS_TRY(r.after, a.at("after").boolean()); }
    DS_CHECK(a.require("status"));
    r.kind = FaultKind::respond;
    // 100–599 for HTTP; below 100, an SFTP status code for the file fakes
    // (2 no such file, 3 permission denied, 4 failure, 14 no space).
    DS_TRY(std::int64_t st, a.at("status").integer(1, 599));
    // 1xx is not a final answer; 32-99 is neither an SFTP nor an HTTP status.
    if (st >= 32 && st < 200)
      return a.at("status").expected("an HTTP status 200-599 or an SFTP status 1-31");
    r.status = static_cast<int>(st);
    if (a.has("headers")) {
      JsonIn h = a.at("headers");
      DS_CHECK(h.object());
      for (auto it = h.json().begin(); it != h.json().end(); ++it) {
        const std::string& name = it.key();
        bool token = !name.empty();
        for (unsigned char c : name)
          token &= c > 32 && c < 127 && std::string_view("()<>@,;:\\\"/[]?={}").find(static_cast<char>(c)) ==
                                             std::string_view::npos;
        if (!token)
          return h.at(name).fail("expected a header name (letters, digits and !#$%&'*+-.^_`|~), got \"" + name + "\"");
        DS_TRY(std::string v, h.at(name).string());
        for (unsigned char c : v)
          if (c == '\r' || c == '\n' || c == 0)
            return h.at(name).fail("a header value holds no CR, LF or NUL (they would forge headers)");
        r.headers.add(it.key(), v);
      }
    }
    if (a.has("body") && a.has("json")) return a.fail("give either \"body\" or \"json\", not both");
    if (a.has("body")) { DS_TRY(r.body, a.at("body").string()); }
    if (a.has("json")) {
      r.body = a.at("json").json().dump();
      if (!r.headers.get("Content-Type")) r.headers.add("Content-Type", "application/json");
    }
  } else if (in.has("rate_limit")) {
    JsonIn a = in.at("rate_limit");
    r.kind = FaultKind::rate_limit;
    r.retry_after = std::chrono::seconds(1);
    if (!a.json().is_boolean()) {
      DS_CHECK(a.only_keys({"retry_after", "http_date"}));
      if (a.has("retry_after")) {
        if (a.at("retry_after").json().is_null()) {
          r.retry_after_omitted = true;
          r.retry_after = Duration(0);
        } else {
          DS_TRY(r.retry_after, a.at("retry_after").duration());
        }
      }
      if (a.has("http_date")) { DS_TRY(r.retry_after_http_date, a.at("http_date").boolean()); }
    } else if (!a.json().get<bool>()) {
      return a.expected("true or an object {\"retry_after\": \"60s\"}");
    }
  } else if (in.has("too_large")) {
    JsonIn a = in.at("too_large");
    DS_CHECK(a.only_keys({"max_body"}));
    DS_CHECK(a.require("max_body"));
    r.kind = FaultKind::too_large;
    DS_TRY(r.max_body_bytes, a.at("max_body").size_bytes());
  } else if (in.has("latency")) {
    JsonIn a = in.at("latency");
    DS_CHECK(a.only_keys({"min", "max", "fixed"}));
    r.kind = FaultKind::latency;
    if (a.has("fixed")) {
      if (a.has("min") || a.has("max")) return a.fail("give either \"fixed\" or \"min\"/\"max\"");
      DS_TRY(r.latency_min, a.at("fixed").duration());
      r.latency_max = r.latency_min;
    } else {
      DS_CHECK(a.require("min"));
      DS_CHECK(a.require("max"));
      DS_TRY(r.latency_min, a.at("min").duration());
      DS_TRY(r.latency_max, a.at("max").duration());
      if (r.latency_max < r.latency_min) return a.at("max").expected("a duration >= min");
    }
  } else if (in.has("timeout")) {
    r.kind = FaultKind::timeout;
    DS_CHECK(before_after(in.at("timeout"), r.after));
  } else if (in.has("reset")) {
    r.kind = FaultKind::reset;
    DS_CHECK(before_after(in.at("reset"), r.after));
  } else if (in.has("garble")) {
    JsonIn a = in.at("garble");
    if (!a.json().is_boolean() || !a.json().get<bool>()) return a.expected("true");
    r.kind = FaultKind::garble;
  } else if (in.has("outage")) {
    JsonIn a = in.at("outage");
    r.kind = FaultKind::outage;
    if (a.json().is_string() && a.json() == "refused") {
      r.status = 0;
    } else {
      DS_CHECK(a.only_keys({"status", "after"}));
      r.status = 503;
      if (a.has("status")) {
        DS_TRY(std::int64_t st, a.at("status").integer(400, 599));
        r.status = static_cast<int>(st);
      }
      // Applied, then answered with the status: a gateway failing in front of
      // a backend that did the work (as `respond` with "after").
      if (a.has("after")) { DS_TRY(r.after, a.at("after").boolean()); }
    }
  }
  return r;
}

}  // namespace

Result<FaultPlan> FaultPlan::from_json(const nlohmann::json& doc, std::string_view where) {
  JsonIn root(doc, std::string(where));
  const nlohmann::json* rules = &doc;
  std::string base;
  if (doc.is_object()) {
    DS_CHECK(root.only_keys({"rules", "about"}));
    DS_CHECK(root.require("rules"));
    if (root.has("about")) { DS_TRY(std::string about, root.at("about").string()); }
    rules = &doc["rules"];
    base = "/rules";
  }
  JsonIn list(*rules, std::string(where), base);
  DS_CHECK(list.array());
  FaultPlan plan;
  for (std::size_t i = 0; i < list.size(); ++i) {
    DS_TRY(FaultRule rule, parse_rule(list.at(i)));
    plan.rules_.push_back(std::move(rule));
  }
  return plan;
}

Result<FaultPlan> FaultPlan::load(const std::string& path) {
  DS_TRY(nlohmann::json doc, read_json_file(path));
  return from_json(doc, path);
}

nlohmann::json FaultPlan::to_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rules_) out.push_back(r.to_json());
  return out;
}

Status check_http_fault_plan(const FaultPlan& plan, std::string_view where) {
  const auto& rules = plan.rules();
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const FaultRule& r = rules[i];
    if (r.kind == FaultKind::respond && (r.status < 100 || r.status > 599))
      return Error::bad_input(std::string(where) + "/" + std::to_string(i) + "/respond/status: " +
                              std::to_string(r.status) + " is an SFTP status; an HTTP fake needs 100-599");
  }
  return Status::success();
}

FaultDecision FaultPlan::decide(const FaultRequest& request, Duration since_start, Rng& rng) {
  FaultDecision d;
  ++requests_;
  for (FaultRule& r : rules_)
    if (r.from_request && !r.started_at && requests_ >= *r.from_request) r.started_at = since_start;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    FaultRule& r = rules_[i];
    if (r.kind != FaultKind::latency && d.action) continue;
    if (!r.matches(request, since_start)) continue;
    if (r.probability.num != r.probability.den && !rng.chance(r.probability)) continue;
    ++r.applied;
    if (r.kind == FaultKind::latency) {
      Duration extra = r.latency_min;
      if (r.latency_max > r.latency_min) extra = Duration(rng.uniform(r.latency_min.count(), r.latency_max.count() + 1));
      d.latency += extra;
    } else {
      d.action = r;
      d.rule = static_cast<int>(i);
    }
  }
  return d;
}

void FaultPlan::reset_counters() {
  requests_ = 0;
  for (auto& r : rules_) {
    r.applied = 0;
    r.started_at.reset();
  }
}

Response injected_response(const FaultRule& rule, std::int64_t now_unix_ms) {
  Response resp;
  resp.injected = true;
  switch (rule.kind) {
    case FaultKind::respond:
      resp.status = rule.status;
      resp.headers = rule.headers;
      resp.body = rule.body;
      break;
    case FaultKind::rate_limit: {
      resp.status = 429;
      resp.headers.set("Content-Type", "application/json");
      resp.body = R"({"msg":"Too Many Requests","code":"RateLimitExceeded","injected":true})";
      if (!rule.retry_after_omitted) {
        auto secs = std::chrono::ceil<std::chrono::seconds>(rule.retry_after).count();
        if (rule.retry_after_http_date) {
          resp.headers.set("Retry-After", format_http_date(now_unix_ms + secs * 1000));
        } else {
          resp.headers.set("Retry-After", std::to_string(secs));
        }
      }
      break;
    }
    case FaultKind::too_large:
      resp.status = 413;
      resp.headers.set("Content-Type", "application/json");
      resp.body = R"({"msg":"Payload Too Large","code":"PayloadTooLarge","injected":true})";
      break;
    case FaultKind::outage:
      resp.status = rule.status ? rule.status : 503;
      resp.headers.set("Content-Type", "application/json");
      resp.body = R"({"msg":"Service Unavailable","code":"Outage","injected":true})";
      break;
    default:
      DS_ASSERT(!"injected_response: rule kind has no response of its own");
  }
  return resp;
}

std::string garble_body(std::string_view body, Rng& rng) {
  std::size_t keep = body.empty() ? 0 : static_cast<std::size_t>(rng.below(body.size()));
  std::string out(body.substr(0, keep));
  std::size_t extra = 1 + static_cast<std::size_t>(rng.below(16));
  for (std::size_t i = 0; i < extra; ++i) out.push_back(static_cast<char>(rng.below(256)));
  return out;
}

}  // namespace destsim
