#include "conformance/runner.h"

#include <chrono>
#include <memory>
#include <set>

#include "fakes/catalog.h"
#include "framework/json_in.h"

namespace destsim {

struct Outcome::World {
  explicit World(std::uint64_t seed, std::uint64_t max_steps) : loop(clock, LoopOptions{seed, max_steps}) {}
  SimClock clock;
  Loop loop;
  FaultPlan plan;
  std::unique_ptr<Fake> fake;
  std::unique_ptr<SimTransport> transport;
  std::unique_ptr<FileTransport> files;  // file destinations: the session to the file fake
  std::unique_ptr<MemoryJobStore> jobs;
  std::unique_ptr<DeliveryContext> ctx;
  std::unique_ptr<Destination> destination;  // destroyed before what it uses
  std::unique_ptr<Scope> producer;           // the input feed; destroyed first
  // Input
  std::vector<Record> literal;
  std::map<JobId, std::size_t> literal_index;
  std::optional<GeneratedInput> generate;
  // Crashes (E1)
  std::vector<int> step_seen;        // per crash point: times its step was reached
  std::vector<bool> crash_done;
  std::map<std::size_t, TimerId> crash_timers;
  std::int64_t arrived = 0;          // input records that have arrived so far
  std::uint64_t crashes = 0;
  bool drained = false;
  // Under a Sync
  std::optional<SyncOutcome> sync_outcome;
  std::vector<ReleasedState> released;
  ~World() {
    producer.reset();
    destination.reset();
  }
};

Outcome::Outcome() = default;
Outcome::~Outcome() = default;
Outcome::Outcome(Outcome&&) noexcept = default;
Outcome& Outcome::operator=(Outcome&&) noexcept = default;

const JobStore& Outcome::jobs() const { return *world->jobs; }
const Fake& Outcome::fake() const { return *world->fake; }
const SimTransportStats& Outcome::transport() const { return world->transport->stats(); }

Record generate_record(const DestinationEntry& entry, std::uint64_t seed, JobId id, const GeneratedInput& g) {
  Rng rng(derive_seed(seed, "input", id));
  GenerateOptions o{g.type, g.invalid, g.payload_bytes};
  return entry.generate(rng, id, o);
}

Record Outcome::record(std::int64_t i) const {
  if (world->generate) return generate_record(*entry, seed, static_cast<JobId>(i + 1), *world->generate);
  return world->literal.at(static_cast<std::size_t>(i));
}

namespace {

// The input of a scenario under a Sync: records at their times, with the
// placed messages and the generated checkpoints and ends between them.
struct SyncFeed {
  struct Item {
    Duration at;
    std::int64_t index = -1;  // input record index, or -1 for a message
    SyncMessage message;
  };
  std::vector<Item> items;
  std::size_t next = 0;

