#include "destinations/bingads/bulk_service.h"

#include <openssl/evp.h>
#include <pugixml.hpp>
#include <zip.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "destinations/bulk_destination.h"
#include "framework/csv.h"
#include "framework/http_call.h"
#include "framework/json_in.h"
#include "framework/rate_limiter.h"
#include "framework/text.h"

namespace destsim::bingads {

namespace {

constexpr const char* kBom = "\xEF\xBB\xBF";
constexpr std::int64_t kRowsMax = 4'000'000;  // the service's rows per file
constexpr std::int64_t kResultBytesMax = 512 * 1024 * 1024;  // a result file's CSV, uncompressed
constexpr int kUrlAttempts = 3;   // fresh UploadUrls for one file (each expired one replaced)
constexpr int kPostAttempts = 3;  // posts of one file to one UploadUrl whose answers were lost
constexpr int kResultAttempts = 3;  // fresh ResultFileUrls for one file

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string_view local_name(const char* qualified) {
  std::string_view n(qualified);
  const auto colon = n.find(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

// The first element under `node` (depth first) whose local name is `name`.
pugi::xml_node find_local(pugi::xml_node node, std::string_view name) {
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    if (local_name(c.name()) == name) return c;
    if (pugi::xml_node d = find_local(c, name)) return d;
  }
  return {};
}

std::string text_of(pugi::xml_node node, std::string_view name) {
  pugi::xml_node n = find_local(node, name);
  return n ? std::string(n.child_value()) : std::string();
}

bool is_nil(pugi::xml_node n) {
  for (pugi::xml_attribute a = n.first_attribute(); a; a = a.next_attribute())
    if (local_name(a.name()) == "nil" && std::string_view(a.value()) == "true") return true;
  return false;
}

// "https://host[:port]/path?query" → host and path (with the query).
bool split_url(const std::string& url, std::string& host, std::string& path) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return false;
  const std::string rest = url.substr(scheme + 3);
  const auto slash = rest.find('/');
  if (slash == std::string::npos || slash == 0) return false;
  host = rest.substr(0, slash);
  path = rest.substr(slash);
  return true;
}

std::vector<std::string> split_ids(const std::string& joined) {
  std::vector<std::string> out;
  for (std::string_view part : split(joined, ',')) out.emplace_back(part);
  return out;
}

// One answered request, read: a readable outcome of every failure kind.
struct Answer {
  int status = 0;  // 0: no answer
  bool retryable = false;
  bool maybe_applied = false;
  std::optional<Duration> wait;
  std::string code;    // the service's ErrorCode ("CallRateExceeded"), when it named one
  std::string reason;  // for the jobs
  ReasonKind kind = ReasonKind::none;
  std::string body;
  pugi::xml_document xml;  // a SOAP answer's document (200)
};

}  // namespace

std::string sha256_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  DS_ASSERT(EVP_Digest(text.data(), text.size(), digest, &n, EVP_sha256(), nullptr) == 1 && n == 32);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

bool sha256_shaped(std::string_view s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string bing_time(std::int64_t unix_s) {
  const CivilTime c = civil_from_unix_ms(unix_s * 1000);
  const int hour12 = c.hour % 12 == 0 ? 12 : c.hour % 12;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%d/%d/%d %d:%02d:%02d %s", c.month, c.day, c.year, hour12, c.minute, c.second,
                c.hour < 12 ? "AM" : "PM");
  return buf;
}

Result<std::int64_t> record_time(const nlohmann::json& value, const std::string& field) {
  if (value.is_number_integer()) {
    const std::int64_t s = value.get<std::int64_t>();
    if (s < 1 || s > 253'402'300'799) return Error::bad_input(field + ": expected unix seconds (1 to year 9999)");
    return s;
  }
  if (value.is_string()) {
    auto ms = parse_iso8601_utc(value.get<std::string>());
    if (!ms.ok())
      return Error::bad_input(field + ": expected unix seconds or an ISO-8601 UTC instant, got \"" +
                              value.get<std::string>() + "\"");
    if (*ms < 1000) return Error::bad_input(field + ": before 1970");
    return *ms / 1000;
  }
  return Error::bad_input(field + ": expected unix seconds or an ISO-8601 UTC instant");
}

std::string zip_file(const std::string& entry, const std::string& content, std::int64_t unix_s) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* out = zip_source_buffer_create(nullptr, 0, 0, &ze);
  DS_ASSERT(out != nullptr);
  zip_source_keep(out);
  zip_t* za = zip_open_from_source(out, ZIP_CREATE | ZIP_TRUNCATE, &ze);
  DS_ASSERT(za != nullptr);
  zip_error_fini(&ze);
  zip_source_t* in = zip_source_buffer(za, content.data(), content.size(), 0);
  DS_ASSERT(in != nullptr);
  const zip_int64_t idx = zip_file_add(za, entry.c_str(), in, ZIP_FL_ENC_UTF_8);
  DS_ASSERT(idx >= 0);
  // Dated by the loop's calendar, so the bytes replay.
  const CivilTime c = civil_from_unix_ms(unix_s * 1000);
  const auto dos_time = static_cast<zip_uint16_t>((c.hour << 11) | (c.minute << 5) | (c.second / 2));
  const auto dos_date = static_cast<zip_uint16_t>(((std::max(c.year, 1980) - 1980) << 9) | (c.month << 5) | c.day);
  DS_ASSERT(zip_file_set_dostime(za, static_cast<zip_uint64_t>(idx), dos_time, dos_date, 0) == 0);
  DS_ASSERT(zip_close(za) == 0);
  zip_stat_t st;
  zip_stat_init(&st);
  DS_ASSERT(zip_source_stat(out, &st) == 0 && (st.valid & ZIP_STAT_SIZE));
  std::string bytes(static_cast<std::size_t>(st.size), '\0');
  DS_ASSERT(zip_source_open(out) == 0);
  DS_ASSERT(zip_source_read(out, bytes.data(), bytes.size()) == static_cast<zip_int64_t>(bytes.size()));
  zip_source_close(out);
  zip_source_free(out);
  return bytes;
}

Result<std::pair<std::string, std::string>> unzip_one(const std::string& zip, std::int64_t bytes_max) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* src = zip_source_buffer_create(zip.data(), zip.size(), 0, &ze);
  if (!src) {
    zip_error_fini(&ze);
    return Error::bad_input("not a zip");
  }
  zip_t* za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
  if (!za) {
    std::string why = zip_error_strerror(&ze);
    zip_source_free(src);
    zip_error_fini(&ze);
    return Error::bad_input("not a readable zip (" + why + ")");
  }
  zip_error_fini(&ze);
  auto fail = [&](const std::string& why) {
    zip_discard(za);
    return Error::bad_input(why);
  };
  if (zip_get_num_entries(za, 0) != 1)
    return fail("a zip of " + std::to_string(zip_get_num_entries(za, 0)) + " entries (expected one CSV)");
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(za, 0, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE))
    return fail("an unreadable zip entry");
  if (st.size > static_cast<zip_uint64_t>(bytes_max))
    return fail("a zip entry of " + std::to_string(st.size) + " bytes (the limit is " + std::to_string(bytes_max) +
                ")");
  std::string name = st.name;
  std::string content(static_cast<std::size_t>(st.size), '\0');
  zip_file_t* f = zip_fopen_index(za, 0, 0);
  if (!f) return fail("an unreadable zip entry");
  std::size_t got = 0;
  while (got < content.size()) {
    const zip_int64_t r = zip_fread(f, content.data() + got, content.size() - got);
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  char extra;
  const zip_int64_t tail = zip_fread(f, &extra, 1);  // 0 at the end: the CRC was checked
  zip_fclose(f);
  if (got != content.size() || tail != 0) return fail("a zip entry that does not inflate whole (or fails its CRC)");
  zip_discard(za);
  return std::make_pair(std::move(name), std::move(content));
}

