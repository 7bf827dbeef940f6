#include "destinations/declarative/declarative.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <set>

#include "destinations/bulk_destination.h"
#include "framework/gzip.h"
#include "framework/http_call.h"
#include "framework/json_in.h"
#include "framework/oracle.h"

namespace destsim {

namespace {

constexpr std::string_view kEffect = "async_job.record";
// Stands for the records array while the creation body is rendered; replaced
// by the items' own bytes, so the body is exactly what the limits counted.
const std::string kRecordsSentinel = "@@destsim:records:sentinel@@";

// ---------------------------------------------------------------- templates

struct Segment {
  bool expr = false;
  std::string text;               // literal text, or the expression as written
  std::vector<std::string> path;  // the expression split at '.'
};

// Splits "a {{ x.y }} b" into literal and expression segments.
Result<std::vector<Segment>> split_template(const std::string& s, const JsonIn& at) {
  std::vector<Segment> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t open = s.find("{{", pos);
    if (open == std::string::npos) {
      out.push_back({false, s.substr(pos), {}});
      break;
    }
    if (open > pos) out.push_back({false, s.substr(pos, open - pos), {}});
    std::size_t close = s.find("}}", open + 2);
    if (close == std::string::npos) return at.fail("template \"" + s + "\": \"{{\" without a closing \"}}\"");
    std::string expr = s.substr(open + 2, close - open - 2);
    auto b = expr.find_first_not_of(' '), e = expr.find_last_not_of(' ');
    expr = b == std::string::npos ? "" : expr.substr(b, e - b + 1);
    if (expr.empty()) return at.fail("template \"" + s + "\": empty expression \"{{}}\"");
    Segment seg{true, expr, {}};
    std::size_t p = 0;
    while (true) {
      std::size_t dot = expr.find('.', p);
      std::string part = expr.substr(p, dot == std::string::npos ? std::string::npos : dot - p);
      if (part.empty() || part.find_first_of(" {}") != std::string::npos)
        return at.fail("template \"" + s + "\": bad expression \"" + expr + "\" (expected a dotted path)");
      seg.path.push_back(part);
      if (dot == std::string::npos) break;
      p = dot + 1;
    }
    out.push_back(std::move(seg));
    pos = close + 2;
  }
  return out;
}

// The value at a dotted path (numeric parts index arrays), or null.
const nlohmann::json* walk(const nlohmann::json& root, const std::vector<std::string>& path, std::size_t from = 0) {
  const nlohmann::json* cur = &root;
  for (std::size_t i = from; i < path.size(); ++i) {
    const std::string& p = path[i];
    if (cur->is_object()) {
      auto it = cur->find(p);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array() && !p.empty() && p.find_first_not_of("0123456789") == std::string::npos) {
      std::size_t idx = std::stoul(p);
      if (idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
    } else {
      return nullptr;
    }
  }
  return cur;
}

std::string as_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

Result<nlohmann::json> render(const nlohmann::json& tmpl, const nlohmann::json& context, const std::string& where,
                              const std::string& path) {
  if (tmpl.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = tmpl.begin(); it != tmpl.end(); ++it) {
      DS_TRY(out[it.key()], render(it.value(), context, where, path + "/" + json_pointer_escape(it.key())));
    }
    return out;
  }
  if (tmpl.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < tmpl.size(); ++i) {
      DS_TRY(nlohmann::json v, render(tmpl[i], context, where, path + "/" + std::to_string(i)));
      out.push_back(std::move(v));
    }
    return out;
  }
  if (!tmpl.is_string()) return tmpl;
  const std::string s = tmpl.get<std::string>();
  JsonIn at(tmpl, where, path);
  DS_TRY(std::vector<Segment> segs, split_template(s, at));
  auto lookup = [&](const Segment& seg) -> Result<nlohmann::json> {
    const nlohmann::json* v = walk(context, seg.path);
    if (!v || v->is_null())
      return at.fail("template \"" + s + "\": no value for {{" + seg.text + "}}");
    return *v;
  };
  if (segs.size() == 1 && segs[0].expr) return lookup(segs[0]);
  std::string out;
  for (const auto& seg : segs) {
    if (!seg.expr) {
      out += seg.text;
      continue;
    }
    DS_TRY(nlohmann::json v, lookup(seg));
    out += as_text(v);
  }
  return nlohmann::json(out);
}

// ---------------------------------------------------------------- the spec

struct RequestSpec {
  std::string method;
  nlohmann::json path;  // a template string
  nlohmann::json query = nlohmann::json::object();  // name → value template; an empty value is left out
  nlohmann::json headers = nlohmann::json::object();
  nlohmann::json body;  // null: no body
};

enum class MatchBy { index, position, field };

struct Spec {
  nlohmann::json raw;
  std::string where;
  std::string name, about, host;
  struct Key {
    std::string name;
    ConfigType type;
    nlohmann::json default_value;
    std::string doc;
  };
  std::vector<Key> config;
  nlohmann::json record_template = "{{record.payload}}";
  std::vector<std::string> require;
  RequestSpec creation;
  std::vector<int> success_statuses;  // empty: any 2xx
  nlohmann::json id_extractor;        // array path
  // A CSV creation body: the header row of `columns`, then one row per record
  // item (its values under those keys, as text; absent or null: empty).
  bool csv = false;
  std::vector<std::string> columns;
  char delimiter = ',';
  bool gzip = false;  // the creation body is sent gzip-compressed
  // Synchronous APIs: the creation answer carries per-request counts instead
  // of a job id, and nothing is polled.
  bool counts_mode = false;
  nlohmann::json accepted_extractor, rejected_extractor;
  // The fake that models the API, and the effect (oracle key) of a record.
  std::string fake = "async_job";
  std::string effect_key = std::string(kEffect);
  nlohmann::json effect_item = "{{item}}";
  RequestSpec polling;
  nlohmann::json status_extractor, message_extractor;
  std::map<std::string, std::string> status_mapping;  // API status → completed|running|failed|timeout
  bool unknown_failed = true;
  bool failed_applies_nothing = false;  // a status mapped to "failed" applied none of the job's records
  bool record_mode = false;
  std::optional<RequestSpec> results_request;
  nlohmann::json records_extractor, error_extractor, index_field = "index", result_field = "id";
  std::string record_field = "email";
  MatchBy match_by = MatchBy::index;
  std::string success_field = "status";
  std::set<std::string> success_values, retry_values;
  std::vector<int> retryable_statuses = {408, 429, 500, 502, 503, 504};
  bool idempotent = false;
  std::int64_t records_max = 10'000;
  std::int64_t bytes_max = 6'000'000;
  BulkConfig bulk;
  nlohmann::json fake_options = nlohmann::json::object();
  /// The creation_response paths the polling/results templates read.
  std::vector<std::vector<std::string>> response_refs;
};

std::string pointer_of(const nlohmann::json& extractor) {
  std::string p;
  for (const auto& part : extractor) p += "/" + json_pointer_escape(as_text(part));
  return p.empty() ? "/" : p;
}

const nlohmann::json* extract(const nlohmann::json& root, const nlohmann::json& extractor) {
  const nlohmann::json* cur = &root;
  for (const auto& part : extractor) {
    if (part.is_string() && cur->is_object()) {
      auto it = cur->find(part.get<std::string>());
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (part.is_number_unsigned() && cur->is_array()) {
      auto idx = part.get<std::size_t>();
      if (idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
    } else {
      return nullptr;
    }
  }
  return cur;
}

Status read_extractor(const JsonIn& in, nlohmann::json& out) {
  if (!in.json().is_array() || in.json().empty())
    return in.expected("an extractor: a non-empty array of field names and indexes, like [\"status\"]");
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto& p = in.json()[i];
    if (!(p.is_string() && !p.get<std::string>().empty()) && !p.is_number_unsigned())
      return in.at(i).expected("a field name or an index >= 0");
  }
  out = in.json();
  return Status::success();
}

Result<std::vector<std::string>> string_list(const JsonIn& in, bool non_empty) {
  if (!in.json().is_array() || (non_empty && in.json().empty()))
    return in.expected(non_empty ? "a non-empty array of strings" : "an array of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (!in.json()[i].is_string()) return in.expected(non_empty ? "a non-empty array of strings" : "an array of strings");
    out.push_back(in.json()[i].get<std::string>());
  }
  return out;
}

Result<std::vector<int>> status_list(const JsonIn& in) {
  DS_CHECK(in.array());
  std::vector<int> out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    DS_TRY(std::int64_t s, in.at(i).integer(100, 599));
    out.push_back(static_cast<int>(s));
  }
  return out;
}

// Checks every template string under `in`: syntax, allowed roots, declared
// config keys; counts `records` and collects creation_response paths.
struct TemplateUse {
  std::set<std::string> roots;
  std::int64_t records_whole = 0, records_inline = 0;
  std::vector<std::vector<std::string>> response_refs;
};

