#include "fakes/bingads/bingads_api.h"

#include <zip.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <pugixml.hpp>

#include "fakes/fake_options.h"
#include "framework/clock.h"
#include "framework/json_in.h"
#include "framework/multipart.h"
#include "framework/oracle.h"
#include "framework/text.h"

namespace destsim {

namespace {

constexpr std::string_view kSoapHost = "bulk.api.bingads.microsoft.com";
constexpr std::string_view kServicePath = "/Api/Advertiser/CampaignManagement/v13/BulkService.svc";
constexpr std::string_view kUploadPrefix = "/Api/Advertiser/CampaignManagement/v13/FileUpload/File/UploadBulkFile/";
constexpr std::string_view kResultPrefix = "/bulkuploadresultfiles/";
constexpr std::string_view kSoapNs = "http://schemas.xmlsoap.org/soap/envelope/";
constexpr std::string_view kBingNs = "https://bingads.microsoft.com/CampaignManagement/v13";
constexpr std::string_view kXsiNs = "http://www.w3.org/2001/XMLSchema-instance";
constexpr std::string_view kXmlNs = "http://www.w3.org/XML/1998/namespace";
constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kNarrowNoBreakSpace = "\xE2\x80\xAF";  // U+202F, as the real result file writes times
constexpr std::int64_t kMinuteNs = 60'000'000'000;
constexpr std::int64_t kWindowS = 90 * 86'400;     // conversion and adjustment times: at most 90 days old
constexpr std::size_t kClientIdMax = 100;           // [MS] "any valid string to up 100 in length"
constexpr std::uint64_t kCsvBytesMax = 1ULL << 30;  // uncompressed CSV, against ZIP bombs
constexpr std::size_t kTextMax = 1'000'000;         // one SOAP leaf's text

const char* const kPhaseNames[] = {"PendingFileUpload", "FileUploaded",           "InProgress",
                                   "Completed",         "CompletedWithErrors",    "Failed",
                                   "UploadFileRowCountExceeded", "UploadFileFormatNotSupported"};

const std::vector<std::string> kAudienceHeader = {"Type",        "Status", "Id",          "Parent Id", "Client Id",
                                                  "Modified Time", "Name", "Description", "Scope",     "Audience",
                                                  "Action Type", "Sub Type", "Text"};
const std::vector<std::string> kInsertHeader = {
    "Type",           "Status",      "Id",           "Parent Id",          "Client Id",
    "Name",           "Conversion Currency Code",    "Conversion Name",    "Conversion Time",
    "Conversion Value", "Microsoft Click Id",        "Hashed Email Address", "Hashed Phone Number",
    "External Attribution Credit", "External Attribution Model"};
const std::vector<std::string> kUpdateHeader = {
    "Type",           "Adjustment Type", "Client Id",          "Id",
    "Name",           "Conversion Name", "Conversion Time",    "Adjustment Value",
    "Microsoft Click Id", "Hashed Email Address", "Hashed Phone Number", "Adjusted Currency Code",
    "Adjustment Time"};
const std::vector<std::string> kDeleteHeader = {"Type",            "Adjustment Type", "Client Id",
                                                "Id",              "Name",            "Conversion Name",
                                                "Conversion Time", "Microsoft Click Id", "Hashed Email Address",
                                                "Hashed Phone Number", "Adjustment Time"};
// The result file's columns: a subset of the real file's 474, in their real relative order.
const std::vector<std::string> kResultHeader = {
    "Type",           "Status",          "Id",          "Parent Id",   "Sub Type",
    "Client Id",      "Modified Time",   "Text",        "Name",        "Error",
    "Error Number",   "Audience",        "Scope",       "Description", "Microsoft Click Id",
    "Conversion Name", "Conversion Value", "Conversion Time", "Conversion Currency Code", "Adjustment Value",
    "Adjustment Time", "Adjustment Currency Code", "Adjustment Type", "External Attribution Credit",
    "External Attribution Model", "Hashed Phone Number", "Hashed Email Address", "Action Type"};

// [MS] guides/currencies.md, "Conversion Goal Revenue Currencies" (sorted).
constexpr std::array<std::string_view, 100> kCurrencies = {
    "AED", "ALL", "AMD", "ARS", "AUD", "AZN", "BDT", "BGN", "BHD", "BND", "BOB", "BRL", "BWP", "BZD", "CAD",
    "CHF", "CLP", "CNY", "COP", "CRC", "CZK", "DKK", "DOP", "DZD", "EGP", "ETB", "EUR", "FJD", "GBP", "GEL",
    "GHS", "GTQ", "HKD", "HNL", "HRK", "HUF", "IDR", "ILS", "INR", "IQD", "ISK", "JMD", "JOD", "JPY", "KES",
    "KGS", "KRW", "KWD", "KZT", "LBP", "LKR", "LYD", "MAD", "MKD", "MNT", "MOP", "MUR", "MVR", "MWK", "MXN",
    "MYR", "NGN", "NIO", "NOK", "NZD", "OMR", "PAB", "PEN", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
    "RUB", "RWF", "SAR", "SEK", "SGD", "THB", "TND", "TOP", "TRL", "TTD", "TWD", "TZS", "UAH", "UGX", "USD",
    "UYU", "UZS", "VEF", "VND", "XAF", "XCD", "XOF", "YER", "ZAR", "ZMW"};

// The documented messages of the codes this fake answers ([MS] operation-error-codes).
struct Code {
  int number;
  const char* name;
  const char* message;
};
constexpr Code kInternalError{0, "InternalError", "An internal error has occurred."};
constexpr Code kInvalidCredentials{105, "InvalidCredentials",
                                   "Authentication failed. Either supplied credentials are invalid or the account is "
                                   "inactive."};
constexpr Code kUserIsNotAuthorized{106, "UserIsNotAuthorized", "The user is not authorized to perform this action."};
constexpr Code kTokenExpired{109, "AuthenticationTokenExpired",
                             "Authentication token expired. Please renew it or obtain a new token."};
constexpr Code kMissingHeaders{116, "RequestMissingHeaders",
                               "One or more required header elements are missing from the request."};
constexpr Code kCallRateExceeded{117, "CallRateExceeded",
                                 "You have exceeded the number of calls that you are allowed to make in a minute. "
                                 "Please reduce the number of calls that you make per minute."};
constexpr Code kInvalidAccountId{1102, "CampaignServiceInvalidAccountId", "The account identifier is not valid."};
constexpr Code kInvalidRequestId{4201, "BulkServiceInvalidRequestId", "The specified RequestId is not valid."};

// The fault counters accepted() always shows.
const char* const kFaultNames[] = {"ActionNotSupported",         "BadRequest",      "InternalError",
                                   "InvalidCredentials",         "UserIsNotAuthorized", "AuthenticationTokenExpired",
                                   "RequestMissingHeaders",      "CallRateExceeded", "CampaignServiceInvalidAccountId",
                                   "BulkServiceInvalidRequestId"};

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// The API's calendar time at loop time `t`, in unix milliseconds.
std::int64_t unix_ms(Time t) {
  return SimClock::kDefaultEpochUnixMs +
         std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string iso_seconds(std::int64_t ms) {
  CivilTime c = civil_from_unix_ms(ms);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day, c.hour, c.minute, c.second);
  return buf;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && lower(s.substr(s.size() - suffix.size())) == suffix;
}

bool lower_hex(std::string_view s, std::size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Characters (code points) of valid UTF-8 `s`: its bytes but continuation bytes.
std::size_t utf8_length(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Whether digits `s` (no sign, no leading zero) are at most `max`, "9223372036854775807" for int64.
bool digits_at_most(std::string_view s, std::string_view max) {
  return s.size() < max.size() || (s.size() == max.size() && s <= max);
}

// A positive integer written without sign or leading zeros, that fits in int64; else 0.
std::int64_t positive_number(std::string_view s) {
  if (!all_digits(s) || s[0] == '0' || !digits_at_most(s, "9223372036854775807")) return 0;
  std::int64_t v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

bool decimal(std::string_view s) {
  const auto dot = s.find('.');
  if (dot == std::string_view::npos) return all_digits(s);
  return all_digits(s.substr(0, dot)) && all_digits(s.substr(dot + 1));
}

bool currency(std::string_view s) { return std::binary_search(kCurrencies.begin(), kCurrencies.end(), s); }

// A GUID-shaped id: 20 hex digits drawn from `seed`, then 12 of `n` (unique).
std::string guid(std::string_view kind, std::uint64_t n) {
  const std::uint64_t h = fnv1a64(std::string(kind) + ":" + std::to_string(n));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(h >> 32),
                static_cast<unsigned>((h >> 16) & 0xffff), static_cast<unsigned>((h >> 4) & 0xfff),
                static_cast<unsigned>(h & 0xfff), static_cast<unsigned long long>(n & 0xffffffffffffULL));
  return buf;
}

// ── Times as [RS] writes them: Go's "1/2/2006 3:04:05 PM", UTC ──────────────

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int days_in(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

// Unix seconds of a "M/D/YYYY h:mm:ss AM" time, or nothing when not exactly that form.
std::optional<std::int64_t> parse_time(std::string_view s) {
  std::size_t i = 0;
  // Digits at i: at least `lo`, at most `hi`, no leading zero unless `padded`.
  auto number = [&](std::size_t lo, std::size_t hi, bool padded) -> std::optional<int> {
    std::size_t j = i;
    while (j < s.size() && j - i < hi && s[j] >= '0' && s[j] <= '9') ++j;
    const std::size_t n = j - i;
    if (n < lo || (j < s.size() && s[j] >= '0' && s[j] <= '9')) return std::nullopt;
    if (!padded && n > 1 && s[i] == '0') return std::nullopt;
    int v = 0;
    for (std::size_t k = i; k < j; ++k) v = v * 10 + (s[k] - '0');
    i = j;
    return v;
  };
  auto sep = [&](char c) {
    if (i >= s.size() || s[i] != c) return false;
    ++i;
    return true;
  };
  auto month = number(1, 2, false);
  if (!month || !sep('/')) return std::nullopt;
  auto day = number(1, 2, false);
  if (!day || !sep('/')) return std::nullopt;
  auto year = number(4, 4, true);
  if (!year || !sep(' ')) return std::nullopt;
  auto hour = number(1, 2, false);
  if (!hour || !sep(':')) return std::nullopt;
  auto minute = number(2, 2, true);
  if (!minute || !sep(':')) return std::nullopt;
  auto second = number(2, 2, true);
  if (!second || !sep(' ')) return std::nullopt;
  const std::string_view half = s.substr(i);
  if (half != "AM" && half != "PM") return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *year < 1970 || *day > days_in(*year, *month) || *hour < 1 ||
      *hour > 12 || *minute > 59 || *second > 59)
    return std::nullopt;
  const int h24 = *hour % 12 + (half == "PM" ? 12 : 0);
  return unix_ms_from_civil(CivilTime{*year, *month, *day, h24, *minute, *second, 0}) / 1000;
}

// A time as the real result file writes it: "4/18/2024 9:29:59\u202FAM".
std::string render_time(std::int64_t unix_s) {
  CivilTime c = civil_from_unix_ms(unix_s * 1000);
  const int h12 = c.hour % 12 == 0 ? 12 : c.hour % 12;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%d/%d/%04d %d:%02d:%02d", c.month, c.day, c.year, h12, c.minute, c.second);
  return std::string(buf) + std::string(kNarrowNoBreakSpace) + (c.hour < 12 ? "AM" : "PM");
}

// ── CSV (RFC 4180) ──────────────────────────────────────────────────────────

// One record from `text` at `pos`: quotes around a whole cell, "" a quote
// inside them, line ends LF or CRLF (inside quotes too). `line` is the physical
// line the record starts on; it moves past the line ends read.
Status read_record(std::string_view text, std::size_t& pos, std::int64_t& line, std::vector<std::string>& cells) {
  cells.clear();
  const std::int64_t start = line;
  auto bad = [&](const std::string& what) { return Error::bad_input("line " + std::to_string(start) + ": " + what); };
  std::string cell;
  while (true) {
    cell.clear();
    if (pos < text.size() && text[pos] == '"') {
      ++pos;
      bool closed = false;
      while (pos < text.size()) {
        const char c = text[pos++];
        if (c != '"') {
          if (c == '\n') ++line;
          cell.push_back(c);
        } else if (pos < text.size() && text[pos] == '"') {
          cell.push_back('"');
          ++pos;
        } else {
          closed = true;
          break;
        }
      }
      if (!closed) return bad("unterminated quoted cell");
      if (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r')
        return bad("text after a closing quote");
    } else {
      while (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r') {
        if (text[pos] == '"') return bad("a quote inside an unquoted cell");
        cell.push_back(text[pos++]);
      }
    }
    cells.push_back(cell);
    if (pos >= text.size()) return Status::success();
    if (text[pos] == ',') {
      ++pos;
      continue;
    }
    if (text[pos] == '\r') {
      if (pos + 1 >= text.size() || text[pos + 1] != '\n') return bad("a bare CR (lines end with LF or CRLF)");
      ++pos;
    }
    ++pos;
    ++line;
    return Status::success();
  }
}

void append_csv_line(std::string& out, const std::vector<std::string>& cells) {
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) out.push_back(',');
    const std::string& c = cells[i];
    if (c.find_first_of(",\"\r\n") == std::string::npos) {
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
  out += "\r\n";
}

// ── ZIP (libzip) ────────────────────────────────────────────────────────────

struct ZipRead {
  int code = 0;  // 0: read; else the OperationError code of the failure
  std::string error, details, content;
};

// The one .csv entry of ZIP bytes `data`, read whole (its CRC checked).
ZipRead read_single_csv(const std::string& data) {
  ZipRead out;
  auto fail = [&](int code, const char* error, std::string details) {
    out.code = code;
    out.error = error;
    out.details = std::move(details);
    return out;
  };
  // libzip reads an empty source as an empty archive; [MS] wants an end of central directory record.
  if (data.size() < 22) return fail(3223, "BulkServiceInvalidFileExtension", "The uploaded file is not a ZIP archive");
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* src = zip_source_buffer_create(data.data(), data.size(), 0, &ze);
  DS_ASSERT(src != nullptr);
  zip_t* za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
  if (!za) {
    std::string why = zip_error_strerror(&ze);
    zip_source_free(src);
    zip_error_fini(&ze);
    return fail(3223, "BulkServiceInvalidFileExtension", "The uploaded file is not a ZIP archive (" + why + ")");
  }
  zip_error_fini(&ze);
  const zip_int64_t n = zip_get_num_entries(za, 0);
  if (n != 1) {
    zip_discard(za);
    if (n == 0) return fail(3221, "BulkServiceNoFileFound", "The ZIP archive holds no file");
    return fail(3222, "BulkServiceMultipleFilesFound",
                "The ZIP archive holds " + std::to_string(n) + " entries; it must hold exactly one .csv file");
  }
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(za, 0, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE)) {
    zip_discard(za);
    return fail(3217, "BulkServiceFormatVersionNotSupported", "The ZIP entry cannot be read");
  }
  const std::string name = st.name;
  if (!ends_with_ci(name, ".csv")) {
    zip_discard(za);
    return fail(3223, "BulkServiceInvalidFileExtension", "The ZIP entry \"" + name + "\" is not a .csv file");
  }
  if (st.size > kCsvBytesMax) {
    zip_discard(za);
    return fail(3217, "BulkServiceFormatVersionNotSupported",
                "The CSV is " + std::to_string(st.size) + " bytes uncompressed, over 1 GiB");
  }
  zip_file_t* f = zip_fopen_index(za, 0, 0);
  if (!f) {
    zip_discard(za);
    return fail(3217, "BulkServiceFormatVersionNotSupported", "The ZIP entry cannot be opened (encrypted?)");
  }
  std::string content(static_cast<std::size_t>(st.size), '\0');
  std::size_t got = 0;
  bool ok = true;
  while (true) {
    char extra;
    const zip_int64_t r = got < content.size() ? zip_fread(f, content.data() + got, content.size() - got)
                                               : zip_fread(f, &extra, 1);  // 0 at the end: the CRC was checked
    if (r < 0 || (r > 0 && got >= content.size())) {
      ok = false;
      break;
    }
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  zip_fclose(f);
  zip_discard(za);
  if (!ok || got != content.size())
    return fail(3217, "BulkServiceFormatVersionNotSupported", "The ZIP entry is corrupt (its data or CRC)");
  out.content = std::move(content);
  return out;
}

// A ZIP of one entry `name` holding `content`, dated `unix_s` (UTC, DOS time:
// set explicitly so that nothing depends on the wall clock or the time zone).
std::string zip_one(const std::string& name, const std::string& content, std::int64_t unix_s) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* out = zip_source_buffer_create(nullptr, 0, 0, &ze);
  DS_ASSERT(out != nullptr);
  zip_source_keep(out);
  zip_t* za = zip_open_from_source(out, ZIP_CREATE | ZIP_TRUNCATE, &ze);
  DS_ASSERT(za != nullptr);
  zip_source_t* in = zip_source_buffer(za, content.data(), content.size(), 0);
  DS_ASSERT(in != nullptr);
  const zip_int64_t idx = zip_file_add(za, name.c_str(), in, ZIP_FL_ENC_UTF_8);
  DS_ASSERT(idx >= 0);
  const CivilTime c = civil_from_unix_ms(unix_s * 1000);
  const auto dos_time = static_cast<zip_uint16_t>((c.hour << 11) | (c.minute << 5) | (c.second / 2));
  const auto dos_date = static_cast<zip_uint16_t>(((c.year - 1980) << 9) | (c.month << 5) | c.day);
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
  zip_error_fini(&ze);
  return bytes;
}

// ── XML ─────────────────────────────────────────────────────────────────────

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

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Raw character data with its references resolved: the five XML entities and
// &#N; / &#xH; of an XML Char. Anything else after '&' is an error.
Result<std::string> xml_unescape(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '&') {
      out.push_back(raw[i]);
      continue;
    }
    const auto semi = raw.find(';', i);
    if (semi == std::string_view::npos) return Error::bad_input("an '&' without a ';'");
    const std::string_view ref = raw.substr(i + 1, semi - i - 1);
    i = semi;
    if (ref == "amp") out.push_back('&');
    else if (ref == "lt") out.push_back('<');
    else if (ref == "gt") out.push_back('>');
    else if (ref == "quot") out.push_back('"');
    else if (ref == "apos") out.push_back('\'');
    else if (ref.size() >= 2 && ref[0] == '#') {
      const bool hex = ref[1] == 'x';
      const std::string_view digits = ref.substr(hex ? 2 : 1);
      if (digits.empty() || digits.size() > 8) return Error::bad_input("a bad character reference &" + std::string(ref) + ";");
      std::uint32_t cp = 0;
      for (char c : digits) {
        int d = -1;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
        if (d < 0) return Error::bad_input("a bad character reference &" + std::string(ref) + ";");
        cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(d);
      }
      const bool xml_char = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
                            (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
      if (!xml_char) return Error::bad_input("a reference to a character XML forbids, &" + std::string(ref) + ";");
      append_utf8(out, cp);
    } else {
      return Error::bad_input("an undefined entity &" + std::string(ref) + ";");
    }
  }
  return out;
}

struct QName {
  std::string ns, local;
};

// The namespace bound to `prefix` at element `n` ("" for no prefix and no default).
std::optional<std::string> namespace_of(pugi::xml_node n, std::string_view prefix) {
  if (prefix == "xml") return std::string(kXmlNs);
  const std::string attr = prefix.empty() ? "xmlns" : "xmlns:" + std::string(prefix);
  for (pugi::xml_node e = n; e && e.type() == pugi::node_element; e = e.parent()) {
    if (pugi::xml_attribute a = e.attribute(attr.c_str())) {
      auto v = xml_unescape(a.value());
      return v.ok() ? *v : std::string();
    }
  }
  if (prefix.empty()) return std::string();
  return std::nullopt;
}

Result<QName> qualified(pugi::xml_node n, std::string_view name, bool is_attribute) {
  const auto colon = name.find(':');
  const std::string_view prefix = colon == std::string_view::npos ? "" : name.substr(0, colon);
  const std::string_view local = colon == std::string_view::npos ? name : name.substr(colon + 1);
  if (local.empty() || local.find(':') != std::string_view::npos || (colon != std::string_view::npos && prefix.empty()))
    return Error::bad_input("a malformed name \"" + std::string(name) + "\"");
  if (is_attribute && prefix.empty()) return QName{"", std::string(local)};  // unprefixed attributes have none
  auto ns = namespace_of(n, prefix);
  if (!ns) return Error::bad_input("the prefix \"" + std::string(prefix) + "\" of <" + std::string(name) + "> is not bound");
  return QName{*ns, std::string(local)};
}

// Checks every element below `n` (included): well-formed references in
// attributes, no duplicate attribute, bound prefixes, no PI or DOCTYPE.
Status check_tree(pugi::xml_node n, int depth) {
  if (depth > 32) return Error::bad_input("the document nests deeper than 32 elements");
  for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
    switch (c.type()) {
      case pugi::node_pi: return Error::bad_input("a processing instruction");
      case pugi::node_doctype: return Error::bad_input("a DOCTYPE (SOAP messages carry none)");
      case pugi::node_pcdata: {
        auto t = xml_unescape(c.value());
        if (!t.ok()) return t.error();
        break;
      }
      case pugi::node_element: {
        DS_CHECK(qualified(c, c.name(), false));
        // Duplicates by name and by expanded name (two prefixes of one namespace).
        std::vector<std::string> seen;
        for (pugi::xml_attribute a = c.first_attribute(); a; a = a.next_attribute()) {
          const std::string_view raw = a.name();
          // A namespace declaration names no namespace of its own (the
          // prefix "xmlns" is bound by definition, never declared).
          std::string key(raw);
          if (raw != "xmlns" && !starts_with(raw, "xmlns:")) {
            auto q = qualified(c, raw, true);
            if (!q.ok()) return q.error();
            key = q->ns + "|" + q->local;
          }
          if (std::find(seen.begin(), seen.end(), key) != seen.end())
            return Error::bad_input("a duplicate attribute " + std::string(raw) + " on <" + c.name() + ">");
          seen.push_back(key);
          auto v = xml_unescape(a.value());
          if (!v.ok()) return v.error();
        }
        DS_CHECK(check_tree(c, depth + 1));
        break;
      }
      default: break;
    }
  }
  return Status::success();
}

// The attributes an element may carry: namespace declarations, xsi:nil and (on
// the Action header entry, the only one the SDK marks) mustUnderstand. Returns
// whether xsi:nil="true".
Result<bool> element_attributes(pugi::xml_node e, bool action_entry) {
  bool nil = false;
  for (pugi::xml_attribute a = e.first_attribute(); a; a = a.next_attribute()) {
    const std::string_view name = a.name();
    if (name == "xmlns" || starts_with(name, "xmlns:")) continue;
    DS_TRY(QName q, qualified(e, name, true));
    DS_TRY(std::string v, xml_unescape(a.value()));
    if (q.ns == kXsiNs && q.local == "nil") {
      if (v != "true" && v != "false") return Error::bad_input("i:nil=\"" + v + "\" on <" + e.name() + ">");
      nil = v == "true";
    } else if (action_entry && q.local == "mustUnderstand" && (q.ns.empty() || q.ns == kSoapNs)) {
      if (v != "1" && v != "0" && v != "true" && v != "false")
        return Error::bad_input("mustUnderstand=\"" + v + "\" on <" + e.name() + ">");
    } else {
      return Error::bad_input("an unexpected attribute " + std::string(name) + " on <" + e.name() + ">");
    }
  }
  return nil;
}

// The element children of a container (text other than whitespace is an error).
Result<std::vector<pugi::xml_node>> child_elements(pugi::xml_node e) {
  std::vector<pugi::xml_node> out;
  for (pugi::xml_node c = e.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element) out.push_back(c);
    else if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata)
      return Error::bad_input("text inside <" + std::string(e.name()) + ">");
  }
  return out;
}