namespace {

class BulkServiceManager final : public AsyncDestinationManager {
 public:
  BulkServiceManager(DeliveryContext& ctx, Settings s)
      : ctx_(ctx), s_(std::move(s)), limiter_(ctx.loop, s_.requests_per_second) {
    ctx.loop.trace().add_secret(s_.access_token);
    ctx.loop.trace().add_secret(s_.developer_token);
    std::int64_t header = 0;
    for (const FileKind& k : s_.kinds) {
      std::int64_t bytes = 3 + static_cast<std::int64_t>(csv_line(k.header).size() + csv_line(k.format_row).size()) + 2;
      for (const auto& row : k.preamble) bytes += static_cast<std::int64_t>(csv_line(row).size()) + 1;
      header = std::max(header, bytes);
    }
    header_bytes_ = header;
  }

  std::string name() const override { return s_.destination; }

  BulkLimits limits() const override {
    // Counted in CSV bytes, before the zip shrinks them: the item's one kind
    // byte is inside the separator's count.
    return BulkLimits{.records_max = s_.records_max,
                      .bytes_max = s_.file_bytes_max,
                      .header_bytes = header_bytes_ * static_cast<std::int64_t>(s_.kinds.size()),
                      .separator_bytes = 1};
  }

  Result<BulkItem> transform(const Record& record) override {
    DS_TRY(Row row, s_.row_of(record, ctx_.loop.clock().unix_ms(ctx_.loop.now()) / 1000));
    DS_ASSERT(row.kind < s_.kinds.size() && row.kind < 10);
    const FileKind& kind = s_.kinds[row.kind];
    DS_ASSERT(row.cells.size() == kind.header.size());
    row.cells[kind.client_id_column] = std::to_string(record.id);
    std::string data(1, static_cast<char>('0' + row.kind));
    data += csv_line(row.cells);
    return BulkItem{record.id, std::move(data)};
  }

