// fake_api.h — the shape every HTTP fake has.
//
// A fake is a pure state machine: `handle(request, now) -> response`, plus an
// inspectable record of what it truly accepted (the oracle the conformance suite
// checks the framework's own account against). No socket code lives in a fake:
// the sim door (SimTransport) and the HTTP door (HttpDoor) adapt it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "framework/http.h"
#include "framework/time.h"

namespace destsim {

/// What every fake has: a name, what it accepted, and the oracle.
class Fake {
 public:
  virtual ~Fake() = default;
  /// A short name ("scripted", "iterable", "sftp").
  virtual std::string name() const = 0;
  /// What the fake accepted so far, as JSON (for the oracle and `/_destsim/accepted`).
  virtual nlohmann::json accepted() const = 0;
  /// Forgets all state, as if new.
  virtual void reset() = 0;
  /// How many times the effect named by `key` (see framework/oracle.h) was
  /// applied: the oracle for "was this job really delivered, and how often".
  virtual std::int64_t applied(const std::string& key) const {
    (void)key;
    return 0;
  }
};

/// An HTTP fake: a pure state machine from request to response.
class FakeApi : public Fake {
 public:
  /// Applies one request at loop time `now` and answers it.
  virtual Response handle(const Request& request, Time now) = 0;
};

class Loop;
class FaultPlan;
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
};

/// A JSON response with `Content-Type: application/json`.
Response json_response(int status, const nlohmann::json& body);

}  // namespace destsim