Status check_templates(const JsonIn& in, const Spec& spec, TemplateUse& use) {
  const nlohmann::json& j = in.json();
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) DS_CHECK(check_templates(in.at(it.key()), spec, use));
    return Status::success();
  }
  if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) DS_CHECK(check_templates(in.at(i), spec, use));
    return Status::success();
  }
  if (!j.is_string()) return Status::success();
  DS_TRY(std::vector<Segment> segs, split_template(j.get<std::string>(), in));
  for (const auto& seg : segs) {
    if (!seg.expr) continue;
    const std::string& root = seg.path[0];
    if (!use.roots.count(root)) {
      std::string allowed;
      for (const auto& r : use.roots) allowed += (allowed.empty() ? "" : ", ") + r;
      return in.fail("{{" + seg.text + "}}: unknown root \"" + root + "\" here (expected one of: " + allowed + ")");
    }
    if (root == "config") {
      if (seg.path.size() != 2) return in.fail("{{" + seg.text + "}}: expected config.<key>");
      bool declared = false;
      for (const auto& k : spec.config) declared |= k.name == seg.path[1];
      if (!declared)
        return in.fail("{{" + seg.text + "}}: config key \"" + seg.path[1] + "\" is not declared in /config");
    }
    if (root == "records") {
      if (seg.path.size() != 1) return in.fail("{{" + seg.text + "}}: expected {{records}}");
      if (segs.size() == 1) ++use.records_whole;
      else ++use.records_inline;
    }
    if (root == "creation_response") {
      if (seg.path.size() < 2) return in.fail("{{" + seg.text + "}}: expected creation_response.<path>");
      use.response_refs.emplace_back(seg.path.begin() + 1, seg.path.end());
    }
  }
  return Status::success();
}

Result<RequestSpec> read_request(const JsonIn& in, const std::string& default_method, bool with_body) {
  DS_CHECK(in.object());
  if (with_body) {
    DS_CHECK(in.only_keys({"method", "path", "query", "headers", "body", "body_format", "columns", "delimiter", "gzip",
                           "id_extractor", "success_statuses"}));
  } else {
    DS_CHECK(in.only_keys({"method", "path", "query", "headers", "status_extractor", "message_extractor",
                           "status_mapping", "unknown_status", "failed_applies_nothing"}));
  }
  RequestSpec r;
  r.method = default_method;
  if (in.has("method")) {
    DS_TRY(r.method, in.at("method").string());
    static const std::set<std::string> methods = {"GET", "POST", "PUT", "PATCH"};
    if (!methods.count(r.method)) return in.at("method").expected("GET, POST, PUT or PATCH");
  }
  DS_CHECK(in.require("path"));
  DS_TRY(std::string path, in.at("path").string());
  if (path.empty() || path[0] != '/') return in.at("path").expected("a path template starting with \"/\"");
  r.path = path;
  if (in.has("headers")) {
    JsonIn h = in.at("headers");
    DS_CHECK(h.object());
    for (auto it = h.json().begin(); it != h.json().end(); ++it) {
      if (!it.value().is_string()) return h.at(it.key()).expected("a header value template (a string)");
    }
    r.headers = h.json();
  }
  if (in.has("query")) {
    JsonIn q = in.at("query");
    DS_CHECK(q.object());
    if (path.find('?') != std::string::npos) return in.at("path").expected("no query in the path when \"query\" is given");
    for (auto it = q.json().begin(); it != q.json().end(); ++it) {
      if (it.key().empty()) return q.fail("a query parameter with an empty name");
      if (!it.value().is_string()) return q.at(it.key()).expected("a query value template (a string)");
    }
    r.query = q.json();
  }
  if (with_body) {
    if (in.has("body")) r.body = in.at("body").json();
  }
  return r;
}

Result<RequestSpec> read_results_request(const JsonIn& in) {
  DS_CHECK(in.object());
  DS_CHECK(in.only_keys({"method", "path", "query", "headers"}));
  JsonIn copy = in;
  return read_request(copy, "GET", false);
}

// The asynchronous tail of a spec: "polling" and "results" (mode job or record).
Status parse_polling_and_results(const JsonIn& in, Spec& s) {
  DS_CHECK(in.require("polling"));
  JsonIn po = in.at("polling");
  DS_TRY(s.polling, read_request(po, "GET", false));
  DS_CHECK(po.require("status_extractor"));
  DS_CHECK(read_extractor(po.at("status_extractor"), s.status_extractor));
  if (po.has("message_extractor")) DS_CHECK(read_extractor(po.at("message_extractor"), s.message_extractor));
  DS_CHECK(po.require("status_mapping"));
  {
    JsonIn m = po.at("status_mapping");
    DS_CHECK(m.object());
    DS_CHECK(m.only_keys({"completed", "running", "failed", "timeout"}));
    DS_CHECK(m.require("completed"));
    DS_CHECK(m.require("running"));
    for (const char* kind : {"completed", "running", "failed", "timeout"}) {
      if (!m.has(kind)) continue;
      JsonIn list = m.at(kind);
      DS_TRY(std::vector<std::string> values, string_list(list, true));
      for (std::size_t i = 0; i < values.size(); ++i) {
        auto [it, fresh] = s.status_mapping.emplace(values[i], kind);
        if (!fresh)
          return list.at(i).fail("status \"" + values[i] + "\" is already mapped to " + it->second);
      }
    }
  }
  if (po.has("unknown_status")) {
    DS_TRY(std::string u, po.at("unknown_status").string());
    if (u != "failed" && u != "transient") return po.at("unknown_status").expected("\"failed\" or \"transient\"");
    s.unknown_failed = u == "failed";
  }
  if (po.has("failed_applies_nothing")) { DS_TRY(s.failed_applies_nothing, po.at("failed_applies_nothing").boolean()); }
  TemplateUse poll_use;
  poll_use.roots = {"config", "creation_response", "import_id"};
  DS_CHECK(check_templates(po.at("path"), s, poll_use));
  if (po.has("query")) DS_CHECK(check_templates(po.at("query"), s, poll_use));
  if (po.has("headers")) DS_CHECK(check_templates(po.at("headers"), s, poll_use));

  DS_CHECK(in.require("results"));
  {
    JsonIn r = in.at("results");
    DS_CHECK(r.object());
    DS_CHECK(r.require("mode"));
    DS_TRY(std::string mode, r.at("mode").string());
    if (mode == "job") {
      DS_CHECK(r.only_keys({"mode"}));
    } else if (mode == "record") {
      s.record_mode = true;
      DS_CHECK(r.only_keys({"mode", "request", "records_extractor", "match_by", "index_field", "result_field",
                            "record_field", "success", "retry_values", "error_extractor"}));
      if (r.has("request")) {
        DS_TRY(RequestSpec rq, read_results_request(r.at("request")));
        s.results_request = rq;
        DS_CHECK(check_templates(r.at("request").at("path"), s, poll_use));
        if (r.at("request").has("query")) DS_CHECK(check_templates(r.at("request").at("query"), s, poll_use));
        if (r.at("request").has("headers")) DS_CHECK(check_templates(r.at("request").at("headers"), s, poll_use));
      }
      DS_CHECK(r.require("records_extractor"));
      DS_CHECK(read_extractor(r.at("records_extractor"), s.records_extractor));
      if (r.has("match_by")) {
        DS_TRY(std::string m, r.at("match_by").string());
        if (m == "index") s.match_by = MatchBy::index;
        else if (m == "position") s.match_by = MatchBy::position;
        else if (m == "field") s.match_by = MatchBy::field;
        else return r.at("match_by").expected("\"index\", \"position\" or \"field\"");
      }
      if (r.has("index_field")) { DS_TRY(s.index_field, r.at("index_field").string()); }
      if (r.has("result_field")) { DS_TRY(s.result_field, r.at("result_field").string()); }
      if (r.has("record_field")) { DS_TRY(s.record_field, r.at("record_field").string()); }
      DS_CHECK(r.require("success"));
      JsonIn su = r.at("success");
      DS_CHECK(su.object());
      DS_CHECK(su.only_keys({"field", "values"}));
      DS_CHECK(su.require("field"));
      DS_CHECK(su.require("values"));
      DS_TRY(s.success_field, su.at("field").string());
      DS_TRY(std::vector<std::string> ok, string_list(su.at("values"), true));
      s.success_values.insert(ok.begin(), ok.end());
      if (r.has("retry_values")) {
        DS_TRY(std::vector<std::string> rv, string_list(r.at("retry_values"), false));
        s.retry_values.insert(rv.begin(), rv.end());
      }
      if (r.has("error_extractor")) DS_CHECK(read_extractor(r.at("error_extractor"), s.error_extractor));
    } else {
      return r.at("mode").expected("\"job\", \"record\" or \"counts\"");
    }
  }
  s.response_refs = poll_use.response_refs;
  return Status::success();
}

// A synchronous spec's "results": {"mode": "counts", "accepted_extractor",
// "rejected_extractor"?}: the creation answer's counts of the rows the API
// took and refused.
Status parse_counts(const JsonIn& in, Spec& s) {
  DS_CHECK(in.require("results"));
  JsonIn r = in.at("results");
  DS_CHECK(r.object());
  DS_CHECK(r.only_keys({"mode", "accepted_extractor", "rejected_extractor"}));
  DS_CHECK(r.require("accepted_extractor"));
  DS_CHECK(read_extractor(r.at("accepted_extractor"), s.accepted_extractor));
  if (r.has("rejected_extractor")) DS_CHECK(read_extractor(r.at("rejected_extractor"), s.rejected_extractor));
  return Status::success();
}