  bool idempotent() const override { return true; }

  Task<UploadOutcome> upload(const std::vector<const BulkItem*>& items) override {
    UploadOutcome out;
    std::vector<std::vector<const BulkItem*>> by_kind(s_.kinds.size());
    for (const BulkItem* item : items) by_kind[static_cast<std::size_t>(item->data[0] - '0')].push_back(item);
    nlohmann::json files = nlohmann::json::array();
    std::vector<std::string> request_ids;
    struct Failed {
      std::vector<const BulkItem*> items;
      Answer answer;
      bool unknown = false;
    };
    std::vector<Failed> failed;
    bool stop = false;  // after a retryable refusal, the later files wait for the next attempt
    for (std::size_t k = 0; k < s_.kinds.size(); ++k) {
      if (by_kind[k].empty()) continue;
      if (stop) {
        Failed f{by_kind[k], {}, false};
        f.answer.retryable = true;
        f.answer.reason = "not sent: an earlier file of this upload was refused for now";
        failed.push_back(std::move(f));
        continue;
      }
      Sent sent = co_await send_file(k, by_kind[k]);
      if (!sent.request_id.empty()) {
        nlohmann::json jobs = nlohmann::json::array();
        for (const BulkItem* item : by_kind[k]) {
          out.import.jobs.push_back(item->id);
          jobs.push_back(item->id);
        }
        request_ids.push_back(sent.request_id);
        files.push_back({{"request_id", sent.request_id}, {"kind", s_.kinds[k].name}, {"jobs", std::move(jobs)}});
        continue;
      }
      if (sent.answer.retryable) stop = true;
      failed.push_back(Failed{by_kind[k], std::move(sent.answer), sent.unknown});
    }
    if (request_ids.empty() && failed.size() == 1) {
      // The common case: one file, refused whole.
      const Answer& a = failed[0].answer;
      out.kind = a.retryable ? UploadOutcome::Kind::retry : UploadOutcome::Kind::failed;
      out.http_status = a.status;
      out.maybe_applied = a.maybe_applied || failed[0].unknown;
      out.retry_after = a.wait;
      out.reason = a.reason;
      out.reason_kind = a.kind;
      co_return out;
    }
    // Some files went, or several were refused: each refused file's jobs are
    // named with their own verdict (with no file taken, the upload's answer
    // settles every job); a file whose answer was lost for good is retried
    // with its outcome unknown.
    out.kind = request_ids.empty() ? UploadOutcome::Kind::completed : UploadOutcome::Kind::importing;
    for (const Failed& f : failed) {
      for (const BulkItem* item : f.items) {
        MessageResult r{item->id, f.answer.retryable || f.unknown ? Verdict::retry : Verdict::fail,
                        s_.kinds[static_cast<std::size_t>(item->data[0] - '0')].name + " file: " + f.answer.reason,
                        f.answer.kind};
        r.maybe_applied = f.unknown;
        out.results.push_back(std::move(r));
      }
    }
    if (!request_ids.empty()) {
      std::string joined;
      for (const auto& id : request_ids) joined += (joined.empty() ? "" : ",") + id;
      out.import.import_id = joined;
      out.import.params = {{"files", std::move(files)}};
    }
    co_return out;
  }

  Task<PollOutcome> poll(const ImportRef& import) override {
    PollOutcome out;
    bool running = false;
    for (const std::string& id : split_ids(import.import_id)) {
      Polled st = co_await status(id);
      if (!st.answer.reason.empty()) {
        out.http_status = st.answer.status;
        out.retry_after = st.answer.wait;
        out.reason = "GetBulkUploadStatus " + id + ": " + st.answer.reason;
        out.reason_kind = st.answer.kind;
        if (st.answer.retryable) {
          out.transient = true;
        } else {
          // A permanent refusal of the poll: the files were taken and may be
          // applied; the jobs go again (idempotent) with their outcome unknown.
          out.status = ImportStatus::failed;
        }
        co_return out;
      }
      if (st.request_status == "FileUploaded" || st.request_status == "InProgress" ||
          st.request_status == "PendingFileUpload") {
        running = true;
      } else if (!terminal(st.request_status)) {
        out.transient = true;  // D3: never taken for done
        out.reason = "request " + id + ": unknown RequestStatus \"" + st.request_status + "\"";
        co_return out;
      }
    }
    out.status = running ? ImportStatus::running : ImportStatus::completed;
    co_return out;
  }

