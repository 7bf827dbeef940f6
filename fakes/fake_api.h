// fake_api.h — the shape every HTTP fake has.
//
// A fake is a pure state machine: `handle(request, now) -> response`, plus an
// inspectable record of what it truly accepted (the oracle the conformance suite
// checks the framework's own account against). No socket code lives in a fake:
// the sim door (SimTransport) and the HTTP door (HttpDoor) adapt it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/flat_map.h"
#include "framework/http.h"
#include "framework/json_in.h"
#include "framework/result.h"
#include "framework/time.h"

namespace destsim {

class FakeApi;
class FileFake;
class FaultPlan;

/// How a fake is reached: an HTTP API (FakeApi: the sim's SimTransport, the
/// HttpDoor) or a file server (FileFake: a FileTransport in the sim, a real
/// server under `destsim serve`).
enum class FakeDoor { http, file };
const char* fake_door_name(FakeDoor door);

/// What every fake has: a name, what it accepted, and the oracle.
class Fake {
 public:
  virtual ~Fake() = default;
  /// Fails on a rule of `plan` this fake's doors cannot apply, naming the rule
  /// by its JSON path: `where` is the plan's location up to that path ("x.json:
  /// /faults" → "x.json: /faults/2/respond/status: …"; "plan.json: " for a file).
  /// The runner, `destsim serve` and the doors all check a plan with it.
  virtual Status check_fault_plan(const FaultPlan& plan, std::string_view where) const = 0;
  /// This fake's HTTP side, or null (a FakeApi returns itself).
  virtual FakeApi* http() { return nullptr; }
  /// This fake's file-server side, or null (a FileFake returns itself).
  virtual FileFake* file() { return nullptr; }
  /// Service time every door adds to each answer (the common "latency" option).
  Duration latency() const { return latency_; }
  void set_latency(Duration latency) { latency_ = latency; }
  /// A short name ("scripted", "iterable", "sftp").
  virtual std::string name() const = 0;
  /// What the fake accepted so far, as JSON (for the oracle and `/_destsim/accepted`).
  virtual nlohmann::json accepted() const = 0;
  /// Forgets all state, as if new.
  virtual void reset() = 0;
  /// Lets the work the API does on its own time (imports it finishes whether
  /// or not anyone asks) catch up to `now`. The runner calls it when a run
  /// ends, with a day past the end, so the oracle and a scenario's
  /// `expect.fake` see what the API will have done with what it accepted,
  /// asked or not. Fakes that only change when called keep the default.
  virtual void catch_up(Time now) { (void)now; }
  /// How many times the effect named by `key` (see framework/oracle.h) was
  /// applied: the oracle for "was this job really delivered, and how often".
  virtual std::int64_t applied(const std::string& key) const {
    (void)key;
    return 0;
  }
  /// The most copies of that effect the store held at once, given its
  /// `applied` count (read by the caller, so a fake that keeps no wipes is not
  /// asked twice): `applied` unless an operator wiped some (a dropped table's
  /// rows: AppliedLedger::wipe) and the effect was applied again.
  virtual std::int64_t peak(const std::string& key, std::int64_t applied) const {
    (void)key;
    return applied;
  }
  /// How many copies of that effect the store holds now: applied() unless an
  /// operator wiped some.
  virtual std::int64_t held(const std::string& key) const { return applied(key); }
  /// Changes the fake's state as the API's operator would (revoke a key,
  /// delete a list, fill a disk) or as a scenario seeds it before a run: `op`
  /// is an object with exactly one operation key; each fake's ACCEPTED.md
  /// lists its operations. No fault applies and the doors count nothing (a
  /// seeding `request` is counted by the fake itself, as any request it
  /// answers). An unknown or malformed operation is an error naming op's JSON
  /// path; the state is then unchanged. reset() forgets the state operations
  /// built, not the options they changed (a rotated key stays rotated).
  virtual Status control(const JsonIn& op, Time now);
  /// The operations control() takes, for messages ("set_api_key, request").
  virtual std::string control_ops() const { return ""; }

 private:
  Duration latency_{0};
};

/// An HTTP fake: a pure state machine from request to response.
class FakeApi : public Fake {
 public:
  /// Applies one request at loop time `now` and answers it.
  virtual Response handle(const Request& request, Time now) = 0;
  /// An HTTP door applies every fault kind; a respond status must be 100-599.
  Status check_fault_plan(const FaultPlan& plan, std::string_view where) const override;
  FakeApi* http() override { return this; }
  /// Hosts this fake also answers beside the destination's own host: an API
  /// that hands its clients another host to call (Eloqua's pod from GET /id,
  /// Bing Ads' upload and result-file URLs). The simulator routes each of them
  /// to this fake, under the same fault plan. From the fake's options.
  virtual std::vector<std::string> extra_hosts() const { return {}; }
  /// The service time of one request: how long the API takes to answer it,
  /// which every door waits before handling it (so the client sees the
  /// request in flight for that long). latency() unless the fake times its
  /// requests apart (an upload longer than a status read).
  virtual Duration latency_for(const Request& request) const {
    (void)request;
    return latency();
  }
  /// Every HTTP fake takes {"request": {"method", "path", "headers"?, "body"? |
  /// "json"?}}: the request applied as if sent, without faults; it must be
  /// answered 2xx (a seeded user, a created list). Fakes add their own.
  Status control(const JsonIn& op, Time now) override;
  std::string control_ops() const override { return "request"; }