// A leaf's text (references resolved, CDATA as is); element content is an error.
Result<std::string> leaf_text(pugi::xml_node e) {
  std::string out;
  for (pugi::xml_node c = e.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element) return Error::bad_input("element content inside <" + std::string(e.name()) + ">");
    if (c.type() == pugi::node_pcdata) {
      DS_TRY(std::string t, xml_unescape(c.value()));
      out += t;
    } else if (c.type() == pugi::node_cdata) {
      out += c.value();
    }
    if (out.size() > kTextMax) return Error::bad_input("<" + std::string(e.name()) + "> holds over 1 MB of text");
  }
  return out;
}

std::string_view xml_space_trimmed(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string envelope(const std::string& tracking_id, const std::string& body) {
  return "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header xmlns=\"" +
         std::string(kBingNs) + "\"><TrackingId d3p1:nil=\"false\" xmlns:d3p1=\"" + std::string(kXsiNs) + "\">" +
         tracking_id + "</TrackingId></s:Header><s:Body>" + body + "</s:Body></s:Envelope>";
}

Response xml_response(int status, std::string body, const char* content_type = "text/xml; charset=utf-8") {
  Response r;
  r.status = status;
  r.headers.set("Content-Type", content_type);
  r.body = std::move(body);
  return r;
}

Response plain(int status, const char* text) {
  Response r;
  r.status = status;
  if (*text) {
    r.headers.set("Content-Type", "text/plain; charset=utf-8");
    r.body = text;
  }
  return r;
}

// The host part of a base URL ("https://h:8080" → "h"), lower-cased.
std::string host_of(std::string_view url) {
  const auto scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  rest = rest.substr(0, rest.find('/'));
  if (starts_with(rest, "[")) return lower(rest.substr(0, rest.find(']') + 1));
  return lower(rest.substr(0, rest.find(':')));
}

std::string trimmed_base(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return std::string(url);
}

Status read_own_options(const JsonIn& in, BingAdsApiOptions& o) {
  for (const char* key : {"account_ids", "audience_ids", "internal_error_calls", "fail_uploads"}) {
    if (!in.has(key)) continue;
    JsonIn a = in.at(key);
    DS_CHECK(a.array());
    const std::string_view k = key;
    auto& list = k == "account_ids"            ? o.account_ids
                 : k == "audience_ids"         ? o.audience_ids
                 : k == "internal_error_calls" ? o.internal_error_calls
                                               : o.fail_uploads;
    for (std::size_t i = 0; i < a.size(); ++i) {
      DS_TRY(std::int64_t n, a.at(i).integer(1));
      list.push_back(n);
    }
  }
  if (in.has("conversion_goals")) {
    JsonIn a = in.at("conversion_goals");
    DS_CHECK(a.array());
    for (std::size_t i = 0; i < a.size(); ++i) {
      DS_TRY(std::string g, a.at(i).string());
      if (g.empty()) return a.at(i).expected("a non-empty goal name");
      o.conversion_goals.push_back(g);
    }
  }
  for (const char* key : {"developer_token", "customer_id"}) {
    if (!in.has(key)) continue;
    DS_TRY(std::string v, string_or_secret(in.at(key)));
    (std::string_view(key) == "developer_token" ? o.developer_token : o.customer_id) = std::move(v);
  }
  for (const char* key : {"token_lifetime", "upload_url_valid_for", "result_url_valid_for", "queued_for",
                          "processing_for", "upload_service", "call_service"}) {
    if (!in.has(key)) continue;
    const std::string_view k = key;
    Duration& d = k == "token_lifetime"         ? o.token_lifetime
                  : k == "upload_url_valid_for" ? o.upload_url_valid_for
                  : k == "result_url_valid_for" ? o.result_url_valid_for
                  : k == "queued_for"           ? o.queued_for
                  : k == "processing_for"       ? o.processing_for
                  : k == "upload_service"       ? o.upload_service
                                                : o.call_service;
    DS_TRY(d, in.at(key).duration());
    if (d.count() < 0) return in.at(key).expected("a duration >= 0");
  }
  if (in.has("calls_per_minute")) { DS_TRY(o.calls_per_minute, in.at("calls_per_minute").integer(0)); }
  if (in.has("rows_max")) { DS_TRY(o.rows_max, in.at("rows_max").integer(1)); }
  if (in.has("upload_bytes_max")) {
    DS_TRY(o.upload_bytes_max, in.at("upload_bytes_max").size_bytes());
    if (o.upload_bytes_max < 1) return in.at("upload_bytes_max").expected("a size of at least 1 byte");
  }
  if (in.has("bom_required")) { DS_TRY(o.bom_required, in.at("bom_required").boolean()); }
  for (const char* key : {"upload_base_url", "result_base_url"}) {
    if (!in.has(key)) continue;
    DS_TRY(std::string url, in.at(key).string());
    if ((!starts_with(url, "https://") && !starts_with(url, "http://")) || host_of(url).empty() ||
        trimmed_base(url).find('/', url.find("://") + 3) != std::string::npos)
      return in.at(key).expected("an http(s) URL of a host, without a path (\"https://fileupload.example\")");
    (std::string_view(key) == "upload_base_url" ? o.upload_base_url : o.result_base_url) = trimmed_base(url);
  }
  if (in.has("status_values")) {
    DS_TRY(o.status_values,
           read_status_values(in.at("status_values"),
                              {"PendingFileUpload", "FileUploaded", "InProgress", "Completed", "CompletedWithErrors",
                               "Failed", "UploadFileRowCountExceeded", "UploadFileFormatNotSupported"}));
  }
  return {};
}

}  // namespace