  static SyncFeed build(const Scenario& s, const DestinationEntry& entry, std::uint64_t seed) {
    SyncFeed f;
    const SyncInput& in = *s.sync;
    const std::int64_t n = s.generate ? s.generate->records : static_cast<std::int64_t>(s.records.size());
    std::map<std::string, std::int64_t> per_stream;
    std::set<std::string> ended;
    auto placed = [&](std::int64_t after, Duration at) {
      for (const auto& p : in.messages) {
        if (p.after != after && !(after == n && p.after > n)) continue;
        if (p.message.kind == SyncMessage::Kind::end) ended.insert(p.message.stream);
        f.items.push_back(Item{at, -1, p.message});
      }
    };
    Duration at{0};
    placed(0, at);
    for (std::int64_t i = 0; i < n; ++i) {
      at = s.generate ? s.pace * i : s.records[static_cast<std::size_t>(i)].at;
      const std::string stream = s.generate ? generate_record(entry, seed, static_cast<JobId>(i + 1), *s.generate).stream
                                            : s.records[static_cast<std::size_t>(i)].record.stream;
      f.items.push_back(Item{at, i, SyncMessage{}});
      const std::int64_t c = ++per_stream[stream];
      if (in.state_every > 0 && c % in.state_every == 0) {
        SyncMessage st;
        st.kind = SyncMessage::Kind::state;
        st.stream = stream;
        st.state = {{"cursor", c}};
        f.items.push_back(Item{at, -1, st});
      }
      placed(i + 1, at);
    }
    if (in.end) {
      for (const auto& spec : in.streams) {
        if (ended.count(spec.name)) continue;
        SyncMessage e;
        e.kind = SyncMessage::Kind::end;
        e.stream = spec.name;
        f.items.push_back(Item{at, -1, e});
      }
    }
    return f;
  }
};

Task<void> drive_sync(Outcome::World& w, Destination& dest, const Scenario& s, std::uint64_t seed,
                      const DestinationEntry& entry, std::vector<Duration>* arrivals) {
  Loop& loop = w.loop;
  auto feed = std::make_shared<SyncFeed>(SyncFeed::build(s, entry, seed));
  Sync sync(loop, dest, *w.jobs, s.sync->streams);
  sync.on_release([&w](const ReleasedState& r) { w.released.push_back(r); });
  auto next = [&w, &s, &entry, seed, arrivals, feed]() -> Task<std::optional<SyncMessage>> {
    return [](Outcome::World* w, const Scenario* s, const DestinationEntry* entry, std::uint64_t seed,
              std::vector<Duration>* arrivals, std::shared_ptr<SyncFeed> feed) -> Task<std::optional<SyncMessage>> {
      if (feed->next >= feed->items.size()) co_return std::nullopt;
      SyncFeed::Item item = feed->items[feed->next++];
      if (kTimeZero + item.at > w->loop.now()) co_await w->loop.sleep_to(kTimeZero + item.at);
      if (item.index < 0) co_return item.message;
      if (item.index >= w->arrived) {
        w->arrived = item.index + 1;
        if (arrivals) arrivals->push_back(w->loop.now().time_since_epoch());
      }
      SyncMessage m;
      m.kind = SyncMessage::Kind::record;
      m.record = s->generate ? generate_record(*entry, seed, static_cast<JobId>(item.index + 1), *s->generate)
                             : s->records[static_cast<std::size_t>(item.index)].record;
      co_return m;
    }(&w, &s, &entry, seed, arrivals, feed);
  };
  SyncOutcome out = co_await sync.run(next);
  w.sync_outcome = std::move(out);
  w.drained = true;
  for (const auto& [_, timer] : w.crash_timers) loop.cancel(timer);  // no crash after the run ended
  w.crash_timers.clear();
  loop.trace().event(loop.now(), "run.drained").num("records", static_cast<std::int64_t>(w.arrived));
}

// Feeds the input to the destination, then drains it. After a restart it runs
// again from the start: records that already arrived are offered at once (the
// destination skips what the store shows as done), the rest at their times.
// Under a Sync, the Sync does the feeding and resumes after its checkpoints.
Task<void> drive(Outcome::World& w, Destination& dest, const Scenario& s, std::uint64_t seed,
                 const DestinationEntry& entry, std::vector<Duration>* arrivals) {
  if (s.sync) {
    co_await drive_sync(w, dest, s, seed, entry, arrivals);
    co_return;
  }
  Loop& loop = w.loop;
  const std::int64_t n =
      s.generate ? s.generate->records : static_cast<std::int64_t>(s.records.size());
  for (std::int64_t i = 0; i < n; ++i) {
    Duration at = s.generate ? s.pace * i : s.records[static_cast<std::size_t>(i)].at;
    if (kTimeZero + at > loop.now()) co_await loop.sleep_to(kTimeZero + at);
    Record r = s.generate ? generate_record(entry, seed, static_cast<JobId>(i + 1), *s.generate)
                          : s.records[static_cast<std::size_t>(i)].record;
    if (i >= w.arrived) {
      w.arrived = i + 1;
      if (arrivals) arrivals->push_back(loop.now().time_since_epoch());
    }
    co_await dest.deliver(std::move(r));
  }
  co_await dest.drain();
  w.drained = true;
  for (const auto& [_, timer] : w.crash_timers) loop.cancel(timer);  // no crash after the run ended
  w.crash_timers.clear();
  loop.trace().event(loop.now(), "run.drained").num("records", n);
}

// Wires the crash hook and the restart of a scenario with crash points.
struct Crasher {
  Outcome::World& w;
  const Scenario& s;
  const DestinationEntry& entry;
  const Config& config;
  Outcome& out;
  std::vector<Duration>* arrivals;
  Status failure = Status::success();

