// connector.cpp — black-box certification of a connector process (connector.h).
// Real time and real processes: this file lives in tools/, outside the
// deterministic core; the fake runs behind the HTTP door (fakes/doors).
#include "tools/connector.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "fakes/catalog.h"
#include "fakes/doors/http_door.h"
#include "fakes/fault_plan.h"
#include "framework/rng.h"
#include "framework/text.h"

namespace destsim {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char* const kProperties[] = {"E2", "A3", "I1", "B1", "B4", "C1", "F1", "G1"};

// ─── A case ─────────────────────────────────────────────────────────────────

struct Case {
  std::int64_t index = 0;
  std::uint64_t seed = 0;
  nlohmann::json messages = nlohmann::json::array();  // the input, in order (RECORD and STATE)
  nlohmann::json faults = nlohmann::json::array();    // the door's fault plan
  std::int64_t kill_after_ms = -1;                    // SIGKILL this long after the start, then rerun

  nlohmann::json to_json() const {
    return {{"index", index}, {"seed", seed}, {"messages", messages}, {"faults", faults}, {"kill_after_ms", kill_after_ms}};
  }
};

std::string marker_of(const nlohmann::json& record_message) {
  return record_message["record"]["data"]["destsim_id"].get<std::string>();
}

bool is_record(const nlohmann::json& m) { return m.is_object() && m.value("type", "") == "RECORD"; }
bool is_state(const nlohmann::json& m) { return m.is_object() && m.value("type", "") == "STATE"; }

// Faults that make sense in real time: a case takes seconds. Statuses come
// from the fake's error table (with its error bodies). Cases take turns:
// server errors, a rate limit, a permanent refusal, a cut connection and a
// kill — so even a few cases reach each.
Case make_case(std::uint64_t run_seed, std::int64_t index, bool airbyte, const FakeEntry& fake) {
  Case c;
  c.index = index;
  c.seed = derive_seed(run_seed, "connector", static_cast<std::uint64_t>(index));
  Rng r(c.seed);
  static const char* kPlans[] = {"free", "pro", "team", "enterprise"};
  const std::int64_t n = 6 + static_cast<std::int64_t>(r.below(30));
  char tag[24];
  std::snprintf(tag, sizeof tag, "%08llx", static_cast<unsigned long long>(c.seed & 0xffffffffULL));
  std::int64_t since_state = 0;
  for (std::int64_t i = 1; i <= n; ++i) {
    const std::string id = "dsm-" + std::string(tag) + "-" + std::to_string(i);
    nlohmann::json data = {{"email", "u" + std::string(tag) + "-" + std::to_string(i) + "@example.com"},
                           {"destsim_id", id},
                           {"plan", kPlans[r.below(4)]},
                           {"score", static_cast<std::int64_t>(r.below(1000))}};
    if (r.chance(1, 8)) data["note"] = "a \"quoted\", multi-line\nvalue \u00e9\u674e";
    c.messages.push_back({{"type", "RECORD"},
                          {"record", {{"stream", "users"}, {"data", std::move(data)}, {"emitted_at", 1704067200000 + i}}}});
    ++since_state;
    if (airbyte && (r.chance(1, 5) || i == n)) {
      c.messages.push_back({{"type", "STATE"},
                            {"state",
                             {{"type", "STREAM"},
                              {"stream", {{"stream_descriptor", {{"name", "users"}}}, {"stream_state", {{"cursor", i}}}}},
                              {"sourceStats", {{"recordCount", since_state}}}}}});
      since_state = 0;
    }
  }
  auto rule = [&](nlohmann::json r2) {
    r2["match"] = {{"method", "POST"}};
    c.faults.push_back(std::move(r2));
  };
  // Answers from the fake's own error table (its statuses, its error bodies).
  std::vector<FakeEntry::ErrorAnswer> server, refusal;
  for (const auto& e : error_table_of(fake)) {
    if (e.status >= 500) server.push_back(e);
    if (e.status == 400 || e.status == 401 || e.status == 403 || e.status == 404 || e.status == 409 || e.status == 422)
      refusal.push_back(e);
  }
  auto answer = [&](const FakeEntry::ErrorAnswer& e, bool after) {
    nlohmann::json a = {{"status", e.status}};
    if (!e.body.empty()) a["body"] = e.body;
    else if (!fake.error_bodies.empty()) a["body"] = fake.error_bodies[r.below(fake.error_bodies.size())];
    if (a.contains("body")) a["headers"] = {{"Content-Type", "application/json"}};
    if (after) a["after"] = true;
    return a;
  };
  switch (index % 4) {
    case 0:  // server errors, sometimes after the fake applied the request
      if (!server.empty()) {
        const auto& e = server[r.below(server.size())];
        rule({{"times", 1 + r.below(2)}, {"respond", answer(e, e.may_apply && r.chance(1, 2))}});
      }
      break;
    case 1:  // a rate limit with a short Retry-After
      rule({{"times", 1 + r.below(2)}, {"rate_limit", {{"retry_after", "1s"}}}});
      break;
    case 2:  // a permanent refusal, after a few good requests
      if (!refusal.empty())
        rule({{"probability", "1/3"}, {"times", 1}, {"respond", answer(refusal[r.below(refusal.size())], false)}});
      break;
    default:  // a cut connection, before or after the fake applied the request
      rule({{"times", 1}, {r.chance(1, 2) ? "reset" : "timeout", r.chance(1, 2) ? "after" : "before"}});
      break;
  }
  if (r.chance(1, 3)) c.faults.push_back({{"probability", "1/3"}, {"latency", {{"min", "10ms"}, {"max", "120ms"}}}});
  if (r.chance(1, 4)) rule({{"times", 1}, {"too_large", {{"max_body", 400 + static_cast<std::int64_t>(r.below(1200))}}}});
  if (airbyte && index % 4 == 3) c.kill_after_ms = 150 + static_cast<std::int64_t>(r.below(900));
  return c;
}

// ─── One process run ────────────────────────────────────────────────────────

struct OutLine {
  Clock::time_point at;
  nlohmann::json message;  // null when the line is not JSON
  std::string text;
};

struct ProcResult {
  int exit_code = -1;      // -1: killed by a signal
  bool killed = false;     // by the case's SIGKILL
  bool timed_out = false;  // by the case timeout
  std::vector<OutLine> out;
  std::string stderr_tail;
};

std::string read_tail(const std::string& path, std::size_t n) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > n ? s.substr(s.size() - n) : s;
}