Result<BingAdsApiOptions> BingAdsApiOptions::from_json(const nlohmann::json& j, const std::string& where) {
  return read_fake_options(j, where, "token", &BingAdsApiOptions::token,
                           {"developer_token", "customer_id", "account_ids", "audience_ids", "conversion_goals",
                            "token_lifetime", "calls_per_minute", "internal_error_calls", "upload_url_valid_for",
                            "result_url_valid_for", "queued_for", "processing_for", "fail_uploads", "rows_max",
                            "upload_bytes_max", "bom_required", "upload_base_url", "result_base_url",
                            "upload_service", "call_service", "status_values"},
                           read_own_options);
}

// ── A parsed SOAP request ───────────────────────────────────────────────────

struct BingAdsApi::Soap {
  std::string action;                         // GetBulkUploadUrl | GetBulkUploadStatus
  std::map<std::string, std::string> header;  // header entry → text (nil ones absent)
  std::map<std::string, std::string> body;    // request element → text (nil ones absent)
};

namespace {

// Parses `xml` as the envelope of operation `action`; the error names what is wrong.
Result<BingAdsApi::Soap> parse_soap(const std::string& xml, const std::string& action) {
  BingAdsApi::Soap out;
  out.action = action;
  if (!valid_utf8(xml)) return Error::bad_input("the body is not UTF-8");
  std::string_view text = xml;
  if (starts_with(text, kBom)) text.remove_prefix(kBom.size());
  pugi::xml_document doc;
  const unsigned flags = (pugi::parse_default & ~pugi::parse_escapes) | pugi::parse_doctype | pugi::parse_pi |
                         pugi::parse_declaration | pugi::parse_fragment;
  const pugi::xml_parse_result parsed = doc.load_buffer(text.data(), text.size(), flags, pugi::encoding_utf8);
  if (!parsed)
    return Error::bad_input(std::string("malformed XML at byte ") + std::to_string(parsed.offset) + ": " +
                            parsed.description());
  pugi::xml_node root;
  int elements = 0;
  for (pugi::xml_node c = doc.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_declaration) {
      if (!starts_with(text, "<?xml")) return Error::bad_input("an XML declaration not at the start");
      const std::string enc = lower(c.attribute("encoding").value());
      if (!enc.empty() && enc != "utf-8") return Error::bad_input("the XML declaration names encoding " + enc);
    } else if (c.type() == pugi::node_element) {
      root = c;
      ++elements;
    } else if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
      return Error::bad_input("text outside the root element");
    }
  }
  if (elements != 1) return Error::bad_input(std::to_string(elements) + " root elements (one Envelope)");
  DS_CHECK(check_tree(doc, 0));

  DS_TRY(QName env, qualified(root, root.name(), false));
  if (env.ns != kSoapNs || env.local != "Envelope")
    return Error::bad_input("the root is not a SOAP 1.1 Envelope (" + env.ns + " " + env.local + ")");
  DS_CHECK(element_attributes(root, false));
  DS_TRY(std::vector<pugi::xml_node> parts, child_elements(root));
  pugi::xml_node header, body;
  for (pugi::xml_node p : parts) {
    DS_TRY(QName q, qualified(p, p.name(), false));
    if (q.ns == kSoapNs && q.local == "Header" && !header && !body) header = p;
    else if (q.ns == kSoapNs && q.local == "Body" && !body) body = p;
    else return Error::bad_input("an unexpected <" + std::string(p.name()) + "> in the Envelope (Header, then Body)");
  }
  if (!header) return Error::bad_input("no SOAP Header (the credentials go there)");
  if (!body) return Error::bad_input("no SOAP Body");
  DS_CHECK(element_attributes(header, false));
  DS_CHECK(element_attributes(body, false));

  DS_TRY(std::vector<pugi::xml_node> entries, child_elements(header));
  std::set<std::string> entry_names;
  for (pugi::xml_node e : entries) {
    DS_TRY(QName q, qualified(e, e.name(), false));
    static const char* const kEntries[] = {"Action",   "AuthenticationToken", "CustomerAccountId", "CustomerId",
                                           "DeveloperToken", "Password", "UserName"};
    if (q.ns != kBingNs || std::find(std::begin(kEntries), std::end(kEntries), q.local) == std::end(kEntries))
      return Error::bad_input("an unknown header entry <" + std::string(e.name()) + "> (" + q.ns + ")");
    if (!entry_names.insert(q.local).second) return Error::bad_input("the header entry " + q.local + " twice");
    DS_TRY(bool nil, element_attributes(e, q.local == "Action"));
    DS_TRY(std::string v, leaf_text(e));
    if (!nil) out.header[q.local] = v;
  }
  if (out.header.count("Action") && out.header["Action"] != action)
    return Error::bad_input("the Action header entry \"" + out.header["Action"] + "\" is not the SOAPAction " + action);

  DS_TRY(std::vector<pugi::xml_node> ops, child_elements(body));
  if (ops.size() != 1) return Error::bad_input("the Body holds " + std::to_string(ops.size()) + " elements, not one");
  DS_TRY(QName op, qualified(ops[0], ops[0].name(), false));
  if (op.ns != kBingNs || op.local != action + "Request")
    return Error::bad_input("the Body holds <" + op.local + "> of " + (op.ns.empty() ? "no namespace" : op.ns) +
                            ", not " + action + "Request of " + std::string(kBingNs));
  DS_CHECK(element_attributes(ops[0], false));
  DS_TRY(std::vector<pugi::xml_node> fields, child_elements(ops[0]));
  const std::vector<std::string> expected =
      action == "GetBulkUploadUrl" ? std::vector<std::string>{"ResponseMode", "AccountId"}
                                   : std::vector<std::string>{"RequestId"};
  std::size_t next = 0;  // the documented order, read as WCF does: an element after its place is skipped
  std::set<std::string> seen;
  for (pugi::xml_node f : fields) {
    DS_TRY(QName q, qualified(f, f.name(), false));
    const auto at = std::find(expected.begin(), expected.end(), q.local);
    if (q.ns != kBingNs || at == expected.end())
      return Error::bad_input("an unknown element <" + std::string(f.name()) + "> in " + action + "Request");
    if (!seen.insert(q.local).second) return Error::bad_input("the element " + q.local + " twice");
    DS_TRY(bool nil, element_attributes(f, false));
    DS_TRY(std::string v, leaf_text(f));
    const auto index = static_cast<std::size_t>(at - expected.begin());
    if (index < next) continue;  // out of order: ignored
    next = index + 1;
    if (!nil) out.body[q.local] = v;
  }
  if (out.body.count("ResponseMode") && out.body["ResponseMode"] != "ErrorsOnly" &&
      out.body["ResponseMode"] != "ErrorsAndResults")
    return Error::bad_input("ResponseMode \"" + out.body["ResponseMode"] + "\" (ErrorsOnly or ErrorsAndResults)");
  if (out.body.count("AccountId")) {
    // xs:long: an optional sign, digits (leading zeros allowed), within int64.
    const std::string_view v = xml_space_trimmed(out.body["AccountId"]);
    const bool negative = starts_with(v, "-");
    std::string_view digits = negative || starts_with(v, "+") ? v.substr(1) : v;
    const bool digits_ok = all_digits(digits);
    while (digits.size() > 1 && digits[0] == '0') digits.remove_prefix(1);
    if (!digits_ok || !digits_at_most(digits, negative ? "9223372036854775808" : "9223372036854775807"))
      return Error::bad_input("AccountId \"" + out.body["AccountId"] + "\" is not an xs:long");
    out.body["AccountId"] = std::string(v);
  }
  return out;
}

}  // namespace