  void install() {
    w.destination->set_crash_hook([this](std::string_view step) {
      for (std::size_t i = 0; i < s.crashes.size(); ++i) {
        const CrashPoint& c = s.crashes[i];
        if (w.crash_done[i] || c.at || c.step != step) continue;
        if (++w.step_seen[i] < c.nth) continue;
        w.crash_done[i] = true;
        w.loop.call_after(Duration(0), [this, i] { crash(i, s.crashes[i].step); });
        return true;
      }
      return false;
    });
  }

  void schedule_timed() {
    for (std::size_t i = 0; i < s.crashes.size(); ++i) {
      if (!s.crashes[i].at) continue;
      w.crash_timers[i] = w.loop.call_at(kTimeZero + *s.crashes[i].at, [this, i] {
        w.crash_timers.erase(i);
        w.crash_done[i] = true;
        crash(i, "at " + format_duration(*s.crashes[i].at));
      });
    }
  }

  void crash(std::size_t i, const std::string& where) {
    if (!w.destination) {
      // The process is already down (waiting to restart): nothing to crash.
      w.loop.trace().event(w.loop.now(), "run.crash_skipped").str("point", where);
      ++w.crashes;
      return;
    }
    ++w.crashes;
    w.producer.reset();
    w.destination.reset();
    const std::size_t undone = w.jobs->crash();
    w.loop.trace()
        .event(w.loop.now(), "run.crash")
        .str("point", where)
        .num("undone_writes", static_cast<std::int64_t>(undone));
    w.loop.call_after(s.crashes[i].restart_after, [this] { restart(); });
  }

