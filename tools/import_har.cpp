// import_har.cpp — `destsim import-har` (see import_har.h).
#include "tools/import_har.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "conformance/scenario.h"
#include "destinations/destination.h"
#include "framework/json_in.h"
#include "framework/text.h"
#include "framework/time.h"
#include "tools/report.h"

namespace destsim {
namespace {

using Ordered = nlohmann::ordered_json;

// The longest recorded wait taken as latency (a day, in HAR's milliseconds):
// beyond it the file is wrong.
constexpr double kWaitMsMax = 86'400'000.0;
// The batch and bulk paths' "send a partial batch this long after its first
// record": a rebuilt record arrives when the recording first sent it, and goes
// out at once, so records the recording sent apart are not batched together.
constexpr const char* kSendAtOnce = "1ms";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// --- startedDateTime -----------------------------------------------------------

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// An ISO 8601 date and time as HAR writers give it ("2024-05-01T10:00:00.123Z",
// mitmproxy's "…00.123456+00:00", Charles' "…00.123+02:00") as time since the
// epoch, to the microsecond; no zone is read as UTC.
std::optional<Duration> parse_iso8601(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&](std::size_t n, std::int64_t& out) {
    if (i + n > s.size()) return false;
    out = 0;
    for (std::size_t k = 0; k < n; ++k, ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  auto lit = [&](char c) {
    if (i >= s.size() || s[i] != c) return false;
    ++i;
    return true;
  };
  std::int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(4, year) || !lit('-') || !digits(2, month) || !lit('-') || !digits(2, day)) return std::nullopt;
  if (i >= s.size() || (s[i] != 'T' && s[i] != 't' && s[i] != ' ')) return std::nullopt;
  ++i;
  if (!digits(2, hour) || !lit(':') || !digits(2, minute) || !lit(':') || !digits(2, second)) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  std::int64_t micros = 0;
  if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
    ++i;
    std::size_t n = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++n)
      if (n < 6) micros = micros * 10 + (s[i] - '0');
    if (n == 0) return std::nullopt;
    for (; n < 6; ++n) micros *= 10;
  }
  std::int64_t offset_minutes = 0;
  if (i < s.size()) {
    if (s[i] == 'Z' || s[i] == 'z') {
      ++i;
    } else if (s[i] == '+' || s[i] == '-') {
      const int sign = s[i] == '-' ? -1 : 1;
      ++i;
      std::int64_t oh = 0, om = 0;
      if (!digits(2, oh)) return std::nullopt;
      lit(':');
      if (!digits(2, om) || oh > 23 || om > 59) return std::nullopt;
      offset_minutes = sign * (oh * 60 + om);
    } else {
      return std::nullopt;
    }
  }
  if (i != s.size()) return std::nullopt;
  const std::int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const std::int64_t seconds = days * 86'400 + hour * 3'600 + minute * 60 + second - offset_minutes * 60;
  return std::chrono::seconds(seconds) + std::chrono::microseconds(micros);
}

// --- URLs, bodies, headers -----------------------------------------------------

struct Url {
  std::string host;  // lower case, no port, no user info
  std::string path;  // without query or fragment; "/" at least
};

// An absolute http(s) URL's host and path, or nothing.
std::optional<Url> split_url(std::string_view url) {
  const std::string scheme = lower(url.substr(0, 8));
  std::size_t at = 0;
  if (starts_with(scheme, "http://")) at = 7;
  else if (starts_with(scheme, "https://")) at = 8;
  else return std::nullopt;
  for (unsigned char c : url)
    if (c <= 32 || c == 127) return std::nullopt;  // a recorded URL is encoded: no space or control byte
  const std::size_t end = url.find_first_of("/?#", at);
  std::string_view authority = url.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
  if (auto user = authority.rfind('@'); user != std::string_view::npos) authority.remove_prefix(user + 1);
  std::string_view host = authority, port;
  if (starts_with(authority, "[")) {  // an IPv6 literal
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(0, close + 1);
    port = authority.substr(close + 1);
    if (!port.empty() && port[0] != ':') return std::nullopt;
  } else if (auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon);
  }
  if (!port.empty()) {
    port.remove_prefix(1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
  }
  if (host.empty()) return std::nullopt;
  Url u;
  u.host = lower(host);
  if (end != std::string_view::npos && url[end] == '/') {
    std::string_view rest = url.substr(end);
    u.path = std::string(rest.substr(0, rest.find_first_of("?#")));
  }
  if (u.path.empty()) u.path = "/";
  return u;
}