// ── The fake ────────────────────────────────────────────────────────────────

std::vector<std::string> BingAdsApi::extra_hosts() const {
  std::vector<std::string> hosts = {host_of(options_.upload_base_url)};
  const std::string result = host_of(options_.result_base_url);
  if (result != hosts[0]) hosts.push_back(result);
  return hosts;
}

Duration BingAdsApi::latency_for(const Request& request) const {
  const bool upload = request.method == "POST" && starts_with(request.path_only(), kUploadPrefix);
  return latency() + (upload ? options_.upload_service : options_.call_service);
}

std::set<std::string> BingAdsApi::audience(const std::string& id) const {
  auto it = state_.audiences.find(id);
  return it == state_.audiences.end() ? std::set<std::string>{} : it->second;
}

std::string BingAdsApi::next_tracking_id() { return guid("tracking", static_cast<std::uint64_t>(++state_.tracking)); }

Response BingAdsApi::handle(const Request& request, Time now) {
  ++state_.requests;
  if (now > state_.last_now) state_.last_now = now;
  settle_due(state_.last_now);

  // Which endpoint a host serves: the upload path only on the upload host, the
  // result path only on the result host, the SOAP path anywhere else (or
  // anywhere when both base URLs name one host, as under `destsim serve`).
  const std::string host = lower(request.host);
  const std::string upload_host = host_of(options_.upload_base_url);
  const std::string result_host = host_of(options_.result_base_url);
  const std::string_view path = request.path_only();
  if (path == kServicePath && host != kSoapHost &&
      (host == upload_host || host == result_host) && upload_host != result_host) {
    ++state_.rejected;
    return plain(404, "");
  }
  if (path == kServicePath) return soap(request, now);
  if (starts_with(path, kUploadPrefix) && host == upload_host) return upload(request, now);
  if (starts_with(path, kResultPrefix) && host == result_host) return download(request, now);
  ++state_.rejected;
  return plain(404, "");
}

Response BingAdsApi::ad_api_fault(int code, const std::string& error_code, const std::string& message) {
  ++state_.faults[error_code];
  ++state_.rejected;
  const std::string tracking = next_tracking_id();
  const std::string detail = "<AdApiFaultDetail xmlns=\"https://adapi.microsoft.com\" xmlns:i=\"" +
                             std::string(kXsiNs) + "\"><TrackingId>" + tracking +
                             "</TrackingId><Errors><AdApiError><Code>" + std::to_string(code) +
                             "</Code><Detail i:nil=\"true\"/><ErrorCode>" + error_code + "</ErrorCode><Message>" +
                             xml_escape(message) + "</Message></AdApiError></Errors></AdApiFaultDetail>";
  return xml_response(500, envelope(tracking, "<s:Fault><faultcode>s:Server</faultcode><faultstring xml:lang=\"en-US\">"
                                              "Invalid client data. Check the SOAP fault details for more "
                                              "information. TrackingId: " +
                                                  tracking + ".</faultstring><detail>" + detail +
                                                  "</detail></s:Fault>"));
}