  void restart() {
    DS_ASSERT(!w.destination && "a restart replaces a crashed process, never a live one");
    auto made = entry.make(*w.ctx, config);
    if (!made.ok()) {
      failure = Error::internal("restart: " + made.error().message);
      return;
    }
    w.destination = std::move(made).value();
    install();
    std::vector<JobId> taken = w.destination->resume([this](JobId id) -> Result<Record> {
      if (w.generate) {
        if (id < 1 || static_cast<std::int64_t>(id) > w.generate->records)
          return Error::not_found("no input record " + std::to_string(id));
        return generate_record(entry, out.seed, id, *w.generate);
      }
      auto it = w.literal_index.find(id);
      if (it == w.literal_index.end()) return Error::not_found("no input record " + std::to_string(id));
      return w.literal[it->second];
    });
    w.loop.trace()
        .event(w.loop.now(), "run.restart")
        .num("resumed_jobs", static_cast<std::int64_t>(taken.size()))
        .num("pending", static_cast<std::int64_t>(w.jobs->counts().pending));
    w.producer = std::make_unique<Scope>(w.loop);
    w.producer->spawn(drive(w, *w.destination, s, out.seed, entry, arrivals));
  }
};

}  // namespace

Result<Outcome> run_scenario(const Scenario& s, const RunOptions& o) {
  const DestinationEntry* entry = find_destination(s.destination);
  if (!entry) return Error::not_found("unknown destination \"" + s.destination + "\" (" + destination_names() + ")");
  const std::string where = s.file.empty() ? s.name : s.file;
  DS_TRY(Config config, Config::resolve(s.config, s.destination, entry->schema, where + ": /destination/config"));
  const FakeEntry* fake_entry = find_fake(entry->fake);
  if (!fake_entry) return Error::internal("destination " + entry->name + " names unknown fake " + entry->fake);

  Outcome out;
  out.scenario = s.name;
  out.seed = o.seed.value_or(s.seed);
  out.entry = entry;
  out.config = config;
  out.world = std::make_unique<Outcome::World>(out.seed, o.max_steps);
  Outcome::World& w = *out.world;
  Trace& trace = w.loop.trace();
  trace.set_keep_lines(o.keep_trace);
  trace.set_sink(o.trace_sink);
  for (const auto& secret : config.secret_values()) trace.add_secret(secret);

  nlohmann::json fake_options = entry->fake_options ? entry->fake_options(config) : nlohmann::json::object();
  if (s.fake_options.is_object()) fake_options.update(s.fake_options);
  DS_TRY(w.fake, fake_entry->make(fake_options, where + ": /fake/options"));
  w.plan = s.faults;
  w.transport = std::make_unique<SimTransport>(
      w.loop, SimTransportOptions{.request_timeout = s.request_timeout, .base_latency = s.latency});
  std::string host = entry->host;
  for (const auto& k : entry->schema)
    if (k.name == "host") host = config.string("host");
  DS_CHECK(w.fake->check_fault_plan(w.plan, where + ": /faults"));  // the fake's own rules
  switch (fake_entry->door) {
    case FakeDoor::http:
      if (!w.fake->http()) return Error::internal("fake " + entry->fake + " has an HTTP door but is no FakeApi");
      w.transport->route(host, w.fake->http(), &w.plan);
      break;
    case FakeDoor::file: {
      if (!w.fake->file()) return Error::internal("fake " + entry->fake + " has a file door but is no FileFake");
      nlohmann::json login = entry->file_login ? entry->file_login(config) : nlohmann::json::object();
      w.files = w.fake->file()->sim_transport(w.loop, &w.plan, s.latency, s.request_timeout, login);
      break;
    }
  }
  w.jobs = std::make_unique<MemoryJobStore>(&trace);
  w.ctx = std::make_unique<DeliveryContext>(DeliveryContext{w.loop, *w.transport, *w.jobs, w.files.get()});
  DS_TRY(w.destination, entry->make(*w.ctx, config));
  if (s.generate) w.generate = s.generate;
  else
    for (const auto& r : s.records) {
      w.literal_index[r.record.id] = w.literal.size();
      w.literal.push_back(r.record);
    }
  out.input_size = s.generate ? s.generate->records : static_cast<std::int64_t>(s.records.size());

  trace.event(w.loop.now(), "run.start")
      .str("scenario", s.name)
      .str("destination", entry->name)
      .num("seed", static_cast<std::int64_t>(out.seed))
      .num("records", out.input_size);
  std::vector<Duration>* arrivals = o.keep_trace ? &out.arrivals : nullptr;
  Crasher crasher{w, s, *entry, out.config, out, arrivals};
  if (!s.crashes.empty()) {
    // Only committed writes survive a crash, as in a real store.
    w.jobs->set_autocommit(!w.destination->commits_at_durable_steps());
    w.step_seen.assign(s.crashes.size(), 0);
    w.crash_done.assign(s.crashes.size(), false);
    crasher.install();
    crasher.schedule_timed();
  }
  const auto wall_start = std::chrono::steady_clock::now();  // determinism-ok: wall time of the run, reported only
  w.producer = std::make_unique<Scope>(w.loop);
  w.producer->spawn(drive(w, *w.destination, s, out.seed, *entry, arrivals));
  out.status = w.loop.run_until_idle();
  if (out.status.ok() && !crasher.failure.ok()) out.status = crasher.failure;
  if (out.status.ok() && !w.drained)
    out.status = Error::internal("the run went idle before the input was drained (a hang: something waits forever)");
  out.crashes = w.crashes;
  out.sync = w.sync_outcome;
  out.released = w.released;
  out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  out.virtual_duration = w.loop.now().time_since_epoch();
  out.steps = w.loop.steps();
  out.trace_hash = trace.hash_hex();
  out.trace_events = trace.size();
  if (o.keep_trace) out.trace_lines = trace.lines();
  out.destination_stats = w.destination ? w.destination->stats() : nlohmann::json::object();
  return out;
}

}  // namespace destsim