Result<std::shared_ptr<const Spec>> parse_spec(const nlohmann::json& j, const std::string& where) {
  auto spec = std::make_shared<Spec>();
  Spec& s = *spec;
  s.raw = j;
  s.where = where;
  JsonIn in(j, where);
  DS_CHECK(in.object());
  DS_CHECK(in.only_keys({"spec", "name", "about", "host", "config", "record", "creation", "polling", "results",
                         "retryable_statuses", "idempotent", "limits", "bulk", "fake", "effect", "fake_options"}));
  DS_CHECK(in.require("spec"));
  DS_TRY(std::int64_t version, in.at("spec").integer());
  if (version != 1) return in.at("spec").expected("spec format version 1");
  DS_CHECK(in.require("name"));
  DS_TRY(s.name, in.at("name").string());
  if (s.name.empty()) return in.at("name").expected("a non-empty name");
  if (in.has("about")) { DS_TRY(s.about, in.at("about").string()); }
  DS_CHECK(in.require("host"));
  DS_TRY(s.host, in.at("host").string());
  if (s.host.empty() || s.host.find_first_of("/ :") != std::string::npos)
    return in.at("host").expected("a host name like \"api.sendgrid.com\"");

  if (in.has("config")) {
    JsonIn c = in.at("config");
    DS_CHECK(c.object());
    static const std::set<std::string> reserved = {"spec",      "spec_file", "spec_name", "host",
                                                   "vars",      "records_max", "bytes_max"};
    for (auto it = c.json().begin(); it != c.json().end(); ++it) {
      JsonIn k = c.at(it.key());
      DS_CHECK(k.object());
      DS_CHECK(k.only_keys({"type", "default", "doc"}));
      if (reserved.count(it.key())) return k.fail("\"" + it.key() + "\" is a key of the destination itself");
      for (const auto& bk : bulk_config_keys(BulkConfig{}))
        if (bk.name == it.key()) return k.fail("\"" + it.key() + "\" is a bulk config key of the destination");
      Spec::Key key;
      key.name = it.key();
      DS_CHECK(k.require("type"));
      DS_TRY(std::string type, k.at("type").string());
      if (type == "secret") key.type = ConfigType::secret;
      else if (type == "string") key.type = ConfigType::string;
      else if (type == "integer") key.type = ConfigType::integer;
      else if (type == "boolean") key.type = ConfigType::boolean;
      else return k.at("type").expected("\"secret\", \"string\", \"integer\" or \"boolean\"");
      if (k.has("default")) {
        const auto& d = k.json()["default"];
        bool ok = (key.type == ConfigType::integer && d.is_number_integer()) ||
                  (key.type == ConfigType::boolean && d.is_boolean()) ||
                  ((key.type == ConfigType::string || key.type == ConfigType::secret) && d.is_string());
        if (!ok) return k.at("default").expected(std::string("a default of type ") + type);
        key.default_value = d;
      }
      if (k.has("doc")) { DS_TRY(key.doc, k.at("doc").string()); }
      s.config.push_back(std::move(key));
    }
  }

  if (in.has("record")) {
    JsonIn r = in.at("record");
    DS_CHECK(r.object());
    DS_CHECK(r.only_keys({"template", "require"}));
    if (r.has("template")) s.record_template = r.at("template").json();
    if (r.has("require")) { DS_TRY(s.require, string_list(r.at("require"), false)); }
    TemplateUse use;
    use.roots = {"config", "record"};
    DS_CHECK(check_templates(r.has("template") ? r.at("template") : JsonIn(s.record_template, where, "/record/template"),
                             s, use));
  }

  DS_CHECK(in.require("creation"));
  JsonIn cr = in.at("creation");
  DS_TRY(s.creation, read_request(cr, "POST", true));
  if (s.creation.method == "GET") return cr.at("method").expected("a method with a body (POST, PUT or PATCH)");
  // Synchronous ("results": {"mode": "counts"}): no job id, no polling.
  {
    const nlohmann::json& r = j.contains("results") ? j["results"] : nlohmann::json();
    s.counts_mode = r.is_object() && r.contains("mode") && r["mode"] == "counts";
  }
  if (cr.has("body_format")) {
    DS_TRY(std::string f, cr.at("body_format").string());
    if (f != "json" && f != "csv") return cr.at("body_format").expected("\"json\" or \"csv\"");
    s.csv = f == "csv";
  }
  if (s.csv) {
    if (cr.has("body")) return cr.at("body").fail("a CSV body is built from \"columns\": no \"body\" template");
    DS_CHECK(cr.require("columns"));
    DS_TRY(s.columns, string_list(cr.at("columns"), true));
    std::set<std::string> seen;
    for (std::size_t i = 0; i < s.columns.size(); ++i)
      if (s.columns[i].empty() || !seen.insert(s.columns[i]).second)
        return cr.at("columns").at(i).expected("a non-empty column name, each once");
    if (cr.has("delimiter")) {
      DS_TRY(std::string d, cr.at("delimiter").string());
      if (d.size() != 1 || d == "\"" || d == "\n" || d == "\r") return cr.at("delimiter").expected("one character");
      s.delimiter = d[0];
    }
  } else {
    for (const char* k : {"columns", "delimiter"})
      if (cr.has(k)) return cr.at(k).fail(std::string("\"") + k + "\" needs \"body_format\": \"csv\"");
    DS_CHECK(cr.require("body"));
  }
  if (cr.has("gzip")) { DS_TRY(s.gzip, cr.at("gzip").boolean()); }
  if (s.counts_mode) {
    if (cr.has("id_extractor")) return cr.at("id_extractor").fail("a synchronous spec (results mode \"counts\") has no job id");
  } else {
    DS_CHECK(cr.require("id_extractor"));
    DS_CHECK(read_extractor(cr.at("id_extractor"), s.id_extractor));
  }
  if (cr.has("success_statuses")) {
    DS_TRY(s.success_statuses, status_list(cr.at("success_statuses")));
    for (std::size_t i = 0; i < s.success_statuses.size(); ++i)
      if (s.success_statuses[i] < 200 || s.success_statuses[i] > 299)
        return cr.at("success_statuses").at(i).expected("a 2xx status");
  }
  {
    TemplateUse use;
    use.roots = {"config"};
    DS_CHECK(check_templates(cr.at("path"), s, use));
    if (cr.has("query")) DS_CHECK(check_templates(cr.at("query"), s, use));
    if (cr.has("headers")) DS_CHECK(check_templates(cr.at("headers"), s, use));
    if (!s.csv) {
      use.roots = {"config", "records"};
      DS_CHECK(check_templates(cr.at("body"), s, use));
      if (use.records_whole != 1 || use.records_inline != 0)
        return cr.at("body").fail("expected \"{{records}}\" exactly once, as a whole string value (it becomes the "
                                  "records array), found " +
                                  std::to_string(use.records_whole + use.records_inline));
    }
  }

  if (s.counts_mode) {
    if (in.has("polling")) return in.at("polling").fail("a synchronous spec (results mode \"counts\") polls nothing");
    DS_CHECK(parse_counts(in, s));
  } else {
    DS_CHECK(parse_polling_and_results(in, s));
  }

  if (in.has("retryable_statuses")) { DS_TRY(s.retryable_statuses, status_list(in.at("retryable_statuses"))); }
  if (in.has("idempotent")) { DS_TRY(s.idempotent, in.at("idempotent").boolean()); }
  if (in.has("limits")) {
    JsonIn l = in.at("limits");
    DS_CHECK(l.object());
    DS_CHECK(l.only_keys({"records_max", "bytes_max"}));
    if (l.has("records_max")) { DS_TRY(s.records_max, l.at("records_max").integer(1, 10'000'000)); }
    if (l.has("bytes_max")) {
      DS_TRY(s.bytes_max, l.at("bytes_max").size_bytes());
      if (s.bytes_max < 64) return l.at("bytes_max").expected("a size of at least 64 bytes");
    }
  }
  {
    nlohmann::json doc = in.has("bulk") ? in.at("bulk").json() : nlohmann::json::object();
    if (!doc.is_object()) return in.at("bulk").expected("an object of bulk config keys");
    // "file" or "file: /path" (an inline spec), then the spec's own path.
    const std::string bulk_where = where + (where.find(": /") == std::string::npos ? ": /bulk" : "/bulk");
    auto c = Config::resolve(doc, s.name, bulk_config_keys(BulkConfig{}), bulk_where);
    if (!c.ok()) return c.error();
    auto b = bulk_config_from(*c);
    if (!b.ok()) return Error::bad_input(bulk_where + ": " + b.error().message);
    s.bulk = *b;
  }
  if (in.has("fake_options")) {
    DS_CHECK(in.at("fake_options").object());
    s.fake_options = in.at("fake_options").json();
  }
  if (in.has("fake")) {
    DS_TRY(s.fake, in.at("fake").string());
    if (s.fake.empty()) return in.at("fake").expected("the name of a fake (destsim list)");
  }
  if (in.has("effect")) {
    JsonIn e = in.at("effect");
    DS_CHECK(e.object());
    DS_CHECK(e.only_keys({"key", "item"}));
    DS_CHECK(e.require("key"));
    DS_TRY(s.effect_key, e.at("key").string());
    if (s.effect_key.empty()) return e.at("key").expected("the oracle key the fake counts applied records under");
    DS_CHECK(e.require("item"));
    s.effect_item = e.at("item").json();
    TemplateUse use;
    use.roots = {"config", "record", "item"};
    if (s.csv) use.roots.insert("row");
    DS_CHECK(check_templates(e.at("item"), s, use));
  } else if (s.fake != "async_job") {
    return in.fail("a spec on fake \"" + s.fake + "\" needs an \"effect\": the oracle key and item that fake counts");
  }
  return std::shared_ptr<const Spec>(spec);
}

