// catalog.h — every fake the simulator and `destsim serve` know, and what each
// carries with it: its door (HTTP or file), the fault kinds that apply to it,
// and how to build it.
//
// The built-in fakes are one explicit list (catalog.cpp), so a reader sees them
// all and nothing is dropped by the linker. An out-of-tree destination brings
// its own fake with add_fake() (beside destinations' add_destination()). Each
// entry builds a fresh fake from a JSON options object; bad options are an
// error naming the key. A fake checks a fault plan itself
// (Fake::check_fault_plan): nothing outside fakes/ names a fake to know its rules.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_api.h"
#include "fakes/fault_plan.h"
#include "framework/result.h"
#include "framework/time.h"

namespace destsim {

/// What `destsim serve NAME` was asked for, whatever the door.
struct ServeArgs {
  std::string fake;
  int port = 0;                    // 0: any free port
  std::string host = "127.0.0.1";  // the address to bind
  std::string faults_file;         // a fault plan file, or empty
  nlohmann::json options;          // the fake's options (--options), null when none
  std::uint64_t seed = 1;          // fault randomness
  std::int64_t max_requests = 0;   // stop after this many requests (sessions for a file door); 0 = no bound
  Duration max_lifetime{0};        // stop after this long; 0 = no bound
  bool allow_remote = false;       // a --host other than loopback was asked for explicitly
  std::string admin_token;         // the HTTP door's admin token (DESTSIM_ADMIN_TOKEN); empty = drawn
};

struct FakeEntry {
  std::string name;
  std::string about;
  /// How the fake is reached: http (make() returns a FakeApi) or file (a FileFake).
  FakeDoor door = FakeDoor::http;
  /// The fault kinds that apply to this fake in their generic form (any method
  /// and path, HTTP statuses): what a plan generator (certify) draws from. A
  /// hand-written plan may use more (see the fake's check_fault_plan).
  std::vector<FaultKind> fault_kinds = all_fault_kinds();
  /// The API's own error bodies (JSON text, e.g. a 4xx rejection naming its
  /// code): certify puts them into the 5xx answers it injects, since a real API
  /// sends such bodies with a 5xx too and a destination must not read the code
  /// as a permanent rejection. Empty: injected 5xx answers have no body.
  std::vector<std::string> error_bodies;
  /// The answers certify injects as `respond` faults: every status class the
  /// API may answer and the API's own error codes (Marketo's 6xx/1xxx in a 200,
  /// SFTP statuses), each with a label its reachability counts ("HTTP 401",
  /// "Marketo 606"). Certify fails a destination when no case reached one.
  /// Empty: http_error_table() for an HTTP fake.
  struct ErrorAnswer {
    std::string label;
    int status = 0;
    std::string body;         // "" = none (an HTTP status's own body is then drawn from error_bodies)
    bool may_apply = false;   // sometimes drawn "after": the API applied it, then answered this
  };
  std::vector<ErrorAnswer> error_table;
  /// Hostile variants of the fake (options certify may run a case with): a
  /// fake that answers statuses outside its documented set, renamed or new
  /// import states. Each is labelled for reachability ("renamed ready").
  struct HostileOptions {
    std::string label;
    nlohmann::json options;
  };
  std::vector<HostileOptions> hostile;
  /// Operator acts certify plays on the fake at a drawn moment of a case: a
  /// Fake::control operation that changes the world under the destination as
  /// a person or another system would (every table replaced, the access
  /// tokens expired). Each is labelled for reachability ("act.tables
  /// replaced"): certify fails a destination when no case met one while work
  /// was in flight.
  struct OperatorAct {
    std::string label;
    nlohmann::json op;
    /// Hostile variants under which the act's damage shows, beside `hostile`
    /// (whose turns they do not take): certify plays every act in turn at a
    /// step under one of them, and half the other acts at a step; it requires
    /// each met. A table
    /// replaced harms a connector that then meets a channel dying before its
    /// next poll, which the usual variants' rates seldom bring.
    std::vector<HostileOptions> companions;
  };
  std::vector<OperatorAct> operator_acts;
  /// The options of the hostile variant `label`: of `hostile` or an act's
  /// companions; nullptr when the fake has none of that label.
  const nlohmann::json* hostile_options(const std::string& label) const;
  /// The requests that read a finished import's per-record results (Klaviyo's
  /// import-errors, Marketo's failures and warnings files), as a method and a
  /// path glob (FaultRule's). Certify refuses them for good in some cases of a
  /// bulk destination: results that cannot be read must not be taken for
  /// success (D4), and nothing else reaches that path often.
  struct ResultsRead {
    std::string method;
    std::string path;
  };
  std::vector<ResultsRead> results_reads;
  /// Builds a fake; `options` is an object of fake-specific settings (see
  /// fakes/fake_options.h for the keys all share).
  std::function<Result<std::unique_ptr<Fake>>(const nlohmann::json& options, const std::string& where)> make;
  /// A file-door fake's real server for `destsim serve NAME` (blocks until a
  /// stop signal or a bound; returns the process exit code). HTTP fakes need
  /// none: `serve` puts them behind the HttpDoor. Null: not servable.
  std::function<int(const ServeArgs& args)> serve;
};

/// The status classes every HTTP API may answer: 400, 401, 403, 404, 408,
/// 409, 422, 500, 502, 503, 504 (500, 502 and 504 may come after applying:
/// may_have_applied in framework/http_call.h).
std::vector<FakeEntry::ErrorAnswer> http_error_table();
/// `entry`'s table, or http_error_table() for an HTTP fake without one.
std::vector<FakeEntry::ErrorAnswer> error_table_of(const FakeEntry& entry);

/// The built-in fakes, in one explicit list (catalog.cpp).
const std::vector<FakeEntry>& fake_catalog();
/// Adds a fake at run time (an out-of-tree destination's own fake, a test
/// double); its name must be new, and it needs a name, make, and at least one
/// fault kind. Entries live until the process ends, after the catalog's.
Status add_fake(FakeEntry entry);
/// A built-in or added fake, or null.
const FakeEntry* find_fake(const std::string& name);
/// Every fake: the catalog's, then the added ones.
std::vector<const FakeEntry*> all_fakes();
/// Names of every fake, comma-separated (for error messages).
std::string fake_names();

}  // namespace destsim
