// bingads_api.h — a stateful fake of Microsoft Advertising's Bulk Service v13
// (APIS.md §5): bulk uploads of customer-match lists (Customer List /
// Customer List Item records) and offline conversions (insert, Restate,
// Retract), stricter than the real API.
//
// Sources. [SDK] rudderlabs/bing-ads-go-sdk bingads/{base,client,bulk,errors}.go;
// [RS] rudder-server router/batchrouter/asyncdestinationmanager/bing-ads/
// {audience,offline-conversions}/{types,util,bulk_uploader}.go and testdata/;
// [MS] MicrosoftDocs/Advertising-docs bingads-13/ (bulk-service/getbulkuploadurl,
// getbulkuploadstatus, customer-list, customer-list-item, offline-conversion,
// format-version, adapierror, operationerror; guides/bulk-download-upload,
// handle-service-errors-exceptions, services-protocol, operation-error-codes,
// currencies). Anything marked UNCONFIRMED is this fake's strict reading.
//
// ── Three doors, one fake ────────────────────────────────────────────────────
// Hosts: the SOAP service `bulk.api.bingads.microsoft.com`; uploads on the
// host of option `upload_base_url` (https://fileupload.api.bingads.microsoft.com);
// result files on the host of `result_base_url`
// (https://bingadsappsstorageprod.blob.core.windows.net). extra_hosts() names
// the last two. The upload path is answered only on the upload host, the
// result path only on the result host, the SOAP path on any host but those two
// — anywhere when both base URLs name one host (under `destsim serve`, point
// both at the door: "http://127.0.0.1:<port>"); else 404. The three path
// families are distinct. Clients must treat UploadUrl and ResultFileUrl as
// opaque ([MS]: "You should not take a dependency on the domain of the
// download URL").
//
// ── SOAP 1.1: POST /Api/Advertiser/CampaignManagement/v13/BulkService.svc ────
// Another method is 405, another path 404 (empty bodies). `Content-Type` must
// be `text/xml` with `charset=utf-8` (any case, [SDK] sends exactly
// "text/xml; charset=utf-8"), else 415 (WCF's answer). `SOAPAction` names the
// operation, bare or in double quotes ([SDK] sends it bare): GetBulkUploadUrl
// or GetBulkUploadStatus; missing or other → 500 fault, faultcode
// `a:ActionNotSupported`, no detail. The request [SDK base.go, MS templates]:
//   <s:Envelope xmlns:i="http://www.w3.org/2001/XMLSchema-instance"
//               xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
//     <s:Header xmlns="https://bingads.microsoft.com/CampaignManagement/v13">
//       <Action mustUnderstand="1">GetBulkUploadUrl</Action>
//       <AuthenticationToken>…</AuthenticationToken>
//       <CustomerAccountId>…</CustomerAccountId>
//       <CustomerId>…</CustomerId>
//       <DeveloperToken>…</DeveloperToken>
//     </s:Header>
//     <s:Body>
//       <GetBulkUploadUrlRequest xmlns="https://bingads.microsoft.com/CampaignManagement/v13">
//         <ResponseMode>ErrorsOnly|ErrorsAndResults</ResponseMode>
//         <AccountId>123</AccountId>
//       </GetBulkUploadUrlRequest>            (or <GetBulkUploadStatusRequest …>
//     </s:Body>                                   <RequestId>…</RequestId> …)
//   </s:Envelope>
// Parsed strictly (pugixml for well-formedness; namespaces, entities and
// structure checked here): one UTF-8 document (BOM allowed; an XML
// declaration must say UTF-8), no DOCTYPE, no processing instruction, no
// duplicate attribute, no unbound prefix, no entity but the five XML ones and
// character references. Envelope (SOAP 1.1 namespace) holds Header then Body,
// nothing else; Header holds elements of the v13 namespace, each at most once:
// Action (optional; when present it must equal SOAPAction), AuthenticationToken,
// CustomerAccountId, CustomerId, DeveloperToken, Password and UserName
// (reserved [MS]; ignored). Body holds exactly `<SOAPAction>Request` in the
// v13 namespace, whose children are v13 elements: GetBulkUploadUrlRequest
// {ResponseMode, AccountId}, GetBulkUploadStatusRequest {RequestId}; an
// unknown or repeated child, element content in a leaf, text in a container,
// an attribute other than xmlns*, `i:nil` ("true"/"false"; "true" = absent) or
// Action's `mustUnderstand` → HTTP 400 fault, faultcode `s:Client`, faultstring
// naming the problem, no detail (UNCONFIRMED: WCF answers a:DeserializationFailed).
// Element order: [MS] documents ResponseMode before AccountId ("the elements
// must be in the same order"), [SDK] sends AccountId first and works in
// production: both orders are accepted, but a ResponseMode after AccountId is
// ignored (ErrorsOnly), as WCF's ordered reading skips it (UNCONFIRMED).
// ResponseMode absent → ErrorsOnly; a value other than the two → 400 fault.
// AccountId: an xs:long (optional sign, leading zeros, spaces around allowed;
// within 64 bits); other text → 400 fault.
//
// Success: HTTP 200, Content-Type text/xml; charset=utf-8:
//   <s:Envelope xmlns:s="…/soap/envelope/">
//     <s:Header xmlns="https://bingads.microsoft.com/CampaignManagement/v13">
//       <TrackingId d3p1:nil="false" xmlns:d3p1="…XMLSchema-instance">GUID</TrackingId></s:Header>
//     <s:Body><GetBulkUploadUrlResponse xmlns="…/CampaignManagement/v13">
//       <RequestId>GUID</RequestId><UploadUrl>URL (&amp; escaped)</UploadUrl>
//     </GetBulkUploadUrlResponse></s:Body></s:Envelope>
// GetBulkUploadStatusResponse (xmlns v13, xmlns:i XSI) holds, in order:
//   Errors (i:nil="true", or OperationError {Code, Details, ErrorCode, Message}
//   for UploadFileFormatNotSupported / UploadFileRowCountExceeded / Failed),
//   ForwardCompatibilityMap (empty), PercentComplete (0–100), RequestStatus,
//   ResultFileUrl (i:nil="true" unless Completed or CompletedWithErrors).
//
// Faults: HTTP 500 (SOAP 1.1), faultcode s:Server, faultstring "Invalid client
// data. Check the SOAP fault details for more information. TrackingId: <id>.",
//   detail/AdApiFaultDetail (xmlns https://adapi.microsoft.com) {TrackingId,
//     Errors/AdApiError {Code, Detail (i:nil), ErrorCode, Message}} for
//     credentials, throttling and internal errors;
//   detail/ApiFaultDetail (xmlns v13) {TrackingId (adapi ns), BatchErrors (empty),
//     OperationErrors/OperationError {Code, Details (i:nil), ErrorCode, Message}}
//     for a bad account or request id (the wrapper per error is UNCONFIRMED;
//     [SDK] reads both: `Errors` and `OperationErrors` under detail's element).
// Codes are [MS] operation-error-codes. Checks in order (a refused call
// changes no state):
//   0. the SOAP call's 1-based ordinal (every POST to the service path) is in
//      `internal_error_calls` → AdApi 0 InternalError;
//   1. Content-Type, SOAPAction, XML (above);
//   2. AuthenticationToken missing or empty → AdApi 105 InvalidCredentials;
//      a token retired by set_token, or any token after expire_token → AdApi
//      109 AuthenticationTokenExpired, until set_token; else a token other
//      than `token` (when set) → 105; the accepted token once `token_lifetime`
//      passed since the first call that presented it → 109, until set_token;
//      DeveloperToken missing/empty or not `developer_token` (when set) → 105;
//      CustomerId or CustomerAccountId missing/empty → AdApi 116
//      RequestMissingHeaders (UNCONFIRMED; [MS]: "always set it"); CustomerId
//      not `customer_id` (when set) → AdApi 106 UserIsNotAuthorized;
//   3. `calls_per_minute` (0 = off) per fixed 60-second window of loop time,
//      counting calls that passed 2 → AdApi 117 CallRateExceeded;
//   4. GetBulkUploadUrl: AccountId not a positive integer, not equal to the
//      CustomerAccountId header ([MS]: "must have the same value"), or not in
//      `account_ids` (when set) → Api 1102 CampaignServiceInvalidAccountId.
//      Else a RequestId (a GUID, `…-<12 hex of the ordinal>`) valid
//      `upload_url_valid_for` (15m [MS]) until its file is uploaded, and
//        UploadUrl = <upload_base_url>/Api/Advertiser/CampaignManagement/v13/FileUpload/File/UploadBulkFile/<RequestId>?Ver=13&AccountId=<AccountId>
//      (the shape is this fake's; UNCONFIRMED);
//      GetBulkUploadStatus: RequestId missing, unknown, or issued to another
//      CustomerId or CustomerAccountId ([MS]: "use the same user credentials
//      throughout") → Api 4201 BulkServiceInvalidRequestId.
//
// ── The upload: POST <UploadUrl> ─────────────────────────────────────────────
// Headers AuthenticationToken, DeveloperToken, CustomerId and AccountId
// ([SDK] bulk.go, [MS] example; `CustomerAccountId` accepted in its place, and
// both must agree). Answers: 200 application/json {"TrackingId","RequestId"};
// a refusal is {"TrackingId","RequestId","Code","ErrorCode","Message"} ([MS]
// bulk-download-upload's example) and stores nothing, the URL staying usable:
//   405 another method (empty body); 400 3220 BulkServiceInvalidBulkUploadUrl: an unknown
//   RequestId in the path, or a query other than the one issued;
//   401 105/109 token or developer token as for SOAP calls (not counted toward
//   calls_per_minute); 401 106 UserIsNotAuthorized: CustomerId or AccountId
//   missing or not those of GetBulkUploadUrl (UNCONFIRMED);
//   400 3224 BulkServiceUrlAlreadyUsedForUpload: a file was already accepted;
//   400 3226 BulkServiceUrlExpired: more than upload_url_valid_for after
//   GetBulkUploadUrl (the RequestId then stays PendingFileUpload for ever —
//   UNCONFIRMED; a client must give up on it itself);
//   400 3221 BulkServiceNoFileFound: not multipart/form-data, malformed
//   (framework/multipart.h's strict reader), or no part with a filename;
//   400 3222 BulkServiceMultipleFilesFound: more than one part;
//   400 3223 BulkServiceInvalidFileExtension: the filename does not end ".zip"
//   (any case; stricter than [MS], which also takes plain .csv);
//   413 FileSizeLimitExceeded (code 0, this fake's): the part over
//   `upload_bytes_max` (100 MiB, [MS] "100MB", [RS] 100*bytesize.MB).
// The part's name may be anything non-empty. NOTE: [SDK]'s CreateFormFile("", …)
// sends name="", which framework/multipart.h refuses (→ 3221): stricter than
// the real service.
//
// The accepted file is read at once (libzip): it must be a ZIP ([MS] "properly
// structured, including an end of central directory record") of exactly one
// entry named *.csv (any case), ≤ 1 GiB uncompressed; the CSV must start with
// a UTF-8 BOM ([MS] "UTF-8 files must include the byte order mark"; option
// `bom_required`, true), be UTF-8, RFC 4180 (LF or CRLF; a quote only around a
// whole cell), every record with the header's cell count; the header exactly
// one of the column sets below; the second record the Format Version row —
// Type "Format Version", Name "6.0", every other cell empty ([MS] "the only
// supported format version is 6.0"). Any of these failing ends the request
// `UploadFileFormatNotSupported` (PercentComplete 0; Errors one OperationError:
// 3219 BulkServiceFormatVersionRequired when the Format Version row is missing,
// 3221/3222 for a ZIP with no/several entries, 3223 when not a ZIP or the entry
// is not .csv, else 3217 BulkServiceFormatVersionNotSupported; Details says
// what — codes UNCONFIRMED). More entity rows (records after the Format Version
// row) than `rows_max` (4,000,000, [MS]) ends it `UploadFileRowCountExceeded`
// (Errors 3225 BulkServiceFileRowCountExceeded).
//
// ── CSV column sets (exactly, in order; [RS] CreateActionFileTemplate) ───────
// Customer list (audience):
//   Type,Status,Id,Parent Id,Client Id,Modified Time,Name,Description,Scope,Audience,Action Type,Sub Type,Text
//   Format Version,,,,,,6.0,,,,,,
//   Customer List,,<audienceId>,,,,,,,,<Add|Remove|Replace>,,
//   Customer List Item,,,<audienceId>,<clientId>,,,,,,,Email,<sha256 hex>
// Offline conversions, insert:
//   Type,Status,Id,Parent Id,Client Id,Name,Conversion Currency Code,Conversion Name,Conversion Time,Conversion Value,Microsoft Click Id,Hashed Email Address,Hashed Phone Number,External Attribution Credit,External Attribution Model
//   Format Version,,,,,6.0,,,,,,,,,
//   Offline Conversion,,<id>,,<clientId>,,USD,<goal>,<time>,<value>,<msclkid>,<sha256>,<sha256>,,
// update (rows Adjustment Type "Restate"):
//   Type,Adjustment Type,Client Id,Id,Name,Conversion Name,Conversion Time,Adjustment Value,Microsoft Click Id,Hashed Email Address,Hashed Phone Number,Adjusted Currency Code,Adjustment Time
//   ("Adjusted Currency Code" as [RS] writes it; [MS] and the real result file
//   call it "Adjustment Currency Code", also accepted in its place)
// delete (rows Adjustment Type "Retract"):
//   Type,Adjustment Type,Client Id,Id,Name,Conversion Name,Conversion Time,Microsoft Click Id,Hashed Email Address,Hashed Phone Number,Adjustment Time
// The Format Version row has "6.0" under Name and nothing else. Either
// adjustment set takes Restate and Retract rows.
//
// ── Lifecycle (lazy, from `now`; no timers) ─────────────────────────────────
// PendingFileUpload (0%) until the upload; FileUploaded (0%) for `queued_for`
// (10s); a format or row-count failure then ends at once; else InProgress for
// `processing_for` (1m), PercentComplete floor(100·elapsed/processing_for) ≤ 99;
// then Completed (100%, no row error), CompletedWithErrors (100%, some rows
// errored — even all: the valid ones are applied) or Failed (0%, [MS] "the
// percent complete will reset to zero"; the upload's 1-based ordinal among
// accepted uploads is in `fail_uploads`; nothing applied; Errors 0
// InternalError). Uploads settle — rows validated against the state then,
// applied, the ledger counted — at their terminal moment, in order, at the
// start of every request and in catch_up. `status_values` renames the eight
// documented statuses on the wire only (hostile variants).
//
// ── Result file ─────────────────────────────────────────────────────────────
// Completed and CompletedWithErrors answer a ResultFileUrl, a fresh one at
// every GetBulkUploadStatus ([MS]: "call GetBulkUploadStatus again to get a new
// URL"), each valid `result_url_valid_for` (5m [MS]) from the call that issued it:
//   <result_base_url>/bulkuploadresultfiles/BulkUpload-MM-DD-YYYY-<RequestId>-Results.zip?sv=2023-11-03&st=<issued>&se=<expiry>&sr=b&sp=r&sig=<32 hex>
// (MM-DD-YYYY the UTC date of GetBulkUploadUrl; times as 2024-01-01T00%3A05%3A00Z;
// sig 32 lowercase hex; UNCONFIRMED shape, modelled on Azure SAS).
// GET it → 200 application/octet-stream: a ZIP (written by libzip, the entry
// dated the upload's terminal moment) holding BulkUpload-MM-DD-YYYY-<RequestId>-Results.csv:
// a UTF-8 BOM, CRLF lines, the header
//   Type,Status,Id,Parent Id,Sub Type,Client Id,Modified Time,Text,Name,Error,Error Number,Audience,Scope,Description,Microsoft Click Id,Conversion Name,Conversion Value,Conversion Time,Conversion Currency Code,Adjustment Value,Adjustment Time,Adjustment Currency Code,Adjustment Type,External Attribution Credit,External Attribution Model,Hashed Phone Number,Hashed Email Address,Action Type
// (a subset of the real 474 columns, in their real relative order — NOT the
// upload's order: read columns by name), the row "Format Version … Name 6.0",
// then per upload record in file order — every record with ErrorsAndResults,
// only the errored ones with ErrorsOnly (as the real file in [RS] testdata) —
// the record echoed (its cells under their columns; Conversion Time and
// Adjustment Time that parsed re-rendered as the real file does,
// "4/18/2024 9:29:59\u202FAM" with U+202F before AM/PM) and, when it
// errored, a row of Type "<Type> Error" ("Customer List Error", "Customer List
// Item Error", "Offline Conversion Error") with the same cells plus Error and
// Error Number. One error per record (the first failing rule below). The
// Client Id and Id cells come back as uploaded ([RS] audience reads Client Id,
// offline conversions read Id). Refusals (Azure XML <Error><Code>…</Code>
// <Message>…</Message>[<AuthenticationErrorDetail>…]</Error>,
// application/xml, header x-ms-error-code): a sig not issued for that blob, or
// any other query change → 403 AuthenticationFailed; a URL past its expiry →
// 403 AuthenticationFailed "Signature not valid in the specified time frame";
// an unknown blob → 404 BlobNotFound; a method other than GET → 405
// UnsupportedHttpVerb.
//
// ── Row rules (first failing rule is the record's error; codes [MS] unless
// marked "fake", which are this fake's own, Error Number 99xx) ────────────────
// Every file: Client Id over 100 characters → ClientIdTooLong 9902 (fake;
// [MS] "up to 100 in length"); a non-empty Client Id shared by several data
// records → every one of them DuplicateClientId 9903 (fake).
// Customer list: the first entity record must be the one `Customer List` row
// (another anywhere is a format failure). Its Id must be a positive integer
// (no leading zero) in `audience_ids` (empty: any) else Customer List Error
// InvalidAudienceId 4835; Action Type exactly Add, Remove or Replace else
// InvalidCustomerListActionType 8001. Items (`Customer List Item`; another
// Type → BulkServiceUnknownTypeForRow 4203): when the list row errored →
// InvalidCustomerListId 8000 (as [RS] testdata's real file); Parent Id ≠ the
// list's Id → 8000; Client Id empty → ClientIdNullOrEmpty 9901 (fake; strict:
// results are matched by it); too long / duplicated (above); Sub Type ≠ "Email"
// → CustomerListItemSubTypeNotSupported 8002; Text not 64 lowercase hex
// characters → EmailMustBeHashed 8004. Other cells are ignored ([MS]: read-only
// fields "will be ignored"). Apply (when the list row is valid): Add inserts
// each valid item's Text into the list, Remove erases it (absent: no error),
// Replace first empties the list ([MS] "all previous customer match data …
// removed"), even when no item is valid, then inserts.
// Offline conversions, every row: Type ≠ "Offline Conversion" → 4203; Client
// Id (above); Conversion Name empty → OfflineConversionNameNullOrEmpty 5605,
// not in `conversion_goals` (empty: any) → OfflineConversionNameInvalid 5606;
// Conversion Time empty → OfflineConversionTimeNullOrEmpty 5608, not exactly
// [RS]'s Go layout "1/2/2006 3:04:05 PM" (month, day, hour without leading
// zero; minutes, seconds two digits; one ASCII space; AM|PM; a real date; UTC)
// → OfflineConversionTimeInvalid 5607; none of Microsoft Click Id, Hashed Email
// Address, Hashed Phone Number → OfflineConversionMicrosoftClickIdNullOrEmpty
// 5603; a click id not 32 lowercase hex → OfflineConversionMicrosoftClickIdInvalid
// 5604 (UNCONFIRMED form); a hashed email not 64 lowercase hex → EmailMustBeHashed
// 8004; a hashed phone not 64 lowercase hex → PhoneNumberMustBeHashed 9904 (fake).
//   insert: Conversion Time after the upload → FutureConversionTimeCannotBeSet
//   5614; more than 90 days before it → OfflineConversionTimeOutOfWindow 5609;
//   Conversion Value not empty and not [0-9]+(.[0-9]+)? →
//   OfflineConversionValueInvalid 5610; Conversion Currency Code not empty and
//   not one of [MS]'s 100 conversion-goal currencies → 5611
//   OfflineConversionCurrencyCodeInvalid. A conversion equal to a stored one
//   (below) is ignored, no error, nothing applied ([MS] "Duplicate offline
//   conversions … will be ignored").
//   Restate/Retract: Adjustment Type other → OfflineConversionInvalidAdjustmentType
//   5618; Adjustment Time empty 5619, malformed 5621, not strictly after
//   Conversion Time 5620 (a Microsoft Q&A reports equal times refused), after
//   the upload 5622, more than 90 days before it 5623 (UNCONFIRMED window);
//   Restate: Adjustment Value empty → OfflineConversionAdjustmentValueRequired
//   5625, malformed 5610; currency (either name) malformed 5611; Retract with an
//   Adjustment Value → OfflineConversionAdjustmentValueNotExpected 5624; no
//   stored conversion → BulkServiceEntityNotFound 4202 (UNCONFIRMED).
//   A conversion is identified by (Conversion Name, Conversion Time instant,
//   Microsoft Click Id) when the click id is set, else (name, time, Hashed Email
//   Address, Hashed Phone Number). Restate sets its value and currency; Retract
//   removes it (it may be inserted again).
// Times are compared with the API's calendar at the upload (loop time zero is
// 2024-01-01T00:00:00Z, SimClock::kDefaultEpochUnixMs).
//
// ── The oracle ──────────────────────────────────────────────────────────────
// Each applied customer list item counts once under
//   oracle_key("bingads.customer_list_item", {"audience": "<Id cell>",
//              "action": "Add"|"Remove"|"Replace", "hash": "<Text cell>"})
// (two items with one Text in a file apply twice). Each applied conversion row
// counts once under
//   oracle_key("bingads.offline_conversion", {"action": "insert"|"restate"|"retract",
//              "row": {<upload column name>: <cell>, …}})
// where row holds every non-empty cell of the record except the columns Type,
// Status, Id, Parent Id and Client Id, keyed by the upload header's name
// ("Adjusted Currency Code" stays so named), cells as uploaded after CSV
// unquoting. Ignored duplicates are not applied.
//
// ── Control ─────────────────────────────────────────────────────────────────
// set_token "<t>" (non-empty): the accepted token becomes t; the old one is
// retired and answers 109 (with `token` unset: every token that had
// authenticated); expiry and the lifetime's clock are cleared.
// expire_token true: every call with a token answers 109 until set_token.
// request: a seeding SOAP call (it names no host, so uploads and result
// downloads cannot be seeded). A rotated token is an option: reset() keeps it
// and forgets the retired ones.
//
// Catalog registration (for fakes/catalog.cpp, done with the destinations):
//   about: "Microsoft Advertising Bulk Service v13 (SOAP): GetBulkUploadUrl, zip/CSV uploads of customer lists and
//           offline conversions, lazy lifecycle, result files with error rows"
//   error_bodies: a SOAP fault envelope is XML; certify's JSON bodies do not fit
//           (inject statuses without a body, or the AdApi InternalError envelope as text)
//   hostile: {"undocumented in-progress", {"status_values": {"InProgress": "Processing"}}}
//            {"undocumented completion", {"status_values": {"CompletedWithErrors": "CompletedWithWarnings"}}}
//   hosts: extra_hosts() routes the upload and result-file hosts here too.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_api.h"
#include "framework/result.h"

