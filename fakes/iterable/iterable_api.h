// iterable_api.h — a stateful fake of Iterable's bulk API (APIS.md §4).
//
// Models users (by email and by userId, with typed dataFields), events (an event
// `id` updates the existing event instead of adding one, as Iterable documents),
// list memberships and subscription preferences, and validates like the real API:
// Api-Key (401 BadApiKey), JSON body (400 BadJsonBody), invalid emails, unknown
// userIds, disallowed event names, and field types (the first type a field is
// seen with is its type; a later mismatch is 400 RequestFieldsTypesMismatched).
// It is stricter than the real service where the real one is vague:
//   - more than `items_max` (1000) items per request → 400 BatchTooLarge;
//   - a body over `body_bytes_max` (4 MB) → 413 (UNCONFIRMED for the real API);
//   - a token bucket per endpoint path (`rate_per_second`, `burst`) → 429, with
//     `Retry-After` in whole seconds when `retry_after` is set (UNCONFIRMED for
//     the real API, so configurable; on by default).
// Endpoints: events/trackBulk, events/track, users/bulkUpdate, users/update,
// lists/subscribe, lists/unsubscribe, users/bulkUpdateSubscriptions,
// users/updateSubscriptions, all under /api/.
//
// The oracle: every item the fake applied is counted under `oracle_key(effect,
// item)` — the effect ("iterable.event", "iterable.user", "iterable.subscribe",
// "iterable.unsubscribe", "iterable.subscriptions"; bulk and single endpoints
// alike) plus a hash of the item's canonical JSON (list items carry their listId)
// — so the conformance suite can ask how often a job's item really landed.
// (The key convention is framework/oracle.h.)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_api.h"
#include "framework/flat_json.h"
#include "framework/result.h"

namespace destsim {

struct IterableApiOptions {
  std::string api_key;  // empty: any key is accepted (but one is required)
  Duration latency{0};  // the common "latency" option (fakes/fake_options.h)
  std::vector<std::string> disallowed_event_names;
  std::int64_t items_max = 1000;
  std::int64_t body_bytes_max = 4'000'000;
  /// Requests per second per endpoint path; 0 disables the limiter.
  std::int64_t rate_per_second = 10;
  std::int64_t burst = 10;
  bool retry_after = true;
  /// List ids that exist (lists/subscribe to another id is 500
  /// error.lists.invalidListId); empty: any id.
  std::vector<std::int64_t> list_ids;
  /// Emails of users forgotten under a privacy request (GDPR/CCPA): Iterable
  /// stores nothing for them; a list subscribe names them in
  /// failedUpdates.forgottenEmails and counts them in failCount.
  std::vector<std::string> forgotten_emails;

  /// Reads options from JSON (keys as above); errors name the key.
  static Result<IterableApiOptions> from_json(const nlohmann::json& j, const std::string& where);
};

/// What IterableApi::reset() forgets. It is kept compact: a million-event run
/// stores each event id once and hashes, not bodies; the indexes hold hashes
/// of strings kept elsewhere (framework/flat_map.h) and have no order to leak.
struct IterableApiState {
  struct User {  // 16 bytes: a million users are 16 MB
    StringArena::Ref email;     // in `names`
    StringArena::Ref user_id;   // in `names`
  };
  using Types = std::map<std::string, std::string, std::less<>>;  // field → type
  struct Bucket {
    std::int64_t units = 0;  // 1e9 units = one request
    Time last{};
    bool init = false;
  };
  StringArena names;                                        // emails, user ids and event ids, once each
  SegmentedVector<User> users;                              // by internal index
  std::map<std::size_t, nlohmann::json> data_fields;        // user index → fields set (none: printed as {})
  std::map<std::size_t, nlohmann::json> subscriptions;      // user index → the last updateSubscriptions request
  HashedStringIndex by_email;                               // → users
  HashedStringIndex by_user_id;                             // → users
  SegmentedVector<StringArena::Ref> event_ids;              // distinct, in arrival order
  HashedStringIndex event_index;                            // → event_ids
  std::int64_t anonymous_events = 0;                        // events without an id
  std::map<std::int64_t, std::set<std::string>> lists;      // listId → member keys
  Types event_types, user_types;
  std::int64_t applications = 0;
  std::map<std::string, Bucket> buckets;
  std::int64_t requests = 0;
  std::int64_t next_user = 0;
};

class IterableApi final : public StatefulFakeApi<IterableApiOptions, IterableApiState> {
 public:
  using StatefulFakeApi::StatefulFakeApi;
  std::string name() const override { return "iterable"; }
  Response handle(const Request& request, Time now) override;
  nlohmann::json accepted() const override;
  /// Operations (Fake::control): set_api_key, create_list, delete_list, request.
  Status control(const JsonIn& op, Time now) override;
  std::string control_ops() const override { return "set_api_key, create_list, delete_list, request"; }

  std::int64_t events() const { return static_cast<std::int64_t>(state_.event_ids.size()); }
  std::int64_t users() const { return static_cast<std::int64_t>(state_.users.size()); }

 private:
  std::set<std::int64_t> deleted_lists_;  // lists deleted by control (any id exists otherwise)
  using User = IterableApiState::User;
  using Types = IterableApiState::Types;
  enum class Kind { track_bulk, track, bulk_update, update, subscribe, unsubscribe, bulk_subs, subs };

  Response route(const Request& request, Time now);
  bool take_token(const std::string& path, Time now, Duration* wait);
  /// A type mismatch against the field schema, as "field: expected T, got U", or "".
  std::string type_mismatch(const Types& types, const std::vector<JsonMember>& fields) const;
  void learn_types(Types& types, const std::vector<JsonMember>& fields);
  /// The index of the user with this email (or else this user id), if any.
  std::optional<std::size_t> find_user(std::string_view email, std::string_view user_id) const;
  std::size_t upsert_user(std::string_view email, std::string_view user_id);
  /// Counts one applied item under "<effect>#<hex16 of its canonical hash>" (framework/oracle.h).
  void count(std::string_view effect, std::uint64_t content_hash);

  std::optional<Response> items_of(JsonView body, bool bulk, const char* field, std::string_view endpoint,
                                   const Types& types, std::vector<JsonView>& items) const;
  Response track(JsonView body, bool bulk, std::string_view endpoint);
  Response update_users(JsonView body, bool bulk, std::string_view endpoint);
  Response lists(JsonView body, bool subscribe, std::string_view endpoint);
  Response subscriptions(JsonView body, bool bulk, std::string_view endpoint);

  FlatJson body_;  // the request body being handled (its buffers reused)

};

}  // namespace destsim