// Runs `command` (through /bin/sh -c, in its own process group) with `input`
// on stdin; `on_line` sees each stdout line as it arrives.
ProcResult run_process(const std::string& command, const std::vector<std::string>& env, const std::string& input,
                       std::int64_t kill_after_ms, milliseconds timeout, const std::string& stderr_path,
                       const std::function<void(const OutLine&)>& on_line) {
  ProcResult res;
  int in_pipe[2], out_pipe[2];
  if (::pipe(in_pipe) != 0 || ::pipe(out_pipe) != 0) {
    res.stderr_tail = std::string("pipe: ") + std::strerror(errno);
    return res;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err >= 0) ::dup2(err, 2);
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  const Clock::time_point start = Clock::now();
  // The writer: the whole input, then EOF (a connector that stops reading
  // gets EPIPE, not a signal).
  std::thread writer([fd = in_pipe[1], &input] {  // determinism-ok: a real process's stdin
    std::size_t at = 0;
    while (at < input.size()) {
      const ssize_t n = ::write(fd, input.data() + at, input.size() - at);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      at += static_cast<std::size_t>(n);
    }
    ::close(fd);
  });
  std::string buf;
  char chunk[65536];
  bool open = true;
  while (open) {
    const auto now = Clock::now();
    const auto elapsed = std::chrono::duration_cast<milliseconds>(now - start).count();
    if (kill_after_ms >= 0 && !res.killed && elapsed >= kill_after_ms) {
      ::kill(-pid, SIGKILL);
      res.killed = true;
    }
    if (elapsed >= timeout.count() && !res.timed_out) {
      ::kill(-pid, SIGKILL);
      res.timed_out = true;
    }
    pollfd p{out_pipe[0], POLLIN, 0};
    const int wait_ms = kill_after_ms >= 0 && !res.killed ? static_cast<int>(std::max<std::int64_t>(1, kill_after_ms - elapsed))
                                                          : 50;
    const int k = ::poll(&p, 1, std::min(wait_ms, 50));
    if (k <= 0) continue;
    const ssize_t n = ::read(out_pipe[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      open = false;
      break;
    }
    buf.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      OutLine line{Clock::now(), nullptr, buf.substr(0, nl)};
      buf.erase(0, nl + 1);
      line.message = nlohmann::json::parse(line.text, nullptr, false);
      if (line.message.is_discarded()) line.message = nullptr;
      if (on_line) on_line(line);
      res.out.push_back(std::move(line));
    }
  }
  ::close(out_pipe[0]);
  int status = 0;
  // stdout closed: the process ended, or closed it early; the timeout still bounds it.
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() - start >= timeout) {
      ::kill(-pid, SIGKILL);
      res.timed_out = true;
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));  // determinism-ok: waiting for a real process
  }
  ::kill(-pid, SIGKILL);  // anything it left behind in its group
  writer.join();
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  res.stderr_tail = read_tail(stderr_path, 2000);
  return res;
}

