#include "conformance/runner.h"

#include <chrono>

#include "fakes/catalog.h"
#include "framework/json_in.h"

namespace destsim {

struct Outcome::World {
  explicit World(std::uint64_t seed, std::uint64_t max_steps) : loop(clock, LoopOptions{seed, max_steps}) {}
  SimClock clock;
  Loop loop;
  FaultPlan plan;
  std::unique_ptr<FakeApi> fake;
  std::unique_ptr<SimTransport> transport;
  std::unique_ptr<MemoryJobStore> jobs;
  std::unique_ptr<DeliveryContext> ctx;
  std::unique_ptr<Destination> destination;  // destroyed first
  // Input
  std::vector<Record> literal;
  std::optional<GeneratedInput> generate;
};

Outcome::Outcome() = default;
Outcome::~Outcome() = default;
Outcome::Outcome(Outcome&&) noexcept = default;
Outcome& Outcome::operator=(Outcome&&) noexcept = default;

const JobStore& Outcome::jobs() const { return *world->jobs; }
const FakeApi& Outcome::fake() const { return *world->fake; }
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

Task<void> drive(Loop& loop, Destination& dest, const Scenario& s, std::uint64_t seed, const DestinationEntry& entry,
                 std::vector<Duration>* arrivals) {
  const std::int64_t n =
      s.generate ? s.generate->records : static_cast<std::int64_t>(s.records.size());
  for (std::int64_t i = 0; i < n; ++i) {
    Duration at = s.generate ? s.pace * i : s.records[static_cast<std::size_t>(i)].at;
    if (kTimeZero + at > loop.now()) co_await loop.sleep_to(kTimeZero + at);
    Record r = s.generate ? generate_record(entry, seed, static_cast<JobId>(i + 1), *s.generate)
                          : s.records[static_cast<std::size_t>(i)].record;
    if (arrivals) arrivals->push_back(loop.now().time_since_epoch());
    co_await dest.deliver(std::move(r));
  }
  co_await dest.drain();
  loop.trace().event(loop.now(), "run.drained").num("records", n);
}

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
  w.transport->route(host, w.fake.get(), &w.plan);
  w.jobs = std::make_unique<MemoryJobStore>(&trace);
  w.ctx = std::make_unique<DeliveryContext>(DeliveryContext{w.loop, *w.transport, *w.jobs});
  DS_TRY(w.destination, entry->make(*w.ctx, config));
  if (s.generate) w.generate = s.generate;
  else
    for (const auto& r : s.records) w.literal.push_back(r.record);
  out.input_size = s.generate ? s.generate->records : static_cast<std::int64_t>(s.records.size());

  trace.event(w.loop.now(), "run.start")
      .str("scenario", s.name)
      .str("destination", entry->name)
      .num("seed", static_cast<std::int64_t>(out.seed))
      .num("records", out.input_size);
  const auto wall_start = std::chrono::steady_clock::now();
  w.loop.spawn(drive(w.loop, *w.destination, s, out.seed, *entry, o.keep_trace ? &out.arrivals : nullptr));
  out.status = w.loop.run_until_idle();
  out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  out.virtual_duration = w.loop.now().time_since_epoch();
  out.steps = w.loop.steps();
  out.trace_hash = trace.hash_hex();
  out.trace_events = trace.size();
  if (o.keep_trace) out.trace_lines = trace.lines();
  out.destination_stats = w.destination->stats();
  return out;
}

}  // namespace destsim