// ---------------------------------------------------------------- config

// The values the spec's `config.<key>` templates read, from the destination
// config (declared keys), `vars`, or the spec's defaults.
Result<nlohmann::json> config_values(const Spec& spec, const Config& config, const std::vector<ConfigKey>& schema) {
  nlohmann::json out = nlohmann::json::object();
  auto declared = [&](const std::string& name) -> const ConfigKey* {
    for (const auto& k : schema)
      if (k.name == name) return &k;
    return nullptr;
  };
  const ConfigKey* vars_key = declared("vars");
  const nlohmann::json vars = vars_key ? config.json("vars") : nlohmann::json::object();
  for (const auto& k : spec.config) {
    if (const ConfigKey* d = declared(k.name); d && d->type == k.type) {
      switch (k.type) {
        case ConfigType::secret: out[k.name] = config.secret(k.name).value; break;
        case ConfigType::string: out[k.name] = config.string(k.name); break;
        case ConfigType::integer: out[k.name] = config.integer(k.name); break;
        case ConfigType::boolean: out[k.name] = config.boolean(k.name); break;
        default: break;
      }
      continue;
    }
    if (vars.is_object() && vars.contains(k.name)) {
      nlohmann::json v = vars[k.name];
      if (k.type == ConfigType::secret && v.is_object() && v.contains("secret")) v = v["secret"];
      bool ok = (k.type == ConfigType::integer && v.is_number_integer()) ||
                (k.type == ConfigType::boolean && v.is_boolean()) ||
                ((k.type == ConfigType::string || k.type == ConfigType::secret) && v.is_string());
      if (!ok)
        return Error::bad_input(config.where_at("/vars/" + json_pointer_escape(k.name)) + ": expected a value of type " +
                                config_type_name(k.type) + " (declared by the spec's /config/" + k.name + ")");
      out[k.name] = v;
      continue;
    }
    if (!k.default_value.is_null()) {
      out[k.name] = k.default_value;
      continue;
    }
    return Error::bad_input(config.where() + ": missing \"" + k.name + "\" (" + config_type_name(k.type) + "), declared by " +
                            spec.where + ": /config/" + json_pointer_escape(k.name) +
                            (vars_key ? "; give it as a config key or in \"vars\"" : ""));
  }
  return out;
}

// The spec a config selects for the registered entry: inline, file, shipped.
// `shown` is the entry's default spec, reused instead of parsed again.
Result<std::shared_ptr<const Spec>> select_spec(const Config& config, const std::shared_ptr<const Spec>& fixed,
                                                const std::shared_ptr<const Spec>& shown) {
  if (fixed) return fixed;
  const nlohmann::json& inline_spec = config.json("spec");
  if (!inline_spec.is_null()) return parse_spec(inline_spec, config.where_at("/spec"));
  const std::string& file = config.string("spec_file");
  if (!file.empty()) {
    DS_TRY(nlohmann::json j, read_json_file(file));
    return parse_spec(j, file);
  }
  const std::string& name = config.string("spec_name");
  if (shown && shown->name == name) return shown;
  const auto& shipped = declarative_shipped_specs();
  auto it = shipped.find(name);
  if (it == shipped.end()) {
    std::string names;
    for (const auto& [n, _] : shipped) names += (names.empty() ? "" : ", ") + n;
    return Error::bad_input(config.where_at("/spec_name") + ": expected one of " + names + ", got \"" + name + "\"");
  }
  return parse_spec(nlohmann::json::parse(it->second), "specs/" + name + ".json");
}

// ---------------------------------------------------------------- the manager

// The record template is the payload itself ("{{record.payload}}", the
// default) and the payload an object: the item is the payload, with no
// context built around it (a padded payload is megabytes, copied twice).
bool item_is_payload(const Spec& spec, const Record& r) {
  return r.payload.is_object() && spec.record_template.is_string() &&
         spec.record_template.get_ref<const std::string&>() == "{{record.payload}}";
}

Status check_required(const Spec& spec, const Record& r) {
  for (const auto& f : spec.require) {
    if (!r.payload.is_object() || !r.payload.contains(f) || r.payload[f].is_null())
      return Error::bad_input("record " + std::to_string(r.id) + ": needs the field \"" + f + "\"");
  }
  return Status::success();
}

Result<nlohmann::json> transform_record(const Spec& spec, const nlohmann::json& cfg, const Record& r) {
  DS_CHECK(check_required(spec, r));
  if (item_is_payload(spec, r)) return r.payload;
  nlohmann::json ctx = {{"config", cfg}, {"record", {{"id", r.id}, {"stream", r.stream}, {"payload", r.payload}}}};
  auto item = render(spec.record_template, ctx, "record " + std::to_string(r.id), "");
  if (!item.ok())
    return Error::bad_input("record " + std::to_string(r.id) + ": the record template expected a value: " +
                            item.error().message);
  if (!item->is_object())
    return Error::bad_input("record " + std::to_string(r.id) + ": the record template gave " + json_summary(*item) +
                            ", expected an object");
  return std::move(item).value();
}

// A CSV spec's row for a record item: the item's values under the columns,
// as text (absent or null: empty).
std::vector<std::string> csv_cells(const Spec& spec, const nlohmann::json& item) {
  std::vector<std::string> cells;
  cells.reserve(spec.columns.size());
  for (const auto& c : spec.columns) {
    auto it = item.find(c);
    cells.push_back(it == item.end() || it->is_null() ? std::string() : as_text(*it));
  }
  return cells;
}

// One CSV line (RFC 4180) with the spec's delimiter.
std::string csv_text(const std::vector<std::string>& cells, char delimiter) {
  std::string out;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i) out.push_back(delimiter);
    const std::string& c = cells[i];
    if (c.find_first_of(std::string("\"\r\n") + delimiter) == std::string::npos) {
      out += c;
      continue;
    }
    out.push_back('"');
    for (char ch : c) {
      if (ch == '"') out.push_back('"');
      out.push_back(ch);
    }
    out.push_back('"');
  }
  return out;
}

// The effect (oracle key) of a record item under the spec.
Result<std::string> effect_of(const Spec& spec, const nlohmann::json& cfg, const Record& r, const nlohmann::json& item) {
  if (spec.effect_item == nlohmann::json("{{item}}")) return oracle_key(spec.effect_key, item);
  nlohmann::json ctx = {{"config", cfg},
                        {"record", {{"id", r.id}, {"stream", r.stream}, {"payload", r.payload}}},
                        {"item", item}};
  if (spec.csv) {
    nlohmann::json row = nlohmann::json::object();
    const auto cells = csv_cells(spec, item);
    for (std::size_t i = 0; i < cells.size(); ++i)
      if (!cells[i].empty()) row[spec.columns[i]] = cells[i];
    ctx["row"] = std::move(row);
  }
  DS_TRY(nlohmann::json v, render(spec.effect_item, ctx, spec.where, "/effect/item"));
  return oracle_key(spec.effect_key, v);
}

class DeclarativeManager final : public AsyncDestinationManager {
 public:
  DeclarativeManager(DeliveryContext& ctx, std::shared_ptr<const Spec> spec, nlohmann::json cfg, std::string host,
                     std::int64_t records_max, std::int64_t bytes_max)
      : ctx_(ctx), spec_(std::move(spec)), cfg_(std::move(cfg)), host_(std::move(host)) {
    limits_.records_max = records_max;
    limits_.bytes_max = bytes_max;
    if (spec_->csv) {
      csv_header_ = csv_text(spec_->columns, spec_->delimiter) + "\n";
      limits_.header_bytes = static_cast<std::int64_t>(csv_header_.size());
      limits_.separator_bytes = 1;
      return;
    }
    // The body around the records: rendered once, the records array stands in
    // as the sentinel string; items are joined by ',' (the separator).
    nlohmann::json ctx_json = {{"config", cfg_}, {"records", kRecordsSentinel}};
    auto body = render(spec_->creation.body, ctx_json, spec_->where, "/creation/body");
    DS_ASSERT(body.ok());  // validated: only config and records, both present
    body_ = body->dump();
    const std::string quoted = nlohmann::json(kRecordsSentinel).dump();
    sentinel_at_ = body_.find(quoted);
    DS_ASSERT(sentinel_at_ != std::string::npos);
    body_.erase(sentinel_at_, quoted.size());
    limits_.header_bytes = static_cast<std::int64_t>(body_.size()) + 2;  // + "[]"
    limits_.separator_bytes = 1;
  }