Response BingAdsApi::api_fault(int code, const std::string& error_code, const std::string& message) {
  ++state_.faults[error_code];
  ++state_.rejected;
  const std::string tracking = next_tracking_id();
  const std::string detail =
      "<ApiFaultDetail xmlns=\"" + std::string(kBingNs) + "\" xmlns:i=\"" + std::string(kXsiNs) +
      "\"><TrackingId xmlns=\"https://adapi.microsoft.com\">" + tracking +
      "</TrackingId><BatchErrors/><OperationErrors><OperationError><Code>" + std::to_string(code) +
      "</Code><Details i:nil=\"true\"/><ErrorCode>" + error_code + "</ErrorCode><Message>" + xml_escape(message) +
      "</Message></OperationError></OperationErrors></ApiFaultDetail>";
  return xml_response(500, envelope(tracking, "<s:Fault><faultcode>s:Server</faultcode><faultstring xml:lang=\"en-US\">"
                                              "Invalid client data. Check the SOAP fault details for more "
                                              "information. TrackingId: " +
                                                  tracking + ".</faultstring><detail>" + detail +
                                                  "</detail></s:Fault>"));
}

Response BingAdsApi::client_fault(int status, const std::string& faultcode, const std::string& message) {
  ++state_.faults[faultcode == "a:ActionNotSupported" ? "ActionNotSupported" : "BadRequest"];
  ++state_.rejected;
  const std::string tracking = next_tracking_id();
  const std::string ns = faultcode == "a:ActionNotSupported"
                             ? " xmlns:a=\"http://schemas.microsoft.com/ws/2005/05/addressing/none\""
                             : "";
  return xml_response(status, envelope(tracking, "<s:Fault><faultcode" + ns + ">" + faultcode +
                                                     "</faultcode><faultstring xml:lang=\"en-US\">" +
                                                     xml_escape(message) + "</faultstring></s:Fault>"));
}

int BingAdsApi::token_problem(const std::string& token, Time now) {
  if (token.empty()) return kInvalidCredentials.number;
  // After expire_token every token answers 109, a wrong one too (the contract:
  // "every call answers 109 until set_token").
  if (state_.token_expired || state_.retired_tokens.count(token)) return kTokenExpired.number;
  if (!options_.token.empty() && token != options_.token) return kInvalidCredentials.number;
  if (options_.token.empty()) state_.presented_tokens.insert(token);  // the ones set_token will retire
  if (options_.token_lifetime.count() > 0) {
    if (!state_.token_used) {
      state_.token_used = true;
      state_.token_first_use = now;
    }
    if (now >= state_.token_first_use + options_.token_lifetime) return kTokenExpired.number;
  }
  return 0;
}

Response BingAdsApi::soap(const Request& request, Time now) {
  if (request.method != "POST") {
    ++state_.rejected;
    return plain(405, "");
  }
  const std::int64_t ordinal = ++state_.soap_calls;
  if (std::find(options_.internal_error_calls.begin(), options_.internal_error_calls.end(), ordinal) !=
      options_.internal_error_calls.end())
    return ad_api_fault(kInternalError.number, kInternalError.name, kInternalError.message);

  const auto ct = request.headers.get("Content-Type");
  const auto charset = ct ? mime_param(*ct, "charset") : std::nullopt;
  if (!ct || mime_type(*ct) != "text/xml" || !charset || lower(*charset) != "utf-8") {
    ++state_.rejected;
    Response r = plain(415, "");
    r.body = "Cannot process the message because the content type '" + std::string(ct.value_or("")) +
             "' was not the expected type 'text/xml; charset=utf-8'.";
    r.headers.set("Content-Type", "text/plain; charset=utf-8");
    return r;
  }
  std::string action(trim_spaces(request.headers.get("SOAPAction").value_or("")));
  if (action.size() >= 2 && action.front() == '"' && action.back() == '"') action = action.substr(1, action.size() - 2);
  if (action != "GetBulkUploadUrl" && action != "GetBulkUploadStatus")
    return client_fault(500, "a:ActionNotSupported",
                        "The message with Action '" + action +
                            "' cannot be processed at the receiver, due to a ContractFilter mismatch at the "
                            "EndpointDispatcher.");
  auto parsed = parse_soap(request.body, action);
  if (!parsed.ok()) return client_fault(400, "s:Client", "The request could not be read: " + parsed.error().message);
  const Soap& call = *parsed;

  auto header = [&](const char* name) {
    auto it = call.header.find(name);
    return it == call.header.end() ? std::string() : it->second;
  };
  if (int problem = token_problem(header("AuthenticationToken"), now)) {
    const Code& c = problem == kTokenExpired.number ? kTokenExpired : kInvalidCredentials;
    return ad_api_fault(c.number, c.name, c.message);
  }
  const std::string developer = header("DeveloperToken");
  if (developer.empty() || (!options_.developer_token.empty() && developer != options_.developer_token))
    return ad_api_fault(kInvalidCredentials.number, kInvalidCredentials.name, kInvalidCredentials.message);
  if (header("CustomerId").empty() || header("CustomerAccountId").empty())
    return ad_api_fault(kMissingHeaders.number, kMissingHeaders.name, kMissingHeaders.message);
  if (!options_.customer_id.empty() && header("CustomerId") != options_.customer_id)
    return ad_api_fault(kUserIsNotAuthorized.number, kUserIsNotAuthorized.name, kUserIsNotAuthorized.message);

  if (options_.calls_per_minute > 0) {
    const std::int64_t window = floor_div(to_ns(now), kMinuteNs);
    if (state_.minute_window != window) {
      state_.minute_window = window;
      state_.minute_count = 0;
    }
    if (state_.minute_count >= options_.calls_per_minute)
      return ad_api_fault(kCallRateExceeded.number, kCallRateExceeded.name, kCallRateExceeded.message);
    ++state_.minute_count;
  }
  return action == "GetBulkUploadUrl" ? get_upload_url(call, now) : get_upload_status(call, now);
}

Response BingAdsApi::get_upload_url(const Soap& call, Time now) {
  const std::string account_text = call.body.count("AccountId") ? call.body.at("AccountId") : "";
  const std::int64_t account = positive_number(account_text);
  const std::string header_account = call.header.at("CustomerAccountId");
  if (account == 0 || header_account != account_text ||
      (!options_.account_ids.empty() &&
       std::find(options_.account_ids.begin(), options_.account_ids.end(), account) == options_.account_ids.end()))
    return api_fault(kInvalidAccountId.number, kInvalidAccountId.name, kInvalidAccountId.message);

  Upload u;
  u.request_id = guid("request", state_.uploads.size() + 1);
  u.customer_id = call.header.at("CustomerId");
  u.account_id = account_text;
  u.upload_query = "Ver=13&AccountId=" + account_text;
  u.errors_and_results = call.body.count("ResponseMode") && call.body.at("ResponseMode") == "ErrorsAndResults";
  u.created = now;
  state_.by_request_id[u.request_id] = state_.uploads.size();
  state_.uploads.push_back(u);
  const std::string url = options_.upload_base_url + std::string(kUploadPrefix) + u.request_id + "?" + u.upload_query;
  return xml_response(200, envelope(next_tracking_id(), "<GetBulkUploadUrlResponse xmlns=\"" + std::string(kBingNs) +
                                                            "\"><RequestId>" + u.request_id +
                                                            "</RequestId><UploadUrl>" + xml_escape(url) +
                                                            "</UploadUrl></GetBulkUploadUrlResponse>"));
}

BingAdsApi::Phase BingAdsApi::phase(const Upload& u, Time now) const {
  using V = BingAdsApiState::Verdict;
  if (!u.uploaded) return Phase::pending;
  const Duration t = now - u.uploaded_at;
  if (t < options_.queued_for) return Phase::uploaded;
  if (u.verdict == V::format_not_supported) return Phase::format_not_supported;
  if (u.verdict == V::row_count_exceeded) return Phase::row_count_exceeded;
  if (t < options_.queued_for + options_.processing_for) return Phase::in_progress;
  if (u.verdict == V::failed) return Phase::failed;
  DS_ASSERT(u.settled);
  return u.row_errors > 0 ? Phase::completed_with_errors : Phase::completed;
}

int BingAdsApi::percent(const Upload& u, Time now) const {
  switch (phase(u, now)) {
    case Phase::in_progress: {
      // In microseconds: 100 × ten years of them still fits in 64 bits.
      using std::chrono::microseconds;
      const auto elapsed = std::chrono::duration_cast<microseconds>(now - u.uploaded_at - options_.queued_for).count();
      const auto whole = std::chrono::duration_cast<microseconds>(options_.processing_for).count();
      return whole <= 0 ? 99 : static_cast<int>(std::min<std::int64_t>(99, elapsed * 100 / whole));
    }
    case Phase::completed:
    case Phase::completed_with_errors: return 100;
    default: return 0;
  }
}

std::string BingAdsApi::result_blob_path(const Upload& u) const {
  const CivilTime c = civil_from_unix_ms(unix_ms(u.created));
  char date[16];
  std::snprintf(date, sizeof date, "%02d-%02d-%04d", c.month, c.day, c.year);
  return std::string(kResultPrefix) + "BulkUpload-" + date + "-" + u.request_id + "-Results.zip";
}