  Task<StatsOutcome> upload_stats(const ImportRef& import) override {
    StatsOutcome out;
    const nlohmann::json& files = import.params.is_object() && import.params.contains("files")
                                      ? import.params["files"]
                                      : nlohmann::json();
    if (!files.is_array()) {
      out.reason = "import " + import.import_id + ": stored params unreadable (expected files)";
      co_return out;  // nothing mapped: every job retried, its outcome unknown
    }
    bool unread = false;
    for (const auto& file : files) {
      const std::string id = string_member(file, "request_id");
      std::map<std::string, JobId> jobs;  // Client Id → job
      if (file.contains("jobs") && file["jobs"].is_array())
        for (const auto& j : file["jobs"])
          if (j.is_number_integer()) jobs.emplace(std::to_string(j.get<JobId>()), j.get<JobId>());
      std::string notes;
      for (int attempt = 0; attempt < kResultAttempts; ++attempt) {
        Polled st = co_await status(id);
        if (!st.answer.reason.empty()) {
          if (st.answer.retryable) {
            out.transient = true;
            out.reason = "GetBulkUploadStatus " + id + ": " + st.answer.reason;
            co_return out;
          }
          notes = "GetBulkUploadStatus: " + st.answer.reason;
          break;  // this file's jobs stay unnamed
        }
        if (st.request_status == "Failed") {
          // The service applied none of the file ("the percent complete will reset to zero").
          for (const auto& [cid, job] : jobs)
            out.results.push_back({job, Verdict::retry, "request " + id + " ended Failed" + st.errors,
                                   ReasonKind::server_error});
          break;
        }
        if (st.request_status == "UploadFileFormatNotSupported" || st.request_status == "UploadFileRowCountExceeded") {
          const ReasonKind kind =
              st.request_status == "UploadFileRowCountExceeded" ? ReasonKind::too_large : ReasonKind::rejected_by_api;
          for (const auto& [cid, job] : jobs)
            out.results.push_back({job, Verdict::fail, "request " + id + " ended " + st.request_status + st.errors,
                                   kind});
          break;
        }
        if (st.request_status != "Completed" && st.request_status != "CompletedWithErrors") {
          out.transient = true;  // not terminal after all (poll read it so): ask again
          out.reason = "request " + id + ": RequestStatus \"" + st.request_status + "\" when reading results";
          co_return out;
        }
        if (st.result_url.empty()) {
          notes = "request " + id + " " + st.request_status + " without a ResultFileUrl";
          continue;  // ask again
        }
        Answer got = co_await download(st.result_url);
        if (got.status == 200) {
          if (destsim::Status read = read_results(got.body, jobs, out); !read.ok()) notes = read.error().message;
          break;
        }
        if (got.status == 403) {
          notes = "result file refused (" + got.reason + ")";
          continue;  // expired: a fresh URL from a fresh status
        }
        if (got.retryable) {
          out.transient = true;
          out.reason = "result file of " + id + ": " + got.reason;
          co_return out;
        }
        notes = "result file: " + got.reason;
        break;
      }
      if (!notes.empty()) {
        out.reason += (out.reason.empty() ? "" : "; ") + id + ": " + notes;
        unread = true;
      }
    }
    if (unread) {
      // A file's results could not be read: the import's successes are not
      // claimed on a read that ended refused — its rows go again with their
      // outcome unknown (idempotent); the rows a file refused stay failed.
      std::erase_if(out.results, [](const MessageResult& r) { return r.verdict == Verdict::ok; });
    }
    co_return out;
  }

 private:
  struct Sent {
    std::string request_id;  // set: the file was taken
    Answer answer;           // else: why not
    bool unknown = false;    // every post of it went unanswered: it may have been taken
  };
  struct Polled {
    Answer answer;  // reason set: the call failed
    std::string request_status;
    std::string result_url;
    std::string errors;  // ": <ErrorCode> <Message>" of the OperationErrors, for reasons
  };

  static bool terminal(const std::string& s) {
    return s == "Completed" || s == "CompletedWithErrors" || s == "Failed" || s == "UploadFileRowCountExceeded" ||
           s == "UploadFileFormatNotSupported";
  }

  // ── Sending ───────────────────────────────────────────────────────────────

  Task<Answer> send(Request req) {
    Answer a;
    const bool post = req.method == "POST";
    co_await limiter_.acquire("api");
    HttpResult res = co_await ctx_.transport.send(std::move(req));
    if (!res.ok()) {
      a.retryable = true;
      a.maybe_applied = post && res.error().maybe_applied;
      a.kind = res.error().kind == TransportErrorKind::timeout ? ReasonKind::timeout : ReasonKind::transport;
      a.reason = std::string("transport ") + transport_error_kind_name(res.error().kind) + ": " + res.error().message;
      co_return a;
    }
    const Response& r = *res;
    a.status = r.status;
    a.body = r.body;
    if (r.ok()) co_return a;
    a.wait = retry_after(r, ctx_.loop);
    a.retryable = r.status == 408 || r.status == 429 || r.status >= 500;
    a.maybe_applied = post && may_have_applied(r.status);
    a.kind = r.status == 429 ? ReasonKind::rate_limited : ReasonKind::none;
    a.reason = "HTTP " + std::to_string(r.status);
    read_error(r, a);
    if (a.wait) limiter_.hold("api", ctx_.loop.now() + *a.wait);  // I1: every request waits
    co_return a;
  }