  std::string name() const override { return "declarative " + spec_->name; }
  BulkLimits limits() const override { return limits_; }
  bool idempotent() const override { return spec_->idempotent; }

  Result<BulkItem> transform(const Record& record) override {
    DS_TRY(nlohmann::json item, transform_record(*spec_, cfg_, record));
    if (spec_->csv) return BulkItem{record.id, csv_text(csv_cells(*spec_, item), spec_->delimiter)};
    return BulkItem{record.id, dump_of(item)};
  }

  Task<UploadOutcome> upload(const std::vector<const BulkItem*>& items) override {
    UploadOutcome out;
    std::string body;
    if (spec_->csv) {
      body = csv_header_;
      for (const BulkItem* item : items) {
        body += item->data;
        body.push_back('\n');
      }
    } else {
      std::string records = "[";
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) records.push_back(',');
        records += items[i]->data;
      }
      records.push_back(']');
      body = body_;
      body.insert(sentinel_at_, records);
    }
    if (spec_->gzip) {
      auto z = gzip_compress(body);
      if (!z.ok()) {
        out.kind = UploadOutcome::Kind::failed;
        out.reason = "gzip: " + z.error().message;
        co_return out;
      }
      body = std::move(z).value();
    }
    nlohmann::json ctx_json = {{"config", cfg_}};
    auto req = build(spec_->creation, ctx_json, "/creation");
    if (!req.ok()) {
      out.kind = UploadOutcome::Kind::failed;
      out.reason = "spec: " + req.error().message;
      co_return out;
    }
    Request request = std::move(req).value();
    request.body = std::move(body);
    if (spec_->gzip) request.headers.set("Content-Encoding", "gzip");
    HttpResult res = co_await send(std::move(request));
    if (!res.ok()) {
      out.kind = UploadOutcome::Kind::retry;
      out.reason = std::string("transport ") + transport_error_kind_name(res.error().kind) + " on job creation";
      out.maybe_applied = res.error().maybe_applied;
      co_return out;
    }
    const Response& r = *res;
    out.http_status = r.status;  // the jobs' reason kind (401: auth) comes from it
    out.retry_after = retry_after(r, ctx_.loop);
    const bool success = spec_->success_statuses.empty()
                             ? r.ok()
                             : std::find(spec_->success_statuses.begin(), spec_->success_statuses.end(), r.status) !=
                                   spec_->success_statuses.end();
    if (!success) {
      out.reason = describe(r) + " on job creation";
      if (retryable(r.status)) {
        out.kind = UploadOutcome::Kind::retry;
        out.maybe_applied = may_have_applied(r.status);
      } else {
        out.kind = UploadOutcome::Kind::failed;
        if (r.status == 413) out.reason += " (upload too large for the API)";
      }
      co_return out;
    }
    nlohmann::json b = parse_json_body(r.body);
    if (spec_->counts_mode) co_return counted(items, r, b);
    const nlohmann::json* id = b.is_discarded() ? nullptr : extract(b, spec_->id_extractor);
    if (!id || !(id->is_string() || id->is_number_integer()) || as_text(*id).empty()) {
      // The API answered success, so it may hold the job; we cannot follow it.
      out.kind = UploadOutcome::Kind::retry;
      out.maybe_applied = true;
      out.reason = "HTTP " + std::to_string(r.status) + " on job creation without a job id at " +
                   pointer_of(spec_->id_extractor) + (b.is_discarded() ? " (unreadable body)" : "");
      co_return out;
    }
    out.kind = UploadOutcome::Kind::importing;
    out.import.import_id = as_text(*id);
    for (const auto* it : items) out.import.jobs.push_back(it->id);
    nlohmann::json refs = nlohmann::json::object();
    for (const auto& path : spec_->response_refs) {
      const nlohmann::json* v = walk(b, path);
      if (!v || v->is_null()) {
        std::string dotted;
        for (const auto& p : path) dotted += "." + p;
        out.kind = UploadOutcome::Kind::retry;
        out.maybe_applied = true;
        out.reason = "HTTP " + std::to_string(r.status) + " on job creation without creation_response" + dotted +
                     " (the polling request needs it)";
        out.import = ImportRef{};
        co_return out;
      }
      nlohmann::json* at = &refs;
      for (const auto& p : path) at = &(*at)[p];
      *at = *v;
    }
    out.import.params["creation_response"] = std::move(refs);
    if (spec_->record_mode && spec_->match_by == MatchBy::field) {
      nlohmann::json keys = nlohmann::json::array();
      for (const auto* it : items) {
        nlohmann::json item = nlohmann::json::parse(it->data);
        keys.push_back(item.contains(spec_->record_field) ? item[spec_->record_field] : nlohmann::json(nullptr));
      }
      out.import.params["keys"] = std::move(keys);
    }
    co_return out;
  }

  // A synchronous API's answer: its counts of the rows it took and refused.
  // Every row taken: each job ok. Every row refused: each job failed (nothing
  // applied). Anything else — some refused, counts that do not add up — the
  // API applied some rows and says nothing of which: no job is reported
  // delivered, each is retried with its outcome unknown (so, unless the spec
  // is idempotent, ended outcome unknown, never sent twice).
  UploadOutcome counted(const std::vector<const BulkItem*>& items, const Response& r, const nlohmann::json& b) {
    UploadOutcome out;
    out.http_status = r.status;
    const auto n = static_cast<std::int64_t>(items.size());
    const nlohmann::json* acc = b.is_discarded() ? nullptr : extract(b, spec_->accepted_extractor);
    const bool counts_rejected = !spec_->rejected_extractor.is_null();
    const nlohmann::json* rej = counts_rejected && !b.is_discarded() ? extract(b, spec_->rejected_extractor) : nullptr;
    if (!acc || !acc->is_number_integer() || (counts_rejected && (!rej || !rej->is_number_integer()))) {
      out.kind = UploadOutcome::Kind::retry;
      out.maybe_applied = true;  // a success: the API may have applied the rows
      out.reason = "HTTP " + std::to_string(r.status) + " without readable counts at " +
                   pointer_of(spec_->accepted_extractor) +
                   (counts_rejected ? " and " + pointer_of(spec_->rejected_extractor) : std::string());
      return out;
    }
    const std::int64_t accepted = acc->get<std::int64_t>();
    const std::int64_t rejected = rej ? rej->get<std::int64_t>() : n - accepted;
    out.kind = UploadOutcome::Kind::completed;
    const std::string counts = "the API took " + std::to_string(accepted) + " and refused " +
                               std::to_string(rejected) + " of the " + std::to_string(n) + " rows sent";
    for (const BulkItem* item : items) {
      if (accepted == n && rejected == 0) {
        out.results.push_back({item->id, Verdict::ok, ""});
      } else if (accepted == 0 && rejected == n) {
        out.results.push_back({item->id, Verdict::fail, counts + " (every row)", ReasonKind::rejected_by_api});
      } else {
        MessageResult m{item->id, Verdict::retry, counts + "; which ones is unknown", ReasonKind::unknown_outcome};
        m.maybe_applied = true;
        out.results.push_back(std::move(m));
      }
    }
    return out;
  }

  Task<PollOutcome> poll(const ImportRef& import) override {
    // (A stored ImportRef that cannot fill the template: nothing to poll, a fault.)
    Fetched f = co_await fetch(spec_->polling, import, "/polling", "polling", true);
    if (f.known) {
      PollOutcome out = std::move(*f.known);
      out.retry_after = f.retry_after;
      co_return out;
    }
    PollOutcome out = read_poll(import, f);
    // A completed answer in record mode is kept for upload_stats: not remembered.
    if (f.fault.empty() && !(out.status == ImportStatus::completed && spec_->record_mode)) {
      PollMemo& memo = poll_memo(import.import_id);
      memo.body = std::move(f.raw);
      memo.outcome = out;
      memo.outcome.retry_after.reset();
    }
    co_return out;
  }

  Task<StatsOutcome> upload_stats(const ImportRef& import) override {
    StatsOutcome out;
    if (!spec_->record_mode) {
      for (JobId id : import.jobs) out.results.push_back({id, Verdict::ok, ""});
      co_return out;
    }
    nlohmann::json b;
    if (auto it = completed_bodies_.find(import.import_id); it != completed_bodies_.end()) {
      b = std::move(it->second);
      completed_bodies_.erase(it);
    } else {
      // After a restart (or with a separate results request): ask again.
      const RequestSpec& rs = spec_->results_request ? *spec_->results_request : spec_->polling;
      Fetched f = co_await fetch(rs, import, spec_->results_request ? "/results/request" : "/polling", "results", false);
      if (!f.fault.empty()) {
        // A 4xx outside the retryable table is not asked again: with no
        // results, every job of the import is retried as unknown (D4).
        out.transient = f.refused == 0;
        out.reason = "results: " + f.fault;
        co_return out;
      }
      b = std::move(f.body);
    }
    const nlohmann::json* arr = extract(b, spec_->records_extractor);
    if (!arr || !arr->is_array()) {
      // Nothing names any job: every job is retried (D4), never assumed delivered.
      out.reason = "no per-record results at " + pointer_of(spec_->records_extractor);
      co_return out;
    }
    const std::size_t n = import.jobs.size();
    // Per job: the verdicts of the results that name it.
    std::vector<std::vector<MessageResult>> named(n);
    std::map<std::string, std::vector<std::size_t>> by_key;  // field mode: key → job positions
    if (spec_->match_by == MatchBy::field) {
      const nlohmann::json& keys = import.params.contains("keys") ? import.params["keys"] : nlohmann::json();
      for (std::size_t i = 0; i < n && keys.is_array() && i < keys.size(); ++i)
        if (!keys[i].is_null()) by_key[as_text(keys[i])].push_back(i);
    }
    for (std::size_t pos = 0; pos < arr->size(); ++pos) {
      const nlohmann::json& res = (*arr)[pos];
      if (!res.is_object()) continue;
      std::vector<std::size_t> targets;
      if (spec_->match_by == MatchBy::position) {
        if (pos < n) targets.push_back(pos);
      } else if (spec_->match_by == MatchBy::index) {
        auto f = res.find(spec_->index_field);
        if (f != res.end() && f->is_number_integer() && f->get<std::int64_t>() >= 0 &&
            static_cast<std::size_t>(f->get<std::int64_t>()) < n)
          targets.push_back(static_cast<std::size_t>(f->get<std::int64_t>()));
      } else {
        auto f = res.find(spec_->result_field);
        if (f != res.end() && !f->is_null()) {
          auto k = by_key.find(as_text(*f));
          if (k != by_key.end()) targets = k->second;
        }
      }
      if (targets.empty()) continue;
      MessageResult mr = verdict_of(res);
      for (std::size_t t : targets) {
        mr.id = import.jobs[t];
        named[t].push_back(mr);
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (named[i].empty()) continue;  // not mentioned: the router retries it (D4)
      bool agree = true;
      for (const auto& m : named[i]) agree &= m.verdict == named[i][0].verdict;
      if (agree) {
        out.results.push_back(named[i][0]);
      } else {
        out.results.push_back({import.jobs[i], Verdict::retry,
                               "ambiguous per-record results: several results with different outcomes name this record"});
      }
    }
    co_return out;
  }

 private:
  nlohmann::json poll_context(const ImportRef& import) const {
    return {{"config", cfg_},
            {"import_id", import.import_id},
            {"creation_response", import.params.contains("creation_response") ? import.params["creation_response"]
                                                                              : nlohmann::json::object()}};
  }

  Result<Request> build(const RequestSpec& rs, const nlohmann::json& context, const std::string& at) const {
    Request r;
    r.method = rs.method;
    r.host = host_;
    DS_TRY(nlohmann::json path, render(rs.path, context, spec_->where, at + "/path"));
    r.path = as_text(path);
    char sep = '?';
    for (auto it = rs.query.begin(); it != rs.query.end(); ++it) {
      DS_TRY(nlohmann::json v, render(it.value(), context, spec_->where, at + "/query/" + json_pointer_escape(it.key())));
      const std::string text = as_text(v);
      if (text.empty()) continue;  // an unset option is left out
      r.path += sep + url_encode(it.key()) + "=" + url_encode(text);
      sep = '&';
    }
    for (auto it = rs.headers.begin(); it != rs.headers.end(); ++it) {
      DS_TRY(nlohmann::json v, render(it.value(), context, spec_->where, at + "/headers/" + json_pointer_escape(it.key())));
      r.headers.set(it.key(), as_text(v));
    }
    return r;
  }

  // A polling or results request for `import`, sent and read: its body, or
  // what went wrong (`refused`: the status of a 4xx outside the retryable
  // table, which asking again cannot change; 0 otherwise).
  // With `remember` (polls): a 2xx answer with exactly the bytes of the
  // import's last poll answer read is not parsed again — a poll's outcome is a
  // function of the body, and a pending import answers the same bytes at every
  // poll — `known` carries that outcome and `body` stays null. Otherwise `raw`
  // keeps the bytes of a readable 2xx answer.
  struct Fetched {
    nlohmann::json body;
    std::string fault;
    int refused = 0;
    std::optional<Duration> retry_after;
    std::optional<PollOutcome> known;
    std::string raw;
  };
  Task<Fetched> fetch(const RequestSpec& rs, const ImportRef& import, const char* where, const char* what,
                      bool remember) {
    Fetched f;
    auto req = request_for(rs, import, where);
    if (!req.ok()) {
      f.fault = std::string("cannot build the ") + what + " request: " + req.error().message;
      co_return f;
    }
    HttpResult res = co_await send(std::move(req).value());
    if (remember && res.ok() && res->ok()) {
      for (const auto& m : poll_memos_) {
        if (m.import_id == import.import_id && !m.body.empty() && m.body == res->body) {
          f.retry_after = retry_after(*res, ctx_.loop);
          f.known = m.outcome;
          co_return f;
        }
      }
    }
    f.body = read(res, f.fault, f.retry_after);
    if (!f.fault.empty() && res.ok() && !res->ok() && !retryable(res->status)) f.refused = res->status;
    if (remember && f.fault.empty()) f.raw = std::move(res.value().body);
    co_return f;
  }

  // What a fetched polling answer says.
  PollOutcome read_poll(const ImportRef& import, Fetched& f) {
    PollOutcome out;
    out.retry_after = f.retry_after;
    if (!f.fault.empty()) {
      out.reason = "poll: " + f.fault;
      if (f.refused > 0) {
        // The API refuses to tell (a 4xx outside the retryable table): asking
        // again cannot help. The import it had accepted ends failed, its
        // jobs' outcome unknown (the router decides by idempotence).
        out.status = ImportStatus::failed;
        out.http_status = f.refused;
      } else {
        out.transient = true;
      }
      return out;
    }
    nlohmann::json b = std::move(f.body);
    const nlohmann::json* st = extract(b, spec_->status_extractor);
    if (!st || !(st->is_string() || st->is_number())) {
      out.transient = true;
      out.reason = "poll: no status at " + pointer_of(spec_->status_extractor);
      return out;
    }
    const std::string status = as_text(*st);
    std::string message;
    if (!spec_->message_extractor.is_null()) {
      if (const nlohmann::json* m = extract(b, spec_->message_extractor); m && !m->is_null()) message = as_text(*m);
    }
    auto kind = spec_->status_mapping.find(status);
    if (kind == spec_->status_mapping.end()) {
      out.reason = "unknown status \"" + status + "\" (not in /polling/status_mapping)";
      if (spec_->unknown_failed) {
        out.status = ImportStatus::failed;  // the answer does not say what was applied: unknown
      } else {
        out.transient = true;
      }
      return out;
    }
    if (kind->second == "running") {
      out.status = ImportStatus::running;
    } else if (kind->second == "completed") {
      out.status = ImportStatus::completed;
      if (spec_->record_mode && !spec_->results_request) completed_bodies_[import.import_id] = std::move(b);
    } else {
      out.status = ImportStatus::failed;
      out.nothing_applied = kind->second == "failed" && spec_->failed_applies_nothing;
      out.reason = "status \"" + status + "\"" + (kind->second == "timeout" ? " (timed out by the API)" : "") +
                   (message.empty() ? "" : ": " + message);
    }
    return out;
  }

  // The polling or results request for `import`. Its templates read only the
  // config (fixed for this manager) and the import's id and creation_response,
  // so each import's request is rendered once, not at every poll (a long
  // import is polled thousands of times).
  Result<Request> request_for(const RequestSpec& rs, const ImportRef& import, const char* where) {
    static const nlohmann::json kNone = nlohmann::json::object();
    auto cr = import.params.find("creation_response");
    const nlohmann::json& refs = cr == import.params.end() ? kNone : *cr;
    for (const auto& b : built_)
      if (b.spec == &rs && b.import_id == import.import_id && b.refs == refs) return b.request;
    auto req = build(rs, poll_context(import), where);
    if (!req.ok()) return req;
    if (built_.size() >= kBuiltMax) built_.erase(built_.begin());
    built_.push_back(Built{&rs, import.import_id, refs, *req});
    return req;
  }

  // The last answer of an import's poll that was read, and what it said.
  struct PollMemo {
    std::string import_id;
    std::string body;
    PollOutcome outcome;
  };
  PollMemo& poll_memo(const std::string& import_id) {
    for (auto& m : poll_memos_)
      if (m.import_id == import_id) return m;
    if (poll_memos_.size() >= kBuiltMax) poll_memos_.erase(poll_memos_.begin());
    poll_memos_.push_back(PollMemo{import_id, {}, {}});
    return poll_memos_.back();
  }

  bool retryable(int status) const {
    return std::find(spec_->retryable_statuses.begin(), spec_->retryable_statuses.end(), status) !=
           spec_->retryable_statuses.end();
  }

  // Sends, first waiting out any Retry-After the API gave for this path (I1).
  Task<HttpResult> send(Request request) {
    const std::string path(request.path_only());
    // A hold may grow while this request waits (another answer's Retry-After): look again after each wait.
    for (auto it = hold_.find(path); it != hold_.end() && it->second > ctx_.loop.now(); it = hold_.find(path))
      co_await ctx_.loop.sleep_to(it->second);
    HttpResult res = co_await ctx_.transport.send(std::move(request));
    if (res.ok()) {
      if (auto d = retry_after(*res, ctx_.loop)) {
        Time until = ctx_.loop.now() + *d;
        Time& h = hold_[path];
        h = std::max(h, until);
      }
    }
    co_return res;
  }

  // The body of a 2xx answer, or `fault` naming why there is none.
  nlohmann::json read(const HttpResult& res, std::string& fault, std::optional<Duration>& ra) const {
    if (!res.ok()) {
      fault = std::string("transport ") + transport_error_kind_name(res.error().kind);
      return nullptr;
    }
    ra = retry_after(*res, ctx_.loop);
    if (!res->ok()) {
      fault = describe(*res);
      return nullptr;
    }
    nlohmann::json b = parse_json_body(res->body);
    if (b.is_discarded()) {
      fault = "HTTP " + std::to_string(res->status) + " with an unreadable body";
      return nullptr;
    }
    return b;
  }

  // "HTTP 400: <message>" from the common error shapes.
  static std::string describe(const Response& r) {
    std::string out = "HTTP " + std::to_string(r.status);
    nlohmann::json b = parse_json_body(r.body);
    std::string msg;
    if (b.is_object()) {
      if (b.contains("errors") && b["errors"].is_array() && !b["errors"].empty() && b["errors"][0].is_object() &&
          b["errors"][0].contains("message"))
        msg = as_text(b["errors"][0]["message"]);
      else if (b.contains("message"))
        msg = as_text(b["message"]);
      else if (b.contains("error"))
        msg = as_text(b["error"]);
    }
    if (!msg.empty()) out += ": " + msg;
    return out;
  }

  MessageResult verdict_of(const nlohmann::json& res) const {
    MessageResult mr;
    auto f = res.find(spec_->success_field);
    std::string value = f == res.end() || f->is_null() ? "" : as_text(*f);
    if (spec_->success_values.count(value)) return mr;
    std::string err;
    if (!spec_->error_extractor.is_null())
      if (const nlohmann::json* e = extract(res, spec_->error_extractor); e && !e->is_null()) err = as_text(*e);
    if (spec_->retry_values.count(value)) {
      mr.verdict = Verdict::retry;
      mr.reason = "record result \"" + value + "\"" + (err.empty() ? "" : ": " + err);
    } else {
      mr.verdict = Verdict::fail;
      mr.reason = "record rejected by the API (" + spec_->success_field + " \"" + value + "\")" +
                  (err.empty() ? "" : ": " + err);
    }
    return mr;
  }

  DeliveryContext& ctx_;
  std::shared_ptr<const Spec> spec_;
  nlohmann::json cfg_;
  std::string host_;
  BulkLimits limits_;
  std::string body_;  // the creation body without its records array
  std::size_t sentinel_at_ = 0;
  std::string csv_header_;  // a CSV spec's header row
  std::map<std::string, Time> hold_;  // path → no request before (Retry-After)
  // Requests built per import, and the last poll answer read per import
  // (both a few entries: the imports in flight; the oldest goes first).
  static constexpr std::size_t kBuiltMax = 16;
  struct Built {
    const RequestSpec* spec;
    std::string import_id;
    nlohmann::json refs;
    Request request;
  };
  std::vector<Built> built_;
  std::vector<PollMemo> poll_memos_;
  // Bodies of completed polls (record mode): an optimisation only; after a
  // restart upload_stats asks the API again.
  std::map<std::string, nlohmann::json> completed_bodies_;
};