std::optional<std::string> decode_base64(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t acc = 0;
  int bits = 0;
  bool padded = false;
  for (char ch : text) {
    if (ch == '\r' || ch == '\n' || ch == ' ' || ch == '\t') continue;
    if (ch == '=') {
      padded = true;
      continue;
    }
    if (padded) return std::nullopt;  // data after the padding
    int v = -1;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
    else if (ch == '+') v = 62;
    else if (ch == '/') v = 63;
    else return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone sextet is no byte
  return out;
}

// A header whose value is a credential: redacted wherever it is kept.
bool secret_header(std::string_view name) {
  const std::string n = lower(name);
  for (const char* exact : {"authorization", "cookie", "set-cookie", "api-key", "x-api-key"})
    if (n == exact) return true;
  for (const char* part : {"token", "secret", "key", "auth"})
    if (n.find(part) != std::string::npos) return true;
  return false;
}

// A response header a replay needs: what the destination reads (type, waits,
// rate-limit state, a redirect). Date is the simulated API's own.
bool kept_header(std::string_view name) {
  const std::string n = lower(name);
  return n == "content-type" || n == "retry-after" || n == "location" || starts_with(n, "x-ratelimit-") ||
         starts_with(n, "ratelimit-");
}

// An HTTP header name (RFC 9110 token), as fault rules take it.
bool header_token(std::string_view name) {
  static constexpr const char* kSeparators = "()<>@,;:\\\"/[]?={}";
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (c <= 32 || c >= 127 || std::string_view(kSeparators).find(static_cast<char>(c)) != std::string_view::npos)
      return false;
  return true;
}

// --- the recording -------------------------------------------------------------

struct HarEntry {
  std::string started;       // startedDateTime as written
  Duration started_at{0};    // the same, since the epoch
  std::string method, host, path;
  std::string request_body;  // postData.text
  int status = 0;            // 0: no answer (aborted, reset)
  std::vector<std::pair<std::string, std::string>> headers;  // kept response headers, secrets "***"
  std::string response_body;
  Duration wait{0};          // timings.wait: the API's time to answer
};

Result<HarEntry> parse_entry(const JsonIn& e) {
  HarEntry out;
  DS_CHECK(e.object());
  DS_CHECK(e.require("startedDateTime"));
  DS_TRY(out.started, e.at("startedDateTime").string());
  auto started = parse_iso8601(out.started);
  if (!started) return e.at("startedDateTime").expected("an ISO 8601 date and time (\"2024-05-01T10:00:00.000Z\")");
  out.started_at = *started;

  DS_CHECK(e.require("request"));
  JsonIn req = e.at("request");
  DS_CHECK(req.object());
  DS_CHECK(req.require("method"));
  DS_TRY(out.method, req.at("method").string());
  if (out.method.empty() || !std::all_of(out.method.begin(), out.method.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
      }))
    return req.at("method").expected("an HTTP method (letters only)");
  DS_CHECK(req.require("url"));
  DS_TRY(std::string url, req.at("url").string());
  auto u = split_url(url);
  if (!u) return req.at("url").expected("an absolute http(s) URL");
  out.host = u->host;
  out.path = u->path;
  // The request, for messages: never its query or user info (where credentials travel too).
  const std::string where = out.method + " " + out.host + out.path;
  // Request headers are never read: they carry the credentials.
  if (req.has("postData") && !req.at("postData").json().is_null()) {
    JsonIn post = req.at("postData");
    DS_CHECK(post.object());
    if (post.has("text")) { DS_TRY(out.request_body, post.at("text").string()); }
  }

  if (e.has("timings") && !e.at("timings").json().is_null()) {
    JsonIn t = e.at("timings");
    DS_CHECK(t.object());
    if (t.has("wait")) {
      JsonIn w = t.at("wait");
      if (!w.json().is_number()) return w.expected("a number of milliseconds");
      const double ms = w.json().get<double>();
      if (!std::isfinite(ms) || ms > kWaitMsMax) return w.expected("a number of milliseconds up to a day");
      if (ms > 0) out.wait = std::chrono::milliseconds(std::llround(ms));  // -1: not recorded
    }
  }

  if (!e.has("response") || e.at("response").json().is_null()) return out;  // no answer
  JsonIn res = e.at("response");
  DS_CHECK(res.object());
  if (res.has("status")) {
    DS_TRY(std::int64_t status, res.at("status").integer(0, 599));
    if (status != 0 && status < 200)
      return res.at("status").expected("a final HTTP status (200-599), or 0 for a request that got no answer");
    out.status = static_cast<int>(status);
  }
  if (out.status == 0) return out;  // aborted: what else the response says is not an answer
  if (res.has("headers")) {
    JsonIn hs = res.at("headers");
    DS_CHECK(hs.array());
    for (std::size_t i = 0; i < hs.size(); ++i) {
      JsonIn h = hs.at(i);
      DS_CHECK(h.object());
      DS_CHECK(h.require("name"));
      DS_CHECK(h.require("value"));
      DS_TRY(std::string name, h.at("name").string());
      DS_TRY(std::string value, h.at("value").string());
      const bool secret = secret_header(name);
      if ((!secret && !kept_header(name)) || !header_token(name)) continue;
      if (secret) value = "***";
      if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) continue;  // would forge headers
      // One entry per name (any case): repeated headers joined as HTTP joins them.
      auto same = std::find_if(out.headers.begin(), out.headers.end(),
                               [&](const auto& kv) { return lower(kv.first) == lower(name); });
      if (same == out.headers.end()) out.headers.emplace_back(name, value);
      else if (!secret) same->second += ", " + value;
    }
  }
  if (res.has("content") && !res.at("content").json().is_null()) {
    JsonIn c = res.at("content");
    DS_CHECK(c.object());
    if (c.has("text")) {
      JsonIn text = c.at("text");
      DS_TRY(out.response_body, text.string());
      std::string encoding;
      if (c.has("encoding")) { DS_TRY(encoding, c.at("encoding").string()); }
      if (encoding == "base64") {
        auto decoded = decode_base64(out.response_body);
        if (!decoded) return text.expected("base64 text (content.encoding is \"base64\")");
        out.response_body = std::move(*decoded);
      } else if (!encoding.empty()) {
        return c.at("encoding").expected("\"base64\" or no encoding");
      }
      if (static_cast<std::int64_t>(out.response_body.size()) > kHarBodyBytesMax)
        return text.fail("the answer's body is " + std::to_string(out.response_body.size()) +
                         " bytes, over the limit of " + std::to_string(kHarBodyBytesMax) +
                         " bytes (1 MB) on a recorded body (" + where + ")");
      if (!valid_utf8(out.response_body))
        return text.fail("the answer's body is not UTF-8 text; a scenario holds text bodies only (" + where + ")");
    }
  }
  return out;
}