  // The service's own reading of a refusal: a SOAP fault's AdApiError or
  // OperationError, the upload door's JSON, the result store's XML.
  void read_error(const Response& r, Answer& a) {
    pugi::xml_document doc;
    if (!r.body.empty() && r.body[0] == '<' && doc.load_buffer(r.body.data(), r.body.size())) {
      if (pugi::xml_node fault = find_local(doc, "Fault")) {
        const std::string code = text_of(fault, "ErrorCode");
        const std::string number = text_of(fault, "Code");
        const std::string message = text_of(fault, "Message");
        const std::string faultstring = text_of(fault, "faultstring");
        a.code = code;
        a.reason += code.empty() ? " SOAP fault: " + faultstring
                                 : " " + code + " (" + number + ")" + (message.empty() ? "" : ": " + message);
        if (code == "CallRateExceeded") {
          // The quota counts calls per minute: the service calls are paced
          // from here on (pace_calls), the upload waits for the next minute.
          a.kind = ReasonKind::rate_limited;
        } else if (code == "AuthenticationTokenExpired" || code == "InvalidCredentials" ||
                   code == "UserIsNotAuthorized" || code == "RequestMissingHeaders") {
          a.kind = ReasonKind::auth;
        }
        return;
      }
      if (pugi::xml_node err = find_local(doc, "Error")) {  // the result store (Azure blob)
        a.code = text_of(err, "Code");
        a.reason += " " + a.code + ": " + text_of(err, "Message");
        return;
      }
    }
    const nlohmann::json b = parse_json_body(r.body);
    if (b.is_object() && b.contains("ErrorCode")) {
      a.code = string_member(b, "ErrorCode");
      a.reason += " " + a.code;
      if (b.contains("Code") && b["Code"].is_number_integer()) a.reason += " (" + std::to_string(b["Code"].get<int>()) + ")";
      if (std::string m = string_member(b, "Message"); !m.empty()) a.reason += ": " + m;
    } else if (!r.body.empty() && r.body.size() <= 300 && valid_utf8(r.body)) {
      a.reason += ": " + r.body;
    }
  }

  Task<Answer> soap(const std::string& action, const std::string& body) {
    std::string x;
    x.reserve(1024);
    x += "<s:Envelope xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" "
         "xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">";
    x += "<s:Header xmlns=\"";
    x += kNamespace;
    x += "\"><Action mustUnderstand=\"1\">" + action + "</Action>";
    x += "<AuthenticationToken>" + xml_escape(s_.access_token) + "</AuthenticationToken>";
    x += "<CustomerAccountId>" + xml_escape(s_.account_id) + "</CustomerAccountId>";
    x += "<CustomerId>" + xml_escape(s_.customer_id) + "</CustomerId>";
    x += "<DeveloperToken>" + xml_escape(s_.developer_token) + "</DeveloperToken>";
    x += "</s:Header><s:Body><" + action + "Request xmlns=\"" + kNamespace + "\">" + body + "</" + action +
         "Request></s:Body></s:Envelope>";
    Request r;
    r.method = "POST";
    r.host = s_.host;
    r.path = kServicePath;
    r.headers.set("Content-Type", "text/xml; charset=utf-8");
    r.headers.set("SOAPAction", action);
    r.body = std::move(x);
    co_await pace_calls();
    Answer a = co_await send(std::move(r));
    note_call(a);
    if (a.code == "CallRateExceeded" && !a.wait) a.wait = std::chrono::seconds(60);
    // The calls read state (GetBulkUploadUrl only reserves a request id):
    // never "maybe applied".
    a.maybe_applied = false;
    if (a.status == 200 && !a.xml.load_buffer(a.body.data(), a.body.size())) {
      a.retryable = true;
      a.reason = "HTTP 200 with a body that is not XML";
    }
    co_return a;
  }

  // The call-rate quota (calls per minute per developer token, shared with
  // whatever else uses it) is not published: it is learned. After a
  // CallRateExceeded the service calls are spaced — 60 s over the calls that
  // succeeded in the minute before, doubled at every further refusal, at most
  // a minute — and the spacing halves after every ten minutes without one.
  Task<void> pace_calls() {
    const Time now = ctx_.loop.now();
    if (call_spacing_ > Duration(0) && now - last_refusal_ >= std::chrono::minutes(10)) {
      call_spacing_ /= 2;
      last_refusal_ = now;
      if (call_spacing_ < std::chrono::milliseconds(100)) call_spacing_ = Duration(0);
    }
    if (call_spacing_ == Duration(0)) co_return;
    const Time slot = std::max(now, next_call_);
    next_call_ = slot + call_spacing_;
    if (slot > now) co_await ctx_.loop.sleep(slot - now);
  }