Response BingAdsApi::get_upload_status(const Soap& call, Time now) {
  const std::string id = call.body.count("RequestId") ? call.body.at("RequestId") : "";
  auto it = state_.by_request_id.find(id);
  if (it == state_.by_request_id.end() || state_.uploads[it->second].customer_id != call.header.at("CustomerId") ||
      state_.uploads[it->second].account_id != call.header.at("CustomerAccountId"))
    return api_fault(kInvalidRequestId.number, kInvalidRequestId.name, kInvalidRequestId.message);
  Upload& u = state_.uploads[it->second];
  const Phase ph = phase(u, now);
  std::string errors = "<Errors i:nil=\"true\"/>";
  if (ph == Phase::failed || ph == Phase::format_not_supported || ph == Phase::row_count_exceeded) {
    const bool failed = ph == Phase::failed;
    const std::string code = failed ? std::to_string(kInternalError.number) : std::to_string(u.verdict_code);
    const std::string name = failed ? kInternalError.name : u.verdict_error;
    const std::string details =
        failed ? "<Details i:nil=\"true\"/>" : "<Details>" + xml_escape(u.verdict_details) + "</Details>";
    const std::string message = failed ? kInternalError.message
                                : ph == Phase::row_count_exceeded
                                    ? "The number of rows in the file has exceeded the maximum allowed value."
                                    : "The upload file format is not supported.";
    errors = "<Errors><OperationError><Code>" + code + "</Code>" + details + "<ErrorCode>" + name +
             "</ErrorCode><Message>" + message + "</Message></OperationError></Errors>";
  }
  std::string result_url = "<ResultFileUrl i:nil=\"true\"/>";
  if (ph == Phase::completed || ph == Phase::completed_with_errors) {
    const std::int64_t issued_ms = unix_ms(now);
    const Time expires = now + options_.result_url_valid_for;
    auto enc = [](std::string s) {
      std::string out;
      for (char c : s) out += c == ':' ? std::string("%3A") : std::string(1, c);
      return out;
    };
    const std::uint64_t n = static_cast<std::uint64_t>(++state_.issued_urls);
    char sig[40];
    std::snprintf(sig, sizeof sig, "%016llx%016llx",
                  static_cast<unsigned long long>(fnv1a64(u.request_id + ":sig:" + std::to_string(n))),
                  static_cast<unsigned long long>(n));
    const std::string query = "sv=2023-11-03&st=" + enc(iso_seconds(issued_ms)) + "&se=" +
                              enc(iso_seconds(unix_ms(expires))) + "&sr=b&sp=r&sig=" + sig;
    u.urls.push_back({query, expires});
    result_url = "<ResultFileUrl>" + xml_escape(options_.result_base_url + result_blob_path(u) + "?" + query) +
                 "</ResultFileUrl>";
  }
  const std::string status = wire_status(options_.status_values, kPhaseNames[static_cast<int>(ph)]);
  return xml_response(
      200, envelope(next_tracking_id(),
                    "<GetBulkUploadStatusResponse xmlns=\"" + std::string(kBingNs) + "\" xmlns:i=\"" +
                        std::string(kXsiNs) + "\">" + errors +
                        "<ForwardCompatibilityMap xmlns:a=\"http://schemas.datacontract.org/2004/07/"
                        "System.Collections.Generic\"/><PercentComplete>" +
                        std::to_string(percent(u, now)) + "</PercentComplete><RequestStatus>" + xml_escape(status) +
                        "</RequestStatus>" + result_url + "</GetBulkUploadStatusResponse>"));
}

Response BingAdsApi::upload_refusal(int status, const std::string& request_id, int code, const std::string& error_code,
                                    const std::string& message) {
  ++state_.upload_refusals[error_code];
  ++state_.rejected;
  nlohmann::json body = {{"TrackingId", next_tracking_id()},
                         {"RequestId", request_id},
                         {"Code", code},
                         {"ErrorCode", error_code},
                         {"Message", message}};
  Response r = json_response(status, body);
  r.headers.set("Content-Type", "application/json; charset=utf-8");
  return r;
}

Response BingAdsApi::upload(const Request& request, Time now) {
  if (request.method != "POST") {
    ++state_.rejected;
    return plain(405, "");
  }
  const std::string id(request.path_only().substr(kUploadPrefix.size()));
  auto it = state_.by_request_id.find(id);
  if (it == state_.by_request_id.end() || std::string(request.query()) != state_.uploads[it->second].upload_query)
    return upload_refusal(400, id, 3220, "BulkServiceInvalidBulkUploadUrl", "Invalid bulk upload URL.");
  Upload& u = state_.uploads[it->second];

  if (int problem = token_problem(std::string(request.headers.get("AuthenticationToken").value_or("")), now)) {
    const Code& c = problem == kTokenExpired.number ? kTokenExpired : kInvalidCredentials;
    return upload_refusal(401, id, c.number, c.name, c.message);
  }
  const std::string developer(request.headers.get("DeveloperToken").value_or(""));
  if (developer.empty() || (!options_.developer_token.empty() && developer != options_.developer_token))
    return upload_refusal(401, id, kInvalidCredentials.number, kInvalidCredentials.name, kInvalidCredentials.message);
  const auto account = request.headers.get("AccountId");
  const auto customer_account = request.headers.get("CustomerAccountId");
  const bool account_ok = (account || customer_account) && (!account || *account == u.account_id) &&
                          (!customer_account || *customer_account == u.account_id);
  if (request.headers.get("CustomerId").value_or("") != u.customer_id || !account_ok)
    return upload_refusal(401, id, kUserIsNotAuthorized.number, kUserIsNotAuthorized.name,
                          kUserIsNotAuthorized.message);
  if (u.uploaded)
    return upload_refusal(400, id, 3224, "BulkServiceUrlAlreadyUsedForUpload",
                          "The URL has already been used for file upload.");
  if (now > u.created + options_.upload_url_valid_for)
    return upload_refusal(400, id, 3226, "BulkServiceUrlExpired", "The URL has expired and cannot be used for uploads.");

  const auto ct = request.headers.get("Content-Type");
  const auto boundary = ct ? multipart_boundary(*ct) : std::nullopt;
  if (!ct || mime_type(*ct) != "multipart/form-data" || !boundary)
    return upload_refusal(400, id, 3221, "BulkServiceNoFileFound", "No file uploaded.");
  auto parts = parse_multipart(request.body, *boundary);
  if (!parts.ok() || parts->empty() || !(*parts)[0].filename)
    return upload_refusal(400, id, 3221, "BulkServiceNoFileFound", "No file uploaded.");
  if (parts->size() > 1)
    return upload_refusal(400, id, 3222, "BulkServiceMultipleFilesFound", "More than one file uploaded.");
  const MultipartPart& file = (*parts)[0];
  if (!ends_with_ci(*file.filename, ".zip"))
    return upload_refusal(400, id, 3223, "BulkServiceInvalidFileExtension", "The file extension is not recognized.");
  if (static_cast<std::int64_t>(file.content.size()) > options_.upload_bytes_max)
    return upload_refusal(413, id, 0, "FileSizeLimitExceeded",
                          "The file is " + std::to_string(file.content.size()) + " bytes, over the limit of " +
                              std::to_string(options_.upload_bytes_max) + " bytes.");

  u.uploaded = true;
  u.uploaded_at = now;
  u.upload_ordinal = ++state_.uploads_accepted;
  read_file(u, file.content);
  if (u.verdict == BingAdsApiState::Verdict::ok &&
      std::find(options_.fail_uploads.begin(), options_.fail_uploads.end(), u.upload_ordinal) !=
          options_.fail_uploads.end())
    u.verdict = BingAdsApiState::Verdict::failed;
  settle_due(state_.last_now);  // zero queued_for and processing_for settle at once
  Response r = json_response(200, {{"TrackingId", next_tracking_id()}, {"RequestId", u.request_id}});
  r.headers.set("Content-Type", "application/json; charset=utf-8");
  return r;
}

void BingAdsApi::read_file(Upload& u, const std::string& zip) const {
  using V = BingAdsApiState::Verdict;
  using K = BingAdsApiState::Kind;
  auto format = [&](int code, const std::string& error, const std::string& details) {
    u.verdict = V::format_not_supported;
    u.verdict_code = code;
    u.verdict_error = error;
    u.verdict_details = details;
    u.records.clear();
  };
  auto unsupported = [&](const std::string& details) { format(3217, "BulkServiceFormatVersionNotSupported", details); };
  ZipRead z = read_single_csv(zip);
  if (z.code != 0) return format(z.code, z.error, z.details);
  std::string_view text = z.content;
  if (starts_with(text, kBom)) text.remove_prefix(kBom.size());
  else if (options_.bom_required) return unsupported("The CSV does not start with a UTF-8 byte order mark");
  if (!valid_utf8(text)) return unsupported("The CSV is not UTF-8");

  std::size_t pos = 0;
  std::int64_t line = 1;
  std::vector<std::string> cells;
  Status s = read_record(text, pos, line, cells);
  if (!s.ok()) return unsupported("Malformed CSV: " + s.error().message);
  if (cells == kAudienceHeader) u.kind = K::customer_list;
  else if (cells == kInsertHeader) u.kind = K::conversion_insert;
  else if (cells == kUpdateHeader || cells == kDeleteHeader) u.kind = K::conversion_adjust;
  else {
    std::vector<std::string> documented = kUpdateHeader;
    documented[11] = "Adjustment Currency Code";
    if (cells != documented) return unsupported("line 1: the header is not one of the column sets this fake reads");
    u.kind = K::conversion_adjust;
  }
  u.header = cells;
  const std::size_t columns = cells.size();
  const std::size_t name_column = u.kind == K::customer_list     ? 6
                                  : u.kind == K::conversion_insert ? 5
                                                                   : 4;
  bool format_version = false;
  while (pos < text.size()) {
    const std::int64_t row_line = line;
    s = read_record(text, pos, line, cells);
    if (!s.ok()) return unsupported("Malformed CSV: " + s.error().message);
    if (cells.size() != columns)
      return unsupported("line " + std::to_string(row_line) + ": " + std::to_string(cells.size()) +
                         " cells, the header has " + std::to_string(columns));
    if (!format_version) {
      if (cells[0] != "Format Version")
        return format(3219, "BulkServiceFormatVersionRequired",
                      "line 2: the Format Version row must follow the header");
      for (std::size_t i = 1; i < columns; ++i)
        if (i != name_column && !cells[i].empty())
          return unsupported("line 2: the Format Version row has a value under " + u.header[i]);
      if (cells[name_column] != "6.0")
        return unsupported("line 2: Format Version \"" + cells[name_column] + "\" (the only supported one is 6.0)");
      format_version = true;
      continue;
    }
    if (u.kind == K::customer_list && cells[0] == "Customer List" && u.rows > 0)
      return unsupported("line " + std::to_string(row_line) + ": a second Customer List row (one list per file)");
    if (u.kind == K::customer_list && u.rows == 0 && cells[0] != "Customer List")
      return unsupported("line " + std::to_string(row_line) + ": the Customer List row must follow Format Version");
    ++u.rows;
    if (u.rows > options_.rows_max) {
      u.verdict = V::row_count_exceeded;
      u.verdict_code = 3225;
      u.verdict_error = "BulkServiceFileRowCountExceeded";
      u.records.clear();
      continue;  // count them all for the details
    }
    u.records.push_back(Record{cells, "", 0});
  }
  if (!format_version)
    return format(3219, "BulkServiceFormatVersionRequired", "The file has no Format Version row");
  if (u.verdict == V::row_count_exceeded) {
    u.verdict_details = std::to_string(u.rows) + " rows, the limit is " + std::to_string(options_.rows_max);
    return;
  }
  if (u.rows == 0)
    return unsupported(u.kind == K::customer_list ? "The file has no Customer List row"
                                                  : "The file has no Offline Conversion row");
}