struct Recording {
  std::vector<HarEntry> entries;  // every entry, in file order
};

Result<Recording> read_recording(const std::string& file) {
  DS_TRY(nlohmann::json doc, read_json_file(file));
  JsonIn root(doc, file);
  DS_CHECK(root.object());
  DS_CHECK(root.require("log"));
  JsonIn log = root.at("log");
  DS_CHECK(log.object());
  DS_CHECK(log.require("entries"));
  JsonIn entries = log.at("entries");
  DS_CHECK(entries.array());
  if (static_cast<std::int64_t>(entries.size()) > kHarEntriesMax)
    return entries.fail("holds " + std::to_string(entries.size()) + " entries; import-har reads at most " +
                        std::to_string(kHarEntriesMax));
  Recording r;
  r.entries.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    DS_TRY(HarEntry e, parse_entry(entries.at(i)));
    r.entries.push_back(std::move(e));
  }
  return r;
}

// --- the scenario --------------------------------------------------------------

// A duration to the millisecond, written in milliseconds ("9502ms").
std::string in_ms(Duration d) {
  return std::to_string(std::chrono::round<std::chrono::milliseconds>(d).count()) + "ms";
}

std::string endpoint_of(const HarEntry& e) { return e.method + " " + e.path; }

// The config a replay runs with: the destination's defaults, the recorded host,
// placeholders for what the schema requires (credentials are never in a
// recording we keep), and, when the records were rebuilt, partial batches sent
// at once (kSendAtOnce).
Result<Ordered> config_for(const DestinationEntry& d, const std::string& host, bool rebuilt) {
  Ordered config = Ordered::object();
  for (const auto& k : d.schema) {
    if (k.name == "host" && k.type == ConfigType::string) {
      config["host"] = host;
    } else if (k.default_value.is_null()) {
      if (k.type == ConfigType::secret) config[k.name] = {{"secret", "***"}};
      else if (k.type == ConfigType::string) config[k.name] = "***";
      else
        return Error::bad_input("destination " + d.name + " requires config key \"" + k.name + "\" (" +
                                config_type_name(k.type) + "), which a recording cannot supply");
    } else if (rebuilt && k.type == ConfigType::duration &&
               (k.name == "flush_interval" || k.name == "upload_interval")) {
      config[k.name] = kSendAtOnce;
    }
  }
  return config;
}

}  // namespace