// ---------------------------------------------------------------- the entry

// Bulk settings: the spec's "bulk" values, overridden by every bulk key the
// config sets explicitly.
Result<BulkConfig> bulk_from(const Spec& spec, const Config& config) {
  DS_TRY(BulkConfig from_config, bulk_config_from(config));
  BulkConfig b = spec.bulk;
  auto set = [&](const char* key) { return config.source(key) != "default"; };
  if (set("upload_interval")) b.upload_interval = from_config.upload_interval;
  if (set("poll_interval")) b.poll_interval = from_config.poll_interval;
  if (set("poll_timeout")) b.poll_timeout = from_config.poll_timeout;
  if (set("imports_in_flight")) b.imports_in_flight = from_config.imports_in_flight;
  if (set("max_buffer_size")) b.max_buffer_size = from_config.max_buffer_size;
  if (set("max_attempts")) b.retry.max_attempts = from_config.retry.max_attempts;
  if (set("retry_delay_initial")) b.retry.delay_initial = from_config.retry.delay_initial;
  if (set("retry_delay_max")) b.retry.delay_max = from_config.retry.delay_max;
  if (set("retry_jitter")) b.retry.jitter = from_config.retry.jitter;
  if (set("retry_window")) b.retry.elapsed_max = from_config.retry.elapsed_max;
  Status s = b.validate();
  if (!s.ok()) return Error::bad_input("config: " + s.error().message + " (after the spec's /bulk values)");
  return b;
}