void BingAdsApi::catch_up(Time now) {
  state_.last_now = std::max(state_.last_now, now);
  settle_due(state_.last_now);
}

void BingAdsApi::settle_due(Time now) {
  using V = BingAdsApiState::Verdict;
  auto done_at = [&](const Upload& u) {
    const bool processed = u.verdict == V::ok || u.verdict == V::failed;
    return u.uploaded_at + options_.queued_for + (processed ? options_.processing_for : Duration(0));
  };
  std::vector<std::size_t> due;
  for (std::size_t i = 0; i < state_.uploads.size(); ++i) {
    const Upload& u = state_.uploads[i];
    if (u.uploaded && !u.settled && done_at(u) <= now) due.push_back(i);
  }
  // In order of completion; uploads completing together in upload order.
  std::sort(due.begin(), due.end(), [&](std::size_t a, std::size_t b) {
    const Upload& x = state_.uploads[a];
    const Upload& y = state_.uploads[b];
    return done_at(x) != done_at(y) ? done_at(x) < done_at(y) : x.upload_ordinal < y.upload_ordinal;
  });
  for (std::size_t i : due) settle(state_.uploads[i]);
}

void BingAdsApi::settle(Upload& u) {
  using K = BingAdsApiState::Kind;
  u.settled = true;
  if (u.verdict == BingAdsApiState::Verdict::ok) {
    if (u.kind == K::customer_list) settle_customer_list(u);
    else settle_conversions(u);
    for (const Record& r : u.records)
      if (!r.error.empty()) {
        ++u.row_errors;
        ++state_.row_errors[r.error];
      }
  }
  // Keep only what the result file shows.
  if (u.verdict != BingAdsApiState::Verdict::ok) u.records.clear();
  else if (!u.errors_and_results) std::erase_if(u.records, [](const Record& r) { return r.error.empty(); });
  u.records.shrink_to_fit();
}

namespace {

// Counts of the non-empty Client Id cells among `records` (column `col`).
std::map<std::string, int> client_id_counts(const std::vector<BingAdsApiState::Record>& records, std::size_t col) {
  std::map<std::string, int> counts;
  for (const auto& r : records)
    if (!r.cells[col].empty()) ++counts[r.cells[col]];
  return counts;
}

void set_error(BingAdsApiState::Record& r, const char* name, int number) {
  r.error = name;
  r.error_number = number;
}

}  // namespace

void BingAdsApi::settle_customer_list(Upload& u) {
  // Audience columns: Type 0, Status 1, Id 2, Parent Id 3, Client Id 4, …, Action Type 10, Sub Type 11, Text 12.
  Record& list = u.records[0];
  const std::string id = list.cells[2];
  const std::string action = list.cells[10];
  const auto counts = client_id_counts(u.records, 4);
  const std::int64_t n = positive_number(id);
  if (n == 0 || (!options_.audience_ids.empty() &&
                 std::find(options_.audience_ids.begin(), options_.audience_ids.end(), n) == options_.audience_ids.end()))
    set_error(list, "InvalidAudienceId", 4835);
  else if (action != "Add" && action != "Remove" && action != "Replace")
    set_error(list, "InvalidCustomerListActionType", 8001);
  else if (utf8_length(list.cells[4]) > kClientIdMax)
    set_error(list, "ClientIdTooLong", 9902);
  else if (!list.cells[4].empty() && counts.at(list.cells[4]) > 1)
    set_error(list, "DuplicateClientId", 9903);
  const bool list_ok = list.error.empty();
  for (std::size_t i = 1; i < u.records.size(); ++i) {
    Record& r = u.records[i];
    const std::string& client = r.cells[4];
    if (r.cells[0] != "Customer List Item") set_error(r, "BulkServiceUnknownTypeForRow", 4203);
    else if (!list_ok || r.cells[3] != id) set_error(r, "InvalidCustomerListId", 8000);
    else if (client.empty()) set_error(r, "ClientIdNullOrEmpty", 9901);
    else if (utf8_length(client) > kClientIdMax) set_error(r, "ClientIdTooLong", 9902);
    else if (counts.at(client) > 1) set_error(r, "DuplicateClientId", 9903);
    else if (r.cells[11] != "Email") set_error(r, "CustomerListItemSubTypeNotSupported", 8002);
    else if (!lower_hex(r.cells[12], 64)) set_error(r, "EmailMustBeHashed", 8004);
  }
  if (!list_ok) return;
  std::set<std::string>& members = state_.audiences[id];
  if (action == "Replace") members.clear();
  for (std::size_t i = 1; i < u.records.size(); ++i) {
    const Record& r = u.records[i];
    if (!r.error.empty()) continue;
    if (action == "Remove") members.erase(r.cells[12]);
    else members.insert(r.cells[12]);
    ledger_.add("bingads.customer_list_item",
                content_hash_of_dump(nlohmann::json{{"audience", id}, {"action", action}, {"hash", r.cells[12]}}));
    ++u.applied;
    ++state_.applications;
  }
}

void BingAdsApi::settle_conversions(Upload& u) {
  const bool insert = u.kind == BingAdsApiState::Kind::conversion_insert;
  auto column = [&](std::string_view name) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < u.header.size(); ++i)
      if (u.header[i] == name) return i;
    return std::nullopt;
  };
  const std::optional<std::size_t> currency_col =
      insert ? column("Conversion Currency Code")
             : (column("Adjusted Currency Code") ? column("Adjusted Currency Code") : column("Adjustment Currency Code"));
  const std::size_t client_col = *column("Client Id");
  const auto counts = client_id_counts(u.records, client_col);
  const std::int64_t upload_s = floor_div(unix_ms(u.uploaded_at), 1000);
  static const std::string kEmpty;

  for (Record& r : u.records) {
    auto cell = [&](std::string_view name) -> const std::string& {
      auto i = column(name);
      return i ? r.cells[*i] : kEmpty;
    };
    const std::string& client = r.cells[client_col];
    const std::string& goal = cell("Conversion Name");
    const std::string& click = cell("Microsoft Click Id");
    const std::string& email = cell("Hashed Email Address");
    const std::string& phone = cell("Hashed Phone Number");
    const std::string& adjustment = cell("Adjustment Type");
    const std::optional<std::int64_t> time = parse_time(cell("Conversion Time"));
    const std::optional<std::int64_t> adjusted = parse_time(cell("Adjustment Time"));
    const std::string& currency_cell = currency_col ? r.cells[*currency_col] : kEmpty;
    const bool restate = adjustment == "Restate";

    if (r.cells[0] != "Offline Conversion") set_error(r, "BulkServiceUnknownTypeForRow", 4203);
    else if (utf8_length(client) > kClientIdMax) set_error(r, "ClientIdTooLong", 9902);
    else if (!client.empty() && counts.at(client) > 1) set_error(r, "DuplicateClientId", 9903);
    else if (goal.empty()) set_error(r, "OfflineConversionNameNullOrEmpty", 5605);
    else if (!options_.conversion_goals.empty() &&
             std::find(options_.conversion_goals.begin(), options_.conversion_goals.end(), goal) ==
                 options_.conversion_goals.end())
      set_error(r, "OfflineConversionNameInvalid", 5606);
    else if (cell("Conversion Time").empty()) set_error(r, "OfflineConversionTimeNullOrEmpty", 5608);
    else if (!time) set_error(r, "OfflineConversionTimeInvalid", 5607);
    else if (click.empty() && email.empty() && phone.empty())
      set_error(r, "OfflineConversionMicrosoftClickIdNullOrEmpty", 5603);
    else if (!click.empty() && !lower_hex(click, 32)) set_error(r, "OfflineConversionMicrosoftClickIdInvalid", 5604);
    else if (!email.empty() && !lower_hex(email, 64)) set_error(r, "EmailMustBeHashed", 8004);
    else if (!phone.empty() && !lower_hex(phone, 64)) set_error(r, "PhoneNumberMustBeHashed", 9904);
    else if (insert) {
      if (*time > upload_s) set_error(r, "FutureConversionTimeCannotBeSet", 5614);
      else if (*time < upload_s - kWindowS) set_error(r, "OfflineConversionTimeOutOfWindow", 5609);
      else if (!cell("Conversion Value").empty() && !decimal(cell("Conversion Value")))
        set_error(r, "OfflineConversionValueInvalid", 5610);
      else if (!currency_cell.empty() && !currency(currency_cell))
        set_error(r, "OfflineConversionCurrencyCodeInvalid", 5611);
    } else {
      if (adjustment != "Restate" && adjustment != "Retract")
        set_error(r, "OfflineConversionInvalidAdjustmentType", 5618);
      else if (cell("Adjustment Time").empty()) set_error(r, "OfflineConversionAdjustmentTimeNullOrEmpty", 5619);
      else if (!adjusted) set_error(r, "OfflineConversionAdjustmentTimeInvalid", 5621);
      else if (*adjusted <= *time) set_error(r, "OfflineConversionAdjustmentTimeEarlierThanConversionTime", 5620);
      else if (*adjusted > upload_s) set_error(r, "OfflineConversionFutureAdjustmentTimeCannotBeSet", 5622);
      else if (*adjusted < upload_s - kWindowS) set_error(r, "OfflineConversionAdjustmentTimeOutOfWindow", 5623);
      else if (restate && cell("Adjustment Value").empty())
        set_error(r, "OfflineConversionAdjustmentValueRequired", 5625);
      else if (restate && !decimal(cell("Adjustment Value"))) set_error(r, "OfflineConversionValueInvalid", 5610);
      else if (restate && !currency_cell.empty() && !currency(currency_cell))
        set_error(r, "OfflineConversionCurrencyCodeInvalid", 5611);
      else if (!restate && !cell("Adjustment Value").empty())
        set_error(r, "OfflineConversionAdjustmentValueNotExpected", 5624);
    }
    if (!r.error.empty()) continue;

    const std::string identity = goal + '\x1f' + std::to_string(*time) + '\x1f' +
                                 (!click.empty() ? "c" + click : "e" + email + '\x1f' + phone);
    auto stored = state_.conversions.find(identity);
    if (insert && stored != state_.conversions.end()) {
      ++u.ignored;
      ++state_.duplicates_ignored;
      continue;
    }
    if (!insert && stored == state_.conversions.end()) {
      set_error(r, "BulkServiceEntityNotFound", 4202);
      continue;
    }
    if (insert) {
      state_.conversions[identity] = {cell("Conversion Value"), currency_cell, 0};
    } else if (restate) {
      stored->second.value = cell("Adjustment Value");
      if (!currency_cell.empty()) stored->second.currency = currency_cell;
      ++stored->second.restated;
      ++state_.restated;
    } else {
      state_.conversions.erase(stored);
      ++state_.retracted;
    }
    nlohmann::json row = nlohmann::json::object();
    for (std::size_t i = 0; i < u.header.size(); ++i) {
      const std::string& name = u.header[i];
      if (name == "Type" || name == "Status" || name == "Id" || name == "Parent Id" || name == "Client Id") continue;
      if (!r.cells[i].empty()) row[name] = r.cells[i];
    }
    ledger_.add("bingads.offline_conversion",
                content_hash_of_dump(nlohmann::json{{"action", insert ? "insert" : restate ? "restate" : "retract"},
                                                    {"row", row}}));
    ++u.applied;
    ++state_.applications;
  }
}

