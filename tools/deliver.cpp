// deliver.cpp — `destsim deliver` (see deliver.h). Real mode: this file reads
// the wall clock (through RealClock) and runs a signal thread; the delivery
// itself is the destination's own code on the one loop thread.
#include "tools/deliver.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "destinations/destination.h"
#include "fakes/catalog.h"
#include "framework/json_in.h"
#include "tools/report.h"
#include "framework/lifecycle.h"
#include "framework/oracle.h"
#include "framework/real/libssh_file_transport.h"
#include "framework/real/real_clock.h"
#include "framework/real/real_http_transport.h"
#include "framework/real/sqlite_job_store.h"
#include "framework/text.h"

namespace destsim {
namespace {

struct Input {
  std::vector<Record> records;
  std::map<JobId, std::size_t> index;  // id → position
};

// Records as JSON lines with a scenario record's keys; each error names the
// file, the line and the JSON path.
Result<Input> read_input(const std::string& path) {
  DS_TRY(std::string text, read_text_file(path, kDeliverInputBytesMax, "a deliver input (JSON lines)"));
  Input in;
  std::map<JobId, std::int64_t> line_of;
  std::size_t pos = 0;
  std::int64_t line = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view one(text.data() + pos, end - pos);
    pos = end + 1;
    ++line;
    if (!one.empty() && one.back() == '\r') one.remove_suffix(1);
    if (one.find_first_not_of(" \t") == std::string_view::npos) continue;  // blank lines are allowed
    const std::string where = path + ": line " + std::to_string(line);
    DS_TRY(nlohmann::json j, parse_json_text(one, where));
    JsonIn r(j, where);
    DS_CHECK(r.object());
    DS_CHECK(r.only_keys({"id", "stream", "payload"}));
    DS_CHECK(r.require("payload"));
    Record rec;
    rec.id = static_cast<JobId>(line);
    if (r.has("id")) {
      DS_TRY(std::int64_t id, r.at("id").integer(1));
      rec.id = static_cast<JobId>(id);
    }
    if (r.has("stream")) {
      DS_TRY(rec.stream, r.at("stream").string());
      if (rec.stream.empty()) return r.at("stream").expected("a non-empty stream name");
    }
    rec.payload = r.at("payload").json();
    if (auto [it, fresh] = line_of.emplace(rec.id, line); !fresh)
      return r.at("id").fail("id " + std::to_string(rec.id) + " is already the id of line " +
                             std::to_string(it->second) + " (ids name jobs in the store: each once)");
    if (static_cast<std::int64_t>(in.records.size()) >= kDeliverRecordsMax)
      return Error::bad_input(where + ": more than " + std::to_string(kDeliverRecordsMax) +
                              " records, the limit on a deliver input");
    in.index[rec.id] = in.records.size();
    in.records.push_back(std::move(rec));
  }
  if (in.records.empty()) return Error::bad_input(path + ": no records (expected JSON lines with a \"payload\")");
  return in;
}

Input generate_input(const DestinationEntry& entry, std::int64_t n, std::uint64_t seed) {
  Input in;
  in.records.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 1; i <= n; ++i) {
    Rng rng(derive_seed(seed, "deliver-record", static_cast<std::uint64_t>(i)));
    Record r = entry.generate(rng, static_cast<JobId>(i), GenerateOptions{});
    r.id = static_cast<JobId>(i);
    in.index[r.id] = in.records.size();
    in.records.push_back(std::move(r));
  }
  return in;
}

