// destination.h — what every destination gives the framework and the harness.
//
// A destination is one folder: its config schema with defaults, its handler or
// manager, its declared capabilities, and one line in registry.cpp. The harness
// (conformance/) builds it from a `DestinationEntry`, pairs it with its fake by
// name, and asks it how to recognise a record's effect in the fake (the oracle).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/batch.h"
#include "framework/config.h"
#include "framework/file_transport.h"
#include "framework/http.h"
#include "framework/job_store.h"
#include "framework/lifecycle.h"
#include "framework/loop.h"

namespace destsim {

/// What a destination runs with.
struct DeliveryContext {
  Loop& loop;
  Transport& transport;
  JobStore& jobs;
  /// File destinations (SFTP): the session to the file server in the
  /// simulator; null in real mode, where the destination opens its own
  /// through `open_files`.
  FileTransport* files = nullptr;
  /// Real mode, file destinations: opens a session to the file server (the
  /// caller builds it, e.g. framework/real: libssh_session_opener); null in
  /// the simulator. Destinations never construct a real transport themselves.
  FileSessionOpener open_files = nullptr;
};

/// A destination as the runner drives it: deliver records, then drain. Under
/// a Sync (framework/lifecycle.h) it is also told the lifecycle: setup, each
/// stream's open and close, teardown. The defaults suit destinations that apply
/// records as they send them (no staging).
class Destination : public SyncTarget {
 public:
  // deliver(record) and drain() come from SyncTarget, with the lifecycle hooks
  // (setup, open/flush/close stream, teardown) and their no-staging defaults.
  /// Counters for the run summary (batches, splits, retries, …).
  virtual nlohmann::json stats() const = 0;
  /// Restart after a crash: take over what the job store holds (uploads in
  /// flight, imports to poll). Records it does not take over are offered again
  /// through deliver(), which skips jobs the store shows as terminal.
  virtual std::vector<JobId> resume(const RecordSource& source) {
    (void)source;
    return {};
  }
  /// Lets the simulator crash the destination at a named step (kCrashSteps).
  virtual void set_crash_hook(CrashHook hook) { (void)hook; }
  /// True when the destination commits the job store at its own durable steps
  /// (the simulator then keeps only committed writes across a crash); false
  /// when every write is durable at once.
  virtual bool commits_at_durable_steps() const { return false; }
};

enum class DeliverySemantics { exactly_once, at_least_once };
const char* delivery_semantics_name(DeliverySemantics d);

/// What a destination declares about itself; the conformance suite holds it to it.
struct Capabilities {
  BatchLimits limits;  // records and bytes per request
  DeliverySemantics delivery = DeliverySemantics::exactly_once;
  /// HTTP statuses the destination retries (C1); others are permanent, 413 splits.
  std::vector<int> retryable_statuses;
  /// The API's error codes that make an answer permanent whatever its status
  /// (C1 reads the code each send's answer carried from the trace).
  std::vector<std::string> permanent_codes;
  /// The longest wait the API may impose through its own answers beside a
  /// Retry-After header (Marketo's 606/1016 throttles, its 607 daily quota
  /// that lasts until the next day): C3 and G1 allow for it.
  Duration longest_api_wait{0};
  /// Retry-bounded steps a record may pass through one after another, each of
  /// which may spend a whole retry window (G1): by default a batch phase and a
  /// single phase. A staging destination has more (listing open stages at
  /// start, creating a stage, its rows in batches and alone, the commit,
  /// settling it, dropping stages at teardown).
  int serial_phases = 2;
  /// Whether writes are idempotent (re-sending after an unknown outcome is safe).
  bool idempotent_writes = false;
  /// Declared request rate per endpoint (I2), 0 = none declared.
  std::int64_t rate_per_second = 0;
  /// Bulk (upload + poll) destinations; batch destinations otherwise.
  bool bulk = false;
  /// A bulk destination whose uploads the API answers at once, with nothing
  /// to poll (a synchronous API on the bulk path: a file drop, Lytics): the
  /// poll recovery paths cannot be reached.
  bool polls = true;
  std::int64_t import_concurrency = 0;
  /// Stages records and commits them when a stream closes (F2 then checks
  /// that a failed stream's records never reach the destination).
  bool stages = false;
};

/// Options for generating input records for a destination.
struct GenerateOptions {
  std::string type;              // destination-specific record type ("track"); "" = a mix
  Ratio invalid{0, 1};           // share of records made invalid for the API
  std::int64_t payload_bytes = 0;  // extra payload per record (0 = small records)
  /// Hostile text: free-text fields may be empty, blank, multi-byte, emoji,
  /// right-to-left, hold quotes, commas, newlines or control characters, and
  /// padding is made of two-byte characters (a limit counts bytes, not
  /// characters). Drawn per record and field from their own stream
  /// (`odd_text_or`), so the record's other draws are unchanged.
  bool odd_text = false;
};

/// Free text for field `field` of record `id`: `plain`, or under
/// `options.odd_text` (half the time) a hostile string. Never an identity
/// field (an email, a key): those keep telling records apart.
inline std::string odd_text_or(const GenerateOptions& options, JobId id, std::uint64_t field, std::string plain) {
  if (!options.odd_text) return plain;
  Rng r(derive_seed(id, "odd-text", field));
  if (!r.chance(1, 2)) return plain;
  static const char* const kOdd[] = {
      "",                                         // empty
      " ",                                        // blank
      "  leading and trailing  ",                 //
      "Zo\u00eb \u00c5ngstr\u00f6m",                 // Latin-1 range, two bytes each
      "\u674e\u5c0f\u9f8d",                          // CJK, three bytes each
      "\U0001f680 launch \u2728",                   // emoji, four bytes
      "\U0001f469\u200d\U0001f4bb",                  // a ZWJ sequence
      "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",  // right to left
      "comma, \"quoted\", and more",              // CSV and JSON quoting
      "two\nlines\r\nthree",                       // line breaks inside a value
      "tab\there",                                // a tab
      "back\\slash \\\"",                          // backslashes before a quote
      "ctl\x01\x1f chars",                         // control characters (JSON escapes them)
      "<b>&amp;</b>",                             // markup
      "=SUM(A1:A9)",                              // a spreadsheet formula
      "0007",                                     // digits with leading zeros (not a number)
      "null",                                     // the word, not the value
  };
  return kOdd[r.below(std::size(kOdd))];
}

/// A generated record finished: `payload` as its payload, with
/// `options.payload_bytes` of padding at `pad`, a JSON pointer into the
/// payload ("/properties/pad"); intermediate objects are created. The padding
/// is 'x's, or under `odd_text` two-byte characters ("\u00e9", an odd byte at
/// the end), so a limit that counts characters is off by half.
inline Record padded_record(Record r, nlohmann::json payload, const GenerateOptions& options, const char* pad) {
  if (options.payload_bytes > 0) {
    const auto n = static_cast<std::size_t>(options.payload_bytes);
    std::string text;
    if (options.odd_text) {
      text.reserve(n);
      for (std::size_t i = 0; i + 1 < n; i += 2) text += "\u00e9";
      if (text.size() < n) text += 'x';
    } else {
      text.assign(n, 'x');
    }
    payload[nlohmann::json::json_pointer(pad)] = std::move(text);
  }
  r.payload = std::move(payload);
  return r;
}

struct DestinationEntry {
  std::string name;
  std::string about;
  /// The fake (fakes/catalog.cpp) that models this destination's API, and the
  /// host the destination sends to.
  std::string fake;
  std::string host;
  std::vector<ConfigKey> schema;
  Capabilities capabilities;
  /// Builds the destination from resolved config.
  std::function<Result<std::unique_ptr<Destination>>(DeliveryContext& ctx, const Config& config)> make;
  /// Oracle keys (framework/oracle.h) naming the effect a record has when delivered.
  std::function<std::vector<std::string>(const Record& record, const Config& config)> effects;
  /// Optional: `effects` with the config read once, for every record of a run
  /// (the checkers key thousands): prepare_effects(config)(record) must equal
  /// effects(record, config). effects_with() picks it when set.
  std::function<std::function<std::vector<std::string>(const Record& record)>(const Config& config)> prepare_effects;
  /// Generates record `id` of a seeded input.
  std::function<Record(Rng& rng, JobId id, const GenerateOptions& options)> generate;
  /// The record payloads one request of this destination carried (the shape
  /// `generate` gives them), from its method, path (no query) and JSON body;
  /// empty for a request that carries none (a poll). `destsim import-har`
  /// rebuilds a recording's input with it; null: the input is generated.
  std::function<std::vector<nlohmann::json>(std::string_view method, std::string_view path,
                                            const nlohmann::json& body)>
      records_from_request;
  /// Fake options implied by the destination config (e.g. the API key it expects).
  std::function<nlohmann::json(const Config& config)> fake_options;
  /// File destinations: the credentials the simulator's file session logs in
  /// with, from the destination config ({"user", "password"} or {"user", "private_key"}).
  std::function<nlohmann::json(const Config& config)> file_login;
  /// The config `destsim certify` runs cases with (null: the schema's required
  /// keys filled with test values).
  nlohmann::json certify_config;
  /// False for the canary: certifiable by name, never among the shipped ones.
  bool shipped = true;
};

/// The entry's effects for one config: prepared once when it can be, else
/// `effects` with the config bound (the config must outlive the function).
inline std::function<std::vector<std::string>(const Record&)> effects_with(const DestinationEntry& e, const Config& config) {
  if (e.prepare_effects) return e.prepare_effects(config);
  return [&e, &config](const Record& r) { return e.effects(r, config); };
}

/// An entry with its identity set: its name, the fake that models its API, the
/// host it sends to and what it is, its config schema and what it declares
/// about itself; make, effects, generate and fake_options are the destination's.
/// Bounds the config keys a declared capability limits, so a config over the
/// API's limit is refused at load (exit 2) instead of breaking it at run time:
/// imports_in_flight ≤ import_concurrency.
inline void bound_schema_by(std::vector<ConfigKey>& schema, const Capabilities& c) {
  for (auto& k : schema)
    if (k.name == "imports_in_flight" && c.import_concurrency > 0) k.max = std::min(k.max, c.import_concurrency);
}

inline DestinationEntry destination_entry(std::string name, std::string fake, std::string host, std::string about,
                                          std::vector<ConfigKey> schema, Capabilities capabilities) {
  bound_schema_by(schema, capabilities);
  DestinationEntry e;
  e.name = std::move(name);
  e.about = std::move(about);
  e.fake = std::move(fake);
  e.host = std::move(host);
  e.schema = std::move(schema);
  e.capabilities = std::move(capabilities);
  return e;
}

/// The fake options of a destination whose fake checks one key: the secret
/// config key `key` as the fake's "api_key".
inline std::function<nlohmann::json(const Config&)> api_key_fake_options(std::string key = "api_key") {
  return [key = std::move(key)](const Config& config) -> nlohmann::json {
    return {{"api_key", config.secret(key).value}};
  };
}

/// Every destination, in one explicit list (registry.cpp).
const std::vector<DestinationEntry>& destination_registry();
/// Adds a destination at run time (an out-of-tree destination certified by its
/// own binary, a canary or a test double); its name must be new. Entries live
/// until the process ends, in the order added, after the registry's.
Status add_destination(DestinationEntry entry);
/// A registered or added destination, or null.
const DestinationEntry* find_destination(const std::string& name);
/// Every destination: the registry's, then the added ones.
std::vector<const DestinationEntry*> all_destinations();

/// Names of the registered destinations, comma-separated (for error messages).
std::string destination_names();

/// A destination built from a spec document (`destsim certify --spec FILE`):
/// the spec-driven destination's loader, wired in registry.cpp so callers name
/// no destination. Errors name `where` and the JSON path.
Result<DestinationEntry> destination_from_spec(const nlohmann::json& spec, const std::string& where);

}  // namespace destsim