namespace destsim {

struct BingAdsApiOptions {
  std::string token;            // the AuthenticationToken expected; empty: any non-empty one
  std::string developer_token;  // empty: any non-empty one
  std::string customer_id;      // empty: any non-empty one
  Duration latency{0};          // the common "latency" option (fakes/fake_options.h)
  /// Accounts that exist; empty: any positive integer.
  std::vector<std::int64_t> account_ids;
  /// Customer lists that exist; empty: any positive integer.
  std::vector<std::int64_t> audience_ids;
  /// Offline conversion goal names; empty: any non-empty name.
  std::vector<std::string> conversion_goals;
  Duration token_lifetime{0};  // 0: never expires
  std::int64_t calls_per_minute = 0;
  /// 1-based ordinals of SOAP calls answered InternalError.
  std::vector<std::int64_t> internal_error_calls;
  Duration upload_url_valid_for = std::chrono::minutes(15);
  Duration result_url_valid_for = std::chrono::minutes(5);
  Duration queued_for = std::chrono::seconds(10);
  Duration processing_for = std::chrono::minutes(1);
  /// 1-based ordinals of accepted uploads that end Failed.
  std::vector<std::int64_t> fail_uploads;
  std::int64_t rows_max = 4'000'000;
  std::int64_t upload_bytes_max = 104'857'600;
  bool bom_required = true;
  std::string upload_base_url = "https://fileupload.api.bingads.microsoft.com";
  std::string result_base_url = "https://bingadsappsstorageprod.blob.core.windows.net";
  Duration upload_service = std::chrono::seconds(1);        // an upload POST's service time
  Duration call_service = std::chrono::milliseconds(100);  // any other request's
  /// Statuses renamed on the wire (the eight documented RequestStatus values).
  std::map<std::string, std::string> status_values;