// A store belongs to one destination and one input: a rerun with another
// would take over jobs it cannot deliver. The fingerprint sits beside the
// store, written (atomically) before the first record is sent.
Status check_fingerprint(const std::string& store, const std::string& destination, const Input& in) {
  std::uint64_t h = fnv1a64(destination);
  for (const Record& r : in.records) {
    nlohmann::json one = {{"id", r.id}, {"stream", r.stream}, {"payload", r.payload}};
    h = h * 1099511628211ULL ^ fnv1a64(one.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  const nlohmann::json mine = {{"destination", destination},
                               {"records", static_cast<std::int64_t>(in.records.size())},
                               {"input_hash", hex}};
  const std::string path = store + ".deliver.json";
  if (std::filesystem::exists(path)) {
    DS_TRY(nlohmann::json theirs, read_json_file(path));
    if (theirs != mine)
      return Error::bad_input(store + ": this store was written by a delivery of another destination or input (" +
                              path + " says " + theirs.dump() + ", this run is " + mine.dump() +
                              "); rerun with that input, or start over with a new --store");
    return Status::success();
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << mine.dump() << "\n";
    out.flush();
    if (!out) return Error::io(tmp + ": cannot write the store's input fingerprint");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Error::io(path + ": cannot write the store's input fingerprint: " + ec.message());
  return Status::success();
}

// What a run came to, per record of the input.
struct Tally {
  std::int64_t succeeded = 0, resent = 0, failed = 0, unknown = 0, aborted = 0, left = 0;
};

Tally tally(const JobStore& jobs, const Input& in) {
  Tally t;
  for (const Record& r : in.records) {
    if (!jobs.contains(r.id)) {
      ++t.left;
      continue;
    }
    const JobOutcome o = jobs.outcome(r.id);
    switch (o.state) {
      case JobState::pending: ++t.left; break;
      case JobState::succeeded:
        ++t.succeeded;
        t.resent += o.resent_after_unknown ? 1 : 0;
        break;
      case JobState::failed:
        ++t.failed;
        t.unknown += o.outcome_unknown ? 1 : 0;
        break;
      case JobState::aborted:
        ++t.aborted;
        t.unknown += o.outcome_unknown ? 1 : 0;
        break;
    }
  }
  return t;
}

Status write_outcomes(const std::string& path, const JobStore& jobs, const Input& in) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Error::io(path + ": cannot write the outcomes file");
  for (const Record& r : in.records) {
    nlohmann::json j = {{"id", r.id}};
    if (!jobs.contains(r.id)) {
      j["state"] = "not_started";
    } else {
      const JobOutcome o = jobs.outcome(r.id);
      j["state"] = job_state_name(o.state);
      j["attempts"] = jobs.attempts(r.id);
      if (o.state != JobState::succeeded && o.state != JobState::pending) {
        j["kind"] = reason_kind_name(o.kind);
        j["reason"] = o.reason;
      }
      if (o.outcome_unknown) j["outcome_unknown"] = true;
      if (o.resent_after_unknown) j["resent_after_unknown"] = true;
    }
    out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  out.flush();
  if (!out) return Error::io(path + ": writing the outcomes failed (device full or closed)");
  return Status::success();
}

// Feeds every record (the destination skips those the store shows terminal),
// then drains. `stopping` ends the feeding early (a signal); what was fed is
// still drained.
Task<void> feed(Destination& dest, const Input& in, const bool& stopping, std::int64_t& fed) {
  for (const Record& r : in.records) {
    if (stopping) break;
    co_await dest.deliver(r);
    ++fed;
  }
  co_await dest.drain();
}

// A staging destination commits whole streams: a stream cut short by a signal
// would fail and discard its records, so under a Sync the input always runs
// to its end (a second signal stops at once; the store resumes the rest).
Task<void> feed_sync(Loop& loop, Destination& dest, JobStore& jobs, const Input& in, std::int64_t& fed,
                     SyncOutcome& result) {
  std::vector<StreamSpec> streams;
  std::set<std::string> seen;
  for (const Record& r : in.records)
    if (seen.insert(r.stream).second) {
      StreamSpec spec;
      spec.name = r.stream;
      streams.push_back(std::move(spec));
    }
  Sync sync(loop, dest, jobs, streams);
  std::size_t next = 0, ended = 0;
  auto source = [&]() -> Task<std::optional<SyncMessage>> {
    return [](const Input* in, const std::vector<StreamSpec>* streams, std::size_t* next, std::size_t* ended,
              std::int64_t* fed) -> Task<std::optional<SyncMessage>> {
      SyncMessage m;
      if (*next < in->records.size()) {
        m.record = in->records[(*next)++];
        ++*fed;
        co_return m;
      }
      if (*ended < streams->size()) {
        m.kind = SyncMessage::Kind::end;
        m.stream = (*streams)[(*ended)++].name;
        co_return m;
      }
      co_return std::nullopt;
    }(&in, &streams, &next, &ended, &fed);
  };
  result = co_await sync.run(source);
}

}  // namespace

int run_deliver(const DeliverArgs& a) {
  const DestinationEntry* entry = find_destination(a.destination);
  if (!entry)
    return report(Error::not_found("unknown destination \"" + a.destination + "\" (" + destination_names() + ")"));
  const FakeEntry* fake = find_fake(entry->fake);
  const bool file_door = fake && fake->door == FakeDoor::file;
  if (a.store.empty()) return report(Error::bad_input("deliver: --store FILE is required (the durable job store)"));
  if (a.input_file.empty() == (a.generate == 0))
    return report(Error::bad_input("deliver: give the records with --input FILE.jsonl or --generate N (one of them)"));
  if (!file_door && a.url.empty())
    return report(Error::bad_input("deliver: " + entry->name + " sends HTTP: --url BASE_URL names where (e.g. the "
                                   "address `destsim serve " + entry->fake + "` prints)"));
  if (file_door && !a.url.empty())
    return report(Error::bad_input("deliver: " + entry->name + " opens its own file sessions: give host and port in "
                                   "its --config, not --url"));
  if (!a.url.empty() && a.url.rfind("http://", 0) != 0 && a.url.rfind("https://", 0) != 0)
    return report(Error::bad_input("--url " + a.url + ": expected http://HOST:PORT or https://HOST"));
  auto request_timeout = parse_duration(a.request_timeout);
  if (!request_timeout.ok()) return report(Error::bad_input("--request-timeout: " + request_timeout.error().message));
  if (request_timeout->count() <= 0) return report(Error::bad_input("--request-timeout: expected more than 0"));

  nlohmann::json doc = nlohmann::json::object();
  if (!a.config_file.empty()) {
    auto read = read_json_file(a.config_file);
    if (!read.ok()) return report(read.error());
    doc = std::move(read).value();
    if (!doc.is_object())
      return report(Error::bad_input(a.config_file + ": /: expected the destination's config as a JSON object, got " +
                                     json_summary(doc)));
  }
  auto config = Config::resolve(doc, entry->name, entry->schema, a.config_file.empty() ? "config" : a.config_file);
  if (!config.ok()) return report(config.error());

  Result<Input> input = a.generate > 0 ? Result<Input>(generate_input(*entry, a.generate, a.seed))
                                       : read_input(a.input_file);
  if (!input.ok()) return report(input.error());
  if (Status fp = check_fingerprint(a.store, entry->name, *input); !fp.ok()) return report(fp.error());

  std::ofstream trace_out;
  if (!a.trace_file.empty()) {
    trace_out.open(a.trace_file, std::ios::binary | std::ios::trunc);
    if (!trace_out) return report(Error::io(a.trace_file + ": cannot write the trace file"));
  }

  // The stop signals are taken by one thread (sigwait); block them before any
  // other thread (HTTP workers, libssh) starts, so none of them gets one.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  RealClock clock;
  Loop loop(clock, LoopOptions{.seed = a.seed});
  Trace& trace = loop.trace();
  trace.set_keep_lines(false);
  if (trace_out.is_open()) trace.set_sink(&trace_out);
  for (const auto& secret : config->secret_values()) trace.add_secret(secret);

  auto store = SqliteJobStore::open({.path = a.store, .commit_every = 1}, &trace);
  if (!store.ok()) return report(store.error());
  SqliteJobStore& jobs = **store;

  std::string host = entry->host;
  for (const auto& k : entry->schema)
    if (k.name == "host") host = config->string("host");
  HttpTransportOptions topts;
  if (!a.url.empty()) topts.routes[host] = a.url;
  topts.read_timeout = *request_timeout;
  topts.workers = a.connections;
  auto transport = std::make_unique<HttpTransport>(loop, std::move(topts));
  DeliveryContext ctx{loop, *transport, jobs, nullptr, libssh_session_opener(loop)};
  auto made = entry->make(ctx, *config);
  if (!made.ok()) return report(made.error());
  std::unique_ptr<Destination> dest = std::move(made).value();
  // A destination that commits at its durable steps is trusted with them: a
  // write between two of them must not survive a kill on its own.
  jobs.set_commit_every(dest->commits_at_durable_steps() ? INT_MAX : 1);

  const JobCounts before = jobs.counts();
  std::vector<JobId> taken;
  if (before.total() > 0) {
    taken = dest->resume([&input](JobId id) -> Result<Record> {
      auto it = input->index.find(id);
      if (it == input->index.end())
        return Error::not_found("job " + std::to_string(id) + " of the store is not in the input");
      return input->records[it->second];
    });
  }
  std::printf("deliver %s: %lld records%s, store %s (%lld jobs already, %lld terminal; %lld taken over)\n",
              entry->name.c_str(), static_cast<long long>(input->records.size()),
              a.url.empty() ? "" : (" to " + a.url).c_str(), a.store.c_str(), static_cast<long long>(before.total()),
              static_cast<long long>(before.total() - before.pending), static_cast<long long>(taken.size()));
  std::fflush(stdout);

  // First signal: stop feeding, drain, commit, exit. Second: exit at once.
  bool stopping = false;
  std::atomic<bool> finished{false};
  std::thread signals([&] {  // determinism-ok: real mode takes SIGTERM/SIGINT on a thread of its own
    int signals_seen = 0;
    for (;;) {
      int sig = 0;
      if (sigwait(&stop_signals, &sig) != 0 || finished.load()) return;
      if (++signals_seen >= 2) {
        std::fprintf(stderr, "destsim: stopped at once (second signal); the store keeps what was committed\n");
        std::_Exit(kExitFailed);
      }
      std::fprintf(stderr, "destsim: signal %d: no new records; draining what is in flight (again to stop now)\n",
                   sig);
      loop.post_external([&stopping] { stopping = true; });
    }
  });
  auto stop_signal_thread = [&] {
    finished.store(true);
    pthread_kill(signals.native_handle(), SIGTERM);  // pending until its sigwait takes it
    signals.join();
    // A stop signal that came after the thread left stays pending, blocked: take
    // it here, so no thread that does not block it (a sanitizer's at exit) can
    // die of it after the drain it asked for is done.
    const timespec zero{0, 0};
    while (sigtimedwait(&stop_signals, nullptr, &zero) > 0) {
    }
  };

  std::int64_t fed = 0;
  SyncOutcome sync_result;
  const bool staging = entry->capabilities.stages || dest->stages();
  Scope producer(loop);
  if (staging)
    producer.spawn(feed_sync(loop, *dest, jobs, *input, fed, sync_result));
  else
    producer.spawn(feed(*dest, *input, stopping, fed));
  Status ran = loop.run_until_idle();
  jobs.commit();
  stop_signal_thread();
  const nlohmann::json stats = dest->stats();
  dest.reset();
  transport.reset();
  if (trace_out.is_open()) {
    trace_out.flush();
    if (!trace_out) return report(Error::io(a.trace_file + ": writing the trace failed (device full or closed)"));
  }
  if (!ran.ok()) return report(ran.error());

  const Tally t = tally(jobs, *input);
  if (!a.outcomes_file.empty())
    if (Status w = write_outcomes(a.outcomes_file, jobs, *input); !w.ok()) return report(w.error());
  std::printf("%lld succeeded (%lld resent after an unknown outcome), %lld failed (%lld outcome unknown), %lld aborted, "
              "%lld left for a rerun\n",
              static_cast<long long>(t.succeeded), static_cast<long long>(t.resent), static_cast<long long>(t.failed),
              static_cast<long long>(t.unknown), static_cast<long long>(t.aborted), static_cast<long long>(t.left));
  std::printf("stats %s\n", stats.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  if (staging && !sync_result.ok) std::printf("sync: %s\n", sync_result.error.c_str());
  if (t.left > 0 && !stopping)
    return report(Error::hang(std::to_string(t.left) + " records never reached a terminal state and nothing is left "
                              "to do (a hang); rerun with the same --store to resume them"));
  if (t.left > 0)
    std::printf("stopped by a signal: rerun with the same --store to deliver the %lld left\n",
                static_cast<long long>(t.left));
  return t.failed + t.aborted > 0 ? kExitFailed : kExitOk;
}

}  // namespace destsim
