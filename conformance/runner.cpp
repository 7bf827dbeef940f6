#include "conformance/runner.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>

#include "conformance/properties.h"
#include "fakes/catalog.h"
#include "framework/json_in.h"

namespace destsim {

Record generate_record(const DestinationEntry& entry, std::uint64_t seed, JobId id, const GeneratedInput& g) {
  // An identical row: the row of the earlier record it repeats (which may
  // itself repeat an earlier one), under this record's id.
  JobId source = id;
  while (g.identical.num > 0 && source > 1) {
    Rng pick(derive_seed(seed, "identical", source));
    if (!pick.chance(g.identical)) break;
    source = pick.chance(1, 2) ? 1 : 1 + pick.below(source - 1);
  }
  Rng rng(derive_seed(seed, "input", source));
  GenerateOptions o{g.type, g.invalid, g.payload_bytes, g.odd_text};
  // An oversize record: the source's draw, from a stream of its own.
  if (g.oversize.num > 0 && Rng(derive_seed(seed, "oversize", source)).chance(g.oversize)) o.payload_bytes = g.oversize_bytes;
  Record r = entry.generate(rng, source, o);
  r.id = id;
  return r;
}

namespace {

// A scenario's input: literal records, or generated ones (by seed, each
// independent). Built once per run when kept (the checks read every record
// several times); generated on demand otherwise (million-record benchmarks).
class Input {
 public:
  Input(const Scenario& s, const DestinationEntry& entry, std::uint64_t seed, bool keep)
      : s_(s), entry_(entry), seed_(seed) {
    size_ = s.generate ? s.generate->records : static_cast<std::int64_t>(s.records.size());
    if (!s.generate) {
      for (std::size_t i = 0; i < s.records.size(); ++i) index_[s.records[i].record.id] = i;
    } else if (keep) {
      kept_.reserve(static_cast<std::size_t>(size_));
      for (std::int64_t i = 0; i < size_; ++i) kept_.push_back(make(i));
    }
  }
  std::int64_t size() const { return size_; }
  /// When record i arrives (from the run's start).
  Duration at(std::int64_t i) const { return s_.generate ? s_.pace * i : s_.records[static_cast<std::size_t>(i)].at; }
  /// Record i, without copying where it is held.
  const Record& record(std::int64_t i, Record& scratch) const {
    if (!s_.generate) return s_.records[static_cast<std::size_t>(i)].record;
    if (!kept_.empty()) return kept_[static_cast<std::size_t>(i)];
    scratch = make(i);
    return scratch;
  }
  Record copy(std::int64_t i) const {
    if (s_.generate && kept_.empty()) return make(i);  // generated afresh: nothing to copy
    Record scratch;
    return record(i, scratch);
  }
  /// The record with job id `id` (a restart takes jobs back by id).
  Result<Record> by_id(JobId id) const {
    if (s_.generate) {
      if (id < 1 || static_cast<std::int64_t>(id) > size_) return Error::not_found("no input record " + std::to_string(id));
      return copy(static_cast<std::int64_t>(id) - 1);
    }
    auto it = index_.find(id);
    if (it == index_.end()) return Error::not_found("no input record " + std::to_string(id));
    return s_.records[it->second].record;
  }
  /// Every record, in order (moves the kept ones out: call once, at the end).
  std::vector<Record> take_all() {
    if (!kept_.empty()) return std::move(kept_);
    std::vector<Record> out;
    out.reserve(static_cast<std::size_t>(size_));
    for (std::int64_t i = 0; i < size_; ++i) out.push_back(copy(i));
    return out;
  }

 private:
  Record make(std::int64_t i) const { return generate_record(entry_, seed_, static_cast<JobId>(i + 1), *s_.generate); }
  const Scenario& s_;
  const DestinationEntry& entry_;
  std::uint64_t seed_;
  std::int64_t size_ = 0;
  std::vector<Record> kept_;
  std::map<JobId, std::size_t> index_;
};

// Keeps every typed event the trace commits.
struct EventLog final : TraceObserver {
  SegmentedVector<TimedEvent> events;  // never relocated as it grows (an event is 248 bytes)
  void on_event(TimedEvent&& e) override { events.push_back(std::move(e)); }
};

}  // namespace

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
  std::unique_ptr<Input> input;
  EventLog log;
  // Crashes (E1)
  std::vector<int> step_seen;        // per crash point: times its step was reached
  std::vector<bool> crash_done;
  std::vector<int> act_seen;         // per control event at a step: times its step was reached
  std::vector<bool> act_done;
  std::map<std::size_t, TimerId> crash_timers;
  std::int64_t arrived = 0;          // input records that have arrived so far
  std::uint64_t crashes = 0;
  bool stopped = false;              // stopped by a stop event (a crash's restart waits for a start)
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

