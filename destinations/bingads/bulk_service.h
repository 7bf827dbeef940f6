// bulk_service.h — the Microsoft Advertising Bulk Service v13 client both Bing
// Ads destinations share (APIS.md §5): a SOAP GetBulkUploadUrl per file, the
// file (a .zip holding one CSV with a UTF-8 BOM) posted to the UploadUrl, the
// request ids polled with GetBulkUploadStatus, the result file read back and
// its rows mapped to jobs by Client Id.
//
// A destination describes its files (`FileKind`: the columns, the Format
// Version row, rows every file starts with) and turns a record into a kind
// and a row; the manager does the rest:
//   - upload: the items of one upload are grouped by kind, in the kinds'
//     order, one file per kind (≤ 3 per upload). Each file: GetBulkUploadUrl
//     (ResponseMode ErrorsAndResults: every row is echoed in the result file,
//     so a row the file does not mention is never taken as delivered), then
//     the POST. An UploadUrl that expired (3226) is replaced by a fresh one; a
//     POST whose answer was lost is posted again to the same URL — the
//     service refuses a second file for a request id (3224), which then says
//     the first was taken — so a file is never applied twice and never lost.
//     The files' request ids, joined by ",", are the import id; which jobs
//     went in which file, and in which row, is in the import's params.
//   - poll: GetBulkUploadStatus of every request id. FileUploaded, InProgress
//     and PendingFileUpload are running; the import is done when every file
//     is Completed, CompletedWithErrors, Failed, UploadFileRowCountExceeded or
//     UploadFileFormatNotSupported. Any other status is a poll fault (D3):
//     never taken for done, ended by poll_timeout.
//   - results: a fresh GetBulkUploadStatus per file (a ResultFileUrl is valid
//     5 minutes; one that expired — 403 — is replaced by asking again), the
//     zip downloaded and its CSV read by column name. A row echoed without an
//     error row is ok; an error row (Type "… Error") fails its job with the
//     service's Error and Error Number; a row the file does not name is
//     retried with its outcome unknown. A Failed file applied nothing: its
//     jobs are uploaded again. A file refused for its format or row count
//     fails its jobs.
//   - errors: SOAP faults (HTTP 500, AdApiError / OperationError codes) are
//     retried: CallRateExceeded holds every request until the next minute;
//     AuthenticationTokenExpired, InvalidCredentials and InternalError retry
//     with the service's code in the reason. The upload door's 401 (a token or
//     account the service refuses) fails the file's jobs; its 5xx/429 and
//     transport errors retry them; a Retry-After holds every request (I1).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "destinations/destination.h"
#include "framework/bulk.h"

namespace destsim::bingads {

constexpr const char* kSoapHost = "bulk.api.bingads.microsoft.com";
constexpr const char* kServicePath = "/Api/Advertiser/CampaignManagement/v13/BulkService.svc";
constexpr const char* kNamespace = "https://bingads.microsoft.com/CampaignManagement/v13";
constexpr std::int64_t kUploadBytesMax = 100'000'000;  // a 100 MB upload (the zip; we count the CSV)

/// One kind of file: its columns, its Format Version row, the rows every file
/// of the kind starts with after it (the audience's Customer List row).
struct FileKind {
  std::string name;  // "Add", "insert" …: in reasons and params
  std::vector<std::string> header;
  std::vector<std::string> format_row;
  std::vector<std::vector<std::string>> preamble;
  std::size_t client_id_column = 0;  // where the row's Client Id goes
};

/// A record as a row: which kind of file it goes in and its cells (the Client
/// Id cell is filled by the manager: the job id).
struct Row {
  std::size_t kind = 0;
  std::vector<std::string> cells;
};

struct Settings {
  std::string destination;  // the destination's name
  std::string host = kSoapHost;
  std::string access_token, developer_token;
  std::string customer_id, account_id;
  std::vector<FileKind> kinds;
  /// The row of a record at `now_unix_s` (a conversion may not lie in the future).
  std::function<Result<Row>(const Record&, std::int64_t now_unix_s)> row_of;
  std::int64_t records_max = 1'000;
  std::int64_t file_bytes_max = kUploadBytesMax;
  std::int64_t requests_per_second = 10;
};

/// A Bing Ads destination's schema: the credentials, host and pacing every
/// one takes, then `own` (its own keys), records_max (default
/// `records_default`, documented `records_doc`), file_bytes_max and the bulk
/// path's keys with Bing's defaults.
std::vector<ConfigKey> schema(std::vector<ConfigKey> own, std::int64_t records_default, const char* records_doc);
/// Reads the common keys, records_max and file_bytes_max into `s` (kinds and
/// row_of are the destination's).
Status read_common(const Config& config, Settings& s);

/// An entry on the Bulk Service (the fake `bingads`, the SOAP host, the
/// declared capabilities, make from `settings_from`, the fake's options from
/// the credentials, a certify config of test credentials); the destination
/// adds effects and generate, and its own fake options and certify keys.
DestinationEntry entry(std::string name, std::string about, std::vector<ConfigKey> schema,
                       Result<Settings> (*settings_from)(const Config&));

/// The manager over `ctx`.
std::unique_ptr<AsyncDestinationManager> make_manager(DeliveryContext& ctx, Settings s);

/// SHA-256 of `text` as 64 lowercase hex characters.
std::string sha256_hex(std::string_view text);
/// Whether `s` is 64 lowercase hex characters (a SHA-256 the service takes).
bool sha256_shaped(std::string_view s);

/// The Bing Ads CSV time layout, "1/2/2006 3:04:05 PM" (UTC), of unix seconds.
std::string bing_time(std::int64_t unix_s);
/// Reads a time a record carries: unix seconds (an integer) or an ISO-8601
/// UTC instant ("2024-01-01T10:00:00Z"); into unix seconds, or an error
/// naming `field`.
Result<std::int64_t> record_time(const nlohmann::json& value, const std::string& field);

/// Helpers for the destinations' tests: the zip a file is posted as, and the
/// one entry read back from a zip (name, content).
std::string zip_file(const std::string& entry, const std::string& content, std::int64_t unix_s);
Result<std::pair<std::string, std::string>> unzip_one(const std::string& zip, std::int64_t bytes_max);

}  // namespace destsim::bingads