std::int64_t limit_from(const Config& config, const char* key, std::int64_t spec_value, bool size) {
  if (config.source(key) == "default") return spec_value;
  return std::min(spec_value, size ? config.size(key) : config.integer(key));
}

// `fixed` set: an entry bound to that spec; unset: the registered entry, whose
// spec comes from its config (default: the shipped SendGrid one).
DestinationEntry make_entry(std::shared_ptr<const Spec> shown, std::shared_ptr<const Spec> fixed) {
  const Spec& s = *shown;
  DestinationEntry e;
  e.name = fixed ? s.name : "declarative";
  e.about = fixed ? "declarative spec " + s.name + (s.about.empty() ? "" : ": " + s.about)
                  : "an Airbyte-style async-job JSON spec on the bulk path (default spec: " + s.name + ")";
  e.fake = s.fake;
  e.host = s.host;
  std::vector<ConfigKey> schema;
  if (!fixed) {
    schema.push_back({"spec", ConfigType::json, nullptr, "an inline spec (a JSON object); wins over spec_file"});
    schema.push_back({"spec_file", ConfigType::string, "", "a spec file; wins over spec_name"});
    schema.push_back({"spec_name", ConfigType::string, s.name, "a shipped spec (destinations/declarative/specs/)"});
  }
  schema.push_back({"host", ConfigType::string, s.host, "API host (default: the spec's host)"});
  for (const auto& k : s.config) schema.push_back({k.name, k.type, k.default_value, k.doc});
  if (!fixed)
    schema.push_back({"vars", ConfigType::json, nlohmann::json::object(),
                      "values for config keys a spec declares that this destination does not"});
  schema.push_back({"records_max", ConfigType::integer, s.records_max, "records per job (at most the spec's limit)", 1,
                    s.records_max});
  schema.push_back({"bytes_max", ConfigType::size, format_size(s.bytes_max),
                    "bytes per creation request (at most the spec's limit)", 64, s.bytes_max});
  for (auto& k : bulk_config_keys(s.bulk)) schema.push_back(std::move(k));
  e.schema = schema;
  e.capabilities.bulk = true;
  e.capabilities.polls = !s.counts_mode;
  e.capabilities.limits = BatchLimits{.records_max = s.records_max, .bytes_max = s.bytes_max};
  e.capabilities.import_concurrency = s.bulk.imports_in_flight;
  e.capabilities.retryable_statuses = s.retryable_statuses;
  e.capabilities.idempotent_writes = s.idempotent;
  e.capabilities.delivery = s.idempotent ? DeliverySemantics::exactly_once : DeliverySemantics::at_least_once;
  bound_schema_by(e.schema, e.capabilities);
  schema = e.schema;

  e.make = [schema, fixed, shown](DeliveryContext& ctx, const Config& config) -> Result<std::unique_ptr<Destination>> {
    DS_TRY(std::shared_ptr<const Spec> spec, select_spec(config, fixed, shown));
    if (spec->fake != shown->fake)
      return Error::bad_input("spec " + spec->name + " is modelled by fake \"" + spec->fake + "\", not \"" +
                              shown->fake + "\": run it as its own destination (destsim certify --spec FILE)");
    DS_TRY(nlohmann::json cfg, config_values(*spec, config, schema));
    for (const auto& k : spec->config)
      if (k.type == ConfigType::secret && cfg[k.name].is_string()) ctx.loop.trace().add_secret(cfg[k.name].get<std::string>());
    DS_TRY(BulkConfig bulk, bulk_from(*spec, config));
    std::string host = config.source("host") == "default" ? spec->host : config.string("host");
    auto manager = std::make_unique<DeclarativeManager>(ctx, spec, std::move(cfg), host,
                                                        limit_from(config, "records_max", spec->records_max, false),
                                                        limit_from(config, "bytes_max", spec->bytes_max, true));
    return std::unique_ptr<Destination>(std::make_unique<BulkDestination>(ctx, std::move(manager), std::move(bulk)));
  };
  e.prepare_effects = [schema, fixed, shown](const Config& config) -> std::function<std::vector<std::string>(const Record&)> {
    auto none = [](const Record&) { return std::vector<std::string>{}; };
    auto spec = select_spec(config, fixed, shown);
    if (!spec.ok()) return none;
    auto cfg = config_values(**spec, config, schema);
    if (!cfg.ok()) return none;
    // The effect is the item (the default): a record whose item is its payload
    // is keyed straight from it (what transform_record then effect_of give,
    // without copying the payload).
    const bool effect_is_item = (*spec)->effect_item == nlohmann::json("{{item}}");
    return [spec = *spec, cfg = std::move(cfg).value(), effect_is_item](const Record& r) -> std::vector<std::string> {
      if (effect_is_item && item_is_payload(*spec, r)) {
        if (!check_required(*spec, r).ok()) return {};
        return {oracle_key(spec->effect_key, r.payload)};
      }
      auto item = transform_record(*spec, cfg, r);
      if (!item.ok()) return {};
      auto effect = effect_of(*spec, cfg, r, *item);
      if (!effect.ok()) return {};
      return {*effect};
    };
  };
  e.effects = [prepare = e.prepare_effects](const Record& r, const Config& config) { return prepare(config)(r); };
  e.generate = [](Rng& rng, JobId id, const GenerateOptions& o) {
    Record r;
    r.id = id;
    r.stream = "contacts";
    static const char* kFirst[] = {"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald"};
    std::string email = "user" + std::to_string(id) + "@example.com";
    if (rng.chance(o.invalid)) email = "user" + std::to_string(id) + "-at-example.com";  // invalid
    nlohmann::json p = {{"email", email},
                        {"first_name", odd_text_or(o, id, 1, kFirst[rng.below(6)])},
                        {"external_id", "rec-" + std::to_string(id)}};
    return padded_record(std::move(r), std::move(p), o, "/custom_fields/pad");
  };
  e.fake_options = [schema, fixed, shown](const Config& config) -> nlohmann::json {
    nlohmann::json out = nlohmann::json::object();
    auto spec = select_spec(config, fixed, shown);
    if (!spec.ok()) return out;
    out = (*spec)->fake_options;
    for (const auto& k : (*spec)->config) {
      if (k.name != "api_key" || k.type != ConfigType::secret) continue;
      auto cfg = config_values(**spec, config, schema);
      if (cfg.ok() && (*cfg)["api_key"].is_string()) out["api_key"] = (*cfg)["api_key"];
    }
    return out;
  };
  return e;
}