  /// Reads options from JSON (keys as above; durations as strings); errors name the key.
  static Result<BingAdsApiOptions> from_json(const nlohmann::json& j, const std::string& where);
};

/// What BingAdsApi::reset() forgets.
struct BingAdsApiState {
  enum class Kind { none, customer_list, conversion_insert, conversion_adjust };
  enum class Verdict { ok, format_not_supported, row_count_exceeded, failed };
  struct Record {
    std::vector<std::string> cells;  // in the upload header's order
    std::string error;               // the record's error name; "" when none
    int error_number = 0;
  };
  struct IssuedUrl {
    std::string query;
    Time expires{};
  };
  struct Upload {
    std::string request_id;
    std::string customer_id, account_id;  // as the GetBulkUploadUrl call named them
    std::string upload_query;             // "Ver=13&AccountId=<id>"
    bool errors_and_results = false;
    Time created{};
    bool uploaded = false;
    Time uploaded_at{};
    std::int64_t upload_ordinal = 0;  // 1-based among accepted uploads
    Verdict verdict = Verdict::ok;
    int verdict_code = 0;
    std::string verdict_error, verdict_details;
    Kind kind = Kind::none;
    std::vector<std::string> header;
    std::vector<Record> records;  // entity records; after settling, only those the result file shows
    std::int64_t rows = 0, row_errors = 0, applied = 0, ignored = 0;
    bool settled = false;
    std::vector<IssuedUrl> urls;
  };
  struct Conversion {
    std::string value, currency;
    std::int64_t restated = 0;
  };
  std::vector<Upload> uploads;  // by GetBulkUploadUrl order
  std::map<std::string, std::size_t> by_request_id;
  std::map<std::string, std::set<std::string>> audiences;  // id → member hashes
  std::map<std::string, Conversion> conversions;           // identity → stored conversion
  std::set<std::string> retired_tokens;
  std::set<std::string> presented_tokens;  // authenticated while `token` is empty; set_token retires them
  bool token_expired = false, token_used = false;
  Time token_first_use{};
  std::int64_t minute_window = -1, minute_count = 0;
  std::int64_t requests = 0, soap_calls = 0, uploads_accepted = 0, rejected = 0, tracking = 0, issued_urls = 0;
  std::int64_t result_downloads = 0, result_refusals = 0;
  std::int64_t applications = 0, restated = 0, retracted = 0, duplicates_ignored = 0;
  std::map<std::string, std::int64_t> faults, upload_refusals, row_errors;
  Time last_now{};  // the latest request's (or catch_up's) time, for accepted()
};

class BingAdsApi final : public StatefulFakeApi<BingAdsApiOptions, BingAdsApiState> {
 public:
  using StatefulFakeApi::StatefulFakeApi;
  std::string name() const override { return "bingads"; }
  Response handle(const Request& request, Time now) override;
  /// {requests, soap_calls, rejected, faults, upload_refusals, uploads: [...],
  ///  audiences, conversions, applications, distinct_applications, row_errors,
  ///  result_downloads, result_refusals}; statuses as of the last request.
  nlohmann::json accepted() const override;
  /// Operations (Fake::control): set_token, expire_token, request.
  Status control(const JsonIn& op, Time now) override;
  std::string control_ops() const override { return "set_token, expire_token, request"; }
  void catch_up(Time now) override;
  /// The upload and result-file hosts (from the options' base URLs).
  std::vector<std::string> extra_hosts() const override;
  /// latency plus `upload_service` for an upload POST, `call_service` otherwise.
  Duration latency_for(const Request& request) const override;

