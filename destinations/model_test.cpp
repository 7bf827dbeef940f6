// model_test.cpp — model-based tests with rc::state: RapidCheck generates a
// sequence of commands (add records, advance virtual time, inject or heal a
// fault, crash and restart, flush), runs them against a live simulated world
// (a registered destination wired to its fake on one loop), and checks after
// each command what must hold at that point; a failing sequence shrinks to a
// minimal one. A batch destination (Iterable) and a bulk one (Marketo, whose
// store commits only at durable steps, so a crash loses what was not
// committed) are driven by the same commands.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>
#include <rapidcheck/detail/TestListener.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "conformance/certify.h"
#include "destinations/destination.h"
#include "fakes/catalog.h"
#include "fakes/fault_plan.h"
#include "fakes/sim_transport.h"
#include "framework/job_store.h"
#include "framework/loop.h"

namespace destsim {
namespace {

// ------------------------------------------------------------- the live world

class Live {
 public:
  Live(const std::string& destination, std::uint64_t seed)
      : loop_(clock_, LoopOptions{seed, 50'000'000}), seed_(seed) {
    entry_ = find_destination(destination);
    if (!entry_) throw std::runtime_error("no destination " + destination);
    auto config = Config::resolve(certify_base_config(*entry_), entry_->name, entry_->schema, "model");
    if (!config.ok()) throw std::runtime_error(config.error().message);
    config_ = *config;
    auto fake = find_fake(entry_->fake)->make(entry_->fake_options ? entry_->fake_options(config_) : nlohmann::json(),
                                              "model");
    if (!fake.ok()) throw std::runtime_error(fake.error().message);
    fake_ = std::move(fake).value();
    transport_ = std::make_unique<SimTransport>(loop_, SimTransportOptions{});
    auto* api = dynamic_cast<FakeApi*>(fake_.get());
    if (!api) throw std::runtime_error("the model test drives HTTP destinations");
    std::string host = entry_->host;
    for (const auto& k : entry_->schema)
      if (k.name == "host") host = config_.string("host");
    transport_->route(host, api, &plan_);
    jobs_ = std::make_unique<MemoryJobStore>(&loop_.trace());
    ctx_ = std::make_unique<DeliveryContext>(DeliveryContext{loop_, *transport_, *jobs_, nullptr});
    start();
    // Only committed writes survive a crash (destinations that commit at their
    // durable steps; the others write through).
    jobs_->set_autocommit(!destination_->commits_at_durable_steps());
  }
  ~Live() {
    producer_.reset();
    destination_.reset();
  }

  Record record(JobId id) const {
    Rng rng(derive_seed(seed_, "input", id));
    GenerateOptions o;
    o.invalid = Ratio{1, 10};  // some records the API rejects: partial successes
    return entry_->generate(rng, id, o);
  }

  void add(JobId id) {
    offered_.push_back(id);
    if (destination_) offer(id);
  }

  void advance(Duration d) {
    Status s = loop_.run_for(d);
    if (!s.ok()) throw std::runtime_error(s.error().message);
  }

  /// A fault from now on: `kind` on every request (finite: `times`).
  void inject(FaultKind kind, std::int64_t times) {
    FaultRule r;
    r.kind = kind;
    r.times = times;
    r.window_start = since_start();
    if (kind == FaultKind::respond) r.status = 503;
    if (kind == FaultKind::rate_limit) r.retry_after = std::chrono::seconds(30);
    plan_.add(r);
  }
  /// Every rule ends now.
  void heal() {
    FaultPlan healed;
    for (FaultRule r : plan_.rules()) {
      r.window_end = since_start();
      healed.add(r);
    }
    plan_ = std::move(healed);  // in place: the transport keeps &plan_
  }

  void crash() {
    producer_.reset();
    destination_.reset();
    jobs_->crash();
  }
  void restart() {
    start();
    destination_->resume([this](JobId id) -> Result<Record> { return record(id); });
    for (JobId id : offered_) offer(id);  // the source re-offers; the destination skips what is done
  }

  /// Drains the destination and runs the loop until nothing is left to do.
  void flush() {
    producer_->spawn([](Destination* d) -> Task<void> { co_await d->drain(); }(destination_.get()));
    Status s = loop_.run_until_idle();
    if (!s.ok()) throw std::runtime_error(s.error().message);
  }