std::string BingAdsApi::result_csv(const Upload& u) const {
  std::vector<int> to_result(u.header.size(), -1);
  for (std::size_t i = 0; i < u.header.size(); ++i) {
    const std::string name = u.header[i] == "Adjusted Currency Code" ? "Adjustment Currency Code" : u.header[i];
    for (std::size_t j = 0; j < kResultHeader.size(); ++j)
      if (kResultHeader[j] == name) to_result[i] = static_cast<int>(j);
  }
  auto index = [](std::string_view name) {
    return static_cast<std::size_t>(std::find(kResultHeader.begin(), kResultHeader.end(), name) - kResultHeader.begin());
  };
  std::string out(kBom);
  append_csv_line(out, kResultHeader);
  std::vector<std::string> row(kResultHeader.size());
  row[index("Type")] = "Format Version";
  row[index("Name")] = "6.0";
  append_csv_line(out, row);
  for (const Record& r : u.records) {
    std::fill(row.begin(), row.end(), std::string());
    for (std::size_t i = 0; i < r.cells.size(); ++i) {
      if (to_result[i] < 0) continue;
      std::string cell = r.cells[i];
      if (u.header[i] == "Conversion Time" || u.header[i] == "Adjustment Time")
        if (auto t = parse_time(cell)) cell = render_time(*t);
      row[static_cast<std::size_t>(to_result[i])] = cell;
    }
    append_csv_line(out, row);
    if (r.error.empty()) continue;
    row[index("Type")] += " Error";
    row[index("Error")] = r.error;
    row[index("Error Number")] = std::to_string(r.error_number);
    append_csv_line(out, row);
  }
  return out;
}

Response BingAdsApi::download(const Request& request, Time now) {
  const std::string tracking = guid("azure", static_cast<std::uint64_t>(state_.result_downloads + state_.result_refusals + 1));
  auto azure = [&](int status, const std::string& code, const std::string& message, const std::string& detail) {
    ++state_.result_refusals;
    ++state_.rejected;
    std::string body = "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>" + code + "</Code><Message>" +
                       xml_escape(message) + "\nRequestId:" + tracking + "\nTime:" + iso_seconds(unix_ms(now)) +
                       "</Message>";
    if (!detail.empty()) body += "<AuthenticationErrorDetail>" + xml_escape(detail) + "</AuthenticationErrorDetail>";
    body += "</Error>";
    Response r = xml_response(status, body, "application/xml");
    r.headers.set("x-ms-error-code", code);
    r.headers.set("x-ms-request-id", tracking);
    return r;
  };
  if (request.method != "GET")
    return azure(405, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.", "");
  const std::string_view path = request.path_only();
  // /bulkuploadresultfiles/BulkUpload-MM-DD-YYYY-<RequestId>-Results.zip
  const std::string_view prefix = "BulkUpload-MM-DD-YYYY-";
  std::string_view name = path.substr(kResultPrefix.size());
  const Upload* found = nullptr;
  if (name.size() > prefix.size() + 12) {
    const std::string id(name.substr(prefix.size(), name.size() - prefix.size() - 12));
    auto it = state_.by_request_id.find(id);
    if (it != state_.by_request_id.end() && result_blob_path(state_.uploads[it->second]) == path &&
        !state_.uploads[it->second].urls.empty())
      found = &state_.uploads[it->second];
  }
  if (!found) return azure(404, "BlobNotFound", "The specified blob does not exist.", "");
  const std::string query(request.query());
  const BingAdsApiState::IssuedUrl* issued = nullptr;
  for (const auto& url : found->urls)
    if (url.query == query) issued = &url;
  if (!issued)
    return azure(403, "AuthenticationFailed",
                 "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
                 "correctly including the signature.",
                 "Signature did not match. String to sign used was r");
  if (now > issued->expires) {
    const std::int64_t expiry_ms = unix_ms(issued->expires);
    return azure(403, "AuthenticationFailed",
                 "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
                 "correctly including the signature.",
                 "Signature not valid in the specified time frame: Start [" +
                     format_http_date(expiry_ms - std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      options_.result_url_valid_for)
                                                      .count()) +
                     "] - Expiry [" + format_http_date(expiry_ms) + "] - Current [" +
                     format_http_date(unix_ms(now)) + "]");
  }
  ++state_.result_downloads;
  const Time done = found->uploaded_at + options_.queued_for + options_.processing_for;
  const std::string entry = std::string(name.substr(0, name.size() - 4)) + ".csv";
  Response r;
  r.status = 200;
  r.headers.set("Content-Type", "application/octet-stream");
  r.headers.set("x-ms-blob-type", "BlockBlob");
  r.body = zip_one(entry, result_csv(*found), floor_div(unix_ms(done), 1000));
  return r;
}

nlohmann::json BingAdsApi::accepted() const {
  using K = BingAdsApiState::Kind;
  nlohmann::json uploads = nlohmann::json::array();
  for (const Upload& u : state_.uploads) {
    const Phase ph = phase(u, state_.last_now);
    nlohmann::json kind = nullptr;
    if (u.kind == K::customer_list) kind = "customer_list";
    else if (u.kind != K::none) kind = "offline_conversion";
    uploads.push_back({{"request_id", u.request_id},
                       {"account_id", u.account_id},
                       {"response_mode", u.errors_and_results ? "ErrorsAndResults" : "ErrorsOnly"},
                       {"status", kPhaseNames[static_cast<int>(ph)]},
                       {"percent_complete", percent(u, state_.last_now)},
                       {"url_expired", !u.uploaded && state_.last_now > u.created + options_.upload_url_valid_for},
                       {"kind", kind},
                       {"rows", u.rows},
                       {"row_errors", u.row_errors},
                       {"applied", u.applied},
                       {"duplicates_ignored", u.ignored}});
  }
  nlohmann::json faults = nlohmann::json::object();
  for (const char* name : kFaultNames) faults[name] = 0;
  for (const auto& [k, v] : state_.faults) faults[k] = v;
  nlohmann::json audiences = nlohmann::json::object();
  for (std::int64_t id : options_.audience_ids) audiences[std::to_string(id)] = 0;
  for (const auto& [id, members] : state_.audiences) audiences[id] = members.size();
  return {{"requests", state_.requests},
          {"soap_calls", state_.soap_calls},
          {"rejected", state_.rejected},
          {"faults", faults},
          {"upload_refusals", state_.upload_refusals},
          {"uploads", uploads},
          {"audiences", audiences},
          {"conversions",
           {{"stored", state_.conversions.size()},
            {"restated", state_.restated},
            {"retracted", state_.retracted},
            {"duplicates_ignored", state_.duplicates_ignored}}},
          {"applications", state_.applications},
          {"distinct_applications", ledger_.distinct()},
          {"row_errors", state_.row_errors},
          {"result_downloads", state_.result_downloads},
          {"result_refusals", state_.result_refusals}};
}

Status BingAdsApi::control(const JsonIn& op, Time now) {
  DS_TRY(std::string which, control_key(op, {"set_token", "expire_token", "request"}));
  if (which == "set_token") {
    DS_TRY(std::string t, op.at(which).string());
    // An empty token would make every token good (the option's "empty: any").
    if (t.empty()) return op.at(which).expected("a non-empty token");
    // The token before is retired; with no `token` option, every token that authenticated.
    if (!options_.token.empty()) state_.retired_tokens.insert(options_.token);
    state_.retired_tokens.insert(state_.presented_tokens.begin(), state_.presented_tokens.end());
    state_.presented_tokens.clear();
    state_.retired_tokens.erase(t);
    options_.token = std::move(t);
    state_.token_expired = false;
    state_.token_used = false;
    return Status::success();
  }
  if (which == "expire_token") {
    DS_TRY(bool yes, op.at(which).boolean());
    if (!yes) return op.at(which).expected("true");
    state_.token_expired = true;
    return Status::success();
  }
  return FakeApi::control(op, now);
}

}  // namespace destsim