  void note_call(const Answer& a) {
    const Time now = ctx_.loop.now();
    while (!recent_calls_.empty() && now - recent_calls_.front() >= std::chrono::minutes(1)) recent_calls_.pop_front();
    if (a.code != "CallRateExceeded") {
      if (a.status != 0) recent_calls_.push_back(now);
      return;
    }
    const Duration learned = Duration(std::chrono::minutes(1)) / std::max<std::int64_t>(1, static_cast<std::int64_t>(recent_calls_.size()));
    call_spacing_ = std::min<Duration>(std::chrono::minutes(1), std::max(learned, call_spacing_ * 2));
    last_refusal_ = now;
    // Nothing before the next minute; then one call per spacing.
    next_call_ = std::max(next_call_, now + std::chrono::minutes(1));
  }

  // One file: a request id, the file posted to its UploadUrl.
  Task<Sent> send_file(std::size_t k, const std::vector<const BulkItem*>& items) {
    const FileKind& kind = s_.kinds[k];
    std::string csv = kBom;
    csv += csv_line(kind.header);
    csv.push_back('\n');
    csv += csv_line(kind.format_row);
    csv.push_back('\n');
    for (const auto& row : kind.preamble) {
      csv += csv_line(row);
      csv.push_back('\n');
    }
    for (const BulkItem* item : items) {
      csv.append(item->data, 1, std::string::npos);
      csv.push_back('\n');
    }
    const std::int64_t now_s = ctx_.loop.clock().unix_ms(ctx_.loop.now()) / 1000;
    const std::string zip = zip_file("upload.csv", csv, now_s);
    Sent sent;
    for (int url_attempt = 0; url_attempt < kUrlAttempts; ++url_attempt) {
      Answer got = co_await soap("GetBulkUploadUrl", "<ResponseMode>ErrorsAndResults</ResponseMode><AccountId>" +
                                                         xml_escape(s_.account_id) + "</AccountId>");
      if (!got.reason.empty()) {
        got.reason = "GetBulkUploadUrl: " + got.reason;
        sent.answer = std::move(got);
        co_return sent;
      }
      const std::string request_id = text_of(got.xml, "RequestId");
      const std::string url = text_of(got.xml, "UploadUrl");
      std::string host, path;
      if (request_id.empty() || !split_url(url, host, path)) {
        sent.answer.retryable = true;
        sent.answer.status = 200;
        sent.answer.reason = "GetBulkUploadUrl: HTTP 200 without a RequestId and an UploadUrl";
        co_return sent;
      }
      bool expired = false;
      for (int post = 0; post < kPostAttempts; ++post) {
        Answer a = co_await send(upload_request(host, path, zip, request_id));
        if (a.status == 200 || a.code == "BulkServiceUrlAlreadyUsedForUpload") {
          // Taken (3224: by an earlier post of this very file whose answer was lost).
          sent.request_id = request_id;
          co_return sent;
        }
        if (a.code == "BulkServiceUrlExpired") {
          expired = true;  // nothing was taken: a fresh URL
          sent.answer = std::move(a);
          sent.unknown = false;
          break;
        }
        const bool lost = a.maybe_applied;  // unanswered after sending, or a 5xx
        a.reason = "upload: " + a.reason;
        if (a.status == 401 || a.status == 403) a.kind = ReasonKind::auth;
        sent.answer = std::move(a);
        sent.unknown = sent.unknown || lost;
        if (!(sent.answer.status == 0 && lost)) break;
        // Lost on the way back: post again to learn (3224 says it was taken).
      }
      if (expired) continue;
      if (sent.unknown) co_await resolve(request_id, sent);
      co_return sent;
    }
    sent.answer.retryable = true;
    sent.answer.reason = "upload: every UploadUrl expired before its file was taken";
    co_return sent;
  }

  // A post whose answer may hide that the file was taken: the request id's
  // status says (PendingFileUpload: not taken; any later status: taken).
  Task<void> resolve(const std::string& request_id, Sent& sent) {
    Polled st = co_await status(request_id);
    const std::string& s = st.request_status;
    if (!st.answer.reason.empty() ||
        (s != "PendingFileUpload" && s != "FileUploaded" && s != "InProgress" && !terminal(s))) {
      sent.answer.retryable = true;  // still unknown: retried, marked so
      sent.answer.reason += " (whether the file was taken is unknown: " +
                            (st.answer.reason.empty() ? "RequestStatus \"" + s + "\"" : st.answer.reason) + ")";
      co_return;
    }
    if (s == "PendingFileUpload") {
      sent.unknown = false;
      sent.answer.maybe_applied = false;
      sent.answer.reason += " (not taken: the request is still PendingFileUpload)";
      co_return;
    }
    sent.request_id = request_id;  // taken after all
    sent.unknown = false;
  }