  bool up() const { return destination_ != nullptr; }
  const JobStore& jobs() const { return *jobs_; }
  std::int64_t applied(JobId id) const {
    std::int64_t n = 0;
    for (const auto& key : entry_->effects(record(id), config_)) n += fake_->applied(key);
    return n;
  }
  std::set<JobId> terminal() const {
    std::set<JobId> out;
    for (JobId id : jobs_->ids())
      if (is_terminal(jobs_->outcome(id).state)) out.insert(id);
    return out;
  }
  Time now() const { return loop_.now(); }

 private:
  Duration since_start() const { return loop_.now() - kTimeZero; }
  void start() {
    auto made = entry_->make(*ctx_, config_);
    if (!made.ok()) throw std::runtime_error(made.error().message);
    destination_ = std::move(made).value();
    producer_ = std::make_unique<Scope>(loop_);
  }
  void offer(JobId id) {
    producer_->spawn([](Destination* d, Record r) -> Task<void> { co_await d->deliver(std::move(r)); }(
        destination_.get(), record(id)));
  }

  SimClock clock_;
  Loop loop_;
  std::uint64_t seed_;
  const DestinationEntry* entry_ = nullptr;
  Config config_;
  FaultPlan plan_;
  std::unique_ptr<Fake> fake_;
  std::unique_ptr<SimTransport> transport_;
  std::unique_ptr<MemoryJobStore> jobs_;
  std::unique_ptr<DeliveryContext> ctx_;
  std::unique_ptr<Destination> destination_;
  std::unique_ptr<Scope> producer_;  // destroyed before the destination
  std::vector<JobId> offered_;
};

// ------------------------------------------------------------------ the model

struct Model {
  bool bulk = false;      // crash/restart apply (the bulk path's durable store)
  JobId next = 1;         // the next record id
  bool down = false;      // crashed, waiting for a restart
  bool flushed = false;   // drained: no more input (the bulk path drains once)
  int faults = 0;         // rules injected
};

using Cmd = rc::state::Command<Model, Live>;

// What must hold whenever the world is quiet: nothing invented, and a job the
// store shows as succeeded really is in the fake.
void check_accounting(const Model& m, const Live& live) {
  for (JobId id : live.jobs().ids()) RC_ASSERT(id < m.next);
  for (JobId id : live.terminal()) {
    const JobOutcome out = live.jobs().outcome(id);
    if (out.state == JobState::succeeded) RC_ASSERT(live.applied(id) >= 1);
  }
}

struct AddRecords : Cmd {
  int n = *rc::gen::inRange(1, 30);
  void checkPreconditions(const Model& m) const override { RC_PRE(!m.flushed); }
  void apply(Model& m) const override { m.next += static_cast<JobId>(n); }
  void run(const Model& m, Live& live) const override {
    for (int i = 0; i < n; ++i) live.add(m.next + static_cast<JobId>(i));
  }
  void show(std::ostream& os) const override { os << "add " << n << " records"; }
};

struct Advance : Cmd {
  Duration d = std::chrono::milliseconds(*rc::gen::inRange<std::int64_t>(1, 600'000));
  void run(const Model& m, Live& live) const override {
    const std::set<JobId> before = live.terminal();
    live.advance(d);
    // Terminal states are final while the process lives.
    const std::set<JobId> after = live.terminal();
    for (JobId id : before) RC_ASSERT(after.count(id) == 1u);
    check_accounting(m, live);
  }
  void show(std::ostream& os) const override { os << "advance " << format_duration(d); }
};

struct InjectFault : Cmd {
  FaultKind kind = *rc::gen::element(FaultKind::respond, FaultKind::rate_limit, FaultKind::timeout, FaultKind::reset,
                                     FaultKind::garble);
  std::int64_t times = *rc::gen::inRange<std::int64_t>(1, 6);
  void checkPreconditions(const Model& m) const override { RC_PRE(m.faults < 6); }
  void apply(Model& m) const override { ++m.faults; }
  void run(const Model&, Live& live) const override { live.inject(kind, times); }
  void show(std::ostream& os) const override { os << "inject " << fault_kind_name(kind) << " x" << times; }
};

struct Heal : Cmd {
  void checkPreconditions(const Model& m) const override { RC_PRE(m.faults > 0); }
  void run(const Model&, Live& live) const override { live.heal(); }
  void show(std::ostream& os) const override { os << "heal every fault"; }
};

struct Crash : Cmd {
  void checkPreconditions(const Model& m) const override { RC_PRE(m.bulk && !m.down && !m.flushed); }
  void apply(Model& m) const override { m.down = true; }
  void run(const Model& m, Live& live) const override {
    const std::set<JobId> before = live.terminal();
    live.crash();
    // A crash keeps only what was committed: it may undo, never invent.
    for (JobId id : live.terminal()) RC_ASSERT(before.count(id) == 1u);
    check_accounting(m, live);
  }
  void show(std::ostream& os) const override { os << "crash"; }
};

struct Restart : Cmd {
  void checkPreconditions(const Model& m) const override { RC_PRE(m.down); }
  void apply(Model& m) const override { m.down = false; }
  void run(const Model&, Live& live) const override { live.restart(); }
  void show(std::ostream& os) const override { os << "restart from the store"; }
};

struct Flush : Cmd {
  void checkPreconditions(const Model& m) const override { RC_PRE(!m.down && !m.flushed); }
  void apply(Model& m) const override { m.flushed = true; }
  void run(const Model& m, Live& live) const override {
    live.heal();  // a finite fault plan: the drain must end
    live.flush();
    // Everything offered is terminal, and succeeded means delivered.
    for (JobId id = 1; id < m.next; ++id) {
      RC_ASSERT(live.jobs().contains(id));
      RC_ASSERT(is_terminal(live.jobs().outcome(id).state));
    }
    check_accounting(m, live);
  }
  void show(std::ostream& os) const override { os << "flush (drain until idle)"; }
};

// Runs a generated command sequence, then ends the run the way a sync ends:
// restart if down, heal, drain, and check conservation on everything offered.
void run_model(const std::string& destination, bool bulk) {
  const auto seed = *rc::gen::inRange<std::uint64_t>(1, 1'000'000);
  Live live(destination, seed);
  Model m0;
  m0.bulk = bulk;
  // Some input before the first command, so most sequences have work to do.
  const auto initial = *rc::gen::inRange<JobId>(0, 40);
  for (JobId id = 1; id <= initial; ++id) live.add(id);
  m0.next = initial + 1;
  rc::state::check(m0, live,
                   rc::state::gen::execOneOfWithArgs<AddRecords, Advance, Advance, InjectFault, Heal, Crash, Restart,
                                                     Flush>());
  if (!live.up()) live.restart();
  live.heal();
  live.flush();
  std::int64_t offered = 0;
  for (JobId id : live.jobs().ids()) {
    ++offered;
    const JobOutcome out = live.jobs().outcome(id);
    RC_ASSERT(is_terminal(out.state));
    if (out.state == JobState::succeeded) RC_ASSERT(live.applied(id) >= 1);
    // Known failures were not applied (A2), unless the outcome was hidden.
    if ((out.state == JobState::failed || out.state == JobState::aborted) && !out.outcome_unknown)
      RC_ASSERT(live.applied(id) == 0);
  }
  RC_TAG(offered > 0 ? "records" : "no records");
}

RC_GTEST_PROP(ModelBased, IterableBatchPath, ()) { run_model("iterable", false); }

RC_GTEST_PROP(ModelBased, MarketoBulkPathWithCrashes, ()) { run_model("marketo_bulk_upload", true); }

// The model test can fail: a destination that re-sends its successes breaks
// "known failures were not applied" / "succeeded means delivered" under faults.
TEST(ModelBased, CanaryIsCaught) {
  struct Quiet final : rc::detail::TestListener {  // no reproduce banner at exit: this failure is expected
    void onTestCaseFinished(const rc::detail::CaseDescription&) override {}
    void onShrinkTried(const rc::detail::CaseDescription&, bool) override {}
    void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
  } quiet;
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  params.maxSuccess = 200;
  const auto result =
      rc::detail::checkTestable([] { run_model("canary", false); }, rc::detail::TestMetadata{}, params, quiet);
  rc::detail::FailureResult f;
  ASSERT_TRUE(result.match(f)) << "the canary passed the model test";
  const auto* failure = &f;
  // Caught by an assertion on what it delivered, not by the harness throwing.
  EXPECT_EQ(failure->description.find("exception"), std::string::npos) << failure->description;
  EXPECT_NE(failure->description.find("applied"), std::string::npos) << failure->description;
}

}  // namespace
}  // namespace destsim
