#include "fakes/marketo/marketo_api.h"

#include "fakes/fake_options.h"

#include <algorithm>
#include <string_view>

#include "framework/json_in.h"
#include "framework/multipart.h"
#include "framework/oracle.h"

namespace destsim {

namespace {

// --- small parsers (the fake validates strictly; say what is wrong) ----------

// A strict email check: local@domain.tld, no spaces or separators.
bool valid_email(const std::string& e) {
  auto at = e.find('@');
  if (at == std::string::npos || at == 0 || e.find('@', at + 1) != std::string::npos) return false;
  auto dot = e.find('.', at + 2);
  if (dot == std::string::npos || dot + 1 >= e.size() || e.back() == '.') return false;
  for (char c : e)
    if (c == ' ' || c == ',' || c == '<' || c == '>' || c == '"' || c == ';') return false;
  return true;
}

bool valid_integer(const std::string& v) {
  std::size_t i = (!v.empty() && v[0] == '-') ? 1 : 0;
  if (i >= v.size() || v.size() - i > 18) return false;
  for (; i < v.size(); ++i)
    if (v[i] < '0' || v[i] > '9') return false;
  return true;
}

// One CSV record (RFC 4180) from `text` starting at `pos`: fields into `out`,
// the record's raw bytes (without its line end) into `raw`; `pos` moves past
// the line end. Quotes only around a whole field; "" escapes a quote.
Status parse_csv_record(std::string_view text, std::size_t& pos, std::vector<std::string>& out, std::string& raw,
                        std::int64_t line) {
  out.clear();
  const std::size_t start = pos;
  auto bad = [&](const std::string& what) {
    return Error::bad_input("line " + std::to_string(line) + ": " + what);
  };
  std::string field;
  bool done = false;
  while (!done) {
    field.clear();
    if (pos < text.size() && text[pos] == '"') {
      ++pos;
      bool closed = false;
      while (pos < text.size()) {
        char c = text[pos++];
        if (c == '"') {
          if (pos < text.size() && text[pos] == '"') {
            field.push_back('"');
            ++pos;
          } else {
            closed = true;
            break;
          }
        } else {
          field.push_back(c);
        }
      }
      if (!closed) return bad("unterminated quoted field");
      if (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r')
        return bad("text after a closing quote");
    } else {
      while (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r') {
        if (text[pos] == '"') return bad("a quote inside an unquoted field");
        field.push_back(text[pos++]);
      }
    }
    out.push_back(field);
    if (pos >= text.size()) {
      raw.assign(text.substr(start, pos - start));
      done = true;
    } else if (text[pos] == ',') {
      ++pos;
    } else {
      const std::size_t end = pos;
      if (text[pos] == '\r') {
        if (pos + 1 >= text.size() || text[pos + 1] != '\n') return bad("a bare CR (expected CRLF or LF)");
        pos += 2;
      } else {
        ++pos;
      }
      raw.assign(text.substr(start, end - start));
      done = true;
    }
  }
  return Status::success();
}

std::string csv_quote(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

Response mkto_error(const std::string& code, const std::string& message, std::int64_t request_no) {
  return json_response(200, {{"requestId", "fake#" + std::to_string(request_no)},
                             {"success", false},
                             {"errors", {{{"code", code}, {"message", message}}}}});
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// 00:00 CST resets of the daily quota: loop time 6h + k·24h.
std::int64_t quota_day(Time now) {
  return (now.time_since_epoch() + std::chrono::hours(18)) / std::chrono::hours(24);
}

const char* status_name(int s) {
  static const char* kNames[] = {"Queued", "Importing", "Complete", "Failed"};
  return kNames[s];
}

// The fake's own keys (read_fake_options reads the common ones and the null case).
Status read_own_options(const JsonIn& in, MarketoApiOptions& o) {
  if (in.has("client_id")) { DS_TRY(o.client_id, in.at("client_id").string()); }
  if (in.has("token_ttl")) {
    DS_TRY(o.token_ttl, in.at("token_ttl").duration());
    if (o.token_ttl < std::chrono::seconds(1)) return in.at("token_ttl").expected("a duration of at least 1s");
  }
  if (in.has("fields")) {
    JsonIn a = in.at("fields");
    DS_CHECK(a.array());
    o.fields.clear();
    for (std::size_t i = 0; i < a.size(); ++i) {
      DS_TRY(std::string f, a.at(i).string());
      if (f.empty() || std::find(o.fields.begin(), o.fields.end(), f) != o.fields.end())
        return a.at(i).expected("a unique, non-empty field name");
      o.fields.push_back(f);
    }
    if (o.fields.empty()) return a.expected("at least one field name");
  }
  if (in.has("field_max_length")) { DS_TRY(o.field_max_length, in.at("field_max_length").integer(1)); }
  if (in.has("text_max_length")) { DS_TRY(o.text_max_length, in.at("text_max_length").integer(1)); }
  if (in.has("file_bytes_max")) { DS_TRY(o.file_bytes_max, in.at("file_bytes_max").size_bytes()); }
  if (in.has("running_max")) { DS_TRY(o.running_max, in.at("running_max").integer(1, 1000)); }
  if (in.has("queued_max")) { DS_TRY(o.queued_max, in.at("queued_max").integer(1, 100000)); }
  if (in.has("importing_for")) { DS_TRY(o.importing_for, in.at("importing_for").duration()); }
  for (const char* key : {"fail_imports", "stall_imports"}) {
    if (!in.has(key)) continue;
    JsonIn a = in.at(key);
    DS_CHECK(a.array());
    auto& list = std::string_view(key) == "fail_imports" ? o.fail_imports : o.stall_imports;
    for (std::size_t i = 0; i < a.size(); ++i) {
      DS_TRY(std::int64_t n, a.at(i).integer(1));
      list.push_back(n);
    }
  }
  if (in.has("fail_ratio")) { DS_TRY(o.fail_ratio, in.at("fail_ratio").ratio()); }
  if (in.has("rate_limit_calls")) { DS_TRY(o.rate_limit_calls, in.at("rate_limit_calls").integer(0)); }
  if (in.has("rate_limit_window")) {
    DS_TRY(o.rate_limit_window, in.at("rate_limit_window").duration());
    if (o.rate_limit_window.count() <= 0) return in.at("rate_limit_window").expected("a duration > 0");
  }
  if (in.has("daily_quota")) { DS_TRY(o.daily_quota, in.at("daily_quota").integer(0)); }
  if (in.has("status_values")) {
    DS_TRY(o.status_values, read_status_values(in.at("status_values"), {"Queued", "Importing", "Complete", "Failed"}));
  }
  if (o.queued_max < o.running_max) return in.at(in.has("queued_max") ? "queued_max" : "running_max")
                                        .expected("queued_max >= running_max (the queue counts running imports)");
  return {};
}

}  // namespace

Result<MarketoApiOptions> MarketoApiOptions::from_json(const nlohmann::json& j, const std::string& where) {
  return read_fake_options(j, where, "client_secret", &MarketoApiOptions::client_secret,
                           {"client_id", "token_ttl", "fields", "field_max_length", "text_max_length",
                            "file_bytes_max", "running_max", "queued_max", "importing_for", "fail_imports",
                            "fail_ratio", "stall_imports", "rate_limit_calls", "rate_limit_window",
                            "daily_quota", "status_values"},
                           read_own_options);
}

bool MarketoApi::known_field(const std::string& f) const {
  return std::find(options_.fields.begin(), options_.fields.end(), f) != options_.fields.end();
}

std::string MarketoApi::field_type(const std::string& f) const {
  if (f == "email") return "email";
  if (f == "id" || f == "leadScore") return "integer";
  if (f == "comments") return "text";
  return "string";
}

Response MarketoApi::handle(const Request& request, Time now) {
  ++state_.requests;
  advance(now);
  Response r = route(request, now);
  return r;
}

Response MarketoApi::route(const Request& request, Time now) {
  const std::string path(request.path_only());
  if (path == "/identity/oauth/token") return token(request, now);
  if (path.rfind("/bulk/v1/", 0) != 0)
    return json_response(404, {{"error", "not_found"}, {"error_description", "no such endpoint " + path}});
  if (auto denied = authorize(request, now)) return *denied;
  if (path == "/bulk/v1/leads.json") {
    if (request.method != "POST") return mkto_error("605", "HTTP Method not supported", state_.requests);
    if (auto t = throttle(now)) return *t;
    return upload(request, now);
  }
  static const std::string kBatch = "/bulk/v1/leads/batch/";
  if (path.rfind(kBatch, 0) == 0) {
    if (request.method != "GET") return mkto_error("605", "HTTP Method not supported", state_.requests);
    std::string rest = path.substr(kBatch.size());
    std::string tail;
    for (const char* t : {"/failures.json", "/warnings.json", ".json"}) {
      const std::string ts(t);
      if (rest.size() > ts.size() && rest.compare(rest.size() - ts.size(), ts.size(), ts) == 0) {
        tail = ts;
        rest.resize(rest.size() - ts.size());
        break;
      }
    }
    if (tail.empty() || !valid_integer(rest) || rest[0] == '-')
      return mkto_error("610", "Requested resource not found", state_.requests);
    if (auto t = throttle(now)) return *t;
    const std::int64_t id = std::stoll(rest);
    if (tail == ".json") return status(id);
    return rows_file(id, tail == "/failures.json");
  }
  return mkto_error("610", "Requested resource not found", state_.requests);
}

Response MarketoApi::token(const Request& request, Time now) {
  if (request.method != "GET" && request.method != "POST")
    return json_response(405, {{"error", "method_not_allowed"}, {"error_description", "use GET or POST"}});
  auto grant = request.query_param("grant_type");
  auto id = request.query_param("client_id");
  auto secret = request.query_param("client_secret");
  if (!grant || *grant != "client_credentials")
    return json_response(400, {{"error", "invalid_request"},
                               {"error_description", "grant_type must be client_credentials"}});
  if (!id || id->empty() || !secret || secret->empty() ||
      (!options_.client_id.empty() && *id != options_.client_id) ||
      (!options_.client_secret.empty() && *secret != options_.client_secret))
    return json_response(401, {{"error", "unauthorized"}, {"error_description", "Bad client credentials"}});
  if (state_.token.empty() || now >= state_.token_expires) {
    if (!state_.token.empty()) state_.old_tokens[state_.token] = true;
    ++state_.tokens_issued;
    state_.token = "mkto-token-" + std::to_string(state_.tokens_issued) + ":ab";
    state_.token_expires = now + options_.token_ttl;
  }
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(state_.token_expires - now).count();
  return json_response(200, {{"access_token", state_.token},
                             {"token_type", "bearer"},
                             {"expires_in", left},
                             {"scope", "api@" + *id}});
}

std::optional<Response> MarketoApi::authorize(const Request& request, Time now) {
  auto auth = request.headers.get("Authorization");
  if (!auth || auth->empty()) {
    ++state_.rejected;
    if (request.query_param("access_token"))
      return mkto_error("600", "Access token not specified: send Authorization: Bearer (the access_token parameter "
                               "is not accepted)",
                        state_.requests);
    return mkto_error("600", "Access token not specified", state_.requests);
  }
  std::string_view v = *auth;
  if (v.size() < 8 || lower(v.substr(0, 7)) != "bearer ") {
    ++state_.rejected;
    return mkto_error("601", "Access token invalid", state_.requests);
  }
  std::string tok(trim(v.substr(7)));
  if (tok == state_.token && now < state_.token_expires) return std::nullopt;
  ++state_.rejected;
  if (tok == state_.token || state_.old_tokens.count(tok)) return mkto_error("602", "Access token expired", state_.requests);
  return mkto_error("601", "Access token invalid", state_.requests);
}

std::optional<Response> MarketoApi::throttle(Time now) {
  if (options_.daily_quota > 0) {
    const std::int64_t day = quota_day(now);
    if (day != state_.quota_day) {
      state_.quota_day = day;
      state_.quota_used = 0;
    }
    if (state_.quota_used >= options_.daily_quota) {
      ++state_.rejected;
      return mkto_error("607", "Daily quota reached", state_.requests);
    }
  }
  if (options_.rate_limit_calls > 0) {
    while (!state_.calls.empty() && state_.calls.front() <= now - options_.rate_limit_window) state_.calls.pop_front();
    if (static_cast<std::int64_t>(state_.calls.size()) >= options_.rate_limit_calls) {
      ++state_.rejected;
      return mkto_error("606",
                        "Max rate limit '" + std::to_string(options_.rate_limit_calls) + "' exceeded with in '" +
                            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                               options_.rate_limit_window)
                                               .count()) +
                            "' secs",
                        state_.requests);
    }
    state_.calls.push_back(now);
  }
  if (options_.daily_quota > 0) ++state_.quota_used;
  return std::nullopt;
}

Response MarketoApi::upload(const Request& request, Time now) {
  auto reject = [&](const std::string& code, const std::string& msg) {
    ++state_.rejected;
    return mkto_error(code, msg, state_.requests);
  };
  auto ct = request.headers.get("Content-Type");
  if (!ct || mime_type(*ct) != "multipart/form-data")
    return reject("612", "Invalid Content Type: expected multipart/form-data");
  auto boundary = multipart_boundary(*ct);
  if (!boundary)
    return reject("613", "Invalid Multipart Request: missing or invalid boundary");
  auto parts = parse_multipart(request.body, *boundary);
  if (!parts.ok()) return reject("613", "Invalid Multipart Request: " + parts.error().message);
  const MultipartPart* file = nullptr;
  std::string format, lookup = "email";
  bool have_format = false;
  std::map<std::string, bool> seen;
  for (const MultipartPart& p : *parts) {
    if (seen.count(p.name)) return reject("613", "Invalid Multipart Request: duplicate field '" + p.name + "'");
    seen[p.name] = true;
    if (p.name == "file") {
      if (!p.filename) return reject("613", "Invalid Multipart Request: the file part needs a filename");
      file = &p;
    } else if (p.name == "format") {
      format = p.content;
      have_format = true;
    } else if (p.name == "lookupField") {
      lookup = p.content;
    } else if (p.name == "listId" || p.name == "partitionName") {
      // Accepted and ignored: the fake has no lists or partitions.
    } else if (p.name == "access_token") {
      return reject("613", "Invalid Multipart Request: access_token is not accepted as a form field; send "
                           "Authorization: Bearer");
    } else {
      return reject("613", "Invalid Multipart Request: unknown field '" + p.name + "'");
    }
  }
  if (!file) return reject("1003", "File is required");
  if (!have_format) return reject("1003", "format is required (csv, tsv or ssv)");
  if (format == "tsv" || format == "ssv") return reject("1003", "Unsupported format '" + format + "': this fake accepts csv only");
  if (format != "csv") return reject("1003", "Invalid format '" + format + "' (csv, tsv or ssv)");
  if (static_cast<std::int64_t>(file->content.size()) > options_.file_bytes_max) {
    ++state_.rejected;
    return json_response(413, {{"error", "Request Entity Too Large"},
                               {"message", "file of " + std::to_string(file->content.size()) +
                                               " bytes exceeds the limit of " +
                                               std::to_string(options_.file_bytes_max) + " bytes"}});
  }
  if (!known_field(lookup)) return reject("1006", "Field '" + lookup + "' not found");
  // The CSV: header of known unique fields, then rows with as many columns.
  Import im;
  std::string_view text = file->content;
  std::size_t pos = 0;
  std::vector<std::string> values;
  std::string raw;
  if (text.empty()) return reject("1003", "Empty file");
  Status s = parse_csv_record(text, pos, im.header, im.header_raw, 1);
  if (!s.ok()) return reject("1003", "Invalid file: " + s.error().message);
  for (std::size_t i = 0; i < im.header.size(); ++i) {
    const std::string& f = im.header[i];
    if (!known_field(f)) return reject("1006", "Field '" + f + "' not found");
    if (std::find(im.header.begin(), im.header.begin() + static_cast<std::ptrdiff_t>(i), f) !=
        im.header.begin() + static_cast<std::ptrdiff_t>(i))
      return reject("1003", "Invalid file: duplicate column '" + f + "' in the header");
  }
  if (std::find(im.header.begin(), im.header.end(), lookup) == im.header.end())
    return reject("1003", "Invalid file: the header has no column for lookupField '" + lookup + "'");
  std::int64_t line = 1;
  while (pos < text.size()) {
    ++line;
    s = parse_csv_record(text, pos, values, raw, line);
    if (!s.ok()) return reject("1003", "Invalid file: " + s.error().message);
    if (values.size() != im.header.size())
      return reject("1003", "Invalid file: line " + std::to_string(line) + " has " + std::to_string(values.size()) +
                                " columns, the header has " + std::to_string(im.header.size()));
    im.rows.push_back(Row{raw, values});
  }
  if (im.rows.empty()) return reject("1003", "Invalid file: no data rows");
  // The queue, counting the running imports.
  std::int64_t open = 0;
  for (const auto& [id, other] : state_.imports)
    if (other.status == ImportState::queued || other.status == ImportState::importing) ++open;
  if (open >= options_.queued_max) return reject("1016", "Too many imports");
  im.batch_id = state_.next_batch++;
  im.ordinal = static_cast<std::int64_t>(state_.imports.size()) + 1;
  im.lookup_field = lookup;
  im.created = now;
  im.will_fail = std::find(options_.fail_imports.begin(), options_.fail_imports.end(), im.ordinal) !=
                 options_.fail_imports.end();
  if (options_.fail_ratio.num > 0) {
    Rng draw(derive_seed(0x6d6b746f, "marketo.fail_ratio", static_cast<std::uint64_t>(im.ordinal)));
    im.will_fail |= draw.chance(options_.fail_ratio);
  }
  const std::int64_t batch = im.batch_id;
  state_.imports.emplace(batch, std::move(im));
  fill(now);
  return json_response(200, {{"requestId", "fake#" + std::to_string(state_.requests)},
                             {"success", true},
                             {"result", {{{"batchId", batch},
                                          {"importId", std::to_string(batch)},
                                          {"status", "Queued"}}}}});
}

// Computes every import's state up to `now`: running imports end in time
// order; each freed slot goes to the oldest queued import at that moment.
void MarketoApi::advance(Time now) {
  if (now < state_.clock) now = state_.clock;
  while (true) {
    fill(state_.clock);
    Import* next = nullptr;
    for (auto& [id, im] : state_.imports)
      if (im.status == ImportState::importing && im.ends && *im.ends <= now && (!next || *im.ends < *next->ends))
        next = &im;
    if (!next) break;
    state_.clock = *next->ends;
    finish(*next, state_.clock);
  }
  state_.clock = now;
  fill(now);
}

void MarketoApi::fill(Time t) {
  std::int64_t running = 0;
  for (const auto& [id, im] : state_.imports)
    if (im.status == ImportState::importing) ++running;
  for (auto& [id, im] : state_.imports) {
    if (running >= options_.running_max) break;
    if (im.status != ImportState::queued) continue;
    im.status = ImportState::importing;
    im.started = t;
    const bool stalled = std::find(options_.stall_imports.begin(), options_.stall_imports.end(), im.ordinal) !=
                         options_.stall_imports.end();
    if (!stalled) im.ends = t + options_.importing_for;
    ++running;
  }
}

void MarketoApi::finish(Import& im, Time) {
  if (im.will_fail) {
    im.status = ImportState::failed;
    im.message = "Import failed: internal error while processing the file (fake: import #" +
                 std::to_string(im.ordinal) + " is set to fail)";
    return;
  }
  apply_rows(im);
  im.status = ImportState::complete;
  if (im.failed_rows > 0)
    im.message = "Import completed with errors, " + std::to_string(im.processed) + " records imported (" +
                 std::to_string(im.processed) + " members), " + std::to_string(im.failed_rows) + " failed";
  else
    im.message = "Import succeeded, " + std::to_string(im.processed) + " records imported (" +
                 std::to_string(im.processed) + " members)";
}

void MarketoApi::index_field(const std::string& field) {
  if (state_.index.count(field)) return;
  auto& idx = state_.index[field];
  for (const auto& [id, fields] : state_.leads) {
    auto it = fields.find(field);
    if (it != fields.end() && !it->second.empty()) idx.emplace(it->second, id);
  }
}

std::int64_t MarketoApi::find_lead(const std::string& field, const std::string& value) const {
  if (field == "id") {
    if (!valid_integer(value)) return 0;
    const std::int64_t id = std::stoll(value);
    return state_.leads.count(id) ? id : 0;
  }
  auto f = state_.index.find(field);
  if (f == state_.index.end()) return 0;
  auto it = f->second.find(value);
  return it == f->second.end() ? 0 : it->second;
}

void MarketoApi::set_field(std::int64_t lead_id, const std::string& field, const std::string& value) {
  auto& fields = state_.leads[lead_id];
  auto idx = state_.index.find(field);
  if (idx != state_.index.end()) {
    auto old = fields.find(field);
    if (old != fields.end()) {
      auto o = idx->second.find(old->second);
      if (o != idx->second.end() && o->second == lead_id) idx->second.erase(o);
    }
    idx->second[value] = lead_id;
  }
  fields[field] = value;
}

void MarketoApi::apply_rows(Import& im) {
  const std::string& lf = im.lookup_field;
  if (lf != "id") index_field(lf);
  const auto lookup_col = static_cast<std::size_t>(
      std::find(im.header.begin(), im.header.end(), lf) - im.header.begin());
  for (std::size_t r = 0; r < im.rows.size(); ++r) {
    const Row& row = im.rows[r];
    const std::string& key = row.values[lookup_col];
    std::string failure;
    if (key.empty()) failure = "1002 Missing value for required field '" + lf + "'";
    for (std::size_t c = 0; c < im.header.size() && failure.empty(); ++c) {
      const std::string& v = row.values[c];
      if (v.empty()) continue;
      const std::string type = field_type(im.header[c]);
      if ((type == "email" && !valid_email(v)) || (type == "integer" && !valid_integer(v)))
        failure = "1001 Invalid value '" + v + "'. Required of type '" + type + "'";
    }
    std::int64_t lead = failure.empty() ? find_lead(lf, key) : 0;
    if (failure.empty() && lf == "id" && lead == 0) failure = "1004 Lead not found";
    if (!failure.empty()) {
      ++im.failed_rows;
      im.failures.emplace_back(r, failure);
      continue;
    }
    if (lead == 0) {
      lead = state_.next_lead++;
      state_.leads[lead]["id"] = std::to_string(lead);
    }
    std::string warning;
    for (std::size_t c = 0; c < im.header.size(); ++c) {
      std::string v = row.values[c];
      if (v.empty() || im.header[c] == "id") continue;  // empty cells do not blank a field
      const std::int64_t max =
          field_type(im.header[c]) == "text" ? options_.text_max_length
          : field_type(im.header[c]) == "string" ? options_.field_max_length
                                                 : INT64_MAX;
      if (static_cast<std::int64_t>(v.size()) > max) {
        v.resize(static_cast<std::size_t>(max));
        if (warning.empty())
          warning = "Value for field '" + im.header[c] + "' truncated to " + std::to_string(max) + " characters";
      }
      set_field(lead, im.header[c], v);
    }
    if (!warning.empty()) {
      ++im.warned_rows;
      im.warnings.emplace_back(r, warning);
    }
    ++im.processed;
    nlohmann::json item = nlohmann::json::object();
    for (std::size_t c = 0; c < im.header.size(); ++c) item[im.header[c]] = row.values[c];
    ledger_.add("marketo.lead", content_hash_of_dump(item));
    ++state_.applications;
  }
}

MarketoApi::Import* MarketoApi::find_import(std::int64_t batch_id) {
  auto it = state_.imports.find(batch_id);
  return it == state_.imports.end() ? nullptr : &it->second;
}

Response MarketoApi::status(std::int64_t batch_id) {
  Import* im = find_import(batch_id);
  if (!im) return mkto_error("1013", "Import " + std::to_string(batch_id) + " not found", state_.requests);
  std::string message = im->message;
  if (im->status == ImportState::queued) message = "Queued for processing";
  if (im->status == ImportState::importing) message = "Import in progress";
  const std::string status = wire_status(options_.status_values, status_name(static_cast<int>(im->status)));
  // Written straight, byte for byte what the DOM below dumps (members in key
  // order): a long import is polled thousands of times, and building and
  // dumping the DOM was a fifth of such a run. A string that is not UTF-8 (a
  // scenario's status value) goes through the DOM, which writes U+FFFD.
  {
    Response r;
    r.status = 200;
    r.headers.set("Content-Type", "application/json");
    std::string& b = r.body;
    const std::string id = std::to_string(im->batch_id);
    b.reserve(200 + message.size() + status.size());
    b += "{\"requestId\":\"fake#" + std::to_string(state_.requests) + "\",\"result\":[{\"batchId\":" + id +
         ",\"importId\":\"" + id + "\",\"message\":";
    bool utf8 = append_dumped_string(b, message);
    b += ",\"numOfLeadsProcessed\":" + std::to_string(im->processed) +
         ",\"numOfRowsFailed\":" + std::to_string(im->failed_rows) +
         ",\"numOfRowsWithWarning\":" + std::to_string(im->warned_rows) + ",\"status\":";
    utf8 = utf8 && append_dumped_string(b, status);
    b += "}],\"success\":true}";
    if (utf8) return r;
  }
  return json_response(200, {{"requestId", "fake#" + std::to_string(state_.requests)},
                             {"success", true},
                             {"result",
                              {{{"batchId", im->batch_id},
                                {"importId", std::to_string(im->batch_id)},
                                {"status", status},
                                {"numOfLeadsProcessed", im->processed},
                                {"numOfRowsFailed", im->failed_rows},
                                {"numOfRowsWithWarning", im->warned_rows},
                                {"message", message}}}}});
}

Response MarketoApi::rows_file(std::int64_t batch_id, bool failures) {
  Import* im = find_import(batch_id);
  if (!im) return mkto_error("1013", "Import " + std::to_string(batch_id) + " not found", state_.requests);
  if (im->status == ImportState::queued || im->status == ImportState::importing)
    return mkto_error("1019", "Import in progress", state_.requests);
  if (im->status == ImportState::failed)
    return mkto_error("1003", "Import " + std::to_string(batch_id) + " failed; it has no " +
                                  (failures ? "failures" : "warnings") + " file",
                      state_.requests);
  Response r;
  r.status = 200;
  r.headers.set("Content-Type", "text/csv;charset=UTF-8");
  r.body = im->header_raw + "," + (failures ? "Import Failure Reason" : "Import Warning Reason") + "\n";
  for (const auto& [row, reason] : failures ? im->failures : im->warnings)
    r.body += im->rows[row].raw + "," + csv_quote(reason) + "\n";
  return r;
}

nlohmann::json MarketoApi::lead(const std::string& field, const std::string& value) const {
  for (const auto& [id, fields] : state_.leads) {
    auto it = fields.find(field);
    if (it != fields.end() && it->second == value) return fields;
  }
  return nullptr;
}

nlohmann::json MarketoApi::accepted() const {
  nlohmann::json leads = nlohmann::json::object();
  for (const auto& [id, fields] : state_.leads) leads[std::to_string(id)] = fields;
  nlohmann::json imports = nlohmann::json::array();
  std::map<std::string, std::int64_t> by_status;
  for (const auto& [id, im] : state_.imports) {
    const std::string st = status_name(static_cast<int>(im.status));
    ++by_status[st];
    imports.push_back({{"batchId", im.batch_id},
                       {"status", st},
                       {"lookupField", im.lookup_field},
                       {"rows", im.rows.size()},
                       {"numOfLeadsProcessed", im.processed},
                       {"numOfRowsFailed", im.failed_rows},
                       {"numOfRowsWithWarning", im.warned_rows},
                       {"message", im.message}});
  }
  return {{"leads", leads},
          {"imports", imports},
          {"counts",
           {{"leads", state_.leads.size()},
            {"imports", state_.imports.size()},
            {"imports_by_status", by_status},
            {"applications", state_.applications},
            {"requests", state_.requests},
            {"rejected", state_.rejected},
            {"tokens_issued", state_.tokens_issued}}}};
}

Status MarketoApi::control(const JsonIn& op, Time now) {
  DS_TRY(std::string key, control_key(op, {"expire_tokens", "set_client_secret", "request"}));
  if (key == "expire_tokens") {
    JsonIn v = op.at(key);
    if (!v.json().is_boolean() || !v.json().get<bool>()) return v.expected("true");
    // Every token issued so far is expired (602), as after Marketo's hour.
    if (!state_.token.empty()) state_.old_tokens[state_.token] = true;
    state_.token.clear();
    return Status::success();
  }
  if (key == "set_client_secret") {
    DS_TRY(std::string k, op.at(key).string());
    options_.client_secret = std::move(k);
    return Status::success();
  }
  // Marketo refuses in a 200 ({"success": false, "errors": [...]}): a seeding
  // request must have succeeded by Marketo's word, not only by its status.
  DS_TRY(Response resp, seed_request(op, now));
  const nlohmann::json body = parse_json_body(resp.body);
  if (body.is_object() && body.value("success", true) == false)
    return op.at("request").fail("Marketo refused it in a 200 (" + resp.body.substr(0, 200) +
                                 "); a seeding request must succeed");
  return Status::success();
}

}  // namespace destsim