  Request upload_request(const std::string& host, const std::string& path, const std::string& zip,
                         const std::string& request_id) {
    std::string boundary = "destsim-bingads-" + request_id;
    while (zip.find(boundary) != std::string::npos) boundary += "x";
    std::string body;
    body.reserve(zip.size() + 256);
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload.zip\"\r\n";
    body += "Content-Type: application/zip\r\n\r\n";
    body += zip;
    body += "\r\n--" + boundary + "--\r\n";
    Request r;
    r.method = "POST";
    r.host = host;
    r.path = path;
    r.headers.set("AuthenticationToken", s_.access_token);
    r.headers.set("DeveloperToken", s_.developer_token);
    r.headers.set("CustomerId", s_.customer_id);
    r.headers.set("AccountId", s_.account_id);
    r.headers.set("Content-Type", "multipart/form-data; boundary=" + boundary);
    r.body = std::move(body);
    return r;
  }

  Task<Polled> status(const std::string& request_id) {
    Polled st;
    st.answer = co_await soap("GetBulkUploadStatus", "<RequestId>" + xml_escape(request_id) + "</RequestId>");
    if (!st.answer.reason.empty()) co_return st;
    pugi::xml_node resp = find_local(st.answer.xml, "GetBulkUploadStatusResponse");
    st.request_status = text_of(resp, "RequestStatus");
    if (!resp || st.request_status.empty()) {
      st.answer.retryable = true;
      st.answer.reason = "HTTP 200 without a RequestStatus";
      co_return st;
    }
    pugi::xml_node url = find_local(resp, "ResultFileUrl");
    if (url && !is_nil(url)) st.result_url = url.child_value();
    if (pugi::xml_node errors = find_local(resp, "Errors"); errors && !is_nil(errors))
      for (pugi::xml_node e = errors.first_child(); e; e = e.next_sibling())
        if (e.type() == pugi::node_element)
          st.errors += ": " + text_of(e, "ErrorCode") + " (" + text_of(e, "Code") + ") " + text_of(e, "Message");
    co_return st;
  }

  Task<Answer> download(const std::string& url) {
    std::string host, path;
    if (!split_url(url, host, path)) {
      Answer a;
      a.status = 403;  // unusable: ask for a fresh one
      a.reason = "an unreadable ResultFileUrl";
      co_return a;
    }
    Request r;
    r.method = "GET";
    r.host = host;
    r.path = path;
    co_return co_await send(std::move(r));
  }

  // The result file: every echoed row of ours ok unless an error row names it.
  destsim::Status read_results(const std::string& zip, const std::map<std::string, JobId>& jobs,
                      StatsOutcome& out) {
    auto entry = unzip_one(zip, kResultBytesMax);
    if (!entry.ok()) return Error::bad_input("result file: " + entry.error().message);
    std::string_view text = entry->second;
    if (text.substr(0, 3) == kBom) text.remove_prefix(3);
    auto rows = parse_csv(text);
    if (!rows.ok()) return Error::bad_input("result file: " + rows.error().message);
    if (rows->empty()) return Error::bad_input("result file: no header");
    std::map<std::string, std::size_t> col;
    for (std::size_t i = 0; i < (*rows)[0].size(); ++i) col.emplace((*rows)[0][i], i);
    for (const char* need : {"Type", "Client Id", "Error", "Error Number"})
      if (!col.count(need)) return Error::bad_input(std::string("result file: no column \"") + need + "\"");
    auto cell = [&](const std::vector<std::string>& row, const char* name) -> std::string {
      const std::size_t i = col.at(name);
      return i < row.size() ? row[i] : std::string();
    };
    std::map<JobId, std::string> errors;
    std::set<JobId> echoed;
    for (std::size_t i = 1; i < rows->size(); ++i) {
      const auto& row = (*rows)[i];
      const std::string type = cell(row, "Type");
      auto it = jobs.find(cell(row, "Client Id"));
      if (it == jobs.end()) continue;  // the Format Version row, the list row, a row not ours
      const bool error = type.size() > 6 && type.compare(type.size() - 6, 6, " Error") == 0;
      if (!error) {
        echoed.insert(it->second);
        continue;
      }
      std::string why = "rejected by Microsoft Advertising: " + cell(row, "Error");
      if (std::string n = cell(row, "Error Number"); !n.empty()) why += " (" + n + ")";
      errors.emplace(it->second, std::move(why));
    }
    for (const auto& [cid, job] : jobs) {
      if (auto e = errors.find(job); e != errors.end()) out.results.push_back({job, Verdict::fail, e->second});
      else if (echoed.count(job)) out.results.push_back({job, Verdict::ok, ""});
      // else: not in the file: retried, its outcome unknown (D4)
    }
    return Status::success();
  }