// ─── Checking ───────────────────────────────────────────────────────────────

struct Verdicts {
  std::map<std::string, std::string> failed;  // property → first reason
  void fail(const std::string& id, const std::string& why) { failed.emplace(id, why); }
};

std::int64_t count_of(const std::string& hay, const std::string& needle) {
  std::int64_t n = 0;
  for (std::size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + needle.size())) ++n;
  return n;
}

std::int64_t retry_after_ms(const std::string& v) {
  if (v.empty() || !std::all_of(v.begin(), v.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) return -1;
  return std::stoll(v) * 1000;
}

bool permanent(int status) {
  return status == 400 || status == 401 || status == 403 || status == 404 || status == 409 || status == 422;
}

struct CaseRun {
  Verdicts v;
  std::set<std::string> reached;  // fault kinds the door injected, "kill"
  std::string summary;
};

// Fills the config template.
std::string fill(std::string text, const std::string& base_url, const std::string& api_key) {
  auto replace = [&](const std::string& from, const std::string& to) {
    for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
  };
  replace("{{base_url}}", base_url);
  replace("{{api_key}}", api_key);
  return text;
}

class Runner {
 public:
  Runner(const ConnectorArgs& a, const FakeEntry& fake, nlohmann::json fake_options, std::string config_template)
      : a_(a), fake_(fake), fake_options_(std::move(fake_options)), template_(std::move(config_template)) {}

  Result<CaseRun> run(const Case& c) {
    CaseRun out;
    auto made = fake_.make(fake_options_, "--fake-options");
    if (!made.ok()) return made.error();
    std::unique_ptr<Fake> fake = std::move(made).value();
    FakeApi* api = fake->http();
    if (!api) return Error::bad_input("--fake " + a_.fake + ": not an HTTP fake (connectors reach fakes over HTTP)");
    DS_TRY(FaultPlan plan, FaultPlan::from_json(c.faults, "case faults"));
    std::mutex log_mu;
    std::vector<DoorExchange> log;
    HttpDoorOptions o;
    o.seed = c.seed;
    o.max_requests = 20'000;
    o.max_lifetime = a_.case_timeout * 3 + std::chrono::seconds(10);
    o.timeout_hold = std::chrono::seconds(2);
    o.on_exchange = [&](const DoorExchange& e) {
      std::lock_guard<std::mutex> lock(log_mu);  // determinism-ok: the door's threads report here
      log.push_back(e);
    };
    HttpDoor door(*api, std::move(plan), o);
    DS_TRY(int port, door.start());
    (void)port;
    const std::string base_url = door.url();
    const std::string api_key = fake_options_.value("api_key", "destsim-connector-key");

    std::error_code ec;
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("destsim-connector-" + std::to_string(::getpid()) + "-" +
                                                   std::to_string(c.index));
    std::filesystem::create_directories(dir, ec);
    const std::string config_path = (dir / "config.json").string(), catalog_path = (dir / "catalog.json").string();
    std::ofstream(config_path) << fill(template_, base_url, api_key);
    std::ofstream(catalog_path) << nlohmann::json{
        {"streams",
         {{{"stream", {{"name", "users"}, {"json_schema", {{"type", "object"}}}, {"supported_sync_modes", {"full_refresh", "incremental"}}}},
           {"sync_mode", "incremental"},
           {"destination_sync_mode", "append"}}}}}.dump();
    const bool airbyte = a_.mode == "airbyte";
    const std::string command =
        airbyte ? a_.command + " write --config '" + config_path + "' --catalog '" + catalog_path + "'" : a_.command;
    std::vector<std::string> env = {"DESTSIM_BASE_URL=" + base_url, "DESTSIM_API_KEY=" + api_key};

    // The fake's state as a string, between requests.
    auto snapshot = [&] {
      std::string s;
      door.inspect([&](const FakeApi& f) { s = f.accepted().dump(); });
      return s;
    };
    // Input positions: the state messages' index, and each record's.
    std::vector<std::int64_t> state_pos;
    for (std::size_t i = 0; i < c.messages.size(); ++i)
      if (is_state(c.messages[i])) state_pos.push_back(static_cast<std::int64_t>(i));
    std::int64_t last_echoed = -1;  // input index of the last STATE echoed (any run)

    auto run_from = [&](std::size_t first, std::int64_t kill_after) {
      std::string input;
      for (std::size_t i = first; i < c.messages.size(); ++i) {
        if (airbyte) input += c.messages[i].dump() + "\n";
        else if (is_record(c.messages[i])) input += c.messages[i].at("record").at("data").dump() + "\n";  // generic: records only
      }
      std::size_t next_state = 0;  // echoes are matched to input states in order
      while (next_state < state_pos.size() && static_cast<std::size_t>(state_pos[next_state]) < first) ++next_state;
      return run_process(command, env, input, kill_after, a_.case_timeout, (dir / "stderr.txt").string(),
                         [&](const OutLine& line) {
                           if (!airbyte || !line.message.is_object() || !is_state(line.message)) return;
                           // Which input STATE it echoes: the next one equal to it.
                           std::int64_t pos = -1;
                           for (std::size_t k = next_state; k < state_pos.size(); ++k)
                             if (c.messages[static_cast<std::size_t>(state_pos[k])]["state"] == line.message["state"]) {
                               pos = state_pos[k];
                               next_state = k + 1;
                               break;
                             }
                           if (pos < 0) {
                             out.v.fail("E2", "case " + std::to_string(c.index) +
                                                  ": a STATE was emitted that matches no input STATE after the last one "
                                                  "echoed: " + line.text.substr(0, 200));
                             return;
                           }
                           const std::string fake_now = snapshot();
                           for (std::int64_t i = 0; i < pos; ++i) {
                             const auto& m = c.messages[static_cast<std::size_t>(i)];
                             if (!is_record(m)) continue;
                             if (count_of(fake_now, "\"" + marker_of(m) + "\"") == 0) {
                               out.v.fail("E2", "case " + std::to_string(c.index) + ": the STATE after input message " +
                                                    std::to_string(pos) + " was emitted before record " +
                                                    marker_of(m) + " (before it on stdin) was in the fake");
                               break;
                             }
                           }
                           last_echoed = std::max(last_echoed, pos);
                         });
    };

    int generic_failed_exit = 0;
    auto judge_end = [&](const ProcResult& p, const char* which) {
      if (p.timed_out) {
        out.v.fail("G1", "case " + std::to_string(c.index) + ": the " + which + " run did not end within " +
                             std::to_string(a_.case_timeout.count()) + " ms (killed)");
        return;
      }
      if (p.killed) return;
      if (p.exit_code == 0) return;
      bool trace = false;
      for (const auto& l : p.out)
        trace = trace || (l.message.is_object() && l.message.value("type", "") == "TRACE" && l.message.contains("trace") &&
                          l.message["trace"].value("type", "") == "ERROR");
      if (!airbyte) {
        // Generic mode: a non-zero exit is the connector's failure report,
        // fair only after a permanent refusal (judged with the door's log).
        generic_failed_exit = p.exit_code;
        return;
      }
      if (!trace)
        out.v.fail("F1", "case " + std::to_string(c.index) + ": the " + which + " run exited " +
                             std::to_string(p.exit_code) + (airbyte ? " without a TRACE error message" : "") +
                             "; stderr: " + p.stderr_tail.substr(p.stderr_tail.size() > 300 ? p.stderr_tail.size() - 300 : 0));
    };

    ProcResult first = run_from(0, c.kill_after_ms);
    judge_end(first, "first");
    ProcResult final_run = first;
    if (first.killed) {
      out.reached.insert("kill");
      // The rerun starts after the last STATE the killed process echoed (the
      // platform's resume point), with everything after it.
      const std::size_t from = last_echoed >= 0 ? static_cast<std::size_t>(last_echoed) + 1 : 0;
      door.wait_quiet(std::chrono::seconds(3));
      final_run = run_from(from, -1);
      judge_end(final_run, "rerun");
    }
    door.wait_quiet(std::chrono::seconds(3));
    const std::string fake_end = snapshot();
    door.stop();

    // A3: after a clean end, every record before the last echoed STATE (generic
    // mode: every record) is in the fake once.
    if (!final_run.timed_out && !final_run.killed && final_run.exit_code == 0) {
      const std::int64_t upto = airbyte ? last_echoed : static_cast<std::int64_t>(c.messages.size());
      std::vector<std::string> lost, doubled;
      for (std::int64_t i = 0; i < upto; ++i) {
        const auto& m = c.messages[static_cast<std::size_t>(i)];
        if (!is_record(m)) continue;
        const std::int64_t n = count_of(fake_end, "\"" + marker_of(m) + "\"");
        if (n == 0) lost.push_back(marker_of(m));
        if (n > 1) doubled.push_back(marker_of(m));
      }
      if (!lost.empty())
        out.v.fail("A3", "case " + std::to_string(c.index) + ": " + std::to_string(lost.size()) +
                             " records before the last echoed STATE are not in the fake (first " + lost.front() + ")");
      else if (!doubled.empty())
        out.v.fail("A3", "case " + std::to_string(c.index) + ": " + std::to_string(doubled.size()) +
                             " records are in the fake more than once (first " + doubled.front() + ")");
      if (airbyte && last_echoed < 0 && !state_pos.empty())
        out.v.fail("A3", "case " + std::to_string(c.index) + ": a clean exit without echoing any STATE (every "
                                                             "retry of the sync would start over)");
    }

    // The door's log: I1, B1, B4, C1.
    std::sort(log.begin(), log.end(), [](const DoorExchange& x, const DoorExchange& y) { return x.arrived < y.arrived; });
    for (std::size_t i = 0; i < log.size(); ++i) {
      const DoorExchange& e = log[i];
      if (e.injected == "respond")
        out.reached.insert(permanent(e.status) ? "a permanent 4xx" : e.status >= 500 ? "a 5xx" : "respond");
      else if (!e.injected.empty())
        out.reached.insert(e.injected);
      const std::int64_t ra = (e.status == 429 || e.status == 503) ? retry_after_ms(e.retry_after) : -1;
      for (std::size_t k = i + 1; k < log.size(); ++k) {
        const DoorExchange& n = log[k];
        if (ra > 0 && n.path == e.path && n.arrived > e.answered &&
            n.arrived < e.answered + milliseconds(ra) - milliseconds(50)) {
          out.v.fail("I1", "case " + std::to_string(c.index) + ": a request to " + n.path + " came " +
                               std::to_string(std::chrono::duration_cast<milliseconds>(n.arrived - e.answered).count()) +
                               " ms after a " + std::to_string(e.status) + " whose Retry-After asked " +
                               std::to_string(ra / 1000) + " s");
          break;
        }
        if (permanent(e.status) && n.arrived >= e.answered && n.body == e.body && n.path == e.path) {
          out.v.fail("C1", "case " + std::to_string(c.index) + ": a request to " + e.path + " answered " +
                               std::to_string(e.status) + " (permanent) was sent again unchanged");
          break;
        }
      }
      const std::int64_t records = count_of(e.body, "\"dsm-");
      if (a_.records_max > 0 && records > a_.records_max)
        out.v.fail("B1", "case " + std::to_string(c.index) + ": a request to " + e.path + " carried " +
                             std::to_string(records) + " records (declared --records-max " +
                             std::to_string(a_.records_max) + ")");
      if (a_.bytes_max > 0 && static_cast<std::int64_t>(e.body.size()) > a_.bytes_max)
        out.v.fail("B1", "case " + std::to_string(c.index) + ": a request to " + e.path + " was " +
                             std::to_string(e.body.size()) + " bytes (declared --bytes-max " +
                             std::to_string(a_.bytes_max) + ")");
      if (a_.concurrency_max > 0 && e.in_flight > a_.concurrency_max)
        out.v.fail("B4", "case " + std::to_string(c.index) + ": " + std::to_string(e.in_flight) +
                             " requests in flight (declared --concurrency-max " + std::to_string(a_.concurrency_max) + ")");
    }
    if (generic_failed_exit != 0 &&
        std::none_of(log.begin(), log.end(), [](const DoorExchange& e) { return permanent(e.status); }))
      out.v.fail("F1", "case " + std::to_string(c.index) + ": exited " + std::to_string(generic_failed_exit) +
                           " though no request was refused for good (generic mode: exit 0 unless the API refused); "
                           "stderr: " +
                           final_run.stderr_tail.substr(final_run.stderr_tail.size() > 300 ? final_run.stderr_tail.size() - 300 : 0));
    out.summary = std::to_string(log.size()) + " requests, exit " + std::to_string(final_run.exit_code) +
                  (first.killed ? " after a kill and a rerun" : "") + ", last STATE echoed at input " +
                  std::to_string(last_echoed);
    std::filesystem::remove_all(dir, ec);
    return out;
  }

 private:
  const ConnectorArgs& a_;
  const FakeEntry& fake_;
  nlohmann::json fake_options_;
  std::string template_;
};

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}

