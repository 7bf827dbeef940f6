// declarative.h — the declarative async-job destination: an Airbyte-style JSON
// spec (creation request, polling request with templated ids, status extractor
// and mapping, result extractor) run on the bulk path with no C++ per API.
//
// A spec (version 1; destinations/declarative/specs/ ships examples) reads:
//   {"spec": 1, "name", "about"?, "host",
//    "config": {"api_key": {"type": "secret"|"string"|"integer"|"boolean", "default"?, "doc"?}, …},
//    "record": {"template"?: <template, default "{{record.payload}}">, "require"?: ["email", …]},
//    "creation": {"method"?: "POST", "path", "headers"?, "body": {…"{{records}}"…},
//                 "id_extractor": ["id"], "success_statuses"?: [202]},
//    "polling": {"method"?: "GET", "path": ".../{{creation_response.id}}", "headers"?,
//                "status_extractor": ["status"], "message_extractor"?: ["message"],
//                "status_mapping": {"completed": […], "running": […], "failed"?: […], "timeout"?: […]},
//                "unknown_status"?: "failed" | "transient", "failed_applies_nothing"?: false},
//    "results": {"mode": "job"} |
//               {"mode": "record", "request"?: {method, path, headers}, "records_extractor": ["results"],
//                "match_by": "index" | "position" | "field", "index_field"?: "index",
//                "result_field"?: "id", "record_field"?: "email",
//                "success": {"field": "status", "values": ["ok"]}, "retry_values"?: […],
//                "error_extractor"?: ["error"]},
//    "retryable_statuses"?: [408, 429, 500, 502, 503, 504], "idempotent"?: false,
//    "limits"?: {"records_max", "bytes_max"}, "bulk"?: {<bulk_config_keys() values>},
//    "fake_options"?: {<options of the async_job fake that models this API>}}
//
// Templates: a string that is exactly "{{expr}}" becomes the JSON value of expr
// (so `{"contacts": "{{records}}"}` embeds the records array); "{{expr}}" inside
// other text is interpolated. expr is a dotted path from a root: `config.<key>`
// (keys the spec's "config" declares), `record.id|stream|payload…` (record
// template), `records` (creation body, exactly once), `creation_response.<path>`
// and `import_id` (polling and results requests).
//
// Decisions:
//   - An unknown status is an explicit error path (D3). By default
//     ("unknown_status": "failed") the import is failed with the reason
//     `unknown status "x" (not in /polling/status_mapping)`: its jobs are
//     re-uploaded until max_attempts and then aborted with that reason — never
//     polled forever. "transient" instead keeps polling until poll_timeout.
//     A mapped "timeout" status fails the import too ("timed out by the API").
//   - A failed import the API had accepted may have applied some of its
//     records: its jobs carry outcome_unknown and are uploaded again only when
//     the spec is "idempotent"; otherwise they end aborted, outcome unknown.
//     An unknown status and a "timeout" are always read so. A status mapped
//     to "failed" is a known failure (nothing applied, re-uploaded) only when
//     the spec says "failed_applies_nothing": true — the API's documented word.
//   - Every poll/results fault (transport, any non-2xx, unreadable body, no
//     status) is transient: the router asks again, the import is never failed
//     for it (D5); a job the API lost ends at poll_timeout with outcome_unknown.
//   - Creation: retryable_statuses and transport errors retry (Retry-After
//     honoured, and held per path for every later request); a 2xx without a
//     readable id retries with maybe_applied (the API may hold the job); other
//     statuses fail the upload with "HTTP <status>: <API message>".
//   - ImportRef::params holds {"creation_response": <only the values the
//     polling/results templates read>, "keys": [record_field per job]}, so a
//     fresh manager polls and maps results after a restart.
//   - Delivery is at-least-once and not idempotent unless the spec says
//     "idempotent": true (then exactly-once).
//   - The registered `declarative` entry runs a shipped spec (`spec_name`,
//     default "sendgrid_contacts_import"), a `spec_file`, or an inline `spec`
//     (first wins: spec, spec_file, spec_name). Spec config keys the entry does
//     not declare are read from `vars` (or the spec's default). Bulk keys left at
//     their default take the spec's "bulk" values. With an inline spec on another
//     host, set `host` too (the harness routes the fake by it).
// The effect of a record (oracle) is oracle_key("async_job.record", item).
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "destinations/destination.h"

namespace destsim {

/// The registered `declarative` destination (runs a shipped spec by default).
DestinationEntry declarative_destination();

/// `lytics_bulk_upload`: the shipped spec specs/lytics_bulk_upload.json as a
/// destination of its own (no C++ of its own).
DestinationEntry lytics_bulk_upload_destination();

/// A destination entry bound to one spec (for `destsim certify --spec FILE`).
/// `where` names the spec's file in errors ("spec.json: /polling/path: …").
Result<DestinationEntry> declarative_entry_from_spec(const nlohmann::json& spec, const std::string& where);

/// Validates a spec; the error names `where`, the JSON path and what was expected.
Status check_declarative_spec(const nlohmann::json& spec, const std::string& where);

/// The shipped specs, by name, as JSON text (the same text as
/// destinations/declarative/specs/<name>.json).
const std::map<std::string, std::string>& declarative_shipped_specs();

/// Renders a template against a context object (roots as members: "config",
/// "record", "records", "creation_response", "import_id"); errors name `where`.
Result<nlohmann::json> render_declarative_template(const nlohmann::json& tmpl, const nlohmann::json& context,
                                                   const std::string& where);

}  // namespace destsim