  DeliveryContext& ctx_;
  Settings s_;
  RateLimiter limiter_;
  std::int64_t header_bytes_ = 0;
  // The learned call-rate pacing (pace_calls).
  std::deque<Time> recent_calls_;
  Duration call_spacing_{0};
  Time next_call_{}, last_refusal_{};
};

}  // namespace

std::vector<ConfigKey> schema(std::vector<ConfigKey> own, std::int64_t records_default, const char* records_doc) {
  BulkConfig d;
  d.upload_interval = std::chrono::seconds(30);
  d.poll_interval = std::chrono::seconds(30);
  d.poll_timeout = std::chrono::hours(6);
  d.imports_in_flight = 2;
  d.max_buffer_size = 100'000;
  d.retry.max_attempts = 5;
  d.retry.delay_initial = std::chrono::seconds(10);
  d.retry.delay_max = std::chrono::minutes(10);
  d.retry.elapsed_max = std::chrono::hours(24);
  std::vector<ConfigKey> keys = {
      {"access_token", ConfigType::secret, nullptr, "the OAuth access token (SOAP AuthenticationToken)"},
      {"developer_token", ConfigType::secret, nullptr, "the Microsoft Advertising developer token"},
      {"customer_id", ConfigType::integer, nullptr, "the manager account (customer) id", 1, INT64_MAX},
      {"account_id", ConfigType::integer, nullptr, "the ad account id (CustomerAccountId, AccountId)", 1, INT64_MAX},
      {"host", ConfigType::string, kSoapHost, "the Bulk Service's SOAP host"},
      {"requests_per_second", ConfigType::integer, 10, "client-side pacing of every request", 1, 100},
  };
  for (auto& k : own) keys.push_back(std::move(k));
  keys.push_back({"records_max", ConfigType::integer, records_default, records_doc, 1, kRowsMax});
  keys.push_back({"file_bytes_max", ConfigType::size, "100MB", "CSV bytes per file (the service takes a 100 MB upload)",
                  4'096, kUploadBytesMax});
  for (auto& k : bulk_config_keys(d)) keys.push_back(std::move(k));
  return keys;
}

Status read_common(const Config& config, Settings& s) {
  s.host = config.string("host");
  s.access_token = config.secret("access_token").value;
  s.developer_token = config.secret("developer_token").value;
  s.customer_id = std::to_string(config.integer("customer_id"));
  s.account_id = std::to_string(config.integer("account_id"));
  s.requests_per_second = config.integer("requests_per_second");
  s.records_max = config.integer("records_max");
  s.file_bytes_max = config.size("file_bytes_max");
  if (s.access_token.empty()) return Error::bad_input("access_token: expected a non-empty secret");
  if (s.developer_token.empty()) return Error::bad_input("developer_token: expected a non-empty secret");
  if (s.host.empty()) return Error::bad_input("host: expected a non-empty host name");
  return Status::success();
}

DestinationEntry entry(std::string name, std::string about, std::vector<ConfigKey> schema,
                       Result<Settings> (*settings_from)(const Config&)) {
  DestinationEntry e = destination_entry(
      std::move(name), "bingads", kSoapHost, std::move(about), std::move(schema),
      {.limits = {.records_max = kRowsMax, .bytes_max = kUploadBytesMax},
       .retryable_statuses = {408, 429, 500, 502, 503, 504},
       .longest_api_wait = std::chrono::seconds(60),  // CallRateExceeded: the next minute
       .idempotent_writes = true,
       .bulk = true,
       .import_concurrency = 3});
  e.make = [settings_from](DeliveryContext& ctx, const Config& config) -> Result<std::unique_ptr<Destination>> {
    DS_TRY(BulkConfig bulk, bulk_config_from(config));
    DS_TRY(Settings s, settings_from(config));
    return std::unique_ptr<Destination>(
        std::make_unique<BulkDestination>(ctx, make_manager(ctx, std::move(s)), std::move(bulk)));
  };
  e.fake_options = [](const Config& config) -> nlohmann::json {
    return {{"token", config.secret("access_token").value},
            {"developer_token", config.secret("developer_token").value},
            {"customer_id", std::to_string(config.integer("customer_id"))},
            {"account_ids", {config.integer("account_id")}}};
  };
  e.certify_config = {{"access_token", {{"secret", "certify-access-token"}}},
                      {"developer_token", {{"secret", "certify-developer-token"}}},
                      {"customer_id", 1000},
                      {"account_id", 123}};
  return e;
}

std::unique_ptr<AsyncDestinationManager> make_manager(DeliveryContext& ctx, Settings s) {
  return std::make_unique<BulkServiceManager>(ctx, std::move(s));
}

}  // namespace destsim::bingads