  std::int64_t requests() const { return state_.requests; }
  std::int64_t applications() const { return state_.applications; }
  /// The members of customer list `id` (empty when unknown).
  std::set<std::string> audience(const std::string& id) const;
  std::int64_t conversions() const { return static_cast<std::int64_t>(state_.conversions.size()); }

  /// A parsed SOAP request (defined and read in bingads_api.cpp only).
  struct Soap;

 private:
  using Upload = BingAdsApiState::Upload;
  using Record = BingAdsApiState::Record;
  enum class Phase {
    pending,
    uploaded,
    in_progress,
    completed,
    completed_with_errors,
    failed,
    row_count_exceeded,
    format_not_supported
  };
  Response soap(const Request& request, Time now);
  Response get_upload_url(const Soap& call, Time now);
  Response get_upload_status(const Soap& call, Time now);
  Response upload(const Request& request, Time now);
  Response download(const Request& request, Time now);
  /// 0 when the token is good; else 105 or 109 (and the token's first use noted).
  int token_problem(const std::string& token, Time now);
  void read_file(Upload& u, const std::string& zip) const;
  void settle_due(Time now);
  void settle(Upload& u);
  void settle_customer_list(Upload& u);
  void settle_conversions(Upload& u);
  Phase phase(const Upload& u, Time now) const;
  int percent(const Upload& u, Time now) const;
  std::string next_tracking_id();
  std::string result_blob_path(const Upload& u) const;
  std::string result_csv(const Upload& u) const;
  Response ad_api_fault(int code, const std::string& error_code, const std::string& message);
  Response api_fault(int code, const std::string& error_code, const std::string& message);
  Response client_fault(int status, const std::string& faultcode, const std::string& message);
  Response upload_refusal(int status, const std::string& request_id, int code, const std::string& error_code,
                          const std::string& message);
};

}  // namespace destsim