// The shipped specs (identical to destinations/declarative/specs/*.json; a
// test holds them equal). Embedded so the registered entry needs no files.
const char* kSendgridSpec = R"json({
  "spec": 1,
  "name": "sendgrid_contacts_import",
  "about": "SendGrid-style async contacts job (APIS.md §10): POST the contacts, poll the job by its id until ready or failure; the whole job succeeds or fails (job-level results). The async_job fake's defaults model it.",
  "host": "api.sendgrid.com",
  "config": {
    "api_key": {"type": "secret", "doc": "SendGrid API key (sent as Authorization: Bearer)"}
  },
  "record": {"template": "{{record.payload}}", "require": ["email"]},
  "creation": {
    "method": "POST",
    "path": "/v3/marketing/contacts/imports",
    "headers": {"Authorization": "Bearer {{config.api_key}}", "Content-Type": "application/json"},
    "body": {"contacts": "{{records}}"},
    "id_extractor": ["id"],
    "success_statuses": [200, 201, 202]
  },
  "polling": {
    "method": "GET",
    "path": "/v3/marketing/contacts/imports/{{creation_response.id}}",
    "headers": {"Authorization": "Bearer {{config.api_key}}"},
    "status_extractor": ["status"],
    "message_extractor": ["message"],
    "status_mapping": {
      "completed": ["ready"],
      "running": ["pending"],
      "failed": ["failure", "failed"],
      "timeout": ["timeout"]
    },
    "unknown_status": "failed",
    "failed_applies_nothing": true
  },
  "results": {"mode": "job"},
  "retryable_statuses": [408, 429, 500, 502, 503, 504],
  "idempotent": false,
  "limits": {"records_max": 10000, "bytes_max": "6MB"},
  "bulk": {
    "upload_interval": "10s",
    "poll_interval": "10s",
    "poll_timeout": "1h",
    "imports_in_flight": 2,
    "max_attempts": 3,
    "retry_delay_initial": "15s",
    "retry_delay_max": "5m",
    "retry_window": "6h"
  }
})json";

const char* kRecordResultsSpec = R"json({
  "spec": 1,
  "name": "record_results_import",
  "about": "An async import job that reports per-record outcomes when ready (results[i] = {index, id, status: ok|error, error}); invalid records fail alone. Modelled by the async_job fake in record mode.",
  "host": "api.sendgrid.com",
  "config": {
    "api_key": {"type": "secret", "doc": "API key (sent as Authorization: Bearer)"}
  },
  "record": {"template": "{{record.payload}}"},
  "creation": {
    "method": "POST",
    "path": "/v3/marketing/contacts/imports",
    "headers": {"Authorization": "Bearer {{config.api_key}}", "Content-Type": "application/json"},
    "body": {"contacts": "{{records}}"},
    "id_extractor": ["id"]
  },
  "polling": {
    "path": "/v3/marketing/contacts/imports/{{creation_response.id}}",
    "headers": {"Authorization": "Bearer {{config.api_key}}"},
    "status_extractor": ["status"],
    "message_extractor": ["message"],
    "status_mapping": {"completed": ["ready"], "running": ["pending"], "failed": ["failure"]}
  },
  "results": {
    "mode": "record",
    "records_extractor": ["results"],
    "match_by": "index",
    "index_field": "index",
    "success": {"field": "status", "values": ["ok"]},
    "error_extractor": ["error"]
  },
  "retryable_statuses": [408, 429, 500, 502, 503, 504],
  "limits": {"records_max": 10000, "bytes_max": "6MB"},
  "bulk": {"upload_interval": "10s", "poll_interval": "10s", "poll_timeout": "1h", "imports_in_flight": 2,
           "max_attempts": 3, "retry_delay_initial": "15s"},
  "fake_options": {"results": "record"}
})json";

}  // namespace

const char* kLyticsSpec = R"json({
  "spec": 1,
  "name": "lytics_bulk_upload",
  "about": "Lytics bulk CSV upload (APIS.md §7): one gzipped CSV POST per upload to /collect/bulk/{stream}, answered synchronously with message_count and rejected_count; rejected rows are never reported delivered (the peer ignores rejected_count).",
  "host": "bulk.lytics.io",
  "fake": "lytics",
  "config": {
    "api_key": {"type": "secret", "doc": "Lytics API key (sent raw in Authorization, no scheme)"},
    "stream": {"type": "string", "default": "destsim", "doc": "the Lytics stream the rows go to"},
    "timestamp_field": {"type": "string", "default": "", "doc": "the column holding each row's event time (empty: none sent)"}
  },
  "record": {"template": "{{record.payload}}", "require": ["email"]},
  "creation": {
    "method": "POST",
    "path": "/collect/bulk/{{config.stream}}",
    "query": {"timestamp_field": "{{config.timestamp_field}}", "droperrors": "false"},
    "headers": {"Authorization": "{{config.api_key}}", "Content-Type": "application/csv"},
    "body_format": "csv",
    "columns": ["email", "first_name", "external_id"],
    "gzip": true,
    "success_statuses": [200]
  },
  "results": {
    "mode": "counts",
    "accepted_extractor": ["data", "message_count"],
    "rejected_extractor": ["data", "rejected_count"]
  },
  "effect": {"key": "lytics.row", "item": {"stream": "{{config.stream}}", "row": "{{row}}"}},
  "retryable_statuses": [408, 429, 500, 502, 503, 504],
  "idempotent": false,
  "limits": {"records_max": 50000, "bytes_max": "10MB"},
  "bulk": {
    "upload_interval": "10s",
    "imports_in_flight": 2,
    "max_attempts": 4,
    "retry_delay_initial": "10s",
    "retry_delay_max": "5m",
    "retry_window": "6h"
  }
})json";

const std::map<std::string, std::string>& declarative_shipped_specs() {
  static const std::map<std::string, std::string> specs = {
      {"sendgrid_contacts_import", kSendgridSpec},
      {"record_results_import", kRecordResultsSpec},
      {"lytics_bulk_upload", kLyticsSpec},
  };
  return specs;
}

Status check_declarative_spec(const nlohmann::json& spec, const std::string& where) {
  auto s = parse_spec(spec, where);
  if (!s.ok()) return s.error();
  return Status::success();
}

Result<nlohmann::json> render_declarative_template(const nlohmann::json& tmpl, const nlohmann::json& context,
                                                   const std::string& where) {
  return render(tmpl, context, where, "");
}

Result<DestinationEntry> declarative_entry_from_spec(const nlohmann::json& spec, const std::string& where) {
  DS_TRY(std::shared_ptr<const Spec> s, parse_spec(spec, where));
  return make_entry(s, s);
}

DestinationEntry declarative_destination() {
  auto s = parse_spec(nlohmann::json::parse(kSendgridSpec), "specs/sendgrid_contacts_import.json");
  DS_ASSERT(s.ok());  // the shipped spec is valid (and tested)
  return make_entry(*s, nullptr);
}

DestinationEntry lytics_bulk_upload_destination() {
  auto s = parse_spec(nlohmann::json::parse(kLyticsSpec), "specs/lytics_bulk_upload.json");
  DS_ASSERT(s.ok());  // the shipped spec is valid (and tested)
  return make_entry(*s, *s);
}

}  // namespace destsim