int bad(const std::string& m) {
  std::fprintf(stderr, "destsim certify --connector: %s\n", m.c_str());
  return 2;
}

}  // namespace

int run_connector_certify(const ConnectorArgs& a) {
  if (a.command.empty()) return bad("--connector: expected a command");
  const FakeEntry* fake = find_fake(a.fake);
  if (!fake) return bad("--fake: unknown fake \"" + a.fake + "\" (one of: " + fake_names() + ")");
  if (fake->door != FakeDoor::http) return bad("--fake " + a.fake + ": not an HTTP fake");
  if (a.mode != "airbyte" && a.mode != "generic") return bad("--mode: expected airbyte or generic, got \"" + a.mode + "\"");
  nlohmann::json options = nlohmann::json::object();
  if (!a.fake_options.empty()) {
    options = nlohmann::json::parse(a.fake_options, nullptr, false);
    if (!options.is_object()) return bad("--fake-options: expected a JSON object");
  }
  // The fake's key (when it takes one) and a service time, so an echoed STATE
  // is read well before a request sent after it could land.
  nlohmann::json with_key = options;
  if (!with_key.contains("api_key")) with_key["api_key"] = "destsim-connector-key";
  if (!with_key.contains("latency")) with_key["latency"] = "30ms";
  if (fake->make(with_key, "--fake-options").ok()) {
    options = with_key;
  } else if (auto plain = fake->make(options, "--fake-options"); !plain.ok()) {
    return bad(plain.error().message);
  }
  std::string config_template;
  if (a.mode == "airbyte") {
    if (a.config_template.empty()) return bad("--config-template: required in airbyte mode (a config with {{base_url}})");
    std::ifstream f(a.config_template);
    if (!f) return bad("--config-template: cannot read " + a.config_template);
    std::stringstream ss;
    ss << f.rdbuf();
    config_template = ss.str();
    if (config_template.size() > 1'000'000) return bad(a.config_template + ": over 1 MB, the limit on a config template");
    if (config_template.find("{{base_url}}") == std::string::npos)
      return bad(a.config_template + ": no {{base_url}} placeholder: the connector would not reach the fake");
  }
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<Case> cases;
  if (!a.case_file.empty()) {
    std::ifstream f(a.case_file);
    nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
    if (!j.is_object() || !j.contains("case") || !j["case"].is_object() || !j["case"].contains("messages") ||
        !j["case"]["messages"].is_array() || !j["case"].contains("faults"))
      return bad(a.case_file + ": /case: expected a written connector case {index, seed, messages, faults, kill_after_ms}");
    Case c;
    const auto& cj = j["case"];
    auto integer = [&](const char* key, std::int64_t fallback) -> std::optional<std::int64_t> {
      if (!cj.contains(key)) return fallback;
      if (!cj[key].is_number_integer()) return std::nullopt;
      return cj[key].get<std::int64_t>();
    };
    const auto index = integer("index", 0), seed = integer("seed", 1), kill = integer("kill_after_ms", -1);
    if (!index || !seed || !kill || *kill > 3'600'000)
      return bad(a.case_file + ": /case: index, seed and kill_after_ms must be integers (kill_after_ms at most 3600000)");
    c.index = *index;
    c.seed = static_cast<std::uint64_t>(*seed);
    c.messages = cj["messages"];
    c.faults = cj["faults"];
    c.kill_after_ms = *kill;
    if (!c.faults.is_array()) return bad(a.case_file + ": /case/faults: expected an array of fault rules");
    if (c.messages.size() > 100'000) return bad(a.case_file + ": /case/messages: more than 100000 messages, the limit");
    for (std::size_t i = 0; i < c.messages.size(); ++i) {
      const nlohmann::json& m = c.messages[i];
      const bool record = m.is_object() && is_record(m) && m.contains("record") && m["record"].is_object() &&
                          m["record"].contains("data") && m["record"]["data"].is_object() &&
                          m["record"]["data"].contains("destsim_id") && m["record"]["data"]["destsim_id"].is_string();
      const bool state = m.is_object() && is_state(m) && m.contains("state") && m["state"].is_object();
      if (!record && !state)
        return bad(a.case_file + ": /case/messages/" + std::to_string(i) +
                   ": expected a RECORD whose record.data has a string destsim_id, or a STATE with a state object");
    }
    cases.push_back(std::move(c));
  } else {
    for (std::int64_t i = 0; i < a.cases; ++i) cases.push_back(make_case(a.seed, i, a.mode == "airbyte", *fake));
  }

  Runner runner(a, *fake, options, config_template);
  std::map<std::string, std::vector<std::pair<std::int64_t, std::string>>> failures;  // property → (case, why)
  std::set<std::string> reached;
  std::printf("certify connector: %s against %s, %zu cases (real time)\n", a.command.c_str(), a.fake.c_str(),
              cases.size());
  std::fflush(stdout);
  for (const Case& c : cases) {
    auto r = runner.run(c);
    if (!r.ok()) return bad(r.error().message);
    reached.insert(r->reached.begin(), r->reached.end());
    std::printf("  case %lld: %s%s\n", static_cast<long long>(c.index), r->summary.c_str(),
                r->v.failed.empty() ? "" : (" — FAILS " + r->v.failed.begin()->first).c_str());
    std::fflush(stdout);
    for (const auto& [p, why] : r->v.failed) {
      const bool first = failures[p].empty();
      failures[p].push_back({c.index, why});
      if (first && a.case_file.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(a.out_dir, ec);
        const std::string path = a.out_dir + "/connector-" + p + "-case-" + std::to_string(c.index) + ".json";
        std::ofstream(path) << nlohmann::json{{"about", "destsim certify --connector: " + p + " broke — " + why},
                                              {"note", "a real-time case reproduces in plan and input, not in timing"},
                                              {"connector", a.command},
                                              {"fake", a.fake},
                                              {"fake_options", options},
                                              {"mode", a.mode},
                                              {"property", p},
                                              {"case", c.to_json()}}
                                   .dump(2)
                            << "\n";
        std::printf("  %s: failing case written: destsim certify --connector \"%s\" --fake %s --case %s\n", p.c_str(),
                    a.command.c_str(), a.fake.c_str(), path.c_str());
      }
    }
  }
  // What a certified connector must have met: every fault kind the cases draw.
  std::vector<std::string> required = {"rate_limit", "a permanent 4xx", "a 5xx"};
  if (a.mode == "airbyte" && a.case_file.empty()) required.push_back("kill");
  if (a.case_file.empty()) required.push_back("reset|timeout");
  std::vector<std::string> unreached;
  for (const auto& need : required) {
    bool any = false;
    for (const auto& alt : split(need, '|')) any = any || reached.count(std::string(alt)) > 0;
    if (!any) unreached.push_back(need);
  }
  const bool certified = failures.empty() && (unreached.empty() || !a.case_file.empty());
  std::printf("\n%-12s", "");
  for (const char* p : kProperties) std::printf(" %4s", p);
  std::printf("  cases  verdict\n%-12s", a.fake.c_str());
  for (const char* p : kProperties) {
    const bool na = (std::string(p) == "B1" && a.records_max == 0 && a.bytes_max == 0) ||
                    (std::string(p) == "E2" && a.mode != "airbyte");
    std::printf(" %4s", failures.count(p) ? "FAIL" : na ? "n/a" : "ok");
  }
  std::printf("  %5zu  %s\n", cases.size(), certified ? "certified" : "NOT certified");
  for (const auto& [p, list] : failures)
    std::printf("%s: FAIL (%zu cases) — %s\n", p.c_str(), list.size(), list.front().second.c_str());
  if (!unreached.empty() && a.case_file.empty()) {
    std::string u;
    for (const auto& s : unreached) u += (u.empty() ? "" : ", ") + s;
    std::printf("unreached: no case met %s (more --cases)\n", u.c_str());
  }
  std::printf("real-time cases: reproducible in plan and input (--case FILE), not in timing\n");

  nlohmann::json report = {{"connector", a.command},   {"fake", a.fake},          {"mode", a.mode},
                           {"cases", cases.size()},   {"seed", a.seed},          {"verdict", certified ? "certified" : "not certified"},
                           {"reached", reached},      {"unreached", unreached},
                           {"note", "real-time cases are reproducible in plan and input, not in timing"}};
  for (const char* p : kProperties) {
    auto it = failures.find(p);
    report["properties"][p] = it == failures.end() ? nlohmann::json{{"verdict", "pass"}}
                                                    : nlohmann::json{{"verdict", "fail"},
                                                                     {"cases", it->second.size()},
                                                                     {"first", it->second.front().second}};
  }
  if (!a.report_json.empty()) std::ofstream(a.report_json) << report.dump(2) << "\n";
  if (!a.junit_xml.empty()) {
    std::ofstream x(a.junit_xml);
    x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"destsim connector " << xml_escape(a.fake)
      << "\" tests=\"" << std::size(kProperties) << "\" failures=\"" << failures.size() << "\">\n";
    for (const char* p : kProperties) {
      x << "  <testcase classname=\"connector\" name=\"" << p << "\">";
      if (auto it = failures.find(p); it != failures.end())
        x << "<failure message=\"" << xml_escape(it->second.front().second) << "\"/>";
      x << "</testcase>\n";
    }
    x << "</testsuite>\n";
  }
  if (!a.html_file.empty()) {
    std::ofstream h(a.html_file);
    h << "<!doctype html><meta charset=utf-8><title>destsim connector certification</title>"
         "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px 8px}"
         ".fail{background:#fdd}.ok{background:#dfd}</style><h1>"
      << xml_escape(a.command) << " against " << xml_escape(a.fake) << ": "
      << (certified ? "certified" : "NOT certified") << "</h1><table><tr><th>property</th><th>verdict</th><th>first failure</th></tr>";
    for (const char* p : kProperties) {
      auto it = failures.find(p);
      h << "<tr class=" << (it == failures.end() ? "ok" : "fail") << "><td>" << p << "</td><td>"
        << (it == failures.end() ? "ok" : "FAIL") << "</td><td>"
        << (it == failures.end() ? "" : xml_escape(it->second.front().second)) << "</td></tr>";
    }
    h << "</table><p>" << cases.size() << " cases, seed " << a.seed
      << ". Real-time cases reproduce in plan and input, not in timing.</p>\n";
  }
  return certified ? 0 : 1;
}

}  // namespace destsim