Result<std::string> import_har(const ImportHarArgs& args, std::vector<std::string>& notes) {
  const DestinationEntry* dest = find_destination(args.destination);
  if (!dest)
    return Error::not_found("unknown destination \"" + args.destination + "\" (known: " + destination_names() + ")");
  std::string host = lower(args.host);
  if (host.empty()) host = lower(dest->host);
  if (host.empty()) {
    for (const auto& k : dest->schema)
      if (k.name == "host" && k.default_value.is_string()) host = lower(k.default_value.get<std::string>());
  }
  if (host.empty())
    return Error::bad_input("destination " + args.destination + " names no API host; give one with --host");

  DS_TRY(Recording rec, read_recording(args.file));
  const std::string base = std::filesystem::path(args.file).filename().string();

  // The destination's entries, in the order they started (ties: file order).
  std::vector<const HarEntry*> kept;
  std::map<std::string, std::int64_t> skipped;  // host → entries
  for (const auto& e : rec.entries) {
    if (e.host == host) kept.push_back(&e);
    else ++skipped[e.host];
  }
  std::stable_sort(kept.begin(), kept.end(),
                   [](const HarEntry* a, const HarEntry* b) { return a->started_at < b->started_at; });
  std::string others;
  for (const auto& [h, n] : skipped) others += (others.empty() ? "" : ", ") + h + " (" + std::to_string(n) + ")";
  if (kept.empty())
    return Error::bad_input(args.file + ": no entry is a request to " + host + " (" + args.destination +
                            "'s host; --host picks another)" + (others.empty() ? "" : "; entries go to " + others));
  if (!skipped.empty()) {
    std::int64_t n = 0;
    for (const auto& [_, c] : skipped) n += c;
    notes.push_back("skipped " + std::to_string(n) + " of " + std::to_string(rec.entries.size()) +
                    " entries, requests to hosts other than " + host + ": " + others);
  }
  const Duration first = kept.front()->started_at;

  // The input: the records the request bodies carried, each once (a retry
  // carries its batch again), arriving when the recording first sent them.
  Ordered records = Ordered::array();
  std::set<std::string> seen;
  std::int64_t unreadable = 0;
  if (dest->records_from_request) {
    for (const HarEntry* e : kept) {
      nlohmann::json body;
      if (!e->request_body.empty()) {
        body = parse_json_body(e->request_body);
        if (body.is_discarded()) {
          ++unreadable;
          continue;
        }
      }
      for (auto& payload : dest->records_from_request(e->method, e->path, body)) {
        std::string key = payload.dump();
        if (!seen.insert(key).second) continue;
        Ordered r = {{"id", records.size() + 1}, {"payload", Ordered::parse(key)}};
        const Duration at = std::chrono::round<std::chrono::milliseconds>(e->started_at - first);
        if (at.count() > 0) r["at"] = in_ms(at);
        records.push_back(std::move(r));
      }
    }
  }
  const bool rebuilt = !records.empty();
  Ordered input = Ordered::object();
  if (rebuilt) {
    input["records"] = std::move(records);
  } else {
    std::int64_t writes = 0;  // requests that can carry records: not polls and reads
    for (const HarEntry* e : kept) writes += e->method != "GET" && e->method != "HEAD" && e->method != "OPTIONS";
    input["generate"] = {{"records", writes}};
    std::string why = !dest->records_from_request
                          ? args.destination + " cannot read records back from its requests (no records_from_request)"
                          : "no recorded request body held records " + args.destination + " reads back" +
                                (unreadable ? " (" + std::to_string(unreadable) + " bodies were not JSON)" : "");
    notes.push_back("input GENERATED, not reconstructed: " + std::to_string(writes) + " records from " +
                    args.destination + "'s generator (one per recorded write request), because " + why +
                    "; the replay sends other data than the recording");
  }

  // The recorded answers, in order: per entry its wait, then its answer. The
  // first matching rule of a kind other than latency decides a request, and
  // each answers once, so the k-th request to an endpoint gets the k-th answer
  // recorded for it. Latency rules all add up, on every request they match:
  // each waits for its own entry's place in the run (from_request), so the
  // waits pair off with the requests instead of all landing on the first.
  Ordered faults = Ordered::array();
  std::map<std::string, std::int64_t> by_endpoint;
  std::map<int, std::int64_t> by_status;
  std::set<std::string> hosts;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    const HarEntry& e = *kept[i];
    const Ordered match = {{"method", e.method}, {"path", e.path}};
    faults.push_back(
        {{"match", match}, {"from_request", i + 1}, {"times", 1}, {"latency", {{"fixed", in_ms(e.wait)}}}});
    Ordered rule = {{"match", match}, {"times", 1}};
    const std::string what = "recorded #" + std::to_string(i + 1) + ": " + endpoint_of(e) + " -> ";
    if (e.status == 0) {
      rule["about"] = what + "no answer";
      rule["reset"] = "before";
    } else {
      rule["about"] = what + std::to_string(e.status);
      Ordered headers = Ordered::object();
      for (const auto& [k, v] : e.headers) headers[k] = v;
      rule["respond"] = {{"status", e.status}, {"headers", std::move(headers)}, {"body", e.response_body}};
      ++by_status[e.status];
    }
    faults.push_back(std::move(rule));
    ++by_endpoint[endpoint_of(e)];
    hosts.insert(e.host);
  }
  Ordered requests = {{"exactly", kept.size()}};
  Ordered endpoints = Ordered::object(), statuses = Ordered::object();
  for (const auto& [k, n] : by_endpoint) endpoints[k] = {{"exactly", n}};
  for (const auto& [s, n] : by_status) statuses[std::to_string(s)] = {{"exactly", n}};
  requests["by_endpoint"] = std::move(endpoints);
  if (!statuses.empty()) requests["by_status"] = std::move(statuses);

  std::string host_list;
  for (const auto& h : hosts) host_list += (host_list.empty() ? "" : ", ") + h;
  std::string name = std::filesystem::path(base).stem().string();
  if (name.empty()) name = "imported";
  DS_TRY(Ordered config, config_for(*dest, host, rebuilt));

  Ordered doc = Ordered::object();
  doc["scenario"] = kImportedScenarioVersion;
  doc["name"] = name;
  doc["about"] = "imported from " + base + ": " + std::to_string(kept.size()) + " request" +
                 (kept.size() == 1 ? "" : "s") + " to " + host_list + ", recorded " + kept.front()->started;
  doc["seed"] = 1;
  doc["destination"] = {{"name", dest->name}, {"config", std::move(config)}};
  doc["input"] = std::move(input);
  doc["faults"] = std::move(faults);
  doc["transport"] = {{"latency", "0s"}};
  doc["expect"] = {{"requests", std::move(requests)}};
  std::string text = doc.dump(2) + "\n";

  // Never write what `destsim run` would refuse.
  auto loaded = parse_scenario(nlohmann::json::parse(text), args.out.empty() ? base + " (imported)" : args.out);
  if (!loaded.ok())
    return Error::internal("import-har built a scenario that does not load (a bug in import-har): " +
                           loaded.error().message);
  return text;
}

int run_import_har(const ImportHarArgs& args, std::ostream& out) {
  std::vector<std::string> notes;
  auto text = import_har(args, notes);
  for (const auto& n : notes) std::fprintf(stderr, "destsim: import-har: %s\n", n.c_str());
  if (!text.ok()) return report(text.error());
  if (args.out.empty()) {
    out << *text;
    out.flush();
    if (!out) return report(Error::io("standard output: writing the scenario failed"));
    return kExitOk;
  }
  std::ofstream f(args.out, std::ios::binary | std::ios::trunc);
  f << *text;
  f.flush();
  if (!f) return report(Error::io(args.out + ": cannot write the scenario"));
  return kExitOk;
}

}  // namespace destsim