 protected:
  /// Applies a `request` operation's request and returns the answer (an
  /// error naming the path when it is malformed or not answered 2xx).
  Result<Response> seed_request(const JsonIn& op, Time now);
  /// control() for a fake whose own operation is `set_api_key` alone: rotates
  /// `key` (requests with the old one are refused from now on), else `request`.
  Status api_key_control(const JsonIn& op, Time now, std::string& key);
  /// The one key of a control operation among `names`, or an error listing
  /// this fake's operations.
  Result<std::string> control_key(const JsonIn& op, std::initializer_list<std::string_view> names) const;
};

class Loop;
class FileTransport;

/// A file-server fake (SFTP): the simulator reaches it through a FileTransport
/// that runs in virtual time and applies the run's fault plan.
class FileFake : public Fake {
 public:
  /// A client session for a destination in the simulator. `plan` (not owned,
  /// may be null) is matched by operation name and path; `latency` is the base
  /// delay of each operation; `timeout` is how long a call waits on a server
  /// that does not answer.
  virtual std::unique_ptr<FileTransport> sim_transport(Loop& loop, FaultPlan* plan, Duration latency,
                                                       Duration timeout, const nlohmann::json& login) = 0;
  FileFake* file() override { return this; }
};

/// The oracle's ledger: how often each effect (an oracle key, framework/oracle.h)
/// was applied. Keys are kept as their FNV-1a hash in a flat table, so a
/// million applied records cost 32 MB of integers, not a tree of nodes.
///
/// An operator may wipe applied effects (drop or replace a table): wipe(key)
/// removes every copy the store holds now. count() still counts every
/// application (a wiped effect was delivered); peak() is the most copies held
/// at once (an effect applied, wiped and applied again was never two copies)
/// and held() the copies held now.
class AppliedLedger {
 public:
  /// Counts one more application of `key`; returns its hash (for wipe_hashed).
  std::uint64_t add(std::string_view key);
  /// add(effect + "#" + hex16(content_hash)), the oracle key of an item
  /// (framework/oracle.h), without building the key's string.
  std::uint64_t add(std::string_view effect, std::uint64_t content_hash);
  /// How often `key` was applied (0 when never), wiped or not.
  std::int64_t count(std::string_view key) const;
  /// The most copies of `key` held at once (count() until a wipe).
  std::int64_t peak(std::string_view key) const;
  /// How many copies of `key` are held now (count() until a wipe).
  std::int64_t held(std::string_view key) const;
  /// Every copy of `key` held now is gone (an operator's act, not the API's
  /// answer to a request).
  void wipe(std::string_view key);
  /// wipe() by the hash add() returned (a fake keeps 8 bytes a row, not its key).
  void wipe_hashed(std::uint64_t h);
  /// How many distinct effects were applied.
  std::size_t distinct() const { return counts_.size(); }

 private:
  std::int64_t total(std::uint64_t h) const;
  // Nearly every effect is applied once: a one-byte count per key (9 bytes a
  // slot), and the keys counted 255 times or more in an ordered side map.
  FlatU64Map<std::uint8_t> counts_;
  std::map<std::uint64_t, std::int64_t> many_;
  // Keys an operator wiped: applications gone with wipes, and the most copies
  // held at once up to the last wipe.
  struct Wiped {
    std::int64_t gone = 0;
    std::int64_t peak = 0;
  };
  std::map<std::uint64_t, Wiped> wiped_;
};

/// An HTTP fake with fixed options, one struct of mutable state and the oracle's
/// ledger. reset() is `state_ = {}` and an empty ledger: a member added to State
/// cannot be left out of reset. The options' `latency` (when it has one) is the
/// doors' service time. A fake whose reset must do more (seed tables) overrides
/// reset() and calls this one first.
template <class Options, class State>
class StatefulFakeApi : public FakeApi {
 public:
  explicit StatefulFakeApi(Options options = {}) : options_(std::move(options)) {
    if constexpr (requires { options_.latency; }) set_latency(options_.latency);
  }
  void reset() override {
    state_ = State{};
    ledger_ = AppliedLedger{};
  }
  std::int64_t applied(const std::string& key) const override { return ledger_.count(key); }
  std::int64_t peak(const std::string& key, std::int64_t) const override { return ledger_.peak(key); }
  std::int64_t held(const std::string& key) const override { return ledger_.held(key); }
  const Options& options() const { return options_; }

 protected:
  Options options_;
  State state_;
  AppliedLedger ledger_;
};

/// A deliberately simple, strict email check the fakes share: local@domain.tld
/// (one "@", a "." after the domain's first character, a non-empty last
/// label) and none of the characters in `forbidden`.
bool fake_valid_email(std::string_view e, std::string_view forbidden = " ,<>");

/// A JSON response with `Content-Type: application/json`.
Response json_response(int status, const nlohmann::json& body);

}  // namespace destsim