  static SyncFeed build(const Scenario& s, const Input& input) {
    SyncFeed f;
    const SyncInput& in = *s.sync;
    const std::int64_t n = input.size();
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
      at = input.at(i);
      Record scratch;
      const std::string& stream = input.record(i, scratch).stream;
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

Task<void> drive_sync(Outcome::World& w, Destination& dest, const Scenario& s, std::vector<Duration>* arrivals) {
  Loop& loop = w.loop;
  auto feed = std::make_shared<SyncFeed>(SyncFeed::build(s, *w.input));
  Sync sync(loop, dest, *w.jobs, s.sync->streams);
  sync.on_release([&w](const ReleasedState& r) { w.released.push_back(r); });
  auto next = [&w, arrivals, feed]() -> Task<std::optional<SyncMessage>> {
    return [](Outcome::World* w, std::vector<Duration>* arrivals,
              std::shared_ptr<SyncFeed> feed) -> Task<std::optional<SyncMessage>> {
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
      m.record = w->input->copy(item.index);
      co_return m;
    }(&w, arrivals, feed);
  };
  SyncOutcome out = co_await sync.run(next);
  w.sync_outcome = std::move(out);
  w.drained = true;
  for (const auto& [_, timer] : w.crash_timers) loop.cancel(timer);  // no crash after the run ended
  w.crash_timers.clear();
  emit(loop.trace(), loop.now(), ev::RunDrained{w.arrived});
}

// Feeds the input to the destination, then drains it. After a restart it runs
// again from the start: records that already arrived are offered at once (the
// destination skips what the store shows as done), the rest at their times.
// Under a Sync, the Sync does the feeding and resumes after its checkpoints.
Task<void> drive(Outcome::World& w, Destination& dest, const Scenario& s, std::vector<Duration>* arrivals) {
  if (s.sync) {
    co_await drive_sync(w, dest, s, arrivals);
    co_return;
  }
  Loop& loop = w.loop;
  const std::int64_t n = w.input->size();
  for (std::int64_t i = 0; i < n; ++i) {
    const Duration at = w.input->at(i);
    if (kTimeZero + at > loop.now()) co_await loop.sleep_to(kTimeZero + at);
    if (i >= w.arrived) {
      w.arrived = i + 1;
      if (arrivals) arrivals->push_back(loop.now().time_since_epoch());
    }
    co_await dest.deliver(w.input->copy(i));
  }
  co_await dest.drain();
  w.drained = true;
  for (const auto& [_, timer] : w.crash_timers) loop.cancel(timer);  // no crash after the run ended
  w.crash_timers.clear();
  emit(loop.trace(), loop.now(), ev::RunDrained{n});
}

// Wires the crash hook and the restart of a scenario with crash points, and
// the control events of its timeline (stop, start, config, fake, clock_skew).
struct Crasher {
  Outcome::World& w;
  const Scenario& s;
  const DestinationEntry& entry;
  Config config;              // the config in force (a config event changes it)
  nlohmann::json raw_config;  // its JSON, which config events patch
  Outcome& out;
  std::vector<Duration>* arrivals;
  Status failure = Status::success();

  void schedule_events() {
    // Every secret a config event will bring is redacted from the start: the
    // same value may reach the trace earlier (the fake's key rotated first).
    nlohmann::json raw = raw_config;
    std::vector<const ControlEvent*> configs;
    for (const ControlEvent& e : s.events)
      if (e.kind == ControlEvent::Kind::config) configs.push_back(&e);
    std::stable_sort(configs.begin(), configs.end(),
                     [](const ControlEvent* a, const ControlEvent* b) { return a->at < b->at; });
    for (const ControlEvent* e : configs) {
      raw.update(e->config);
      auto r = Config::resolve(raw, s.destination, entry.schema, "");
      if (r.ok())
        for (const auto& secret : r->secret_values()) w.loop.trace().add_secret(secret);
    }
    for (const ControlEvent& e : s.events)
      if (e.step.empty()) w.loop.call_at(kTimeZero + e.at, [this, &e] { control(e); });
  }

  void control(const ControlEvent& e) {
    const std::string where = s.file.empty() ? s.name : s.file;
    auto note = [&](std::string detail, bool skipped = false) {
      emit(w.loop.trace(), w.loop.now(), ev::RunControl{control_event_name(e.kind), std::move(detail), skipped});
    };
    if (w.drained && (e.kind == ControlEvent::Kind::stop || e.kind == ControlEvent::Kind::start ||
                      e.kind == ControlEvent::Kind::config)) {
      note("after the run drained", true);  // the process has nothing left to stop or restart for
      return;
    }
    switch (e.kind) {
      case ControlEvent::Kind::stop:
        // A clean stop: the process ends between steps; what it stored stays
        // (in-flight requests are abandoned, their answers never read).
        note("", !w.destination);
        w.stopped = true;
        stop();
        break;
      case ControlEvent::Kind::start:
        note("", w.destination != nullptr);
        w.stopped = false;
        if (!w.destination) restart();
        break;
      case ControlEvent::Kind::config: {
        raw_config.update(e.config);
        auto r = Config::resolve(raw_config, s.destination, entry.schema, where + ": " + e.path + "/config");
        if (!r.ok()) {
          failure = r.error();
          return;
        }
        config = std::move(r).value();
        // A new secret is a secret too: redacted in the trace from now on,
        // and never written into the event itself.
        for (const auto& secret : config.secret_values()) w.loop.trace().add_secret(secret);
        nlohmann::json shown = e.config;
        for (const auto& k : entry.schema)
          if (k.type == ConfigType::secret && shown.contains(k.name)) shown[k.name] = "***";
        note(shown.dump());
        // A running destination restarts with it; a stopped one starts with it.
        if (w.destination) {
          stop();
          restart();
        }
        break;
      }
      case ControlEvent::Kind::fake: {
        Status st = w.fake->control(JsonIn(e.op, where, e.path + "/fake"), w.loop.now());
        note(e.op.dump());
        if (!st.ok()) failure = st;
        break;
      }
      case ControlEvent::Kind::clock_skew:
        w.transport->set_api_clock_skew(e.skew);
        note(format_clock_skew(e.skew));
        break;
    }
  }

  void stop() {
    if (!w.destination) return;
    w.producer.reset();
    w.destination.reset();
    w.jobs->commit();
  }

  void install() {
    w.destination->set_crash_hook([this](std::string_view step) {
      // An operator's act at this step is played now, before the framework
      // acts on the answer it just had (and before a crash at the same step).
      for (std::size_t i = 0; i < s.events.size(); ++i) {
        const ControlEvent& e = s.events[i];
        if (e.step != step || w.act_done[i]) continue;
        if (++w.act_seen[i] < e.nth) continue;
        w.act_done[i] = true;
        control(e);
      }
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
      emit(w.loop.trace(), w.loop.now(), ev::RunCrashSkipped{where});
      ++w.crashes;
      return;
    }
    ++w.crashes;
    w.producer.reset();
    w.destination.reset();
    const std::size_t undone = w.jobs->crash();
    emit(w.loop.trace(), w.loop.now(), ev::RunCrash{where, static_cast<std::int64_t>(undone)});
    w.loop.call_after(s.crashes[i].restart_after, [this] {
      if (!w.stopped && !w.destination) restart();  // a stop meanwhile: the next start restarts it
    });
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
    std::vector<JobId> taken = w.destination->resume([this](JobId id) { return w.input->by_id(id); });
    emit(w.loop.trace(), w.loop.now(),
         ev::RunRestart{static_cast<std::int64_t>(taken.size()), static_cast<std::int64_t>(w.jobs->counts().pending)});
    w.producer = std::make_unique<Scope>(w.loop);
    w.producer->spawn(drive(w, *w.destination, s, arrivals));
  }
};

}  // namespace

Result<Outcome> run_scenario(const Scenario& s, const RunOptions& o) {
  const DestinationEntry* entry = find_destination(s.destination);
  if (!entry) return Error::not_found("unknown destination \"" + s.destination + "\" (" + destination_names() + ")");
  const std::string where = s.file.empty() ? s.name : s.file;
  DS_TRY(Config config, Config::resolve(s.config, s.destination, entry->schema, where + ": /destination/config"));
  if (s.must_reject) return Error::bad_input(where + ": declares it must be rejected at load; there is nothing to run");
  const FakeEntry* fake_entry = scenario_fake(s, *entry);
  if (!fake_entry) return Error::internal("destination " + entry->name + " names unknown fake " + entry->fake);

  Outcome out;
  out.scenario = s.name;
  out.seed = o.seed.value_or(s.seed);
  out.entry = entry;
  out.config = config;
  out.world = std::make_unique<Outcome::World>(out.seed, o.max_steps);
  Outcome::World& w = *out.world;
  Trace& trace = w.loop.trace();
  trace.set_keep_lines(o.keep_trace && o.keep_lines);
  trace.set_sink(o.trace_sink);
  if (o.keep_trace) trace.set_observer(&w.log);
  for (const auto& secret : config.secret_values()) trace.add_secret(secret);

  DS_TRY(w.fake, fake_entry->make(scenario_fake_options(s, *entry, config), where + ": /fake/options"));
  for (std::size_t i = 0; i < s.fake_seed.size(); ++i)
    DS_CHECK(w.fake->control(JsonIn(s.fake_seed[i], where, "/fake/seed/" + std::to_string(i)), w.loop.now()));
  w.plan = s.faults;
  w.transport = std::make_unique<SimTransport>(
      w.loop, SimTransportOptions{
                  .request_timeout = s.request_timeout, .base_latency = s.latency, .api_clock_skew = s.clock_skew});
  std::string host = entry->host;
  for (const auto& k : entry->schema)
    if (k.name == "host") host = config.string("host");
  DS_CHECK(w.fake->check_fault_plan(w.plan, where + ": /faults"));  // the fake's own rules
  switch (fake_entry->door) {
    case FakeDoor::http:
      if (!w.fake->http()) return Error::internal("fake " + entry->fake + " has an HTTP door but is no FakeApi");
      w.transport->route(host, w.fake->http(), &w.plan);
      for (const auto& extra : w.fake->http()->extra_hosts())
        if (extra != host) w.transport->route(extra, w.fake->http(), &w.plan);
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
  w.input = std::make_unique<Input>(s, *entry, out.seed, o.keep_trace);
  out.input_size = w.input->size();

  emit(trace, w.loop.now(), ev::RunStart{s.name, entry->name, static_cast<std::int64_t>(out.seed), out.input_size});
  std::vector<Duration>* arrivals = o.keep_trace ? &out.arrivals : nullptr;
  Crasher crasher{w, s, *entry, out.config, s.config, out, arrivals};
  crasher.schedule_events();
  if (!s.crashes.empty()) {
    // Only committed writes survive a crash, as in a real store.
    w.jobs->set_autocommit(!w.destination->commits_at_durable_steps());
    w.step_seen.assign(s.crashes.size(), 0);
    w.crash_done.assign(s.crashes.size(), false);
    crasher.schedule_timed();
  }
  w.act_seen.assign(s.events.size(), 0);
  w.act_done.assign(s.events.size(), false);
  const bool acts_at_steps =
      std::any_of(s.events.begin(), s.events.end(), [](const ControlEvent& e) { return !e.step.empty(); });
  if (!s.crashes.empty() || acts_at_steps) crasher.install();
  const auto wall_start = std::chrono::steady_clock::now();  // determinism-ok: wall time of the run, reported only
  w.producer = std::make_unique<Scope>(w.loop);
  w.producer->spawn(drive(w, *w.destination, s, arrivals));
  const Duration bound = o.max_virtual.count() > 0 ? o.max_virtual : run_time_bound(out, s);
  out.status = w.loop.run_until_idle_or(kTimeZero + bound);
  if (out.status.ok() && w.loop.busy())
    out.status = Error::hang("still busy after " + format_duration(bound) +
                             " of virtual time, the bound of this run (a hang: something never ends)");
  // The oracle asks what the API will have applied: work it accepted goes on
  // after the destination stops looking (a day is past every fake's longest
  // import; a stalled one never finishes).
  w.fake->catch_up(w.loop.now() + std::chrono::hours(24));
  if (out.status.ok() && !crasher.failure.ok()) out.status = crasher.failure;
  if (out.status.ok() && !w.drained)
    out.status = Error::hang("the run went idle before the input was drained (a hang: something waits forever)");
  out.crashes = w.crashes;
  out.sync = w.sync_outcome;
  out.released = w.released;
  out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  out.virtual_duration = w.loop.now().time_since_epoch();
  out.steps = w.loop.steps();
  out.trace_hash = trace.hash_hex();
  out.trace_events = trace.size();
  if (o.keep_trace) {
    trace.set_observer(nullptr);
    out.events = std::move(w.log.events);
    out.trace_lines = trace.lines();
    out.records = w.input->take_all();
  }
  out.job_store = w.jobs.get();
  out.oracle = w.fake.get();
  out.transport_stats = w.transport->stats();
  out.destination_stats = w.destination ? w.destination->stats() : nlohmann::json::object();
  return out;
}

}  // namespace destsim
